"""The Rancher 1.x judge: one reading of a service against one goal, as a table."""

from __future__ import annotations

import pytest

from rancher_deploy.snapshot import Goal, Health, Verdict
from rancher_deploy.status import ServiceStatus, Transitioning, judge_service


def seen(state: str, transitioning: str = "no", message: str | None = None, healthy: int | None = 1,
         total: int | None = 2, unhealthy: tuple[str, ...] = ()) -> ServiceStatus:
    health = Health(healthy, total, unhealthy) if healthy is not None else None
    return ServiceStatus(state, Transitioning(transitioning), message, health)


@pytest.mark.parametrize(
    ("observation", "goal", "verdict", "message"),
    [
        (seen("upgrading", "yes", "In Progress"), Goal.UPGRADED, Verdict.WAITING, "upgrading, 1/2 healthy"),
        (seen("upgraded", healthy=2), Goal.UPGRADED, Verdict.DONE, "upgraded, 2/2 healthy"),
        (seen("upgraded", healthy=1), Goal.UPGRADED, Verdict.WAITING,
         "upgraded, 1/2 healthy; waiting for the new containers to be healthy"),
        (seen("upgraded", healthy=None, total=None), Goal.UPGRADED, Verdict.DONE, "upgraded"),
        (seen("upgrading", "error", "Waiting: healthy [container:1i9]"), Goal.UPGRADED, Verdict.FAILED,
         "Rancher reports an error in state upgrading: Waiting: healthy [container:1i9]"),
        (seen("upgrading", "yes", unhealthy=("1i9",)), Goal.UPGRADED, Verdict.FAILED,
         "new container(s) unhealthy: 1i9"),
        (seen("active"), Goal.UPGRADED, Verdict.FAILED, "the service went to state active"),
        (seen("canceled-upgrade"), Goal.UPGRADED, Verdict.FAILED, "the service went to state canceled-upgrade"),
        (seen("removed"), Goal.UPGRADED, Verdict.FAILED, "the service was removed"),
        (seen("finishing-upgrade", "yes"), Goal.ACTIVE, Verdict.WAITING, "finishing-upgrade"),
        (seen("rolling-back", "yes"), Goal.ACTIVE, Verdict.WAITING, "rolling-back"),
        (seen("active", healthy=None, total=None), Goal.ACTIVE, Verdict.DONE, "active"),
        (seen("active", healthy=4, total=4), Goal.ACTIVE, Verdict.DONE, "active, 4/4 healthy"),
        # Cattle ends a rollback `active` once it started the old containers, before their health checks
        # pass (rancher-api.md §3.5): restored means healthy too, as for an upgrade and on 2.x.
        (seen("active", healthy=2, total=4), Goal.ACTIVE, Verdict.WAITING,
         "active, 2/4 healthy; waiting for the containers to be healthy"),
        (seen("rolling-back", "error", "boom"), Goal.ACTIVE, Verdict.FAILED, "Rancher reports an error"),
        (seen("upgraded"), Goal.ACTIVE, Verdict.FAILED, "the service stopped in state upgraded"),
        (seen("upgrading", "yes"), Goal.SETTLED, Verdict.WAITING, "upgrading"),
        (seen("upgraded"), Goal.SETTLED, Verdict.DONE, "settled in state upgraded"),
        # A service this run created, waited on to be removed again: `removing` (even with an error of
        # the process it replaced) is on its way, `removed` is done.
        (seen("removing", "yes"), Goal.REMOVED, Verdict.WAITING, "removing; waiting until it is removed"),
        (seen("activating", "error", "boom"), Goal.REMOVED, Verdict.WAITING, "activating"),
        (seen("removed"), Goal.REMOVED, Verdict.DONE, "removed (state removed)"),
    ],
)
def test_judge(observation: ServiceStatus, goal: Goal, verdict: Verdict, message: str) -> None:
    judgement = judge_service(observation, goal)
    assert judgement.verdict is verdict
    assert judgement.message.startswith(message)
