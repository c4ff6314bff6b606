"""CI dialects: which CI runs us, and how its log folds, annotates, masks secrets and hands the result on.

A dialect only turns values into text and files; the human log decides what to say. Every text a
dialect writes passes through the run's Redactor, except the `::add-mask::` lines, whose whole job
is to name a secret to GitHub before it could appear anywhere else.
The CI facts relied on are collected, with their sources, in docs/ci-conventions.md.
"""

from __future__ import annotations

import errno
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from rancher_deploy.events import Level
from rancher_deploy.redact import Redactor

Write = Callable[[str], None]

# GitHub shows at most 10 annotations of each kind per step and drops the rest silently
# (actions/toolkit docs/problem-matchers.md); past that the plain line is worth more.
GITHUB_ANNOTATION_LIMIT = 10

# Keys of the dotenv report are these output names, upper-cased with this prefix.
DOTENV_PREFIX = "RANCHER_DEPLOY_"
_WHITESPACE = re.compile(r"\s+")

# What each file may hold, in bytes, so that its CI takes it whatever the number of targets.
# GitLab refuses a dotenv report unless its stored file is smaller than the plan's dotenv_size
# limit, 5 KB by default ("Dotenv Artifact Too Big", app/services/ci/parse_dotenv_artifact_service.rb;
# the runner uploads it gzip-compressed, Ci::JobArtifact REPORT_TYPES `dotenv: :gzip`, and gzip may
# add a few dozen bytes to text it cannot shrink): 4 KiB of text is under the limit in every case.
# Its other limit, 20 variables, our 8 keys never reach.
DOTENV_LIMIT = 4096
# GitHub: step outputs up to 1 MB (docs: "Outputs are Unicode strings, and can be a maximum of 1 MB"),
# and a step summary up to 1 MiB, over which it is not shown at all (docs/ci-conventions.md section 2).
GITHUB_OUTPUT_LIMIT = 1_000_000
GITHUB_SUMMARY_LIMIT = 1_000_000


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


def outputs(document: Mapping[str, Any], listed: int | None = None) -> dict[str, str]:
    """The result as flat text values: GitHub's step outputs and, upper-cased, the dotenv report.

    With several targets, `target`, `previous-image`, `image` and `requested-image` list one value
    per target, comma separated and in the same order, so a later job can pair them up. `image` is
    what the target runs when the run ends (on a dry run, what runs now; empty when unknown),
    `requested-image` what the run asked for. `listed`: only the first that many targets are listed
    (all when None), and `targets-omitted` counts the others, so that a file stays within its CI's limit.
    """
    every, targets = _listed(document, listed)
    duration = document.get("duration_seconds")
    return {
        "result": str(document["result"]),
        "exit-code": str(document["exit_code"]),
        "target": ",".join(str(target["target"]) for target in targets),
        "previous-image": ",".join(str(target.get("previous_image") or "") for target in targets),
        "image": ",".join(str(target.get("image") or "") for target in targets),
        "requested-image": ",".join(str(target.get("requested_image") or "") for target in targets),
        "targets-omitted": str(len(every) - len(targets)),
        "duration": "" if duration is None else f"{float(duration):g}",
    }


@dataclass(frozen=True)
class Destination:
    """A file the result is handed on to: `kind` "outputs" (GITHUB_OUTPUT), "summary"
    (GITHUB_STEP_SUMMARY) or "dotenv" (the dotenv report), its `path`, and `named`, what names it the
    way a message should: the variable, or the setting as the user set it (`setting dotenv_report`)."""

    kind: str
    path: str
    named: str

    @property
    def mode(self) -> str:
        # GitHub's files collect every command of the step: append. The report is ours alone: replace it.
        return "w" if self.kind == "dotenv" else "a"


