"""Waits that Rancher pushes, over real sockets: a Kubernetes watch through Rancher's proxy (2.8),
cattle's subscribe websocket (1.6) and norman's (2.x v3).

The simulator runs on a clock slow enough (Timing(speed=10 or 20): an upgrade of ~0.3-1 s) that a
poller would read many times; a wait on a stream makes the same few requests however long it takes.
Where a test looks for a step of the upgrade on the stream, or for a read that confirms what the stream
said, the simulator is frozen and a `HeldClock` moves it once the wait got there, so that a loaded
machine cannot make the stream open late or deliver an event after the read.
Faults cut the stream (a proxy that breaks long connections), expire the version a watch resumes
from (410 Gone) or refuse the subscription; a proxy in front of Rancher passes websockets or does
not (TLS, a path prefix); and a signal arrives while the wait is blocked on the stream.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import trustme

from rancher_deploy import streams
from rancher_deploy.errors import CertificateNotTrusted, DeployError
from rancher_deploy.http import Credentials, RancherSession
from rancher_deploy.kubewatch import KubeWatch
from rancher_deploy.snapshot import TargetRef
from rancher_deploy.simulator import Simulator, Timing

from .conftest import (ACCESS_KEY, NEW_IMAGE, OLD_IMAGE, SECRET_KEY, CliRun, HeldClock, RunCli, invoke_cli,
                       server_cert)
from .faults.test_signals import Child
from .test_tls import serving_https
from .test_workloads import NEW, OLD, TOKEN_ID, TOKEN_SECRET, WEB, containers
from .tls_proxy import TlsProxy

SLOW = Timing(speed=10.0)


@pytest.fixture
def timing() -> Timing:
    """The 1.6 simulator of conftest's `sim` (and `web`, `run_cli`): an upgrade of ~1 s real."""
    return Timing(speed=20.0)


@pytest.fixture
def k8s() -> Iterator[Simulator]:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8", timing=SLOW) as simulator:
        simulator.add_workload("default", "web", [dict(WEB)], replicas=2)
        yield simulator


def environment(sim: Simulator) -> dict[str, str]:
    return {"CATTLE_URL": sim.url, "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}", "RANCHER_WORKLOAD": "web",
            "RANCHER_IMAGE": NEW, "RANCHER_POLL_INTERVAL": "0.05", "RANCHER_TIMEOUT": "30"}


def run(sim: Simulator, **overrides: str | None) -> CliRun:
    return invoke_cli(("--output", "json"), environment(sim), overrides, TOKEN_SECRET)


def requests_after_the_change(sim: Simulator) -> list[str]:
    """`METHOD path?query` of each request after the PATCH that changed the image."""
    lines = [f"{r.method} {r.path}" + (f"?{r.query}" if r.query else "") for r in sim.requests]
    patched = max(n for n, line in enumerate(lines) if line.startswith("PATCH "))
    return lines[patched + 1:]


def watches(lines: list[str]) -> list[str]:
    return [line for line in lines if "watch=1" in line]


def when_open(sim: Simulator, action: Callable[[], object]) -> threading.Thread:
    """Run `action` in a thread as soon as the simulator has answered a watch or upgraded a subscription."""

    def wait_then_act() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any("watch=1" in r.query or (r.path.endswith("/subscribe") and r.status == 101) for r in sim.requests):
                action()
                return
            time.sleep(0.005)

    thread = threading.Thread(target=wait_then_act, daemon=True)
    thread.start()
    return thread


def cut_half_way(sim: Simulator) -> CliRun:
    """A 2.x rollout held half-way until its stream is cut, then let go; it must end well anyway."""
    sim.faults.capacity(1, "default/web")
    cutter = when_open(sim, lambda: (sim.faults.drop_streams(), sim.faults.clear()))
    result = run(sim)
    cutter.join(timeout=20)
    assert result.code == 0, result.stderr
    assert result.stderr.count("polling instead") == 1, result.stderr
    assert containers(sim)["web"]["image"] == NEW
    return result


