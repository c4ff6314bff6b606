"""The settings fleet mode (`--select-image`) adds: the name patterns (RANCHER_ENVIRONMENTS,
RANCHER_NAMESPACES), the opt-in label and the check that spans them; apart from `fleet` (the selection
itself) so that a run naming its targets, which reads these rows, does not load the selection; pure.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping

from rancher_deploy.choices import PolicyKind, VersionPolicy
from rancher_deploy.errors import ConfigError

# The opt-in label when RANCHER_SELECT_LABEL is not set: the seed's documented default, and the name its
# prose uses ("adding a container label of autoupdate.enabled=true"); either counts.
SELECT_LABELS = ("autoupdate.enable", "autoupdate.enabled")


@dataclass(frozen=True)
class Patterns:
    """Names (of environments, RANCHER_ENVIRONMENTS, or namespaces, RANCHER_NAMESPACES) that fully match
    one of these regular expressions; `str()` shows them as a JSON array.

    The seed documents AUTOUPDATE_ENVIRONMENT_NAMES both as a JSON array (`[".*"]`, its default) and
    as a comma-separated list (`dev,qa`), so both are read: text that starts with `[` and parses as
    JSON is an array of strings, anything else is split at the commas that stand outside brackets, so
    that a regular expression's own commas stay in it (`prod-{1,3},qa`, `(a|b),c`, `[a,b]x`; an escaped
    `\\,` too). A pattern matches the whole name (`re.fullmatch`): `dev` is `dev`, not `dev-old`.
    """

    texts: tuple[str, ...]
    compiled: tuple[re.Pattern[str], ...] = field(compare=False, repr=False, default=())

    @classmethod
    def parse(cls, text: str) -> Patterns:
        """Read a JSON array of strings or a comma-separated list; ValueError, worded to follow the
        setting's name, for an empty pattern, an item that is not a string, or one that is not a
        regular expression (Python's `re` syntax)."""
        stripped = text.strip()
        items: list[str]
        parsed = _json_array(stripped)
        if parsed is not None:
            for number, item in enumerate(parsed, 1):
                if not isinstance(item, str):
                    raise ValueError(f'must be a JSON array of strings, e.g. ["prod.*", "qa"], but item {number} is '
                                     f"{json.dumps(item)}")
            if not parsed:
                raise ValueError("is an empty list: give at least one pattern, or leave it unset to search every one")
            items = [item.strip() for item in parsed]
        else:
            items = [item.strip() for item in _split_outside_brackets(stripped)]
        if any(item == "" for item in items):
            raise ValueError(f"has an empty pattern in {stripped!r} (one regular expression per item)")
        compiled = []
        for item in items:
            try:
                compiled.append(re.compile(item))
            except re.error as error:
                raise ValueError(f"{item!r} is not a regular expression: {error}") from None
        return cls(tuple(items), tuple(compiled))

    def match(self, name: str) -> bool:
        """Whether `name` fully matches one of the patterns."""
        return any(pattern.fullmatch(name) for pattern in self.compiled)

    def __str__(self) -> str:
        return json.dumps(list(self.texts))


def _json_array(text: str) -> list[Any] | None:
    """`text` as a JSON array when it is one; None for text that is no JSON and holds no `"` (a comma
    list whose first pattern is a character class, `[a-z]+,qa`). ValueError for JSON that is not an
    array, or text that looks like a JSON array (a quote in it) but does not parse."""
    if not text.startswith("["):
        return None
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        if '"' not in text:
            return None
        raise ValueError(f"is not a JSON array of patterns ({error.msg} at character {error.pos})") from None
    if not isinstance(parsed, list):
        raise ValueError('must be a JSON array of strings, e.g. ["prod.*", "qa"]')
    return parsed


# Brackets whose commas belong to the regular expression: a repetition `{1,3}`, a group `(a|b,c)`; in a
# character class `[...]` nothing opens or closes but its `]`.
_OPENS, _CLOSES = "({", ")}"


def _split_outside_brackets(text: str) -> list[str]:
    """`text` split at the commas outside `{}`, `()` and `[]` and not escaped (`\\,`); an unbalanced
    bracket keeps the rest together, and `re` then says what is wrong with that pattern."""
    items: list[str] = []
    current: list[str] = []
    depth, in_class, escaped = 0, False, False
    for character in text:
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif in_class:
            in_class = character != "]"
        elif character == "[":
            in_class = True
        elif character in _OPENS:
            depth += 1
        elif character in _CLOSES:
            depth = max(depth - 1, 0)
        elif character == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        current.append(character)
    items.append("".join(current))
    return items


def select_label(key: str) -> str:
    """A label name as a Kubernetes label selector can carry it, which any 1.x label key of that kind is
    too; ValueError for one with spaces or a selector's operators in it."""
    if any(character.isspace() or character in "=,!()" for character in key):
        raise ValueError(f"{key!r} is not a label name (no spaces, '=', ',', '!' or brackets)")
    return key


def validate_fleet(values: Mapping[str, Any], name: Callable[[str], str], given: Collection[str], *,
                   named: bool, serving: bool = False) -> dict[str, Any]:
    """The settings of a `--select-image` upgrade, which picks the targets and their containers itself:
    naming targets (`named`), asking for atomic, for a target to be created, or for sidekicks or
    containers by name contradicts it, and the image's repository is what it looks for. ConfigError
    (exit 2) naming the setting as the user set it (`name`); `given` holds the options some source set.
    `serving`: the settings of `rancher-deploy serve`, whose runs select so, each for the image a
    request names (so the server's own settings need none). Returns the Settings fields fleet mode fixes."""
    select = "`rancher-deploy serve`" if serving else name("select_image")
    if named:
        which = name("workload") if values["workload"] else name("service")
        raise ConfigError(which, f"names targets, but {select} picks them (every opted-in target running the "
                                 "image's repository); use one of them")
    if values["image"] is None and not serving:
        raise ConfigError(name("image"), f"is required with {select}: the new image, whose repository says which "
                                         "targets to upgrade")
    if "atomic" in given and values["atomic"]:
        raise ConfigError(name("atomic"), f"cannot be true with {select}: the targets it picks are upgraded each "
                                          "on its own (mixed outcomes exit 4)")
    for option in ("create", "sidekick", "container"):
        if option in given and values[option]:
            raise ConfigError(name(option), f"cannot be combined with {select}, which picks the targets and the "
                                            "containers running the image's repository itself")
    # The seed's users get the seed's table (2.0 -> 1.3 no) unless they choose a policy: `newer`. The
    # targets it picks are independent: fleet selection is never atomic.
    policy = values["version_policy"] if "version_policy" in given else VersionPolicy(PolicyKind.NEWER)
    return {"services": (), "workloads": (), "containers": (), "sidekicks": (), "ports": (), "atomic": False,
            "version_policy": policy}
