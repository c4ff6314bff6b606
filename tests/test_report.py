"""The human log: one failure, one annotation, whichever way the run ends and whichever CI shows it."""

from __future__ import annotations

import io

import pytest

from rancher_deploy import ci
from rancher_deploy.errors import ExitCode
from rancher_deploy.events import GroupEnd, GroupStart, Level, Outcome, Progress, Result, Step, TargetOutcome
from rancher_deploy.redact import Redactor
from rancher_deploy.report import HumanLog, step_text
from rancher_deploy.simulator import Simulator, Timing

from .conftest import LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, RunCli, VirtualTime

CAUSE = "the new containers never became healthy: 0/2 healthy after 60s without progress"
# A new image that never gets healthy fails on the progress deadline (Rancher 1.x sets no error for
# it), on simulated time: the simulator moves only when the tool sleeps.
ON_SIMULATED_TIME = pytest.mark.parametrize("timing", [Timing(speed=0)])
STALL = {"RANCHER_POLL_INTERVAL": "5", "RANCHER_PROGRESS_DEADLINE": "60", "RANCHER_TIMEOUT": "600"}
DIALECTS = {"github": {"GITHUB_ACTIONS": "true"}, "gitlab": {"GITLAB_CI": "true"}}


def annotations(log: str) -> list[str]:
    return [line for line in log.splitlines() if line.startswith(("::error", "::warning", "::notice"))]


@ON_SIMULATED_TIME
@pytest.mark.parametrize("dialect", sorted(DIALECTS))
@pytest.mark.parametrize(("case", "code"), [("rolled back", 1), ("refused setting", 2), ("needs attention", 4)])
def test_one_failure_is_reported_once(sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli, dialect: str,
                                      case: str, code: int) -> None:
    environ = {**DIALECTS[dialect], **STALL}
    if case == "refused setting":
        environ["RANCHER_TIMEOUT"] = "soon"
    else:
        sim.faults.unhealthy_image(NEW_IMAGE)
    if case == "needs attention":
        environ["RANCHER_ROLLBACK"] = "false"
    result = run_cli(**environ)
    assert result.code == code, result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"rancher-deploy: exit {code} ")
    if dialect == "github":
        # The one annotation is the end of the story: the verdict, or the error the run stopped on.
        (annotation,) = annotations(result.stderr)
        if case == "refused setting":
            assert annotation == "::error::RANCHER_TIMEOUT: must be a number of seconds, got 'soon'"
        else:
            assert annotation.startswith("::error::FAILED")
            # What led there is still in the log, as plain lines.
            assert f"error: Upgrade of shop/web failed: {CAUSE}" in result.stderr
    else:
        assert annotations(result.stderr) == []
    # Whatever the CI, the failure's last word is said once.
    finals = [line for line in result.stderr.splitlines()
              if line.removeprefix("::error::").startswith(("FAILED", "rancher-deploy: error:", "RANCHER_TIMEOUT"))]
    assert len(finals) == 1, finals


def test_warnings_before_a_failure_stay_annotations_and_those_after_it_do_not() -> None:
    stream = io.StringIO()
    log = HumanLog(stream, Redactor(), dialect=ci.GitHub(Redactor()))
    log(Step("This Rancher serves only the /v1 API", Level.WARNING))
    log(Step("Upgrade of shop/web failed: timed out", Level.ERROR, "shop/web", named=True))
    log(Step("Rolling back shop/web", Level.WARNING, "shop/web", named=True))
    log(Step("shop/web was rolled back", Level.ERROR, "shop/web"))
    assert stream.getvalue().splitlines() == [
        "::warning::This Rancher serves only the /v1 API",
        "error: Upgrade of shop/web failed: timed out",
        "warning: Rolling back shop/web",
        "error: shop/web was rolled back",
    ]


def test_several_failed_targets_make_one_annotation_where_the_first_stands() -> None:
    stream = io.StringIO()
    log = HumanLog(stream, Redactor(), dialect=ci.GitHub(Redactor()))
    outcome = Outcome("upgrade", (
        TargetOutcome("shop/a", "1s1", Result.ROLLED_BACK, "active", message="a was rolled back"),
        TargetOutcome("shop/b", "1s2", Result.UNCHANGED, "active", message="b already runs it"),
        TargetOutcome("shop/c", "1s3", Result.FAILED, "upgrading", message="c is left upgrading"),
    ))
    log.verdict(outcome, ExitCode.NEEDS_ATTENTION)
    lines = stream.getvalue().splitlines()
    assert lines[0] == ("::error::FAILED, rolled back: shop/a (1s1) in 0.0s: a was rolled back%0A"
                        "FAILED, NEEDS ATTENTION: shop/c (1s3) in 0.0s: c is left upgrading")
    assert lines[1] == "unchanged: shop/b (1s2) in 0.0s: b already runs it"
    assert lines[2].startswith("rancher-deploy: exit 4 ")
    assert len(lines) == 3


def test_a_plain_log_keeps_every_target_line_in_order() -> None:
    stream = io.StringIO()
    log = HumanLog(stream, Redactor(), dialect=ci.Dialect(Redactor(), name="drone"))
    outcome = Outcome("upgrade", (
        TargetOutcome("shop/a", "1s1", Result.ROLLED_BACK, "active", message="a was rolled back"),
        TargetOutcome("shop/b", "1s2", Result.UNCHANGED, "active", message="b already runs it"),
    ))
    log.verdict(outcome, ExitCode.ROLLED_BACK)
    assert [line.split(":")[0] for line in stream.getvalue().splitlines()] == [
        "FAILED, rolled back", "unchanged", "rancher-deploy"]


