"""Streams a proxy holds, over real sockets (issue 15's review): a subscription that passes the 101 and
then no frame, a handshake never answered, a Kubernetes watch whose body a buffering proxy holds
(nginx's `proxy_buffering on`) for a while or for good, and norman ending a subscription itself.

The rule each test holds the wait to: a stream's silence is never a verdict (a read confirms a
timeout or a missed progress deadline), silence is found sooner where Rancher pings (three pings
missed) or where one read made after a watch's silence during a rollout shows a change the watch did
not send (`kubewatch`), a stream found silent is not opened again in the run (the rollback's and the
finish's waits poll), and a signal is acted on while a handshake hangs. Timings are simulated
(`Timing(speed=...)`, the client's ping interval set to the simulator's); no test sleeps.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
import trustme

from rancher_deploy import streams
from rancher_deploy.simulator import Simulator, Timing

from .conftest import NEW_IMAGE, OLD_IMAGE, HeldClock, RunCli, invoke_cli, server_cert
from .faults.test_signals import Child
from .test_streams import rolling_back
from .test_workloads import NEW, TOKEN_ID, TOKEN_SECRET, WEB, containers
from .tls_proxy import TlsProxy

SPEED = 20.0   # the 1.6 simulator's clock: an upgrade of ~1 s real, a ping every 0.25 s real


@pytest.fixture
def timing() -> Timing:
    return Timing(speed=SPEED)


@pytest.fixture
def proxy(sim: Simulator, ca: trustme.CA, tmp_path: Path) -> Iterator[Callable[..., TlsProxy]]:
    """proxy(websockets=..., watches=...) -> a started TLS proxy in front of `sim`."""
    cert, key = server_cert(ca, tmp_path, "proxy")
    started: list[TlsProxy] = []

    def make(upstream: Simulator | None = None, **options: object) -> TlsProxy:
        front = TlsProxy((upstream or sim).url, cert, key, add_headers={"X-Forwarded-Proto": "https"},
                         **options)  # type: ignore[arg-type]
        started.append(front.__enter__())
        return front

    yield make
    for front in started:
        front.__exit__(None, None, None)


def subscriptions(sim: Simulator) -> int:
    return len([r for r in sim.requests if r.path.endswith("/subscribe")])


def reads_of(sim: Simulator, service: str) -> int:
    return len([r for r in sim.requests if r.method == "GET" and r.path.endswith(f"/services/{service}")])


# -- 1.6: a subscription held silent after its 101 ------------------------------------------------------


def test_a_subscription_held_silent_is_lost_after_three_missed_pings_and_no_later_wait_subscribes(
        proxy: Callable[..., TlsProxy], sim: Simulator, web: str, run_cli: RunCli, ca_file: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "PING_SECONDS", 5.0 / SPEED)   # the client's ping interval is the simulator's
    front = proxy(websockets="silent")
    result = run_cli(CATTLE_URL=front.url, RANCHER_CA_BUNDLE=ca_file)
    assert result.code == 0, result.stderr
    assert "the event stream of shop/web went silent: no message for 0.75s" in result.stderr
    assert result.stderr.count("polling instead") == 1, result.stderr
    assert subscriptions(sim) == 1, "the finish's wait polls: the same proxy would hold it too"
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


def test_a_silent_subscription_does_not_time_out_an_upgrade_a_read_sees_done(
        proxy: Callable[..., TlsProxy], sim: Simulator, web: str, run_cli: RunCli, ca_file: str) -> None:
    """Rancher's pings (5 s) would tell only after 15 s; the timeout comes first, and one read decides."""
    front = proxy(websockets="silent")
    started = time.monotonic()
    result = run_cli(CATTLE_URL=front.url, RANCHER_CA_BUNDLE=ca_file, RANCHER_TIMEOUT="2")
    assert result.code == 0, result.stderr
    assert "not upgraded after" not in result.stderr and "Rolling back" not in result.stderr
    assert "went silent: a read shows upgraded" in result.stderr
    assert result.stderr.count("polling instead") == 1, result.stderr
    assert subscriptions(sim) == 1
    assert time.monotonic() - started < 10


def test_a_silent_subscription_does_not_fail_the_progress_deadline_of_an_upgrade_a_read_sees_done(
        proxy: Callable[..., TlsProxy], sim: Simulator, web: str, run_cli: RunCli, ca_file: str) -> None:
    front = proxy(websockets="silent")
    result = run_cli(CATTLE_URL=front.url, RANCHER_CA_BUNDLE=ca_file, RANCHER_PROGRESS_DEADLINE="1.5")
    assert result.code == 0, result.stderr
    assert "RANCHER_PROGRESS_DEADLINE" not in result.stderr
    assert subscriptions(sim) == 1
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


