# ruff: noqa: F811 - sim2, a fixture imported below, is the argument of the 2.x tests
"""RANCHER_CREATE over real HTTP: a missing target is created, waited for, upgraded by the next run,
and removed again when it never becomes healthy; without the setting a missing target stays exit 2."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, SECRET_KEY, RunCli, VirtualTime
from .test_workloads import NEW, OLD, TOKEN_ID, TOKEN_SECRET, WEB, containers, run as run2, sim2  # noqa: F401

NEWER_IMAGE = "registry.example.com:5000/shop/web:2.2"
ON_SIMULATED_TIME = pytest.mark.parametrize("timing", [Timing(speed=0)])
STALL = {"RANCHER_POLL_INTERVAL": "5", "RANCHER_PROGRESS_DEADLINE": "60", "RANCHER_TIMEOUT": "600"}


def get(sim: Simulator, path: str, **params: str) -> Any:
    response = requests.get(f"{sim.url}/v2-beta/projects/1a5/{path}", params=params, auth=(ACCESS_KEY, SECRET_KEY),
                            timeout=5)
    response.raise_for_status()
    return response.json()


def live(sim: Simulator, collection: str, name: str) -> list[dict[str, Any]]:
    """The stacks or services of that name that are not removed."""
    return [item for item in get(sim, collection, name=name)["data"] if item["state"] not in ("removing", "removed")]


def writes(sim: Simulator) -> list[str]:
    return [f"{record.method} {record.path}" for record in sim.requests if record.method != "GET"]


# -- Rancher 1.x ------------------------------------------------------------------------------------


def test_creates_a_service_in_a_new_stack_then_the_next_run_upgrades_it(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("--create", "--scale", "2", "--port", "8080:80/tcp", "--port", "53/udp", "--output", "json",
                     RANCHER_IMAGE=NEW_IMAGE)
    assert result.code == 0, result.stderr
    assert "shop/web does not exist; --create makes it" in result.stderr
    assert "Plan for shop/web: create service web in stack shop (a new stack), scale 2" in result.stderr
    (target,) = result.json["targets"]
    assert (result.json["result"], target["result"], target["state"]) == ("created", "created", "active")
    assert (target["previous_image"], target["image"]) == (None, NEW_IMAGE)
    assert result.stderr.splitlines()[-1] == "rancher-deploy: exit 0 (done: created and healthy)"
    (stack,) = live(sim, "stacks", "shop")
    service = sim.service(target["id"])
    assert (service["state"], service["scale"], service["stackId"]) == ("active", 2, stack["id"])
    assert service["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
    assert service["launchConfig"]["ports"] == ["8080:80/tcp", "53/udp"]
    assert len(sim.instances(target["id"])) == 2

    again = run_cli("--create", "--output", "json", RANCHER_IMAGE=NEWER_IMAGE)
    assert again.code == 0, again.stderr
    assert again.json["targets"][0]["result"] == "upgraded"
    assert again.json["targets"][0]["previous_image"] == NEW_IMAGE
    assert sim.service(target["id"])["launchConfig"]["imageUuid"] == f"docker:{NEWER_IMAGE}"
    assert len(live(sim, "stacks", "shop")) == 1 and len(live(sim, "services", "web")) == 1


def test_creates_a_service_in_a_stack_that_exists(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    result = run_cli("--create", "--output", "json", RANCHER_SERVICE="shop/api")
    assert result.code == 0, result.stderr
    assert "create service api in stack shop, scale 1" in result.stderr
    assert sim.service(result.json["targets"][0]["id"])["stackId"] == stack
    assert [write for write in writes(sim) if "stacks" in write] == []


def test_without_create_a_missing_service_is_exit_2_and_nothing_is_created(sim: Simulator, run_cli: RunCli) -> None:
    sim.add_stack("shop")
    result = run_cli()
    assert result.code == 2, result.stderr
    assert "service 'web' not found in stack 'shop'" in result.stderr
    assert "`RANCHER_CREATE=true` creates it" in result.stderr
    assert "input `create: true` creates it" in run_cli(GITHUB_ACTIONS="true").stderr
    assert "setting `create: true` creates it" in run_cli(CI="woodpecker").stderr
    missing_stack = run_cli(RANCHER_STACK="other")
    assert missing_stack.code == 2 and "stack 'other' not found" in missing_stack.stderr
    assert writes(sim) == []


def test_a_dry_run_says_what_would_be_created_and_creates_nothing(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("--create", "--dry-run", "--output", "json", "--port", "8080:80")
    assert result.code == 0, result.stderr
    assert "Plan for shop/web: create service web in stack shop (a new stack), scale 1" in result.stderr
    assert "  ports: 8080:80/tcp" in result.stderr
    (target,) = result.json["targets"]
    assert (target["result"], target["state"], target["id"]) == ("planned", "missing", None)
    assert target["requested_image"] == NEW_IMAGE and target["previous_image"] is None
    assert "dry run: a real run would create shop/web; nothing was changed" in target["message"]
    assert writes(sim) == []


def test_a_created_service_that_never_becomes_healthy_is_removed_with_its_new_stack(
        sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.failing_image(NEW_IMAGE)
    result = run_cli("--create", "--output", "json")
    assert result.code == 1, result.stderr
    (target,) = result.json["targets"]
    assert (target["result"], target["state"]) == ("rolled-back", "removed")
    assert target["message"].startswith("shop/web was removed again: ")
    assert (target["previous_image"], target["image"]) == (None, None)
    assert sim.service(target["id"])["state"] == "removed"
    assert live(sim, "stacks", "shop") == [] and live(sim, "services", "web") == []


def test_a_removal_that_fails_exits_4_naming_the_state(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    sim.faults.failing_image(NEW_IMAGE)
    sim.faults.fail_next("/services/", count=100, status=500, method="DELETE")
    result = run_cli("--create", "--output", "json", "--retries", "0")
    assert result.code == 4, result.stderr
    (target,) = result.json["targets"]
    assert (target["result"], target["state"]) == ("failed", "activating")
    assert "shop/web needs attention: this run created it (" in target["message"]
    assert "removing it failed: " in target["message"] and "its state is activating" in target["message"]
    assert [item["id"] for item in live(sim, "stacks", "shop")] == [stack]


@ON_SIMULATED_TIME
def test_a_created_service_that_stops_making_progress_is_given_up_on_the_progress_deadline(
        sim: Simulator, virtual: VirtualTime, run_cli: RunCli) -> None:
    # Rancher 1.x waits for ever for containers that never come up, and says nothing: the wait for
    # a created service is held to RANCHER_PROGRESS_DEADLINE as an upgrade's is, not to RANCHER_TIMEOUT.
    virtual.at(0.1, lambda: sim.faults.hang(live(sim, "services", "web")[0]["id"]))  # before it is active
    virtual.at(100, sim.faults.clear)  # Rancher moves again: the removal goes through
    result = run_cli("--create", "--output", "json", **{**STALL, "RANCHER_POLL_INTERVAL": "0.5"})
    assert result.code == 1, result.stderr
    assert "(RANCHER_PROGRESS_DEADLINE)" in result.stderr
    (target,) = result.json["targets"]
    assert (target["result"], target["state"]) == ("rolled-back", "removed")
    assert virtual.now < 600


@ON_SIMULATED_TIME
def test_a_created_target_counts_as_touched_in_an_atomic_run(
        sim: Simulator, virtual: VirtualTime, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    web = sim.add_service(stack, "web", dict(LAUNCH_CONFIG), scale=2)
    # Only web has a health check, so only web's new containers never become healthy.
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli("--create", "--output", "json", RANCHER_STACK=None, RANCHER_SERVICE="shop/api,shop/web", **STALL)
    assert result.code == 1, result.stderr
    api, web_result = result.json["targets"]
    assert (api["result"], api["state"]) == ("rolled-back", "removed")
    assert "RANCHER_ATOMIC restores every target of the run" in api["message"]
    assert web_result["result"] == "rolled-back"
    assert live(sim, "services", "api") == []
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"


def test_a_lost_answer_to_the_creation_is_looked_up_not_resent(sim: Simulator, run_cli: RunCli) -> None:
    sim.add_stack("shop")
    sim.faults.fail_next("/services", method="POST", drop=True)
    result = run_cli("--create", "--output", "json")
    assert result.code == 0, result.stderr
    assert "The answer to the creation of shop/web was lost" in result.stderr
    assert result.json["targets"][0]["result"] == "created"
    assert len([write for write in writes(sim) if write.startswith("POST") and write.endswith("/services")]) == 1


def test_a_5xx_answer_to_the_creation_with_nothing_made_is_exit_3_and_leaves_no_stack(
        sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.fail_next("/services", method="POST", status=503)
    result = run_cli("--create", "--output", "json")
    assert result.code == 3, result.stderr
    assert "Rancher did not create shop/web (" in result.stderr and "nothing was changed" in result.stderr
    (target,) = result.json["targets"]
    assert (target["result"], target["state"]) == ("not-upgraded", "missing")
    assert live(sim, "services", "web") == [] and live(sim, "stacks", "shop") == []  # the new stack went again


def test_a_service_created_through_a_lost_answer_is_removed_with_its_new_stack(sim: Simulator, run_cli: RunCli) -> None:
    sim.faults.failing_image(NEW_IMAGE)
    sim.faults.fail_next("/services", method="POST", drop=True)
    result = run_cli("--create", "--output", "json")
    assert result.code == 1, result.stderr
    assert "The answer to the creation of shop/web was lost" in result.stderr
    assert result.json["targets"][0]["result"] == "rolled-back"
    assert live(sim, "services", "web") == [] and live(sim, "stacks", "shop") == []


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"RANCHER_IMAGE": None, "RANCHER_SIDEKICK": "log=logger:1"},
     "RANCHER_CREATE: needs RANCHER_IMAGE: the image a missing target is created from"),
    ({"RANCHER_STACK": None}, "RANCHER_CREATE: needs the stack of each service"),
    ({"RANCHER_PORT": "http"}, "RANCHER_PORT: 'http' must be [PUBLIC:]PRIVATE[/tcp|udp]"),
    ({"RANCHER_PORT": "80/sctp"}, "RANCHER_PORT: '80/sctp' has protocol 'sctp'"),
    ({"RANCHER_PORT": "70000"}, "RANCHER_PORT: '70000' has a port outside 1-65535"),
    ({"RANCHER_SCALE": "0"}, "RANCHER_SCALE: must be at least 1"),
])
def test_bad_creation_settings_are_refused_before_any_request(
        sim: Simulator, run_cli: RunCli, overrides: dict[str, str | None], problem: str) -> None:
    result = run_cli(**{"RANCHER_CREATE": "true", **overrides})
    assert result.code == 2, result.stderr
    assert problem in result.stderr
    assert sim.requests == []


def test_sidekicks_cannot_be_created(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("--create", RANCHER_SIDEKICK="log=logger:1")
    assert result.code == 2 and "RANCHER_SIDEKICK: names sidekicks, but shop/web does not exist" in result.stderr
    assert writes(sim) == []


@pytest.mark.parametrize("spelling", [
    {"RANCHER_CREATE": "true", "RANCHER_SCALE": "2", "RANCHER_PORT": "8080:80/tcp"},
    {"INPUT_CREATE": "true", "INPUT_SCALE": "2", "INPUT_PORT": "8080:80/tcp"},
    {"PLUGIN_CREATE": "true", "PLUGIN_SCALE": "2", "PLUGIN_PORT": "8080:80/tcp"},
])
def test_every_entry_point_spells_the_creation_settings(sim: Simulator, run_cli: RunCli,
                                                        spelling: dict[str, str]) -> None:
    result = run_cli("--output", "json", **spelling)
    assert result.code == 0, result.stderr
    service = sim.service(result.json["targets"][0]["id"])
    assert (service["scale"], service["launchConfig"]["ports"]) == (2, ["8080:80/tcp"])


# -- Rancher 2.x: v3 (2.4) and the Kubernetes API (2.8) --------------------------------------------


def test_creates_a_deployment_then_the_next_run_upgrades_it(sim2: Simulator) -> None:
    result = run2(sim2, "--create", "--scale", "2", "--port", "8080/tcp", "--output", "json", RANCHER_IMAGE=OLD)
    assert result.code == 0, result.stderr
    (target,) = result.json["targets"]
    assert (target["result"], target["id"], target["state"]) == ("created", "deployment:default:web", "active")
    assert result.json["flavour"] == ("v3" if sim2.rancher_version == "2.4" else "k8s")
    deployment = sim2.workload("deployment", "default", "web")
    assert deployment["spec"]["replicas"] == 2
    assert containers(sim2)["web"]["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert containers(sim2)["web"]["image"] == OLD
    assert deployment["status"]["availableReplicas"] == 2
    assert "no Service is created" not in result.stderr  # no public port asked for, nothing to warn about

    again = run2(sim2, "--create", "--output", "json")
    assert again.code == 0, again.stderr
    assert (again.json["targets"][0]["result"], again.json["targets"][0]["previous_image"]) == ("upgraded", OLD)
    assert containers(sim2)["web"]["image"] == NEW


def test_a_public_port_is_warned_about_on_rancher_2(sim2: Simulator) -> None:
    result = run2(sim2, "--create", "--port", "8080:80")
    assert result.code == 0, result.stderr
    assert ("--port 8080:80/tcp publishes no port on Rancher 2.x: the container gets containerPort 80 and no "
            "Service is created") in result.stderr
    assert containers(sim2)["web"]["ports"] == [{"containerPort": 80, "protocol": "TCP"}]


def test_a_created_deployment_that_never_becomes_healthy_is_removed(sim2: Simulator) -> None:
    sim2.faults.unhealthy_image(NEW)
    result = run2(sim2, "--create", "--output", "json")
    assert result.code == 1, result.stderr
    assert "exceeded its progress deadline" in result.stderr
    (target,) = result.json["targets"]
    assert (target["result"], target["state"]) == ("rolled-back", "missing")
    with pytest.raises(Exception, match="not found"):
        sim2.workload("deployment", "default", "web")


def test_a_deployment_whose_removal_fails_exits_4(sim2: Simulator) -> None:
    sim2.faults.unhealthy_image(NEW)
    sim2.faults.fail_next("web", count=100, status=500, method="DELETE")
    result = run2(sim2, "--create", "--output", "json", RANCHER_RETRIES="0")
    assert result.code == 4, result.stderr
    (target,) = result.json["targets"]
    assert target["result"] == "failed" and "removing it failed" in target["message"]
    assert f"its state is {target['state']}" in target["message"]
    assert sim2.workload("deployment", "default", "web")["metadata"]["name"] == "web"


def test_without_create_a_missing_workload_is_exit_2_and_nothing_is_created(sim2: Simulator) -> None:
    result = run2(sim2)
    assert result.code == 2, result.stderr
    assert "`RANCHER_CREATE=true` creates it" in result.stderr
    assert writes(sim2) == []


@pytest.mark.parametrize(("overrides", "problem"), [
    ({"RANCHER_NAMESPACE": "nowhere"}, "namespace 'nowhere' not found"),
    ({"RANCHER_WORKLOAD": "statefulset:db"}, "--create: makes deployments only, and default/statefulset:db"),
    ({"RANCHER_CONTAINER": "a,b"}, "RANCHER_CONTAINER: names several containers"),
])
def test_what_create_cannot_make_is_refused_before_any_change(sim2: Simulator, overrides: dict[str, str],
                                                               problem: str) -> None:
    result = run2(sim2, "--create", **overrides)
    assert result.code == 2, result.stderr
    assert problem in result.stderr
    assert writes(sim2) == []


def test_a_dry_run_on_rancher_2_names_the_deployment_it_would_create(sim2: Simulator) -> None:
    result = run2(sim2, "--create", "--dry-run", "--output", "json", RANCHER_CONTAINER="app")
    assert result.code == 0, result.stderr
    assert "Plan for default/deployment:web: create deployment web in namespace default, scale 1" in result.stderr
    assert f"  app: {NEW}" in result.stderr
    assert result.json["targets"][0]["id"] == "deployment:default:web"
    assert writes(sim2) == []


def test_an_existing_workload_keeps_its_scale_and_ports(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)], replicas=3)
    result = run2(sim2, "--create", "--scale", "1", "--port", "9000")
    assert result.code == 0, result.stderr
    assert sim2.workload("deployment", "default", "web")["spec"]["replicas"] == 3
    assert containers(sim2)["web"]["ports"] == WEB["ports"]


def test_a_lost_answer_to_a_2x_creation_is_looked_up_not_resent(sim2: Simulator) -> None:
    collection = "/workloads" if sim2.rancher_version == "2.4" else "/deployments"
    sim2.faults.fail_next(collection, method="POST", drop=True)
    result = run2(sim2, "--create", "--output", "json")
    assert result.code == 0, result.stderr
    assert "The answer to the creation of default/deployment:web was lost" in result.stderr
    assert result.json["targets"][0]["result"] == "created"
    assert len([write for write in writes(sim2) if write.startswith("POST")]) == 1


def test_a_created_deployment_is_removed_when_a_later_workload_fails(sim2: Simulator) -> None:
    sim2.add_workload("default", "front", [dict(WEB)], replicas=2, progress_deadline_seconds=30)
    sim2.faults.capacity(2, "default/front")  # the new pods of front never get scheduled
    result = run2(sim2, "--create", "--output", "json", RANCHER_WORKLOAD="api,front")
    assert result.code == 1, result.stderr
    api, front = result.json["targets"]
    assert (api["result"], api["state"], front["result"]) == ("rolled-back", "missing", "rolled-back")
    assert "front failed, and RANCHER_ATOMIC restores every target of the run" in api["message"]
    with pytest.raises(Exception, match="not found"):
        sim2.workload("deployment", "default", "api")
    assert containers(sim2, name="front")["web"]["image"] == OLD


def test_the_version_policy_does_not_hold_back_a_creation(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("--create", "--version-policy", "newer", "--output", "json")
    assert result.code == 0, result.stderr
    assert result.json["targets"][0]["result"] == "created"


# -- env, labels and the deploy record of a created target (RANCHER_SET_ENV, RANCHER_SET_LABEL, RANCHER_RECORD) --

ENV_SECRET = "env-value-recognisable-5d2c"
GITLAB = {"GITLAB_CI": "true", "CI_PIPELINE_URL": "https://gitlab.example.com/shop/web/-/pipelines/77",
          "CI_COMMIT_SHA": "9fceb02d"}
CAUSE = "kubernetes.io/change-cause"


def test_a_created_service_has_the_env_labels_and_record_asked_for_and_no_value_is_shown(
        sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("--create", "--set-env", f"DATABASE_URL={ENV_SECRET}", "--set-env", "LIST=a,b",
                     "--set-label", "com.example.team=shop", "--unset-env", "OLD", "--output", "json",
                     RANCHER_RECORD="true", **GITLAB)
    assert result.code == 0, result.stderr
    assert "  env: sets DATABASE_URL, LIST (values not shown)" in result.stderr
    assert "  labels: sets com.example.team (values not shown)" in result.stderr
    assert ENV_SECRET not in result.output
    config = sim.service(result.json["targets"][0]["id"])["launchConfig"]
    assert config["environment"] == {"DATABASE_URL": ENV_SECRET, "LIST": "a,b"}
    assert config["labels"] == {
        "com.example.team": "shop",
        "rancher-deploy.change-cause": f"rancher-deploy: web={NEW_IMAGE}; commit 9fceb02d; "
                                       "pipeline https://gitlab.example.com/shop/web/-/pipelines/77"}


def test_a_created_deployment_has_the_env_labels_and_record_asked_for_and_no_value_is_shown(sim2: Simulator) -> None:
    result = run2(sim2, "--create", "--set-env", f"DATABASE_URL={ENV_SECRET}", "--set-label", "tier=web",
                  "--output", "json", **GITLAB)
    assert result.code == 0, result.stderr
    assert ENV_SECRET not in result.output
    deployment = sim2.workload("deployment", "default", "web")
    assert containers(sim2)["web"]["env"] == [{"name": "DATABASE_URL", "value": ENV_SECRET}]
    assert deployment["spec"]["template"]["metadata"]["labels"]["tier"] == "web"
    assert deployment["metadata"]["annotations"][CAUSE] == (
        f"rancher-deploy: web={NEW}; commit 9fceb02d; pipeline https://gitlab.example.com/shop/web/-/pipelines/77")
    assert f"  record: annotation {CAUSE} = rancher-deploy: web={NEW}" in result.stderr


def test_v3_on_rancher_2_6_and_later_creates_with_kubernetes_env() -> None:
    # Rancher 2.6+ refuses v3's environment map (rancher-api.md §5.2): a creation through v3 there
    # sends the env as Kubernetes' list.
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8", timing=Timing.fast()) as sim:
        result = run2(sim, "--create", "--set-env", f"A={ENV_SECRET}", RANCHER_FLAVOUR="v3")
        assert result.code == 0, result.stderr
        assert containers(sim)["web"]["env"] == [{"name": "A", "value": ENV_SECRET}]


def test_a_created_deployment_may_not_set_rancher_s_selector_label(sim2: Simulator) -> None:
    result = run2(sim2, "--create", "--set-label", "workload.user.cattle.io/workloadselector=x")
    assert result.code == 2, result.stderr
    assert "workload.user.cattle.io/workloadselector, which Rancher selects the workload's pods by" in result.stderr
    assert writes(sim2) == []