def window_of(line: str) -> int:
    """The `timeoutSeconds` a watch request asked for."""
    return int(line.split("timeoutSeconds=")[1].split("&")[0])


def test_a_rollout_is_followed_through_one_watch_asked_to_end_after_5_to_10_minutes(k8s: Simulator) -> None:
    started = time.monotonic()
    result = run(k8s, RANCHER_POLL_INTERVAL="5")
    elapsed = time.monotonic() - started
    assert result.code == 0, result.stderr
    assert containers(k8s)["web"]["image"] == NEW
    waited = requests_after_the_change(k8s)
    # One watch, from the resourceVersion the patch answered, asked to end after what client-go's
    # reflector asks (5-10 minutes); no read: the watch was never silent for the poll interval.
    assert len(waited) == 1 and waited[0].startswith("GET /k8s/clusters/local/apis/apps/v1/namespaces/default/"
                                                     "deployments?"), waited
    assert "fieldSelector=metadata.name%3Dweb" in waited[0] and "resourceVersion=" in waited[0]
    assert 300 <= window_of(waited[0]) < 600
    assert elapsed > 0.2, "the rollout was too quick to tell a watch from a poller"
    assert "polling instead" not in result.stderr


def test_a_watch_the_server_ends_is_opened_again_from_the_last_version_it_sent() -> None:
    # A rollout of ~800 simulated seconds (~0.8 s real) outlives the watch's 5-10 simulated minutes.
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8",
                   timing=Timing(speed=1000.0, container_start=400.0)) as sim:
        sim.add_workload("default", "web", [dict(WEB)], replicas=2)
        result = run(sim, RANCHER_POLL_INTERVAL="5")
        assert result.code == 0, result.stderr
        waited = requests_after_the_change(sim)
        assert len(waited) >= 2 and watches(waited) == waited, waited   # watches only: no read, no poll
        # Each from the version the one before it last sent (the simulator's versions are numbers):
        # never from nothing, never back.
        versions = [int(line.split("resourceVersion=")[1].split("&")[0]) for line in waited]
        assert versions == sorted(versions) and versions[-1] > versions[0], versions
        assert "polling instead" not in result.stderr


def waiting_requests(rollout_seconds: float, quiet: float) -> tuple[list[str], float]:
    """The requests after the PATCH of a 2-replica rollout whose pods each take `rollout_seconds` / 2
    simulated seconds to start (100x: 10 s take 0.1 s real), and the run's real seconds."""
    timing = Timing(speed=100.0, container_start=rollout_seconds / 2)
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8", timing=timing) as sim:
        sim.add_workload("default", "web", [dict(WEB)], replicas=2)
        started = time.monotonic()
        result = run(sim, RANCHER_POLL_INTERVAL=str(quiet))
        elapsed = time.monotonic() - started
        assert result.code == 0, result.stderr
        assert "polling instead" not in result.stderr
        return requests_after_the_change(sim), elapsed


def test_the_requests_while_waiting_on_a_watch_do_not_grow_with_the_rollout_s_length() -> None:
    quiet = 0.01   # RANCHER_POLL_INTERVAL, real seconds: a poller would read some 10 and 40 times
    for rollout in (10.0, 40.0):
        waited, elapsed = waiting_requests(rollout, quiet)
        # One watch however long the rollout (the server ends it after 5-10 simulated minutes, 3-6 s
        # real here); the reads that check a silent watch back off (0.01, 0.02, 0.04 ... s), so
        # their number is at most log2(elapsed / quiet) + 1 (6 for 0.4 s), not elapsed / quiet.
        reads = [line for line in waited if "watch=1" not in line]
        assert len(watches(waited)) == 1, (rollout, waited)
        assert len(reads) <= math.log2(elapsed / quiet) + 1, (rollout, elapsed, waited)


