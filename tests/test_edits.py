"""Environment variables and labels that merge, and the deploy record, end to end over real HTTP:
Rancher 1.x (a service and its sidekick), Rancher 2.x through v3 (2.4: `environment` maps, so the
change goes through the Kubernetes API; 2.3 and 2.5 too) and the Kubernetes API (2.8); every other key kept, edits alone are an upgrade (and roll back), and no value
reaches any output."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from rancher_deploy import cli, discovery
from rancher_deploy.deploy import Pipeline
from rancher_deploy.errors import ExitCode
from rancher_deploy.events import Event, Result, Step, exit_code
from rancher_deploy.http import Credentials, RancherSession
from rancher_deploy.settings import Command, Settings
from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, SECRET_KEY, RunCli, ci_sinks
from .test_workloads import NEW, OLD, TOKEN_ID, TOKEN_SECRET, WEB, containers, run as run2, sim2, stored  # noqa: F401
from . import test_workload_releases as releases

ENV_SECRET = "env-value-recognisable-5b7d"     # long enough to be masked too
SHORT = "Zq9"                                  # too short to mask: never printed all the same
LABEL_VALUE = "labelvalue-recognisable-2c8"
VALUES = (ENV_SECRET, SHORT, LABEL_VALUE)
CAUSE = "kubernetes.io/change-cause"
SIDEKICK = {"name": "proxy", "imageUuid": f"docker:{OLD_IMAGE}", "environment": {"PROXY_MODE": "edge"},
            "labels": {"io.rancher.container.start_once": "false"}}


def assert_no_value(text: str, where: str) -> None:
    shown = "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))
    for value in VALUES:
        assert value not in shown, f"a value ({value[:8]}...) leaked into {where}"


# -- Rancher 1.x --------------------------------------------------------------------------------------


def test_1x_env_and_labels_merge_on_the_service_and_the_sidekick_it_moves(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    service = sim.add_service(stack, "web", dict(LAUNCH_CONFIG), scale=2, secondary_launch_configs=[dict(SIDEKICK)])
    result = run_cli("--sidekick", f"proxy={NEW_IMAGE}", "--set-env", f"TOKEN={ENV_SECRET}",
                     "--set-env", "LIST=x,y,z", "--unset-env", "DATABASE_URL",
                     "--set-label", f"com.example.release={LABEL_VALUE}", "--unset-label", "com.example.team",
                     "--output", "json")
    assert result.code == 0, result.stderr
    assert result.json["result"] == "upgraded"
    after = sim.service(service)
    primary, (proxy,) = after["launchConfig"], after["secondaryLaunchConfigs"]
    assert primary["environment"] == {"LIST": "x,y,z", "TOKEN": ENV_SECRET}
    assert primary["labels"] == {
        "io.rancher.scheduler.affinity:host_label": "tier=web,zone=eu",   # scheduling labels stay
        "io.rancher.container.pull_image": "always",
        "com.example.release": LABEL_VALUE,
    }
    kept = {key: value for key, value in LAUNCH_CONFIG.items() if key not in ("imageUuid", "environment", "labels")}
    assert {key: primary[key] for key in kept} == kept
    assert proxy["environment"] == {"PROXY_MODE": "edge", "TOKEN": ENV_SECRET, "LIST": "x,y,z"}
    assert proxy["labels"] == SIDEKICK["labels"], "labels go on the service's own launch config"
    assert "rancher-deploy.change-cause" not in primary["labels"], "1.x records only when asked"
    log = result.stderr
    assert "web env: added TOKEN; changed LIST; removed DATABASE_URL (values not shown)" in log
    assert "proxy env: added TOKEN, LIST (values not shown)" in log
    assert "labels: added com.example.release; removed com.example.team (values not shown)" in log
    assert_no_value(result.output, "the output")


def test_1x_edits_alone_are_an_upgrade_and_asking_again_is_unchanged(sim: Simulator, web: str,
                                                                     run_cli: RunCli) -> None:
    # The version policy judges images: a run that changes none is not held to it.
    result = run_cli("--output", "json", RANCHER_IMAGE=None, RANCHER_SET_ENV=f"TOKEN={ENV_SECRET}",
                     RANCHER_VERSION_POLICY="newer")
    assert result.code == 0, result.stderr
    assert result.json["result"] == "upgraded" and result.json["targets"][0]["image"] == OLD_IMAGE
    launch_config = sim.service(web)["launchConfig"]
    assert launch_config["imageUuid"] == f"docker:{OLD_IMAGE}" and launch_config["environment"]["TOKEN"] == ENV_SECRET
    assert sim.service(web)["state"] == "active"
    again = run_cli("--output", "json", RANCHER_IMAGE=None, RANCHER_SET_ENV=f"TOKEN={ENV_SECRET}")
    assert again.code == 0 and again.json["result"] == "unchanged", again.stderr
    assert f"already runs {OLD_IMAGE} with the environment and labels asked for; nothing to do" in again.stderr
    assert_no_value(result.output + again.output, "the output")


def test_1x_an_env_only_upgrade_that_fails_is_rolled_back(sim: Simulator, web: str) -> None:
    environ = {"CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
               "RANCHER_SERVICE": "shop/web", "RANCHER_SET_ENV": f"TOKEN={ENV_SECRET}",
               "RANCHER_POLL_INTERVAL": "0.005",
               "RANCHER_BATCH_INTERVAL": "0.1", "RANCHER_TIMEOUT": "30"}
    settings = Settings.load(Command.UPGRADE, {}, environ)
    backend = discovery.connect(RancherSession(Credentials(ACCESS_KEY, SECRET_KEY)), settings, lambda text: None)
    # The new containers (same image, new environment) crash on start; the restored ones start fine.
    sim.faults.failing_image(OLD_IMAGE)

    def emit(event: Event) -> None:
        if isinstance(event, Step) and event.message.startswith("Rolling back"):
            sim.faults.clear()

    outcome = Pipeline(settings, backend, emit).run()
    assert exit_code(outcome) is ExitCode.ROLLED_BACK
    assert outcome.targets[0].result is Result.ROLLED_BACK
    after = sim.service(web)
    assert after["state"] == "active" and "TOKEN" not in after["launchConfig"]["environment"]
    assert after["launchConfig"]["environment"] == LAUNCH_CONFIG["environment"]


def test_1x_the_record_is_a_label_of_the_same_upgrade_naming_image_pipeline_and_commit(
        sim: Simulator, web: str, run_cli: RunCli) -> None:
    gitlab = {"GITLAB_CI": "true", "CI_PIPELINE_URL": "https://gitlab.example.com/shop/web/-/pipelines/77",
              "CI_COMMIT_SHA": "9fceb02d0ae598e95dc970b74767f19372d61af8"}
    result = run_cli(RANCHER_RECORD="true", **gitlab)
    assert result.code == 0, result.stderr
    labels = sim.service(web)["launchConfig"]["labels"]
    assert labels["rancher-deploy.change-cause"] == (
        f"rancher-deploy: web={NEW_IMAGE}; commit 9fceb02d0ae598e95dc970b74767f19372d61af8; "
        "pipeline https://gitlab.example.com/shop/web/-/pipelines/77")
    assert labels["io.rancher.scheduler.affinity:host_label"] == "tier=web,zone=eu"
    upgrades = [r for r in sim.requests if "action=upgrade" in r.query]
    assert len(upgrades) == 1, "the record is part of the one upgrade"


def test_1x_a_later_upgrade_without_a_record_drops_the_old_one(sim: Simulator, web: str, run_cli: RunCli) -> None:
    """A record left by an earlier run would name the image this upgrade replaces: it goes."""
    assert run_cli(RANCHER_RECORD="true").code == 0
    assert "rancher-deploy.change-cause" in sim.service(web)["launchConfig"]["labels"]
    result = run_cli(RANCHER_IMAGE=OLD_IMAGE)
    assert result.code == 0, result.stderr
    labels = sim.service(web)["launchConfig"]["labels"]
    assert "rancher-deploy.change-cause" not in labels
    assert labels["io.rancher.scheduler.affinity:host_label"] == "tier=web,zone=eu"


def test_1x_a_dry_run_lists_the_keys_and_changes_nothing(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("--dry-run", "--output", "json", RANCHER_IMAGE=None, RANCHER_SET_ENV=f"TOKEN={ENV_SECRET}",
                     RANCHER_SET_LABEL=f"com.example.team={LABEL_VALUE}")
    assert result.code == 0 and result.json["result"] == "planned", result.stderr
    assert "web env: added TOKEN (values not shown)" in result.stderr
    assert "labels: changed com.example.team (values not shown)" in result.stderr
    assert "TOKEN" not in str(sim.service(web)["launchConfig"]["environment"])
    assert_no_value(result.output, "a dry run")


# -- Rancher 2.x ---------------------------------------------------------------------------------------

FROM_SECRET = {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
APP = {**WEB, "env": [*WEB["env"], FROM_SECRET]}
SIDECAR = {"name": "proxy", "image": "envoyproxy/envoy:v1.30.0", "env": [{"name": "PROXY_MODE", "value": "edge"}]}
POD_LABELS = {"app.kubernetes.io/part-of": "shop", "tier": "front"}
SELECTOR = "workload.user.cattle.io/workloadselector"


@pytest.fixture
def rancher2(sim2: Simulator) -> Simulator:  # noqa: F811 - the fixture imported above
    """Rancher 2.4 (v3, `environment` maps) and 2.8 (the Kubernetes API): test_workloads' simulators."""
    return sim2


