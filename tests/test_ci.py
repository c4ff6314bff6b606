"""CI dialects, each given the environment its CI really sets and checked on the text and files it writes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from rancher_deploy import ci
from rancher_deploy.events import Level
from rancher_deploy.redact import Redactor

SECRET = "s3cr3t-Value%with\npercent"
TOKEN = "token-abcde:tokensecretpart"


def document(**changes: Any) -> dict[str, Any]:
    """A result object shaped like report.result_object's, for one upgraded service."""
    base: dict[str, Any] = {
        "command": "upgrade",
        "result": "upgraded",
        "exit_code": 0,
        "meaning": "done: upgraded and finished, or nothing to do",
        "flavour": "cattle",
        "targets": [
            {
                "target": "shop/web",
                "id": "1s12",
                "result": "upgraded",
                "state": "active",
                "previous_image": "registry.example.com:5000/app:1",
                "image": "registry.example.com:5000/app:2",
                "requested_image": "registry.example.com:5000/app:2",
                "containers": [{"name": "web", "previous_image": "registry.example.com:5000/app:1",
                                "image": "registry.example.com:5000/app:2",
                                "requested_image": "registry.example.com:5000/app:2"}],
                "message": "shop/web now runs web=registry.example.com:5000/app:2",
                "duration_seconds": 12.345,
            }
        ],
        "error": None,
        "api_calls": 9,
        "duration_seconds": 13.5,
        "interrupted_by_signal": None,
    }
    base.update(changes)
    return base


# What each CI really sets (docs/ci-conventions.md section 1); a few of their other variables are
# included so detection is shown not to trip over them.
GITHUB_ENV = {"CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": "/github/workspace", "HOME": "/github/home"}
GITLAB_ENV = {"CI": "true", "GITLAB_CI": "true", "CI_PROJECT_DIR": "/builds/shop/app", "CI_JOB_ID": "77"}
GITLAB_CI_LOCAL_ENV = {"CI": "true", "GITLAB_CI": "false", "CI_PROJECT_DIR": "/work/app"}
WOODPECKER_ENV = {"CI": "woodpecker", "CI_SYSTEM_NAME": "woodpecker", "DRONE_COMMIT_SHA": "abc",
                  "DRONE_BUILD_STATUS": "success", "PLUGIN_URL": "https://rancher.example.com"}
DRONE_ENV = {"CI": "true", "DRONE": "true", "DRONE_COMMIT_SHA": "abc", "DRONE_BUILD_NUMBER": "4"}


@pytest.mark.parametrize(
    ("environ", "name"),
    [
        (GITHUB_ENV, "github"),
        (GITLAB_ENV, "gitlab"),
        (GITLAB_CI_LOCAL_ENV, "gitlab"),
        (WOODPECKER_ENV, "woodpecker"),
        (DRONE_ENV, "drone"),
        ({"CI": "true"}, "plain"),
        ({}, "plain"),
        ({"GITHUB_ACTIONS": "false"}, "plain"),
    ],
)
def test_detect_names_the_ci_from_its_own_variables(environ: dict[str, str], name: str) -> None:
    assert ci.detect(environ, Redactor()).name == name


# GitHub


def test_github_masks_every_secret_before_anything_else_and_only_once() -> None:
    redactor = Redactor()
    dialect = ci.detect(GITHUB_ENV, redactor)
    lines: list[str] = []
    dialect.prelude([TOKEN, "tokensecretpart", "ab"], lines.append)
    dialect.prelude([TOKEN, "later-known-secret"], lines.append)
    assert lines == [
        # Longest first; the URL-encoded form of the token is a secret of its own (`%` escaped as `%25`).
        "::add-mask::token-abcde%253Atokensecretpart",
        f"::add-mask::{TOKEN}",
        "::add-mask::tokensecretpart",
        "::add-mask::later-known-secret",
    ]
    # Too short to mask ("ab" would blank out every "ab" in the log): the redactor's rule, not a new one.
    assert "ab" not in redactor.secrets
    assert redactor(f"got {TOKEN}") == "got ***"


def test_github_mask_lines_escape_what_the_runner_unescapes() -> None:
    lines: list[str] = []
    ci.detect(GITHUB_ENV, Redactor()).prelude([SECRET], lines.append)
    # The URL-encoded form is masked too, since it is what a URL in an error message would show.
    assert "::add-mask::s3cr3t-Value%25with%0Apercent" in lines
    assert all("\n" not in line for line in lines)
    assert any(line.startswith("::add-mask::s3cr3t-Value%2525with%250Apercent") for line in lines)


