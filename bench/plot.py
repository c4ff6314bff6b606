"""The PNG of docs/performance.md: time and requests against the number of services, both tools.

Left: N services moved in one run (rancher-deploy: one process; the peer: one process each).
Right: finding one service among N in its stack (rancher-deploy: a dry run; the peer: up to its
upgrade action), with the simulator's own cost of one filtered list for scale, and where the peer
fails (it reads only the first page of 1000).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from bench.report import OURS, PEER, R, median, ok
from bench.results import Results

COLOURS = {OURS: "#1f77b4", PEER: "#d62728", "floor": "#7f7f7f"}


def _series(runs: Sequence[R], tool: str, pick: Callable[[R], float | None],
            size: Callable[[R], int]) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    done = ok(runs, tool)   # as the tables: a failed run is in no median
    for n in sorted({size(r) for r in done}):
        value = median(pick(r) for r in done if size(r) == n)
        if value is not None:
            xs.append(n)
            ys.append(value)
    return xs, ys


def _pair(axis: Any, runs: Sequence[R], pick: Callable[[R], float | None], size: Callable[[R], int],
          labels: dict[str, str]) -> None:
    """Both tools' medians as two lines, each point with its value written beside it: above the
    point for the higher of the two at that x, below and to the right for the lower, so that close
    values stay readable."""
    series = {tool: dict(zip(*_series(runs, tool, pick, size))) for tool in (OURS, PEER)}
    for tool, points in series.items():
        other = series[PEER if tool == OURS else OURS]
        axis.plot(list(points), list(points.values()), marker="o", color=COLOURS[tool], label=labels[tool])
        for x, y in points.items():
            lower = y < other.get(x, -1.0)
            axis.annotate(f"{y:.3g}", (x, y), textcoords="offset points", xytext=(5, -11) if lower else (0, 6),
                          ha="left" if lower else "center", fontsize=7, color=COLOURS[tool])


def _many(results: Results, time_axis: Any, request_axis: Any) -> None:
    labels = {OURS: f"{OURS} (one run)", PEER: f"{PEER} 1.7 (one run each)"}
    _pair(time_axis, results.many, lambda r: r.wall, lambda r: r.services, labels)
    _pair(request_axis, results.many, lambda r: float(r.requests), lambda r: r.services, labels)
    counts = sorted({r.services for r in results.many})
    for axis in (time_axis, request_axis):
        axis.set_xscale("log")  # 1, 10 and 50 apart enough to read
    request_axis.set_xticks(counts, [str(n) for n in counts])
    request_axis.minorticks_off()
    time_axis.set_title("N services upgraded (fast timing)")
    time_axis.set_ylabel("wall time (s)")
    request_axis.set_ylabel("API requests")
    request_axis.set_xlabel("services in the run")


def _lookup(results: Results, time_axis: Any, request_axis: Any) -> None:
    runs = results.lookup
    ok = [r for r in runs if not r.failure]
    labels = {OURS: f"{OURS} (dry run)", PEER: f"{PEER} 1.7 (to its upgrade action)"}
    _pair(time_axis, ok, lambda r: r.seconds, lambda r: r.services, labels)
    _pair(request_axis, ok, lambda r: float(r.requests), lambda r: r.services, labels)
    floors = sorted(results.floors.items())
    if floors:
        time_axis.plot([n for n, _ in floors], [s for _, s in floors], linestyle="--", marker=".", color=COLOURS["floor"],
                       label="simulator: one filtered list")
    failed = sorted({r.services for r in runs if r.tool == PEER and r.failure})
    for n in failed:
        for axis in (time_axis, request_axis):
            axis.axvline(n, color=COLOURS[PEER], linestyle=":", linewidth=1)
        time_axis.annotate(f"{PEER} fails\n(reads one page of 1000)", (n, 0.5), xycoords=("data", "axes fraction"),
                           ha="right", fontsize=7, color=COLOURS[PEER], xytext=(-4, 0), textcoords="offset points")
    for axis in (time_axis, request_axis):
        axis.set_xscale("log")
    sizes = sorted({r.services for r in runs})
    request_axis.set_xticks(sizes, [f"{n:,}" for n in sizes])
    request_axis.minorticks_off()
    time_axis.set_title("Finding 1 service among N in its stack (fast timing)")
    request_axis.set_xlabel("services in the stack")


def draw(results: Results, path: Path) -> None:
    """Write the 2 x 2 figure to ``path`` (PNG)."""
    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex="col")
    _many(results, axes[0][0], axes[1][0])
    _lookup(results, axes[0][1], axes[1][1])
    for axis in axes.flat:
        axis.grid(True, alpha=0.3)
        axis.set_ylim(0, axis.get_ylim()[1] * 1.3)  # room above the lines for the legend
        axis.legend(fontsize=8, loc="upper left")
    figure.suptitle(f"{OURS} vs {PEER} 1.7 on the simulated Rancher 1.6 ({results.machine.date}; medians)", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