def stalled_then_released(sim: Simulator, **overrides: str) -> tuple[CliRun, list[str], float]:
    """A rollout held half-way (nothing changes) for 0.5 s real once its watch is open, then let go:
    the run, the requests after the PATCH and its real seconds."""
    sim.faults.capacity(1, "default/web")
    release = when_open(sim, lambda: threading.Timer(0.5, sim.faults.clear).start())
    started = time.monotonic()
    result = run(sim, RANCHER_POLL_INTERVAL="0.01", **overrides)
    elapsed = time.monotonic() - started
    release.join(timeout=20)
    assert result.code == 0, result.stderr
    assert "polling instead" not in result.stderr
    return result, requests_after_the_change(sim), elapsed


def test_a_watch_silent_on_a_stalled_rollout_costs_reads_that_back_off(k8s: Simulator) -> None:
    _, waited, elapsed = stalled_then_released(k8s)
    reads = [line for line in waited if "watch=1" not in line]
    # A poller would read every 0.01 s (50+ times); the checks double their silence each time.
    assert len(watches(waited)) == 1 and 1 <= len(reads) <= math.log2(elapsed / 0.01) + 1, waited


def test_a_read_checking_a_silent_watch_that_fails_keeps_the_watch(k8s: Simulator) -> None:
    """Rancher failing the check (503) is said, and the wait keeps watching: the watch is not what failed."""
    when_open(k8s, lambda: k8s.faults.fail_next("/deployments/web", 3, status=503, method="GET"))
    result, waited, _ = stalled_then_released(k8s, RANCHER_RETRIES="0")
    assert "HTTP 503 (503: Service Unavailable); still waiting" in result.stderr, result.stderr
    assert len(watches(waited)) == 1, waited


def test_a_watch_the_network_cuts_falls_back_to_polling_saying_so_once(k8s: Simulator) -> None:
    result = cut_half_way(k8s)
    assert "the watch of default/deployment:web broke" in result.stderr
    waited = requests_after_the_change(k8s)
    assert len(watches(waited)) == 1, waited   # no second watch: the wait polls from then on


def test_a_watch_answered_410_gone_reads_again_and_watches_on(k8s: Simulator) -> None:
    k8s.faults.expire_watches(1)
    result = run(k8s, RANCHER_POLL_INTERVAL="60")   # no watch ends on its own before the rollout does
    assert result.code == 0, result.stderr
    waited = requests_after_the_change(k8s)
    read = "GET /k8s/clusters/local/apis/apps/v1/namespaces/default/deployments/web"
    # watch from the patch's answer (410 Expired), read again after client-go's pause (the rollout may
    # have ended by then), watch from the new version: no polling.
    assert [line.split("?")[0] for line in waited] in ([read.rsplit("/", 1)[0], read],
                                                       [read.rsplit("/", 1)[0], read, read.rsplit("/", 1)[0]])
    assert "polling instead" not in result.stderr
    assert containers(k8s)["web"]["image"] == NEW


def test_a_watch_answered_410_every_time_backs_off_between_reads(k8s: Simulator) -> None:
    """client-go's reflector pauses between re-lists (0.8 s, doubling, jittered); without a pause a
    server that expires every watch costs a read and a watch each time the wait looks."""
    k8s.faults.expire_watches(10**6)   # every watch given a resourceVersion is answered 410 Expired
    result = run(k8s, RANCHER_POLL_INTERVAL="60")
    assert result.code == 0, result.stderr
    waited = requests_after_the_change(k8s)
    # A rollout of ~0.5 s: the first pause (0.8-1.6 s) outlasts it; a few reads, not hundreds.
    assert len(waited) <= 6, (len(waited), len(watches(waited)))
    assert containers(k8s)["web"]["image"] == NEW


