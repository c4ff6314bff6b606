"""The real kubectl against the simulated Rancher 2.x, with the kubeconfig Rancher hands out.

Rancher proxies the whole Kubernetes API at /k8s/clusters/<id>, which is why its kubeconfig works
with kubectl (rancher/rancher pkg/kubeconfig/kubeconfig.go: server `<rancher>/k8s/clusters/<id>`,
a bearer `token`, the CA). Over TLS, because that is how Rancher serves it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rancher_deploy.simulator import Simulator, Timing

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: this test drives the real "
                                                        "kubectl against the simulator's Kubernetes proxy")
TOKEN, SECRET = "token-kc7xq", "kubectl-test-secret-9d1"
KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: "local"
  cluster:
    server: "{server}"
    certificate-authority-data: "{ca}"
users:
- name: "local"
  user:
    token: "{token}"
contexts:
- name: "local"
  context:
    user: "local"
    cluster: "local"
current-context: "local"
"""


@dataclass
class Kubectl:
    sim: Simulator
    home: Path

    def kubeconfig(self, token: str) -> Path:
        path = self.home / f"kubeconfig-{token.split(':')[0]}"
        ca = base64.b64encode((self.home / "ca.pem").read_bytes()).decode("ascii")
        path.write_text(KUBECONFIG.format(server=f"{self.sim.url}/k8s/clusters/{self.sim.cluster_id}", ca=ca,
                                          token=token), encoding="utf-8")
        return path

    def __call__(self, *args: str, token: str = f"{TOKEN}:{SECRET}") -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.home), "KUBECONFIG": str(self.kubeconfig(token))}
        return subprocess.run([KUBECTL, "--cache-dir", str(self.home / "cache"), "--request-timeout", "20s", *args],
                              env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(params=["2.6", "2.9"])
def kubectl(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kubectl]:
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    server.cert_chain_pems[0].write_to_path(str(tmp_path / "server.pem"))
    server.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    with Simulator(TOKEN, SECRET, rancher_version=request.param, timing=Timing.fast(),
                   tls_cert=str(tmp_path / "server.pem"), tls_key=str(tmp_path / "server.key")) as sim:
        sim.add_workload("default", "web", [{"name": "web", "image": "registry.example.com/shop/web:1"}], replicas=2,
                         strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
        yield Kubectl(sim, tmp_path)


def image(sim: Simulator) -> str:
    return str(sim.workload("deployment", "default", "web")["spec"]["template"]["spec"]["containers"][0]["image"])


def test_kubectl_gets_sets_and_rolls_back_a_deployment(kubectl: Kubectl) -> None:
    got = kubectl("get", "deployments")
    assert got.returncode == 0, got.stderr
    assert got.stdout.split("\n")[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert got.stdout.split("\n")[1].split()[:4] == ["web", "2/2", "2", "2"]

    changed = kubectl("set", "image", "deployment/web", "web=registry.example.com/shop/web:2")
    assert changed.returncode == 0, changed.stderr
    assert "deployment.apps/web image updated" in changed.stdout
    assert image(kubectl.sim) == "registry.example.com/shop/web:2"
    status = kubectl("rollout", "status", "deployment/web", "--timeout=30s")
    assert status.returncode == 0, status.stderr
    assert 'deployment "web" successfully rolled out' in status.stdout

    history = kubectl("rollout", "history", "deployment/web")
    assert history.returncode == 0, history.stderr
    assert [line.split()[0] for line in history.stdout.splitlines()[2:] if line.strip()] == ["1", "2"]

    undone = kubectl("rollout", "undo", "deployment/web")
    assert undone.returncode == 0, undone.stderr
    assert "deployment.apps/web rolled back" in undone.stdout
    assert kubectl("rollout", "status", "deployment/web", "--timeout=30s").returncode == 0
    assert image(kubectl.sim) == "registry.example.com/shop/web:1"
    assert kubectl.sim.workload("deployment", "default", "web")["status"]["updatedReplicas"] == 2
    failed = [r for r in kubectl.sim.requests if r.status >= 400]
    assert failed == [], "kubectl needed something the simulator does not serve"


def test_kubectl_created_deployment_shows_what_the_apiserver_defaulted(kubectl: Kubectl) -> None:
    # kubernetes pkg/apis/core/v1/defaults.go: SetDefaults_PodSpec and SetDefaults_Container are
    # stored with the object, so kubectl reads them back; `latest` pulls Always.
    # What `kubectl create deployment d2 --image=app:latest` sends, sent as JSON (some kubectl releases
    # send that command's body as protobuf, which the simulator does not decode; it serves no OpenAPI
    # document for kubectl's client-side validation either).
    manifest = kubectl("create", "deployment", "d2", "--image=app:latest", "--dry-run=client", "-o", "json")
    assert manifest.returncode == 0, manifest.stderr
    (kubectl.home / "d2.json").write_text(manifest.stdout, encoding="utf-8")
    created = kubectl("create", "--validate=false", "-f", str(kubectl.home / "d2.json"))
    assert created.returncode == 0, created.stderr
    got = kubectl("get", "deploy", "d2", "-o", "jsonpath={.spec.template.spec}")
    assert got.returncode == 0, got.stderr
    spec = json.loads(got.stdout)
    assert {key: spec[key] for key in ("restartPolicy", "dnsPolicy", "schedulerName", "securityContext",
                                       "terminationGracePeriodSeconds")} == {
        "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
        "securityContext": {}, "terminationGracePeriodSeconds": 30}
    (container,) = spec["containers"]
    assert {key: container[key] for key in ("image", "imagePullPolicy", "terminationMessagePath",
                                            "terminationMessagePolicy")} == {
        "image": "app:latest", "imagePullPolicy": "Always", "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File"}


def test_kubectl_with_a_wrong_token_is_unauthorized(kubectl: Kubectl) -> None:
    refused = kubectl("get", "deployments", token=f"{TOKEN}:wrong")
    assert refused.returncode != 0
    assert "You must be logged in to the server" in refused.stderr


def test_kubectl_rollout_history_lists_the_record_of_each_change(kubectl: Kubectl) -> None:
    from tests.conftest import invoke_cli

    environ = {"CATTLE_URL": kubectl.sim.url, "RANCHER_TOKEN": f"{TOKEN}:{SECRET}", "RANCHER_WORKLOAD": "web",
               "RANCHER_CA_BUNDLE": str(kubectl.home / "ca.pem"), "RANCHER_POLL_INTERVAL": "0.005",
               "RANCHER_TIMEOUT": "30", "GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com",
               "GITHUB_REPOSITORY": "shop/web", "GITHUB_RUN_ID": "1001", "GITHUB_SHA": "4f2a9c1"}
    first = invoke_cli((), environ, {"RANCHER_IMAGE": "registry.example.com/shop/web:2"}, SECRET)
    assert first.code == 0, first.stderr
    # A change of the environment alone is recorded too; then a plain kubectl change records none.
    second = invoke_cli((), environ, {"RANCHER_SET_ENV": "FEATURE=on", "GITHUB_RUN_ID": "1002"}, SECRET)
    assert second.code == 0, second.stderr
    assert kubectl("set", "image", "deployment/web", "web=registry.example.com/shop/web:3").returncode == 0
    assert kubectl("rollout", "status", "deployment/web", "--timeout=30s").returncode == 0

    history = kubectl("rollout", "history", "deployment/web")
    assert history.returncode == 0, history.stderr
    rows = [line.split(None, 1) for line in history.stdout.splitlines()[2:] if line.strip()]
    cause = "rancher-deploy: web=registry.example.com/shop/web:2{}; commit 4f2a9c1; pipeline " \
            "https://github.com/shop/web/actions/runs/{}"
    # kubectl set image keeps the annotation it finds: the third revision repeats the second's cause,
    # as it would on a real cluster (only --record, now removed, rewrote it).
    assert rows == [["1", "<none>"], ["2", cause.format("", "1001")],
                    ["3", cause.format(" (env changed)", "1002")], ["4", cause.format(" (env changed)", "1002")]]
