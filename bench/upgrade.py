"""Benchmark: one full Rancher 1.x upgrade through the CLI against the simulator; prints figures.

Run: python bench/upgrade.py [--runs N] [--scale N] [--rancher-version 1.6|2.4|2.8]. Reports the tool's own overhead (wall time
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


def one_run(scale: int, poll_interval: float, version: str) -> tuple[float, int]:
    access, secret = ("AK-bench", "SK-bench-secret") if version == "1.6" else ("token-bench", "bench-secret")
    with Simulator(access, secret, rancher_version=version, timing=Timing.fast()) as sim:
        environ = {"CATTLE_URL": sim.url, "RANCHER_IMAGE": "registry.example.com/shop/web:2",
                   "RANCHER_POLL_INTERVAL": str(poll_interval), "RANCHER_OUTPUT": "json"}
        if version == "1.6":
            stack = sim.add_stack("shop")
            sim.add_service(stack, "web", {"imageUuid": "docker:registry.example.com/shop/web:1",
                                           "environment": {"A": "1"}, "labels": {"x": "y"}}, scale=scale)
            environ.update({"CATTLE_ACCESS_KEY": access, "CATTLE_SECRET_KEY": secret,
                            "RANCHER_SERVICE": "shop/web", "RANCHER_BATCH_INTERVAL": "0.1"})
        else:
            sim.add_workload("default", "web", [{"name": "web", "image": "registry.example.com/shop/web:1"}],
                             replicas=scale)
            environ.update({"RANCHER_TOKEN": f"{access}:{secret}", "RANCHER_WORKLOAD": "web"})
        started = time.perf_counter()
        code = cli.main([], environ=environ, dotenv_path=None, stdout=io.StringIO(), stderr=io.StringIO())
        elapsed = time.perf_counter() - started
        if code != 0:
            raise SystemExit(f"upgrade failed with exit {code}")
        return elapsed, sim.count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--scale", type=int, default=3)
    parser.add_argument("--poll-interval", type=float, default=0.005)
    parser.add_argument("--rancher-version", choices=("1.6", "2.4", "2.8"), default="1.6")
    options = parser.parse_args()
    times, calls = [], []
    for _ in range(options.runs):
        elapsed, count = one_run(options.scale, options.poll_interval, options.rancher_version)
        times.append(elapsed)
        calls.append(count)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    what = "service" if options.rancher_version == "1.6" else "deployment"
    print(f"upgrade of a scale-{options.scale} {what} on Rancher {options.rancher_version}, {options.runs} runs "
          "(simulator at test speed):")
    print(f"  wall time  median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
    print(f"  API calls  median {statistics.median(calls):.0f}, max {max(calls)}")
    print(f"  peak RSS   {peak_kib / 1024:.1f} MiB (this process, simulator included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
