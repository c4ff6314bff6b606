"""One run the server starts: the server's settings as a fleet upgrade of the pushed image, run the way
the CLI runs one (`runner.run`), reported in the log, in /status and to the notification channels.

A run is an ordinary upgrade run, so its result object, its exit code and its per-target results are
the CLI's (`report.result_object`, `events.exit_code`); the server adds which run and which trigger.
"""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from typing import Any, TextIO

from rancher_deploy import notify, runner
from rancher_deploy.inputs import Inputs
from rancher_deploy.redact import Redactor
from rancher_deploy.report import HumanLog, Pipe, write_json
from rancher_deploy.runner import Ran
from rancher_deploy.serve.payloads import Trigger
from rancher_deploy.serve.scheduler import Controls, Job, Runner
from rancher_deploy.settings import PAYLOAD_CONFIRM, Output, Settings
from rancher_deploy.target_locks import TargetLocks


class Lines(io.TextIOBase):
    """A stream several threads write whole lines to, each line starting with `prefix`; one lock per
    underlying stream keeps lines of concurrent runs from mixing."""

    def __init__(self, stream: Pipe, lock: threading.Lock, prefix: str = "") -> None:
        self._stream = stream
        self._lock = lock
        self._prefix = prefix

    def write(self, text: str) -> int:
        lines = text.splitlines(keepends=True)
        with self._lock:
            self._stream.write("".join(self._prefix + line for line in lines))
        return len(text)

    def flush(self) -> None:
        """Each write reaches the stream whole (Pipe flushes it)."""

    def prefixed(self, prefix: str) -> Lines:
        """The same stream and lock, with another prefix."""
        return Lines(self._stream, self._lock, prefix)


def settings_for(base: Settings, trigger: Trigger) -> Settings:
    """The settings of the run `trigger` starts: the server's, as a fleet upgrade of the pushed image
    (`Settings.selecting`: every opted-in target running its repository, each on its own), with the
    seed payload's `confirm`, `start_first` and `timeout` where it gave them."""
    changes: dict[str, Any] = {name: value for name, value in (
        ("finish", trigger.finish), ("start_first", trigger.start_first), ("timeout_seconds", trigger.timeout_seconds))
        if value is not None}
    if trigger.finish is False:   # its messages name the payload's field, not --no-finish
        changes["sources"] = {**base.sources, "finish": PAYLOAD_CONFIRM}
    return base.selecting(trigger.image, poll=trigger.poll, **changes)


def effective(base: Settings, trigger: Trigger) -> tuple[object, ...]:
    """The `finish`, `start_first` and `timeout_seconds` the run of `trigger` is given (settings_for):
    what the scheduler compares a resent trigger by (scheduler.Effective)."""
    given = settings_for(base, trigger)
    return given.finish, given.start_first, given.timeout_seconds


def notify_run(ran: Ran, settings: Settings, log: HumanLog, redactor: Redactor) -> Ran:
    """The one place a server's run is announced: Slack/Mattermost and the JSON webhook, as a CLI run
    is (`notify.send`: only a run that changed something or did not end 0; a failure only warns).
    Returns `ran` with a notification that was not delivered among its warnings, so /status and the
    JSON line say so too, not only the log."""
    undelivered = notify.send(ran.outcome, settings, log, error=ran.error, code=ran.exit_code, redactor=redactor,
                              api_calls=ran.api_calls, warnings=ran.warnings)
    return replace(ran, warnings=ran.warnings + undelivered)


def make_runner(base: Settings, inputs: Inputs, redactor: Redactor, *, log: Lines, out: TextIO | Pipe) -> Runner:
    """The server's Runner: each run logs through `log` with its own `[run N]` prefix, and with
    RANCHER_OUTPUT=json also writes its result object, with the run's number, as one line to `out`.
    The runs share one TargetLocks: two runs that picked one target (a service whose sidekick runs
    another repository) upgrade it one after the other, the second planning from what the first left."""
    locks = TargetLocks()

    def run(job: Job, controls: Controls) -> dict[str, Any]:
        settings = settings_for(base, job.trigger)
        human = HumanLog(Pipe(log.prefixed(f"[run {job.id}] ")), redactor, verbose=settings.verbose)
        trigger = job.trigger
        human.line(f"{trigger.source}: the tags of {trigger.image} in its registry" if trigger.poll else
                   f"{trigger.source}: {trigger.image} was published")
        ran = runner.run(settings, human, redactor=redactor, control=controls, inputs=inputs, locks=locks)
        if ran.error is not None:
            human.error(ran.error, ran.exit_code)
        else:
            assert ran.outcome is not None
            human.verdict(ran.outcome, ran.exit_code)
        document = notify_run(ran, settings, human, redactor).document()
        if settings.output is Output.JSON:
            write_json(out, {"run": job.id, "source": trigger.source, **document}, redactor)
        return document

    return run