def kube(sim: Simulator, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{sim.url}/k8s/clusters/local{path}", json=body, timeout=5,
                                headers={"Authorization": f"Bearer {TOKEN_ID}:{TOKEN_SECRET}",
                                         "Content-Type": "application/strategic-merge-patch+json"})
    assert response.status_code == 200, response.text
    return response.json()


def seed2(sim: Simulator, name: str = "web", **options: Any) -> None:
    """A deployment of the application container (with a secret reference) and a sidecar, whose pod
    template carries labels of its own beside Rancher's selector label."""
    sim.add_workload("default", name, [dict(APP), dict(SIDECAR)], replicas=2, **options)
    kube(sim, "PATCH", f"/apis/apps/v1/namespaces/default/deployments/{name}",
         {"spec": {"template": {"metadata": {"labels": POD_LABELS}}}})
    sim.advance(60)


def deployment(sim: Simulator, name: str = "web") -> dict[str, Any]:
    return sim.workload("deployment", "default", name)


def test_2x_env_and_labels_merge_keeping_value_from_entries_order_and_other_labels(rancher2: Simulator) -> None:
    seed2(rancher2)
    result = run2(rancher2, "--output", "json", RANCHER_SET_ENV=f"TOKEN={ENV_SECRET}\nLIST=x,y",
                  RANCHER_UNSET_ENV="DATABASE_URL", RANCHER_SET_LABEL=f"release={LABEL_VALUE}",
                  RANCHER_UNSET_LABEL="tier")
    assert result.code == 0, result.stderr
    assert result.json["result"] == "upgraded"
    after = containers(rancher2)
    assert after["web"]["image"] == NEW
    plain = [{"name": "LIST", "value": "x,y"}, {"name": "TOKEN", "value": ENV_SECRET}]
    # The order is kept everywhere: through v3 up to 2.5, whose environment mapper would put plain
    # values before references (rancher/types mapper/env.go), the change goes through the Kubernetes API.
    assert after["web"]["env"] == [plain[0], FROM_SECRET, plain[1]]
    assert {key: after["web"][key] for key in ("ports", "resources", "imagePullPolicy")} == {
        key: WEB[key] for key in ("ports", "resources", "imagePullPolicy")}
    assert after["proxy"] == stored(SIDECAR), "the sidecar runs another image: its environment is not the run's"
    labels = deployment(rancher2)["spec"]["template"]["metadata"]["labels"]
    assert labels == {SELECTOR: "deployment-default-web", "app.kubernetes.io/part-of": "shop",
                      "release": LABEL_VALUE}
    log = result.stderr
    assert "web env: added TOKEN; changed LIST; removed DATABASE_URL (values not shown)" in log
    assert "pod labels: added release; removed tier (values not shown)" in log
    assert_no_value(result.output, "the output")


