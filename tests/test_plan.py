"""Planning an upgrade: the whole launch config kept, only images changed, sidekicks as asked."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest

from rancher_deploy.envlabels import Edits, KeyEdits
from rancher_deploy.errors import ConfigError
from rancher_deploy.images import ImageRef
from rancher_deploy.inputs import Origin
from rancher_deploy.plan import (Strategy, WorkloadUpdate, plan_service_upgrade, plan_workload_update,
                                 pull_policy_default)

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


def test_a_new_repository_for_the_service_warns_and_a_new_tag_does_not() -> None:
    assert plan().warnings == ()
    moved = plan("registry:5000/shop/worker:2.1").warnings
    assert moved == ("shop/web: web runs registry:5000/shop/web, and the new image is from another repository, "
                     "registry:5000/shop/worker; check RANCHER_IMAGE and RANCHER_SERVICE if that is not meant",)
    sidekick = plan(None, sidekicks=(("logs", ImageRef.parse("fluent/fluent-bit:3")),)).warnings
    assert len(sidekick) == 1 and "logs runs fluentd" in sidekick[0] and "RANCHER_SIDEKICK" in sidekick[0]


def test_force_without_the_pull_label_warns_that_the_cached_image_is_used() -> None:
    forced = plan("registry:5000/shop/web:2.0", force=True)
    (warning,) = forced.redeploy_warnings
    assert warning.startswith("shop/web: --force restarts web on registry:5000/shop/web:2.0, but without the label "
                              "io.rancher.container.pull_image=always")
    assert forced.warnings == ()
    # A version policy that redeploys the same tag is named instead (deploy.py sets forced_by).
    assert replace(forced, forced_by="the version policy newer").redeploy_warnings[0].startswith(
        "shop/web: the version policy newer restarts web")
    labels = {**LAUNCH_CONFIG["labels"], "io.rancher.container.pull_image": "always"}
    with_label = {**SERVICE, "launchConfig": {**LAUNCH_CONFIG, "labels": labels}}
    forced = plan_service_upgrade(with_label, target="shop/web", image=ImageRef.parse("registry:5000/shop/web:2.0"),
                                  sidekicks=(), update_sidekicks=False, force=True, strategy=Strategy())
    assert forced.redeploy_warnings == ()
    assert plan(force=True).redeploy_warnings == (), "a new tag is pulled whatever the label says"


@pytest.mark.parametrize("policy, image, warns", [
    ("IfNotPresent", "app:1.2", True),
    ("Never", "app:1.2", True),
    (None, "app:1.2", True),                  # unset: Kubernetes defaults a version tag to IfNotPresent
    (None, "app:latest", False),              # ... and `latest` (or no tag) to Always
    (None, "app", False),
    ("Always", "app:1.2", False),
    ("IfNotPresent", "app@sha256:" + "a" * 64, False),  # a digest names one content: the cache is right
])
def test_force_on_a_workload_warns_unless_the_pull_policy_pulls(policy: str | None, image: str, warns: bool) -> None:
    container: dict[str, Any] = {"name": "app", "image": image}
    if policy:
        container["imagePullPolicy"] = policy
    result = plan_workload_update([container], [], target="ns/app", target_id="deployment:ns:app",
                                  image=ImageRef.parse(image), names=(), include_init=False, force=True)
    assert result.forced and bool(result.redeploy_warnings) is warns and result.warnings == ()
    if warns:
        assert f"imagePullPolicy is {policy or 'IfNotPresent (unset'}" in result.redeploy_warnings[0]


@pytest.mark.parametrize("image, policy", [
    ("app:latest", "Always"), ("app", "Always"), ("registry:5000/app", "Always"), ("app:1.2", "IfNotPresent"),
    ("app@sha256:" + "a" * 64, "IfNotPresent"), ("app:latest@sha256:" + "a" * 64, "Always"),
])
def test_the_default_pull_policy_is_kubernetes_own(image: str, policy: str) -> None:
    # SetDefaults_Container compares ParseImageName's tag with `latest`; with neither tag nor digest
    # that tag is `latest`.
    assert pull_policy_default(image) == policy


def test_the_only_container_moving_to_another_repository_warns() -> None:
    result = plan_workload_update([{"name": "worker", "image": "shop/worker:1"}], [], target="ns/jobs",
                                  target_id="deployment:ns:jobs", image=ImageRef.parse("shop/web:2"), names=(),
                                  include_init=False, force=False)
    assert result.warnings == ("ns/jobs: worker runs shop/worker, and the new image is from another repository, "
                               "shop/web; check RANCHER_IMAGE and RANCHER_CONTAINER if that is not meant",)


# Environment and label edits: merged into what is there, keys listed, values never.

SECRET = "plan-secret-value-9f2"


def test_env_edits_go_to_the_primary_and_the_sidekicks_it_moves_and_labels_to_the_primary() -> None:
    edits = Edits(KeyEdits((("A", "2"), ("TOKEN", SECRET)), ("COMMA",)), KeyEdits((("release", "2.1"),)))
    result = plan(sidekicks=(("proxy", ImageRef.parse("registry:5000/shop/web:2.1")),), edits=edits)
    body = result.request.body()["inServiceStrategy"]
    primary, (proxy,) = body["launchConfig"], body["secondaryLaunchConfigs"]
    assert primary["environment"] == {"A": "2", "TOKEN": SECRET}
    assert primary["labels"] == {"io.rancher.scheduler.affinity:host_label": "tier=web", "release": "2.1"}
    assert primary["secrets"] == LAUNCH_CONFIG["secrets"] and primary["healthCheck"] == LAUNCH_CONFIG["healthCheck"]
    assert proxy["environment"] == {"A": "2", "TOKEN": SECRET} and proxy["labels"] == {"x": "y"}
    assert "logs" not in {config.get("name") for config in body["secondaryLaunchConfigs"]}
    lines = "\n".join(result.describe())
    assert "web env: added TOKEN; changed A; removed COMMA (values not shown)" in lines
    assert "proxy env: added A, TOKEN (values not shown)" in lines
    assert "labels: added release (values not shown)" in lines
    assert SECRET not in lines and "2.1 (values" not in lines


def test_edits_alone_change_the_primary_on_its_own_image() -> None:
    result = plan(image=None, edits=Edits(KeyEdits((("A", "2"),))))
    assert result.changes_anything
    assert result.request.body()["inServiceStrategy"]["launchConfig"]["imageUuid"] == LAUNCH_CONFIG["imageUuid"]
    assert [(c.container, c.previous_image, c.new_image) for c in result.changes] == [
        ("web", "registry:5000/shop/web:2.0", "registry:5000/shop/web:2.0")]


def test_edits_that_change_nothing_plan_nothing() -> None:
    assert not plan(image=None, edits=Edits(KeyEdits((("A", "1"),), ("NOT_THERE",)))).changes_anything


def test_a_sidekick_only_run_puts_label_edits_on_the_primary_and_env_on_the_sidekick() -> None:
    result = plan(image=None, sidekicks=(("logs", ImageRef.parse("fluentd:2")),),
                  edits=Edits(KeyEdits((("A", "2"),)), KeyEdits((("release", "2"),))))
    body = result.request.body()["inServiceStrategy"]
    assert body["launchConfig"]["environment"] == LAUNCH_CONFIG["environment"]
    assert body["launchConfig"]["labels"]["release"] == "2"
    assert body["secondaryLaunchConfigs"][0]["environment"] == {"A": "2"}


def test_the_record_label_goes_on_every_launch_config_sent() -> None:
    origin = Origin("https://ci.example.com/p/7", "abc123")
    result = plan(sidekicks=(("proxy", ImageRef.parse("registry:5000/shop/web:2.1")),), record=True, origin=origin)
    body = result.request.body()["inServiceStrategy"]
    cause = ("rancher-deploy: web=registry:5000/shop/web:2.1, proxy=registry:5000/shop/web:2.1; commit abc123; "
             "pipeline https://ci.example.com/p/7")
    assert body["launchConfig"]["labels"]["rancher-deploy.change-cause"] == cause
    assert body["secondaryLaunchConfigs"][0]["labels"] == {"x": "y", "rancher-deploy.change-cause": cause}
    assert f"  record: label rancher-deploy.change-cause = {cause}" in result.describe()
    assert not plan(image="registry:5000/shop/web:2.0", record=True).changes_anything, "a record alone is no change"


WORKLOAD_CONTAINERS: list[dict[str, Any]] = [
    {"name": "web", "image": "shop/web:1", "env": [{"name": "A", "value": "1"},
                                                   {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s"}}}]},
    {"name": "proxy", "image": "envoy:1"},
]


def workload_plan(image: str | None = None, **options: Any) -> Any:
    arguments: dict[str, Any] = {"names": (), "include_init": False, "force": False,
                                 "labels": {"app": "web", "tier": "front"}, "selector": ("app",)}
    arguments.update(options)
    return plan_workload_update(WORKLOAD_CONTAINERS, [], target="default/deployment:web",
                                target_id="deployment:default:web", image=ImageRef.parse(image) if image else None,
                                **arguments)


def test_a_workload_plan_carries_the_edits_and_lists_the_keys() -> None:
    edits = Edits(KeyEdits((("B", SECRET),), ("A",)), KeyEdits((("release", "2"),), ("tier",)))
    result = workload_plan("shop/web:2", edits=edits, record=True, origin=Origin(commit="abc"))
    assert result.request == WorkloadUpdate({"web": "shop/web:2"}, False, edits.env, edits.labels,
                                            "rancher-deploy: web=shop/web:2 (env and labels changed); commit abc")
    lines = "\n".join(result.describe())
    assert "web env: added B; removed A" in lines and "pod labels: added release; removed tier" in lines
    assert "record: annotation kubernetes.io/change-cause = rancher-deploy: web=shop/web:2" in lines
    assert SECRET not in lines


def test_a_workload_plan_without_an_image_needs_a_container_among_several() -> None:
    with pytest.raises(ConfigError, match="RANCHER_CONTAINER: is required: default/deployment:web has several"):
        workload_plan(edits=Edits(KeyEdits((("B", "2"),))))
    result = workload_plan(edits=Edits(KeyEdits((("B", "2"),))), names=("proxy",))
    assert result.request.images == {"proxy": "envoy:1"} and result.changes_anything


def test_a_secret_reference_replaced_by_a_value_is_warned_about() -> None:
    result = workload_plan("shop/web:2", edits=Edits(KeyEdits((("PW", SECRET),))))
    assert result.warnings == ("default/deployment:web: PW in web came from a secret or config map reference and "
                               "becomes a plain value",)


@pytest.mark.parametrize("labels", [KeyEdits((("app", "other"),)), KeyEdits(unset=("app",))])
def test_a_selector_label_is_refused(labels: KeyEdits) -> None:
    setting = "RANCHER_SET_LABEL" if labels.set else "RANCHER_UNSET_LABEL"
    with pytest.raises(ConfigError, match=f"{setting}: names app, which the selector of default/deployment:web"):
        workload_plan("shop/web:2", edits=Edits(labels=labels))


def test_force_with_nothing_else_redeploys_and_with_an_edit_does_not_need_to() -> None:
    assert workload_plan("shop/web:1", force=True).request.redeploy
    assert not workload_plan("shop/web:1", force=True, edits=Edits(KeyEdits((("B", "2"),)))).request.redeploy
