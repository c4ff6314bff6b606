"""The Rancher 2.x scenario: one Deployment rollout through the Kubernetes API Rancher proxies.

rancher-deploy against what 2.x users run instead, ``kubectl set image`` then ``kubectl rollout
status``, through the same Rancher proxy (``/k8s/clusters/local``) over TLS with a token, the way
Rancher's kubeconfig points kubectl at it (rancher/rancher pkg/kubeconfig/kubeconfig.go). Next to
each run, the ideal client rolls out a twin Deployment and follows it with a watch.
"""

from __future__ import annotations

import base64
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ideal, procs, tally
from bench.context import REPOSITORY, TOKEN, TOKEN_SECRET, Tools, say
from rancher_deploy.simulator import Simulator, Timing

RANCHER_VERSION = "2.8"
NAMESPACE = "default"
TWIN = "ideal-twin"  # the ideal client's Deployment; its name marks its requests in the log
TOOLS = ("rancher-deploy", "kubectl")
KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: "{server}"
    certificate-authority-data: "{ca}"
users:
- name: local
  user:
    token: "{token}"
contexts:
- name: local
  context:
    user: local
    cluster: local
current-context: local
"""


@dataclass(frozen=True)
class RolloutRun(ideal.AgainstIdeal):
    """One tool's rollout of a 2-replica Deployment (realistic timing, the default RollingUpdate
    strategy), next to the ideal client's rollout of its twin.

    ``convergence``: the ideal client's seconds from its patch answered to the rollout complete (read
    from a watch). ``before``: spawn to the new generation seen; ``noticing``: the rollout seen
    complete to exit (the watcher's 10 ms). ``waiting_requests``: the requests after the tool's write
    (for kubectl, the whole of ``rollout status``).
    """

    before: float | None
    noticing: float | None


@dataclass(frozen=True)
class Proxy:
    """The TLS material and addresses of one simulated Rancher 2.x."""

    sim: Simulator
    ca_file: Path
    home: Path

    @property
    def deployments_url(self) -> str:
        return f"{self.sim.url}/k8s/clusters/{self.sim.cluster_id}/apis/apps/v1/namespaces/{NAMESPACE}/deployments"

    def kubeconfig(self) -> Path:
        path = self.home / "kubeconfig"
        ca = base64.b64encode(self.ca_file.read_bytes()).decode("ascii")
        path.write_text(KUBECONFIG.format(server=f"{self.sim.url}/k8s/clusters/{self.sim.cluster_id}", ca=ca,
                                          token=f"{TOKEN}:{TOKEN_SECRET}"), encoding="utf-8")
        return path


def _phase(sim: Simulator, generation: int) -> str:
    """``before`` the tool's change, ``rolling`` once a newer generation exists, ``complete`` when
    that generation is rolled out (kubectl's rule)."""
    deployment = sim.workload("deployment", NAMESPACE, "web")
    if int(deployment["metadata"]["generation"]) <= generation:
        return "before"
    return "complete" if ideal.rollout_complete(deployment) else "rolling"


def _ours(tools: Tools, proxy: Proxy, image: str) -> list[procs.Finished]:
    env = procs.base_environment(tools.scratch)
    env.update(CATTLE_URL=proxy.sim.url, RANCHER_TOKEN=f"{TOKEN}:{TOKEN_SECRET}", RANCHER_CA_BUNDLE=str(proxy.ca_file),
               RANCHER_NAMESPACE=NAMESPACE, RANCHER_WORKLOAD="deployment:web", RANCHER_IMAGE=image)
    return [procs.run([str(tools.ours)], env, tools.scratch)]


def _kubectl(tools: Tools, proxy: Proxy, image: str) -> list[procs.Finished]:
    """``kubectl set image`` then, if it worked, ``kubectl rollout status``, each with a fresh
    discovery cache as in a new CI job."""
    assert tools.kubectl is not None
    env = procs.base_environment(tools.scratch)
    env["KUBECONFIG"] = str(proxy.kubeconfig())
    with tempfile.TemporaryDirectory(dir=tools.scratch) as cache:
        kubectl = [str(tools.kubectl), "--cache-dir", cache, "--namespace", NAMESPACE]
        runs = [procs.run([*kubectl, "set", "image", "deployment/web", f"web={image}"], env, tools.scratch)]
        if runs[0].code == 0:
            runs.append(procs.run([*kubectl, "rollout", "status", "deployment/web", "--timeout=300s"], env, tools.scratch))
    return runs


def rollout_once(tool: str, tools: Tools, proxy: Proxy) -> RolloutRun:
    sim = proxy.sim
    image = tools.next_image()
    http = ideal.session(bearer=f"{TOKEN}:{TOKEN_SECRET}", ca=str(proxy.ca_file))
    generation = int(sim.workload("deployment", NAMESPACE, "web")["metadata"]["generation"])
    sim.reset_log()
    with ideal.Watcher(lambda: _phase(sim, generation)) as watch, ThreadPoolExecutor(1) as pool:
        converging = pool.submit(ideal.k8s_rollout, http, proxy.deployments_url, TWIN, TWIN, image)
        finished = (_ours if tool == "rancher-deploy" else _kubectl)(tools, proxy, image)
        converged = converging.result()
    started, ended = finished[0].started, finished[-1].ended
    changed = watch.first("rolling", after=started) or watch.first("complete", after=started)
    complete = watch.first("complete", after=started)
    records = tally.without(sim.requests, TWIN)
    failed = next((f for f in finished if f.code != 0), None)
    return RolloutRun(tool, ended - started, converged.seconds, tally.kinds(records, unify_api=False),
                      len(tally.after_first_write(records, "web")), _peak(finished),
                      failed.last_line() if failed else None,
                      changed - started if changed else None, ended - complete if complete else None)


def _peak(finished: list[procs.Finished]) -> float | None:
    """The larger peak of the processes (kubectl is two, one after the other)."""
    peaks = [f.max_rss_mib for f in finished if f.max_rss_mib is not None]
    return max(peaks) if peaks else None


def _tls(home: Path) -> tuple[Path, Path, Path]:
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = home / "server.pem", home / "server.key", home / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    return cert, key, ca_file


def rollout_scenario(tools: Tools, rounds: int) -> list[RolloutRun]:
    """``rounds`` rollouts per tool of a 2-replica Deployment on a simulated Rancher 2.8 at realistic
    timing (kubectl is skipped, with a line saying so, when it is not on PATH)."""
    names = TOOLS if tools.kubectl else TOOLS[:1]
    if not tools.kubectl:
        say("kubectl is not on PATH: the 2.x comparison runs rancher-deploy alone")
    runs: list[RolloutRun] = []
    with tempfile.TemporaryDirectory(dir=tools.scratch) as scratch:
        home = Path(scratch)
        cert, key, ca_file = _tls(home)
        with Simulator(TOKEN, TOKEN_SECRET, rancher_version=RANCHER_VERSION, timing=Timing.realistic(),
                       tls_cert=str(cert), tls_key=str(key)) as sim:
            container: dict[str, Any] = {"image": f"{REPOSITORY}:1"}
            sim.add_workload(NAMESPACE, "web", [{"name": "web", **container}], replicas=2)
            sim.add_workload(NAMESPACE, TWIN, [{"name": TWIN, **container}], replicas=2)
            proxy = Proxy(sim, ca_file, home)
            for number in range(rounds):
                for tool in names if number % 2 == 0 else tuple(reversed(names)):
                    say(f"2.x rollout, round {number + 1}/{rounds}: {tool}")
                    runs.append(rollout_once(tool, tools, proxy))
    return runs
