"""One row of the settings table: how an option is spelled in each source and how its text becomes a value.

Kept apart from the table itself (`settings`) so that adding a row never grows the machinery: the
converters here are pure, one per `Kind`, and raise ValueError worded to follow the option's name;
`settings` turns that into the ConfigError naming the setting the way the user set it.
"""

from __future__ import annotations

import enum
import json
import math
import os
from dataclasses import dataclass
from typing import Any, Callable

from rancher_deploy.choices import Command

# Upper bounds of durations, in seconds (Option.maximum). Past them a value is a slip (milliseconds
# for seconds, a stray exponent: 1e20), which Python's own waits would refuse mid-run: a socket timeout
# or a threading wait from about 1e10 s raises OverflowError ("timestamp out of range for platform
# time_t"). A day is longer than a CI job may run (GitHub-hosted: 6 hours).
HOUR = 3600.0
DAY = 24 * HOUR
WEEK = 7 * DAY

TRUE_WORDS = frozenset({"true", "1", "yes", "on", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", "n"})


class Kind(enum.Enum):
    """How the text of a setting becomes a value, and which argparse action reads its flag."""

    TEXT = "text"
    SECRET = "secret"
    LIST = "list"            # comma separated; a flag may also be repeated
    LINES = "lines"          # one item per line, or comma separated on one line; a flag may be repeated
    BOOL = "bool"
    SECONDS = "seconds"      # positive number of seconds
    COUNT = "count"          # positive integer
    CHOICE = "choice"


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class Option:
    """One row of the settings table.

    `default` is the typed value used when no source sets the option. `field` is the Settings
    attribute the value lands in: "" for the option's own name, None for an option that only shapes
    another field (the stack and namespace of the targets). `parse` turns the text (each item, for a
    LIST; the word, for a CHOICE among `choices`) into its value type, raising ValueError worded for
    the user. `fallback` names variables other tools define for the same file, honoured last (after
    `.env`), from the environment only, the first one set; set for those tools rather than for us,
    they give way to RANCHER_INSECURE, but one that names no file is an error like our own variable's.
    `minimum` and `maximum` bound a SECONDS or COUNT value (every such row has both: a number past
    what a timer, a socket or Rancher takes would otherwise end the run in an OverflowError, or
    hang it for years). `keyed`: the items are KEY=VALUE (NAME=IMAGE), so a map may give them
    (`convert`).
    """

    name: str
    env: tuple[str, ...]
    kind: Kind
    help: str
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    commands: tuple[Command, ...] = tuple(Command)
    metavar: str | None = None
    field: str | None = ""
    parse: Callable[[str], Any] | None = None
    fallback: tuple[str, ...] = ()
    keyed: bool = False

    def applies_to(self, command: Command) -> bool:
        """Whether `command` reads this option: `serve` reads its own and every upgrade option, since each
        run it starts is an upgrade with the server's settings."""
        return command in self.commands or (command is Command.SERVE and Command.UPGRADE in self.commands)

    @property
    def serve_only(self) -> bool:
        """An option of the server alone, which no CI step reads (no action input, no CI template variable)."""
        return self.commands == (Command.SERVE,)

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def input_id(self) -> str:
        """The GitHub input / Drone-Woodpecker setting name (`access-key`)."""
        return self.name.replace("_", "-")

    @property
    def ci_variables(self) -> tuple[str, ...]:
        """Both spellings of the CI inputs: GitHub and Drone keep hyphens, Woodpecker turns them into `_`."""
        hyphen = self.input_id.upper()
        underscore = self.name.upper()
        names: list[str] = []
        for prefix in ("INPUT_", "PLUGIN_"):
            for spelling in dict.fromkeys((hyphen, underscore)):
                names.append(prefix + spelling)
        return tuple(names)

    @property
    def secret(self) -> bool:
        return self.kind is Kind.SECRET

    @property
    def switch(self) -> bool:
        """A true/false option: its flag has a `--no-` form, and a message may name it by either."""
        return self.kind is Kind.BOOL

    @property
    def separator(self) -> str:
        """How the items of a repeated flag are joined into one text (`Inputs.find`): by lines for a
        LINES option, whose items may hold commas, else by commas."""
        return "\n" if self.kind is Kind.LINES else ","

    @property
    def attribute(self) -> str | None:
        """The Settings field this option fills, or None."""
        return self.name if self.field == "" else self.field

    @property
    def setting(self) -> str:
        """The option's canonical name, its first environment variable: what code that has no Inputs
        (a backend) puts in a ConfigError; the CLI renames it the way the user set it (`Inputs.name`)."""
        return self.env[0]


def ca_location(path: str) -> str:
    """A CA file, or a directory of hashed CA files (`c_rehash`), which requests also takes as `verify`
    (HTTPAdapter.cert_verify); REQUESTS_CA_BUNDLE set to one worked before this tool read it itself."""
    if not os.path.isfile(path) and not os.path.isdir(path):
        raise ValueError(f"no such file {path!r}")
    return path


def show_default(value: Any) -> str:
    """A default as `--help` and the docs show it: true/false, 600 rather than 600.0."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def convert(option: Option, text: str) -> Any:
    """The option's text as its typed value; raises ValueError worded to follow the option's name.

    A list may also arrive as JSON, the way Drone and Woodpecker pass a setting that is not a plain
    scalar list (docs/ci-conventions.md, sections 4 and 5: a map, and a list holding a map, as JSON;
    Woodpecker's `from_secret` in a list item too): see `json_items`.
    """
    if option.kind in (Kind.LIST, Kind.LINES):
        items = json_items(text, keyed=option.keyed)
        if items is not None:
            if any(item.strip() == "" for item in items):
                raise ValueError("has an empty item in its JSON list")
            return tuple(_parsed(option, item.strip() if not option.keyed else item) for item in items)
    return _CONVERTERS[option.kind](option, text)


def json_items(text: str, *, keyed: bool) -> tuple[str, ...] | None:
    """The items of a list given as JSON, as the text items the converters take; None for text that is
    not such JSON (the plain forms: comma separated, one per line).

    Drone (drone-runner-docker `internal/encoder/encoder.go`) and Woodpecker
    (`pipeline/frontend/yaml/compiler/settings/params.go`) pass a YAML list of scalars joined by
    commas, but a map, or a list holding a map or a list, as JSON. So for a `keyed` option
    (KEY=VALUE items) a JSON object is its items (`set_env: {DB_PASSWORD: x}` ->
    `{"DB_PASSWORD":"x"}`), and a JSON array's objects are too; an array's text, number and true/false
    items are items as written. Text that starts with `[` but is no JSON array is left to the plain
    forms (an IPv6 registry, `[::1]:5000`); text that starts with `{` must be a JSON object for a
    keyed option, whose keys cannot start with `{`. Raises ValueError (values never quoted: they may
    be secrets).
    """
    stripped = text.strip()
    if not stripped.startswith("[") and not (keyed and stripped.startswith("{")):
        return None
    try:
        value = json.loads(stripped, object_pairs_hook=_Map)
    except ValueError as error:
        if stripped.startswith("["):
            return None
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "not JSON"
        raise ValueError(f"starts like a JSON object (a Drone/Woodpecker map) but is not one: {reason}") from None
    if isinstance(value, _Map):
        return _pair_items(value)
    if not isinstance(value, list):
        return None
    items: list[str] = []
    for item in value:
        if isinstance(item, _Map) and keyed:
            items.extend(_pair_items(item))
        elif isinstance(item, (str, int, float, bool)):
            items.append(_scalar(item))
        else:
            raise ValueError("has an item in its JSON list that is neither text nor a number"
                             + (" nor a KEY: VALUE map" if keyed else ""))
    return tuple(items)


class _Map(list[tuple[str, Any]]):
    """A JSON object's pairs in order, a key given twice kept twice: the edits' own check then names a
    key set twice (`envlabels.edit_conflicts`), which a dict would have dropped silently."""


def _pair_items(pairs: _Map) -> tuple[str, ...]:
    """A JSON object's pairs as KEY=VALUE items (a null value, YAML's `KEY:`, is empty); a value that is
    a map or a list is refused, and never shown."""
    items = []
    for key, value in pairs:
        if "=" in key:
            raise ValueError(f"has a key with '=' in it, {key!r}")
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise ValueError(f"the value of {key} is a map or a list, not text (value not shown)")
        items.append(f"{key}={'' if value is None else _scalar(value)}")
    return tuple(items)


def _scalar(value: str | int | float | bool) -> str:
    """A JSON scalar as the text a plain setting would hold: `true`/`false` as Woodpecker writes a YAML
    boolean, numbers as written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _parsed(option: Option, value: str) -> Any:
    return value if option.parse is None else option.parse(value)


def _to_text(option: Option, text: str) -> Any:
    value = text.strip()
    if any(ord(character) < 32 for character in value):
        hidden = " (value not shown)" if option.secret else ""
        raise ValueError(f"contains control characters{hidden}")
    return _parsed(option, value)


def _to_list(option: Option, text: str) -> tuple[Any, ...]:
    items = tuple(item.strip() for item in text.split(","))
    if any(item == "" for item in items):
        raise ValueError(f"has an empty item in {text.strip()!r}")
    return tuple(_parsed(option, item) for item in items)


def _to_lines(option: Option, text: str) -> tuple[Any, ...]:
    """One item per line (blank lines skipped: a YAML block ends in one), or, on one line, comma
    separated: Drone joins a YAML list with commas, so an item holding a comma needs its own line."""
    if "\n" in text.strip():
        items = tuple(line.strip() for line in text.splitlines() if line.strip())
    else:
        items = tuple(item.strip() for item in text.strip().split(","))
        if any(item == "" for item in items):
            raise ValueError("has an empty item (items are one per line, or comma separated on one line)")
    return tuple(_parsed(option, item) for item in items)


def _to_bool(option: Option, text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"must be true or false (or yes/no, 1/0, on/off), got {text!r}")


def _to_seconds(option: Option, text: str) -> float:
    try:
        value = float(text.strip().removesuffix("s"))
    except ValueError:
        raise ValueError(f"must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"must be a finite number of seconds, got {text!r}")
    return _bounded(option, value, text)


def _to_count(option: Option, text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError(f"must be a whole number, got {text!r}") from None
    return int(_bounded(option, value, text))


def _bounded(option: Option, value: float, text: str) -> float:
    """`value` when it lies within the option's bounds, else ValueError naming the bound crossed."""
    if option.minimum is not None and value < option.minimum:
        raise ValueError(f"must be at least {show_default(option.minimum)}, got {text.strip()!r}")
    if option.maximum is not None and value > option.maximum:
        raise ValueError(f"must be at most {show_default(option.maximum)}, got {text.strip()!r}")
    return value


def _to_choice(option: Option, text: str) -> Any:
    value = text.strip().lower()
    if value not in option.choices:
        raise ValueError(f"must be one of {', '.join(option.choices)}, got {text!r}")
    return _parsed(option, value)


_CONVERTERS: dict[Kind, Callable[[Option, str], Any]] = {
    Kind.TEXT: _to_text,
    Kind.SECRET: _to_text,  # the same check; a secret's error says its value is not shown
    Kind.LIST: _to_list,
    Kind.LINES: _to_lines,
    Kind.BOOL: _to_bool,
    Kind.SECONDS: _to_seconds,
    Kind.COUNT: _to_count,
    Kind.CHOICE: _to_choice,
}
