"""Planning an upgrade: the whole launch config kept, only images changed, sidekicks as asked."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from rancher_deploy.errors import ConfigError
from rancher_deploy.images import ImageRef
from rancher_deploy.plan import Strategy, plan_service_upgrade

LAUNCH_CONFIG: dict[str, Any] = {
    "type": "launchConfig",
    "imageUuid": "docker:registry:5000/shop/web:2.0",
    "environment": {"A": "1", "COMMA": "x,y"},
    "labels": {"io.rancher.scheduler.affinity:host_label": "tier=web"},
    "ports": ["8080:80/tcp"],
    "secrets": [{"type": "secretReference", "secretId": "1se1", "name": "db"}],
    "healthCheck": {"type": "instanceHealthCheck", "port": 80},
    "version": "0",
}
SERVICE: dict[str, Any] = {
    "id": "1s3",
    "name": "web",
    "launchConfig": LAUNCH_CONFIG,
    "secondaryLaunchConfigs": [
        {"name": "proxy", "imageUuid": "docker:registry:5000/shop/web:2.0", "labels": {"x": "y"}},
        {"name": "logs", "imageUuid": "docker:fluentd:1"},
    ],
}


def plan(image: str | None = "registry:5000/shop/web:2.1", **options: Any) -> Any:
    arguments: dict[str, Any] = {"sidekicks": (), "update_sidekicks": False, "force": False,
                                 "strategy": Strategy()}
    arguments.update(options)
    return plan_service_upgrade(SERVICE, target="shop/web", image=ImageRef.parse(image) if image else None,
                                **arguments)


def test_keeps_every_launch_config_field_and_changes_only_the_image() -> None:
    before = copy.deepcopy(SERVICE)
    result = plan()
    sent = result.request.body()["inServiceStrategy"]["launchConfig"]
    assert sent == {**LAUNCH_CONFIG, "imageUuid": "docker:registry:5000/shop/web:2.1"}
    assert SERVICE == before, "the service read from Rancher must not be modified"
    assert "secondaryLaunchConfigs" not in result.request.body()["inServiceStrategy"]
    assert [(c.container, c.previous_image, c.new_image) for c in result.changes] == [
        ("web", "registry:5000/shop/web:2.0", "registry:5000/shop/web:2.1")]


def test_strategy_becomes_rancher_fields() -> None:
    body = plan(strategy=Strategy(batch_size=3, interval_seconds=0.5, start_first=True)).request.body()
    strategy = body["inServiceStrategy"]
    assert (strategy["batchSize"], strategy["intervalMillis"], strategy["startFirst"]) == (3, 500, True)
    assert strategy["type"] == "inServiceUpgradeStrategy"


def test_same_image_is_no_change_unless_forced() -> None:
    same = plan("registry:5000/shop/web:2.0")
    assert not same.changes_anything
    forced = plan("docker:registry:5000/shop/web:2.0", force=True)
    assert forced.changes_anything
    assert forced.request.body()["inServiceStrategy"]["launchConfig"]["imageUuid"] == "docker:registry:5000/shop/web:2.0"


def test_named_sidekick_is_sent_whole_with_its_new_image() -> None:
    result = plan(None, sidekicks=(("logs", ImageRef.parse("fluentd:2")),))
    body = result.request.body()["inServiceStrategy"]
    assert "launchConfig" not in body
    assert body["secondaryLaunchConfigs"] == [{"name": "logs", "imageUuid": "docker:fluentd:2"}]


def test_update_sidekicks_moves_those_running_the_same_repository() -> None:
    body = plan(update_sidekicks=True).request.body()["inServiceStrategy"]
    assert [c["name"] for c in body["secondaryLaunchConfigs"]] == ["proxy"]
    assert body["secondaryLaunchConfigs"][0]["labels"] == {"x": "y"}


def test_unknown_sidekick_names_the_ones_that_exist() -> None:
    with pytest.raises(ConfigError, match=r"RANCHER_SIDEKICK: service shop/web has no sidekick 'db' \(sidekicks: logs, proxy\)"):
        plan(sidekicks=(("db", ImageRef.parse("x:1")),))


def test_describe_shows_old_and_new_per_container() -> None:
    lines = plan().describe()
    assert lines[0] == "Plan for shop/web (1s3): batch size 1, 2s between batches, stop old first"
    assert lines[1] == "  web: registry:5000/shop/web:2.0 -> registry:5000/shop/web:2.1"


def test_the_same_image_spelled_differently_is_no_change() -> None:
    service = {**SERVICE, "launchConfig": {**LAUNCH_CONFIG, "imageUuid": "docker:nginx:1.25"}}
    result = plan_service_upgrade(service, target="shop/web", image=ImageRef.parse("docker.io/library/nginx:1.25"),
                                  sidekicks=(), update_sidekicks=False, force=False, strategy=Strategy())
    assert not result.changes_anything
