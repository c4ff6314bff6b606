"""Fleet selection (`--select-image`): which services or workloads a run upgrades, which of their
containers change, and why every other candidate is left alone; pure.

A backend lists the candidates page by page (`Backend.survey`); this module decides, the one place
that does: a candidate is picked when it opted in (one of the opt-in labels has the value `true`),
runs the new image's repository in at least one container (a 1.x sidekick, a 2.x named or init
container counts, and only those containers change), and rests in a state an upgrade starts from.
The settings fleet mode adds are `fleet_options`'s, so that a run naming its targets, which reads the
settings table, never loads this module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Collection, Mapping

from rancher_deploy.events import Chosen, ImageChange, Passed, Selection
from rancher_deploy.fleet_options import Patterns
from rancher_deploy.images import ImageRef, parse_image_uuid
from rancher_deploy.settings import Settings
from rancher_deploy.snapshot import Phase, Snapshot, TargetRef
from rancher_deploy.targets import ServiceTarget, Target, alone

# The one value that opts in. Kubernetes label values are text; YAML's `true` must be quoted there, and
# Rancher 1.x stores what the compose file says, so `True` and `TRUE` count as well.
OPT_IN = "true"

# A container's role in its target: what the plan changes for it (`Pick.own_settings`).
PRIMARY, SIDEKICK = "primary", "sidekick"              # Rancher 1.x: the service's own launch config, a sidekick
CONTAINER, INIT = "container", "init"                  # Rancher 2.x: a pod template's container, init container


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

    def own_settings(self, settings: Settings) -> Settings:
        """The settings this target's plan takes: the new image for its containers that run the
        repository, and for no other (`select` chose them). On 1.x the service's own launch config
        moves when it runs the repository, and each such sidekick by name (none else, whatever
        RANCHER_UPDATE_SIDEKICKS says); on 2.x the containers by name, init containers among them."""
        roles = {container.role for container in self.containers}
        if isinstance(self.candidate.target, ServiceTarget):
            image = settings.image
            assert image is not None  # the settings refuse --select-image without an image
            return replace(settings, image=image if PRIMARY in roles else None, update_sidekicks=False,
                           sidekicks=tuple((container.name, image) for container in self.containers
                                           if container.role == SIDEKICK))
        return replace(settings, containers=tuple(container.name for container in self.containers),
                       init_containers=INIT in roles)


@dataclass(frozen=True, eq=False)   # not compared (nor its report and passed targets): docs/architecture.md, Start-up
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
