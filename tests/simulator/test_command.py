"""`python -m rancher_deploy.simulator.command` starts, serves and stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from rancher_deploy.simulator.command import main


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serves_until_sigterm_and_saves_state(tmp_path: Path) -> None:
    port = free_port()
    state = tmp_path / "state.json"
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "rancher_deploy.simulator.command",
            "--port", str(port), "--access-key", "K", "--secret-key", "S",
            "--state", str(state), "--timing", "fast",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert f"http://127.0.0.1:{port}" in line
        requests.post(f"http://127.0.0.1:{port}/_sim/seed", json={"stacks": [{"name": "shop"}]}, timeout=5)
        r = requests.get(f"http://127.0.0.1:{port}/v2-beta/stacks", auth=("K", "S"), timeout=5)
        assert [s["name"] for s in r.json()["data"]] == ["shop"]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    assert json.loads(state.read_text())["stacks"][0]["name"] == "shop"


def ipv6_loopback() -> bool:
    """Whether this machine can listen on ::1 (containers without IPv6 cannot)."""
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
@pytest.mark.parametrize("version", ["1.6", "2.8"])
def test_serves_on_the_ipv6_loopback(version: str) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "rancher_deploy.simulator.command", "--host", "::1", "--port", "0",
         "--access-key", "token-ipv6x", "--secret-key", "S", "--rancher-version", version, "--timing", "fast"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "listening on http://[::1]:" in line, line
        url = line.split("listening on ", 1)[1].strip()
        root = requests.get(f"{url}/{'v2-beta' if version == '1.6' else 'v3'}", auth=("token-ipv6x", "S"), timeout=5)
        assert root.status_code == 200 and root.json()["links"]["self"].startswith("http://[::1]:")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_rejects_other_rancher_versions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--access-key", "K", "--secret-key", "S", "--rancher-version", "3.0"])
    assert stopped.value.code == 2
    assert "not simulated" in capsys.readouterr().err


def seeds_in_help() -> tuple[dict[str, object], dict[str, object], str]:
    """The 1.6 and 2.x seed documents and the tool's command line that `simulate --help` shows."""
    from rancher_deploy.simulator.command import _parser

    text = _parser().format_help()
    cattle = json.loads(text.split("-d '", 1)[1].split("'", 1)[0])
    rancher2 = json.loads(text.split("2.x: ", 2)[2].split("\n\n", 1)[0])
    command = text.split("CATTLE_URL=", 1)[1].split("\n\n", 1)[0]
    return cattle, rancher2, " ".join(command.replace("\\\n", " ").split())


def test_help_says_how_to_seed_it_and_gives_every_default() -> None:
    from rancher_deploy.simulator.command import _parser

    text = _parser().format_help()
    assert "/_sim/seed" in text and "--state FILE" in text and "docs/simulator.md" in text
    options = text.split("\noptions:\n", 1)[1]
    for option in ("--port", "--host", "--state", "--rancher-version", "--timing", "--tls-cert"):
        described = options.split(f"\n  {option}", 1)[1].split("\n  --", 1)[0]
        assert "default" in described, option


def test_the_seeds_the_help_shows_work(capsys: pytest.CaptureFixture[str]) -> None:
    from rancher_deploy import cli
    from rancher_deploy.simulator import Simulator, Timing

    cattle, rancher2, command = seeds_in_help()
    with Simulator("K", "S", timing=Timing.fast()) as sim:
        created = requests.post(f"{sim.url}/_sim/seed", json=cattle, timeout=5)
        assert created.status_code == 201 and created.json()["services"] == ["1s1"]
        # The help's command line, pointed at this simulator's port.
        words = command.split()
        assert words[:3] == ["http://127.0.0.1:8080", "CATTLE_ACCESS_KEY=K", "CATTLE_SECRET_KEY=S"]
        assert words[3] == "rancher-deploy"
        environ = {"CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": "K", "CATTLE_SECRET_KEY": "S",
                   "RANCHER_POLL_INTERVAL": "0.01", "RANCHER_BATCH_INTERVAL": "0.1"}
        assert cli.main(words[4:], environ=environ, dotenv_path=None) == 0, capsys.readouterr().err
        assert sim.service("1s1")["launchConfig"]["imageUuid"] == "docker:nginx:1.25"
    with Simulator("token-abcde", "S", rancher_version="2.8", timing=Timing.fast()) as sim:
        created = requests.post(f"{sim.url}/_sim/seed", json=rancher2, timeout=5)
        assert created.status_code == 201 and created.json()["workloads"] == ["deployment:shop:web"]


@pytest.mark.parametrize(("arguments", "said"), [
    (["--port", "99999"], "argument --port: must be 0 (any free port) to 65535, got 99999"),
    (["--port", "http"], "argument --port: must be a port number, got 'http'"),
    (["--access-key", ""], "argument --access-key: must not be empty"),
    (["--secret-key", " "], "argument --secret-key: must not be empty"),
])
def test_a_bad_argument_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str], arguments: list[str],
                                               said: str) -> None:
    # A port past 65535 reached bind() as an OverflowError (a traceback, exit 1); empty keys let an empty
    # Basic login in (answered 200).
    given = {"--access-key": "K", "--secret-key": "S", **dict(zip(arguments[::2], arguments[1::2]))}
    with pytest.raises(SystemExit) as stopped:
        main([word for pair in given.items() for word in pair])
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (f"rancher-deploy simulate: error: {said} "
                                       "(see `rancher-deploy simulate --help`)\n")
