"""The peer: rancher-gitlab-deploy 1.7 from PyPI, in a virtual environment of its own, cached.

It is the best-known CLI for the same job (a GitLab job that upgrades a Rancher 1.x service). What
the bench relies on, read from its ``rancher_gitlab_deploy/cli.py`` 1.7: it appends ``/v1`` to
``--rancher-url``; finds the environment, stack and service by listing ``?limit=1000`` (the first
page only); posts ``?action=upgrade`` with ``--batch-size``/``--batch-interval``; then sleeps a fixed
2 s between reads until ``upgraded``, posts ``finishupgrade`` and sleeps 2 s between reads until
``active``. It has no dry run and handles one service per process.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGE = "rancher-gitlab-deploy"
VERSION = "1.7"


def cache_root() -> Path:
    """Where the bench keeps what it installs: ``$XDG_CACHE_HOME/rancher-deploy/bench`` (default ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rancher-deploy" / "bench"


def ensure_peer() -> Path:
    """Install the peer once (per Python version) and answer its console script.

    A virtual environment cannot be moved once made (its scripts name their interpreter by path), so
    it is built in place under a lock, and a marker written last says it is whole: a run that was
    interrupted half-way leaves no marker, and the next run builds it again.
    """
    python = f"py{sys.version_info.major}.{sys.version_info.minor}"
    home = cache_root() / f"{PACKAGE}-{VERSION}-{python}"
    script = home / "bin" / PACKAGE
    marker = home / ".installed"
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(home.parent / f".{home.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            shutil.rmtree(home, ignore_errors=True)
            print(f"bench: installing {PACKAGE}=={VERSION} into {home}", file=sys.stderr, flush=True)
            subprocess.run([sys.executable, "-m", "venv", str(home)], check=True)
            subprocess.run([str(home / "bin" / "python"), "-m", "pip", "install", "--quiet",
                            "--disable-pip-version-check", f"{PACKAGE}=={VERSION}"], check=True)
            marker.write_text(f"{PACKAGE}=={VERSION}\n", encoding="utf-8")
    return script


def upgrade_argv(script: Path, url: str, access: str, secret: str, stack: str, service: str, image: str,
                 batch_interval: int) -> list[str]:
    """The peer's command line for one in-service upgrade that waits and finishes (its defaults
    otherwise: batch size 1, stop before start, 300 s timeout)."""
    return [str(script), "--rancher-url", url, "--rancher-key", access, "--rancher-secret", secret,
            "--stack", stack, "--service", service, "--new-image", image,
            "--batch-interval", str(batch_interval), "--finish-upgrade"]