@ON_SIMULATED_TIME
def test_a_failure_across_several_targets_is_still_one_annotation(sim: Simulator, web: str, virtual: VirtualTime,
                                                                  run_cli: RunCli) -> None:
    stack = sim.service(web)["stackId"]
    sim.add_service(stack, "worker", {"imageUuid": "docker:registry.example.com:5000/shop/worker:1.0"}, scale=1)
    sim.faults.unhealthy_image(NEW_IMAGE)
    # One at a time: shop/worker (whose repository warning would be an annotation of its own) is not started.
    result = run_cli(GITHUB_ACTIONS="true", RANCHER_SERVICE="web,worker", RANCHER_STACK="shop", RANCHER_PARALLEL="1",
                     **STALL)
    assert result.code == 1, result.stderr
    (annotation,) = annotations(result.stderr)
    assert annotation.startswith("::error::FAILED") and "shop/web" in annotation and "shop/worker" in annotation


@pytest.mark.parametrize("level", list(Level))
def test_every_line_about_a_target_names_it(level: Level) -> None:
    """Targets run at once interleave their lines: each one carrying a target says which, whether its
    words name it already (the emitter says so, `Step.named`) or not (the wait's "Rancher answers again")."""
    stream = io.StringIO()
    log = HumanLog(stream, Redactor(), verbose=True, dialect=ci.GitHub(Redactor()))
    log(Step("Rancher answers again", level, "shop/s1"))
    log(Step("Upgrade of shop/s2 requested", level, "shop/s2", named=True))
    log(Progress("shop/s3", "upgrading", None, 1, 2, 3.0))
    first, second, third = stream.getvalue().splitlines()
    assert "shop/s1: Rancher answers again" in first
    assert "shop/s2" in second and "shop/s2: " not in second   # named once, not twice
    assert third.strip().startswith("shop/s3: upgrading")


@pytest.mark.parametrize("old, new", [("nginx:1.24", "nginx:1.25"),
                                      ("registry.example.com/shop/web:2.0", "registry.example.com/shop/web:2.1"),
                                      ("shop/web:2.0", "shop/web:2.1")])
def test_a_line_is_prefixed_by_where_its_target_is_named_not_by_what_it_contains(old: str, new: str) -> None:
    """A plan line prints the same whatever the image is called, though an image may contain the
    target's name; a line that begins with the name, or that its emitter says names it, is not prefixed."""
    assert step_text(Step(f"  web: {old} -> {new}", target="shop/web")) == f"shop/web:   web: {old} -> {new}"
    assert step_text(Step(f"{old} is not allowed", target="shop/web")) == f"shop/web: {old} is not allowed"
    assert step_text(Step("shop/web is active", target="shop/web")) == "shop/web is active"
    assert step_text(Step("shop/web2 is active", target="shop/web")) == "shop/web: shop/web2 is active"
    assert step_text(Step("Rolling back shop/web", target="shop/web", named=True)) == "Rolling back shop/web"


@pytest.mark.parametrize("old, new", [("nginx:1.24", "nginx:1.25"), (OLD_IMAGE, NEW_IMAGE)])
def test_the_plan_line_prints_the_same_whatever_the_image_is_called(sim: Simulator, run_cli: RunCli,
                                                                    old: str, new: str) -> None:
    """OLD_IMAGE (registry.example.com:5000/shop/web:2.0) contains the target's name shop/web; a rule
    that skipped the prefix when the name occurs in the line printed this plan line unprefixed."""
    sim.add_service(sim.add_stack("shop"), "web", {**LAUNCH_CONFIG, "imageUuid": f"docker:{old}"})
    result = run_cli(RANCHER_IMAGE=new)
    assert result.code == 0, result.stderr
    plan = [line for line in result.stderr.splitlines() if f"{old} -> {new}" in line]
    # One target goes in its own section (`== upgrade shop/web`), which names it: no prefix.
    assert plan == [f"  web: {old} -> {new}"], result.stderr


@pytest.mark.parametrize("old, new", [("nginx:1.24", "nginx:1.25"), (OLD_IMAGE, NEW_IMAGE)])
def test_targets_at_once_prefix_their_plan_lines_whatever_the_image_is_called(sim: Simulator, run_cli: RunCli,
                                                                              old: str, new: str) -> None:
    stack = sim.add_stack("shop")
    for name in ("web", "api"):
        sim.add_service(stack, name, {**LAUNCH_CONFIG, "imageUuid": f"docker:{old}"})
    result = run_cli(RANCHER_IMAGE=new, RANCHER_SERVICE="shop/web,shop/api", RANCHER_STACK=None)
    assert result.code == 0, result.stderr
    plan = sorted(line for line in result.stderr.splitlines() if f"{old} -> {new}" in line)
    assert plan == [f"shop/api:   api: {old} -> {new}", f"shop/web:   web: {old} -> {new}"], result.stderr


def test_a_section_that_names_the_target_carries_no_prefix() -> None:
    stream = io.StringIO()
    log = HumanLog(stream, Redactor())
    log(GroupStart("upgrade shop/web"))
    log(Step("  web: nginx:1.24 -> nginx:1.25", target="shop/web"))
    log(Step("  api: nginx:1.24 -> nginx:1.25", target="shop/api"))
    log(GroupEnd())
    log(Step("  web: nginx:1.24 -> nginx:1.25", target="shop/web"))
    assert stream.getvalue().splitlines()[1:] == ["  web: nginx:1.24 -> nginx:1.25",
                                                  "shop/api:   api: nginx:1.24 -> nginx:1.25",
                                                  "shop/web:   web: nginx:1.24 -> nginx:1.25"]
