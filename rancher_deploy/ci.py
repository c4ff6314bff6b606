"""CI dialects: which CI runs us, and how its log folds, annotates, masks secrets and hands the result on.

A dialect only turns values into text and files; the human log decides what to say. Every text a
dialect writes passes through the run's Redactor, except the `::add-mask::` lines, whose whole job
is to name a secret to GitHub before it could appear anywhere else.
The CI facts relied on are collected, with their sources, in docs/ci-conventions.md.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from rancher_deploy.events import Level
from rancher_deploy.redact import Redactor

Write = Callable[[str], None]

# GitHub shows at most 10 annotations of each kind per step and drops the rest silently
# (actions/toolkit docs/problem-matchers.md); past that the plain line is worth more.
GITHUB_ANNOTATION_LIMIT = 10

# Keys of the dotenv report are these output names, upper-cased with this prefix.
DOTENV_PREFIX = "RANCHER_DEPLOY_"
_WHITESPACE = re.compile(r"\s+")


def detect(environ: Mapping[str, str], redactor: Redactor, *, clock: Callable[[], float] = time.time) -> Dialect:
    """The dialect of the CI we run in; Woodpecker is tested before Drone, whose variables it also sets."""
    if environ.get("GITHUB_ACTIONS") == "true":
        return GitHub(redactor, clock=clock)
    # Present, not "true": gitlab-ci-local sets GITLAB_CI=false and is still GitLab's log format.
    if "GITLAB_CI" in environ:
        return GitLab(redactor, clock=clock)
    if environ.get("CI") == "woodpecker":
        return Dialect(redactor, name="woodpecker", clock=clock)
    if environ.get("DRONE") == "true":
        return Dialect(redactor, name="drone", clock=clock)
    return Dialect(redactor, name="plain", clock=clock)


def outputs(document: Mapping[str, Any]) -> dict[str, str]:
    """The result as flat text values: GitHub's step outputs and, upper-cased, the dotenv report.

    With several targets, `target`, `previous-image`, `image` and `requested-image` list one value
    per target, comma separated and in the same order, so a later job can pair them up. `image` is
    what the target runs when the run ends (on a dry run, what runs now; empty when unknown),
    `requested-image` what the run asked for.
    """
    targets: list[Mapping[str, Any]] = list(document.get("targets") or [])
    duration = document.get("duration_seconds")
    return {
        "result": str(document["result"]),
        "exit-code": str(document["exit_code"]),
        "target": ",".join(str(target["target"]) for target in targets),
        "previous-image": ",".join(str(target.get("previous_image") or "") for target in targets),
        "image": ",".join(str(target.get("image") or "") for target in targets),
        "requested-image": ",".join(str(target.get("requested_image") or "") for target in targets),
        "duration": "" if duration is None else f"{float(duration):g}",
    }


class Dialect:
    """A CI without log folding or annotations (Drone, Woodpecker, a terminal); the base of the others.

    Methods that return a line return what to write *instead of* the plain rendering, or None when
    the plain rendering is right; the caller writes it, so one stream keeps the order of lines.
    """

    def __init__(self, redactor: Redactor, *, name: str = "plain", clock: Callable[[], float] = time.time) -> None:
        self.name = name
        self._redact = redactor
        self._clock = clock

    def prelude(self, secrets: Iterable[str], write: Write) -> None:
        """Register the secrets with the redactor; call before anything else is printed, and again
        whenever more secrets become known (only new ones are announced)."""
        for secret in secrets:
            self._redact.add(secret)

    def group_start(self, title: str) -> str | None:
        return None

    def group_end(self) -> str | None:
        return None

    def annotate(self, level: Level, message: str) -> str | None:
        return None

    def finish(self, document: Mapping[str, Any], environ: Mapping[str, str], *,
               dotenv_path: str | None = None) -> None:
        """Hand the result on: the dotenv report when asked for (GitLab's `artifacts:reports:dotenv`,
        or a file a later step of any CI can read), plus whatever files this CI provides."""
        if dotenv_path:
            self._write_dotenv(dotenv_path, document)

    def _write_dotenv(self, path: str, document: Mapping[str, Any]) -> None:
        # GitLab's parser takes KEY=value lines only: no quotes (they would be kept), no blank or
        # comment lines, no newlines or spaces in values (docs: ci/yaml/artifacts_reports#artifactsreportsdotenv).
        lines = []
        for name, value in outputs(document).items():
            key = DOTENV_PREFIX + name.upper().replace("-", "_")
            lines.append(f"{key}={_WHITESPACE.sub('_', self._redact(value))}\n")
        with open(path, "w", encoding="utf-8") as stream:
            stream.writelines(lines)


class GitHub(Dialect):
    """GitHub Actions: workflow commands on stdout/stderr, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files."""

    def __init__(self, redactor: Redactor, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(redactor, name="github", clock=clock)
        self._masked: set[str] = set()
        self._group_open = False
        self._annotations: dict[str, int] = {}

    def prelude(self, secrets: Iterable[str], write: Write) -> None:
        super().prelude(secrets, write)
        # The redactor decides what counts as a secret (minimum length, URL-encoded forms), so the
        # log and GitHub's masker hide the same values. `::add-mask::` masks later lines only.
        for secret in sorted(self._redact.secrets - self._masked, key=lambda value: (-len(value), value)):
            write(f"::add-mask::{escape_data(secret)}")
            self._masked.add(secret)

    def group_start(self, title: str) -> str | None:
        # Groups do not nest on GitHub: a second start closes the first.
        line = f"::group::{escape_data(self._redact(title))}"
        if self._group_open:
            line = "::endgroup::\n" + line
        self._group_open = True
        return line

    def group_end(self) -> str | None:
        if not self._group_open:
            return None
        self._group_open = False
        return "::endgroup::"

    def annotate(self, level: Level, message: str) -> str | None:
        kind = {Level.ERROR: "error", Level.WARNING: "warning"}.get(level)
        if kind is None:
            return None
        count = self._annotations.get(kind, 0)
        if count >= GITHUB_ANNOTATION_LIMIT:
            return None
        self._annotations[kind] = count + 1
        return f"::{kind}::{escape_data(self._redact(message))}"

    def finish(self, document: Mapping[str, Any], environ: Mapping[str, str], *,
               dotenv_path: str | None = None) -> None:
        output_path = environ.get("GITHUB_OUTPUT")
        if output_path:
            values = dict(outputs(document))
            values["json"] = json.dumps(document, separators=(",", ":"))
            with open(output_path, "a", encoding="utf-8") as stream:
                stream.writelines(_output_entry(name, self._redact(value)) for name, value in values.items())
        summary_path = environ.get("GITHUB_STEP_SUMMARY")
        if summary_path:
            with open(summary_path, "a", encoding="utf-8") as stream:
                stream.write(self._redact(step_summary(document)))
        super().finish(document, environ, dotenv_path=dotenv_path)


class GitLab(Dialect):
    """GitLab CI: collapsible sections in the job log; masking is GitLab's own (masked variables)."""

    def __init__(self, redactor: Redactor, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__(redactor, name="gitlab", clock=clock)
        self._open: list[str] = []
        self._count = 0

    def group_start(self, title: str) -> str | None:
        # docs: ci/jobs/job_logs#custom-collapsible-sections; names allow [A-Za-z0-9_.-] only, and a
        # counter keeps two sections with the same title apart.
        self._count += 1
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", title).strip("_")[:40]
        name = f"rancher_deploy_{self._count}_{slug}" if slug else f"rancher_deploy_{self._count}"
        self._open.append(name)
        header = " ".join(self._redact(title).split())
        return f"\x1b[0Ksection_start:{int(self._clock())}:{name}[collapsed=true]\r\x1b[0K{header}"

    def group_end(self) -> str | None:
        if not self._open:
            return None
        name = self._open.pop()
        return f"\x1b[0Ksection_end:{int(self._clock())}:{name}\r\x1b[0K"


def escape_data(text: str) -> str:
    """Escape the message part of a GitHub workflow command (actions/runner ActionCommand.cs)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def step_summary(document: Mapping[str, Any]) -> str:
    """The Markdown GitHub shows on the run page: one row per target, old -> new image, result, time."""
    lines = [f"### rancher-deploy {_cell(str(document['command']))}: {_cell(str(document['result']))}", ""]
    targets: list[Mapping[str, Any]] = list(document.get("targets") or [])
    if targets:
        lines += ["| target | result | image | time | message |", "| --- | --- | --- | --- | --- |"]
        for target in targets:
            lines.append(
                f"| {_cell(str(target['target']))} ({_code(str(target['id']))}) | {_cell(str(target['result']))} "
                f"| {_images(target)} | {float(target['duration_seconds']):.1f} s | {_cell(str(target['message']))} |"
            )
        lines.append("")
    if document.get("error"):
        lines += [f"**Error:** {_cell(str(document['error']))}", ""]
    lines += [f"Exit code {document['exit_code']}: {_cell(str(document['meaning']))}.", ""]
    return "\n".join(lines) + "\n"


def _images(target: Mapping[str, Any]) -> str:
    containers: list[Mapping[str, Any]] = list(target.get("containers") or [])
    shown = []
    for container in containers:
        previous = str(container["previous_image"])
        now = container.get("image")
        requested = str(container.get("requested_image") or now or "")
        change = _code(previous) if now == previous else f"{_code(previous)} → {_code(str(now)) if now else '?'}"
        if requested and requested != now:
            change += f" (requested {_code(requested)})"
        shown.append(f"{_cell(str(container['name']))}: {change}" if len(containers) > 1 else change)
    return "<br>".join(shown)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: pipes escaped, line breaks as <br>."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", "").replace("\n", "<br>")


def _code(text: str) -> str:
    # A value with a backtick cannot sit in a one-backtick code span; show it as plain cell text.
    return _cell(text) if "`" in text else f"`{_cell(text)}`"


def _output_entry(name: str, value: str) -> str:
    """One GITHUB_OUTPUT entry; multi-line values use a random delimiter that is not a line of the value."""
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    import uuid  # here: uuid loads `platform`, which a run that writes no multi-line output never needs

    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    while delimiter in value.splitlines():
        delimiter = f"ghadelimiter_{uuid.uuid4()}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
