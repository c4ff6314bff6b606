"""Packaging and CI scripts: metadata that keeps building, scripts that two runs can share a machine with."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_license_is_an_spdx_expression_with_a_setuptools_that_reads_it() -> None:
    # The table form (license = {text = ...}) stops building in February 2027 (setuptools
    # deprecation of PEP 621 license tables); the SPDX string needs setuptools >= 77.
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'^license = "MIT"$', pyproject, re.MULTILINE)
    assert '"setuptools>=77"' in pyproject
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")


def test_ci_scripts_work_in_private_directories() -> None:
    run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'venv="$scratch/venv"' in run and "mktemp -d" in run, "each CI run needs its own venv"
    gitlab = (ROOT / ".ci" / "gitlab-local").read_text(encoding="utf-8")
    # The shared tool cache is filled by one rename from a private directory, never written in place.
    assert 'npm install --silent --no-audit --no-fund --prefix "$fresh"' in gitlab
    assert 'mv -T "$fresh" "$tools"' in gitlab


def test_ci_scripts_say_what_they_need() -> None:
    for script in ("run", "gitlab-local"):
        text = (ROOT / ".ci" / script).read_text(encoding="utf-8")
        assert "needs" in text and "npm" in text and "rsync" in text, script


def test_ci_run_refuses_a_python_older_than_the_package_supports(tmp_path: Path) -> None:
    # The floor in .ci/run is pyproject's requires-python; run with an interpreter that reports an
    # older version, it stops at once with a message that says which it needs and which it found.
    import os
    import subprocess
    import sys

    floor = re.search(r'^requires-python = ">=(\d+)\.(\d+)"$', (ROOT / "pyproject.toml").read_text(encoding="utf-8"),
                      re.MULTILINE)
    assert floor is not None
    assert f"sys.version_info < ({floor.group(1)}, {floor.group(2)})" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    old = f"{floor.group(1)}.{int(floor.group(2)) - 1}"
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\n"  # a python3 that is older than the floor, in what the check asks it
                    f"case \"$2\" in *version_info*) exec {sys.executable} -c 'import sys; "
                    f"sys.exit(({old.replace('.', ', ')}) < ({floor.group(1)}, {floor.group(2)}))' ;; "
                    f"*python_version*) echo {old}.9 ;; esac\n")
    fake.chmod(0o755)
    for tool in ("git", "node", "npm"):
        (tmp_path / tool).symlink_to("/bin/true")
    done = subprocess.run(["bash", str(ROOT / ".ci" / "run")], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
    assert done.returncode == 2
    assert done.stderr.strip() == f".ci/run: needs Python >= {floor.group(1)}.{floor.group(2)} as python3; found {old}.9"


# An `apt-get` where a shell runs it: at the start of a line or of a RUN instruction, or after `&&`, `||`, `;`,
# `|`, `then`, `else` or `do`, with any variable assignments before it (group 1) and its words up to the next
# `&&`, `;`, `|`, `>` or the end of the line (group 2). A mention inside an echo's message ("needs rsync on
# PATH (apt-get install rsync)") is not one.
APT_GET = re.compile(r"(?:^\s*(?:RUN\s+)?|&&\s*|\|\|\s*|;\s*|\|\s*|\b(?:then|else|do)\s+)((?:[A-Z_]+=\S*\s+)*)"
                     r"apt-get\s+([^&;|>\n]*)", re.MULTILINE)


def apt_get_commands(text: str) -> list[tuple[list[str], list[str]]]:
    """(assignments, words) of each `apt-get` a shell runs in `text` (APT_GET)."""
    return [(match.group(1).split(), match.group(2).split()) for match in APT_GET.finditer(text)]


def test_every_apt_get_that_changes_packages_is_noninteractive() -> None:
    # Without DEBIAN_FRONTEND=noninteractive a package's debconf questions (tzdata's, say) wait for an
    # answer on a terminal the CI does not have (debconf(7), "Frontends": noninteractive "never
    # interacts with the user at all"); -y answers apt-get's own "Do you want to continue?".
    sources = {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
               for path in [*(ROOT / ".ci").iterdir(), ROOT / "Dockerfile"] if path.is_file()}
    found = {name: apt_get_commands(text) for name, text in sources.items()}
    assert found[".ci/gitlab-local"] and found[".ci/image"]   # the pattern sees the commands it checks
    wrong = [(name, command) for name, commands in found.items() for command in commands
             if command[1][:1] not in (["update"], ["clean"])
             and ("DEBIAN_FRONTEND=noninteractive" not in command[0] or "-y" not in command[1])]
    assert wrong == []


def test_an_interactive_apt_get_is_found() -> None:
    assert apt_get_commands("    apt-get update -qq && apt-get install -y -qq rsync >/dev/null\n") == [
        ([], ["update", "-qq"]), ([], ["install", "-y", "-qq", "rsync"])]
    assert apt_get_commands("RUN DEBIAN_FRONTEND=noninteractive apt-get install -y curl\n") == [
        (["DEBIAN_FRONTEND=noninteractive"], ["install", "-y", "curl"])]
    assert apt_get_commands('    echo "needs rsync on PATH (apt-get install rsync)" >&2\n') == []


def test_the_command_is_a_plain_script_that_imports_no_re_before_ours() -> None:
    # `rancher-deploy` is scripts/rancher-deploy, which pip copies to the environment's bin/ with its
    # `#!python` line pointed at that interpreter (PEP 427, "Recommended installer features"), not a
    # [project.scripts] entry point: the wrapper pip writes for one imports `re` before it calls us,
    # half again Python's own start-up (docs/performance.md, "The targets"). Editable installs copy
    # script-files as well (setuptools' command/editable_wheel.py, `_configure_build`).
    import subprocess
    import sys

    try:
        import tomllib
    except ModuleNotFoundError:   # Python 3.10
        import tomli as tomllib

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "scripts" not in pyproject["project"]
    assert pyproject["tool"]["setuptools"]["script-files"] == ["scripts/rancher-deploy"]
    script = ROOT / "scripts" / "rancher-deploy"
    assert script.read_text(encoding="utf-8").startswith("#!python\n")
    # -S: no site-packages, whose .pth files (an editable install's finder among them) import `re`
    # themselves before any script runs; the checkout on PYTHONPATH is the package.
    import os

    done = subprocess.run([sys.executable, "-S", "-X", "importtime", str(script), "--version"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("rancher-deploy ")
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "rancher_deploy.__main__" in imported
    assert "re" not in imported, "the command imports re before it runs"