def test_the_pauses_between_re_lists_double_with_jitter_up_to_the_poll_interval(k8s: Simulator) -> None:
    """On the watch's own clock, sleeper and random source (injected): 0.8 s x (1 + jitter), doubling,
    never above RANCHER_POLL_INTERVAL (here 5 s); each pause ends in one read and one watch."""
    k8s.faults.expire_watches(10**6)
    now, slept = [0.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    url = f"{k8s.url}/k8s/clusters/local/apis/apps/v1/namespaces/default/deployments/web"
    session = RancherSession(Credentials(token=f"{TOKEN_ID}:{TOKEN_SECRET}"))
    watch = KubeWatch(session, TargetRef(name="default/web", id="deployment:default:web", url=url), streams.Lost(),
                      5.0, clock=lambda: now[0], sleep=sleep, uniform=lambda: 0.5)
    bodies = []
    try:
        while len(slept) < 5 and len(bodies) < 50:
            bodies.append(watch.next(100.0))
    finally:
        watch.close()
    assert slept == pytest.approx([1.2, 2.4, 4.8, 5.0, 5.0]), slept
    read = [r for r in k8s.requests if r.path.endswith("/deployments/web")]
    assert sum(body is not None for body in bodies) == len(read) == 1 + 5, [r.path for r in k8s.requests]


def test_a_sigterm_while_blocked_on_the_watch_rolls_back_and_exits_143(k8s: Simulator, tmp_path: Path) -> None:
    k8s.faults.capacity(1, "default/web")  # the rollout cannot finish: the wait sits on the stream
    child = Child([], environment(k8s), tmp_path)
    child.wait_for_line("Upgrade of default/deployment:web requested")
    deadline = time.monotonic() + 20
    while not watches([r.query for r in k8s.requests]) and time.monotonic() < deadline:
        time.sleep(0.005)
    child.signal(signal.SIGTERM)
    k8s.faults.clear()
    returncode, _, stderr = child.finish()
    assert returncode == 143, stderr
    assert "interrupted while waiting for default/deployment:web" in stderr
    assert containers(k8s)["web"]["image"] == OLD


# -- cattle's subscribe (1.6) ----------------------------------------------------------------------------


def lines(sim: Simulator) -> list[str]:
    return [f"{r.method} {r.path.rsplit('/', 1)[-1]}" + (f"?{r.query}" if r.query else "") for r in sim.requests]


def between(sim: Simulator, first: str, last: str) -> list[str]:
    """The requests after the POST whose query has `first` and before the one whose query has `last`."""
    logged = lines(sim)
    start = next(n for n, line in enumerate(logged) if line.startswith("POST") and first in line)
    end = next(n for n, line in enumerate(logged) if line.startswith("POST") and last in line)
    return logged[start + 1:end]


def assert_no_polling(waited: list[str], service: str, *, confirmed: bool = False) -> None:
    """The wait subscribed, then read the service with its containers once (and, `confirmed`, once
    more: the read that confirms a verdict the stream alone would give); what came after the wait
    (the rollback's own look at the service) is not a poll."""
    assert waited[:2] == ["GET subscribe?eventNames=resource.change", f"GET {service}?include=instances"], waited
    reads = [line for line in waited[2:] if "include=instances" in line or line.endswith("/instances")]
    assert reads == ([f"GET {service}?include=instances"] if confirmed else []), waited


def subscriptions(sim: Simulator) -> int:
    return len([r for r in sim.requests if r.path.endswith("/subscribe")])


# What a stream shows of an upgrade depends on when it was opened: on the real-time simulator an
# upgrade a loaded machine subscribes to late is over before the stream sees a step of it. These
# tests hold a frozen simulator's clock until the wait has subscribed and read the service, then
# move it at the speed of `timing` above (20 simulated seconds a real second).
FROZEN = pytest.mark.parametrize("timing", [Timing(speed=0)])


def watching(sim: Simulator) -> bool:
    """Whether a wait has subscribed and then read the service and its containers."""
    logged = sim.requests
    opened = next((n for n, r in enumerate(logged) if r.path.endswith("/subscribe") and r.status == 101), None)
    return opened is not None and any("include=instances" in r.query for r in logged[opened + 1:])


def held_until_watching(sim: Simulator) -> HeldClock:
    return HeldClock(sim, lambda: watching(sim), step=0.1)


@FROZEN
def test_a_1x_upgrade_is_followed_through_cattle_s_subscribe_stream(sim: Simulator, web: str,
                                                                     run_cli: RunCli) -> None:
    started = time.monotonic()
    with held_until_watching(sim):
        result = run_cli()
    assert result.code == 0, result.stderr
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
    # Subscribed first, then the service and its containers read once; the events did the rest.
    assert between(sim, "action=upgrade", "action=finishupgrade") == [
        "GET subscribe?eventNames=resource.change", f"GET {web}?include=instances"]
    assert time.monotonic() - started > 0.3, "the upgrade was too quick to tell a stream from a poller"
    # Container events moved the counts the judge reads, one new container at a time.
    assert "upgrading (In Progress), 1/2 new containers healthy" in result.stderr
    assert "polling instead" not in result.stderr


@FROZEN
def test_a_1x_upgrade_over_v1_counts_its_containers_through_the_stream_without_service_ids(
        sim: Simulator, web: str, run_cli: RunCli) -> None:
    """Rancher < 1.2 speaks v1 only, whose containers carry no serviceIds (cattle's InstanceOutputFilter):
    a container is the service's when the read listed it, or by its io.rancher.stack_service.name label."""
    with held_until_watching(sim):
        result = run_cli(CATTLE_URL=f"{sim.url}/v1")
    assert result.code == 0, result.stderr
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
    assert between(sim, "action=upgrade", "action=finishupgrade") == [
        "GET subscribe?eventNames=resource.change", f"GET {web}?include=instances"]
    assert "upgrading (In Progress), 1/2 new containers healthy" in result.stderr
    assert "polling instead" not in result.stderr


@FROZEN
@pytest.mark.parametrize("services_first", [True, False])
def test_a_service_that_says_upgraded_before_its_last_container_is_healthy_is_waited_for(
        sim: Simulator, web: str, run_cli: RunCli, services_first: bool) -> None:
    sim.faults.publish_order(services_first)
    # Each look of the simulator then sees one moment: the service turns upgraded at the moment its
    # last container turns healthy, so both events come in the same look, in the order asked for.
    with held_until_watching(sim):
        result = run_cli("--output", "json")
    assert result.code == 0, result.stderr
    assert result.json["targets"][0]["result"] == "upgraded"
    # What the judge saw last before finishing: the service upgraded and both new containers healthy.
    upgraded = [line for line in result.stderr.splitlines() if line.startswith("  shop/web: upgraded")]
    assert upgraded and upgraded[-1].startswith("  shop/web: upgraded, 2/2 new containers healthy"), result.stderr
    # The service's event first: it says upgraded while the last container's event is still to come.
    if services_first:
        assert "  shop/web: upgraded, 1/2 new containers healthy" in result.stderr, result.stderr
    assert "polling instead" not in result.stderr


def test_a_container_that_fails_to_start_reaches_the_judge_through_the_stream(sim: Simulator, web: str,
                                                                               run_cli: RunCli) -> None:
    sim.faults.failing_image(NEW_IMAGE)
    result = run_cli()
    assert result.code == 1, result.stderr
    assert "Rancher reports an error in state upgrading: Container should have been running" in result.stderr
    assert_no_polling(between(sim, "action=upgrade", "action=rollback"), web)
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"


def rolling_back(sim: Simulator) -> bool:
    return any(r.method == "POST" and "action=rollback" in r.query for r in sim.requests)


@FROZEN
def test_a_stream_without_events_still_keeps_the_progress_deadline(sim: Simulator, web: str, run_cli: RunCli) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)   # its containers never turn healthy: no event says so
    # Nothing moves until the rollback: the read that confirms the deadline sees what the stream's
    # first read saw (on a moving clock a loaded machine could deliver a container's event after that
    # read, and the stream would be taken for silent).
    with HeldClock(sim, lambda: rolling_back(sim), step=0.1):
        result = run_cli(RANCHER_PROGRESS_DEADLINE="0.5")
    assert result.code == 1, result.stderr
    assert "without progress (RANCHER_PROGRESS_DEADLINE)" in result.stderr
    assert "polling instead" not in result.stderr   # no ping while frozen: a wait past 15 s would say so
    assert_no_polling(between(sim, "action=upgrade", "action=rollback"), web, confirmed=True)


