"""The benchmark's record and page (bench/results.py, bench/report.py), without measuring anything.

docs/performance.json keeps every run behind the page, and `python bench/compare.py --render-only`
draws the page again from it, also from a JSON written before a measurement was added.
"""

from __future__ import annotations

import json

from bench.cattle import ManyRun
from bench.report import render
from bench.results import Machine, Plan, Results, dump, load

MACHINE = Machine("AMD EPYC", 2, "CPython 3.11.7", "Linux", "2026-11-29 19:30 UTC",
                  "rancher-deploy 0.1.0 (commit 1234567)", "kubectl v1.32.4")


def _results() -> Results:
    """Several services at fast timing (both tools) and 1 / 10 at realistic timing (rancher-deploy)."""
    results = Results(Plan.full(), MACHINE)
    results.many = [ManyRun("rancher-deploy", 1, 0.2, 8), ManyRun("rancher-deploy", 10, 0.4, 62),
                    ManyRun("rancher-gitlab-deploy", 1, 4.2, 7), ManyRun("rancher-gitlab-deploy", 10, 42.0, 70)]
    results.many_realistic = [ManyRun("rancher-deploy", 1, 22.0, 10, [], 30.5),
                              ManyRun("rancher-deploy", 10, 22.66, 62, [], 33.0),
                              ManyRun("rancher-deploy", 10, 30.0, 62, ["Error: boom"], 33.5),
                              ManyRun("rancher-deploy", 10, 22.44, 62, [], 32.0)]
    return results


def _target_row(page: str) -> str:
    return next(line for line in page.splitlines() if line.startswith("| 10 services in one run"))


def test_the_realistic_runs_survive_the_json_round_trip() -> None:
    results = _results()
    again = load(dump(results))
    assert again.many_realistic == results.many_realistic
    assert again.plan == Plan.full()
    assert again.plan.many_realistic_rounds == 3 and again.plan.many_realistic_interval == 15


def test_the_target_reads_the_realistic_ratio_and_the_page_has_their_table() -> None:
    page = render(_results(), None)
    # Median of 10 services 22.66 s over one service's 22.0 s, not the fast-timing 0.4 / 0.2.
    assert _target_row(page) == ("| 10 services in one run: wall / one service's (realistic timing, 15 s between "
                                 "batches) | <= 1.5x | 1.03x | not run at this timing; peer 10.00x at fast timing | yes |")
    assert ("### Several services in one run at the issue's timing (realistic timing, 15 s between batches, "
            "scale 2, batch size 1; rancher-deploy alone)") in page
    assert "| 10 | 22.66 | 1.03x | 62 | 33.0 | 3 (1) | not run: one process per service" in page
    assert "- rancher-deploy, 10 services at realistic timing: Error: boom" in page
    assert "### Several services in one run (fast timing)" in page  # the client-work table stays


def test_a_json_from_before_the_realistic_runs_still_renders() -> None:
    raw = json.loads(dump(_results()))
    del raw["many_realistic"]
    for name in ("many_realistic_rounds", "many_realistic_interval"):
        del raw["plan"][name]
    old = load(json.dumps(raw))
    assert old.many_realistic == []
    page = render(old, None)
    assert _target_row(page) == ("| 10 services in one run: wall / one service's (fast timing) | <= 1.5x | 2.00x | "
                                 "peer 10.00x at fast timing | no |")
    assert "at the issue's timing" not in page


def test_without_the_peer_at_ten_services_the_target_row_names_no_ratio() -> None:
    results = _results()  # as --quick records it: the fast-timing case stops at 2 services
    results.many = [run for run in results.many if run.services == 1]
    assert "| 1.03x | not run at this timing | yes |" in _target_row(render(results, None))