@dataclass
class Handed:
    """What handing the result on came to: each destination that could not be written, with why
    (`why_unwritable`'s words), and a note for each file that lists fewer targets than the run had."""

    failed: list[tuple[Destination, str]] = field(default_factory=list)
    shortened: list[str] = field(default_factory=list)

    def warning(self) -> str | None:
        """The one line that says what the files leave out, or None when they hold everything."""
        if not self.shortened:
            return None
        return (f"{'; '.join(self.shortened)}: this log names every target, as does the JSON result "
                "`RANCHER_OUTPUT=json` prints")


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

    def destinations(self, environ: Mapping[str, str], *, dotenv_path: str | None = None,
                     dotenv_named: str = "RANCHER_DOTENV_REPORT") -> tuple[Destination, ...]:
        """The files the result goes to: the dotenv report when asked for (GitLab's
        `artifacts:reports:dotenv`, or a file a later step of any CI can read), named by
        `dotenv_named`, plus whatever files this CI provides."""
        return (Destination("dotenv", dotenv_path, dotenv_named),) if dotenv_path else ()

    def render(self, document: Mapping[str, Any], destination: Destination) -> tuple[str, str | None]:
        """The text `destination` receives (redacted), and a note when it lists fewer targets than the
        run had, to stay within its CI's limit (None when it lists all)."""
        if destination.kind != "dotenv":
            raise ValueError(f"{self.name} writes no {destination.kind} file")
        # GitLab's parser takes KEY=value lines only: no quotes (they would be kept), no blank or
        # comment lines, no newlines or spaces in values (docs: ci/yaml/artifacts_reports#artifactsreportsdotenv).
        def lines(listed: int) -> str:
            return "".join(f"{DOTENV_PREFIX}{name.upper().replace('-', '_')}={_WHITESPACE.sub('_', self._redact(value))}\n"
                           for name, value in outputs(document, listed).items())

        total = len(document.get("targets") or [])
        text, listed = _fitted(lines, total, DOTENV_LIMIT)
        note = None if listed == total else (
            f"the dotenv report lists {listed} of {total} targets ({DOTENV_PREFIX}TARGETS_OMITTED="
            f"{total - listed}), as GitLab refuses one of 5 KB or more")
        return text, note

    def write(self, opened: Sequence[tuple[Destination, IO[str]]], document: Mapping[str, Any]) -> Handed:
        """Write `document` to each destination `open_all` opened, and close it; a failure of one
        (a full disk) is noted and the others are still written."""
        handed = Handed()
        for destination, stream in opened:
            try:
                with stream:
                    text, note = self.render(document, destination)
                    stream.write(text)
            except OSError as error:
                handed.failed.append((destination, why_unwritable(error)))
                continue
            if note is not None:
                handed.shortened.append(note)
        return handed


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

    def destinations(self, environ: Mapping[str, str], *, dotenv_path: str | None = None,
                     dotenv_named: str = "RANCHER_DOTENV_REPORT") -> tuple[Destination, ...]:
        github = tuple(Destination(kind, environ[variable], variable)
                       for kind, variable in (("outputs", "GITHUB_OUTPUT"), ("summary", "GITHUB_STEP_SUMMARY"))
                       if environ.get(variable))
        return github + super().destinations(environ, dotenv_path=dotenv_path, dotenv_named=dotenv_named)

    def render(self, document: Mapping[str, Any], destination: Destination) -> tuple[str, str | None]:
        total = len(document.get("targets") or [])
        if destination.kind == "outputs":
            def entries(listed: int) -> str:
                values = outputs(document, listed)
                values["json"] = json.dumps(_listing(document, listed), separators=(",", ":"))
                return "".join(_output_entry(name, self._redact(value)) for name, value in values.items())

            text, listed = _fitted(entries, total, GITHUB_OUTPUT_LIMIT)
            return text, None if listed == total else (
                f"the step outputs list {listed} of {total} targets (targets-omitted), as GitHub takes 1 MB of them")
        if destination.kind == "summary":
            text, listed = _fitted(lambda listed: self._redact(step_summary(document, listed)), total,
                                      GITHUB_SUMMARY_LIMIT)
            return text, None if listed == total else (
                f"the step summary shows {listed} of {total} targets, as GitHub shows none over 1 MiB")
        return super().render(document, destination)


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