def test_2x_v3_of_rancher_2_6_and_later_edits_the_form_its_containers_show() -> None:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8", timing=Timing.fast()) as sim:
        seed2(sim)
        url = f"{sim.url}/v3/project/{sim.default_project_id}/workloads/deployment:default:web"
        shown = requests.get(url, auth=(TOKEN_ID, TOKEN_SECRET), timeout=5).json()["containers"][0]
        result = run2(sim, RANCHER_FLAVOUR="v3", RANCHER_SET_ENV=f"TOKEN={ENV_SECRET}", RANCHER_UNSET_ENV="LIST")
        assert result.code == 0, result.stderr
        assert "v3 API" in result.stderr
        token = {"name": "TOKEN", "value": ENV_SECRET}
        # 2.6 removed v3's environment mapper: its containers show Kubernetes' `env`, whose order is kept.
        expected = [WEB["env"][0], FROM_SECRET, token] if "env" in shown else [WEB["env"][0], token, FROM_SECRET]
        assert containers(sim)["web"]["env"] == expected


def test_2x_edits_alone_roll_out_and_asking_again_is_unchanged(rancher2: Simulator) -> None:
    seed2(rancher2)
    result = run2(rancher2, "--output", "json", RANCHER_IMAGE=None, RANCHER_CONTAINER="web",
                  RANCHER_SET_ENV=f"TOKEN={ENV_SECRET}")
    assert result.code == 0, result.stderr
    assert result.json["result"] == "upgraded" and result.json["targets"][0]["image"] == OLD
    assert {"name": "TOKEN", "value": ENV_SECRET} in containers(rancher2)["web"]["env"]
    status = deployment(rancher2)["status"]
    assert status["updatedReplicas"] == status["availableReplicas"] == 2
    again = run2(rancher2, "--output", "json", RANCHER_IMAGE=None, RANCHER_CONTAINER="web",
                 RANCHER_SET_ENV=f"TOKEN={ENV_SECRET}")
    assert again.code == 0 and again.json["result"] == "unchanged", again.stderr


