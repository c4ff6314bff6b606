"""`rancher-deploy serve`: read the settings, refuse to start without authentication, listen, run what
arrives, and stop the way a deploy must stop.

SIGTERM (or SIGINT) stops the server in three steps: it accepts nothing more (the listening socket
closes; runs still waiting are cancelled, nothing of theirs was changed); the running upgrades get
RANCHER_SERVE_GRACE seconds to end on their own; those still running then are interrupted as a CLI
run's SIGTERM interrupts it (rolled back, or left and reported, by RANCHER_ON_INTERRUPT; a rollback is
waited for at most 2 s, `timing.GRACE_SECONDS`, then reported as under way), and the server exits once
each has said where its targets are. A second signal interrupts them at once; one after the
interruption also ends the wait for their rollbacks (each then reports its targets' state).

Exit codes: 0 stopped, every run having ended on its own; 2 not started (a setting, or the port);
128 + the signal (143, 130) stopped after interrupting runs, each restored or reported; 4 one of those
could not say its targets are restored (its lines name their state).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Callable, Mapping, Sequence, TextIO

from rancher_deploy import __version__, cli
from rancher_deploy.errors import ConfigError, DeployError, ExitCode
from rancher_deploy.fleet import counted
from rancher_deploy.inputs import Inputs
from rancher_deploy.redact import Redactor
from rancher_deploy.report import HumanLog, Pipe
from rancher_deploy.serve.app import MAX_BODY_BYTES, App
from rancher_deploy.serve.auth import Keys
from rancher_deploy.serve.poll import start_polling
from rancher_deploy.serve.runs import Lines, effective, make_runner
from rancher_deploy.serve.scheduler import Job, Scheduler, by_version
from rancher_deploy.serve.server import HttpServer
from rancher_deploy.settings import COMMANDS, OPTIONS_BY_NAME, SETTINGS, Command, Settings, secrets_in
from rancher_deploy.timing import GRACE_SECONDS

# How often the stop looks at the runs and at further signals while it waits.
_TICK_SECONDS = 0.2


@dataclass(eq=False)   # not compared (nor its Settings): docs/architecture.md, Start-up
class Service:
    """A started server: its address, and what `stop` needs to stop it."""

    settings: Settings
    host: str
    port: int
    app: App
    scheduler: Scheduler
    server: HttpServer
    log: HumanLog
    polling: threading.Event | None = None   # set to stop the registry polling (serve/poll.py)

    def stop(self, number: int, signals: Callable[[], int] = lambda: 1) -> ExitCode:
        """Stop after signal `number`; `signals()` counts the signals received so far (a second one
        interrupts the runs at once, one after that hurries their rollbacks). Returns the exit code."""
        name = signal.Signals(number).name
        if self.polling is not None:
            self.polling.set()
        self.app.stopping = True
        # The queue first: a request still being answered is then told 503, not given a run that the
        # next line would cancel.
        cancelled, running = self.scheduler.stop_accepting()
        self.server.stop()
        if cancelled:
            were = "was" if len(cancelled) == 1 else "were"
            self.log.line(f"{name}: {_runs(cancelled)} had not started and {were} cancelled; nothing of theirs was changed (send their webhooks again once the server is back)")
        grace = self.settings.serve_grace_seconds
        self.log.line(f"{name}: accepting no more requests; waiting up to {grace:g}s for "
                      f"{counted(running, 'running run')} to end (RANCHER_SERVE_GRACE)")
        deadline = time.monotonic() + grace
        while not self.scheduler.wait(min(_TICK_SECONDS, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline or signals() > 1:
                return self._interrupt(number, signals)
        self.log.line("every run has ended; stopped (exit 0)")
        return ExitCode.OK

    def _interrupt(self, number: int, signals: Callable[[], int]) -> ExitCode:
        """Interrupt the runs still going and wait until each has restored or reported its targets."""
        interrupted = self.scheduler.interrupt(number)
        self.log.line(f"interrupting {_runs(interrupted)}: each rolls back, waiting {GRACE_SECONDS:g}s at most "
                      "(or, with `RANCHER_ON_INTERRUPT=report`, leaves its targets and reports them) before the "
                      "server exits; a further signal ends the wait for the rollbacks")
        hurried, received = False, signals()
        while not self.scheduler.wait(_TICK_SECONDS):
            if not hurried and signals() > received:
                hurried = True
                self.scheduler.interrupt(number, urgent=True)
        worst = max((job.result["exit_code"] for job in interrupted if job.result), default=0)
        code = ExitCode.NEEDS_ATTENTION if worst == ExitCode.NEEDS_ATTENTION else ExitCode.for_signal(number)
        self.log.line(f"stopped (exit {int(code)}: {code.meaning})")
        return code


def start(settings: Settings, inputs: Inputs, redactor: Redactor, log: HumanLog, lines: Lines,
          out: Pipe) -> Service:
    """Check the settings, bind the port and start serving; raises ConfigError (exit 2) for settings
    the server cannot start with, before anything listens."""
    def name(option: str) -> str:
        return inputs.name(OPTIONS_BY_NAME[option])

    keys = Keys.from_settings(settings, name)
    # A trigger's left-out fields compared as what they mean under these settings (runs.effective).
    compare = by_version(settings.version_policy, lambda trigger: effective(settings, trigger))
    scheduler = Scheduler(make_runner(settings, inputs, redactor, log=lines, out=out), workers=settings.parallel,
                          limit=settings.serve_queue, compare=compare)
    app = App(keys, scheduler, lambda text: log.line("http: " + text))
    server = HttpServer(app, settings.serve_host, settings.serve_port, log.line, MAX_BODY_BYTES)
    try:
        host, port = server.bind()
    except OSError as problem:
        # cheroot folds the errno into its message ("No socket could be created -- (...: [Errno 98] Address
        # already in use)"): a port taken or privileged is the port's fault, anything else the address's.
        text = str(problem)
        blamed = "serve_port" if "in use" in text or "denied" in text else "serve_host"
        raise ConfigError(name(blamed), f"cannot listen on {settings.serve_host}:{settings.serve_port} ({text})") \
            from None
    scheduler.start()
    server.start()
    polling = start_polling(settings, scheduler, log)
    shown_host = f"[{host}]" if ":" in host else host   # an IPv6 address, bracketed in a URL (RFC 3986 3.2.2)
    log.line(f"rancher-deploy {__version__}: serving on http://{shown_host}:{port} (POST /upgrade, /webhooks/dockerhub, "
             f"/webhooks/harbor, /webhooks/registry; GET /status, /healthz) for {settings.url}")
    log.line(f"accepting {keys.methods()}; up to {counted(settings.serve_queue, 'waiting run')}, "
             f"{settings.parallel} at once")
    if settings.image is not None:
        log.line(f"warning: {name('image')} is not read: each request names the image its run deploys")
    for warning in settings.warnings:   # said once here: each run's own settings leave them out (`selecting`)
        log.line(f"warning: {warning}")
    if keys.open:
        log.line("warning: no RANCHER_SERVE_TOKEN or RANCHER_SERVE_HMAC_SECRET: anyone who reaches this port "
                 "can deploy (`RANCHER_SERVE_ALLOW_UNAUTHENTICATED=true`)")
    return Service(settings, host, port, app, scheduler, server, log, polling)


class _Signals:
    """SIGTERM and SIGINT, counted; the first one stops the server, later ones hurry the stop."""

    def __init__(self) -> None:
        self.numbers: list[int] = []
        self._event = threading.Event()

    def install(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, self._handle)

    def _handle(self, number: int, frame: FrameType | None) -> None:
        self.numbers.append(number)
        self._event.set()

    def first(self) -> int:
        """Block until the first signal; its number."""
        while not self.numbers:
            self._event.wait(1.0)
        return self.numbers[0]


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None, *,
         dotenv_path: str | None = ".env", stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Serve until SIGTERM or SIGINT; returns the exit code (see the module's docstring)."""
    # Runs end in threads of their own: each line (a log line, a result object) is written whole.
    out = Pipe(Lines(Pipe(stdout or sys.stdout), threading.Lock()))
    err = Pipe(stderr or sys.stderr)
    env = dict(os.environ if environ is None else environ)
    redactor = Redactor(*secrets_in(env))
    lines = Lines(err, threading.Lock())
    log = HumanLog(Pipe(lines), redactor)
    signals = _Signals()
    try:
        inputs = Inputs.snapshot({}, env).with_dotenv(dotenv_path)
        try:
            flags = vars(cli.build_parser(Command.SERVE).parse_args(list(sys.argv[1:] if argv is None else argv)))
        except SystemExit as exit_request:   # --help or --version, printed
            return int(exit_request.code or 0)
        inputs = inputs.with_flags(flags)
        redactor.spell_with(inputs.speller(SETTINGS, COMMANDS))
        settings = Settings.from_inputs(Command.SERVE, inputs)
        for secret in settings.secrets:
            redactor.add(secret)
        log = HumanLog(Pipe(lines), redactor, verbose=settings.verbose)
        service = start(settings, inputs, redactor, log, lines, out)
    except DeployError as error:
        log.error(error, error.exit_code)
        return int(error.exit_code)
    # Only now: a server that did not start leaves the process's handlers as they were.
    signals.install()
    return int(service.stop(signals.first(), lambda: len(signals.numbers)))


def _runs(jobs: Sequence[Job]) -> str:
    """`run 3` or `runs 3, 4`: the runs a stop line names."""
    return ("run " if len(jobs) == 1 else "runs ") + ", ".join(str(job.id) for job in jobs)
