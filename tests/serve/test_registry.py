"""The end-to-end proof of the webhook trigger: a real distribution registry (Debian's `docker-registry`,
tests/distribution.py) configured to notify the server, pushed to over its HTTP API v2; its
notifications reach `POST /webhooks/registry` and the opted-in service running that repository is
upgraded to the pushed tag. Header auth as the registry's `headers:` config sends it, and the token in
the path."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from rancher_deploy.simulator import Simulator

from ..conftest import LAUNCH_CONFIG
from ..distribution import Registry
from .conftest import TOKEN, Serve


@pytest.mark.parametrize("by_header", [True, False], ids=["Authorization header", "token in the path"])
def test_a_push_to_a_real_registry_upgrades_the_service_running_its_repository(
        serve: Serve, sim: Simulator, tmp_path: Path, by_header: bool) -> None:
    served = serve()
    endpoint = f"{served.url}/webhooks/registry" + ("" if by_header else f"/{TOKEN}")
    headers = {"Authorization": [f"Bearer {TOKEN}"]} if by_header else None
    with Registry(tmp_path / "registry", notify=endpoint, notify_headers=headers) as registry:
        config = copy.deepcopy(LAUNCH_CONFIG)
        config["imageUuid"] = f"docker:{registry.host}/shop/web:1.0"
        config["labels"]["autoupdate.enable"] = "true"
        web = sim.add_service(sim.add_stack("shop"), "web", config, scale=2)
        registry.push_image("shop/web", "1.1")
        # The registry sends from a queue of its own: its blob pushes are ignored, its manifest's is run.
        served.wait("the registry's push notification", lambda: any(run["image"] == f"{registry.host}/shop/web:1.1"
                                                                      for run in served.status()["runs"]))
        run = served.wait_until_done(1)
    assert (run["source"], run["result"], run["exit_code"]) == ("registry", "upgraded", 0)
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{registry.host}/shop/web:1.1"
    log = served.log.getvalue()
    assert "POST /webhooks/registry" + ("" if by_header else "/***") + " 202" in log
    assert " 200 " in log   # the blob pushes' notifications, answered and ignored