def test_2x_edits_alone_need_the_container_when_the_pod_has_several(rancher2: Simulator) -> None:
    seed2(rancher2)
    result = run2(rancher2, RANCHER_IMAGE=None, RANCHER_SET_ENV="A=1")
    assert result.code == 2
    assert "RANCHER_CONTAINER: is required: default/deployment:web has several containers (web, proxy)" in result.stderr


@pytest.mark.parametrize("edit", [{"RANCHER_SET_LABEL": f"{SELECTOR}=other"}, {"RANCHER_UNSET_LABEL": SELECTOR}])
def test_2x_a_selector_label_is_refused_before_any_change(rancher2: Simulator, edit: dict[str, str]) -> None:
    seed2(rancher2)
    before = deployment(rancher2)
    rancher2.reset_log()
    result = run2(rancher2, **edit)
    assert result.code == 2
    assert f"names {SELECTOR}, which the selector of default/deployment:web uses" in result.stderr
    assert [r for r in rancher2.requests if r.method in ("PUT", "PATCH", "POST")] == []
    assert deployment(rancher2)["spec"] == before["spec"]


def test_2x_an_env_only_upgrade_that_never_becomes_available_is_rolled_back(rancher2: Simulator) -> None:
    seed2(rancher2, "front", progress_deadline_seconds=30)
    rancher2.faults.capacity(2, "default/front")   # the new pods never get scheduled
    result = run2(rancher2, "--output", "json", RANCHER_WORKLOAD="front", RANCHER_IMAGE=None, RANCHER_CONTAINER="web",
                  RANCHER_SET_ENV=f"TOKEN={ENV_SECRET}", RANCHER_SET_LABEL=f"release={LABEL_VALUE}")
    assert result.code == 1, result.stderr
    assert result.json["targets"][0]["result"] == "rolled-back"
    after = deployment(rancher2, "front")
    assert after["spec"]["template"]["spec"]["containers"][0]["env"] == APP["env"]
    assert "release" not in after["spec"]["template"]["metadata"]["labels"]
    assert CAUSE not in (after["metadata"].get("annotations") or {}), "the record goes back with the change"
    assert after["status"]["availableReplicas"] == 2
    assert_no_value(result.output, "the output")


def test_2x_the_record_is_the_workloads_own_change_cause_in_the_same_write(rancher2: Simulator) -> None:
    seed2(rancher2)
    github = {"GITHUB_ACTIONS": "true", "GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "shop/web",
              "GITHUB_RUN_ID": "4242", "GITHUB_SHA": "0a1b2c3d"}
    writes_before = len([r for r in rancher2.requests if r.method in ("PUT", "PATCH")])
    result = run2(rancher2, RANCHER_SET_ENV="A=1", **github)
    assert result.code == 0, result.stderr
    cause = (f"rancher-deploy: web={NEW} (env changed); commit 0a1b2c3d; "
             "pipeline https://github.com/shop/web/actions/runs/4242")
    after = deployment(rancher2)
    assert after["metadata"]["annotations"][CAUSE] == cause
    assert CAUSE not in (after["spec"]["template"]["metadata"].get("annotations") or {}), \
        "on the pod template it would start a rollout by itself"
    writes = [r for r in rancher2.requests if r.method in ("PUT", "PATCH")][writes_before:]
    assert len(writes) == 1, "the record is written with the change"
    newest = max(rancher2.replica_sets("default", "web"),
                 key=lambda rs: int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]))
    assert newest["metadata"]["annotations"][CAUSE] == cause, "what kubectl rollout history lists"
    assert f"record: annotation {CAUSE} = {cause}" in result.stderr
    if rancher2.rancher_version == "2.4":
        body = requests.get(f"{rancher2.url}/v3/project/{rancher2.default_project_id}/workloads/deployment:default:web",
                            auth=(TOKEN_ID, TOKEN_SECRET), timeout=5).json()
        assert body["workloadAnnotations"][CAUSE] == cause and CAUSE not in body["annotations"]


