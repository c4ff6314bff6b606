"""The Rancher 2.x judges: kubectl's status viewer per workload kind, as a table."""

from __future__ import annotations

import pytest

from rancher_deploy.rollout import VIEWERS, Rollout, WorkloadStatus
from rancher_deploy.snapshot import Goal, Health, Verdict


def rollout(kind: str = "deployment", **fields: object) -> Rollout:
    values: dict[str, object] = {"kind": kind, "name": "web", "generation": 2, "observed_generation": 2,
                                 "baseline_generation": None, "desired": 3, "replicas": 3, "updated": 3,
                                 "ready": 3, "available": 3}
    values.update(fields)
    return Rollout(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reading", "verdict", "message"),
    [
        (rollout(observed_generation=1), Verdict.WAITING, "waiting for deployment 'web' spec update to be observed"),
        # v3 hides the generation: the observed one must pass what was seen before the change.
        (rollout(generation=None, baseline_generation=2), Verdict.WAITING, "waiting for deployment 'web' spec"),
        (rollout(deadline_exceeded="ReplicaSet has timed out"), Verdict.FAILED,
         "deployment 'web' exceeded its progress deadline: ReplicaSet has timed out"),
        (rollout(updated=1), Verdict.WAITING, "1 out of 3 new replicas have been updated"),
        (rollout(replicas=4), Verdict.WAITING, "1 old replicas are pending termination"),
        (rollout(available=2), Verdict.WAITING, "2 of 3 updated replicas are available"),
        (rollout(), Verdict.DONE, "deployment 'web' successfully rolled out: 3/3 available"),
        (rollout("daemonset", updated=1), Verdict.WAITING, "1 of 3 updated replicas are available"),
        (rollout("daemonset"), Verdict.DONE, "daemonset 'web' successfully rolled out"),
        (rollout("statefulset", ready=2), Verdict.WAITING, "2 of 3 replicas are ready"),
        (rollout("statefulset", current_revision="web-1", update_revision="web-2"), Verdict.WAITING,
         "waiting for statefulset 'web' to move to revision web-2"),
        (rollout("statefulset", current_revision="web-2", update_revision="web-2"), Verdict.DONE,
         "statefulset 'web' rolled out: 3/3 ready"),
        (rollout("cronjob", observed_generation=None), Verdict.DONE, "cronjob 'web' updated"),
    ],
)
def test_viewer_per_kind(reading: Rollout, verdict: Verdict, message: str) -> None:
    judgement = VIEWERS[reading.kind](reading)
    assert judgement.verdict is verdict
    assert judgement.message.startswith(message)


def test_every_goal_of_a_workload_is_its_rollout() -> None:
    stalled = WorkloadStatus(rollout(deadline_exceeded="timed out"))
    assert {stalled.judge(goal).verdict for goal in Goal if goal is not Goal.REMOVED} == {Verdict.FAILED}
    assert not stalled.judge(Goal.SETTLED).gone, "a stalled rollout is not a removed workload"


def test_a_workload_waited_on_to_be_removed_is_waiting_while_it_can_be_read() -> None:
    # Gone means the API's 404, which ends the wait; any reading is a workload still there.
    for reading in (rollout(deadline_exceeded="timed out"), rollout()):
        assert WorkloadStatus(reading).judge(Goal.REMOVED).verdict is Verdict.WAITING


def test_health_counts_updated_replicas_that_are_available() -> None:
    assert rollout(updated=2, available=3).health == Health(2, 3, counted="updated replicas available")
    assert rollout(updated=2, available=3).health.counts == ", 2/3 updated replicas available"  # type: ignore[union-attr]
    assert rollout("cronjob").health is None


