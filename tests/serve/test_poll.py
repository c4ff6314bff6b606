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


def test_polling_needs_the_repositories(sim: Simulator, serve: Serve) -> None:
    from rancher_deploy.errors import ConfigError

    with pytest.raises(ConfigError, match="RANCHER_SERVE_POLL: needs RANCHER_SERVE_POLL_IMAGES"):
        serve(RANCHER_SERVE_POLL="60")
