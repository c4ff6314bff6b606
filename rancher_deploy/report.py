"""Rendering a run: the human log on stderr, and the `--output json` result object on stdout.

Both sinks take events and the Outcome only, and every line passes through the Redactor, so a
secret that reached a message by accident (an echoed URL, a library error) still never leaves.
Both write through a `Pipe`, so a reader that went away (`rancher-deploy 2>&1 | head -8`) ends
the output, never the deploy: the run still finishes or rolls back and exits with its own code.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any, Sequence, TextIO

from rancher_deploy.ci import Dialect
from rancher_deploy.errors import DeployError, ExitCode
from rancher_deploy.events import (
    Event,
    GroupEnd,
    GroupStart,
    Level,
    Outcome,
    Progress,
    Result,
    Selection,
    Step,
    TargetOutcome,
    mixed,
)
from rancher_deploy.redact import Redactor

# The verdict's headline per result: the word a person scans the end of a CI log for.
_HEADLINES: dict[Result, str] = {
    Result.UPGRADED: "upgraded",
    Result.UPGRADED_UNFINISHED: "upgraded (not finished)",
    Result.CREATED: "created",
    Result.UNCHANGED: "unchanged",
    Result.SKIPPED: "skipped",
    Result.PLANNED: "planned (dry run)",
    Result.FINISHED: "finished",
    Result.REVERTED: "rolled back",
    Result.ROLLED_BACK: "FAILED, rolled back",
    Result.NOT_UPGRADED: "FAILED, not upgraded",
    Result.FAILED: "FAILED, NEEDS ATTENTION",
    Result.INTERRUPTED: "INTERRUPTED, its state reported",
    Result.STATUS: "status",
}


# The results the verdict reports as the run's failure (their headlines start with FAILED).
_FAILURES = frozenset({Result.FAILED, Result.ROLLED_BACK, Result.NOT_UPGRADED})


class Pipe:
    """A text stream whose write failures (a closed pipe, a full disk) are the output's end, not the run's.

    After the first failure nothing more is written, and the stream's file descriptor is pointed at
    /dev/null so that the interpreter's own flush at exit cannot fail either (Python's "Note on
    SIGPIPE", https://docs.python.org/3/library/signal.html#note-on-sigpipe). `failure` says why
    text was lost (None while none was, and when the reader went away: `| head` wants no more).
    """

    def __init__(self, stream: TextIO | io.TextIOBase | None) -> None:
        """`stream` None: the descriptor was closed before the program started (`>&-`), which leaves
        Python's `sys.stdout` (or `sys.stderr`) None."""
        self._stream = stream
        self.lost = False
        self.failure: str | None = None

    def write(self, text: str) -> None:
        """Write and flush `text`; never raises."""
        if self.lost:
            return
        if self._stream is None:
            self.lost, self.failure = True, "it is closed"
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError) as error:  # EPIPE, ENOSPC, EIO; ValueError: the stream was closed
            self.lost = True
            if not isinstance(error, BrokenPipeError):
                self.failure = (error.strerror if isinstance(error, OSError) else None) or str(error)
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._stream.fileno())
                os.close(devnull)
            except (OSError, ValueError):  # no file descriptor (a StringIO): nothing will flush it
                pass


class HumanLog:
    """One line per step, progress while waiting, a final verdict; plain text, no colour."""

    def __init__(self, stream: TextIO | Pipe, redactor: Redactor, *, verbose: bool = False,
                 dialect: Dialect | None = None) -> None:
        self._stream = stream if isinstance(stream, Pipe) else Pipe(stream)
        self._redact = redactor
        self._verbose = verbose
        self._dialect = dialect or Dialect(redactor)
        self._failing = False     # an error step was logged: the run's failure is under way
        self._section: str | None = None   # the title of the open section (`== upgrade shop/web`)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Step):
            if event.level is Level.DEBUG and not self._verbose:
                return
            prefix = {Level.WARNING: "warning: ", Level.ERROR: "error: ", Level.DEBUG: "debug: "}.get(event.level, "")
            # One failure, one annotation: the verdict or the error line at the end carries it, since
            # only then is the run's outcome known. On the way, an error step is a plain line, and so
            # is every warning after it (rolling back, ...): they tell the same failure's story.
            annotation = None
            message = step_text(event, self._section)
            if event.level is Level.ERROR:
                self._failing = True
            elif not self._failing:
                annotation = self._dialect.annotate(event.level, message)
            self._line_or(annotation, prefix + message)
        elif isinstance(event, Progress):
            self.line("  " + progress_text(event))
        elif isinstance(event, GroupStart):
            self._section = event.title
            self._line_or(self._dialect.group_start(event.title), f"== {event.title}")
        elif isinstance(event, GroupEnd):
            self._section = None
            end = self._dialect.group_end()
            if end is not None:
                self.line(end)

    def verdict(self, outcome: Outcome, code: ExitCode) -> None:
        """One line per target, then the exit code the run ends with (from `events.exit_code`).

        The failed targets' lines are the run's one error annotation (several, one annotation of
        several lines, written where the first of them stands).
        """
        lines = [(f"{_HEADLINES[target.result]}: {target.target} ({target.target_id}) in "
                  f"{target.duration_seconds:.1f}s: {target.message}",
                  target.result in _FAILURES) for target in outcome.targets]
        failures = [index for index, (_, failed) in enumerate(lines) if failed]
        annotation = (self._dialect.annotate(Level.ERROR, "\n".join(lines[index][0] for index in failures))
                      if failures else None)
        for index, (text, failed) in enumerate(lines):
            if failed and annotation is not None:
                if index == failures[0]:
                    self.line(annotation)
                continue
            self.line(text)
        if not outcome.targets:
            self.line("nothing to do: no target matches the selection" if outcome.selection else "nothing was done")
        self.line(f"rancher-deploy: exit {int(code)} ({last_words(outcome, None, code)})")

    def error(self, error: DeployError, code: ExitCode) -> None:
        """The error as one line, then the exit code the run ends with (from `events.exit_code`)."""
        self.failure(str(error))
        self.line(f"rancher-deploy: exit {int(code)} ({last_words(None, error, code)})")

    def failure(self, text: str) -> None:
        """The run's failure as one error line (annotated in CI), before its last line."""
        self._failing = True
        self._line_or(self._dialect.annotate(Level.ERROR, text), f"rancher-deploy: error: {text}")

    def _line_or(self, special: str | None, plain: str) -> None:
        """Write the dialect's rendering when it has one (a fold, an annotation), else the plain line."""
        self.line(plain if special is None else special)

    def line(self, text: str) -> None:
        self._stream.write(self._redact(text) + "\n")