def test_2x_record_false_writes_none(rancher2: Simulator) -> None:
    seed2(rancher2)
    assert run2(rancher2, RANCHER_RECORD="false").code == 0
    assert CAUSE not in (deployment(rancher2)["metadata"].get("annotations") or {})


def test_2x_a_rolled_back_upgrade_puts_the_earlier_record_back(rancher2: Simulator) -> None:
    seed2(rancher2, progress_deadline_seconds=30)
    assert run2(rancher2, GITLAB_CI="true", CI_COMMIT_SHA="first").code == 0
    first = deployment(rancher2)["metadata"]["annotations"][CAUSE]
    assert first == f"rancher-deploy: web={NEW}; commit first"
    rancher2.faults.unhealthy_image("registry.example.com:5000/shop/web:2.2")
    result = run2(rancher2, RANCHER_IMAGE="registry.example.com:5000/shop/web:2.2", GITLAB_CI="true",
                  CI_COMMIT_SHA="second")
    assert result.code == 1, result.stderr
    assert deployment(rancher2)["metadata"]["annotations"][CAUSE] == first


# -- Rancher 2.5 and before: v3's environment mapper kept away from the variables ------------------


@pytest.mark.parametrize("version", ["2.3", "2.5"])
def test_2x_edits_through_v3_up_to_2_5_go_through_the_kubernetes_api_keeping_every_variable_in_order(
        version: str) -> None:
    # releases.WEB interleaves plain and sourced variables (APP_URL refers to ZONE): a v3 PUT would
    # have Rancher's mapper sort the plain ones first.
    with releases.simulator(version) as sim:
        sim.add_workload("default", "web", [dict(releases.WEB)], replicas=2)
        result = run2(sim, "--output", "json", RANCHER_SET_ENV=f"ZONE=us\nTOKEN={ENV_SECRET}",
                      RANCHER_UNSET_ENV="CPU", RANCHER_SET_LABEL=f"release={LABEL_VALUE}")
        assert result.code == 0, result.stderr
        assert result.json["flavour"] == "v3" and "warning" not in result.stderr
        env = [{"name": "ZONE", "value": "us"}, *releases.ENV[1:4], {"name": "TOKEN", "value": ENV_SECRET}]
        assert releases.container(sim) == stored({**releases.WEB, "image": NEW, "env": env})
        workload = deployment(sim)
        assert workload["spec"]["template"]["metadata"]["labels"]["release"] == LABEL_VALUE
        assert workload["metadata"]["annotations"][CAUSE] == f"rancher-deploy: web={NEW} (env and labels changed)"
        assert sim.count("PUT") == 0 and sim.count("PATCH", "/deployments/web") == 1, "one write, with its record"


def test_2x_a_change_through_the_kubernetes_api_of_rancher_2_5_rolls_back_to_exactly_what_was_there() -> None:
    with releases.simulator("2.5") as sim:
        sim.add_workload("default", "web", [dict(releases.WEB)], replicas=2, progress_deadline_seconds=30)
        before = deployment(sim)
        sim.faults.capacity(2, "default/web")   # the new pods never get scheduled
        result = run2(sim, "--output", "json", RANCHER_SET_ENV=f"TOKEN={ENV_SECRET}",
                      RANCHER_SET_LABEL=f"release={LABEL_VALUE}")
        assert result.code == 1, result.stderr
        assert result.json["targets"][0]["result"] == "rolled-back"
        after = deployment(sim)
        assert after["spec"]["template"] == before["spec"]["template"], "variables in their order, labels, all"
        assert CAUSE not in (after["metadata"].get("annotations") or {})
        assert sim.count("PUT") == 0 and sim.count("POST") == 0


