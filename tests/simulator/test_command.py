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


def test_rejects_other_rancher_versions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--access-key", "K", "--secret-key", "S", "--rancher-version", "3.0"])
    assert stopped.value.code == 2
    assert "not simulated" in capsys.readouterr().err
