"""rancher-deploy as its users get it: this checkout built into a wheel and installed, not editable,
into a virtual environment of its own, the way the image installs it.

The bench's own environment has the checkout installed with ``pip install -e``, whose import hook
(setuptools' ``__editable__`` finder, loaded by a ``.pth`` file) costs every interpreter in that
environment about 10 ms before it runs anything: ``python -c pass`` as much as ``rancher-deploy``.
No user pays it (a CI job runs ``pip install rancher-deploy`` or the image), so measured there the
start-up floor was twice the real one and the ratio to it looked better than it is, while every other
figure carried 10 ms that is not the tool's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.context import say
from bench.results import ROOT

# What the Dockerfile copies into its build stage (and .dockerignore lets in): the wheel is built
# from a copy holding only these, so neither a stale `build/` directory of an earlier in-place build
# (setuptools keeps a module deleted since then) nor anything untracked ends up in it.
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "rancher_deploy", "scripts")


@dataclass(frozen=True)
class Installed:
    """The installed tool: its command (scripts/rancher-deploy, installed by pip as for any user), the interpreter of
    its environment (the start-up floor), and the image's entrypoint script placed outside the
    checkout (a script's own directory comes first on ``sys.path``)."""

    script: Path
    python: Path
    entrypoint: Path


def install_ours(home: Path) -> Installed:
    """Build the working tree's wheel and install it with its pinned run-time dependencies
    (``requirements/runtime.txt``: what ``pip install rancher-deploy`` brings; the image adds the
    pins of the serve and poll extras, which a CI run never imports) into a new virtual
    environment at ``home``.

    Made afresh for each run (about 20 s; pip's cache keeps the dependencies), since the checkout
    changes between runs; raises ``CalledProcessError`` when pip fails.
    """
    say(f"installing this checkout's wheel into {home}")
    source, wheels = home / "source", home / "wheels"
    for name in SOURCES:
        origin = ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, source / name)
    quiet = ["--quiet", "--disable-pip-version-check"]
    subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True)
    python = home / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", *quiet, "--requirement", str(ROOT / "requirements" / "runtime.txt")],
                   check=True)
    subprocess.run([str(python), "-m", "pip", "wheel", *quiet, "--no-deps", "--wheel-dir", str(wheels), str(source)],
                   check=True)
    subprocess.run([str(python), "-m", "pip", "install", *quiet, "--no-deps", *map(str, wheels.glob("*.whl"))], check=True)
    entrypoint = home / "app" / "entrypoint.py"
    entrypoint.parent.mkdir()
    shutil.copy2(ROOT / "entrypoint.py", entrypoint)
    return Installed(home / "venv" / "bin" / "rancher-deploy", python, entrypoint)
