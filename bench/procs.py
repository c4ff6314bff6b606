"""Running a tool as a whole process and reading what it cost: wall time, exit code, peak memory.

Every tool runs the way a CI job runs it: a fresh process, an environment that holds only what the
scenario sets (so nothing from the bench's own shell leaks in: no proxy, no CA bundle, no
``RANCHER_*``), and a scratch working directory (rancher-deploy reads a ``.env`` file there).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# A run that has not ended after this long is killed and reported as failed (exit -9): a hung tool
# must not hang the benchmark.
KILL_AFTER = 600.0
# GNU time reports the peak RSS of the command it forks. The bench cannot read it from its own child:
# Linux carries the parent's peak over fork/vfork and exec (exec_mmap keeps the old mm's high-water
# mark in signal->maxrss), so wait4 on a child of a 100 MiB bench answers at least 100 MiB.
GNU_TIME = Path("/usr/bin/time")


@dataclass(frozen=True)
class Finished:
    """One process from spawn to exit. Times are ``time.monotonic()`` seconds, the clock the
    watchers in ``ideal`` stamp with, so the two can be subtracted."""

    argv: tuple[str, ...]
    started: float
    ended: float
    code: int
    max_rss_mib: float | None  # the process's own peak resident set in MiB (None: not measured)
    stdout: str
    stderr: str

    @property
    def wall(self) -> float:
        """Seconds from spawn to exit."""
        return self.ended - self.started

    def last_line(self) -> str:
        """The last non-empty line the process printed (stderr first): how a failure is named."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1]
        return f"exit {self.code}, no output"


def base_environment(home: Path) -> dict[str, str]:
    """The environment every tool starts from: a PATH, a scratch HOME and a UTF-8 locale, nothing else."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8"}


def run(argv: Sequence[str], env: Mapping[str, str], cwd: Path, memory: bool = True) -> Finished:
    """Run one process to its end; its output goes to files, not pipes, so a chatty tool never blocks.

    With ``memory`` (and GNU time installed: Debian's ``time`` package) the command runs under
    ``/usr/bin/time -f %M``, which adds about a millisecond; start-up figures pass ``memory=False``.
    """
    measure = memory and GNU_TIME.exists()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("w+") as rss:
        command = [str(GNU_TIME), "-f", "%M", "-o", rss.name, *argv] if measure else list(argv)
        started = time.monotonic()
        process = subprocess.Popen(command, env=dict(env), cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        killer = threading.Timer(KILL_AFTER, process.kill)
        killer.start()
        try:
            code = process.wait()
        finally:
            killer.cancel()
        ended = time.monotonic()
        out.seek(0)
        err.seek(0)
        return Finished(tuple(argv), started, ended, code, _peak_mib(rss.read()) if measure else None,
                        out.read(), err.read())


def _peak_mib(report: str) -> float | None:
    """GNU time's ``%M`` (KiB) is its last line; a line before it may say the command failed."""
    lines = report.split()
    return int(lines[-1]) / 1024 if lines and lines[-1].isdigit() else None
