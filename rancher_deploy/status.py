"""Judging one observation: waiting, done, or failed; pure, so every rule has a table test.

Like kubectl's rollout status, the checks are ordered and Rancher's own failure signal comes first:
`transitioning: error` is how Cattle says a step of the process failed (rancher-api.md §2.2), and
older tools that ignored it waited until their timeout, or forever (rancher/rancher#9692).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from rancher_deploy.backend import Observation


class Goal(enum.Enum):
    """What a wait is for."""

    UPGRADED = "upgraded"     # the new containers run and are healthy; the upgrade may be finished
    ACTIVE = "active"         # finish or rollback completed
    SETTLED = "settled"       # any resting state: an earlier run's process has ended


class Verdict(enum.Enum):
    WAITING = "waiting"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True)
class Judgement:
    verdict: Verdict
    message: str


_GONE = frozenset({"removed", "removing", "purged"})


def judge(observation: Observation, goal: Goal) -> Judgement:
    """Decide one observation against the goal; the message is what the log shows."""
    state = observation.state
    if state in _GONE:
        return Judgement(Verdict.FAILED, f"the service was removed (state {state})")
    if observation.transitioning == "error":
        detail = observation.message or "no message"
        return Judgement(Verdict.FAILED, f"Rancher reports an error in state {state}: {detail}")
    counts = _counts(observation)

    if goal is Goal.SETTLED:
        if observation.transitioning == "no":
            return Judgement(Verdict.DONE, f"settled in state {state}")
        return Judgement(Verdict.WAITING, f"{state}{counts}")

    if goal is Goal.UPGRADED:
        if observation.unhealthy:
            return Judgement(Verdict.FAILED,
                             f"new container(s) unhealthy: {', '.join(observation.unhealthy)}")
        if state == "upgraded" and observation.transitioning == "no":
            return Judgement(Verdict.DONE, f"upgraded{counts}")
        if state == "upgrading":
            return Judgement(Verdict.WAITING, f"upgrading{counts}")
        return Judgement(Verdict.FAILED,
                         f"the service went to state {state} while the upgrade was running "
                         "(did someone else finish, cancel or roll it back?)")

    if state == "active" and observation.transitioning == "no":
        return Judgement(Verdict.DONE, f"active{counts}")
    if observation.transitioning == "yes":
        return Judgement(Verdict.WAITING, f"{state}{counts}")
    return Judgement(Verdict.FAILED, f"the service stopped in state {state} instead of active")


def _counts(observation: Observation) -> str:
    if observation.healthy is None or observation.total is None:
        return ""
    return f", {observation.healthy}/{observation.total} healthy"
