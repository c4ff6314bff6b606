"""The program's entry: which module runs each subcommand, imported only when that command runs.

`demo` and `simulate` bring the simulator, and `serve` its HTTP server (the `serve` extra), none of
which a CI run needs; `demo` and `serve` drive the deploy CLI; listing them here, above all of them,
keeps `cli` from importing them (twine's `__main__` is the console script the same way). `python -m rancher_deploy`, the console script and the
container's entrypoint.py all start here.
"""

from __future__ import annotations

import sys
from typing import Callable, Sequence


def _deploy(argv: Sequence[str]) -> int:
    from rancher_deploy import cli

    return cli.main(argv)


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
    """Run the subcommand `argv` names (default: `sys.argv[1:]`) and return its exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] in (["-V"], ["--version"]):
        # Answered before anything else is imported: a CI step that prints the version pays for
        # Python and this module only.
        from rancher_deploy import __version__

        print(f"rancher-deploy {__version__}")
        return 0
    if arguments and arguments[0] in COMMANDS:
        return COMMANDS[arguments[0]](arguments[1:])
    return _deploy(arguments)


if __name__ == "__main__":
    sys.exit(main())