def test_a_1x_stream_the_network_cuts_falls_back_to_polling_saying_so_once(sim: Simulator, web: str,
                                                                            run_cli: RunCli) -> None:
    sim.faults.hang(web)   # held until the stream is cut
    cutter = when_open(sim, lambda: (sim.faults.drop_streams(), sim.faults.clear()))
    result = run_cli()
    cutter.join(timeout=20)
    assert result.code == 0, result.stderr
    assert result.stderr.count("polling instead") == 1, result.stderr
    assert "the event stream of shop/web's environment broke" in result.stderr
    assert subscriptions(sim) == 1, "the finish's wait polls too, without trying again"
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


def test_a_subscription_refused_for_its_credentials_is_said_once_and_the_waits_poll(sim: Simulator, web: str,
                                                                                    run_cli: RunCli) -> None:
    sim.faults.fail_next("/subscribe", status=401)   # the rest of the API still takes the key
    result = run_cli("--verbose")
    assert result.code == 0, result.stderr
    assert ("the event stream of shop/web's environment could not be opened (Subscribing to Rancher's events failed: HTTP 401 "
            "(Unauthorized)") in result.stderr
    assert result.stderr.count("polling instead") == 1
    assert "Authorization" not in result.stderr   # the debug log names the request, never its credentials
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