@pytest.mark.parametrize("timing", [Timing(speed=0)])
def test_a_timeout_a_healthy_stream_reaches_is_confirmed_by_one_read(sim: Simulator, web: str,
                                                                      run_cli: RunCli) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)   # the upgrade truly does not end: the read agrees with the stream
    # Frozen until the rollback, so the confirming read cannot see a change whose event a loaded
    # machine has not delivered yet (which would take the stream for silent).
    with HeldClock(sim, lambda: rolling_back(sim), step=SPEED * 0.005):
        result = run_cli(RANCHER_TIMEOUT="1")
    assert result.code == 1, result.stderr
    assert "shop/web was not upgraded after 1s (RANCHER_TIMEOUT)" in result.stderr
    assert "polling instead" not in result.stderr   # the read showed what the stream said: not silent


# -- 1.6: a handshake a proxy never answers ---------------------------------------------------------------


def test_a_handshake_never_answered_does_not_blind_the_wait_past_its_deadline(
        proxy: Callable[..., TlsProxy], sim: Simulator, web: str, run_cli: RunCli, ca_file: str) -> None:
    front = proxy(websockets="hold")
    started = time.monotonic()
    result = run_cli(CATTLE_URL=front.url, RANCHER_CA_BUNDLE=ca_file, RANCHER_REQUEST_TIMEOUT="30",
                     RANCHER_TIMEOUT="1.5")
    assert result.code == 0, result.stderr
    assert front.held.is_set()
    assert time.monotonic() - started < 10, "the handshake's 30 s request timeout held the wait"
    assert subscriptions(sim) == 0   # never reached Rancher; and the finish's wait did not try again
    assert len([path for method, path in front.forwarded if path.endswith("/subscribe?eventNames=resource.change")]) == 1


def test_a_sigterm_while_a_proxy_sits_on_the_handshake_is_acted_on_at_once(
        proxy: Callable[..., TlsProxy], sim: Simulator, web: str, base_env: dict[str, str], ca_file: str,
        tmp_path: Path) -> None:
    front = proxy(websockets="hold")
    sim.faults.hang(web)
    child = Child([], {**base_env, "CATTLE_URL": front.url, "RANCHER_CA_BUNDLE": ca_file,
                       "RANCHER_REQUEST_TIMEOUT": "30"}, tmp_path)
    child.wait_for_line("Upgrade of shop/web requested")
    assert front.held.wait(10)
    signalled = time.monotonic()
    child.signal(signal.SIGTERM)
    sim.faults.clear()
    returncode, _, stderr = child.finish()
    assert returncode == 143, stderr
    # CI runners send SIGKILL ~10 s after SIGTERM (docker stop; GitHub 7.5 s after SIGINT); the
    # rollback's wait polls rather than wait on the same proxy's handshake.
    assert time.monotonic() - signalled < 5, stderr
    assert "shop/web was rolled back" in stderr


@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_three_targets_wait_on_their_streams_restores_all(
        sim: Simulator, base_env: dict[str, str], tmp_path: Path, signal_number: int) -> None:
    stack = sim.add_stack("shop")
    ids = [sim.add_service(stack, f"s{number}", {"imageUuid": f"docker:{OLD_IMAGE}"}, scale=2) for number in range(3)]
    sim.faults.hang()   # every upgrade held: each wait sits on its stream
    child = Child([], {**base_env, "RANCHER_STACK": "", "RANCHER_SERVICE": "shop/s0,shop/s1,shop/s2"}, tmp_path)
    deadline = time.monotonic() + 20
    while len([r for r in sim.requests if r.path.endswith("/subscribe") and r.status == 101]) < 3:
        assert time.monotonic() < deadline, child.seen
        time.sleep(0.005)
    child.signal(signal_number)
    sim.faults.clear()
    returncode, _, stderr = child.finish()
    assert returncode == 128 + signal_number, stderr
    assert [sim.service(service)["launchConfig"]["imageUuid"] for service in ids] == [f"docker:{OLD_IMAGE}"] * 3


# -- 2.8: a Kubernetes watch whose body a proxy holds -------------------------------------------------------


@pytest.fixture
def k8s() -> Iterator[Simulator]:
    # A rollout of ~2 s real (10x, pods 10 s each): long enough for a silent watch to be checked.
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8",
                   timing=Timing(speed=10.0, container_start=10.0)) as simulator:
        simulator.add_workload("default", "web", [dict(WEB)], replicas=2)
        yield simulator


