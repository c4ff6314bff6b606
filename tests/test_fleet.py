"""Fleet mode on Rancher 1.x (`--select-image`), over real HTTP: which services a run picks across
environments, which of their containers change, why the others are skipped, and what it costs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rancher_deploy.fleet_options import Patterns
from rancher_deploy.simulator import Simulator, Timing

from .conftest import LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, CliRun, RunCli, VirtualTime

# Without a health check Rancher counts a running container healthy, so the simulator's
# unhealthy-image fault hurts only a service that has one (LAUNCH_CONFIG).
QUIET: dict[str, Any] = {key: value for key, value in LAUNCH_CONFIG.items() if key != "healthCheck"}
DIGEST = "sha256:" + "a" * 64


def config(image: str = OLD_IMAGE, health: bool = False, **labels: str) -> dict[str, Any]:
    """A launch config running `image` with these labels (`autoupdate_enable="true"` is autoupdate.enable)."""
    base = dict(LAUNCH_CONFIG if health else QUIET)
    return {**base, "imageUuid": f"docker:{image}",
            "labels": {**base["labels"], **{key.replace("_", "."): value for key, value in labels.items()}}}


def image_of(sim: Simulator, service_id: str, sidekick: str | None = None) -> str:
    service = sim.service(service_id)
    launch = service["launchConfig"] if sidekick is None else next(
        config for config in service["secondaryLaunchConfigs"] if config["name"] == sidekick)
    return str(launch["imageUuid"]).removeprefix("docker:")


def fleet(run_cli: RunCli, *argv: str, **overrides: str | None) -> CliRun:
    """A fleet run: no service named, the selection on."""
    settings: dict[str, str | None] = {"RANCHER_STACK": None, "RANCHER_SERVICE": None, "RANCHER_SELECT_IMAGE": "true"}
    return run_cli("--output", "json", *argv, **{**settings, **overrides})


def skipped(result: CliRun) -> dict[str, str]:
    return {entry["target"]: entry["reason"] for entry in result.json["selection"]["skipped"]}


def test_picks_opted_in_services_by_either_default_label_across_environments(sim: Simulator, run_cli: RunCli) -> None:
    prod = sim.add_project("prod")
    shop, prod_shop = sim.add_stack("shop"), sim.add_stack("shop", prod)
    web = sim.add_service(shop, "web", config(autoupdate_enable="true"))
    api = sim.add_service(shop, "api", config())                                      # not opted in
    other = sim.add_service(shop, "cache", config("redis:7", autoupdate_enable="true"))  # another repository
    prod_web = sim.add_service(prod_shop, "web", config(autoupdate_enabled="true"))
    result = fleet(run_cli)
    assert result.code == 0, result.stderr
    assert {(target["target"], target["result"]) for target in result.json["targets"]} == {
        ("Default/shop/web", "upgraded"), ("prod/shop/web", "upgraded")}
    assert image_of(sim, web) == image_of(sim, prod_web) == NEW_IMAGE
    assert image_of(sim, api) == OLD_IMAGE and image_of(sim, other) == "redis:7"
    assert skipped(result) == {
        "Default/shop/api": "not opted in: no label autoupdate.enable or autoupdate.enabled",
        "Default/shop/cache": "runs another repository than registry.example.com:5000/shop/web (cache=redis:7)"}
    selection = result.json["selection"]
    assert (selection["place"], selection["searched"], selection["listed"]) == ("environment", ["Default", "prod"], 4)
    assert "Connected: Rancher 1.x, API v2-beta, 2 environments" in result.stderr


@pytest.mark.parametrize("variable", ["RANCHER_SELECT_LABEL", "AUTOUPDATE_ENABLE_LABEL"])
def test_a_label_named_by_the_setting_or_the_seeds_variable_replaces_both_defaults(
        sim: Simulator, run_cli: RunCli, variable: str) -> None:
    shop = sim.add_stack("shop")
    mine = sim.add_service(shop, "web", config(deploy_auto="true"))
    default = sim.add_service(shop, "api", config(autoupdate_enable="true"))
    result = fleet(run_cli, **{variable: "deploy.auto"})
    assert result.code == 0, result.stderr
    assert image_of(sim, mine) == NEW_IMAGE and image_of(sim, default) == OLD_IMAGE
    assert skipped(result) == {"Default/shop/api": "not opted in: no label deploy.auto"}


def test_only_the_value_true_opts_in(sim: Simulator, run_cli: RunCli) -> None:
    shop = sim.add_stack("shop")
    upper = sim.add_service(shop, "web", config(autoupdate_enable="TRUE"))
    no = sim.add_service(shop, "api", config(autoupdate_enable="false"))
    yes = sim.add_service(shop, "worker", config(autoupdate_enabled="yes"))
    result = fleet(run_cli)
    assert result.code == 0, result.stderr
    assert image_of(sim, upper) == NEW_IMAGE and image_of(sim, no) == image_of(sim, yes) == OLD_IMAGE
    assert skipped(result) == {"Default/shop/api": "label autoupdate.enable is 'false', not true",
                               "Default/shop/worker": "label autoupdate.enabled is 'yes', not true"}


def test_the_repository_decides_whatever_the_tag_or_digest(sim: Simulator, run_cli: RunCli) -> None:
    shop = sim.add_stack("shop")
    older = sim.add_service(shop, "old", config("registry.example.com:5000/shop/web:1.0", autoupdate_enable="true"))
    pinned = sim.add_service(shop, "pinned", config(f"registry.example.com:5000/shop/web@{DIGEST}",
                                                    autoupdate_enable="true"))
    no_port = sim.add_service(shop, "noport", config("registry.example.com/shop/web:2.0", autoupdate_enable="true"))
    other_host = sim.add_service(shop, "mirror", config("mirror.example.com:5000/shop/web:2.0",
                                                        autoupdate_enable="true"))
    result = fleet(run_cli, RANCHER_VERSION_POLICY="any")   # a digest is no version: `newer` would skip it
    assert result.code == 0, result.stderr
    assert image_of(sim, older) == image_of(sim, pinned) == NEW_IMAGE
    assert image_of(sim, no_port) == "registry.example.com/shop/web:2.0"
    assert image_of(sim, other_host) == "mirror.example.com:5000/shop/web:2.0"
    assert set(skipped(result)) == {"Default/shop/noport", "Default/shop/mirror"}


def test_a_new_image_given_by_digest_selects_by_its_repository(sim: Simulator, run_cli: RunCli) -> None:
    web = sim.add_service(sim.add_stack("shop"), "web", config(autoupdate_enable="true"))
    result = fleet(run_cli, RANCHER_IMAGE=f"docker:registry.example.com:5000/shop/web@{DIGEST}",
                   RANCHER_VERSION_POLICY="any")   # a digest is no version: `newer` would skip it
    assert result.code == 0, result.stderr
    assert image_of(sim, web) == f"registry.example.com:5000/shop/web@{DIGEST}"


def test_a_sidekick_running_the_repository_moves_and_the_service_keeps_its_image(
        sim: Simulator, run_cli: RunCli) -> None:
    sidekick = {**QUIET, "name": "app", "imageUuid": f"docker:{OLD_IMAGE}", "labels": {}}
    logger = {**QUIET, "name": "log", "imageUuid": "docker:fluent/fluent-bit:2.2", "labels": {}}
    service = sim.add_service(sim.add_stack("shop"), "edge", config("nginx:1.25", autoupdate_enable="true"),
                              secondary_launch_configs=[sidekick, logger])
    result = fleet(run_cli)
    assert result.code == 0, result.stderr
    assert image_of(sim, service) == "nginx:1.25"
    assert image_of(sim, service, "app") == NEW_IMAGE and image_of(sim, service, "log") == "fluent/fluent-bit:2.2"
    changed = result.json["targets"][0]["containers"]
    assert [(change["name"], change["previous_image"], change["image"]) for change in changed] == [
        ("app", OLD_IMAGE, NEW_IMAGE)]


@pytest.mark.parametrize(("variable", "patterns", "searched"), [
    ("AUTOUPDATE_ENVIRONMENT_NAMES", '["prod.*"]', ["prod", "prod-eu"]),    # the seed's JSON array
    ("AUTOUPDATE_ENVIRONMENT_NAMES", "dev,prod", ["dev", "prod"]),           # its comma list; prod-eu not
    ("RANCHER_ENVIRONMENTS", '["d.v", "Default"]', ["Default", "dev"]),
    ("RANCHER_ENVIRONMENTS", "pro", []),                                    # a pattern matches the whole name
    # A comma inside a regular expression's brackets is the expression's, not the list's.
    ("RANCHER_ENVIRONMENTS", "prod(-eu){0,1},Default", ["Default", "prod", "prod-eu"]),
    ("AUTOUPDATE_ENVIRONMENT_NAMES", "(dev|qa),Default", ["Default", "dev"]),
    ("RANCHER_ENVIRONMENTS", "[d]ev,pro[d,]", ["dev", "prod"]),                # a character class, not JSON
])
def test_environments_are_those_whose_whole_name_a_pattern_matches(
        sim: Simulator, run_cli: RunCli, variable: str, patterns: str, searched: list[str]) -> None:
    for name in ("dev", "prod", "prod-eu"):
        sim.add_service(sim.add_stack("shop", sim.add_project(name)), "web", config(autoupdate_enable="true"))
    sim.add_service(sim.add_stack("shop"), "web", config(autoupdate_enable="true"))
    result = fleet(run_cli, "--dry-run", **{variable: patterns})
    assert result.code == 0, result.stderr
    selection = result.json["selection"]
    assert sorted(selection["searched"]) == searched and selection["not_searched"] == 4 - len(searched)
    assert sorted(entry["place"] for entry in selection["candidates"]) == searched


@pytest.mark.parametrize(("patterns", "problem"), [
    ("prod,web(", "'web(' is not a regular expression: missing ), "),
    ("[1, 2]", 'must be a JSON array of strings, e.g. ["prod.*", "qa"]'),
    ('["prod"', "is not a JSON array of patterns ("),
    ("prod,,qa", "has an empty pattern in 'prod,,qa'"),
    ('["prod", null]', 'must be a JSON array of strings, e.g. ["prod.*", "qa"], but item 2 is null'),
    ('["prod", 7]', 'must be a JSON array of strings, e.g. ["prod.*", "qa"], but item 2 is 7'),
    ('["prod", " "]', """has an empty pattern in '["prod", " "]'"""),
    ("[]", "is an empty list: give at least one pattern, or leave it unset to search every one"),
])
def test_a_bad_pattern_is_one_line_naming_the_setting_and_exit_2(
        sim: Simulator, run_cli: RunCli, patterns: str, problem: str) -> None:
    sim.add_service(sim.add_stack("shop"), "web", config(autoupdate_enable="true"))
    result = fleet(run_cli, AUTOUPDATE_ENVIRONMENT_NAMES=patterns)
    assert result.code == 2
    error, last = result.stderr.splitlines()   # the one line, then the exit code's
    assert error.startswith(f"rancher-deploy: error: AUTOUPDATE_ENVIRONMENT_NAMES: {problem}"), error
    assert last.startswith("rancher-deploy: exit 2 ") and sim.requests == []


def test_patterns_that_match_no_environment_warn_naming_them_and_what_was_seen(
        sim: Simulator, run_cli: RunCli) -> None:
    for number in range(12):
        sim.add_project(f"team{number:02}")
    result = fleet(run_cli, "--dry-run", AUTOUPDATE_ENVIRONMENT_NAMES="prod.*,qa")
    assert result.code == 0, result.stderr
    seen = ", ".join(["Default", *(f"team{number:02}" for number in range(9))])
    assert (f'warning: AUTOUPDATE_ENVIRONMENT_NAMES ["prod.*", "qa"] matches none of the 13 environments seen ({seen} '
            "and 3 more): nothing was searched; a pattern must match a whole name") in result.stderr.splitlines()
    matching = fleet(run_cli, "--dry-run", RANCHER_ENVIRONMENTS="team0.*")
    assert matching.code == 0 and "matches none" not in matching.stderr


def test_a_run_level_warning_is_in_the_json_result_not_only_the_log(sim: Simulator, run_cli: RunCli) -> None:
    result = fleet(run_cli, "--dry-run", "--output", "json", AUTOUPDATE_ENVIRONMENT_NAMES="prod")
    assert result.code == 0, result.stderr
    (warning,) = json.loads(result.stdout)["warnings"]
    assert warning.startswith('AUTOUPDATE_ENVIRONMENT_NAMES ["prod"] matches none of the 1 environment seen (Default)')
    assert json.loads(fleet(run_cli, "--dry-run", "--output", "json").stdout)["warnings"] == []


def test_a_dry_run_lists_what_would_change_and_why_each_other_is_skipped(sim: Simulator, run_cli: RunCli) -> None:
    shop = sim.add_stack("shop")
    web = sim.add_service(shop, "web", config(autoupdate_enable="true"))
    sim.add_service(shop, "api", config())
    sim.add_service(shop, "off", config(autoupdate_enable="false"))
    sim.add_service(shop, "db", config("postgres:16"))        # neither: counted, not listed
    result = fleet(run_cli, "--dry-run")
    assert result.code == 0, result.stderr
    assert image_of(sim, web) == OLD_IMAGE and sim.count("POST") == 0
    log = result.stderr
    assert f"Selected Default/shop/web ({web}): web {OLD_IMAGE} -> {NEW_IMAGE}" in log
    assert "Skipped Default/shop/api (1s2): not opted in: no label autoupdate.enable or autoupdate.enabled" in log
    assert "Skipped Default/shop/off (1s3): label autoupdate.enable is 'false', not true" in log
    assert ("Skipped 1 more service that neither opted in nor runs registry.example.com:5000/shop/web "
            "(RANCHER_VERBOSE lists it)") in log
    verbose = fleet(run_cli, "--dry-run", "--verbose").stderr
    assert "debug: Skipped Default/shop/db (1s4): not opted in: no label autoupdate.enable or autoupdate.enabled" in verbose
    assert f"  web: {OLD_IMAGE} -> {NEW_IMAGE}" in log                          # the plan, as any dry run
    assert [target["result"] for target in result.json["targets"]] == ["planned"]
    selection = result.json["selection"]
    assert selection["candidates"] == [{"target": "Default/shop/web", "id": web, "place": "Default", "containers": [
        {"name": "web", "previous_image": OLD_IMAGE, "requested_image": NEW_IMAGE}]}]
    assert [entry["target"] for entry in selection["skipped"]] == ["Default/shop/api", "Default/shop/off"]
    assert selection["others"] == 1


def test_no_match_is_nothing_to_do_saying_what_was_searched(sim: Simulator, run_cli: RunCli) -> None:
    sim.add_service(sim.add_stack("shop"), "web", config())
    result = fleet(run_cli)
    assert result.code == 0, result.stderr
    assert result.json["result"] == "unchanged" and result.json["targets"] == []
    assert result.json["selection"]["candidates"] == [] and result.json["selection"]["listed"] == 1
    log = result.stderr.splitlines()
    assert ("Fleet: services running registry.example.com:5000/shop/web with label autoupdate.enable=true or "
            "autoupdate.enabled=true, in 1 environment (Default): 1 listed in 2 requests") in log
    assert any(line.startswith("No target to upgrade: no service listed runs") for line in log)
    assert log[-2:] == ["nothing to do: no target matches the selection",
                        "rancher-deploy: exit 0 (done: nothing to do; nothing was changed)"]


@pytest.mark.parametrize(("overrides", "named", "problem"), [
    ({"RANCHER_SERVICE": "shop/web"}, "RANCHER_SERVICE", "names targets, but RANCHER_SELECT_IMAGE picks them"),
    ({"RANCHER_WORKLOAD": "web"}, "RANCHER_WORKLOAD", "names targets, but RANCHER_SELECT_IMAGE picks them"),
    ({"RANCHER_ATOMIC": "true"}, "RANCHER_ATOMIC", "cannot be true with RANCHER_SELECT_IMAGE"),
    ({"RANCHER_IMAGE": None}, "RANCHER_IMAGE", "is required with RANCHER_SELECT_IMAGE"),
    ({"RANCHER_CREATE": "true"}, "RANCHER_CREATE", "cannot be combined with RANCHER_SELECT_IMAGE"),
    ({"RANCHER_SELECT_IMAGE": "false", "RANCHER_SELECT_LABEL": "x"}, "RANCHER_SELECT_LABEL",
     "chooses targets for fleet mode only"),
    ({"RANCHER_SELECT_LABEL": "deploy=true"}, "RANCHER_SELECT_LABEL", "'deploy=true' is not a label name"),
])
def test_settings_that_contradict_the_selection_are_exit_2_before_any_request(
        sim: Simulator, run_cli: RunCli, overrides: dict[str, str | None], named: str, problem: str) -> None:
    result = fleet(run_cli, **overrides)
    assert result.code == 2
    assert f"rancher-deploy: error: {named}: {problem}" in result.stderr
    assert sim.requests == []


def test_a_namespace_pattern_on_rancher_1_is_exit_2_naming_it(sim: Simulator, run_cli: RunCli) -> None:
    web = sim.add_service(sim.add_stack("shop"), "web", config(autoupdate_enable="true"))
    result = fleet(run_cli, RANCHER_NAMESPACES="shop")
    assert result.code == 2
    assert "RANCHER_NAMESPACES: chooses Rancher 2.x namespaces, but this is Rancher 1.x" in result.stderr
    assert image_of(sim, web) == OLD_IMAGE and sim.count("POST") == 0


ON_SIMULATED_TIME = pytest.mark.parametrize("timing", [Timing(speed=0)])
STALL = {"RANCHER_POLL_INTERVAL": "5", "RANCHER_PROGRESS_DEADLINE": "60", "RANCHER_TIMEOUT": "600"}


@ON_SIMULATED_TIME
def test_picks_run_in_parallel_independently_and_mixed_outcomes_exit_4_naming_each(
        sim: Simulator, virtual: VirtualTime, run_cli: RunCli) -> None:
    shop, prod = sim.add_stack("shop"), sim.add_stack("shop", sim.add_project("prod"))
    web = sim.add_service(shop, "web", config(autoupdate_enable="true"))
    bad = sim.add_service(prod, "web", config(health=True, autoupdate_enable="true"))  # never healthy on the new image
    api = sim.add_service(prod, "api", config(autoupdate_enabled="true"))
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = fleet(run_cli, RANCHER_PARALLEL="3", **STALL)
    assert result.code == 4, result.stderr
    assert {(target["target"], target["result"]) for target in result.json["targets"]} == {
        ("Default/shop/web", "upgraded"), ("prod/shop/web", "rolled-back"), ("prod/shop/api", "upgraded")}
    assert image_of(sim, web) == image_of(sim, api) == NEW_IMAGE and image_of(sim, bad) == OLD_IMAGE
    assert result.json["result"] == "mixed"
    last = result.stderr.splitlines()[-1]
    assert last.startswith("rancher-deploy: exit 4 (needs attention: ")
    assert all(part in last for part in ("Default/shop/web upgraded", "prod/shop/web rolled-back",
                                          "prod/shop/api upgraded"))


def test_advice_for_one_pick_names_it_alone_and_fleet_mode_off(sim: Simulator, run_cli: RunCli) -> None:
    shop = sim.add_stack("shop")
    sim.add_service(shop, "web", config(autoupdate_enable="true"))
    sim.add_service(shop, "api", config(autoupdate_enable="true"))
    result = fleet(run_cli, "--no-finish")
    assert result.code == 0, result.stderr
    message = result.json["targets"][0]["message"]
    assert ("(with `RANCHER_SELECT_IMAGE=false`, `RANCHER_ENVIRONMENT=Default`, `RANCHER_SERVICE=shop/"
            in message), message


def test_selection_costs_pages_of_lists_not_requests_per_service(sim: Simulator, run_cli: RunCli) -> None:
    # 2,500 services in two environments, seeded in one request (the simulator's bulk seed), 3 opted in.
    services = 2_500
    made = sim.seed_bulk({"services": services - 3, "launchConfig": config("nginx:1.25"), "stacks": 2,
                          "environments": 2})
    for number, stack in enumerate((*made["stacks"], made["stacks"][0])):
        sim.add_service(stack, f"web{number}", config(autoupdate_enable="true"))
    sim.reset_log()
    result = fleet(run_cli, "--dry-run")
    assert result.code == 0, result.stderr
    selection = result.json["selection"]
    assert selection["listed"] == services and len(selection["candidates"]) == 3
    # Per environment: one page of stacks, and its 1,250 services in pages of 1,000.
    assert selection["requests"] == 2 * (1 + 2)
    # The listings only: the survey's read of each pick is its dry run's read too (no GET per pick).
    assert sim.count("GET", "/services") == 2 * 2


def test_a_real_run_reads_each_pick_again_right_before_upgrading_it(sim: Simulator, run_cli: RunCli) -> None:
    shop = sim.add_stack("shop")
    picks = [sim.add_service(shop, f"web{number}", config(autoupdate_enable="true")) for number in range(3)]
    sim.reset_log()
    result = fleet(run_cli, "--no-finish")
    assert result.code == 0, result.stderr
    for service in picks:
        reads = [index for index, record in enumerate(sim.requests)
                 if record.method == "GET" and record.path.endswith(f"/services/{service}")]
        upgrade = next(index for index, record in enumerate(sim.requests)
                       if record.method == "POST" and f"/services/{service}" in record.path)
        assert reads and reads[0] < upgrade, (service, [(r.method, r.path) for r in sim.requests])


def test_patterns_match_whole_names_and_read_both_forms() -> None:
    assert Patterns.parse('["prod.*", "qa"]').texts == ("prod.*", "qa")
    assert Patterns.parse(" dev , qa ").texts == ("dev", "qa")
    assert Patterns.parse('["a{1,3}"]').match("aaa")        # a comma inside needs the JSON form
    comma = Patterns.parse("prod")
    assert comma.match("prod") and not comma.match("prod-eu") and not comma.match("old-prod")
    assert str(Patterns.parse("dev,qa")) == '["dev", "qa"]'


def test_every_pick_is_checked_before_the_first_is_touched(sim: Simulator, run_cli: RunCli) -> None:
    shop = sim.add_stack("shop")
    web = sim.add_service(shop, "web", config(autoupdate_enable="true"))
    pinned = sim.add_service(shop, "pinned", config(autoupdate_enable="true"), retain_ip=True)
    result = fleet(run_cli, RANCHER_START_FIRST="true")
    assert result.code == 2
    assert "RANCHER_START_FIRST: cannot be used for Default/shop/pinned: the service has retainIp set" in result.stderr
    assert image_of(sim, web) == image_of(sim, pinned) == OLD_IMAGE and sim.count("POST") == 0


def test_a_pick_whose_rollback_fails_is_named_alone_in_what_to_run_next(sim: Simulator, run_cli: RunCli) -> None:
    """The advice for one pick of a fleet run names it alone (and fleet mode off): following it for that
    pick must not upgrade the whole fleet again."""
    shop = sim.add_stack("shop")
    sim.add_service(shop, "web", config(autoupdate_enable="true"))
    api = sim.add_service(shop, "api", config(autoupdate_enable="true"))
    sim.faults.fail_action(api, "upgrade")
    sim.faults.fail_action(api, "rollback")
    result = fleet(run_cli, RANCHER_PARALLEL="1")
    assert result.code == 4, result.stderr
    failed = next(target for target in result.json["targets"] if target["target"] == "Default/shop/api")
    alone = "(with `RANCHER_SELECT_IMAGE=false`, `RANCHER_ENVIRONMENT=Default`, `RANCHER_SERVICE=shop/api`"
    assert "`rancher-deploy status`" in failed["message"] and alone in failed["message"], failed["message"]
    last = result.stderr.splitlines()[-1]
    assert "Default/shop/api failed, state rolling-back (next: " in last and alone in last, last


def test_a_fleet_of_120_keeps_the_dotenv_report_under_gitlabs_limit_saying_so_once(
        sim: Simulator, run_cli: RunCli, tmp_path: Path) -> None:
    shop = sim.add_stack("shop")
    for index in range(120):
        sim.add_service(shop, f"service-{index:03}", config(autoupdate_enable="true"))
    report = tmp_path / "rancher-deploy.env"
    result = fleet(run_cli, "--dry-run", GITLAB_CI="true", RANCHER_DOTENV_REPORT=str(report))
    assert result.code == 0, result.stderr
    assert len(result.json["targets"]) == 120, "the JSON result lists every target"
    text = report.read_text(encoding="utf-8")
    assert len(text.encode()) < 5 * 1024
    values = dict(line.split("=", 1) for line in text.splitlines())
    listed = len(values["RANCHER_DEPLOY_TARGET"].split(","))
    assert values["RANCHER_DEPLOY_TARGETS_OMITTED"] == str(120 - listed) and listed < 120
    warnings = [line for line in result.stderr.splitlines() if "the dotenv report lists" in line]
    assert warnings == [f"warning: the dotenv report lists {listed} of 120 targets (RANCHER_DEPLOY_TARGETS_OMITTED="
                        f"{120 - listed}), as GitLab refuses one of 5 KB or more: this log names every target, "
                        "as does the JSON result `--output json` prints"]  # spelled as this run set it
    assert sim.count("POST") == 0