def test_2x_force_with_its_record_on_rancher_2_5_is_one_put_that_leaves_the_variables_alone_both_ways() -> None:
    with releases.simulator("2.5") as sim:
        sim.add_workload("default", "web", [dict(releases.WEB)], replicas=2, progress_deadline_seconds=30)
        before = deployment(sim)
        stamp = (before["spec"]["template"]["metadata"].get("annotations") or {}).get("cattle.io/timestamp")
        sim.faults.capacity(2, "default/web")
        result = run2(sim, "--force", "--output", "json", RANCHER_IMAGE=OLD, GITLAB_CI="true", CI_COMMIT_SHA="abc")
        assert result.code == 1, result.stderr
        assert result.json["targets"][0]["result"] == "rolled-back"
        # The redeploy with its record, then its rollback: PUTs of the fields they change, no containers.
        assert sim.count("PUT", "/workloads/deployment:default:web") == 2
        assert sim.count("POST") == sim.count("PATCH") == 0
        (redeployed,) = [rs for rs in sim.replica_sets("default", "web") if (rs["spec"]["template"]["metadata"]
                         .get("annotations") or {}).get("cattle.io/timestamp") != stamp]
        assert redeployed["metadata"]["annotations"][CAUSE] == f"rancher-deploy: web={OLD}; commit abc"
        after = deployment(sim)
        assert after["spec"]["template"] == before["spec"]["template"]
        assert CAUSE not in (after["metadata"].get("annotations") or {})


def test_2x_a_rollback_the_kubernetes_api_refuses_goes_through_v3_and_says_so() -> None:
    with releases.simulator("2.5") as sim:
        sim.add_workload("default", "web", [dict(releases.WEB)], replicas=2, progress_deadline_seconds=30)
        sim.faults.unhealthy_image(NEW)
        environ = {"CATTLE_URL": sim.url, "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}", "RANCHER_WORKLOAD": "web",
                   "RANCHER_IMAGE": NEW, "RANCHER_POLL_INTERVAL": "0.005", "RANCHER_TIMEOUT": "30"}
        settings = Settings.load(Command.UPGRADE, {}, environ)
        warnings: list[str] = []
        backend = discovery.connect(RancherSession(Credentials(token=settings.token)), settings, warnings.append)

        def emit(event: Event) -> None:
            if isinstance(event, Step) and event.message.startswith("Rolling back"):
                sim.faults.fail_next("/k8s/clusters/local/apis/apps", status=403, method="PATCH")

        outcome = Pipeline(settings, backend, emit).run()
        assert exit_code(outcome) is ExitCode.ROLLED_BACK
        assert warnings == [
            "default/deployment:web: the Kubernetes API that changed it refused its rollback (HTTP 403); rolling it "
            "back through v3, which rewrites the containers' environment variables (plain ones sorted by name first)"]
        after = deployment(sim)
        assert after["spec"]["template"]["spec"]["containers"][0]["image"] == OLD
        assert CAUSE not in (after["metadata"].get("annotations") or {})
        assert sim.count("PUT", "/workloads/deployment:default:web") == 1


# -- every output ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dialect", ["github", "gitlab"])
@pytest.mark.parametrize("outcome", ["upgraded", "rolled-back", "planned"])
def test_no_value_reaches_any_sink(sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path,
                                   dialect: str, outcome: str) -> None:
    ci, files = ci_sinks(tmp_path, dialect)
    environ = {**base_env, **ci, "RANCHER_VERBOSE": "true", "RANCHER_OUTPUT": "json", "RANCHER_RECORD": "true",
               "RANCHER_SET_ENV": f"TOKEN={ENV_SECRET}\nSHORT={SHORT}",
               "RANCHER_SET_LABEL": f"com.example.release={LABEL_VALUE}"}
    if outcome == "rolled-back":
        sim.faults.unhealthy_image(NEW_IMAGE)
        environ["RANCHER_PROGRESS_DEADLINE"] = "0.3"
    if outcome == "planned":
        environ["RANCHER_DRY_RUN"] = "true"
    stdout, stderr = io.StringIO(), io.StringIO()
    code = cli.main([], environ=environ, dotenv_path=None, stdout=stdout, stderr=stderr)
    assert code == (1 if outcome == "rolled-back" else 0), stderr.getvalue()
    document = json.loads(stdout.getvalue().strip().splitlines()[-1])
    assert document["result"] == outcome
    assert "debug: GET" in stderr.getvalue() and "TOKEN" in stderr.getvalue()
    assert_no_value(stderr.getvalue(), "stderr")
    assert_no_value(stdout.getvalue(), "stdout")
    written = [file for file in files if file.exists()]
    assert written
    for file in written:
        assert_no_value(file.read_text(encoding="utf-8"), file.name)
    if dialect == "github":
        assert f"::add-mask::{ENV_SECRET}" in stderr.getvalue().splitlines()
