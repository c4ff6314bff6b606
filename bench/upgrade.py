"""Benchmark: one full Rancher 1.x upgrade through the CLI against the simulator; prints figures.

Run: python bench/upgrade.py [--runs N] [--scale N]. Reports the tool's own overhead (wall time
beyond the simulated rollout, API calls, requests per second of waiting) and peak memory, which
are what a CI step pays for. Tests assert behaviour; this only measures.
"""

from __future__ import annotations

import argparse
import io
import resource
import statistics
import sys
import time

from rancher_deploy import cli
from rancher_deploy.simulator import Simulator, Timing


def one_run(scale: int, poll_interval: float) -> tuple[float, int, int]:
    with Simulator("AK-bench", "SK-bench-secret", timing=Timing.fast()) as sim:
        stack = sim.add_stack("shop")
        sim.add_service(stack, "web", {"imageUuid": "docker:registry.example.com/shop/web:1",
                                       "environment": {"A": "1"}, "labels": {"x": "y"}}, scale=scale)
        environ = {"CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": "AK-bench", "CATTLE_SECRET_KEY": "SK-bench-secret",
                   "RANCHER_SERVICE": "shop/web", "RANCHER_IMAGE": "registry.example.com/shop/web:2",
                   "RANCHER_POLL_INTERVAL": str(poll_interval), "RANCHER_BATCH_INTERVAL": "0.1",
                   "RANCHER_OUTPUT": "json"}
        started = time.perf_counter()
        stdout = io.StringIO()
        code = cli.main([], environ=environ, dotenv_path=None, stdout=stdout, stderr=io.StringIO())
        elapsed = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"upgrade failed with exit {code}")
        return elapsed, sim.count(), len(sim.requests)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--poll-interval", type=float, default=0.005)
    options = parser.parse_args()
    times, calls = [], []
    for _ in range(options.runs):
        elapsed, count, _ = one_run(options.scale, options.poll_interval)
        times.append(elapsed)
        calls.append(count)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"upgrade of a scale-{options.scale} service, {options.runs} runs (simulator at test speed):")
    print(f"  wall time  median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
    print(f"  API calls  median {statistics.median(calls):.0f}, max {max(calls)}")
    print(f"  peak RSS   {peak_kib / 1024:.1f} MiB (this process, simulator included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
