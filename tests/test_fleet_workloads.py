"""Fleet mode on Rancher 2.x (`--select-image`), over real HTTP through v3 (2.4) and the Kubernetes API
(2.8): workloads picked by their own labels in namespaces of several projects, only the containers
running the repository changed, and what the selection costs."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing

from .conftest import CliRun
from .test_workloads import NEW, OLD, TOKEN_ID, TOKEN_SECRET, run, sim2  # noqa: F401 - sim2 is a fixture (2.4: v3, 2.8: k8s)

ON = {"autoupdate.enable": "true"}


@pytest.fixture
def k8s() -> Iterator[Simulator]:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8", timing=Timing.fast()) as simulator:
        yield simulator


def fleet(sim: Simulator, *argv: str, **overrides: str | None) -> CliRun:
    """A fleet run (`test_workloads.run`'s settings, no workload named, the selection on)."""
    return run(sim, "--output", "json", *argv, **{"RANCHER_WORKLOAD": None, "RANCHER_SELECT_IMAGE": "true", **overrides})


def pod_spec(sim: Simulator, kind: str, namespace: str, name: str) -> dict[str, Any]:
    spec = sim.workload(kind, namespace, name)["spec"]
    if kind == "cronjob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


def images(sim: Simulator, kind: str, namespace: str, name: str) -> dict[str, str]:
    spec = pod_spec(sim, kind, namespace, name)
    return {c["name"]: c["image"] for c in [*spec.get("initContainers", []), *spec["containers"]]}


def seed(sim: Simulator) -> None:
    """Project apps (namespaces shop-prod, shop-dev) and the Default project (tools)."""
    apps = sim.add_project("apps")
    for namespace in ("shop-prod", "shop-dev"):
        sim.add_namespace(namespace, apps)
    sim.add_namespace("tools")


def test_picks_workloads_by_their_own_labels_and_changes_only_the_containers_running_the_repository(
        sim2: Simulator) -> None:  # noqa: F811 - the fixture imported above
    seed(sim2)
    sim2.add_workload("shop-prod", "web", [{"name": "web", "image": OLD}, {"name": "proxy", "image": "envoy:v1"}],
                      labels=ON)
    sim2.add_workload("shop-dev", "web", [{"name": "web", "image": OLD}], kind="statefulset",
                      labels={"autoupdate.enabled": "true"})
    sim2.add_workload("shop-dev", "report", [{"name": "job", "image": "busybox:1.36"}], kind="cronjob",
                      init_containers=[{"name": "migrate", "image": OLD}], labels=ON)
    sim2.add_workload("shop-prod", "off", [{"name": "web", "image": OLD}], labels={"autoupdate.enable": "false"})
    sim2.add_workload("tools", "web", [{"name": "web", "image": OLD}], labels=ON)   # a namespace not searched
    result = fleet(sim2, RANCHER_NAMESPACES='["shop-.*"]')
    assert result.code == 0, result.stderr
    assert images(sim2, "deployment", "shop-prod", "web") == {"web": NEW, "proxy": "envoy:v1"}
    assert images(sim2, "statefulset", "shop-dev", "web") == {"web": NEW}
    assert images(sim2, "cronjob", "shop-dev", "report") == {"migrate": NEW, "job": "busybox:1.36"}
    assert images(sim2, "deployment", "shop-prod", "off")["web"] == OLD
    assert images(sim2, "deployment", "tools", "web")["web"] == OLD
    assert sorted(target["target"] for target in result.json["targets"]) == [
        "shop-dev/cronjob:report", "shop-dev/statefulset:web", "shop-prod/deployment:web"]
    selection = result.json["selection"]
    assert (selection["place"], sorted(selection["searched"])) == ("namespace", ["shop-dev", "shop-prod"])
    assert selection["not_searched"] >= 1    # tools, and the system namespaces the key sees
    assert [(entry["target"], entry["reason"]) for entry in selection["skipped"]] == [
        ("shop-prod/deployment:off", "label autoupdate.enable is 'false', not true")]


def test_a_workload_labelled_only_on_its_pod_template_has_not_opted_in(sim2: Simulator) -> None:  # noqa: F811 - the fixture imported above
    # Fleet mode reads the workload's own labels, as Keel reads its policy, not the pods'.
    sim2.add_workload("default", "web", [{"name": "web", "image": OLD}])
    labelled = fleet(sim2, RANCHER_SELECT_IMAGE=None, RANCHER_IMAGE=None, RANCHER_WORKLOAD="web",
                     RANCHER_SET_LABEL="autoupdate.enable=true")
    assert labelled.code == 0, labelled.stderr
    assert sim2.workload("deployment", "default", "web")["spec"]["template"]["metadata"]["labels"][
        "autoupdate.enable"] == "true"
    result = fleet(sim2, "--dry-run")
    assert result.code == 0, result.stderr
    assert result.json["targets"] == [] and result.json["selection"]["candidates"] == []


def test_a_custom_label_from_the_seeds_variable(sim2: Simulator) -> None:  # noqa: F811 - the fixture imported above
    sim2.add_workload("default", "web", [{"name": "web", "image": OLD}], labels={"deploy.auto": "true"})
    sim2.add_workload("default", "api", [{"name": "web", "image": OLD}], labels=ON)
    result = fleet(sim2, AUTOUPDATE_ENABLE_LABEL="deploy.auto")
    assert result.code == 0, result.stderr
    assert images(sim2, "deployment", "default", "web")["web"] == NEW
    assert images(sim2, "deployment", "default", "api")["web"] == OLD


def test_an_environment_pattern_on_rancher_2_is_exit_2_naming_it(sim2: Simulator) -> None:  # noqa: F811 - the fixture imported above
    sim2.add_workload("default", "web", [{"name": "web", "image": OLD}], labels=ON)
    result = fleet(sim2, AUTOUPDATE_ENVIRONMENT_NAMES="prod")
    assert result.code == 2
    assert "AUTOUPDATE_ENVIRONMENT_NAMES: chooses Rancher 1.x environments, but this is Rancher 2.x" in result.stderr
    assert images(sim2, "deployment", "default", "web")["web"] == OLD


def test_mixed_outcomes_of_independent_workloads_exit_4_naming_each(sim2: Simulator) -> None:  # noqa: F811 - the fixture imported above
    seed(sim2)
    sim2.add_workload("shop-prod", "api", [{"name": "web", "image": OLD}], replicas=2, labels=ON)
    sim2.add_workload("shop-dev", "front", [{"name": "web", "image": OLD}], replicas=2, progress_deadline_seconds=30,
                      labels=ON)
    sim2.faults.capacity(2, "shop-dev/front")  # the new pods of front never get scheduled
    result = fleet(sim2, RANCHER_NAMESPACES="shop-prod,shop-dev")
    assert result.code == 4, result.stderr
    assert {(target["target"], target["result"]) for target in result.json["targets"]} == {
        ("shop-prod/deployment:api", "upgraded"), ("shop-dev/deployment:front", "rolled-back")}
    assert images(sim2, "deployment", "shop-prod", "api")["web"] == NEW
    assert images(sim2, "deployment", "shop-dev", "front")["web"] == OLD


def test_the_kubernetes_api_filters_by_label_so_unlabelled_workloads_are_not_listed(k8s: Simulator) -> None:
    k8s.add_workload("default", "web", [{"name": "web", "image": OLD}], labels=ON)
    k8s.add_workload("default", "plain", [{"name": "web", "image": OLD}])
    result = fleet(k8s, "--dry-run")
    assert result.code == 0, result.stderr
    assert result.json["selection"]["listed"] == 1
    assert ("Fleet: workloads without a label autoupdate.enable or autoupdate.enabled are not listed: Kubernetes "
            "leaves them out (labelSelector)") in result.stderr
    lists = [record.query for record in k8s.requests if record.path.endswith("/deployments")]
    assert sorted(lists) == ["labelSelector=autoupdate.enable&limit=500", "labelSelector=autoupdate.enabled&limit=500"]


def test_kubernetes_selection_costs_chunks_of_lists_not_requests_per_workload(k8s: Simulator) -> None:
    # 60 namespaces of 10 opted-in deployments each, seeded in one request.
    namespaces = [f"team{number}" for number in range(60)]
    document = {"namespaces": [{"name": name} for name in namespaces],
                "workloads": [{"namespace": name, "name": f"app{number}", "labels": ON,
                               "containers": [{"name": "app", "image": "nginx:1.25"}]}
                              for name in namespaces for number in range(10)]}
    assert requests.post(f"{k8s.url}/_sim/seed", json=document, timeout=60).status_code == 201
    k8s.reset_log()
    result = fleet(k8s, "--dry-run")
    assert result.code == 0, result.stderr
    selection = result.json["selection"]
    assert selection["listed"] == 600 and selection["others"] == 0 and len(selection["skipped"]) == 600
    # One chunk of namespaces, the batch API's discovery (CronJobs' version), then per kind and label one
    # chunk of 500, but two for the 600 deployments labelled autoupdate.enable.
    assert selection["requests"] == 1 + 1 + (4 * 2 + 1)


def test_a_dry_run_reads_no_pick_again_after_the_listing(sim2: Simulator) -> None:  # noqa: F811 - the fixture imported above
    seed(sim2)
    for number in range(3):
        sim2.add_workload("shop-prod", f"app{number}", [{"name": "web", "image": OLD}], labels=ON)
    sim2.reset_log()
    result = fleet(sim2, "--dry-run")
    assert result.code == 0, result.stderr
    assert [target["result"] for target in result.json["targets"]] == ["planned"] * 3
    one_by_one = [record.path for record in sim2.requests if "app" in record.path.rsplit("/", 1)[-1]]
    assert one_by_one == []   # 10,000 picks must not cost 10,000 reads


def test_namespace_patterns_that_match_none_warn_and_a_regex_comma_stays_in_its_pattern(k8s: Simulator) -> None:
    seed(k8s)
    k8s.add_workload("shop-prod", "web", [{"name": "web", "image": OLD}], labels=ON)
    missed = fleet(k8s, "--dry-run", RANCHER_NAMESPACES="prod-shop")
    assert missed.code == 0, missed.stderr
    warning = next(line for line in missed.stderr.splitlines() if "matches none" in line)
    assert warning.startswith('warning: RANCHER_NAMESPACES ["prod-shop"] matches none of the ')
    assert "shop-prod" in warning and "shop-dev" in warning
    found = fleet(k8s, "--dry-run", RANCHER_NAMESPACES="shop-(prod|qa){1,2},tools")
    assert found.code == 0, found.stderr
    assert sorted(found.json["selection"]["searched"]) == ["shop-prod", "tools"] and "matches none" not in found.stderr


def test_a_key_that_may_not_list_across_the_cluster_lists_each_namespace(k8s: Simulator) -> None:
    k8s.add_namespace("shop")
    k8s.add_workload("shop", "web", [{"name": "web", "image": OLD}], labels=ON)
    k8s.faults.fail_next("/apis/apps/v1/deployments", 2, status=403, method="GET")
    result = fleet(k8s, RANCHER_NAMESPACES="shop")
    assert result.code == 0, result.stderr
    assert images(k8s, "deployment", "shop", "web")["web"] == NEW
    listed = [record.query for record in k8s.requests if record.path.endswith("/namespaces/shop/deployments")
              and "labelSelector" in record.query]
    assert sorted(listed) == ["labelSelector=autoupdate.enable&limit=500", "labelSelector=autoupdate.enabled&limit=500"]


def test_a_project_setting_keeps_the_namespaces_of_that_project(k8s: Simulator) -> None:
    seed(k8s)
    k8s.add_workload("shop-prod", "web", [{"name": "web", "image": OLD}], labels=ON)
    k8s.add_workload("tools", "web", [{"name": "web", "image": OLD}], labels=ON)
    result = fleet(k8s, RANCHER_PROJECT="apps")
    assert result.code == 0, result.stderr
    assert images(k8s, "deployment", "shop-prod", "web")["web"] == NEW
    assert images(k8s, "deployment", "tools", "web")["web"] == OLD
    assert sorted(result.json["selection"]["searched"]) == ["shop-dev", "shop-prod"]


def test_a_key_that_may_not_list_namespaces_is_exit_2_before_anything_changes(k8s: Simulator) -> None:
    k8s.add_workload("default", "web", [{"name": "web", "image": OLD}], labels=ON)
    k8s.faults.fail_next("/api/v1/namespaces", 1, status=403, method="GET")
    result = fleet(k8s)
    assert result.code == 2, result.stderr
    assert "Listing namespaces" in result.json["error"]
    assert images(k8s, "deployment", "default", "web")["web"] == OLD