def test_github_groups_do_not_nest_and_close_once() -> None:
    dialect = ci.detect(GITHUB_ENV, Redactor())
    assert dialect.group_start("upgrade shop/web") == "::group::upgrade shop/web"
    assert dialect.group_start("upgrade shop/api") == "::endgroup::\n::group::upgrade shop/api"
    assert dialect.group_end() == "::endgroup::"
    assert dialect.group_end() is None


def test_github_annotations_escape_and_redact_and_stop_at_ten_per_kind() -> None:
    redactor = Redactor("secretvalue")
    dialect = ci.detect(GITHUB_ENV, redactor)
    line = dialect.annotate(Level.ERROR, "100% failed\r\nwith secretvalue")
    assert line == "::error::100%25 failed%0D%0Awith ***"
    for _ in range(9):
        assert dialect.annotate(Level.ERROR, "again") == "::error::again"
    assert dialect.annotate(Level.ERROR, "eleventh") is None
    assert dialect.annotate(Level.WARNING, "a warning still has its own ten") == "::warning::a warning still has its own ten"
    assert dialect.annotate(Level.INFO, "info is never an annotation") is None


def read_outputs(path: Path) -> dict[str, str]:
    """Parse GITHUB_OUTPUT the way the runner does: name=value, or name<<DELIM ... DELIM."""
    values: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line:
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            while lines[index] != delimiter:
                body.append(lines[index])
                index += 1
            index += 1
            values[name] = "\n".join(body)
        else:
            name, value = line.split("=", 1)
            values[name] = value
    return values


def hand_on(dialect: ci.Dialect, result: dict[str, Any], environ: dict[str, str], *,
            dotenv_path: str | None = None) -> ci.Handed:
    """What the CLI does with a result (`cli._hand_on`, without its stdout): open every destination,
    then write each."""
    opened, failed = ci.open_all(dialect.destinations(environ, dotenv_path=dotenv_path))
    handed = dialect.write(opened, result)
    handed.failed[:0] = failed
    return handed


