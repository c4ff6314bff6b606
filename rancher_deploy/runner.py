"""One run from a Settings: connect, run the pipeline, and say how it ended, as a value.

The CLI calls it for every command (`cli` reads the settings, installs the signal handlers and
renders the `Ran`); fleet mode's other callers (the `serve` server, registry polling) call it with
Settings they built, e.g. `settings.selecting(image, timeout_seconds=30.0)` (a fleet upgrade of that
image), so that every run, whoever starts it, keeps the same exit-code and result contracts
(`Ran.exit_code`, `Ran.document`). It never raises for a run that went wrong: a DeployError, or a
bug (reported as NeedsAttention, exit 4: `internal_error`), is the `Ran`'s `error`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable, Protocol

from rancher_deploy import __version__
from rancher_deploy.errors import DeployError, ExitCode, Interrupted, NeedsAttention, signal_name
from rancher_deploy.events import Emit, Event, Level, Outcome, Selection, Step, exit_code
from rancher_deploy.redact import Redactor
from rancher_deploy.report import result_object
from rancher_deploy.settings import OPTIONS_BY_NAME, Inputs, Option, Settings

if TYPE_CHECKING:  # imported when a run starts: `--help` and `--version` need no HTTP stack
    from rancher_deploy.http import RancherSession
    from rancher_deploy.fleet import Pick
    from rancher_deploy.images import ImageRef
    from rancher_deploy.target_locks import TargetLocks


class Control(Protocol):
    """How the caller stops a run and how the run waits: the CLI's signal handlers (`cli._Signals`),
    the server's graceful shutdown. A run reads `interrupted` before it connects, at every wait and
    just before each change it would send; once it answers a signal number the run sends no new
    change, and restores (or reports, RANCHER_ON_INTERRUPT) what it changed, waiting for a restore
    only within a short grace (`timing.GRACE_SECONDS`)."""

    def interrupted(self) -> int | None:
        """The signal number (SIGTERM 15, SIGINT 2) that asked the run to stop, or None."""
        ...

    def urgent(self) -> int | None:
        """A second signal: the rollback the first one started is not waited for any longer."""
        ...

    def arrived(self) -> float | None:
        """When the first signal came, on the run's clock; None before one (or where unknown: the run
        then counts the grace from when it first noticed it). A request in flight can hold the run
        for seconds before it looks, and the CI's kill counts from the signal, not from the look."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds`, cut short when the run is asked to stop."""
        ...


class Calm:
    """A Control that never stops a run, sleeping with `time.sleep`: for callers without signals."""

    def interrupted(self) -> int | None:
        return None

    def urgent(self) -> int | None:
        return None

    def arrived(self) -> float | None:
        return None

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class Ran:
    """How one run ended: the Outcome (each target's result; None when an error came before the
    pipeline knew any target), the error that ended it (None when it ran to its end), the requests
    it sent, and the signal that cut it short (None when none came)."""

    command: str
    outcome: Outcome | None
    error: DeployError | None
    api_calls: int = 0
    signal: int | None = None
    warnings: tuple[str, ...] = ()   # the run's own warning lines, not a target's (`collect_warnings`)

    @property
    def exit_code(self) -> ExitCode:
        """The run's exit code, by the one mapping (`events.exit_code`, the README's table)."""
        return exit_code(self.outcome, self.error, signal_number=self.signal)

    def document(self) -> dict[str, Any]:
        """The `--output json` result object (`report.result_object`): what a CI step, `serve`'s
        `/status` and a notification show of the run."""
        return result_object(self.outcome, self.error, exit_code=self.exit_code, command=self.command,
                             api_calls=self.api_calls, warnings=self.warnings)


def collect_warnings(emit: Emit) -> tuple[Emit, list[str]]:
    """`emit`, noting the text of each run-level warning line (a Step at WARNING that names no target:
    a target's warnings are its outcome's) in the returned list, in order: the JSON result, /status
    and the webhook carry them, not only the log."""
    seen: list[str] = []

    def noting(event: Event) -> None:
        if isinstance(event, Step) and event.level is Level.WARNING and event.target is None:
            seen.append(event.message)
        emit(event)

    return noting, seen


