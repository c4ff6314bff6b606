"""Everything one benchmark run measured, and where: the machine, the plan, each scenario's runs."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
from collections import Counter
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from bench import peer
from bench.cattle import LookupRun, ManyRun, UpgradeRun
from bench.rancher2 import RolloutRun

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plan:
    """How much to run. ``full()`` is the documented run (about 10 minutes today: almost 4 of them the
    50-service case, where both tools sleep 2 s per look, and about 2.3 the six 22 s runs of 1 and
    10 services at realistic timing); ``quick()`` a one-minute smoke run, which runs those with 1 s
    between batches (about 8 s each).

    The two ``many_realistic`` fields have defaults so that a plan recorded before they existed
    (docs/performance.json) still loads: 0 rounds, nothing measured at realistic timing."""

    startup_runs: int
    upgrade_rounds: int
    batch_interval: int
    lookup_sizes: tuple[int, ...]
    lookup_rounds: int
    many_counts: tuple[int, ...]
    many_rounds_single: int  # rounds for one service, and for rancher-deploy at every count (about a second);
                             # the peer moves more services in one round (minutes of 2 s sleeps)
    rollout_rounds: int
    many_realistic_rounds: int = 0  # rounds of 1 and of 10 services at realistic timing (rancher-deploy alone)
    many_realistic_interval: int = 15  # their seconds between batches

    @classmethod
    def full(cls) -> Plan:
        return cls(10, 3, 15, (1, 100, 1000, 10000), 3, (1, 10, 50), 3, 3, 3, 15)

    @classmethod
    def quick(cls) -> Plan:
        return cls(3, 1, 2, (1, 1000, 10000), 1, (1, 2), 1, 1, 1, 1)

    def many_rounds(self, count: int, tool: str) -> int:
        return self.many_rounds_single if count == 1 or tool == "rancher-deploy" else 1


@dataclass(frozen=True)
class Machine:
    """Where and when: CPU model, logical cores, Python, OS, the UTC time, and the versions compared."""

    cpu: str
    cores: int
    python: str
    system: str
    date: str
    ours: str
    kubectl: str

    @classmethod
    def describe(cls, kubectl: Path | None) -> Machine:
        return cls(_cpu_model(), os.cpu_count() or 0, f"{platform.python_implementation()} {platform.python_version()}",
                   platform.platform(terse=True), datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                   _ours_version(), _kubectl_version(kubectl))

    @property
    def peer(self) -> str:
        return f"{peer.PACKAGE} {peer.VERSION}"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _git(*args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def _ours_version() -> str:
    version = importlib.metadata.version("rancher-deploy")
    installed = "its wheel, in its own virtual environment"  # bench.ours
    commit = _git("rev-parse", "--short", "HEAD")
    if not commit:
        return f"rancher-deploy {version} ({installed})"
    dirty = " with uncommitted changes" if _git("status", "--porcelain", "--untracked-files=no") else ""
    return f"rancher-deploy {version} (commit {commit}{dirty}; {installed})"


def _kubectl_version(kubectl: Path | None) -> str:
    if kubectl is None:
        return "kubectl not installed"
    done = subprocess.run([str(kubectl), "version", "--client"], capture_output=True, text=True, timeout=30, check=False)
    first = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
    return f"kubectl {first.rsplit(' ', 1)[-1]}" if first else "kubectl (version unknown)"


@dataclass
class Results:
    """What a run measured; a scenario left out by ``--only`` stays empty."""

    plan: Plan
    machine: Machine
    startup: dict[str, list[float]] = field(default_factory=dict)
    upgrade: list[UpgradeRun] = field(default_factory=list)
    lookup: list[LookupRun] = field(default_factory=list)
    floors: dict[int, float] = field(default_factory=dict)
    many: list[ManyRun] = field(default_factory=list)
    many_realistic: list[ManyRun] = field(default_factory=list)  # 1 and 10 services at the timing
    rollout: list[RolloutRun] = field(default_factory=list)
    seconds: float = 0.0


# --------------------------------------------------------------------------------------------------
# The raw runs as JSON, kept beside the page (docs/performance.json): the baseline in full, and what
# `--render-only` draws the page and the plot from again without measuring.


def _plain(value: Any) -> Any:
    """Dataclasses, Counters, tuples -> JSON values (Counter stays a mapping: asdict would rebuild
    it from pairs and count the pairs)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value) if not f.name.startswith("_")}
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def dump(results: Results) -> str:
    return json.dumps(_plain(results), indent=1) + "\n"


def load(text: str) -> Results:
    raw = json.loads(text)
    plan: dict[str, Any] = {key: tuple(v) if isinstance(v, list) else v for key, v in raw["plan"].items()}
    return Results(
        plan=Plan(**plan),
        machine=Machine(**raw["machine"]),
        startup={label: list(walls) for label, walls in raw["startup"].items()},
        upgrade=[UpgradeRun(**{**run, "requests": Counter(run["requests"])}) for run in raw["upgrade"]],
        lookup=[LookupRun(**run) for run in raw["lookup"]],
        floors={int(size): seconds for size, seconds in raw["floors"].items()},
        many=[ManyRun(**run) for run in raw["many"]],
        # Absent from runs recorded before it was measured: the page then reads the target at fast timing.
        many_realistic=[ManyRun(**run) for run in raw.get("many_realistic", [])],
        rollout=[RolloutRun(**{**run, "requests": Counter(run["requests"])}) for run in raw["rollout"]],
        seconds=float(raw["seconds"]),
    )
