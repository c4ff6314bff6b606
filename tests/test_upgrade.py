"""The upgrade end to end, over real HTTP against the simulator, through the CLI as a pipeline runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rancher_deploy import cli
from rancher_deploy.simulator import Simulator, Timing

from .conftest import LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, RunCli, VirtualTime

# What a run shows while it waits depends on when it looks: on simulated time the simulator moves
# only while the tool sleeps, so the first look after the upgrade request sees it under way however
# loaded the machine is (on the fast real-time clock a slow look can find it already upgraded).
ON_SIMULATED_TIME = pytest.mark.parametrize("timing", [Timing(speed=0)])
SIMULATED_POLL = "1"   # seconds: on simulated time, each look is one real request and costs no waiting


def image_of(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"])


@ON_SIMULATED_TIME
def test_upgrades_finishes_and_keeps_every_other_field(sim: Simulator, web: str, virtual: VirtualTime,
                                                       run_cli: RunCli) -> None:
    result = run_cli(RANCHER_POLL_INTERVAL=SIMULATED_POLL)
    assert result.code == 0, result.stderr
    service = sim.service(web)
    assert service["state"] == "active"
    expected = {**LAUNCH_CONFIG, "imageUuid": f"docker:{NEW_IMAGE}"}
    kept = {key: service["launchConfig"].get(key) for key in expected}
    assert kept == expected
    assert all(i["imageUuid"] == f"docker:{NEW_IMAGE}" for i in sim.instances(web) if i["state"] == "running")
    assert "upgrading" in result.stderr and "finishing" in result.stderr
    assert f"{OLD_IMAGE} -> {NEW_IMAGE}" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("rancher-deploy: exit 0 (done")


@pytest.mark.parametrize("timing", [Timing(speed=0, finish_cleanup=3600.0)])
def test_finish_ends_without_waiting_for_the_old_containers_to_go(sim: Simulator, web: str, virtual: VirtualTime,
                                                                  run_cli: RunCli) -> None:
    # Cattle 1.6 makes the service active while the replaced containers are still removing (here for
    # an hour): the run counts only the new version's containers, so it ends at once, healthy.
    result = run_cli(RANCHER_POLL_INTERVAL=SIMULATED_POLL)
    assert result.code == 0, result.stderr
    assert sim.service(web)["state"] == "active"
    assert sorted(i["state"] for i in sim.instances(web)) == ["removing", "removing", "running", "running"]
    assert virtual.now < 600, virtual.now
    assert result.stderr.splitlines()[-1].startswith("rancher-deploy: exit 0 (done")


@ON_SIMULATED_TIME
def test_progress_lines_show_state_health_and_elapsed(sim: Simulator, web: str, virtual: VirtualTime,
                                                      run_cli: RunCli) -> None:
    result = run_cli(RANCHER_POLL_INTERVAL=SIMULATED_POLL)
    progress = [line for line in result.stderr.splitlines() if line.startswith("  shop/web: ")]
    assert any("upgrading" in line and "/2 new containers healthy" in line and line.endswith("s]") for line in progress)
    assert any(line.startswith("  shop/web: active") for line in progress)


@pytest.mark.parametrize("suffix", ["", "/", "/v2-beta", "/v2-beta/", "/v1", "/v2-beta/projects/1a5",
                                    "/v1/projects/1a5", "/v2-beta/projects/1a5/"])
def test_accepts_every_url_form_and_uses_v2_beta(sim: Simulator, web: str, run_cli: RunCli, suffix: str) -> None:
    result = run_cli(CATTLE_URL=sim.url + suffix)
    assert result.code == 0, result.stderr
    upgrade_posts = [r for r in sim.requests if r.method == "POST" and "upgrade" in r.query]
    assert upgrade_posts and all(r.path.startswith("/v2-beta/") for r in upgrade_posts)
    assert image_of(sim, web) == f"docker:{NEW_IMAGE}"


def test_environment_key_finds_its_own_environment(sim: Simulator, web: str, run_cli: RunCli) -> None:
    other = sim.add_project("Staging")
    access, secret = sim.add_environment_key(sim.default_project_id)
    del other
    result = run_cli(CATTLE_ACCESS_KEY=access, CATTLE_SECRET_KEY=secret)
    assert result.code == 0, result.stderr
    assert secret not in result.output


def test_environment_key_on_another_environment_is_refused(sim: Simulator, web: str, run_cli: RunCli) -> None:
    other = sim.add_project("Staging")
    access, secret = sim.add_environment_key(other)
    result = run_cli(CATTLE_URL=f"{sim.url}/v2-beta/projects/{sim.default_project_id}",
                     CATTLE_ACCESS_KEY=access, CATTLE_SECRET_KEY=secret)
    assert result.code == 2
    assert "environment 1a5 does not exist or this key may not use it" in result.stderr
    assert image_of(sim, web) == f"docker:{OLD_IMAGE}"


def test_account_key_with_several_environments_must_name_one(sim: Simulator, web: str, run_cli: RunCli) -> None:
    sim.add_project("Staging")
    result = run_cli()
    assert result.code == 2
    assert "RANCHER_ENVIRONMENT: is required: this account key sees several environments: Default (1a5), Staging" \
        in result.stderr
    assert run_cli(RANCHER_ENVIRONMENT="Default").code == 0
    missing = run_cli(RANCHER_ENVIRONMENT="Prod")
    assert missing.code == 2 and "environment 'Prod' not found; this key sees: Default, Staging" in missing.stderr


def test_bad_credentials_exit_2_with_rancher_message(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli(CATTLE_SECRET_KEY="wrong-secret-value")
    assert result.code == 2
    assert "HTTP 401 (Unauthorized)" in result.stderr
    assert "wrong-secret-value" not in result.output


def test_unreachable_rancher_exit_3_without_traceback(run_cli: RunCli) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli(CATTLE_URL=f"http://127.0.0.1:{port}", RANCHER_RETRIES="0")
    assert result.code == 3
    assert f"cannot connect to http://127.0.0.1:{port} (connection refused)" in result.stderr


def test_missing_service_says_what_exists(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli(RANCHER_SERVICE="api")
    assert result.code == 2
    assert "service 'api' not found in stack 'shop'; services there: web" in result.stderr
    result = run_cli(RANCHER_STACK="blog")
    assert result.code == 2 and "stack 'blog' not found in environment Default; stacks there: shop" in result.stderr


def test_service_without_stack_is_found_and_ambiguity_is_refused(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli(RANCHER_STACK=None).code == 0
    other = sim.add_stack("blog")
    sim.add_service(other, "web", dict(LAUNCH_CONFIG))
    result = run_cli(RANCHER_STACK=None)
    assert result.code == 2 and "'web' exists in several stacks (blog, shop)" in result.stderr
    assert run_cli(RANCHER_STACK=None, RANCHER_SERVICE="blog/web").code == 0


def test_already_on_the_image_is_unchanged_and_sends_no_upgrade(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("--output", "json", RANCHER_IMAGE=f"docker:{OLD_IMAGE}")
    assert result.code == 0
    assert result.json["result"] == "unchanged"
    assert sim.count("POST") == 0


def test_force_redeploys_the_same_image(sim: Simulator, web: str, run_cli: RunCli) -> None:
    before = sim.service(web)["launchConfig"].get("version")
    result = run_cli("--force", RANCHER_IMAGE=OLD_IMAGE)
    assert result.code == 0, result.stderr
    service = sim.service(web)
    assert service["launchConfig"]["version"] != before
    assert service["state"] == "active"


def test_dry_run_prints_the_plan_and_writes_nothing(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("--dry-run")
    assert result.code == 0
    assert f"  web: {OLD_IMAGE} -> {NEW_IMAGE}" in result.stderr
    assert "batch size 1" in result.stderr
    assert [r for r in sim.requests if r.method != "GET"] == []
    assert image_of(sim, web) == f"docker:{OLD_IMAGE}"


def test_json_output_is_the_result_object(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("--output", "json")
    document = result.json
    assert document["result"] == "upgraded" and document["exit_code"] == 0
    (target,) = document["targets"]
    assert (target["target"], target["id"], target["previous_image"], target["image"]) == \
        ("shop/web", web, OLD_IMAGE, NEW_IMAGE)
    assert document["api_calls"] > 0 and document["flavour"] == "rancher-1.x"


def test_strategy_settings_reach_rancher(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli("--batch-size", "2", "--start-first", "--batch-interval", "0.5").code == 0
    strategy = sim.service(web)["upgrade"]["inServiceStrategy"]
    assert (strategy["batchSize"], strategy["intervalMillis"], strategy["startFirst"]) == (2, 500, True)


def test_start_first_with_retain_ip_is_refused_before_any_change(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    service = sim.add_service(stack, "web", dict(LAUNCH_CONFIG), retain_ip=True)
    result = run_cli("--start-first")
    # The backend names the setting by its variable; the message names it the way it was set.
    assert result.code == 2 and "--start-first: cannot be used for shop/web" in result.stderr
    assert sim.count("POST") == 0 and image_of(sim, service) == f"docker:{OLD_IMAGE}"


def test_sidekicks_named_and_by_repository(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    sidekicks = [
        {"name": "assets", "imageUuid": f"docker:{OLD_IMAGE}", "labels": {"role": "assets"}},
        {"name": "logs", "imageUuid": "docker:fluentd:1.0"},
    ]
    service = sim.add_service(stack, "web", dict(LAUNCH_CONFIG), secondary_launch_configs=sidekicks)
    assert run_cli("--update-sidekicks").code == 0
    configs = {c["name"]: c for c in sim.service(service)["secondaryLaunchConfigs"]}
    assert configs["assets"]["imageUuid"] == f"docker:{NEW_IMAGE}" and configs["assets"]["labels"] == {"role": "assets"}
    assert configs["logs"]["imageUuid"] == "docker:fluentd:1.0"
    assert run_cli("--sidekick", "logs=fluentd:1.1", RANCHER_IMAGE=None).code == 0
    configs = {c["name"]: c for c in sim.service(service)["secondaryLaunchConfigs"]}
    assert configs["logs"]["imageUuid"] == "docker:fluentd:1.1"
    assert image_of(sim, service) == f"docker:{NEW_IMAGE}"


def test_validation_errors_send_no_request(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli(RANCHER_IMAGE="Not An Image")
    assert result.code == 2
    assert result.stderr.splitlines()[0].startswith("rancher-deploy: error: RANCHER_IMAGE: ")
    assert sim.count() == 0


def test_dotenv_fills_only_what_is_not_set(sim: Simulator, web: str, base_env: dict[str, str],
                                           tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(f"RANCHER_IMAGE={NEW_IMAGE}\nRANCHER_STACK=nonexistent\n")
    environ = {k: v for k, v in base_env.items() if k != "RANCHER_IMAGE"}
    code = cli.main([], environ=environ, dotenv_path=str(dotenv))
    assert code == 0, capsys.readouterr().err
    assert image_of(sim, web) == f"docker:{NEW_IMAGE}"


def test_several_services_in_one_run(sim: Simulator, web: str, run_cli: RunCli) -> None:
    worker = sim.add_service(sim.service(web)["stackId"], "worker", dict(LAUNCH_CONFIG))
    result = run_cli(RANCHER_SERVICE="web,worker")
    assert result.code == 0, result.stderr
    assert image_of(sim, web) == image_of(sim, worker) == f"docker:{NEW_IMAGE}"


def test_falls_back_to_v1_only_where_the_server_has_no_v2_beta(sim: Simulator, web: str, run_cli: RunCli) -> None:
    # A Rancher 1.1 names its release in every answer (cattle's X-Rancher-Version) and serves /v1 alone.
    sim.faults.fail_next("/v3/settings/server-version", status=404, method="GET",
                         headers={"X-Rancher-Version": "v1.1.4"})
    result = run_cli()
    assert result.code == 0, result.stderr
    assert "serves only the /v1 API" in result.stderr
    upgrade_posts = [r for r in sim.requests if r.method == "POST" and "upgrade" in r.query]
    assert upgrade_posts and upgrade_posts[0].path.startswith("/v1/")
    assert any(r.path.endswith("/environments") for r in sim.requests)
    assert not [r for r in sim.requests if r.path.startswith("/v2-beta")], "the release said there is none"
    assert image_of(sim, web) == f"docker:{NEW_IMAGE}"


def test_a_v1_url_falls_back_to_v1_where_the_release_serves_no_v2_beta(sim: Simulator, web: str,
                                                                     run_cli: RunCli) -> None:
    # The 404 of a Rancher 1.1 for /v2-beta names its release, as every cattle answer does.
    sim.faults.fail_next("/v2-beta", count=1, status=404, method="GET", headers={"X-Rancher-Version": "v1.1.4"})
    result = run_cli(CATTLE_URL=f"{sim.url}/v1/projects/1a5")
    assert result.code == 0, result.stderr
    assert "serves only the /v1 API" in result.stderr
    assert [r.path for r in sim.requests if r.path in ("/v2-beta", "/v1")] == ["/v2-beta"]
    assert image_of(sim, web) == f"docker:{NEW_IMAGE}"


def test_help_lists_every_option_with_its_variable_and_default(capsys: pytest.CaptureFixture[str]) -> None:
    from rancher_deploy.settings import SETTINGS, Command

    assert cli.main(["upgrade", "--help"], environ={}) == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in (option for option in SETTINGS if option.applies_to(Command.UPGRADE)):
        assert option.flag in text
        assert option.env[0] in text
    assert "default: 600" in text and "exit codes:" in text


def test_every_target_is_checked_before_the_first_is_touched(sim: Simulator, web: str, run_cli: RunCli) -> None:
    sim.add_service(sim.service(web)["stackId"], "off", dict(LAUNCH_CONFIG), state="inactive")
    result = run_cli("--output", "json", RANCHER_SERVICE="web,off")
    assert result.code == 2
    assert "shop/off is inactive" in result.stderr
    assert sim.count("POST") == 0 and image_of(sim, web) == f"docker:{OLD_IMAGE}"


def test_a_later_target_failing_after_an_earlier_one_changed_exits_4_when_not_atomic(
        sim: Simulator, web: str, run_cli: RunCli) -> None:
    worker = sim.add_service(sim.service(web)["stackId"], "worker", dict(LAUNCH_CONFIG))
    sim.faults.fail_next(f"/services/{worker}", method="POST", status=422)
    result = run_cli("--output", "json", "--no-atomic", RANCHER_SERVICE="web,worker")
    assert result.code == 4, result.stderr
    assert result.json["result"] == "mixed"
    web_result, worker_result = result.json["targets"]
    assert web_result["result"] == "upgraded" and worker_result["result"] == "not-upgraded"
    assert "shop/worker was not upgraded: upgrade of shop/worker failed: HTTP 422" in worker_result["message"]
    assert image_of(sim, web) == f"docker:{NEW_IMAGE}"


def test_json_result_is_printed_for_configuration_errors_too(sim: Simulator, run_cli: RunCli) -> None:
    result = run_cli("--output", "json", RANCHER_IMAGE="App:1")
    assert result.code == 2
    assert result.json["result"] == "error" and result.json["exit_code"] == 2
    assert "RANCHER_IMAGE" in result.json["error"]
    from_env = run_cli(RANCHER_OUTPUT="JSON", RANCHER_SERVICE=None)
    assert from_env.code == 2 and from_env.json["exit_code"] == 2


def test_an_unexpected_internal_error_is_exit_4_not_pythons_1(sim: Simulator, web: str, run_cli: RunCli,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from rancher_deploy import deploy

    def broken(self: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(deploy.Pipeline, "run", broken)
    result = run_cli("--output", "json")
    assert result.code == 4
    assert "internal error ZeroDivisionError: division by zero; the target's state is unknown" in result.stderr
    assert result.json["exit_code"] == 4


def test_version_policy_newer_skips_downgrades_and_goes_on_upgrades(sim: Simulator, web: str,
                                                                    run_cli: RunCli) -> None:
    older = "registry.example.com:5000/shop/web:1.9"
    skipped = run_cli("--output", "json", RANCHER_VERSION_POLICY="newer", RANCHER_IMAGE=older)
    assert skipped.code == 0 and skipped.json["result"] == "skipped"
    assert skipped.stderr.splitlines()[-1] == ("rancher-deploy: exit 0 (done: skipped by the version policy; "
                                               "nothing was changed)")
    assert ("skipped by the version policy newer (RANCHER_VERSION_POLICY): web stays on "
            "registry.example.com:5000/shop/web:2.0: 1.9 is not newer than 2.0; nothing was changed") in skipped.stderr
    assert skipped.json["targets"][0]["result"] == "skipped"
    assert sim.count("POST") == 0
    assert run_cli(RANCHER_VERSION_POLICY="newer").code == 0
    assert image_of(sim, web) == f"docker:{NEW_IMAGE}"
    # The seed's table: a version -> latest goes on.
    latest = run_cli(RANCHER_VERSION_POLICY="newer", RANCHER_IMAGE="registry.example.com:5000/shop/web:latest")
    assert latest.code == 0, latest.stderr
    assert image_of(sim, web) == "docker:registry.example.com:5000/shop/web:latest"


def test_a_slow_upgrade_answer_is_given_one_more_request_timeout_before_being_judged(
        sim: Simulator, web: str, run_cli: RunCli) -> None:
    # Rancher holds the upgrade POST past the tool's request timeout, and does it only once the tool
    # has given up and read the service (unchanged): the request is still being worked on, and the
    # tool must find that out in its one more request timeout, not report "nothing changed". Held,
    # not a latency raced against the timeout (0.3 s against 0.2 s failed under load); 1 s keeps the
    # tool's other requests clear of a loaded machine's jitter.
    sim.faults.hold("action=upgrade", until_get=f"/services/{web}")
    result = run_cli(RANCHER_REQUEST_TIMEOUT="1", RANCHER_RETRIES="0")
    assert result.code == 0, result.stderr
    assert "answer was lost, but Rancher is upgrading shop/web" in result.stderr
    assert len([r for r in sim.requests if "action=upgrade" in r.query]) == 1
    assert image_of(sim, web) == f"docker:{NEW_IMAGE}"


def test_version_policy_ignores_containers_the_plan_does_not_change(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    sidekicks = [{"name": "logs", "imageUuid": "docker:fluentd:1.0"}]
    service = sim.add_service(stack, "web", dict(LAUNCH_CONFIG), secondary_launch_configs=sidekicks)
    result = run_cli("--sidekick", "logs=fluentd:1.0", RANCHER_VERSION_POLICY="newer")
    assert result.code == 0, result.stderr
    assert image_of(sim, service) == f"docker:{NEW_IMAGE}"


def test_a_configuration_error_still_writes_the_dotenv_report(run_cli: RunCli, tmp_path: Path) -> None:
    report = tmp_path / "deploy.env"
    result = run_cli(RANCHER_TIMEOUT="abc", RANCHER_DOTENV_REPORT=str(report))
    assert result.code == 2
    lines = report.read_text().splitlines()
    assert "RANCHER_DEPLOY_RESULT=error" in lines and "RANCHER_DEPLOY_EXIT_CODE=2" in lines


def test_a_service_with_a_start_once_sidekick_upgrades_and_finishes(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    data = {"name": "data", "imageUuid": f"docker:{OLD_IMAGE}",
            "labels": {"io.rancher.container.start_once": "true"}}
    service = sim.add_service(stack, "web", dict(LAUNCH_CONFIG), scale=2, secondary_launch_configs=[data])
    assert sim.service(service)["healthState"] == "healthy"
    status = run_cli("status", RANCHER_IMAGE=None)
    assert "is active, 4/4 containers healthy" in status.stderr
    result = run_cli("--update-sidekicks")
    assert result.code == 0, result.stderr
    assert sim.service(service)["state"] == "active"
    data_now = [i for i in sim.instances(service) if "data" in i["name"] and i["state"] != "removed"]
    assert {(i["state"], i["healthState"], i["imageUuid"]) for i in data_now} == {
        ("stopped", "started-once", f"docker:{NEW_IMAGE}")}


@pytest.mark.parametrize("streams", [True, False], ids=["events", "polling"])
def test_a_service_of_60_containers_is_counted_on_every_page(sim: Simulator, run_cli: RunCli, streams: bool) -> None:
    # 60 old + 60 new containers are 120: more than the one page of 100 Rancher answers by default,
    # and more than the 100 rows `include=instances` embeds.
    web = sim.add_service(sim.add_stack("shop"), "web", dict(LAUNCH_CONFIG), scale=60)
    if not streams:
        sim.faults.fail_next("/subscribe", status=404)
    result = run_cli("--output", "json", RANCHER_BATCH_SIZE="10", RANCHER_TIMEOUT="20")
    assert result.code == 0, result.stderr
    assert "60/60 new containers healthy" in result.stderr
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", f"docker:{NEW_IMAGE}")
    if not streams:
        assert [r for r in sim.requests if r.path.endswith("/instances") and "marker=m100" in r.query], \
            "the second page of containers was read"


def test_lookups_read_every_page(sim: Simulator, run_cli: RunCli) -> None:
    # The stack's 131st service and the 112th environment: both past the first page of 100.
    stack = sim.add_stack("shop")
    for n in range(130):
        sim.add_service(stack, f"svc-{n:03d}", {"imageUuid": "docker:x"}, state="inactive")
    web = sim.add_service(stack, "web", dict(LAUNCH_CONFIG), scale=1)
    last = [sim.add_project(f"env-{n:03d}") for n in range(110)][-1]
    refused = run_cli()
    assert refused.code == 2
    assert f"env-109 ({last})" in refused.stderr, "the refusal names every environment the key sees"
    result = run_cli(RANCHER_ENVIRONMENT="Default")
    assert result.code == 0, result.stderr
    assert image_of(sim, web) == f"docker:{NEW_IMAGE}"


def test_a_service_moving_to_another_repository_is_warned_about(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    sim.add_service(stack, "web", {"imageUuid": "docker:registry.example.com:5000/shop/worker:2.0"})
    result = run_cli("--dry-run")
    assert result.code == 0, result.stderr
    assert ("warning: shop/web: web runs registry.example.com:5000/shop/worker, and the new image is from another "
            "repository, registry.example.com:5000/shop/web; check RANCHER_IMAGE and RANCHER_SERVICE") in result.stderr


def test_force_without_the_pull_label_warns_in_the_plan(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    sim.add_service(stack, "web", {"imageUuid": f"docker:{OLD_IMAGE}"})
    result = run_cli("--force", "--dry-run", RANCHER_IMAGE=OLD_IMAGE)
    assert result.code == 0, result.stderr
    assert "without the label io.rancher.container.pull_image=always" in result.stderr


LB_CONFIG = {"portRules": [{"sourcePort": 443, "targetPort": 8080, "protocol": "https", "serviceId": "1s1",
                            "hostname": "shop.example.com"}],
             "certificateIds": ["1c2"], "defaultCertificateId": "1c2", "config": "maxconn 4096"}


@pytest.mark.parametrize(("kind", "fields"), [
    ("loadBalancerService", {"lbConfig": LB_CONFIG}),
    ("networkDriverService", {"networkDriver": {"name": "ipsec",
                                                "defaultNetwork": {"subnets": [{"cidr": "10.42.0.0/16"}]}}}),
    ("storageDriverService", {"storageDriver": {"name": "rancher-nfs", "scope": "environment"}}),
])
def test_kinds_that_run_containers_upgrade_like_a_service_keeping_every_field(
        sim: Simulator, run_cli: RunCli, kind: str, fields: dict[str, object]) -> None:
    stack = sim.add_stack("shop")
    target = sim.add_service(stack, "web", dict(LAUNCH_CONFIG), scale=2, kind=kind, fields=fields)
    result = run_cli("--output", "json")
    assert result.code == 0, result.stderr
    service = sim.service(target)
    assert (service["type"], service["state"]) == (kind, "active")
    assert service["launchConfig"] == {**LAUNCH_CONFIG, "imageUuid": f"docker:{NEW_IMAGE}", "type": "launchConfig",
                                       "version": service["launchConfig"]["version"]}
    assert {name: service[name] for name in fields} == fields


@pytest.mark.parametrize(("kind", "fields", "words"), [
    ("dnsService", {}, "a DNS (alias) service (dnsService)"),
    ("externalService", {"externalIpAddresses": ["10.0.0.9"]}, "an external service (externalService)"),
])
def test_kinds_without_containers_are_refused_before_any_change_exit_2(
        sim: Simulator, run_cli: RunCli, kind: str, fields: dict[str, object], words: str) -> None:
    stack = sim.add_stack("shop")
    sim.add_service(stack, "worker", dict(LAUNCH_CONFIG))
    target = sim.add_service(stack, "web", {}, kind=kind, fields=fields)
    result = run_cli("--output", "json", RANCHER_SERVICE="worker,web")
    assert result.code == 2, result.stderr
    assert f"shop/web is {words}: it runs no container, so it has no image to upgrade" in result.stderr
    assert sim.count("POST") == 0, "refused before the first target was touched"
    assert sim.service(target)["state"] == "active"
