"""The flavour-neutral values that cross the seam between the pipeline and each Rancher flavour.

A leaf module (it imports nothing of the package), so the error family can carry the last
`Snapshot` a wait saw, and the judges (`status` for 1.x, `rollout` for 2.x) can return the same
`Judgement` without knowing the pipeline. Nothing here knows a Rancher state name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol


@dataclass(frozen=True)
class TargetRef:
    """A resolved target: enough to find it again and to name it in the log."""

    name: str            # "stack/service", "namespace/deployment:web"
    id: str              # Rancher id: "1s12", "deployment:default:web"
    url: str             # the resource's self link
    # Its page in Rancher's UI at the configured address ("" where unknown), for people: notifications
    # and the JSON result link to it. Not part of the ref's identity.
    ui_url: str = field(default="", compare=False)


class Goal(enum.Enum):
    """What a wait is for; the value is the word the log uses ("was not upgraded after 600s")."""

    UPGRADED = "upgraded"       # Rancher 1.x: the new containers run and are healthy; finish may follow
    ACTIVE = "active"           # Rancher 1.x: finish or rollback completed
    ROLLED_OUT = "rolled out"   # Rancher 2.x: the workload's rollout completed (kubectl's rule)
    SETTLED = "settled"         # any resting state: an earlier process has ended
    RELEASED = "released"       # another run's pending upgrade was finished or rolled back by its owner
    REMOVED = "removed"         # a target this run created and deleted again is gone (RANCHER_CREATE)


class Phase(enum.Enum):
    """Where a target stands, in the terms the pipeline decides on (not Rancher's own names)."""

    READY = "ready"              # resting, may be upgraded (1.x active; 2.x rolled out, or failed)
    PENDING_FINISH = "pending"   # upgraded by someone; finish or roll back before anything else
    BUSY = "busy"                # a process runs; wait for it to settle
    BLOCKED = "blocked"          # resting in a state the tool will not upgrade from (inactive, paused)
    GONE = "gone"                # removed


class Verdict(enum.Enum):
    """A judge's decision on one reading: keep waiting, the goal is reached, or it never will be
    (the wait ends with WaitFailed and the pipeline restores or reports)."""

    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class Judgement:
    """A judge's answer: the verdict and the words the log shows for it.

    `gone` marks a failure because the target was removed: there is nothing left to roll back.
    `caveat` says, for a done verdict, what done does not mean (an OnDelete StatefulSet's pods
    still run the old image), so the last line does not claim the new image runs.
    """

    verdict: Verdict
    message: str
    gone: bool = False
    caveat: str | None = None


class Status(Protocol):
    """A flavour's own typed reading of a target's progress, judged by that flavour's rule."""

    def judge(self, goal: Goal) -> Judgement:
        """Decide this reading against `goal`; pure, so every rule has a table test."""
        ...


@dataclass(frozen=True)
class Health:
    """Containers (1.x) or replicas (2.x) of the new configuration that are healthy, of those wanted.

    `counted` says what the numbers count, as the log shows it after them: "new containers healthy"
    while a 1.x upgrade is pending, "containers healthy" otherwise, "updated replicas available" on 2.x.
    """

    healthy: int
    total: int | None                 # None where nothing says how many are wanted (a global 1.x service)
    unhealthy: tuple[str, ...] = ()   # ids of new containers Rancher reports unhealthy (1.x)
    counted: str = "healthy"

    @property
    def incomplete(self) -> bool:
        """Fewer healthy than wanted (False where nothing says how many are wanted)."""
        return self.total is not None and self.healthy < self.total

    @property
    def counts(self) -> str:
        """", 1/2 new containers healthy" for a log line, or nothing when the total is unknown."""
        return "" if self.total is None else f", {self.healthy}/{self.total} {self.counted}"


@dataclass(frozen=True, eq=False)
class Restore:
    """What a rollback of a target would do, as its backend decides (`Backend.rollback_to`).

    `images`: the (container, image) pairs it would bring back (empty where unknown); `nothing`:
    the backend's words for why there is nothing to roll back to (a reported skip, exit 0), or None.
    """

    images: tuple[tuple[str, str], ...] = ()
    nothing: str | None = None


@dataclass(frozen=True)
class Snapshot:
    """One read of a target, in the pipeline's terms.

    `state` and `message` are Rancher's own words, shown in the log; `phase` is what the pipeline
    decides on; `images` are (container, image) pairs as Rancher reports them now; `raw` is the
    object as read, kept only so that a plan can be built from the whole of it (a 1.x upgrade must
    send the entire launch config back). `restores` is what a rollback would restore where the read
    itself says so (1.x: the pending upgrade's previous launch configs); empty when unknown.
    """

    state: str
    phase: Phase
    images: tuple[tuple[str, str], ...]
    status: Status = field(compare=False)
    message: str | None = None
    health: Health | None = None
    can_finish: bool = False       # an upgrade waits for `finishupgrade` (1.x only)
    can_roll_back: bool = False    # there is something to roll back to
    restores: tuple[tuple[str, str], ...] = ()  # (container, image) a rollback would bring back, where known
    # Changes whenever Rancher accepts a change to the desired state, even one that keeps the images
    # (a forced redeploy): Kubernetes' metadata.generation; None where state and images tell (1.x).
    generation: str | None = None
    # The target's own labels and annotations, where per-target settings are read (its version policy,
    # `policy.POLICY_LABEL`): a 1.x service's primary launch config labels (Rancher shows them as the
    # service's), a 2.x workload's own metadata (not its pod template's); a 1.x service has no annotations.
    labels: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    annotations: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def judge(self, goal: Goal) -> Judgement:
        """This read against `goal`, by the judge of the flavour (and kind) that made it; pure."""
        return self.status.judge(goal)

    def describe(self, *, counts: bool = True) -> str:
        """"upgrading (In Progress), 1/2 healthy": how an error message names the state; without the
        health `counts` where the message says them elsewhere or they would be stale."""
        text = self.state + (f" ({self.message})" if self.message else "")
        return text + (self.health.counts if self.health and counts else "")


def texts(value: Any) -> dict[str, str]:
    """Labels or annotations as Rancher returned them (a JSON object, or null), as text keys and values
    for `Snapshot.labels` and `Snapshot.annotations`: each flavour reads its own, this types them once."""
    if not isinstance(value, Mapping):
        return {}
    return {str(key): "" if item is None else str(item) for key, item in value.items()}
