"""Fleet mode on 1.x across environments: a pick outside the key's default environment is read, changed
and waited for in its own environment (its service's `accountId`), not in the default one."""

from __future__ import annotations

import pytest

from rancher_deploy.simulator import Simulator, Timing

from .conftest import NEW_IMAGE, RunCli
from .test_fleet import config, fleet, image_of


@pytest.fixture
def timing() -> Timing:
    # Slow enough (an upgrade takes ~0.2 s real) that the wait's first read still shows the upgrade
    # going on: it has to see the service change on the stream instead of finding the end state at once.
    return Timing(speed=20.0)


def test_a_fleet_pick_in_another_environment_is_watched_in_its_own_environment(
        sim: Simulator, run_cli: RunCli) -> None:
    prod = sim.add_project("prod")
    shop = sim.add_stack("shop", project_id=prod)
    web = sim.add_service(shop, "web", config(autoupdate_enable="true"))
    sim.reset_log()
    result = fleet(run_cli, RANCHER_TIMEOUT="20")
    assert result.code == 0, result.stderr[-1500:]
    assert image_of(sim, web) == NEW_IMAGE
    subscribed = {record.path for record in sim.requests if record.path.endswith("/subscribe")}
    assert subscribed == {f"/v2-beta/projects/{prod}/subscribe"}, subscribed
    # Every per-environment request after the listing (reads, actions) addresses prod, none the default.
    default = sim.default_project_id
    stray = [record.path for record in sim.requests
             if f"/projects/{default}/" in record.path and "/services/" in record.path]
    assert not stray, stray