def run_2x(front: TlsProxy, ca_file: str, **overrides: str) -> tuple[int, str]:
    env = {"CATTLE_URL": front.url, "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}", "RANCHER_WORKLOAD": "web",
           "RANCHER_NAMESPACE": "default", "RANCHER_IMAGE": NEW, "RANCHER_CA_BUNDLE": ca_file,
           "RANCHER_POLL_INTERVAL": "0.2", "RANCHER_TIMEOUT": "30"}
    result = invoke_cli((), env, overrides, TOKEN_SECRET)
    return result.code, result.stderr


def watches(sim: Simulator) -> list[str]:
    return [r.query for r in sim.requests if "watch=1" in r.query]


HELD = ("the watch of default/deployment:web went silent: a read shows version {} of the workload, which the "
        "watch had not sent 1s later (a proxy holds it); polling instead")


@pytest.mark.parametrize("watches_held", ["buffer", "hold"])
def test_a_watch_a_proxy_holds_is_found_by_one_read_and_the_rollout_polled_to_its_end(
        proxy: Callable[..., TlsProxy], k8s: Simulator, ca_file: str, watches_held: str) -> None:
    """A proxy that holds a watch's body until the server ends it (5-10 minutes away) or for good:
    once the watch is silent for RANCHER_POLL_INTERVAL while the rollout moves, one read shows a
    change it did not send, and the wait polls from then on, seeing the rollout to its end at once."""
    front = proxy(k8s, watches=watches_held)
    started = time.monotonic()
    code, stderr = run_2x(front, ca_file)
    assert code == 0, stderr
    assert front.held.is_set()
    assert "not rolled out" not in stderr and "rolled back" not in stderr
    assert stderr.count("polling instead") == 1, stderr
    assert re.search(re.escape(HELD).replace(r"\{\}", r"\d+"), stderr), stderr
    assert len(watches(k8s)) == 1, "lost for the run: no second watch through the same proxy"
    assert 300 <= int(watches(k8s)[0].split("timeoutSeconds=")[1].split("&")[0]) < 600
    assert time.monotonic() - started < 10   # the rollout itself takes ~2 s
    assert containers(k8s)["web"]["image"] == NEW


# -- 2.x v3: norman ends a subscription itself --------------------------------------------------------------


def test_a_subscription_norman_ends_after_30_minutes_is_subscribed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Norman's handler returns after its watch's 30 minutes and drops the connection without a close
    frame; that is not a broken stream: subscribe again (norman sends the state again)."""
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.4", timing=Timing(speed=1000.0)) as v3:
        v3.add_workload("default", "web", [dict(WEB)], replicas=2, progress_deadline_seconds=7200)
        v3.faults.capacity(1, "default/web")   # held half-way until norman has ended the first subscription
        release = _when(lambda: subscriptions(v3) >= 2, v3.faults.clear)
        env = {"CATTLE_URL": v3.url, "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}", "RANCHER_WORKLOAD": "web",
               "RANCHER_NAMESPACE": "default", "RANCHER_IMAGE": NEW, "RANCHER_TIMEOUT": "60"}
        result = invoke_cli((), env, {}, TOKEN_SECRET)
        release()
        assert result.code == 0, result.stderr
        assert "polling instead" not in result.stderr
        assert subscriptions(v3) == 2
        assert containers(v3)["web"]["image"] == NEW


def _when(condition: Callable[[], bool], action: Callable[[], object]) -> Callable[[], None]:
    """Run `action` from a thread once `condition` holds; the returned call waits for that thread."""
    import threading

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not condition():
            time.sleep(0.005)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return lambda: thread.join(timeout=30)


# Only the reader thread closes a stream's socket: one closed under a blocked read frees its
# descriptor, the next connection of the process gets that number, and the stale reader reads its
# bytes or answers them with a TLS alert (a later run's handshake failed with UNEXPECTED_MESSAGE).


def test_hanging_up_wakes_the_reader_which_alone_closes_the_socket() -> None:
    import socket
    import threading

    ours, theirs = socket.socketpair()
    closed_by: list[str] = []
    released = threading.Event()

    def messages() -> Iterator[bytes]:
        while data := ours.recv(1024):
            yield data

    def release() -> None:
        closed_by.append(threading.current_thread().name)
        ours.close()
        released.set()

    def connect() -> streams.Connection:
        return streams.Connection(messages(), lambda: streams._shut_down(ours), release)

    feed = streams.Feed(connect, "the test stream", streams.Lost())
    theirs.sendall(b"event")
    assert feed.get(5) is None and feed.opened
    assert feed.get(5) == b"event"
    feed.close()
    assert released.wait(5), "hanging up did not wake the reader blocked in recv"
    assert closed_by == ["rancher-deploy-stream"]
    theirs.close()