def internal_error(unexpected: BaseException, *, sent: bool = True) -> NeedsAttention:
    """A bug turned into the error the contract has for it: an uncaught exception would exit 1, which
    reads as "rolled back". Exit 4, needs attention (README, exit codes: no code is for a bug, and 2 or 3
    would tell the user to fix a setting or to retry). `sent`: a request had gone to Rancher, so the targets'
    state is unknown; before any, the line says that nothing was changed instead."""
    state = ("the target's state is unknown, check it with `rancher-deploy status`" if sent else
             "no request was sent to Rancher, so nothing was changed")
    error = NeedsAttention(
        f"internal error {type(unexpected).__name__}: {unexpected}; {state} "
        "(please report this, with `RANCHER_VERBOSE=true` output)")
    if sent:
        error.next_step = "check it with `rancher-deploy status`"   # what the last line repeats
    return error


def run(settings: Settings, emit: Emit, *, redactor: Redactor | None = None, control: Control | None = None,
        clock: Callable[[], float] = time.monotonic, inputs: Inputs | None = None,
        locks: TargetLocks | None = None) -> Ran:
    """Connect to Rancher as `settings` say and run their command over their targets; never raises
    for the run itself (see the module's docstring).

    `emit` receives every progress event (`report.HumanLog` is one); `redactor` hides the settings'
    secrets in anything the session logs (one is made from `settings.secrets` when not given);
    `control` stops the run and does its sleeps (`Calm` when not given); `clock` reads seconds for
    every deadline; `inputs`, when the settings came from them, names settings in messages the way
    the user set them (`--token`, `INPUT_TOKEN`), else by their first environment variable;
    `locks`, shared by the runs of one process (`serve`), keeps two of them off one target at once.
    Signal handlers are the caller's: a run started off the main thread must not install any.
    """
    control = control or Calm()
    if redactor is None:
        redactor = Redactor(*settings.secrets)
    emit, warnings = collect_warnings(emit)
    name: Callable[[Option], str] = inputs.name if inputs is not None else (lambda option: option.setting)
    session: RancherSession | None = None
    outcome: Outcome | None = None
    error: DeployError | None = None
    try:
        _header(settings, emit)
        _not_interrupted(control)
        session = _session(settings, emit, redactor, control, clock, name)
        outcome = _pipeline(settings, session, emit, control, clock, name, locks)
    except _Stopped as stopped:
        outcome, error = stopped.outcome, stopped.error
    except DeployError as caught:
        error = caught
    except Exception as unexpected:  # noqa: BLE001 - a bug must end as exit 4, not take the caller down
        import traceback  # only for a bug: linecache and tokenize are no part of a run that works

        emit(Step("".join(traceback.format_exception(unexpected)), Level.DEBUG))
        error = internal_error(unexpected, sent=session is not None and session.calls > 0)
    finally:
        if session is not None:
            session.close()
    return Ran(settings.command.value, outcome, error, session.calls if session is not None else 0,
               control.interrupted(), tuple(warnings))


def _not_interrupted(control: Control) -> None:
    """Raise Interrupted (143/130, nothing changed) when a signal came before the run connected: during
    start-up, which the program's entry notes (`cli.main`'s `noted`), or while the settings were read.
    Every change is checked again just before it is sent (`actions.Actions.check`)."""
    number = control.interrupted()
    if number is not None:
        raise Interrupted(f"{signal_name(number)} arrived before the run connected to Rancher; nothing was changed",
                          number)


class _Stopped(Exception):
    """A DeployError that ended the pipeline, with what the pipeline knew of each target then."""

    def __init__(self, error: DeployError, outcome: Outcome) -> None:
        super().__init__(str(error))
        self.error = error
        self.outcome = outcome


def opted_in_repositories(settings: Settings, emit: Emit, *, redactor: Redactor | None = None,
                          control: Control | None = None) -> tuple[ImageRef, ...]:
    """The repositories the opted-in targets run (`fleet.repositories`): one fleet listing
    (`Backend.survey`: RANCHER_ENVIRONMENTS or RANCHER_NAMESPACES, the opt-in labels), nothing changed.
    What `serve` polls each round when RANCHER_SERVE_POLL_IMAGES is not given. Raises the `errors`
    family as a run's listing would (Rancher unreachable: 3; refused credentials: 2)."""
    from rancher_deploy import discovery, fleet

    control = control or Calm()
    session = _session(settings, emit, redactor or Redactor(*settings.secrets), control, time.monotonic,
                       lambda option: option.setting)
    try:
        backend = discovery.connect(session, settings, lambda text: emit(Step(text, Level.WARNING)))
        return fleet.repositories(backend.survey(settings), settings.select_labels)
    finally:
        session.close()