def test_a_sigterm_while_blocked_on_the_subscription_rolls_back_and_exits_143(
        sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path) -> None:
    sim.faults.hang(web)   # the upgrade cannot finish: the wait sits on the stream
    child = Child([], base_env, tmp_path)
    child.wait_for_line("Upgrade of shop/web requested")
    deadline = time.monotonic() + 20
    while subscriptions(sim) == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    child.signal(signal.SIGTERM)
    sim.faults.clear()   # so that the rollback can run
    returncode, _, stderr = child.finish()
    assert returncode == 143, stderr
    assert "interrupted while waiting for shop/web" in stderr
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"


# -- through a proxy, over TLS ---------------------------------------------------------------------------


@pytest.fixture
def proxy(sim: Simulator, ca: trustme.CA, tmp_path: Path) -> Iterator[Callable[..., TlsProxy]]:
    """proxy(prefix="", websockets=False) -> a started TLS-terminating proxy in front of the simulator."""
    cert, key = server_cert(ca, tmp_path, "proxy")
    started: list[TlsProxy] = []

    def make(prefix: str = "", websockets: bool = False) -> TlsProxy:
        front = TlsProxy(sim.url, cert, key, prefix=prefix, websockets=websockets)
        started.append(front.__enter__())
        return front

    yield make
    for front in started:
        front.__exit__(None, None, None)


def test_a_proxy_that_does_not_pass_websockets_makes_the_waits_poll_saying_so_once(
        proxy: Callable[..., TlsProxy], sim: Simulator, web: str, run_cli: RunCli, ca_file: str) -> None:
    front = proxy()   # like nginx without `proxy_set_header Upgrade`: cattle sees a plain GET (404)
    result = run_cli(CATTLE_URL=front.url, RANCHER_CA_BUNDLE=ca_file)
    assert result.code == 0, result.stderr
    assert ("the event stream of shop/web's environment could not be opened (Subscribing to Rancher's events failed: HTTP 404"
            in result.stderr)
    assert result.stderr.count("polling instead") == 1
    assert subscriptions(sim) == 1
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


@pytest.mark.parametrize("prefix", ["", "/rancher"])
def test_the_stream_goes_on_wss_through_a_proxy_that_passes_websockets_under_its_prefix(
        proxy: Callable[..., TlsProxy], sim: Simulator, web: str, run_cli: RunCli, ca_file: str, prefix: str) -> None:
    front = proxy(prefix, websockets=True)
    result = run_cli("--verbose", CATTLE_URL=front.url, RANCHER_CA_BUNDLE=ca_file)
    assert result.code == 0, result.stderr
    assert "polling instead" not in result.stderr
    # Asked for under the configured https:// address and prefix, though Rancher links to http:// without it.
    assert f"GET {front.url}/v2-beta/projects/1a5/subscribe?eventNames=resource.change (websocket)" in result.stderr
    assert ("GET", "/v2-beta/projects/1a5/subscribe?eventNames=resource.change") in front.forwarded
    assert front.plain_connections == 0
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


