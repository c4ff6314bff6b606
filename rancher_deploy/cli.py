"""The command line: subcommands, flags from the settings table, signals, and the one error handler.

Every DeployError is caught here, once, and becomes one line on stderr plus its documented exit
code; nothing else prints a traceback for a condition we can name. A command line argparse cannot
read is one of them (UsageError), so it too ends with the CI's outputs rather than a usage dump. SIGTERM and SIGINT do not kill
the run: they are noted, the wait loop notices, and the pipeline rolls back or reports before
exiting 143 or 130 (CI systems send SIGTERM on cancel and wait a grace period before SIGKILL).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any, Callable, Mapping, NoReturn, Sequence, TextIO

from rancher_deploy import __version__, ci
from rancher_deploy.errors import ConfigError, DeployError, ExitCode, UsageError
from rancher_deploy.events import Event, Level, Outcome, Step, exit_code, unreported
from rancher_deploy.options import show_default
from rancher_deploy.redact import Redactor
from rancher_deploy.report import HumanLog, Pipe, result_object, write_json
from rancher_deploy.settings import (COMMANDS, OPTIONS_BY_NAME, SETTINGS, Command, Inputs, Kind, Option, Output,
                                     Settings, secrets_in)

if TYPE_CHECKING:  # argparse (with the shutil and gettext it loads) only for a command line to read
    import argparse

# The program's commands, for --help.
_COMMAND_HELP = {
    "upgrade": "move the service(s) to a new image, wait, finish; roll back on failure (the default)",
    "rollback": "roll back a pending 1.x upgrade (upgrading or upgraded), or a 2.x workload to its previous "
                "revision, and wait until restored",
    "finish": "Rancher 1.x: finish an upgrade left `upgraded` (for example by --no-finish) and wait until active "
              "(a 2.x rollout needs no finish)",
    "status": "print the state, health and images of the service(s)",
    "demo": "run a real upgrade against the bundled Rancher simulator (no Rancher needed)",
    "simulate": "serve the Rancher API simulator until interrupted (docs/simulator.md in the source tree: "
                "https://github.com/rancher-deploy/rancher-deploy/blob/main/docs/simulator.md)",
    "serve": "the webhook server of fleet mode: told an image was published, upgrade what runs it; until stopped "
             "(docs/fleet.md in the source tree: https://github.com/rancher-deploy/rancher-deploy/blob/main/docs/fleet.md)",
}
# The commands this module runs; `rancher_deploy.__main__` starts demo, simulate and serve.
_COMMANDS = {command.value: command for command in Command if command.value in COMMANDS}


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, *,
         dotenv_path: str | None = ".env", stdout: TextIO | None = None, stderr: TextIO | None = None,
         loaded: Callable[[], None] = lambda: None, noted: Sequence[int] = ()) -> int:
    """Run one deploy command (upgrade, rollback, finish, status) and return its exit code.

    `demo`, `simulate` and `serve` are started by `rancher_deploy.__main__`, which calls this for the rest.
    This is the one handler: however the run ends (an Outcome, a DeployError, a bug, a command line
    it cannot read), it is reported once, in one way, with the exit code `events.exit_code` derives,
    and in CI with the outputs, summary and annotation of that CI. Only `--help` and `--version`
    end without a report. `loaded` is called once the modules a run needs are imported, before it
    connects: the program's start-up is over (`rancher_deploy.__main__`, which turned the collector off
    for it). `noted` holds the signals received before this installs its handlers (the program's
    entry notes them from its first line, `rancher_deploy.__main__._note_signals`): the run honours
    them at its first check, before it connects, and ends 143/130 with nothing changed.
    """
    raw = list(sys.argv[1:] if argv is None else argv)
    arguments = raw
    # Output that cannot be written (a closed pipe) must not stop the deploy (report.Pipe).
    out = Pipe(stdout if stdout is not None else sys.stdout)
    err = Pipe(stderr if stderr is not None else sys.stderr)
    if arguments and arguments[0] in ("-V", "--version"):
        out.write(f"rancher-deploy {__version__}\n")
        return 0

    # The one read of the environment: everything below, CI outputs included, uses this snapshot.
    env = dict(os.environ if environ is None else environ)
    redactor = Redactor()
    dialect = ci.detect(env, redactor)
    inputs = Inputs.snapshot({}, env, ci=dialect.name)
    log = HumanLog(err, redactor, dialect=dialect)
    # Before any other line: GitHub masks only what it was told about earlier. The mask lines name
    # the secrets, so they bypass the redactor (GitHub does not echo them).
    def unredacted(line: str) -> None:
        err.write(line + "\n")

    dialect.prelude(secrets_in(env), unredacted)
    run = _Run()
    outcome: Outcome | None = None
    error: DeployError | None = None
    asked = Command.UPGRADE.value     # the command as the report names it, also one that is unknown
    try:
        inputs = inputs.with_dotenv(dotenv_path)
        word, arguments = _first_word(arguments)
        asked = word or inputs.text(COMMAND) or asked
        command = _command(word, inputs)
        asked = command.value
        try:
            # No arguments (how CI runs it: every setting from the environment) means no flags, which
            # is all the parser would answer; building it from the settings table costs more than
            # the rest of reading the settings (docs/performance.md).
            flags = vars(build_parser(command, explicit=word is not None).parse_args(arguments)) if arguments else {}
        except SystemExit as exit_request:   # --help or --version, printed; usage errors raise UsageError
            return int(exit_request.code or 0)
        inputs = inputs.with_flags(flags)
        redactor.spell_with(inputs.speller(SETTINGS, COMMANDS))
        run.settings = Settings.from_inputs(command, inputs)
        dialect.prelude(run.settings.secrets, unredacted)
        log = HumanLog(err, redactor, verbose=run.settings.verbose, dialect=dialect)
        _check_destinations(run, dialect.destinations(env, dotenv_path=run.settings.dotenv_report,
                                                      dotenv_named=inputs.name(DOTENV_REPORT)))
        outcome = _deploy(run, run.settings, log, redactor, inputs, loaded, noted)
    except DeployError as caught:
        error, outcome = caught, run.stopped   # what the run knew of each target when the error stopped it
    except Exception as unexpected:  # noqa: BLE001 - the one place that must turn any bug into exit 4
        # A bug outside the run (reading settings, reporting); the run's own are `runner`'s.
        if run.settings is not None and run.settings.verbose:
            import traceback

            log.line("".join(traceback.format_exception(unexpected)))
        from rancher_deploy.runner import internal_error

        error = internal_error(unexpected, sent=run.api_calls > 0)

    code = exit_code(outcome, error, signal_number=run.signal)
    warnings = run.warnings
    if run.settings is not None:
        # Once per run, the Outcome final; a notification that fails only warns (notify.send), and
        # before the result is built so that warning is one of the run's in it, not only in the log.
        # (A stdout that then cannot be written changes the exit code below; the notification is gone.)
        from rancher_deploy import notify

        warnings += notify.send(outcome, run.settings, log, error=error, code=code, redactor=redactor,
                                api_calls=run.api_calls, warnings=run.warnings)
    if run.settings is not None:
        wants_json, report_path = run.settings.output is Output.JSON, run.settings.dotenv_report
    else:
        # The settings failed to load, perhaps because argparse could not read the command line:
        # read the output mode and report path the way they would have been, the flags among them.
        inputs = inputs.with_flags({**inputs.flags, **_report_flags(raw)})
        wants_json = (inputs.text(OPTIONS_BY_NAME["output"]) or "").lower() == Output.JSON.value
        report_path = inputs.text(DOTENV_REPORT)
    destinations = [destination for destination in
                    dialect.destinations(env, dotenv_path=report_path, dotenv_named=inputs.name(DOTENV_REPORT))
                    if destination.path not in run.unwritable]   # already said, in the error that stopped the run

    def document(code: ExitCode) -> dict[str, Any]:
        return result_object(outcome, error, exit_code=code, command=asked, api_calls=run.api_calls, warnings=warnings)

    code = _hand_on(code, document, out if wants_json else None, dialect, destinations, redactor, log)
    if error is not None:
        log.error(error, code)
    else:
        assert outcome is not None
        log.verdict(outcome, code)
    return int(code)


DOTENV_REPORT = OPTIONS_BY_NAME["dotenv_report"]
_REPORT_OPTIONS = (OPTIONS_BY_NAME["output"], DOTENV_REPORT)


def _report_flags(arguments: Sequence[str]) -> dict[str, str]:
    """`--output` and `--dotenv-report` as the raw command line gives them (`--flag VALUE` or
    `--flag=VALUE`, the last one winning, as argparse would), for a command line argparse refused:
    the failure is then still reported the way the user asked."""
    found: dict[str, str] = {}
    for option in _REPORT_OPTIONS:
        for index, argument in enumerate(arguments):
            if argument == option.flag and index + 1 < len(arguments):
                found[option.name] = arguments[index + 1]
            elif argument.startswith(option.flag + "="):
                found[option.name] = argument.split("=", 1)[1]
    return found


def _first_word(arguments: list[str]) -> tuple[str | None, list[str]]:
    """The command word the first argument gives (None when it is a flag or absent), and the rest.

    An empty first argument counts as absent: a CI input left empty and passed as an argument
    arrives as `''`, and an empty input means "not given" everywhere else too.
    """
    if arguments and arguments[0] == "":
        return None, arguments[1:]
    if arguments and not arguments[0].startswith("-"):
        return arguments[0], arguments[1:]
    return None, arguments


# The command, when no first argument names it: the CIs that cannot pass arguments to a plugin
# (Drone and Woodpecker `settings: command:`) set it like a setting. Not a row of SETTINGS: it has
# no flag (it is the first argument) and chooses the parser before any flag is read.
COMMAND = Option("command", ("RANCHER_COMMAND",), Kind.CHOICE,
                 "what to do: upgrade, rollback (a pending 1.x upgrade, or a 2.x workload to its previous revision), "
                 "finish (a 1.x upgrade left upgraded; a 2.x rollout needs none) or status",
                 default=Command.UPGRADE, choices=COMMANDS, field=None, parse=Command)


def _command(word: str | None, inputs: Inputs) -> Command:
    """The command: the first argument's word, else the one the CI inputs or the environment name
    (`INPUT_COMMAND`, `PLUGIN_COMMAND`, `RANCHER_COMMAND`), else upgrade.

    Raises UsageError for an unknown word and ConfigError, naming the setting, for an unknown
    setting; both suggest the closest command.
    """
    if word is not None:
        if word not in _COMMANDS:
            raise UsageError(unknown_command(word, tuple(_COMMAND_HELP)) + " (rancher-deploy --help)")
        return _COMMANDS[word]
    found = inputs.find(COMMAND)
    if found is None:
        return Command.UPGRADE
    setting = found.text.strip()
    if setting.lower() not in COMMANDS:
        raise ConfigError(inputs.name(COMMAND), unknown_command(setting, COMMANDS))
    return Command(setting.lower())


def unknown_command(word: str, known: tuple[str, ...]) -> str:
    """`unknown command 'upgarde' (did you mean 'upgrade'?); the commands are upgrade, rollback, ...`"""
    # 0.75 rather than difflib's 0.6: a transposed or missing letter (upgarde, rolback, finsh) scores
    # above 0.8, while a different word that shares a few letters (deploy ~ demo: 0.6) is no typo.
    import difflib  # here: only a mistyped command needs it

    close = difflib.get_close_matches(word.lower(), known, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown command {word!r}{hint}; the commands are {', '.join(known)}"


@dataclass(eq=False)   # not compared: see docs/architecture.md, Start-up
class _Run:
    """What the handler needs to report a run, however far it got."""

    settings: Settings | None = None
    api_calls: int = 0
    signal: int | None = None     # the first SIGTERM/SIGINT received, if any
    stopped: Outcome | None = None  # the targets as far as the run got, when an error ended it
    warnings: tuple[str, ...] = ()  # the run's own warning lines (runner.Ran.warnings)
    unwritable: frozenset[str] = frozenset()  # result files found unwritable before the run (its error says so)


def _check_destinations(run: _Run, destinations: Sequence[ci.Destination]) -> None:
    """Stop the run before it changes anything when a file its result is to be written to cannot be
    (ConfigError naming each one's setting or variable, exit 2): found only at the end, the pipeline
    would get nothing of a run that did change Rancher."""
    unwritable = ci.unwritable(destinations)
    if unwritable:
        run.unwritable = frozenset(destination.path for destination, _ in unwritable)
        (first, why), *others = unwritable
        raise ConfigError(first.named, "; ".join([f"{first.path} cannot be written ({why})", *(
            f"{other.named}: {other.path} cannot be written ({reason})" for other, reason in others)]))


def _hand_on(code: ExitCode, document: Callable[[ExitCode], dict[str, Any]], out: Pipe | None, dialect: ci.Dialect,
             destinations: Sequence[ci.Destination], redactor: Redactor, log: HumanLog) -> ExitCode:
    """Write the result where it was asked for: the JSON result on stdout (`out`, None unless
    --output json) and the CI's files; return the exit code the run ends with.

    A result that cannot be written is lost to the pipeline, so a run that would exit 0 exits 4
    (`unreported`), and the log says which (before the last line); a reader of stdout that went
    away (`| head`) is no failure. The files are opened before anything is written, so one that
    cannot be opened changes the code that every other one holds.
    """
    opened, failed = ci.open_all(destinations)
    if failed:
        code = unreported(code)
    unwritten = None
    result = document(code)
    if out is not None:
        write_json(out, result, redactor)
        unwritten = out.failure
        if unwritten is not None and unreported(code) != code:
            code = unreported(code)
            result = document(code)   # the files say the code the run ends with
    handed = dialect.write(opened, result)
    if handed.failed:
        code = unreported(code)
    warning = handed.warning()
    if warning is not None:
        log(Step(warning, Level.WARNING))
    for destination, why in failed + handed.failed:
        log.failure(f"{destination.named}: the result could not be written to {destination.path} ({why}); "
                    "the pipeline gets none of it")
    if unwritten is not None:
        log.failure(f"the JSON result could not be written to stdout ({unwritten}); this log is all there is "
                    "of what the run did")
    return code


def build_parser(command: Command, *, explicit: bool = True) -> argparse.ArgumentParser:
    """The parser of one subcommand; every option comes from the settings table. Its `error` raises
    UsageError instead of printing the usage and exiting, so that a command line it cannot read is
    reported like any other failure: one line, exit 2, the CI's outputs.

    `explicit`: the command was the first argument (`rancher-deploy rollback --help`); otherwise the
    usage shows `rancher-deploy [COMMAND] [options]`, since the command may be any of them.
    """
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise UsageError(f"{message} (see `{self.prog} --help`)")

    commands = "\n".join(f"  {name:9} {text}" for name, text in _COMMAND_HELP.items())
    codes = "\n".join(f"  {int(code):3}  {code.meaning}" for code in ExitCode)
    prog = f"rancher-deploy {command}" if explicit else "rancher-deploy"
    what = _COMMAND_HELP[command.value] if explicit else (
        f"COMMAND is one of the commands below; without one, {command} runs: {_COMMAND_HELP[command.value]}")
    parser = _Parser(
        prog=prog,
        usage=f"{prog} [options]" if explicit else "rancher-deploy [COMMAND] [options]",
        description=f"{what}. Every option can also be set by its environment variable, "
                    "by a GitHub input (INPUT_*) or a Drone/Woodpecker setting (PLUGIN_*), or in .env. "
                    "Precedence: flag > CI input > environment > .env > default. Without a COMMAND argument "
                    "the command comes from the `command` input or setting (INPUT_COMMAND, PLUGIN_COMMAND) or "
                    "RANCHER_COMMAND.",
        epilog=f"commands (rancher-deploy COMMAND --help):\n{commands}\n\nexit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=f"rancher-deploy {__version__}")
    _add_arguments(parser, command)
    return parser


def _add_arguments(parser: argparse.ArgumentParser, command: Command) -> None:
    """Flags for every option of the settings table that applies to `command`, with env names in the help."""
    import argparse

    for option in SETTINGS:
        if not option.applies_to(command):
            continue
        names = ", ".join(option.env)
        default = "" if option.default is None else f"; default: {show_default(option.default)}"
        help_text = f"{option.help} (env: {names}{default})"
        if option.kind is Kind.BOOL:
            parser.add_argument(option.flag, dest=option.name, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
        elif option.kind in (Kind.LIST, Kind.LINES):
            parser.add_argument(option.flag, dest=option.name, action="append", default=None,
                                metavar=option.metavar, help=help_text)
        elif option.kind is Kind.CHOICE:
            parser.add_argument(option.flag, dest=option.name, choices=option.choices, default=None,
                                help=help_text)
        else:
            parser.add_argument(option.flag, dest=option.name, default=None, metavar=option.metavar,
                                help=help_text)


class _Signals:
    """Turns SIGTERM/SIGINT into a flag the wait loop reads, and an event that cuts sleeps short."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.second: int | None = None
        self.came: float | None = None   # when the first came, on the run's clock (`time.monotonic`)
        self._wake = threading.Event()
        self._previous: dict[int, Any] = {}

    def install(self, noted: Sequence[int] = ()) -> None:
        """Handle SIGTERM and SIGINT from now on, taking `noted` (the live list of the signals an
        earlier handler noted, read once these handlers are in place, so none falls between) as
        received first."""
        if threading.current_thread() is not threading.main_thread():
            return
        for number in (signal.SIGTERM, signal.SIGINT):
            self._previous[number] = signal.signal(number, self._handle)
        received = [*noted, *(number for number in (self.received, self.second) if number is not None)]
        if received:
            self.received, self.second = received[0], received[1] if len(received) > 1 else None
            self.came = self.came if self.came is not None else time.monotonic()
            self._wake.set()

    def restore(self) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)
        self._previous.clear()

    def _handle(self, number: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received, self.came = number, time.monotonic()
        else:
            # A second signal means "now": the rollback wait stops too, and the state is reported.
            self.second = number
        self._wake.set()

    def interrupted(self) -> int | None:
        return self.received

    def urgent(self) -> int | None:
        """The second signal, which also ends the wait for a rollback the first one started."""
        return self.second

    def arrived(self) -> float | None:
        """When the first signal came: the handler runs as it comes (PEP 475: a request blocked in the
        main thread is interrupted for it, then resumed), whatever the run is doing. A signal noted
        before the handlers were installed (start-up) counts from their installation."""
        return self.came

    def sleep(self, seconds: float) -> None:
        """Sleep, cut short by a signal; a signal wakes one sleep only, so the rollback that
        follows still polls at RANCHER_POLL_INTERVAL instead of spinning."""
        if self._wake.wait(seconds):
            self._wake.clear()


def _deploy(run: _Run, settings: Settings, log: HumanLog, redactor: Redactor, inputs: Inputs,
            loaded: Callable[[], None], noted: Sequence[int]) -> Outcome:
    """Run the command through `runner.run`, with the signals handled while it runs (`noted`: those
    received before, honoured at the run's first check); noted in `run`."""
    from rancher_deploy import http, runner  # noqa: F401 - http (requests): imported with the rest of start-up

    loaded()

    dotenv = dotenv_line(inputs)
    signals = _Signals()
    signals.install(noted)
    try:
        ran = runner.run(settings, _after_first(log, dotenv), redactor=redactor, control=signals,
                         clock=time.monotonic, inputs=inputs)
    finally:
        signals.restore()
    run.api_calls, run.signal, run.warnings = ran.api_calls, ran.signal, ran.warnings
    if ran.error is not None:
        run.stopped = ran.outcome
        raise ran.error
    assert ran.outcome is not None
    return ran.outcome


def _after_first(log: HumanLog, line: str | None) -> Callable[[Event], None]:
    """The log, with `line` (the `.env` line) written right after the run's first line."""
    if line is None:
        return log
    pending = [line]

    def emit(event: Event) -> None:
        log(event)
        if pending:
            log.line(pending.pop())

    return emit


def dotenv_line(inputs: Inputs) -> str | None:
    """The one line naming the `.env` file that supplied settings, and which (names only, never values).

    On GitHub the working directory is the checked-out repository, so the `.env` read is the
    application's own file; the line says so, and that it only filled what nothing else set.
    """
    names = inputs.from_dotenv((COMMAND, *SETTINGS))
    if not names:
        return None
    count = f"{len(names)} setting{'s' if len(names) > 1 else ''}"
    where = inputs.dotenv_path
    if inputs.ci == "github":
        where = f"{where}: the checked-out repository's own file, the working directory of the action"
    return f"Read {count} from .env ({where}), only for variables no flag, input or environment set: {', '.join(names)}"
