"""Start-up: what a process costs before it does anything, the floor being the interpreter itself."""

from __future__ import annotations

from bench import procs
from bench.context import Tools, say


# What the console script pip writes for any entry point imports before it calls its function: `re` (to
# strip a Windows launcher's suffix from argv[0]; SCRIPT_TEMPLATE in distlib's scripts.py, vendored
# by pip as src/pip/_vendor/distlib/scripts.py). Timed alone, it is that script's own floor, which
# rancher-deploy, a plain script (scripts/rancher-deploy), no longer pays.
WRAPPER = "import re, sys"


def commands(tools: Tools) -> dict[str, list[str]]:
    """Label -> command line. ``python -c pass`` is the interpreter rancher-deploy runs on (in the
    environment it is installed in); ``python entrypoint.py --version`` is how the image starts it."""
    return {
        "python -c pass": [str(tools.python), "-c", "pass"],
        f"python -c '{WRAPPER}'": [str(tools.python), "-c", WRAPPER],
        "rancher-deploy --version": [str(tools.ours), "--version"],
        "python entrypoint.py --version": [str(tools.python), str(tools.entrypoint), "--version"],
        "rancher-deploy --help": [str(tools.ours), "--help"],
        "rancher-gitlab-deploy --help": [str(tools.peer), "--help"],
    }


def startup_scenario(tools: Tools, runs: int) -> dict[str, list[float]]:
    """Wall seconds of each command, ``runs`` times in turn, after one unrecorded warm-up each (so
    that compiling bytecode on a first run is not counted)."""
    say(f"start-up, {runs} runs of each command")
    env = procs.base_environment(tools.scratch)
    table = commands(tools)
    for argv in table.values():
        procs.run(argv, env, tools.scratch, memory=False)
    walls: dict[str, list[float]] = {label: [] for label in table}
    for _ in range(runs):
        for label, argv in table.items():
            finished = procs.run(argv, env, tools.scratch, memory=False)
            if finished.code != 0:
                raise SystemExit(f"bench: `{label}` failed: {finished.last_line()}")
            walls[label].append(finished.wall)
    return walls
