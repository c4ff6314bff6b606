"""The state machine without HTTP: a store on a frozen clock, moved only by advance()."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rancher_deploy.simulator.cattle.errors import ApiError
from rancher_deploy.simulator.cattle.models.instance import InstanceState
from rancher_deploy.simulator.cattle.models.process import PROCESSES, service_actions
from rancher_deploy.simulator.cattle.models.service import Service
from rancher_deploy.simulator.cattle.store import Store
from rancher_deploy.simulator.cattle.store.base import parse_id
from rancher_deploy.simulator.clock import SimClock, Timing
from rancher_deploy.simulator.faults import Faults

T = Timing(speed=0.0)  # stop 1, start 2, health 3, interval from the request
CONFIG: dict[str, Any] = {"imageUuid": "docker:web:1", "healthCheck": {"port": 80}}


def make_store(faults: Faults | None = None) -> Store:
    return Store("AK", "SK", T, faults or Faults())


def upgraded_config(image: str = "web:2") -> dict[str, Any]:
    config = copy.deepcopy(CONFIG)
    config["imageUuid"] = f"docker:{image}"
    return config


def seeded(scale: int = 2, faults: Faults | None = None) -> tuple[Store, str]:
    store = make_store(faults)
    stack = store.seed_stack("shop")
    svc = store.seed_service(stack.id, "web", copy.deepcopy(CONFIG), scale=scale)
    return store, svc.id


def state(store: Store, sid: str) -> str:
    store.settle()
    return store.get_service("1a5", sid).state


def upgrade(store: Store, sid: str, **strategy: Any) -> None:
    body = {"inServiceStrategy": {"launchConfig": upgraded_config(), **strategy}}
    store.service_action("1a5", sid, "upgrade", body, "v2-beta")


# ---- the table ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("state_name", "expected"),
    [
        ("registering", {"remove"}),
        ("inactive", {"activate", "update", "remove", "upgrade"}),
        ("active", {"update", "deactivate", "remove", "upgrade", "restart"}),
        ("upgrading", {"update", "remove", "cancelupgrade", "rollback"}),
        ("upgraded", {"remove", "rollback", "finishupgrade"}),
        ("finishing-upgrade", {"update", "remove", "cancelupgrade"}),
        ("rolling-back", {"update", "remove"}),
        ("canceled-upgrade", {"remove", "continueupgrade", "rollback"}),
        ("restarting", {"activate", "deactivate", "remove"}),
        ("removed", set()),
    ],
)
def test_actions_offered_per_state_follow_the_process_table(state_name: str, expected: set[str]) -> None:
    links = {"addservicelink", "removeservicelink", "setservicelinks"} if expected else set()
    assert set(service_actions(state_name)) == expected | links


def test_v1_never_offers_continueupgrade() -> None:
    assert "continueupgrade" not in service_actions("canceled-upgrade", "v1")


def test_every_process_has_a_transitioning_state_except_update() -> None:
    assert all(p.transitioning for name, p in PROCESSES.items() if name != "update")


def test_ids_resolve_by_their_number_whatever_the_letters() -> None:
    assert parse_id("1st5") == parse_id("1e5") == 5
    assert parse_id("nope") is None


# ---- upgrade -----------------------------------------------------------------------------------

def test_upgrade_swaps_launch_config_at_acceptance_and_keeps_previous() -> None:
    store, sid = seeded()
    upgrade(store, sid)
    svc = store.get_service("1a5", sid)
    assert svc.state == "upgrading"
    assert svc.launch_config["imageUuid"] == "docker:web:2"
    assert svc.launch_config["version"] not in (None, "0")
    strategy = svc.upgrade["inServiceStrategy"] if svc.upgrade else {}
    assert strategy["previousLaunchConfig"] == CONFIG
    assert strategy["batchSize"] == 1 and strategy["intervalMillis"] == 2000


def test_upgrade_walks_batches_deterministically() -> None:
    store, sid = seeded(scale=2)
    upgrade(store, sid, intervalMillis=5000)
    svc = store.get_service("1a5", sid)
    store.advance(0.5)  # batch 1: old container stopping
    assert [i.state.value for i in svc.instances] == ["stopping", "running"]
    store.advance(1.0)  # stopped, replacement starting
    assert [i.state.value for i in svc.instances] == ["stopped", "running", "starting"]
    store.advance(2.0 + 3.0)  # replacement running and healthy: interval begins
    assert svc.instances[2].health_state(store.now(), False) == "healthy"
    assert state(store, sid) == "upgrading"
    store.advance(5.0 + 6.0)  # interval, then batch 2 completes
    assert state(store, sid) == "upgraded"
    assert [i.state.value for i in svc.instances] == ["stopped", "stopped", "running", "running"]
    assert {i.version for i in svc.instances[2:]} == {svc.launch_config["version"]}


def test_start_first_starts_the_replacement_before_stopping_the_old() -> None:
    store, sid = seeded(scale=1)
    upgrade(store, sid, startFirst=True)
    svc = store.get_service("1a5", sid)
    store.advance(1.0)
    assert [i.state.value for i in svc.instances] == ["running", "starting"]
    store.advance(10)
    assert state(store, sid) == "upgraded"


def test_start_first_refused_with_retain_ip() -> None:
    store = make_store()
    stack = store.seed_stack("shop")
    svc = store.seed_service(stack.id, "web", dict(CONFIG), retain_ip=True)
    with pytest.raises(ApiError) as caught:
        upgrade(store, svc.id, startFirst=True)
    assert caught.value.code == "InvalidOption"
    assert caught.value.field_name == "StartFirst option can't be used for service with retainIp field set"


def test_finishupgrade_removes_the_old_containers() -> None:
    store, sid = seeded()
    upgrade(store, sid)
    store.advance(60)
    store.service_action("1a5", sid, "finishupgrade", {}, "v2-beta")
    assert state(store, sid) == "finishing-upgrade"
    store.advance(5)
    svc = store.get_service("1a5", sid)
    assert svc.state == "active"
    assert [i.image_uuid for i in svc.live()] == ["docker:web:2", "docker:web:2"]
    assert svc.upgrade is not None  # stays populated after finish


def test_finishupgrade_is_active_before_the_old_containers_are_gone() -> None:
    # Cattle 1.6 (UpgradeManagerImpl.cleanupUpgradedInstances) schedules each old container's remove
    # and does not wait: the service is active after the reconcile, the old ones still removing.
    store, sid = seeded()
    upgrade(store, sid)
    store.advance(60)
    svc = store.get_service("1a5", sid)
    restarted = svc.instances[0]  # an old container started again by hand: stop chained to remove
    restarted.begin(InstanceState.RUNNING, store.now(), 0.0, T)
    store.advance(0.0)
    assert [i.state.value for i in svc.instances[:2]] == ["running", "stopped"]
    store.service_action("1a5", sid, "finishupgrade", {}, "v2-beta")
    store.advance(T.finish_reconcile)
    assert state(store, sid) == "active"
    assert [i.state.value for i in svc.instances[:2]] == ["stopping", "removing"]
    store.advance(T.finish_cleanup)  # the stopped one is gone; the restarted one is now removing
    assert [i.state.value for i in svc.instances[:2]] == ["removing", "removed"]
    store.advance(T.container_stop)
    assert [i.state.value for i in svc.instances[:2]] == ["removed", "removed"]
    assert restarted.removed_at == pytest.approx(60 + T.container_stop + T.finish_cleanup, abs=1e-6)


def test_a_container_being_removed_is_not_started_or_stopped_again() -> None:
    store, sid = seeded()
    svc = store.get_service("1a5", sid)
    inst = svc.instances[0]
    inst.remove(store.now(), T)  # running: stopping, with the remove chained
    inst.begin(InstanceState.RUNNING, store.now(), 0.0, T)
    assert inst.state is InstanceState.STOPPING
    store.advance(T.container_stop)
    inst.settle(store.now())
    inst.begin(InstanceState.STOPPED, store.now(), 1.0, T)
    inst.begin(InstanceState.RUNNING, store.now(), 1.0, T)
    assert inst.state is InstanceState.REMOVING


def test_rollback_restores_config_at_acceptance_and_restarts_old_containers() -> None:
    store, sid = seeded()
    old_ids = [i.id for i in store.get_service("1a5", sid).instances]
    upgrade(store, sid)
    store.advance(60)
    store.service_action("1a5", sid, "rollback", {}, "v2-beta")
    svc = store.get_service("1a5", sid)
    assert svc.state == "rolling-back"
    assert svc.launch_config == CONFIG
    store.advance(60)
    assert state(store, sid) == "active"
    assert [i.id for i in svc.live()] == old_ids
    assert all(i.state.value == "running" for i in svc.live())


def test_a_rollback_while_a_batch_is_between_stop_and_start_gives_that_unit_a_container_again() -> None:
    # The upgrade stopped the first old container and its replacement is not made yet: Cattle never marks
    # that unit back, so the rollback's cleanup removes the old container and its reconcile makes the unit
    # a new one (ServiceRollback, UpgradeManagerImpl), rather than leaving the unit short.
    store, sid = seeded(scale=3)
    upgrade(store, sid)
    store.advance(0.5)   # stopping the first old container (1 s)
    store.service_action("1a5", sid, "rollback", {}, "v2-beta")
    svc = store.get_service("1a5", sid)
    store.advance(60)
    assert state(store, sid) == "active"
    assert len(svc.live()) == 3 and all(i.state is InstanceState.RUNNING for i in svc.live())


def test_cancel_then_continue_finishes_the_upgrade() -> None:
    store, sid = seeded(scale=3)
    upgrade(store, sid)
    store.advance(7)  # first batch done (1 + 2 + 3 + a little)
    store.service_action("1a5", sid, "cancelupgrade", {}, "v2-beta")
    assert state(store, sid) == "canceling-upgrade"
    store.advance(2)
    assert state(store, sid) == "canceled-upgrade"
    svc = store.get_service("1a5", sid)
    assert sum(i.image_uuid == "docker:web:2" for i in svc.live()) == 1
    store.service_action("1a5", sid, "continueupgrade", {}, "v2-beta")
    assert state(store, sid) == "upgrading"
    store.advance(60)
    assert state(store, sid) == "upgraded"
    assert sum(i.image_uuid == "docker:web:2" for i in svc.live()) == 3


def upgrading_ten_seconds_with(fault: str) -> tuple[Store, Service]:
    """A scale-1 service 10 s into an upgrade to web:2, which the fault (a Faults method) hits."""
    faults = Faults()
    getattr(faults, fault)("web:2")
    store, sid = seeded(scale=1, faults=faults)
    upgrade(store, sid)
    store.advance(10)
    return store, store.get_service("1a5", sid)


def test_unhealthy_image_sticks_in_upgrading_with_rancher_wait_message_and_no_error() -> None:
    # UpgradeManagerImpl.waitForHealthyState times out after 45 s; ActivityLogImpl records a timeout
    # as not failed, so transitioning stays "yes" and only the message names the container.
    store, svc = upgrading_ten_seconds_with("unhealthy_image")
    assert svc.transitioning_fields() == ("yes", "In Progress")
    store.advance(45)
    new_id = svc.instances[-1].id
    assert svc.state == "upgrading"
    assert svc.transitioning_fields() == ("yes", f"Waiting: healthy [container:{new_id}]")
    assert svc.health_state(store.now(), store.unhealthy) == "initializing"
    store.advance(3600)
    assert (svc.state, svc.transitioning_fields()[0]) == ("upgrading", "yes")
    assert svc.instances[-1].id == new_id, "without initializingTimeout the container is kept"


def test_a_container_stuck_initializing_is_removed_and_recreated_after_its_initializing_timeout() -> None:
    # HealthcheckCleanupMonitorImpl: strategy other than none + initializingTimeout (ms).
    faults = Faults()
    faults.unhealthy_image("web:2")
    store, sid = seeded(scale=1, faults=faults)
    config = dict(upgraded_config(), healthCheck={"port": 80, "strategy": "recreate", "initializingTimeout": 60000})
    store.service_action("1a5", sid, "upgrade", {"inServiceStrategy": {"launchConfig": config}}, "v2-beta")
    store.advance(1 + 2)  # old stopped, new running (initializing) at t=3
    svc = store.get_service("1a5", sid)
    first = svc.instances[-1].id
    store.advance(59.9)
    assert svc.instances[-1].id == first
    store.advance(0.2 + T.container_stop + T.retry_delay)  # removed at 63+1, replaced 2 s later
    store.settle()
    second = svc.instances[-1]
    assert second.id != first
    removed = svc.instance(first)
    assert removed is not None and removed.state.value == "removed"
    assert (second.version, second.unit_uuid) == (removed.version, removed.unit_uuid)
    assert svc.state == "upgrading" and svc.transitioning_fields()[0] == "yes"
    store.advance(3 * 66)
    third_and_later = [i for i in svc.live() if i.version == second.version]
    assert len(third_and_later) == 1 and third_and_later[0].id not in (first, second.id)
    assert svc.transitioning_fields() == ("yes", f"Waiting: healthy [container:{third_and_later[0].id}]")


@pytest.mark.parametrize("strategy", ["none"])
def test_strategy_none_keeps_the_stuck_container(strategy: str) -> None:
    faults = Faults()
    faults.unhealthy_image("web:2")
    store, sid = seeded(scale=1, faults=faults)
    config = dict(upgraded_config(), healthCheck={"port": 80, "strategy": strategy, "initializingTimeout": 1000})
    store.service_action("1a5", sid, "upgrade", {"inServiceStrategy": {"launchConfig": config}}, "v2-beta")
    store.advance(5)
    svc = store.get_service("1a5", sid)
    first = svc.instances[-1].id
    store.advance(600)
    assert svc.instances[-1].id == first


def test_a_container_that_fails_to_start_sets_transitioning_error() -> None:
    _, svc = upgrading_ten_seconds_with("failing_image")
    assert svc.state == "upgrading"
    assert svc.transitioning_fields() == (
        "error", "Container should have been running but is in stopped state. Check logs for more information.")
    assert svc.instances[-1].state.value == "stopped"


def test_hang_freezes_one_service() -> None:
    faults = Faults()
    store, sid = seeded(faults=faults)
    faults.hang(sid)
    upgrade(store, sid)
    store.advance(600)
    assert state(store, sid) == "upgrading"
    faults.clear()
    store.advance(0)
    assert state(store, sid) == "upgraded"


def test_fail_action_sticks_with_transitioning_error() -> None:
    faults = Faults()
    store, sid = seeded(faults=faults)
    upgrade(store, sid)
    store.advance(60)
    faults.fail_action(sid, "rollback")
    store.service_action("1a5", sid, "rollback", {}, "v2-beta")
    store.advance(600)
    svc = store.get_service("1a5", sid)
    assert svc.state == "rolling-back"
    transitioning, message = svc.transitioning_fields()
    assert transitioning == "error" and message and "Rolling back service" in message


# ---- other processes ---------------------------------------------------------------------------

def test_create_with_start_on_create_registers_then_activates() -> None:
    store = make_store()
    stack = store.seed_stack("shop")
    body = {"name": "api", "stackId": stack.id, "launchConfig": dict(CONFIG), "scale": 2, "startOnCreate": True}
    svc = store.create_service("1a5", body)
    assert svc.state == "registering"
    store.advance(0.3)
    assert state(store, svc.id) == "activating"
    store.advance(10)
    assert state(store, svc.id) == "active"
    assert len(svc.live()) == 2


def test_create_without_start_on_create_ends_inactive() -> None:
    store = make_store()
    stack = store.seed_stack("shop")
    svc = store.create_service("1a5", {"name": "api", "stackId": stack.id, "launchConfig": dict(CONFIG)})
    store.advance(1)
    assert state(store, svc.id) == "inactive"
    assert svc.live() == []


def test_deactivate_activate_restart_remove() -> None:
    store, sid = seeded()
    store.service_action("1a5", sid, "deactivate", {}, "v2-beta")
    store.advance(5)
    assert state(store, sid) == "inactive"
    store.service_action("1a5", sid, "activate", {}, "v2-beta")
    store.advance(10)
    assert state(store, sid) == "active"
    store.service_action("1a5", sid, "restart", {"rollingRestartStrategy": {"batchSize": 2}}, "v2-beta")
    assert state(store, sid) == "restarting"
    store.advance(10)
    assert state(store, sid) == "active"
    store.remove_service("1a5", sid)
    store.advance(10)
    svc = store.get_service("1a5", sid)
    assert svc.state == "removed" and svc.removed_at is not None


def test_scale_up_through_update() -> None:
    store, sid = seeded(scale=1)
    store.update_service("1a5", sid, {"scale": 3, "launchConfig": {"imageUuid": "docker:ignored"}})
    assert state(store, sid) == "updating-active"
    store.advance(10)
    svc = store.get_service("1a5", sid)
    assert svc.state == "active" and len(svc.live()) == 3
    assert svc.launch_config == CONFIG  # PUT never changes the launch config


def test_sim_clock_combines_real_time_and_offsets() -> None:
    ticks = iter([0.0, 1.0, 2.0])
    clock = SimClock(10.0, monotonic=lambda: next(ticks))
    assert clock.now() == 10.0
    clock.advance(5)
    assert clock.now() == 25.0
