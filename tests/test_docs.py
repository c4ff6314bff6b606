"""The README is part of the contract: its settings and exit-code tables must match the code."""

from __future__ import annotations

import re
from pathlib import Path

from rancher_deploy.errors import ExitCode
from rancher_deploy.settings import SETTINGS, Kind

README = (Path(__file__).parent.parent / "README.md").read_text()


def _table_rows(first_cell: str) -> list[list[str]]:
    rows = []
    for line in README.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells and re.match(first_cell, cells[0]):
            rows.append(cells)
    return rows


def test_readme_lists_every_setting_with_its_variables() -> None:
    rows = {row[0]: row for row in _table_rows(r"`--")}
    for option in SETTINGS:
        flag = option.flag
        if option.kind is Kind.BOOL and option.default is True:
            flag = "--no-" + option.flag[2:]
        assert f"`{flag}`" in rows, f"README lacks {flag}"
        assert rows[f"`{flag}`"][1] == ", ".join(f"`{name}`" for name in option.env)
    assert len(rows) == len(SETTINGS)


def test_readme_lists_every_exit_code() -> None:
    codes = {row[0] for row in _table_rows(r"\d")}
    documented = {str(int(code)) for code in ExitCode if code not in (ExitCode.INTERRUPTED, ExitCode.TERMINATED)}
    assert documented | {"130 / 143"} == codes


def test_the_architecture_map_names_every_module_of_the_client_and_the_simulator() -> None:
    root = Path(__file__).parent.parent
    package = root / "rancher_deploy"
    architecture = (root / "docs" / "architecture.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `([\w_/]+\.py)` \|", architecture, re.MULTILINE))
    client = {path.name for path in package.glob("*.py") if path.name != "__init__.py"}
    server = {f"serve/{path.name}" for path in (package / "serve").glob("*.py") if path.name != "__init__.py"}
    assert client | server == listed, "docs/architecture.md must have one line per client module"
    simulator_map = (root / "docs" / "simulator.md").read_text(encoding="utf-8")
    simulator = package / "simulator"
    for path in simulator.rglob("*.py"):
        if path.name != "__init__.py" or path.parent == simulator:
            assert f"`{path.name}`" in simulator_map, f"docs/simulator.md does not place {path.relative_to(package)}"


def test_help_points_to_docs_by_an_address_a_user_of_the_package_has() -> None:
    # docs/ is not in the installed package or the image: a help text names a docs file by its path in
    # the source tree and by the repository's address, and the file is there.
    import subprocess
    import sys

    root = Path(__file__).parent.parent
    outputs = [subprocess.run([sys.executable, "-m", "rancher_deploy", *argv], capture_output=True, text=True,
                              check=True, cwd=root).stdout for argv in (["--help"], ["simulate", "--help"])]
    for text in outputs:
        flat = " ".join(text.split())
        mentioned = set(re.findall(r"docs/[\w.-]+\.md", flat))
        assert mentioned, "the help says where the simulator's documentation is"
        for path in mentioned:
            assert f"https://github.com/rancher-deploy/rancher-deploy/blob/main/{path}" in flat, path
            assert (root / path).is_file(), path
