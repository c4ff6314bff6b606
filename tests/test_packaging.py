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
