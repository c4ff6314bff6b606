"""The server's registry polling (RANCHER_SERVE_POLL): a real registry (tests/distribution.py) holds
the repository's tags; each poll queues a run like a push, and the opted-in target moves to the newest
tag its version policy allows. (The push notification's path: tests/serve/test_registry.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import trustme

from rancher_deploy.simulator import Simulator
from tests.conftest import LAUNCH_CONFIG
from tests.distribution import Registry, basic_auth, docker_config

from .conftest import Serve

PASSWORD = "serve-poll-pass-recognisable-38"


@pytest.fixture
def registry(tmp_path: Path, ca: trustme.CA) -> Iterator[Registry]:
    with Registry(tmp_path / "registry", ca=ca, users={"ci": PASSWORD}) as server:
        server.push_tags("shop/web", "2.0", "2.1", "2.10", "latest")
        yield server


def opted_in(sim: Simulator, image: str) -> str:
    config = {**LAUNCH_CONFIG, "imageUuid": f"docker:{image}",
              "labels": {**LAUNCH_CONFIG["labels"], "autoupdate.enable": "true"}}
    return sim.add_service(sim.add_stack("shop"), "web", config, scale=2)


def test_the_server_polls_the_registry_and_moves_the_opted_in_target(
        sim: Simulator, serve: Serve, registry: Registry, tmp_path: Path) -> None:
    repository = f"{registry.host}/shop/web"
    web = opted_in(sim, f"{repository}:2.0")
    config = docker_config(tmp_path / "docker", {registry.host: basic_auth("ci", PASSWORD)})
    # An hour between polls: the first runs at start, and the stop must not wait out the interval.
    served = serve(RANCHER_SERVE_POLL="3600", RANCHER_SERVE_POLL_IMAGES=repository, DOCKER_CONFIG=str(config),
                   RANCHER_REGISTRY_CA_BUNDLE=registry.ca_file, RANCHER_VERSION_POLICY="newer")
    served.wait("a polling run", lambda: bool(served.status()["runs"]))
    run = served.wait_until_done(served.status()["runs"][-1]["run"])
    assert run["source"] == "poll", run
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{repository}:2.10"
    assert f"polling {repository} every 3600s (RANCHER_SERVE_POLL)" in served.log.getvalue()
    assert served.stop() == 0
    assert PASSWORD not in served.log.getvalue()


def test_without_a_list_the_server_polls_the_repositories_the_opted_in_targets_run(
        sim: Simulator, serve: Serve, registry: Registry, tmp_path: Path) -> None:
    # Keel's way: the repositories to poll are found from the targets that opted in, not configured.
    repository = f"{registry.host}/shop/web"
    web = opted_in(sim, f"{repository}:2.0")
    other = {**LAUNCH_CONFIG, "imageUuid": f"docker:{registry.host}/shop/api:1.0"}   # no opt-in label
    sim.add_service(sim.add_stack("back"), "api", other, scale=1)
    config = docker_config(tmp_path / "docker", {registry.host: basic_auth("ci", PASSWORD)})
    served = serve(RANCHER_SERVE_POLL="3600", DOCKER_CONFIG=str(config), RANCHER_REGISTRY_CA_BUNDLE=registry.ca_file)
    served.wait("a polling run", lambda: bool(served.status()["runs"]))
    (run,) = served.status()["runs"]
    assert (run["source"], run["repository"]) == ("poll", repository)
    assert served.wait_until_done(run["run"])["result"] == "upgraded"
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{repository}:2.10"
    log = served.log.getvalue()
    assert "polling the repositories the opted-in targets run every 3600s (RANCHER_SERVE_POLL)" in log
    assert f"poll: the opted-in targets run {repository}\n" in log   # not shop/api, which did not opt in
    assert served.stop() == 0


def test_each_round_finds_the_opted_in_repositories_again(sim: Simulator, registry: Registry) -> None:
    # serve/poll.py asks this once per round (poll_loop's `repositories`): a target that opts in later,
    # or moves to another repository, is polled from the next round on.
    from rancher_deploy.runner import opted_in_repositories
    from rancher_deploy.settings import Command, Settings

    from .conftest import server_environment

    settings = Settings.load(Command.SERVE, {}, server_environment(sim))
    assert opted_in_repositories(settings, lambda event: None) == ()
    opted_in(sim, f"{registry.host}/shop/web:2.0")
    (found,) = opted_in_repositories(settings, lambda event: None)
    assert (found.name, found.tag) == (f"{registry.host}/shop/web", None)


def test_opted_in_repositories_of_an_unreachable_rancher_is_exit_3(sim: Simulator) -> None:
    from rancher_deploy.errors import DeployError, ExitCode
    from rancher_deploy.runner import opted_in_repositories
    from rancher_deploy.settings import Command, Settings

    from .conftest import server_environment

    environment = server_environment(sim, CATTLE_URL="http://127.0.0.1:1/v2-beta", RANCHER_RETRIES="0")
    settings = Settings.load(Command.SERVE, {}, environment)
    with pytest.raises(DeployError) as raised:
        opted_in_repositories(settings, lambda event: None)
    assert raised.value.exit_code is ExitCode.RANCHER_UNAVAILABLE