# The last line of a run that exits 0 says what was done, in the words of its command: after
# `status` or a dry run nothing was "upgraded and finished".
_DONE: dict[str, str] = {
    # As asked: by --no-finish, or a `serve` request's `confirm: false` (each target's message says which).
    Result.UPGRADED_UNFINISHED.value: "done: upgraded and healthy, left unfinished as asked",
    Result.CREATED.value: "done: created and healthy",
    Result.UNCHANGED.value: "done: nothing to do; nothing was changed",
    Result.SKIPPED.value: "done: skipped by the version policy; nothing was changed",
    Result.PLANNED.value: "dry run: nothing was changed",
    Result.FINISHED.value: "done: the pending upgrade was finished",
    Result.REVERTED.value: "done: rolled back to the previous configuration",
    Result.STATUS.value: "status reported; nothing was changed",
}


def last_words(outcome: Outcome | None, error: DeployError | None, code: ExitCode) -> str:
    """What the run's end means: the code's meaning, fitted to the run; the one wording of it.

    The last line says it in brackets after the exit code, and the JSON result's `meaning` (hence the
    GitHub step summary) says the same. A run that ended with an error says the code's meaning; exit 4
    names each target's result and state, so the line a person reads last says where to look; exit 0
    says what the command did (after `status` or a dry run nothing was "upgraded and finished").
    """
    if error is not None or outcome is None:
        if error is not None and code is ExitCode.NEEDS_ATTENTION and error.next_step:
            return f"{code.meaning} (next: {error.next_step})"
        return code.meaning
    if code is ExitCode.NEEDS_ATTENTION and outcome.targets:
        # Each target's next step too, where it has one: the line read last says what to run.
        return "needs attention: " + "; ".join(f"{target.target} {target.result.value}, state {target.state}"
                                               + (f" (next: {target.next_step})" if target.next_step else "")
                                               for target in outcome.targets)
    if code is ExitCode.OK:
        return _DONE.get(_overall(outcome.targets, None), code.meaning)
    return code.meaning


def step_text(step: Step, section: str | None = None) -> str:
    """A step's words, naming the target it is about, so that every line of a run with several
    targets at once says which one it is about: prefixed `target: ` unless the line begins with
    the target's name as a word (`shop/web is ...`), its emitter says it names it (`Step.named`),
    or it stands in a section whose title names the target (`section`: `upgrade shop/web`, the
    section a target gets when targets go one at a time), where the prefix would only repeat it.

    The rule is where the name stands or what the emitter says, never whether it occurs somewhere:
    an image (`registry/shop/web:2.0`) or an error's text may contain it, and the same plan line
    must print the same way whatever the image is called."""
    name = step.target
    if name is None or step.named or (section is not None and section.endswith(f" {name}")):
        return step.message
    rest = step.message[len(name):] if step.message.startswith(name) else None
    if rest is not None and (rest[:1] in ("", " ", ",", ";") or rest[:2] in (":", ": ")):   # not `shop/web:2.0`
        return step.message
    return f"{name}: {step.message}"


def progress_text(event: Progress) -> str:
    """`shop/web: upgrading (In Progress), 1/2 new containers healthy [12s]`"""
    text = f"{event.target}: {event.state}"
    if event.message:
        text += f" ({event.message})"
    if event.healthy is not None and event.total is not None:
        text += f", {event.healthy}/{event.total} {event.counted}"
    return text + f" [{event.elapsed_seconds:.0f}s]"


