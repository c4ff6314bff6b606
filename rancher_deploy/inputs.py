"""The raw inputs of one run, each read once: flags, a snapshot of the environment, the `.env` file.

Looked up by the settings table's precedence (flag > CI input > environment > `.env` > fallback
variables), recording where each value came from; converting and validating is settings.py's job.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence


class Spelled(Protocol):
    """What the lookup needs of a settings-table row: its spellings in each source."""

    @property
    def name(self) -> str: ...
    @property
    def flag(self) -> str: ...
    @property
    def ci_variables(self) -> tuple[str, ...]: ...
    @property
    def env(self) -> tuple[str, ...]: ...
    @property
    def fallback(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Found:
    """One option's text and where it came from."""

    text: str
    source: str               # `flag --timeout`, `CI input INPUT_TIMEOUT`, `environment ...`, `.env ...`
    fallback: bool = False    # from an Option.fallback variable


@dataclass(frozen=True)
class Inputs:
    """The raw inputs of one run, each read once: the flags, a snapshot of the environment, `.env`.

    CI detection, secret masking, Settings and the report of a failed load all read this one
    snapshot, so they cannot disagree about what was set.
    """

    flags: Mapping[str, Any]
    environ: Mapping[str, str]
    dotenv: Mapping[str, str | None] = dataclasses.field(default_factory=dict)

    @classmethod
    def snapshot(cls, flags: Mapping[str, Any], environ: Mapping[str, str]) -> Inputs:
        """Copy the flags and environment (a later change to os.environ does not reach the run)."""
        return cls(dict(flags), dict(environ))

    def with_dotenv(self, path: str | None) -> Inputs:
        """These inputs plus the `.env` file at `path` (none when `path` is None or missing)."""
        return dataclasses.replace(self, dotenv=read_dotenv(path) if path else {})

    def find(self, option: Spelled) -> Found | None:
        """The option's text from the first source that sets it, by precedence; None when none does."""
        flag = self.flags.get(option.name)
        if isinstance(flag, bool):
            return Found("true" if flag else "false", f"flag {option.flag}")
        if flag not in (None, [], ""):
            return Found(",".join(flag) if isinstance(flag, list) else str(flag), f"flag {option.flag}")
        for layer, label in ((option.ci_variables, "CI input"), (option.env, "environment")):
            hit = _first_set(self.environ, layer)
            if hit is not None:
                return Found(hit[1], f"{label} {hit[0]}")
        hit = _first_set(self.dotenv, option.env)
        if hit is not None:
            return Found(hit[1], f".env {hit[0]}")
        for name in option.fallback:
            path = self.environ.get(name)
            if path and os.path.isfile(path):
                return Found(path, f"environment {name}", fallback=True)
        return None

    def text(self, option: Spelled) -> str | None:
        """One option's unvalidated text, stripped, for reporting after Settings failed to load."""
        found = self.find(option)
        return (found.text.strip() or None) if found else None


def read_dotenv(path: str) -> dict[str, str | None]:
    """The `.env` file's values, or nothing when there is no such file (python-dotenv parses it)."""
    if not os.path.isfile(path):
        return {}
    from dotenv import dotenv_values

    return dict(dotenv_values(path))


def _first_set(mapping: Mapping[str, str | None], names: Sequence[str]) -> tuple[str, str] | None:
    for name in names:
        value = mapping.get(name)
        if value is not None and value.strip() != "":
            return name, value
    return None
