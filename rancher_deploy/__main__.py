"""The program's entry: which module runs each subcommand, imported only when that command runs.

`demo` and `simulate` bring the simulator, and `serve` its HTTP server (the `serve` extra), none of
which a CI run needs; `demo` and `serve` drive the deploy CLI; listing them here, above all of them,
keeps `cli` from importing them (twine's `__main__` is the console script the same way).
`python -m rancher_deploy`, the `rancher-deploy` script (scripts/rancher-deploy) and the
container's entrypoint.py all start here.
"""

from __future__ import annotations

import sys

# `typing` and `collections.abc` cost a few milliseconds to import, more than the rest of
# `--version`: only the type checker reads them here (mypy takes any name TYPE_CHECKING as true).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


def _deploy(argv: Sequence[str]) -> int:
    from rancher_deploy import cli

    return cli.main(argv)


def _deploy_program(argv: Sequence[str]) -> int:
    """The deploy CLI as the program runs it: SIGTERM and SIGINT noted from its first line on
    (`_note_signals`), and the collector off until the run's modules are loaded (`_loaded`).

    Loading requests, urllib3 and our modules makes some 46,000 objects that live as long as the
    process (`len(gc.get_objects())` once they are); the cyclic collector, triggered every 700 new
    ones, passes over them again and again meanwhile and finds next to nothing to free (some 600
    objects of the import machinery's, then frozen with the rest: kept, as the modules are). That
    was about 7 ms of a dry run's 160 (docs/performance.md). Not for `demo`, `simulate` or `serve`,
    which do not go through here and run for as long as they are left running.
    """
    noted = _note_signals()
    import gc

    gc.disable()   # a run that ends before it connects exits with it off: `_exiting` freezes all the same
    from rancher_deploy import cli

    return cli.main(argv, loaded=_loaded, noted=noted)


def _note_signals() -> list[int]:
    """Note SIGTERM and SIGINT in the returned list from now on, until `cli` installs its own handlers
    and takes what was noted (its run then stops before its first change, docs/ci-conventions.md §6).

    First, before requests, urllib3 and the settings are loaded (some 100 ms), because a signal in that
    window is otherwise lost or fatal: as PID 1 (GitHub, Drone and Woodpecker run no init) the kernel
    drops a signal the process has no handler for, so a SIGTERM would be ignored and the upgrade run to
    its end; SIGINT's default handler raises KeyboardInterrupt wherever the import is, a traceback with
    no CI outputs. `signal` costs no import here: `cli` imports it anyway, and `--version`, answered
    before this, never gets here.
    """
    import signal

    noted: list[int] = []

    def note(number: int, frame: object) -> None:
        noted.append(number)

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, note)
    return noted


def _demo(argv: Sequence[str]) -> int:
    from rancher_deploy import demo

    return demo.main(argv)


def _simulate(argv: Sequence[str]) -> int:
    from rancher_deploy.simulator import command

    return command.main(argv)


def _serve(argv: Sequence[str]) -> int:
    # `serve` runs on cheroot, which only the `serve` extra installs (pyproject.toml): without it the
    # import fails, and a traceback with exit 1 would read as "the run failed and was restored".
    # Exit 2 is invalid usage (README, exit codes), and the one line says what to do.
    try:
        from rancher_deploy.serve import command
    except ModuleNotFoundError as error:
        if (error.name or "").partition(".")[0] == "rancher_deploy":
            raise   # a broken install of this package, not a missing extra
        print("rancher-deploy serve needs its extra: pip install 'rancher-deploy[serve]'", file=sys.stderr)
        return 2
    return command.main(argv)


# Every other first argument (upgrade, rollback, finish, status, a flag) belongs to the deploy CLI.
COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {"demo": _demo, "simulate": _simulate, "serve": _serve}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the subcommand `argv` names and return its exit code.

    Without `argv` this is the program itself (the console script, `python -m`, entrypoint.py): it
    reads `sys.argv[1:]`, and the process exits when it returns, so it readies the exit (`_exiting`).
    A caller in the same process (the tests, a wrapper) passes `argv` and keeps its interpreter as it was.
    """
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] in (["-V"], ["--version"]):
        # Answered before anything else is imported: a CI step that prints the version pays for
        # Python and this module only.
        from rancher_deploy import __version__

        print(f"rancher-deploy {__version__}")
        return 0
    try:
        if arguments and arguments[0] in COMMANDS:
            return COMMANDS[arguments[0]](arguments[1:])
        return _deploy(arguments) if argv is not None else _deploy_program(arguments)
    finally:
        if argv is None:
            _exiting()


def _loaded() -> None:
    """The run's modules are loaded (`cli` calls this before it connects): what start-up made is
    frozen out of every later collection's way, and the collector is on again for the run, however
    long its wait (a wait's garbage is collected as usual)."""
    import gc

    gc.freeze()
    gc.enable()


def _exiting() -> None:
    """Spare the process's exit the collector's last passes over everything a run loaded.

    CPython's finalization runs the cyclic garbage collector over every tracked object, after
    clearing the modules and again when it clears the interpreter (Python/pylifecycle.c,
    `finalize_modules` and `interpreter_clear`): a run has loaded tens of thousands of them (requests,
    urllib3, our modules), alive until then, and those passes cost 15-20 ms of every run's wall time
    (docs/performance.md). `gc.freeze()` moves them to the permanent generation that no collection
    visits. What is skipped is only freeing memory the process hands back anyway: the files a run
    writes are closed by `with` before this, and stdout and stderr are flushed by the finalization itself.
    """
    import gc

    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