def test_github_finish_writes_outputs_and_a_summary(tmp_path: Path) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    output.write_text("earlier=kept\n", encoding="utf-8")
    environ = {**GITHUB_ENV, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    hand_on(ci.detect(environ, Redactor()), document(), environ)

    values = read_outputs(output)
    assert values["earlier"] == "kept"
    assert values["result"] == "upgraded"
    assert values["exit-code"] == "0"
    assert values["target"] == "shop/web"
    assert values["previous-image"] == "registry.example.com:5000/app:1"
    assert values["image"] == "registry.example.com:5000/app:2"
    assert values["duration"] == "13.5"
    assert json.loads(values["json"]) == document()

    text = summary.read_text(encoding="utf-8")
    assert text.startswith("### rancher-deploy upgrade: upgraded\n")
    assert ("| shop/web (`1s12`) | upgraded | `registry.example.com:5000/app:1` → `registry.example.com:5000/app:2` "
            "| 12.3 s | shop/web now runs web=registry.example.com:5000/app:2 |") in text
    assert "Exit code 0: done: upgraded and finished, or nothing to do." in text


def test_github_output_with_a_newline_uses_a_delimiter_that_is_not_a_line_of_it(tmp_path: Path) -> None:
    output = tmp_path / "output"
    environ = {**GITHUB_ENV, "GITHUB_OUTPUT": str(output)}
    failing = document(result="error", exit_code=3, targets=[], duration_seconds=None,
                       error="Rancher said:\nEOF\nno", meaning="Rancher could not be used")
    hand_on(ci.detect(environ, Redactor()), failing, environ)
    values = read_outputs(output)
    assert values["result"] == "error"
    assert values["exit-code"] == "3"
    assert values["target"] == values["image"] == values["duration"] == ""
    # json.dumps escapes the newline, so even the error text stays on one line...
    assert json.loads(values["json"])["error"] == "Rancher said:\nEOF\nno"
    # ...and a value that does span lines is framed by a fresh delimiter.
    entry = ci._output_entry("message", "one\nghadelimiter_x\ntwo")
    name, _, rest = entry.partition("<<")
    delimiter = rest.split("\n", 1)[0]
    assert name == "message" and re.fullmatch(r"ghadelimiter_[0-9a-f-]{36}", delimiter)
    assert entry.endswith(f"\n{delimiter}\n") and entry.count(delimiter) == 2


def test_github_files_never_receive_a_secret(tmp_path: Path) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    environ = {**GITHUB_ENV, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    leaked = document(result="error", exit_code=3, targets=[], error="GET https://key:hunter22@r.example.com: tokensecretpart")
    dialect = ci.detect(environ, Redactor())
    dialect.prelude([TOKEN, "tokensecretpart"], lambda line: None)
    hand_on(dialect, leaked, environ)
    for path in (output, summary):
        text = path.read_text(encoding="utf-8")
        assert "tokensecretpart" not in text and "hunter22" not in text
        assert "https://key:***@r.example.com" in text


def test_summary_lists_every_container_and_escapes_table_breakers() -> None:
    two = document(targets=[{
        "target": "shop/web", "id": "1s12", "result": "rolled-back", "state": "active",
        "previous_image": "app:1", "image": "app:2",
        "containers": [{"name": "web", "previous_image": "app:1", "image": "app:2"},
                       {"name": "log|shipper", "previous_image": "ship:1", "image": "ship:1"}],
        "message": "rolled back:\nhealth check failed", "duration_seconds": 61.0,
    }], result="rolled-back", exit_code=1, meaning="rolled back")
    text = ci.step_summary(two)
    assert "| web: `app:1` → `app:2`<br>log\\|shipper: `ship:1` |" in text
    assert "| rolled back:<br>health check failed |" in text
    assert text.count("\n| shop/web") == 1


# GitLab


def test_gitlab_sections_are_collapsible_named_and_timestamped() -> None:
    dialect = ci.detect(GITLAB_ENV, Redactor("hunter22"), clock=lambda: 1700000000.9)
    start = dialect.group_start("upgrade shop/web (hunter22)")
    assert start == ("\x1b[0Ksection_start:1700000000:rancher_deploy_1_upgrade_shop_web_hunter22"
                     "[collapsed=true]\r\x1b[0Kupgrade shop/web (***)")
    inner = dialect.group_start("wait")
    assert inner is not None and ":rancher_deploy_2_wait[" in inner
    assert dialect.group_end() == "\x1b[0Ksection_end:1700000000:rancher_deploy_2_wait\r\x1b[0K"
    assert dialect.group_end() == "\x1b[0Ksection_end:1700000000:rancher_deploy_1_upgrade_shop_web_hunter22\r\x1b[0K"
    assert dialect.group_end() is None


def test_gitlab_has_no_runtime_masking_or_annotations() -> None:
    redactor = Redactor()
    dialect = ci.detect(GITLAB_ENV, redactor)
    lines: list[str] = []
    dialect.prelude(["a-secret-value"], lines.append)
    assert lines == []
    assert redactor("a-secret-value") == "***"
    assert dialect.annotate(Level.ERROR, "boom") is None


def test_gitlab_dotenv_report_carries_the_result(tmp_path: Path) -> None:
    path = tmp_path / "rancher-deploy.env"
    path.write_text("STALE=1\n", encoding="utf-8")
    hand_on(ci.detect(GITLAB_ENV, Redactor()), document(), GITLAB_ENV, dotenv_path=str(path))
    assert path.read_text(encoding="utf-8") == (
        "RANCHER_DEPLOY_RESULT=upgraded\n"
        "RANCHER_DEPLOY_EXIT_CODE=0\n"
        "RANCHER_DEPLOY_TARGET=shop/web\n"
        "RANCHER_DEPLOY_PREVIOUS_IMAGE=registry.example.com:5000/app:1\n"
        "RANCHER_DEPLOY_IMAGE=registry.example.com:5000/app:2\n"
        "RANCHER_DEPLOY_REQUESTED_IMAGE=registry.example.com:5000/app:2\n"
        "RANCHER_DEPLOY_TARGETS_OMITTED=0\n"
        "RANCHER_DEPLOY_DURATION=13.5\n"
    )


def test_dotenv_lines_obey_gitlabs_parser_for_several_targets_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "out.env"
    second = dict(document()["targets"][0], target="shop/api", previous_image="api:1", image="api:2")
    several = document(targets=[document()["targets"][0], second])
    hand_on(ci.detect(GITLAB_ENV, Redactor()), several, GITLAB_ENV, dotenv_path=str(path))
    values = dict(line.split("=", 1) for line in path.read_text(encoding="utf-8").splitlines())
    assert values["RANCHER_DEPLOY_TARGET"] == "shop/web,shop/api"
    assert values["RANCHER_DEPLOY_IMAGE"] == "registry.example.com:5000/app:2,api:2"

    odd = document(result="odd result\twith space", targets=[])
    hand_on(ci.detect(GITLAB_ENV, Redactor()), odd, GITLAB_ENV, dotenv_path=str(path))
    for line in path.read_text(encoding="utf-8").splitlines():
        assert re.fullmatch(r"[A-Z0-9_]+=\S*", line), line
    assert "RANCHER_DEPLOY_RESULT=odd_result_with_space\n" in path.read_text(encoding="utf-8")


def test_gitlab_writes_no_github_files_even_when_their_variables_exist(tmp_path: Path) -> None:
    output = tmp_path / "output"
    environ = {**GITLAB_ENV, "GITHUB_OUTPUT": str(output)}
    hand_on(ci.detect(environ, Redactor()), document(), environ)
    assert not output.exists()


# Drone, Woodpecker, plain


@pytest.mark.parametrize("environ", [DRONE_ENV, WOODPECKER_ENV, {}], ids=["drone", "woodpecker", "plain"])
def test_plain_dialects_leave_the_log_alone_and_still_write_a_requested_dotenv(
    environ: dict[str, str], tmp_path: Path
) -> None:
    redactor = Redactor()
    dialect = ci.detect(environ, redactor)
    lines: list[str] = []
    dialect.prelude(["from-secret-value"], lines.append)
    assert lines == [] and redactor("from-secret-value") == "***"
    assert dialect.group_start("upgrade shop/web") is None
    assert dialect.group_end() is None
    assert dialect.annotate(Level.ERROR, "boom") is None
    hand_on(dialect, document(), environ)
    assert list(tmp_path.iterdir()) == []
    hand_on(dialect, document(), environ, dotenv_path=str(tmp_path / "result.env"))
    assert "RANCHER_DEPLOY_RESULT=upgraded\n" in (tmp_path / "result.env").read_text(encoding="utf-8")


def test_outputs_are_text_in_target_order() -> None:
    assert ci.outputs(document(duration_seconds=2.0)) == {
        "result": "upgraded",
        "exit-code": "0",
        "target": "shop/web",
        "previous-image": "registry.example.com:5000/app:1",
        "image": "registry.example.com:5000/app:2",
        "requested-image": "registry.example.com:5000/app:2",
        "targets-omitted": "0",
        "duration": "2",
    }


def test_summary_shows_what_runs_now_and_what_was_requested() -> None:
    rolled_back = document(targets=[{
        "target": "shop/web", "id": "1s12", "result": "rolled-back", "state": "active",
        "previous_image": "app:1", "image": "app:1", "requested_image": "app:2",
        "containers": [{"name": "web", "previous_image": "app:1", "image": "app:1", "requested_image": "app:2"}],
        "message": "rolled back", "duration_seconds": 3.0,
    }], result="rolled-back", exit_code=1, meaning="rolled back")
    assert "| `app:1` (requested `app:2`) |" in ci.step_summary(rolled_back)
    unknown = document(targets=[{**rolled_back["targets"][0], "result": "failed", "image": None,
                                 "containers": [{"name": "web", "previous_image": "app:1", "image": None,
                                                 "requested_image": "app:2"}]}])
    assert "| `app:1` → ? (requested `app:2`) |" in ci.step_summary(unknown)


# Many targets: each file stays within what its CI takes


def many(count: int, message: str = "shop/svc now runs web=registry.example.com:5000/shop/web:2.1") -> dict[str, Any]:
    """A fleet run's result with `count` upgraded targets, each as long as a real one."""
    target = document()["targets"][0]
    return document(targets=[dict(target, target=f"Default/shop/svc-{index:03}", id=f"1s{index}", message=message)
                             for index in range(count)])


def test_a_dotenv_report_of_many_targets_lists_what_fits_under_gitlabs_limit_and_counts_the_rest(
        tmp_path: Path) -> None:
    path = tmp_path / "report.env"
    handed = hand_on(ci.detect(GITLAB_ENV, Redactor()), many(120), GITLAB_ENV, dotenv_path=str(path))
    text = path.read_text(encoding="utf-8")
    assert len(text.encode()) <= ci.DOTENV_LIMIT < 5 * 1024
    values = dict(line.split("=", 1) for line in text.splitlines())
    listed = len(values["RANCHER_DEPLOY_TARGET"].split(","))
    assert 0 < listed < 120 and int(values["RANCHER_DEPLOY_TARGETS_OMITTED"]) == 120 - listed
    # The per-target lists still pair up, target by target, from the first.
    for key in ("RANCHER_DEPLOY_PREVIOUS_IMAGE", "RANCHER_DEPLOY_IMAGE", "RANCHER_DEPLOY_REQUESTED_IMAGE"):
        assert len(values[key].split(",")) == listed
    assert values["RANCHER_DEPLOY_TARGET"].startswith("Default/shop/svc-000,Default/shop/svc-001,")
    assert values["RANCHER_DEPLOY_RESULT"] == "upgraded" and values["RANCHER_DEPLOY_EXIT_CODE"] == "0"
    # GitLab's other limit: 20 variables.
    assert len(values) <= 20
    assert handed.failed == []
    assert handed.warning() == (
        f"the dotenv report lists {listed} of 120 targets (RANCHER_DEPLOY_TARGETS_OMITTED={120 - listed}), as GitLab "
        "refuses one of 5 KB or more: this log names every target, as does the JSON result `RANCHER_OUTPUT=json` prints")
    # Only what does not fit is left out: one more target would not.
    more = ci.outputs(many(120), listed + 1)
    assert len("".join(f"RANCHER_DEPLOY_{key.upper().replace('-', '_')}={value}\n"
                       for key, value in more.items()).encode()) > ci.DOTENV_LIMIT


def test_a_dotenv_report_that_fits_says_nothing_was_left_out(tmp_path: Path) -> None:
    path = tmp_path / "report.env"
    handed = hand_on(ci.detect(GITLAB_ENV, Redactor()), many(3), GITLAB_ENV, dotenv_path=str(path))
    assert "RANCHER_DEPLOY_TARGETS_OMITTED=0\n" in path.read_text(encoding="utf-8")
    assert handed.warning() is None


def test_github_files_of_thousands_of_targets_stay_within_githubs_limits(tmp_path: Path) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    environ = {**GITHUB_ENV, "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    huge = many(3000, message="rolled back: " + "the new containers never became healthy; " * 10)
    handed = hand_on(ci.detect(environ, Redactor()), huge, environ)
    assert len(output.read_bytes()) <= ci.GITHUB_OUTPUT_LIMIT
    assert len(summary.read_bytes()) <= ci.GITHUB_SUMMARY_LIMIT
    values = read_outputs(output)
    listed = len(values["target"].split(","))
    assert 0 < listed < 3000 and values["targets-omitted"] == str(3000 - listed)
    result = json.loads(values["json"])   # still one JSON object, counting what it leaves out
    assert len(result["targets"]) == listed and result["targets_omitted"] == 3000 - listed
    text = summary.read_text(encoding="utf-8")
    shown = text.count("\n| Default/shop/svc-")
    assert 0 < shown < 3000
    assert f"{3000 - shown} more targets are not shown here" in text
    assert [note.split(",")[0] for note in handed.shortened] == [
        f"the step outputs list {listed} of 3000 targets (targets-omitted)",
        f"the step summary shows {shown} of 3000 targets"]


# Files that cannot be written


def test_unwritable_names_why_and_leaves_no_file_behind(tmp_path: Path) -> None:
    fine = tmp_path / "new.env"
    destinations = [ci.Destination("dotenv", str(tmp_path / "no-such-dir" / "x.env"), "RANCHER_DOTENV_REPORT"),
                    ci.Destination("outputs", str(tmp_path), "GITHUB_OUTPUT"),
                    ci.Destination("dotenv", str(fine), "setting dotenv_report")]
    assert [(destination.named, why) for destination, why in ci.unwritable(destinations)] == [
        ("RANCHER_DOTENV_REPORT", "its directory does not exist"), ("GITHUB_OUTPUT", "it is a directory")]
    assert not fine.exists(), "the check must not leave an empty report behind"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_file_that_fails_while_written_is_reported_and_the_others_are_still_written(tmp_path: Path) -> None:
    summary = tmp_path / "summary"
    environ = {**GITHUB_ENV, "GITHUB_OUTPUT": "/dev/full", "GITHUB_STEP_SUMMARY": str(summary)}
    handed = hand_on(ci.detect(environ, Redactor()), document(), environ)
    assert [(destination.named, why) for destination, why in handed.failed] == [
        ("GITHUB_OUTPUT", "No space left on device")]
    assert summary.read_text(encoding="utf-8").startswith("### rancher-deploy upgrade: upgraded")
