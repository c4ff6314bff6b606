"""The values the pipeline hands to its sinks: progress events while it runs, one Outcome at the end.

`deploy` emits these and never prints; `report` (human log, `--output json`) and `ci` (GitHub,
GitLab, Drone/Woodpecker) consume them. Keeping them plain frozen values is what lets every sink be
tested without a Rancher and lets the pipeline be tested without a terminal.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable

from rancher_deploy.errors import DeployError, ExitCode


class Level(enum.Enum):
    """How loudly a sink should show an event (GitHub turns WARNING/ERROR into annotations)."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class Step:
    """One line of the log: a step started or done ("Found service web/app (1s12) ...")."""

    message: str
    level: Level = Level.INFO
    target: str | None = None
    # The emitter's word that the message names its target where it does not begin with it
    # ("Upgrade of shop/web requested"): the log then does not prefix it (`report.step_text`).
    named: bool = False


@dataclass(frozen=True, eq=False)
class Progress:
    """A waiting line: emitted when the observed state changes, and as a periodic heartbeat."""

    target: str
    state: str
    message: str | None
    healthy: int | None
    total: int | None
    elapsed_seconds: float
    counted: str = "healthy"       # what healthy/total count ("new containers healthy"; `snapshot.Health`)


@dataclass(frozen=True, eq=False)
class GroupStart:
    """A foldable section begins (GitHub `::group::`, GitLab collapsible section)."""

    title: str


@dataclass(frozen=True, eq=False)
class GroupEnd:
    """The current foldable section ends."""


Event = Step | Progress | GroupStart | GroupEnd
Emit = Callable[[Event], None]


class Result(enum.Enum):
    """What happened to one target; the overall exit code follows from the worst of them."""

    UPGRADED = "upgraded"          # on the new image and finished (active)
    UPGRADED_UNFINISHED = "upgraded-unfinished"  # on the new image, left `upgraded` (--no-finish)
    CREATED = "created"            # did not exist; created from the image (RANCHER_CREATE) and healthy
    UNCHANGED = "unchanged"        # already on that image (or nothing to roll back to); nothing sent
    SKIPPED = "skipped"            # the version policy said no, with its reason; nothing sent
    PLANNED = "planned"            # --dry-run: the plan was printed, nothing sent
    FINISHED = "finished"          # `finish` subcommand completed a pending upgrade
    REVERTED = "reverted"          # `rollback` subcommand restored the previous configuration
    ROLLED_BACK = "rolled-back"    # failed, then restored to the previous configuration (created by the run: removed)
    NOT_UPGRADED = "not-upgraded"  # the run failed before changing it (refused, or another target failed first)
    FAILED = "failed"              # failed; the target could not be restored or its state is unknown
    INTERRUPTED = "interrupted"    # a signal stopped the wait: RANCHER_ON_INTERRUPT=report left it, or an action
    #                                (a rollback it started) was still under way in Rancher; its state is named
    STATUS = "status"              # `status` subcommand: only reported


@dataclass(frozen=True, eq=False)
class ImageChange:
    """One container of a target: which image it ran and which it runs now (or would)."""

    container: str
    previous_image: str
    new_image: str


@dataclass(frozen=True, eq=False)
class TargetOutcome:
    """The end of one target's run, as the JSON result and the CI summaries show it."""

    target: str                    # human name: "stack/service" or "namespace/deployment"
    target_id: str                 # Rancher id: "1s12", "deployment:default:web"
    result: Result
    state: str                     # the target's last observed state in Rancher
    changes: tuple[ImageChange, ...] = ()
    message: str = ""
    duration_seconds: float = 0.0
    ui_url: str = ""               # its page in Rancher's UI, where known (`snapshot.TargetRef.ui_url`)
    # What the run did that the user may not expect, as the log warned it: a redeploy of a tag that
    # will not be pulled again (1.x latest -> latest without io.rancher.container.pull_image=always),
    # a container moved to another repository, ... (`plan.Plan.warnings`, `Plan.redeploy_warnings`).
    warnings: tuple[str, ...] = ()
    # The (container, image) pairs Rancher showed at the run's last read of the target, which is what
    # the result's `image` says it runs; None where the run ended without such a read (the result then
    # tells: the previous image after a failure before any change, the requested one once done).
    running: tuple[tuple[str, str], ...] | None = None
    # What a person runs next on this target where the run leaves it needing something (exit 4), as its
    # message says it, in the words that work for that flavour in that state; "" where nothing is needed.
    # The run's last line repeats it per target (`report.last_words`).
    next_step: str = ""


