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
    listed = set(re.findall(r"^\| `([\w_]+\.py)` \|", architecture, re.MULTILINE))
    client = {path.name for path in package.glob("*.py") if path.name != "__init__.py"}
    assert client == listed, "docs/architecture.md must have one line per client module"
    simulator_map = (root / "docs" / "simulator.md").read_text(encoding="utf-8")
    simulator = package / "simulator"
    for path in simulator.rglob("*.py"):
        if path.name != "__init__.py" or path.parent == simulator:
            assert f"`{path.name}`" in simulator_map, f"docs/simulator.md does not place {path.relative_to(package)}"
