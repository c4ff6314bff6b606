"""Registry polling (`--poll`): each target moves to the newest tag of its repository the version
policy allows, listed from a real registry (tests/distribution.py) and applied through the ordinary
upgrade run on the simulator; and the round `rancher-deploy serve` repeats (`poll_once`, `poll_loop`)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

import pytest
import trustme

from rancher_deploy.errors import ConfigError
from rancher_deploy.events import Event, Outcome
from rancher_deploy.images import ImageRef
from rancher_deploy.poll import poll_loop, poll_once
from rancher_deploy.settings import Command, Settings
from rancher_deploy.simulator import Simulator, Timing
from rancher_deploy.snapshot import Snapshot
from tests.conftest import LAUNCH_CONFIG, SECRET_KEY, CliRun, RunCli
from tests.distribution import Registry, TokenIssuer, basic_auth, docker_config
from tests.test_workloads import TOKEN_ID, TOKEN_SECRET, WEB, containers, run as run2

PASSWORD = "poll-pass-recognisable-17"
TAGS = ("1.9.0", "2.0", "2.1", "2.10", "3.0.0-rc.1", "latest", "nightly")


@pytest.fixture
def registry(tmp_path: Path, ca: trustme.CA) -> Iterator[Registry]:
    with Registry(tmp_path / "registry", ca=ca, users={"ci": PASSWORD}) as server:
        server.push_tags("shop/web", *TAGS)
        yield server


def service_on(sim: Simulator, image: str) -> str:
    stack_id = sim.add_stack("shop")
    return sim.add_service(stack_id, "web", {**LAUNCH_CONFIG, "imageUuid": f"docker:{image}"}, scale=2)


def poll_env(registry: Registry, config: Path, **more: str | None) -> dict[str, str | None]:
    return {"RANCHER_IMAGE": f"{registry.host}/shop/web", "RANCHER_POLL": "true", "DOCKER_CONFIG": str(config),
            "RANCHER_REGISTRY_CA_BUNDLE": registry.ca_file, **more}


def poll_newer(sim: Simulator, run_cli: RunCli, registry: Registry, tmp_path: Path, running: str) -> tuple[str, CliRun]:
    """A 1.x service on `running` of the registry's shop/web, polled once under the `newer` policy with
    the right credentials; its id, and the run."""
    service = service_on(sim, f"{registry.host}/shop/web:{running}")
    config = docker_config(tmp_path / "docker", {registry.host: basic_auth("ci", PASSWORD)})
    result = run_cli("--output", "json", **poll_env(registry, config, RANCHER_VERSION_POLICY="newer"))
    assert result.code == 0, result.stderr
    return service, result


def test_poll_upgrades_a_1x_service_to_the_newest_release_the_policy_allows(
        sim: Simulator, run_cli: RunCli, registry: Registry, tmp_path: Path) -> None:
    service, result = poll_newer(sim, run_cli, registry, tmp_path, "2.0")
    # 2.10 > 2.1 as versions (not as text); the pre-release and the non-version tags are never chosen.
    assert sim.service(service)["launchConfig"]["imageUuid"] == f"docker:{registry.host}/shop/web:2.10"
    target = result.json["targets"][0]
    assert target["result"] == "upgraded"
    assert f"Registry: {len(TAGS)} tags of {registry.host}/shop/web" in result.stderr
    # Said once per target, though the pipeline plans the target again for its report.
    assert result.stderr.count("Registry: 2.10 is the newest tag") == 1, result.stderr
    assert PASSWORD not in result.output


def test_nothing_newer_in_the_registry_is_skipped_with_its_reason(
        sim: Simulator, run_cli: RunCli, registry: Registry, tmp_path: Path) -> None:
    service, result = poll_newer(sim, run_cli, registry, tmp_path, "2.10")
    assert result.json["targets"][0]["result"] == "skipped"
    assert "no tag of" in result.json["targets"][0]["message"] and "allowed over 2.10" in result.stderr
    assert sim.service(service)["launchConfig"]["imageUuid"] == f"docker:{registry.host}/shop/web:2.10"


def test_wrong_registry_credentials_stop_the_run_before_any_change(
        sim: Simulator, run_cli: RunCli, registry: Registry, tmp_path: Path) -> None:
    service = service_on(sim, f"{registry.host}/shop/web:2.0")
    config = docker_config(tmp_path / "docker", {registry.host: basic_auth("ci", "not-" + PASSWORD)})
    result = run_cli(**poll_env(registry, config))
    assert result.code == 2
    error = next(line for line in result.stderr.splitlines() if "refused the credentials" in line)
    assert error.startswith(f"rancher-deploy: error: DOCKER_CONFIG: listing the tags of {registry.host}/shop/web: ")
    assert PASSWORD not in result.output
    assert sim.service(service)["launchConfig"]["imageUuid"] == f"docker:{registry.host}/shop/web:2.0"


def test_a_dry_run_names_the_tag_polling_would_choose_and_changes_nothing(
        sim: Simulator, run_cli: RunCli, registry: Registry, tmp_path: Path) -> None:
    service = service_on(sim, f"{registry.host}/shop/web:2.0")
    config = docker_config(tmp_path / "docker", {registry.host: basic_auth("ci", PASSWORD)})
    result = run_cli("--output", "json", "--dry-run", **poll_env(registry, config))
    assert result.code == 0, result.stderr
    assert result.json["targets"][0]["result"] == "planned"
    assert f"{registry.host}/shop/web:2.0 -> {registry.host}/shop/web:2.10" in result.stderr
    assert sim.service(service)["launchConfig"]["imageUuid"] == f"docker:{registry.host}/shop/web:2.0"


def test_the_registry_is_asked_once_per_run_even_when_it_refuses(tmp_path: Path) -> None:
    from rancher_deploy.poll import TagChooser, access_for
    from rancher_deploy.policy import TargetPolicy
    from rancher_deploy.snapshot import Phase

    calls: list[ImageRef] = []

    def refusing(image: ImageRef, access: Any) -> list[str]:
        calls.append(image)
        raise ConfigError("DOCKER_CONFIG", "refused")

    settings = _settings(image=ImageRef.parse("registry.example.com/shop/web"), poll=True)
    chooser = TagChooser(settings, access_for(settings), lambda event: None, tags=refusing)
    snapshot = Snapshot(state="active", phase=Phase.READY, images=(("web", "registry.example.com/shop/web:2.0"),),
                        status=None)  # type: ignore[arg-type]
    for _ in range(2):
        with pytest.raises(ConfigError):
            chooser("shop/web", snapshot, TargetPolicy(settings.version_policy, "RANCHER_VERSION_POLICY"))
    assert len(calls) == 1


def test_poll_refuses_an_image_with_a_tag(sim: Simulator, run_cli: RunCli, tmp_path: Path) -> None:
    result = run_cli(RANCHER_POLL="true", RANCHER_IMAGE="registry.example.com/shop/web:2.1")
    assert result.code == 2
    assert "RANCHER_IMAGE: names a tag or digest, but RANCHER_POLL chooses the tag" in result.stderr


def test_poll_upgrades_a_2x_workload_through_a_token_registry(tmp_path: Path, ca: trustme.CA) -> None:
    issuer = TokenIssuer(ca, tmp_path, users={"ci": PASSWORD})
    try:
        with Registry(tmp_path / "token", ca=ca, issuer=issuer) as registry, \
                Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8", timing=Timing.fast()) as sim2:
            registry.push_tags("shop/web", "2.0", "2.1", "3.0")
            sim2.add_workload("default", "web", [{**WEB, "image": f"{registry.host}/shop/web:2.0"}], replicas=2)
            config = docker_config(tmp_path / "docker", {f"https://{registry.host}": basic_auth("ci", PASSWORD)})
            result = run2(sim2, "--output", "json", **poll_env(registry, config))
            assert result.code == 0, result.stderr
            assert containers(sim2)["web"]["image"] == f"{registry.host}/shop/web:3.0"
            assert PASSWORD not in result.output
    finally:
        issuer.close()
    assert issuer.requests and issuer.requests[0]["scope"] == ["repository:shop/web:pull"]


def _settings(**overrides: Any) -> Settings:
    environ = {"CATTLE_URL": "https://rancher.example.com", "CATTLE_ACCESS_KEY": "a", "CATTLE_SECRET_KEY": SECRET_KEY,
               "RANCHER_SERVICE": "web", "RANCHER_IMAGE": "registry.example.com/shop/web:2.1"}
    return replace(Settings.load(Command.UPGRADE, {}, environ), **overrides)


def test_poll_once_runs_each_repository_as_a_polling_fleet_run_and_goes_on_after_a_failure() -> None:
    seen: list[Settings] = []
    logged: list[Event] = []

    def run(settings: Settings, log: Any) -> Outcome:
        seen.append(settings)
        if settings.image is not None and settings.image.repository == "shop/broken":
            raise ConfigError("DOCKER_CONFIG", "refused")
        return Outcome(command="upgrade", targets=(), duration_seconds=0.0)

    repositories = [ImageRef.parse("registry.example.com/shop/broken:1"), ImageRef.parse("registry.example.com/shop/web:2")]
    outcomes = poll_once(_settings(), logged.append, run, repositories=repositories)
    assert len(outcomes) == 1
    assert [(str(s.image), s.poll, s.select_image, s.atomic, s.services) for s in seen] == [
        ("registry.example.com/shop/broken", True, True, False, ()),
        ("registry.example.com/shop/web", True, True, False, ())]
    assert "Polling registry.example.com/shop/broken failed: DOCKER_CONFIG: refused" in str(logged[0])


def test_poll_once_through_the_run_function_upgrades_on_the_simulator(
        sim: Simulator, registry: Registry, tmp_path: Path) -> None:
    # What serve's rounds do: runner.run, the one run function, with each repository's polling settings.
    from rancher_deploy import runner
    from tests.conftest import ACCESS_KEY
    from tests.test_fleet import config as fleet_config

    repository = f"{registry.host}/shop/web"
    web = sim.add_service(sim.add_stack("shop"), "web", fleet_config(f"{repository}:2.1", autoupdate_enable="true"))
    config = docker_config(tmp_path / "docker", {registry.host: basic_auth("ci", PASSWORD)})
    settings = Settings.load(Command.UPGRADE, {}, {
        "CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
        "RANCHER_SELECT_IMAGE": "true", "RANCHER_IMAGE": repository, "RANCHER_POLL": "true",
        "DOCKER_CONFIG": str(config), "RANCHER_REGISTRY_CA_BUNDLE": str(registry.ca_file),
        "RANCHER_POLL_INTERVAL": "0.005", "RANCHER_BATCH_INTERVAL": "0.1", "RANCHER_TIMEOUT": "30"})
    logged: list[Event] = []
    ran = poll_once(settings, logged.append, runner.run)   # the settings' repository
    assert [result.exit_code for result in ran] == [0], ran
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{repository}:2.10"
    assert PASSWORD not in "\n".join(str(event) for event in logged)


def test_poll_loop_stops_when_told_without_waiting_out_the_interval() -> None:
    stop, polled = threading.Event(), threading.Event()

    def run(settings: Settings, log: Any) -> Outcome:
        polled.set()
        return Outcome(command="upgrade", targets=(), duration_seconds=0.0)

    # An interval of an hour: the loop ends because `stop` is set (serve's SIGTERM), not because time passed.
    loop = threading.Thread(target=poll_loop, args=(_settings(), lambda event: None, run, 3600.0, stop))
    loop.start()
    assert polled.wait(5), "the first round runs at once"
    stop.set()
    loop.join(5)
    assert not loop.is_alive()


def test_poll_with_select_image_moves_each_opted_in_service_on_its_own(
        sim: Simulator, run_cli: RunCli, registry: Registry, tmp_path: Path) -> None:
    # Fleet selection picks by the repository; polling then chooses each pick's tag from what it runs.
    from tests.test_fleet import config as fleet_config

    repository = f"{registry.host}/shop/web"
    shop, prod = sim.add_stack("shop"), sim.add_stack("shop", sim.add_project("prod"))
    behind = sim.add_service(shop, "web", fleet_config(f"{repository}:2.0", autoupdate_enable="true"))
    current = sim.add_service(prod, "web", fleet_config(f"{repository}:2.10", autoupdate_enable="true"))
    opted_out = sim.add_service(shop, "api", fleet_config(f"{repository}:2.0"))
    config = docker_config(tmp_path / "docker", {registry.host: basic_auth("ci", PASSWORD)})
    result = run_cli("--output", "json", RANCHER_STACK=None, RANCHER_SERVICE=None, RANCHER_SELECT_IMAGE="true",
                     **poll_env(registry, config, RANCHER_VERSION_POLICY="newer"))
    assert result.code == 0, result.stderr
    assert sim.service(behind)["launchConfig"]["imageUuid"] == f"docker:{repository}:2.10"
    assert sim.service(current)["launchConfig"]["imageUuid"] == f"docker:{repository}:2.10"
    assert sim.service(opted_out)["launchConfig"]["imageUuid"] == f"docker:{repository}:2.0"
    assert sorted(target["result"] for target in result.json["targets"]) == ["skipped", "upgraded"]
    assert result.stderr.count(f"Registry: {len(TAGS)} tags of {repository}") == 1   # listed once per run


def test_each_target_takes_the_newest_tag_its_own_policy_allows(
        sim: Simulator, run_cli: RunCli, registry: Registry, tmp_path: Path) -> None:
    # One listing, two answers: a service whose label autoupdate.policy=patch stays on 2.0.x, another
    # follows RANCHER_VERSION_POLICY=all to the highest release (the pre-release is another track).
    from tests.test_fleet import config as fleet_config

    repository = f"{registry.host}/shop/web"
    registry.push_image("shop/web", "2.0.1")
    shop = sim.add_stack("shop")
    careful = sim.add_service(shop, "web", fleet_config(f"{repository}:2.0", autoupdate_enable="true",
                                                        autoupdate_policy="patch"))
    eager = sim.add_service(shop, "api", fleet_config(f"{repository}:2.0", autoupdate_enable="true"))
    config = docker_config(tmp_path / "docker", {registry.host: basic_auth("ci", PASSWORD)})
    result = run_cli("--output", "json", RANCHER_STACK=None, RANCHER_SERVICE=None, RANCHER_SELECT_IMAGE="true",
                     **poll_env(registry, config, RANCHER_VERSION_POLICY="all"))
    assert result.code == 0, result.stderr
    assert sim.service(careful)["launchConfig"]["imageUuid"] == f"docker:{repository}:2.0.1"
    assert sim.service(eager)["launchConfig"]["imageUuid"] == f"docker:{repository}:2.10"
    assert "Registry: 2.0.1 is the newest tag the version policy patch (label autoupdate.policy) allows" in result.stderr
