"""The version policy end to end, over HTTP: RANCHER_VERSION_POLICY, a target's own `autoupdate.policy`
label (1.x launch config) or annotation/label (2.x workload), skips, and same-tag redeploys."""

from __future__ import annotations

from typing import Any, Iterator

import pytest

from rancher_deploy.simulator import Simulator, Timing

from .conftest import LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, CliRun, RunCli, VirtualTime, invoke_cli

REPO = "registry.example.com:5000/shop/web"
PULL = "io.rancher.container.pull_image"


def service(sim: Simulator, tag: str, labels: dict[str, str] | None = None, *, name: str = "web",
            pull: bool = True, stack: str | None = None) -> str:
    """Service shop/NAME on REPO:TAG, with the usual launch config and these labels besides."""
    stack = stack or sim.add_stack("shop")
    config: dict[str, Any] = {**LAUNCH_CONFIG, "imageUuid": f"docker:{REPO}:{tag}",
                              "labels": {**LAUNCH_CONFIG["labels"], **(labels or {})}}
    if not pull:
        config["labels"] = {key: value for key, value in config["labels"].items() if key != PULL}
    return sim.add_service(stack, name, config)


def image_of(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"]).removeprefix(f"docker:{REPO}:")


@pytest.mark.parametrize(("policy", "running", "new", "result"), [
    ("newer", "9.0", "10.0", "upgraded"),          # the seed compared strings and said no
    ("newer", "2.0", "1.3", "skipped"),
    ("newer", "1.0", "latest", "upgraded"),
    ("newer", "latest", "1.0", "skipped"),
    ("minor", "1.2.3", "1.3.0", "upgraded"),
    ("minor", "1.2.3", "2.0.0", "skipped"),
    ("patch", "1.2.3", "1.3.0", "skipped"),
    ("all", "1.0.0", "1.1.0-rc.1", "skipped"),     # a pre-release keeps to its own track
    ("newer", "1.25-alpine", "1.26", "skipped"),   # a variant keeps to itself, both ways
    ("newer", "1.25-alpine", "1.26-alpine", "upgraded"),
    ("newer", "1.2.3", "1.2.3-4-gabc1234", "skipped"),   # a git describe build is a track of its own
    ("glob:2.*", "1.0", "2.5", "upgraded"),
    ("regexp:^v", "1.0", "2.0", "skipped"),
])
def test_the_setting_decides_each_target_and_a_skip_is_exit_0_with_its_reason(
        sim: Simulator, run_cli: RunCli, policy: str, running: str, new: str, result: str) -> None:
    web = service(sim, running)
    ran = run_cli("--output", "json", RANCHER_VERSION_POLICY=policy, RANCHER_IMAGE=f"{REPO}:{new}")
    assert ran.code == 0, ran.stderr
    assert ran.json["targets"][0]["result"] == result
    assert image_of(sim, web) == (new if result == "upgraded" else running)
    if result == "skipped":
        assert f"skipped by the version policy {policy} (RANCHER_VERSION_POLICY): web stays on" in ran.stderr
        assert ran.json["targets"][0]["message"].startswith("skipped by the version policy")
        assert sim.count("POST") == 0


def test_a_services_label_overrides_the_setting(sim: Simulator, run_cli: RunCli) -> None:
    web = service(sim, "1.2.3", {"autoupdate.policy": "patch"})
    skipped = run_cli("--output", "json", RANCHER_VERSION_POLICY="any", RANCHER_IMAGE=f"{REPO}:1.3.0")
    assert skipped.code == 0 and skipped.json["result"] == "skipped"
    assert ("skipped by the version policy patch (label autoupdate.policy): web stays on "
            f"{REPO}:1.2.3: 1.3.0 is another minor version than 1.2.3; patch stays within it") in skipped.stderr
    upgraded = run_cli(RANCHER_VERSION_POLICY="any", RANCHER_IMAGE=f"{REPO}:1.2.4")
    assert upgraded.code == 0, upgraded.stderr
    assert image_of(sim, web) == "1.2.4"
    # The label rides along in the launch config the upgrade sends back whole.
    assert sim.service(web)["launchConfig"]["labels"]["autoupdate.policy"] == "patch"


def test_whitespace_after_the_colon_of_a_pattern_is_dropped_in_the_setting_and_the_label(
        sim: Simulator, run_cli: RunCli) -> None:
    # `glob: 2.*` kept its space and matched no tag, skipping every target without a word of why.
    stack = sim.add_stack("shop")
    web = service(sim, "1.0", stack=stack)
    api = service(sim, "1.0", {"autoupdate.policy": "glob:  2.* "}, name="api", stack=stack)
    ran = run_cli("--output", "json", RANCHER_SERVICE="web,api", RANCHER_ATOMIC="false",
                  RANCHER_VERSION_POLICY="glob: 2.*", RANCHER_IMAGE=f"{REPO}:2.5")
    assert ran.code == 0, ran.stderr
    assert [target["result"] for target in ran.json["targets"]] == ["upgraded", "upgraded"]
    assert image_of(sim, web) == image_of(sim, api) == "2.5"
    refused = run_cli(RANCHER_SERVICE="web", RANCHER_VERSION_POLICY="glob: ", RANCHER_IMAGE=f"{REPO}:2.6")
    assert refused.code == 2
    assert "RANCHER_VERSION_POLICY: glob needs a pattern after the colon, e.g. glob:1.*" in refused.stderr


def test_a_label_that_is_no_policy_is_exit_2_before_any_target_changes(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    good = service(sim, "1.0", name="api", stack=stack)
    service(sim, "1.0", {"autoupdate.policy": "mjaor"}, stack=stack)
    result = run_cli("--output", "json", RANCHER_SERVICE="api,web", RANCHER_IMAGE=f"{REPO}:2.0")
    assert result.code == 2
    assert result.stderr.splitlines()[-2] == (
        "rancher-deploy: error: label autoupdate.policy of shop/web: must be one of any, newer, all, major, minor, "
        "patch, force, glob:PATTERN, regexp:PATTERN, got 'mjaor'; nothing was changed")
    assert result.json["exit_code"] == 2
    assert [r for r in sim.requests if r.method != "GET"] == []
    assert image_of(sim, good) == "1.0"


def test_latest_again_under_newer_is_a_redeploy_that_pulls(sim: Simulator, run_cli: RunCli) -> None:
    web = service(sim, "latest")
    before = sim.service(web)["launchConfig"].get("version")
    result = run_cli("--output", "json", RANCHER_VERSION_POLICY="newer", RANCHER_IMAGE=f"{REPO}:latest")
    assert result.code == 0, result.stderr
    assert result.json["targets"][0]["result"] == "upgraded"
    assert (f"  web: {REPO}:latest (same image, redeployed: the version policy newer (RANCHER_VERSION_POLICY))"
            in result.stderr)
    assert sim.service(web)["launchConfig"]["version"] != before
    assert " restarts web" not in result.stderr   # the service pulls: nothing to warn about


def test_latest_again_without_the_pull_label_warns_and_never_adds_it(sim: Simulator, run_cli: RunCli) -> None:
    web = service(sim, "latest", pull=False)
    result = run_cli(RANCHER_VERSION_POLICY="newer", RANCHER_IMAGE=f"{REPO}:latest")
    assert result.code == 0, result.stderr
    assert (f"warning: shop/web: the version policy newer (RANCHER_VERSION_POLICY) restarts web on {REPO}:latest, "
            "but without the label "
            f"{PULL}=always Rancher starts it from the image the host has cached; add the label to pull the tag "
            "again") in result.stderr
    assert PULL not in sim.service(web)["launchConfig"]["labels"]


def test_the_same_image_is_left_alone_by_any_and_redeployed_by_force(sim: Simulator, run_cli: RunCli) -> None:
    web = service(sim, "latest")
    left = run_cli("--output", "json", RANCHER_IMAGE=f"{REPO}:latest")
    assert left.code == 0 and left.json["result"] == "unchanged"
    assert sim.count("POST") == 0
    sim.reset_log()
    forced = run_cli("--output", "json", RANCHER_VERSION_POLICY="force", RANCHER_IMAGE=f"{REPO}:latest")
    assert forced.code == 0 and forced.json["result"] == "upgraded", forced.stderr
    assert len([r for r in sim.requests if "action=upgrade" in r.query]) == 1
    assert image_of(sim, web) == "latest"


# Rancher 2.x: the workload's own annotation or label, through v3 (2.4) and the Kubernetes API (2.8).

TOKEN_ID = "token-abcde"
TOKEN_SECRET = "tokensecret-recognisable-91c"


@pytest.fixture(params=["2.4", "2.8"])
def sim2(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version=request.param, timing=Timing.fast()) as simulator:
        yield simulator


def run2(sim: Simulator, *argv: str, **overrides: str | None) -> CliRun:
    environ = {"CATTLE_URL": sim.url, "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}", "RANCHER_WORKLOAD": "web",
               "RANCHER_POLL_INTERVAL": "0.005", "RANCHER_TIMEOUT": "30", "RANCHER_REQUEST_TIMEOUT": "5"}
    return invoke_cli(argv, environ, overrides, TOKEN_SECRET)


def workload_image(sim: Simulator) -> str:
    return str(sim.workload("deployment", "default", "web")["spec"]["template"]["spec"]["containers"][0]["image"])


def test_a_workloads_annotation_holds_what_a_label_cannot_and_wins_over_its_label(sim2: Simulator) -> None:
    # `glob:2.*` is no valid Kubernetes label value; Keel reads the annotation first for that reason.
    sim2.add_workload("default", "web", [{"name": "web", "image": f"{REPO}:2.0", "imagePullPolicy": "Always"}],
                      labels={"autoupdate.policy": "patch"}, annotations={"autoupdate.policy": "glob:2.*"})
    skipped = run2(sim2, "--output", "json", RANCHER_IMAGE=f"{REPO}:3.0")
    assert skipped.code == 0 and skipped.json["result"] == "skipped", skipped.stderr
    assert "skipped by the version policy glob:2.* (annotation autoupdate.policy): web stays on" in skipped.stderr
    upgraded = run2(sim2, RANCHER_IMAGE=f"{REPO}:2.9")   # patch (the label) would refuse 2.0 -> 2.9
    assert upgraded.code == 0, upgraded.stderr
    assert workload_image(sim2) == f"{REPO}:2.9"


def test_a_workloads_label_overrides_the_setting(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [{"name": "web", "image": f"{REPO}:2.0"}], labels={"autoupdate.policy": "patch"})
    skipped = run2(sim2, "--output", "json", RANCHER_IMAGE=f"{REPO}:2.1", RANCHER_VERSION_POLICY="all")
    assert skipped.code == 0 and skipped.json["result"] == "skipped"
    assert "(label autoupdate.policy)" in skipped.stderr
    assert workload_image(sim2) == f"{REPO}:2.0"


def test_a_workload_annotation_that_is_no_policy_is_exit_2(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [{"name": "web", "image": f"{REPO}:2.0"}],
                      annotations={"autoupdate.policy": "regexp:(v2"})
    result = run2(sim2, RANCHER_IMAGE=f"{REPO}:2.1")
    assert result.code == 2
    assert ("error: annotation autoupdate.policy of default/deployment:web: regexp:(v2 is not a regular expression"
            in result.stderr)
    assert workload_image(sim2) == f"{REPO}:2.0"


def test_latest_again_on_a_workload_that_does_not_pull_warns_with_the_fix(sim2: Simulator) -> None:
    # Created on a version tag, the apiserver stored imagePullPolicy IfNotPresent (SetDefaults_Container),
    # and moving the image to `latest` keeps the stored field: the usual way a workload ends up not pulling.
    sim2.add_workload("default", "web", [{"name": "web", "image": f"{REPO}:2.0"}])
    moved = run2(sim2, RANCHER_IMAGE=f"{REPO}:latest")
    assert moved.code == 0 and "imagePullPolicy" not in moved.stderr, moved.stderr
    assert workload_image(sim2) == f"{REPO}:latest"
    result = run2(sim2, "--output", "json", RANCHER_IMAGE=f"{REPO}:latest", RANCHER_VERSION_POLICY="newer")
    assert result.code == 0 and result.json["result"] == "upgraded", result.stderr
    assert ("warning: default/deployment:web: the version policy newer (RANCHER_VERSION_POLICY) restarts web on "
            f"{REPO}:latest, but its imagePullPolicy is "
            "IfNotPresent, so a node that has this tag cached starts the old copy; set imagePullPolicy: Always on "
            "the container to pull the tag again") in result.stderr
    container = sim2.workload("deployment", "default", "web")["spec"]["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"


# Fleet mode (`--select-image`): each pick follows its own policy; one that cannot be read fails alone.


def fleet(run_cli: RunCli, **overrides: str | None) -> CliRun:
    return run_cli("--output", "json", RANCHER_STACK=None, RANCHER_SERVICE=None, RANCHER_SELECT_IMAGE="true",
                   **overrides)


def test_each_fleet_pick_follows_its_own_policy(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    web = service(sim, "1.2.3", {"autoupdate.enable": "true"}, stack=stack)
    api = service(sim, "1.2.3", {"autoupdate.enable": "true", "autoupdate.policy": "patch"}, name="api", stack=stack)
    old = service(sim, "9.0", {"autoupdate.enable": "true"}, name="old", stack=stack)
    result = fleet(run_cli, RANCHER_IMAGE=f"{REPO}:10.0", RANCHER_VERSION_POLICY="newer")
    assert result.code == 0, result.stderr
    results = {target["target"]: target["result"] for target in result.json["targets"]}
    assert results == {"Default/shop/web": "upgraded", "Default/shop/api": "skipped", "Default/shop/old": "upgraded"}
    assert image_of(sim, web) == image_of(sim, old) == "10.0" and image_of(sim, api) == "1.2.3"
    assert "skipped by the version policy patch (label autoupdate.policy): api stays on" in result.stderr
    assert all(target["ui_url"] for target in result.json["targets"])


BAD_LABEL = ("Default/shop/api was not upgraded: its label autoupdate.policy is no version policy: must be one of "
             "any, newer, all, major, minor, patch, force, glob:PATTERN, regexp:PATTERN, got 'sometimes'; fix or "
             "remove the label (the other targets go on); nothing was changed on it")


def test_a_fleet_pick_whose_label_is_no_policy_fails_alone_and_the_others_go_on(
        sim: Simulator, run_cli: RunCli) -> None:
    # One team's typo in a shared fleet must not block everyone's upgrades: exit 4 (targets ended in
    # different states), the bad label named in its target's result.
    stack = sim.add_stack("shop")
    api = service(sim, "1.0", {"autoupdate.enable": "true", "autoupdate.policy": "sometimes"}, name="api", stack=stack)
    web = service(sim, "1.0", {"autoupdate.enable": "true"}, stack=stack)
    result = fleet(run_cli, RANCHER_IMAGE=f"{REPO}:2.0")
    assert result.code == 4, result.stderr
    targets = {target["target"]: target for target in result.json["targets"]}
    assert targets["Default/shop/web"]["result"] == "upgraded"
    assert targets["Default/shop/api"]["result"] == "not-upgraded"
    # Exit 4 with the others upgraded: what runs the upgrade on it alone, once the label is fixed, follows.
    assert targets["Default/shop/api"]["message"].startswith(f"{BAD_LABEL}; once what stopped it is fixed, upgrade it")
    assert f"error: {BAD_LABEL}" in result.stderr
    assert image_of(sim, web) == "2.0" and image_of(sim, api) == "1.0"
    assert [r for r in sim.requests if r.method != "GET" and api in r.path] == []


@pytest.mark.parametrize("timing", [Timing(speed=0)])
def test_a_bad_label_beside_a_pick_that_rolled_back_is_exit_1(
        sim: Simulator, virtual: VirtualTime, run_cli: RunCli) -> None:
    from .test_fleet import STALL, config
    stack = sim.add_stack("shop")
    sim.add_service(stack, "api", config(autoupdate_enable="true", autoupdate_policy="sometimes"))
    web = sim.add_service(stack, "web", config(health=True, autoupdate_enable="true"))   # never healthy on NEW
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = fleet(run_cli, RANCHER_IMAGE=NEW_IMAGE, **STALL)
    assert result.code == 1, result.stderr
    results = {target["target"]: target["result"] for target in result.json["targets"]}
    assert results == {"Default/shop/api": "not-upgraded", "Default/shop/web": "rolled-back"}
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"


def test_a_bad_label_with_nothing_else_to_do_is_exit_2_listing_every_target(sim: Simulator, run_cli: RunCli) -> None:
    # Nothing changed anywhere and nothing else failed: the run's answer is the label (fix the settings).
    stack = sim.add_stack("shop")
    service(sim, "1.0", {"autoupdate.enable": "true", "autoupdate.policy": "sometimes"}, name="api", stack=stack)
    web = service(sim, "2.0", {"autoupdate.enable": "true"}, stack=stack)
    result = fleet(run_cli, RANCHER_IMAGE=f"{REPO}:2.0")
    assert result.code == 2, result.stderr
    assert result.stderr.splitlines()[-2] == (
        "rancher-deploy: error: label autoupdate.policy of Default/shop/api: must be one of any, newer, all, major, "
        "minor, patch, force, glob:PATTERN, regexp:PATTERN, got 'sometimes'; nothing was changed")
    results = {target["target"]: target["result"] for target in result.json["targets"]}
    assert results == {"Default/shop/api": "not-upgraded", "Default/shop/web": "unchanged"}
    assert [r for r in sim.requests if r.method != "GET"] == []
    assert image_of(sim, web) == "2.0"


def test_a_fleet_dry_run_lists_the_pick_whose_label_is_no_policy_with_its_reason(
        sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    service(sim, "1.0", {"autoupdate.enable": "true", "autoupdate.policy": "sometimes"}, name="api", stack=stack)
    service(sim, "1.0", {"autoupdate.enable": "true"}, stack=stack)
    result = fleet(run_cli, RANCHER_DRY_RUN="true", RANCHER_IMAGE=f"{REPO}:2.0")
    assert result.code == 2, result.stderr
    targets = {target["target"]: target for target in result.json["targets"]}
    assert targets["Default/shop/web"]["result"] == "planned"
    assert targets["Default/shop/api"]["result"] == "not-upgraded"
    assert targets["Default/shop/api"]["message"] == BAD_LABEL
    assert f"error: {BAD_LABEL}\n" in result.stderr   # the log line of its own, beside the planned one
    assert "Default/shop/web: dry run: nothing was changed" in result.stderr
    assert [r for r in sim.requests if r.method != "GET"] == []


def test_a_workload_whose_annotation_is_no_policy_fails_alone_in_a_fleet_run(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [{"name": "web", "image": f"{REPO}:2.0"}], labels={"autoupdate.enable": "true"},
                      annotations={"autoupdate.policy": "glob:"})
    sim2.add_workload("default", "api", [{"name": "api", "image": f"{REPO}:2.0"}], labels={"autoupdate.enable": "true"})
    result = run2(sim2, "--output", "json", RANCHER_WORKLOAD=None, RANCHER_SELECT_IMAGE="true",
                  RANCHER_IMAGE=f"{REPO}:2.1")
    assert result.code == 4, result.stderr
    targets = {target["target"]: target for target in result.json["targets"]}
    assert targets["default/deployment:api"]["result"] == "upgraded"
    assert targets["default/deployment:web"]["result"] == "not-upgraded"
    assert ("its annotation autoupdate.policy is no version policy: glob needs a pattern after the colon"
            in targets["default/deployment:web"]["message"])
    assert workload_image(sim2) == f"{REPO}:2.0"


def test_a_bad_version_policy_setting_stops_a_fleet_run_before_any_request(sim: Simulator, run_cli: RunCli) -> None:
    service(sim, "1.0", {"autoupdate.enable": "true"})
    sim.reset_log()
    result = fleet(run_cli, RANCHER_IMAGE=f"{REPO}:2.0", RANCHER_VERSION_POLICY="sometimes")
    assert result.code == 2
    assert "error: RANCHER_VERSION_POLICY: must be one of any, newer" in result.stderr
    assert sim.requests == []


def test_a_seed_user_gets_the_seeds_table_without_setting_a_policy(sim: Simulator, run_cli: RunCli) -> None:
    # rancher-service-updater's table: 2.0 -> 1.3 no. Its variables alone must not downgrade a fleet.
    stack = sim.add_stack("shop")
    web = service(sim, "2.0", {"autoupdate.enable": "true"}, stack=stack)
    api = service(sim, "1.0", {"autoupdate.enable": "true"}, name="api", stack=stack)
    result = fleet(run_cli, RANCHER_IMAGE=f"{REPO}:1.3", AUTOUPDATE_ENVIRONMENT_NAMES='[".*"]')
    assert result.code == 0, result.stderr
    assert image_of(sim, web) == "2.0" and image_of(sim, api) == "1.3"
    assert "skipped by the version policy newer (RANCHER_VERSION_POLICY)" in result.stderr


def test_a_fleet_run_takes_any_image_when_the_policy_says_so(sim: Simulator, run_cli: RunCli) -> None:
    web = service(sim, "2.0", {"autoupdate.enable": "true"})
    result = fleet(run_cli, RANCHER_IMAGE=f"{REPO}:1.3", RANCHER_VERSION_POLICY="any")
    assert result.code == 0, result.stderr
    assert image_of(sim, web) == "1.3"