@dataclass(frozen=True, eq=False)
class Chosen:
    """A target fleet selection (`--select-image`) picked, and its containers that change."""

    target: str
    target_id: str
    place: str                     # its environment (1.x) or namespace (2.x)
    changes: tuple[ImageChange, ...]


@dataclass(frozen=True, eq=False)
class Passed:
    """A candidate fleet selection left alone, and why ("not opted in: ...", "runs another repository ...")."""

    target: str
    target_id: str
    place: str
    reason: str


@dataclass(frozen=True, eq=False)
class Selection:
    """What a fleet run searched and found (`fleet.select`), for the log's summary and the JSON result.

    `place` is "environment" (1.x) or "namespace" (2.x); `searched` the places whose names the
    patterns matched, `not_searched` how many others did not; `listed` the candidates read, in
    `requests` requests; `others` how many skipped candidates `skipped` leaves out (neither opted
    in nor running the repository); `unlisted` what the server filtered out of the lists, if anything.
    """

    place: str
    repository: str
    labels: tuple[str, ...]
    searched: tuple[str, ...] = ()
    not_searched: int = 0
    listed: int = 0
    requests: int = 0
    chosen: tuple[Chosen, ...] = ()
    skipped: tuple[Passed, ...] = ()
    others: int = 0
    unlisted: str | None = None


@dataclass(frozen=True, eq=False)
class Outcome:
    """The whole run; its exit code is derived by `exit_code`, from the results and any error."""

    command: str
    targets: tuple[TargetOutcome, ...] = ()
    api_calls: int = 0
    duration_seconds: float = 0.0
    flavour: str = ""
    interrupted_by: int | None = None   # signal number when a SIGINT/SIGTERM cut the run short
    selection: Selection | None = None  # fleet mode: what was searched, picked and skipped


# Errors that mean "nothing was changed": when a signal was received, the signal is the reason the
# run stopped (a request cut short, a refusal on the way out), so the caller is told "interrupted".
_BEFORE_ANY_CHANGE = (ExitCode.USAGE, ExitCode.RANCHER_UNAVAILABLE)


def exit_code(outcome: Outcome | None, error: DeployError | None = None, *,
              signal_number: int | None = None) -> ExitCode:
    """The one mapping from how a run ended to its exit code (the README's "Exit codes" table).

    A run ends with an Outcome or with an error (pass `outcome=None` then). An error's class names
    its code, except that an error meaning "nothing was changed" after a signal (`signal_number`)
    becomes 128 + the signal. For an Outcome the worst target decides: a target in unknown shape, or
    targets left in different states (one restored or never changed because the run failed, another
    changed), is 4 and outranks an interruption (130/143), which outranks a failure after which every
    touched target is back where it started (1); anything else is done (0).
    """
    if error is not None:
        if signal_number is not None and error.exit_code in _BEFORE_ANY_CHANGE:
            return ExitCode.for_signal(signal_number)
        return error.exit_code
    if outcome is None:
        raise ValueError("exit_code needs an outcome or an error")
    results = {target.result for target in outcome.targets}
    if Result.FAILED in results or mixed(outcome.targets):
        return ExitCode.NEEDS_ATTENTION
    if outcome.interrupted_by is not None:
        return ExitCode.for_signal(outcome.interrupted_by)
    if results & _FAILED_BACK:
        return ExitCode.ROLLED_BACK
    return ExitCode.OK


def unreported(code: ExitCode) -> ExitCode:
    """The exit code of a run whose result could not be written where it was asked for (`--output
    json` into a full disk): not 0, which would pass for done while the pipeline reading the result
    gets nothing; 4, needs attention, since the run may have changed targets (the log names each one's
    state). Any other code already says the run did not simply work, and stays."""
    return ExitCode.NEEDS_ATTENTION if code is ExitCode.OK else code


def mixed(targets: tuple[TargetOutcome, ...]) -> bool:
    """Targets ended in different states: one the run failed on is as it was, another was changed and kept."""
    results = {target.result for target in targets}
    return bool(results & _FAILED_BACK and results & _CHANGED)


# A target the run failed on that is back where it started, and one the run changed and left changed.
_FAILED_BACK = frozenset({Result.ROLLED_BACK, Result.NOT_UPGRADED})
_CHANGED = frozenset({Result.UPGRADED, Result.UPGRADED_UNFINISHED, Result.CREATED, Result.FINISHED, Result.REVERTED})