def step_summary(document: Mapping[str, Any], listed: int | None = None) -> str:
    """The Markdown GitHub shows on the run page: one row per target, old -> new image, result, time;
    `listed`: rows for the first that many targets only, and a line counting the others."""
    lines = [f"### rancher-deploy {_cell(str(document['command']))}: {_cell(str(document['result']))}", ""]
    every, targets = _listed(document, listed)
    if every:
        lines += ["| target | result | image | time | message |", "| --- | --- | --- | --- | --- |"]
        for target in targets:
            lines.append(
                f"| {_cell(str(target['target']))} ({_code(str(target['id']))}) | {_cell(str(target['result']))} "
                f"| {_images(target)} | {float(target['duration_seconds']):.1f} s | {_cell(str(target['message']))} |"
            )
        lines.append("")
        if len(targets) < len(every):
            lines += [f"{len(every) - len(targets)} more targets are not shown here, to stay within GitHub's limit "
                      "for a step summary; the job's log names every one.", ""]
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


def _listing(document: Mapping[str, Any], listed: int) -> Mapping[str, Any]:
    """The result object with only its first `listed` targets, and `targets_omitted` counting the
    others when there are any: what the `json` output holds when the whole would exceed GitHub's limit."""
    every, targets = _listed(document, listed)
    if len(targets) == len(every):
        return document
    return {**document, "targets": targets, "targets_omitted": len(every) - len(targets)}


def _listed(document: Mapping[str, Any], listed: int | None) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """The result's targets, and the first `listed` of them (all when None): what a capped file shows."""
    every: list[Mapping[str, Any]] = list(document.get("targets") or [])
    return every, every if listed is None else every[:listed]


def _fitted(render: Callable[[int], str], total: int, limit: int) -> tuple[str, int]:
    """`render(n)` for the most targets n (of `total`) whose text stays within `limit` bytes of UTF-8,
    as (text, n); the text grows with n, so a binary search finds it in a few renderings.
    With not even one target fitting, the text lists none."""
    text = render(total)
    if len(text.encode()) <= limit:
        return text, total
    low, high = 0, total - 1          # render(low) is taken to fit; render(high + 1) does not
    while low < high:
        middle = (low + high + 1) // 2
        if len(render(middle).encode()) <= limit:
            low = middle
        else:
            high = middle - 1
    return render(low), low


def unwritable(destinations: Iterable[Destination]) -> list[tuple[Destination, str]]:
    """The destinations that cannot be written, with why: checked before the run changes anything,
    by opening each for appending, which changes nothing in a file that exists (one it creates is
    removed again, so that a run stopped before its end leaves no empty report)."""
    found = []
    for destination in destinations:
        existed = os.path.lexists(destination.path)
        try:
            with open(destination.path, "a", encoding="utf-8"):
                pass
        except OSError as error:
            found.append((destination, why_unwritable(error)))
            continue
        if not existed:
            try:
                os.unlink(destination.path)
            except OSError:  # pragma: no cover - it was just created; the report replaces it anyway
                pass
    return found


def open_all(destinations: Iterable[Destination]) -> tuple[list[tuple[Destination, IO[str]]],
                                                            list[tuple[Destination, str]]]:
    """Each destination opened for writing (`Destination.mode`), and those that could not be, with why.

    Opening them all before writing any lets a run that finds one it cannot write say so (its exit
    code changes) in every file it does write.
    """
    opened: list[tuple[Destination, IO[str]]] = []
    failed = []
    for destination in destinations:
        try:
            opened.append((destination, open(destination.path, destination.mode, encoding="utf-8")))
        except OSError as error:
            failed.append((destination, why_unwritable(error)))
    return opened, failed


def why_unwritable(error: OSError) -> str:
    """Why a file could not be opened or written, in words that say what to fix."""
    reasons = {errno.ENOENT: "its directory does not exist", errno.EISDIR: "it is a directory",
               errno.ENOTDIR: "a part of its path is not a directory", errno.EACCES: "permission denied",
               errno.EPERM: "permission denied", errno.EROFS: "the file system is read-only"}
    return reasons.get(error.errno or 0) or error.strerror or str(error)
