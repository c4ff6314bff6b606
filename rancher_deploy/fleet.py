"""Fleet selection (`--select-image`): which services or workloads a run upgrades, which of their
containers change, and why every other candidate is left alone; pure.

A backend lists the candidates page by page (`Backend.survey`); this module decides, the one place
that does: a candidate is picked when it opted in (one of the opt-in labels has the value `true`),
runs the new image's repository in at least one container (a 1.x sidekick, a 2.x named or init
container counts, and only those containers change), and rests in a state an upgrade starts from.
The settings fleet mode adds are read here too (`Patterns`, `select_label`, `validate_fleet`), so
that `settings` can use them without this module knowing the settings table.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping

from rancher_deploy.choices import PolicyKind, VersionPolicy
from rancher_deploy.errors import ConfigError
from rancher_deploy.events import Chosen, ImageChange, Passed, Selection
from rancher_deploy.images import ImageRef, parse_image_uuid
from rancher_deploy.snapshot import Phase, Snapshot, TargetRef
from rancher_deploy.targets import ServiceTarget, Target, alone

# The opt-in label when RANCHER_SELECT_LABEL is not set: the seed's documented default, and the name its
# prose uses ("adding a container label of autoupdate.enabled=true"); either counts.
SELECT_LABELS = ("autoupdate.enable", "autoupdate.enabled")
# The one value that opts in. Kubernetes label values are text; YAML's `true` must be quoted there, and
# Rancher 1.x stores what the compose file says, so `True` and `TRUE` count as well.
OPT_IN = "true"

# A container's role in its target: what the plan changes for it (`deploy.own_settings`).
PRIMARY, SIDEKICK = "primary", "sidekick"              # Rancher 1.x: the service's own launch config, a sidekick
CONTAINER, INIT = "container", "init"                  # Rancher 2.x: a pod template's container, init container


# -- settings ---------------------------------------------------------------------------------------


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


def unmatched(survey: Survey, patterns: Patterns | None, setting: str, *, shown: int = 10) -> str | None:
    """The warning for patterns that match none of the places seen (a typo, a pattern for the other
    line's names), naming the patterns and at most `shown` of the names seen; None when one matched,
    or nothing was seen (there is then nothing the patterns could have matched), or no patterns were set."""
    if patterns is None or survey.searched or not survey.passed:
        return None
    names = ", ".join(survey.passed[:shown])
    more = len(survey.passed) - shown
    names += f" and {more:,} more" if more > 0 else ""
    return (f"{setting} {patterns} matches none of the {counted(len(survey.passed), survey.place)} seen "
            f"({names}): nothing was searched; a pattern must match a whole name")


def counted(count: int, noun: str) -> str:
    """`count` and `noun`, plural unless one: `1 environment`, `2 environments`, `1,024 more services`."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


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


# -- candidates, as a backend lists them ------------------------------------------------------------


@dataclass(frozen=True)
class Container:
    """One container of a candidate: its name, the image it runs (as users write it) and its role."""

    name: str
    image: str
    role: str


@dataclass(frozen=True)
class Candidate:
    """One service or workload as a fleet listing read it.

    `target` names it as the settings would (`ServiceTarget` with its stack, `WorkloadTarget` with its
    kind), `place` is its environment or namespace, `labels` those its opt-in is read from (1.x: the
    service's launch config; 2.x: the workload's own metadata), `snapshot` what the listing shows of
    it, whose phase says whether an upgrade may start from it.
    """

    ref: TargetRef
    target: Target
    place: str
    labels: Mapping[str, str]
    containers: tuple[Container, ...]
    snapshot: Snapshot


@dataclass(frozen=True)
class Survey:
    """What a backend's fleet listing found (`Backend.survey`).

    `place` is the word for where targets live ("environment", "namespace"), `setting` the setting
    whose patterns chose them, `searched` the places listed, `passed` those the patterns left out,
    `unlisted` what the server itself left out of the lists (2.x: workloads without an opt-in label,
    which Kubernetes filters by a labelSelector), if anything.
    """

    place: str
    setting: str
    searched: tuple[str, ...]
    passed: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    unlisted: str | None = None


def places(names: Collection[str], patterns: Patterns | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(searched, passed): the names the patterns match (every one without patterns), and the others."""
    searched = tuple(name for name in names if patterns is None or patterns.match(name))
    return searched, tuple(name for name in names if name not in searched)


# -- deciding ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    """A candidate to upgrade, and its containers that run the repository: only those change."""

    candidate: Candidate
    containers: tuple[Container, ...]

    @property
    def alone(self) -> tuple[str, ...]:
        """The settings that name this target alone, for advice ("finish it with ... (with `...`)"): fleet
        mode off (a named target and `--select-image` exclude each other), its place and its name."""
        target = self.candidate.target
        where = "RANCHER_ENVIRONMENT" if isinstance(target, ServiceTarget) else "RANCHER_NAMESPACE"
        return "RANCHER_SELECT_IMAGE=false", f"{where}={self.candidate.place}", alone(target)


@dataclass(frozen=True)
class Choice:
    """The picks, in the order listed, and the report of the whole selection (`events.Selection`);
    `others` are the skipped candidates the report only counts (the log lists them when verbose)."""

    picks: tuple[Pick, ...]
    report: Selection
    others: tuple[Passed, ...] = ()


def select(survey: Survey, image: ImageRef, labels: tuple[str, ...], *, requests: int = 0) -> Choice:
    """Decide each candidate of `survey` for `image` and the opt-in `labels`; `requests` is what the
    listing cost (the report says it). Skipped candidates keep their reason; those that neither opted
    in nor run the repository are only counted (`Selection.others`): on a large fleet they are most."""
    picks: list[Pick] = []
    skipped: list[Passed] = []
    others: list[Passed] = []
    for candidate in survey.candidates:
        running = tuple(container for container in candidate.containers if _runs(container.image, image))
        reason = _opt_out(candidate.labels, labels) or _other_repository(candidate, running, image) or _blocked(
            candidate.snapshot)
        if reason is None:
            picks.append(Pick(candidate, running))
            continue
        passed = Passed(candidate.ref.name, candidate.ref.id, candidate.place, reason)
        (others if not running and _label_of(candidate.labels, labels) is None else skipped).append(passed)
    chosen = tuple(Chosen(pick.candidate.ref.name, pick.candidate.ref.id, pick.candidate.place,
                          tuple(ImageChange(container.name, container.image, str(image)) for container in pick.containers))
                   for pick in picks)
    report = Selection(survey.place, image.name, labels, survey.searched, len(survey.passed), len(survey.candidates),
                       requests, chosen, tuple(skipped), len(others), survey.unlisted)
    return Choice(tuple(picks), report, tuple(others))


def repositories(survey: Survey, labels: tuple[str, ...]) -> tuple[ImageRef, ...]:
    """The repositories (no tag) the containers of the opted-in candidates of `survey` run, each once,
    in the order listed: what `rancher-deploy serve` polls when no list is given, as Keel finds what to
    poll from the workloads that opted in. Candidates are judged on their opt-in `labels` alone; the
    polling run of each repository then selects and decides as any fleet run (`select`)."""
    found: dict[str, ImageRef] = {}
    for candidate in survey.candidates:
        if _opt_out(candidate.labels, labels) is None:
            for container in candidate.containers:
                parsed = parse_image_uuid(container.image)
                if parsed is not None:
                    found.setdefault(parsed.canonical_name(), ImageRef.parse(parsed.name))
    return tuple(found.values())


def _runs(running: str, image: ImageRef) -> bool:
    parsed = parse_image_uuid(running)
    return parsed is not None and parsed.same_repository(image)


def _label_of(found: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """The first opt-in label the candidate carries with value true, else the first it carries at all."""
    present = [(name, str(found[name])) for name in names if name in found]
    for name, value in present:
        if value.strip().lower() == OPT_IN:
            return name, value
    return present[0] if present else None


def _opt_out(found: Mapping[str, str], names: tuple[str, ...]) -> str | None:
    label = _label_of(found, names)
    if label is None:
        return f"not opted in: no label {' or '.join(names)}"
    name, value = label
    if value.strip().lower() != OPT_IN:
        return f"label {name} is {value!r}, not true"
    return None


def _other_repository(candidate: Candidate, running: tuple[Container, ...], image: ImageRef) -> str | None:
    if running:
        return None
    if not candidate.containers:
        return "runs no container"
    shown = ", ".join(f"{container.name}={container.image}" for container in candidate.containers)
    return f"runs another repository than {image.name} ({shown})"


def _blocked(snapshot: Snapshot) -> str | None:
    if snapshot.phase in (Phase.BLOCKED, Phase.GONE):
        return f"is {snapshot.state}, which an upgrade does not start from"
    return None


# -- saying it --------------------------------------------------------------------------------------


def describe(selection: Selection, setting: str) -> list[str]:
    """The log's lines for a selection: what was searched, each pick, each skip with its reason, and
    the count of candidates neither opted in nor running the repository. `setting` names the
    patterns' setting (RANCHER_ENVIRONMENTS or RANCHER_NAMESPACES)."""
    noun = "service" if selection.place == "environment" else "workload"
    labels = " or ".join(f"{label}=true" for label in selection.labels)
    where = counted(len(selection.searched), selection.place)
    if selection.searched:
        where += f" ({', '.join(selection.searched)})"
    if selection.not_searched:
        where += f", not {selection.not_searched} more that {setting} does not match"
    lines = [f"Fleet: {noun}s running {selection.repository} with label {labels}, in {where}: {selection.listed} "
             f"listed in {counted(selection.requests, 'request')}"]
    if selection.unlisted:
        lines.append(f"Fleet: {selection.unlisted}")
    for chosen in selection.chosen:
        changes = ", ".join(f"{change.container} {change.previous_image} -> {change.new_image}"
                            for change in chosen.changes)
        lines.append(f"Selected {chosen.target} ({chosen.target_id}): {changes}")
    lines.extend(f"Skipped {passed.target} ({passed.target_id}): {passed.reason}" for passed in selection.skipped)
    if selection.others:
        lines.append(f"Skipped {counted(selection.others, 'more ' + noun)} that neither opted in nor "
                     f"{'runs' if selection.others == 1 else 'run'} {selection.repository} (RANCHER_VERBOSE lists "
                     f"{'it' if selection.others == 1 else 'them'})")
    if not selection.chosen:
        lines.append(f"No target to upgrade: no {noun} listed runs {selection.repository} with label {labels} "
                     f"in a state an upgrade starts from; nothing to do")
    return lines
