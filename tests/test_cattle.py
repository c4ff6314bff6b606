"""Rancher 1.x pieces that need no server: counting a service's containers as Rancher does."""

from __future__ import annotations

from typing import Any

from rancher_deploy.cattle import count_health
from rancher_deploy.snapshot import Health

SERVICE: dict[str, Any] = {
    "scale": 2,
    "launchConfig": {"version": "v2"},
    "secondaryLaunchConfigs": [{"name": "data", "version": "v2",
                                "labels": {"io.rancher.container.start_once": "true"}}],
}


def instance(number: int, state: str, health: str | None, version: str = "v2") -> dict[str, Any]:
    return {"id": f"1i{number}", "state": state, "healthState": health, "version": version}


def test_start_once_sidekicks_that_ran_count_as_done() -> None:
    instances = [instance(1, "running", "healthy"), instance(2, "running", "healthy"),
                 instance(3, "stopped", "started-once"), instance(4, "stopped", "started-once")]
    assert count_health(SERVICE, instances) == Health(4, 4, (), "containers healthy")


def test_old_versions_are_ignored_and_unhealthy_ones_named() -> None:
    instances = [instance(1, "running", "healthy"), instance(2, "running", "unhealthy"),
                 instance(5, "stopped", None, version="v1"), instance(3, "running", None),
                 instance(4, "running", "initializing")]
    assert count_health({**SERVICE, "state": "upgrading"}, instances) == Health(2, 4, ("1i2",), "new containers healthy")


def test_the_counts_say_what_they_count() -> None:
    assert count_health({**SERVICE, "state": "upgraded"}, []).counts == ", 0/4 new containers healthy"
    assert count_health({**SERVICE, "state": "active"}, []).counts == ", 0/4 containers healthy"


def test_only_the_service_s_own_containers_count() -> None:
    mine = {**instance(1, "running", "healthy"), "serviceIds": ["1s5"]}
    theirs = {**instance(2, "running", "healthy"), "serviceIds": ["1s6"]}
    unlabelled = instance(3, "running", "healthy")  # no serviceIds field: counted, as before
    service = {**SERVICE, "id": "1s5"}
    assert count_health(service, [mine, theirs, unlabelled]).healthy == 2