def result_object(outcome: Outcome | None, error: DeployError | None, *, exit_code: ExitCode, command: str,
                  api_calls: int, warnings: Sequence[str] = ()) -> dict[str, Any]:
    """The `--output json` document; the same fields feed the CI outputs and summaries. `warnings`: the
    run's own warning lines (`runner.Ran.warnings`: patterns matching nothing, TLS verification off),
    beside each target's `warnings`, so a reader of the result alone learns them too."""
    targets = outcome.targets if outcome else ()
    return {
        "command": command,
        "result": _overall(targets, error),
        "exit_code": int(exit_code),
        "meaning": last_words(outcome, error, exit_code),
        "flavour": outcome.flavour if outcome else None,
        "targets": [_target_object(target) for target in targets],
        "error": str(error) if error else None,
        "warnings": list(warnings),
        "api_calls": api_calls,
        "duration_seconds": round(outcome.duration_seconds, 3) if outcome else None,
        "interrupted_by_signal": outcome.interrupted_by if outcome else None,
        "selection": _selection_object(outcome.selection) if outcome and outcome.selection else None,
    }


def _selection_object(selection: Selection) -> dict[str, Any]:
    """What a fleet run (`--select-image`) searched, picked (`candidates`) and skipped, with the reason
    for each skip; `others` counts the skipped candidates not listed (neither opted in nor running the
    repository), `unlisted` says what the server filtered out of the lists, if anything."""
    return {
        "place": selection.place,
        "repository": selection.repository,
        "labels": list(selection.labels),
        "searched": list(selection.searched),
        "not_searched": selection.not_searched,
        "listed": selection.listed,
        "requests": selection.requests,
        "candidates": [{"target": chosen.target, "id": chosen.target_id, "place": chosen.place,
                        "containers": [{"name": change.container, "previous_image": change.previous_image,
                                        "requested_image": change.new_image} for change in chosen.changes]}
                       for chosen in selection.chosen],
        "skipped": [{"target": passed.target, "id": passed.target_id, "place": passed.place, "reason": passed.reason}
                    for passed in selection.skipped],
        "others": selection.others,
        "unlisted": selection.unlisted,
    }


def write_json(stream: TextIO | Pipe, document: dict[str, Any], redactor: Redactor) -> None:
    (stream if isinstance(stream, Pipe) else Pipe(stream)).write(redactor(json.dumps(document, sort_keys=False)) + "\n")


def _overall(targets: tuple[TargetOutcome, ...], error: DeployError | None) -> str:
    # An error means "nothing was changed", unless it is one that cannot say so (exit 4): then the
    # targets it names decide (a FAILED one: `failed`).
    if error is not None and (error.exit_code is not ExitCode.NEEDS_ATTENTION or not targets):
        return "error"
    if mixed(targets):
        return "mixed"
    order = [Result.FAILED, Result.INTERRUPTED, Result.ROLLED_BACK, Result.NOT_UPGRADED, Result.UPGRADED_UNFINISHED,
             Result.UPGRADED, Result.CREATED, Result.FINISHED, Result.REVERTED, Result.PLANNED, Result.STATUS,
             Result.SKIPPED, Result.UNCHANGED]
    results = {target.result for target in targets}
    for result in order:
        if result in results:
            return result.value
    return Result.UNCHANGED.value  # no target at all (a fleet run nothing matched): nothing to do


# Which results leave the target on the requested image (for `rollback`: the configuration it
# restored), and which on the one it ran before the command (on a dry run: what runs now).
_RUNS_NEW = frozenset({Result.UPGRADED, Result.UPGRADED_UNFINISHED, Result.CREATED, Result.FINISHED,
                       Result.REVERTED})
_RUNS_PREVIOUS = frozenset({Result.ROLLED_BACK, Result.NOT_UPGRADED, Result.UNCHANGED, Result.SKIPPED, Result.PLANNED,
                            Result.STATUS})


def _running(result: Result, previous: str, requested: str) -> str | None:
    """The image the target runs when the run ends, as far as it knows: None when unknown (exit 4)."""
    if result in _RUNS_NEW:
        return requested
    if result in _RUNS_PREVIOUS:
        return previous
    return None


def _target_object(target: TargetOutcome) -> dict[str, Any]:
    # A target the run created (or would) ran nothing before: its previous image is None, not "".
    # What runs is what Rancher showed last, where the run read it at the end; else the result tells.
    read = dict(target.running or ())
    containers = [
        {"name": change.container, "previous_image": change.previous_image or None,
         "image": read.get(change.container) or _running(target.result, change.previous_image, change.new_image)
         or None,
         "requested_image": change.new_image}
        for change in target.changes
    ]
    first = containers[0] if containers else None
    return {
        "target": target.target,
        "id": target.target_id or None,  # None: a target a dry run would create has no id yet
        "result": target.result.value,
        "state": target.state,
        "previous_image": first["previous_image"] if first else None,
        "image": first["image"] if first else None,
        "requested_image": first["requested_image"] if first else None,
        "containers": containers,
        "message": target.message,
        "duration_seconds": round(target.duration_seconds, 3),
        "ui_url": target.ui_url or None,
        "warnings": list(target.warnings),
    }