def _header(settings: Settings, emit: Emit) -> None:
    """The first lines of a run's log: the tool, the command, its targets and Rancher."""
    targets = (f"every target running {settings.image.name if settings.image else '?'} that opted in"
               if settings.select_image else ", ".join(str(target) for target in settings.targets))
    emit(Step(f"rancher-deploy {__version__}: {settings.command} {targets} at {settings.url}"))
    for warning in settings.warnings:
        emit(Step(warning, Level.WARNING))
    if settings.verbose:
        for option, source in sorted(settings.sources.items()):
            emit(Step(f"{option} set from {source}", Level.DEBUG))
        if settings.unread:
            # Only with --verbose: a pipeline-wide variable (RANCHER_IMAGE in a rollback job) is normal.
            emit(Step(f"not read by {settings.command}, so neither checked nor used: {', '.join(settings.unread)}",
                      Level.DEBUG))


def _session(settings: Settings, emit: Emit, redactor: Redactor, control: Control, clock: Callable[[], float],
             name: Callable[[Option], str]) -> RancherSession:
    """The RancherSession a run speaks through."""
    from rancher_deploy.http import Credentials, RancherSession

    if settings.insecure:
        emit(Step("TLS verification is off (RANCHER_INSECURE); prefer RANCHER_CA_BUNDLE", Level.WARNING))
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def debug(text: str) -> None:
        emit(Step(text, Level.DEBUG))

    def warn(text: str) -> None:
        emit(Step(text, Level.WARNING))

    return RancherSession(
        Credentials(settings.access_key, settings.secret_key, settings.token),
        verify=settings.verify,
        ca_given=settings.ca_bundle is not None,
        request_timeout=settings.request_timeout_seconds,
        redactor=redactor,
        debug=debug if settings.verbose else None,
        sleep=control.sleep,
        clock=clock,
        wait_budget=settings.timeout_seconds,
        read_attempts=settings.retries + 1,
        credential_names=(name(OPTIONS_BY_NAME["token"]) if settings.token else
                          f"{name(OPTIONS_BY_NAME['access_key'])} and {name(OPTIONS_BY_NAME['secret_key'])}"),
        home=settings.url,
        warn=warn,
    )


def _pipeline(settings: Settings, session: RancherSession, emit: Emit, control: Control, clock: Callable[[], float],
              name: Callable[[Option], str], locks: TargetLocks | None) -> Outcome:
    """Connect the backend and run the pipeline (for a fleet run, over the targets `fleet.select`
    picks; with RANCHER_POLL, each target's tag chosen from the registry by `poll.TagChooser`);
    raises `_Stopped` when a DeployError ends it."""
    from rancher_deploy import discovery
    from rancher_deploy.deploy import Choose, Pipeline

    started = clock()
    backend = discovery.connect(session, settings, lambda text: emit(Step(text, Level.WARNING)))
    emit(Step(f"Connected: {backend.where}"))
    choose: Choose | None = None
    if settings.poll:
        from rancher_deploy.poll import TagChooser, access_for

        choose = TagChooser(settings, access_for(settings, name), emit)
    pipeline = Pipeline(settings, backend, emit, clock=clock, sleep=control.sleep,
                        interrupted=control.interrupted, urgent=control.urgent, arrived=control.arrived,
                        choose=choose, locks=locks)
    selection: Selection | None = None
    picks: tuple[Pick, ...] = ()
    if settings.select_image:
        from rancher_deploy import fleet   # fleet mode's alone: a run naming its targets never loads it

        assert settings.image is not None  # the settings refuse --select-image without an image
        before = session.calls
        survey = backend.survey(settings)
        choice = fleet.select(survey, settings.image, settings.select_labels, requests=session.calls - before)
        selection, picks = choice.report, choice.picks
        for line in fleet.describe(selection, survey.setting):
            emit(Step(line))
        option = "environments" if survey.place == "environment" else "namespaces"
        patterns = settings.environments if option == "environments" else settings.namespaces
        warning = fleet.unmatched(survey, patterns, name(OPTIONS_BY_NAME[option]))
        if warning is not None:
            emit(Step(warning, Level.WARNING))
        for passed in choice.others:
            emit(Step(f"Skipped {passed.target} ({passed.target_id}): {passed.reason}", Level.DEBUG))
        if not picks:  # nothing matched: nothing to do, and the lines above say what was searched
            return Outcome(settings.command.value, duration_seconds=clock() - started, flavour=backend.flavour,
                           selection=selection)
    try:
        return replace(pipeline.run(picks) if picks else pipeline.run(), selection=selection)
    except DeployError as error:
        raise _Stopped(error, replace(pipeline.stopped(error), selection=selection)) from error
