"""The benchmark's record and page (bench/results.py, bench/report.py), without measuring anything.

docs/performance.json keeps every run behind the page, and `python bench/compare.py --render-only`
draws the page again from it, also from a JSON written before a measurement was added.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from bench import compare
from bench.cattle import ManyRun, UpgradeRun, publication_wait
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
    results = _results()
    results.many_realistic = [run for run in results.many_realistic if not run.failures]
    page = render(results, None)
    # Median of 10 services 22.55 s over one service's 22.0 s, not the fast-timing 0.4 / 0.2.
    assert _target_row(page) == ("| 10 services in one run: wall / one service's (realistic timing, 15 s between "
                                 "batches) | <= 1.5x | 1.03x | not run at this timing; peer 10.00x at fast timing | yes |")
    assert ("### Several services in one run at the issue's timing (realistic timing, 15 s between batches, "
            "scale 2, batch size 1; rancher-deploy alone)") in page
    assert "| 10 | 22.55 | 1.03x | 62 | 32.5 | 2 (0) | not run: one process per service" in page
    assert "### Several services in one run (fast timing)" in page  # the client-work table stays


def test_a_failed_run_is_counted_not_measured_and_the_target_is_not_met() -> None:
    page = render(_results(), None)
    # The failed run's 30 s is in no median: 22.55 s from the two that moved their ten services.
    assert _target_row(page).endswith("| 1.03x (1 failed) | not run at this timing; peer 10.00x at fast timing | no |")
    assert "| 10 | 22.55 | 1.03x | 62 | 32.5 | 3 (1) | not run: one process per service" in page
    assert "- rancher-deploy, 10 services at realistic timing: Error: boom" in page


def test_runs_that_all_failed_at_once_do_not_meet_the_target() -> None:
    """Ten services refused at once (exit 2 in 0.3 s) moved nothing: no ratio, and not met."""
    results = Results(Plan.full(), MACHINE)
    results.many_realistic = [ManyRun("rancher-deploy", 1, 22.0, 10, [], 30.5),
                              *(ManyRun("rancher-deploy", 10, 0.3, 1, ["rancher-deploy: exit 2"], 30.0)
                                for _ in range(3))]
    assert _target_row(render(results, None)).endswith("| - (3 failed) | not run at this timing | no |")


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
    assert "| 1.03x (1 failed) | not run at this timing | no |" in _target_row(render(results, None))


def test_a_failed_upgrade_is_in_no_median_of_the_upgrade_and_its_targets_are_not_met() -> None:
    """An upgrade that stopped at once (0.3 s, before converging) would make the time added look
    negative: it is counted as failed, and the targets it stands behind are not met."""
    def run(wall: float, failure: str | None = None) -> UpgradeRun:
        return UpgradeRun("rancher-deploy", wall, 21.2, Counter({"GET /x": 10}), 5, 30.5, failure, 0.17, 0.05, 0.1)

    results = Results(Plan.full(), MACHINE)
    results.upgrade = [run(21.4), run(21.45), run(0.3, "Error: refused")]
    page = render(results, None)
    assert "| 1.6 upgrade: time added beyond convergence (s) | <= 0.3 | 0.22 (1 failed) | peer - | no |" in page
    assert "| 1.6 upgrade: API requests | <= 10 | 10 (1 failed) | peer - | no |" in page
    assert "| runs (failed) | 3 (1) | 0 (0) |  |" in page


def test_render_only_draws_the_page_again_and_leaves_the_record_as_it_was(tmp_path: Path) -> None:
    record = tmp_path / "performance.json"
    results = _results()
    results.many = []   # nothing to plot: no matplotlib needed (the bench extra)
    old = json.loads(dump(results))
    del old["many_realistic"]   # as written before a measurement was added: loads with its default
    record.write_text(json.dumps(old), encoding="utf-8")
    before = record.read_bytes()
    assert compare.main(["--render-only", "--doc", str(tmp_path / "performance.md")]) == 0
    assert record.read_bytes() == before
    assert "## Results" in (tmp_path / "performance.md").read_text(encoding="utf-8")


def test_the_plot_takes_its_medians_over_the_runs_that_did_what_was_asked() -> None:
    pytest.importorskip("matplotlib")   # the bench extra; bench/plot.py imports it
    from bench import plot

    runs = [ManyRun("rancher-deploy", 10, 0.4, 62), ManyRun("rancher-deploy", 10, 0.01, 1, ["Error: refused"]),
            ManyRun("rancher-deploy", 10, 0.01, 1, ["Error: refused"])]
    assert plot._series(runs, "rancher-deploy", lambda r: r.wall, lambda r: r.services) == ([10], [0.4])


def test_the_publication_wait_runs_from_upgraded_to_the_next_beat_after_it() -> None:
    """Beat placed at 100 s, once a second: a service upgraded at 103.3 s is published at 104 s."""
    assert publication_wait(103.3, 100.0, 1.0) == pytest.approx(0.7)
    assert publication_wait(99.75, 100.0, 1.0) == pytest.approx(0.25)   # before the beat placed: on its period
    assert publication_wait(None, 100.0, 1.0) is None


def test_the_upgrade_table_splits_out_cattles_publication_for_the_streamed_tool_only() -> None:
    results = Results(Plan.full(), MACHINE)
    results.upgrade = [UpgradeRun("rancher-deploy", 22.0, 21.2, Counter({"GET /x": 10}), 5, 30.5, None,
                                  0.17, 0.65, 0.1, 0.6),
                       UpgradeRun("rancher-gitlab-deploy", 24.2, 21.2, Counter({"GET /x": 17}), 13, 28.8, None,
                                  0.18, 1.03, 1.8)]
    results = load(dump(results))
    page = render(results, None)
    assert "| - of that, waiting for cattle's next publication (s) | 0.60 | - |  |" in page
    assert "| time added beyond convergence and cattle's next publication (s) | 0.20 | - |  |" in page


def test_an_upgrade_recorded_before_the_publication_was_measured_still_loads() -> None:
    raw = json.loads(dump(Results(Plan.full(), MACHINE)))
    raw["upgrade"] = [{"tool": "rancher-deploy", "wall": 22.0, "convergence": 21.2, "requests": {"GET /x": 10},
                       "waiting_requests": 5, "max_rss_mib": 30.5, "failure": None, "before": 0.17,
                       "noticing_upgraded": 0.65, "noticing_active": 0.1}]
    assert load(json.dumps(raw)).upgrade[0].publication is None