@pytest.fixture
def tls_sim(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    yield from serving_https(ca, tmp_path, monkeypatch)


def test_a_subscription_verifies_tls_as_every_request_does(tls_sim: Simulator, ca_file: str) -> None:
    url, query = f"{tls_sim.url}/v2-beta/projects/1a5/subscribe", {"eventNames": "resource.change"}
    with pytest.raises(CertificateNotTrusted, match="set RANCHER_CA_BUNDLE"):
        RancherSession(Credentials(ACCESS_KEY, SECRET_KEY)).open_websocket(url, query, what="Subscribing")
    for verify in (ca_file, False):
        ws = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY), verify=verify).open_websocket(url, query,
                                                                                               what="Subscribing")
        assert '"name":"ping"' in ws.recv()
        ws.close()


@pytest.mark.parametrize("setting", ["RANCHER_CA_BUNDLE", "RANCHER_INSECURE"])
def test_a_1x_upgrade_over_https_follows_the_stream_on_wss(tls_sim: Simulator, ca_file: str, setting: str) -> None:
    web = tls_sim.add_service(tls_sim.add_stack("shop"), "web", {"imageUuid": f"docker:{OLD_IMAGE}"}, scale=2)
    environment = {"CATTLE_URL": tls_sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
                   "RANCHER_SERVICE": "shop/web", "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_TIMEOUT": "30",
                   setting: ca_file if setting == "RANCHER_CA_BUNDLE" else "true"}
    result = invoke_cli((), environment, {}, SECRET_KEY)
    assert result.code == 0, result.stderr
    assert "polling instead" not in result.stderr
    assert subscriptions(tls_sim) == 1   # one for the run: the finish's wait goes on with it
    assert tls_sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


# -- norman's subscribe (2.x v3) -------------------------------------------------------------------------


@pytest.fixture
def v3() -> Iterator[Simulator]:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.4", timing=SLOW) as simulator:
        simulator.add_workload("default", "web", [dict(WEB)], replicas=2)
        yield simulator


def requests_after_the_write(sim: Simulator) -> list[str]:
    logged = [f"{r.method} {r.path}" + (f"?{r.query}" if r.query else "") for r in sim.requests]
    written = max(n for n, line in enumerate(logged) if line.startswith(("PUT ", "PATCH ")))
    return logged[written + 1:]


def test_a_v3_rollout_is_followed_through_norman_s_subscribe_with_one_request(v3: Simulator) -> None:
    started = time.monotonic()
    result = run(v3)
    assert result.code == 0, result.stderr
    assert containers(v3)["web"]["image"] == NEW
    # Norman sends the workload as it is when subscribed: no read, however long the rollout takes.
    assert requests_after_the_write(v3) == [
        f"GET /v3/project/{v3.default_project_id}/subscribe?resourceTypes=deployment&namespaceId=default"]
    assert time.monotonic() - started > 0.2, "the rollout was too quick to tell a stream from a poller"
    assert "polling instead" not in result.stderr


def test_a_v3_stream_the_network_cuts_falls_back_to_polling_saying_so_once(v3: Simulator) -> None:
    result = cut_half_way(v3)
    assert "the event stream of default/deployment:web broke" in result.stderr
    assert subscriptions(v3) == 1


def test_a_subscription_that_goes_silent_is_taken_for_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rancher pings every 5 s; on a frozen clock the simulator sends its first ping and then nothing,
    # as a proxy that stopped passing data without closing would. Three pings missed: lost.
    monkeypatch.setattr(streams, "PING_SECONDS", 0.1)
    lost = streams.Lost()
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing(speed=0.0)) as frozen:
        session = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY))
        feed = streams.subscription(session, f"{frozen.url}/v2-beta/projects/1a5/subscribe",
                                    {"eventNames": "resource.change"}, "the event stream of shop/web", lost)
        try:
            assert take(feed)["name"] == "ping"
            with pytest.raises(streams.StreamLost, match=r"went silent: no message for 0.3s, though Rancher pings "
                                                         r"every 0.1s") as silent:
                take(feed)
            assert silent.value.first and lost.is_set()
        finally:
            feed.close()


