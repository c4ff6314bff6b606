"""What every scenario shares: the tools under comparison, the credentials, fresh image tags, progress."""

from __future__ import annotations

import itertools
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ACCESS, SECRET = "bench-access-key", "bench-secret-key-0123456789"     # Rancher 1.6 API key
TOKEN, TOKEN_SECRET = "token-bench1", "bench-token-secret-0123456789"  # Rancher 2.x API token
REPOSITORY = "registry.example.com/shop/web"


@dataclass
class Tools:
    """The programs compared, each run as a whole process.

    ``ours`` is the ``rancher-deploy`` command (scripts/rancher-deploy) of this checkout's wheel,
    installed into a virtual environment of its own (``bench.ours``); ``python`` that environment's interpreter (the
    start-up floor); ``entrypoint`` the image's entrypoint script, run by that interpreter; ``peer``
    the cached rancher-gitlab-deploy; ``kubectl`` the one on PATH. ``scratch`` is the HOME and
    working directory every tool runs in.
    """

    ours: Path
    python: Path
    entrypoint: Path
    peer: Path
    kubectl: Path | None
    scratch: Path
    _tags: Iterator[int] = field(default_factory=lambda: itertools.count(2))

    @classmethod
    def find(cls, ours: Path, python: Path, entrypoint: Path, peer: Path, scratch: Path) -> Tools:
        kubectl = shutil.which("kubectl")
        return cls(ours, python, entrypoint, peer, Path(kubectl) if kubectl else None, scratch)

    def next_image(self) -> str:
        """A tag no target runs yet, so that every run really upgrades (``:2``, ``:3``, ...)."""
        return f"{REPOSITORY}:{next(self._tags)}"


def say(message: str) -> None:
    """A progress line on stderr (the results go to stdout)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)