@pytest.mark.parametrize(("fields", "known"), [
    ({"replicas": 3, "updated": 1, "available": 2, "desired": 2}, 0),   # stalled: 2 old ready, the new one not
    ({"replicas": 3, "updated": 1, "available": 3, "desired": 2}, 1),   # surge: the new one ready too
    ({"replicas": 2, "updated": 2, "available": 1, "desired": 2}, 1),   # no old left: kubectl's available of updated
    ({"replicas": 3, "updated": 3, "available": 3}, 3),
])
def test_health_counts_only_the_available_replicas_that_must_be_updated_ones(fields: dict[str, int],
                                                                              known: int) -> None:
    """kubectl compares availableReplicas with updatedReplicas only once no old replica is left
    (rollout_status.go); before, up to replicas - updated of the available ones may be old."""
    health = rollout(**fields).health
    assert health is not None and health.healthy == known


@pytest.mark.parametrize(
    ("reading", "verdict", "message"),
    [
        # kubectl's StatefulSetStatusViewer order: ready first, then the pods at and above the partition.
        (rollout("statefulset", partition=2, ready=2, updated=0), Verdict.WAITING, "2 of 3 replicas are ready"),
        (rollout("statefulset", partition=2, updated=0), Verdict.WAITING,
         "partitioned roll out: 0 out of 1 new pods have been updated"),
        (rollout("statefulset", partition=2, updated=1, current_revision="web-1", update_revision="web-2"),
         Verdict.DONE, "statefulset 'web' partitioned roll out complete: 1 new pod(s) updated, ordinals 2 and up"),
        (rollout("statefulset", partition=0, updated=2), Verdict.WAITING,
         "partitioned roll out: 2 out of 3 new pods have been updated"),
        (rollout("statefulset", partition=0, current_revision="web-1", update_revision="web-2"), Verdict.DONE,
         "statefulset 'web' rolled out: 3/3 ready"),
        (rollout("statefulset", partition=5, updated=0), Verdict.DONE, "statefulset 'web' partitioned roll out"),
        # OnDelete: kubectl has no rollout to watch; done once the controller saw the spec.
        (rollout("statefulset", strategy="OnDelete", observed_generation=1), Verdict.WAITING,
         "waiting for statefulset 'web' spec update to be observed"),
        (rollout("statefulset", strategy="OnDelete", updated=0, ready=0), Verdict.DONE,
         "statefulset 'web' updated; its pods take the new image only when they are deleted"),
        (rollout("daemonset", strategy="OnDelete", updated=0), Verdict.DONE,
         "daemonset 'web' updated; its pods take the new image only when they are deleted"),
        (rollout("daemonset", strategy="RollingUpdate", updated=1), Verdict.WAITING, "1 of 3 updated replicas"),
    ],
)
def test_statefulset_update_strategies(reading: Rollout, verdict: Verdict, message: str) -> None:
    judgement = VIEWERS[reading.kind](reading)
    assert judgement.verdict is verdict
    assert judgement.message.startswith(message)


def test_a_done_that_does_not_mean_running_says_so() -> None:
    on_delete = VIEWERS["statefulset"](rollout("statefulset", strategy="OnDelete", updated=0))
    assert on_delete.caveat is not None and "only when they are deleted" in on_delete.caveat
    assert "still run the old one" in on_delete.caveat
    partitioned = VIEWERS["statefulset"](rollout("statefulset", partition=2, updated=1))
    assert partitioned.caveat == "the 2 pod(s) below partition 2 keep their image until the partition is lowered"
    assert VIEWERS["statefulset"](rollout("statefulset", partition=0)).caveat is None
    assert VIEWERS["deployment"](rollout()).caveat is None
    assert rollout("statefulset", strategy="OnDelete").health is None
    assert rollout("statefulset", partition=2, updated=1, available=3).health == Health(1, 1, counted="updated replicas available")


def test_every_table_keyed_by_workload_kind_covers_the_one_list_of_kinds() -> None:
    # The kinds are listed once (targets.WORKLOAD_KINDS); each table that needs a row per kind has
    # exactly those rows, so a kind added there without its viewer or resource name fails here.
    from rancher_deploy.targets import WORKLOAD_KINDS
    from rancher_deploy.workload_view import CONTROLLER_REVISION_KINDS, PLURALS

    assert set(VIEWERS) == set(PLURALS) == set(WORKLOAD_KINDS)
    assert set(CONTROLLER_REVISION_KINDS) <= set(WORKLOAD_KINDS)