def take(feed: streams.Feed, seconds: float = 5) -> Any:
    """The next message of `feed` within `seconds` (skipping the note that it opened)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        message = feed.get(deadline - time.monotonic())
        if message is not None:
            return message
    raise AssertionError("no message")


def test_a_subscription_verifies_the_host_name_and_takes_a_ca_directory(ca: trustme.CA, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A certificate for another host fails the websocket as it fails a request; RANCHER_CA_BUNDLE may
    name a directory (c_rehash'd, as requests takes it)."""
    import subprocess

    from .test_tls import https_simulator

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    directory = tmp_path / "cas"
    directory.mkdir()
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    subprocess.run(["openssl", "rehash", str(directory)], check=True, capture_output=True)
    query = {"eventNames": "resource.change"}
    with https_simulator(ca, tmp_path, hosts=("other.example",)) as elsewhere:
        with pytest.raises(DeployError, match="TLS|certificate"):
            RancherSession(Credentials(ACCESS_KEY, SECRET_KEY), verify=str(directory)).open_websocket(
                f"{elsewhere.url}/v2-beta/projects/1a5/subscribe", query, what="Subscribing")
    with https_simulator(ca, tmp_path) as here:
        ws = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY), verify=str(directory)).open_websocket(
            f"{here.url}/v2-beta/projects/1a5/subscribe", query, what="Subscribing")
        assert '"name":"ping"' in ws.recv()
        ws.close()


def test_credentials_in_the_url_reach_the_subscription_and_no_output(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("--verbose", CATTLE_URL=sim.url.replace("http://", f"http://{ACCESS_KEY}:{SECRET_KEY}@"),
                     CATTLE_ACCESS_KEY=None, CATTLE_SECRET_KEY=None)
    assert result.code == 0, result.stderr   # invoke_cli checks that the secret appears nowhere
    assert "polling instead" not in result.stderr
    assert subscriptions(sim) >= 1 and {r.status for r in sim.requests if r.path.endswith("/subscribe")} == {101}


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "poll"])
def test_a_service_removed_while_waiting_ends_the_same_streamed_or_polled(sim: Simulator, web: str, run_cli: RunCli,
                                                                         stream: bool) -> None:
    sim.faults.hang(web)
    if not stream:
        sim.faults.fail_next("/subscribe", count=5, status=404)
    remover = when_open(sim, lambda: _remove(sim, web)) if stream else _after_upgrade(sim, web)
    result = run_cli("--output", "json")
    remover.join(timeout=20)
    assert result.code == 4, result.stderr
    assert result.json["targets"][0]["state"] in ("removed", "removing"), result.stderr


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "poll"])
def test_a_timeout_ends_the_same_streamed_or_polled(sim: Simulator, web: str, run_cli: RunCli, stream: bool) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    if not stream:
        sim.faults.fail_next("/subscribe", count=5, status=404)
    result = run_cli("--output", "json", RANCHER_TIMEOUT="1")
    assert result.code == 1, result.stderr
    assert "shop/web was not upgraded after 1s (RANCHER_TIMEOUT)" in result.stderr
    assert result.json["targets"][0]["result"] == "rolled-back"
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"


def _after_upgrade(sim: Simulator, service: str) -> threading.Thread:
    """Remove `service` from a thread once its upgrade was requested."""

    def remove() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if any("action=upgrade" in r.query for r in sim.requests):
                _remove(sim, service)
                return
            time.sleep(0.005)

    thread = threading.Thread(target=remove, daemon=True)
    thread.start()
    return thread


def _remove(sim: Simulator, service: str) -> None:
    import requests

    requests.delete(f"{sim.url}/v2-beta/projects/1a5/services/{service}", auth=(ACCESS_KEY, SECRET_KEY), timeout=5)
