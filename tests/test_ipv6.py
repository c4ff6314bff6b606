"""The tool against a Rancher on the IPv6 loopback (`http://[::1]:<port>`), end to end, 1.6 and 2.x."""

from __future__ import annotations

import pytest

from rancher_deploy.simulator import Simulator, Timing

from .conftest import LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, invoke_cli
from .simulator.test_command import ipv6_loopback

pytestmark = pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this machine")
TOKEN, SECRET = "token-ipvsx", "ipv6-secret-recognisable"
QUICK = {"RANCHER_POLL_INTERVAL": "0.005", "RANCHER_BATCH_INTERVAL": "0.1", "RANCHER_TIMEOUT": "30"}


def test_a_rancher_1_6_upgrade_over_ipv6() -> None:
    with Simulator(TOKEN, SECRET, host="::1", timing=Timing.fast()) as sim:
        assert sim.url.startswith("http://[::1]:")
        web = sim.add_service(sim.add_stack("shop"), "web", dict(LAUNCH_CONFIG), scale=2)
        result = invoke_cli(("--output", "json"), {"CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": TOKEN,
                                                   "CATTLE_SECRET_KEY": SECRET, "RANCHER_STACK": "shop",
                                                   "RANCHER_SERVICE": "web", "RANCHER_IMAGE": NEW_IMAGE, **QUICK},
                            {}, SECRET)
        assert result.code == 0, result.stderr
        assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


@pytest.mark.parametrize("version", ["2.4", "2.8"])
def test_a_rancher_2_upgrade_over_ipv6(version: str) -> None:
    with Simulator(TOKEN, SECRET, host="::1", rancher_version=version, timing=Timing.fast()) as sim:
        sim.add_workload("default", "web", [{"name": "web", "image": OLD_IMAGE}], replicas=2)
        result = invoke_cli(("--output", "json"), {"CATTLE_URL": sim.url, "RANCHER_TOKEN": f"{TOKEN}:{SECRET}",
                                                   "RANCHER_WORKLOAD": "web", "RANCHER_IMAGE": NEW_IMAGE, **QUICK},
                            {}, SECRET)
        assert result.code == 0, result.stderr
        container = sim.workload("deployment", "default", "web")["spec"]["template"]["spec"]["containers"][0]
        assert container["image"] == NEW_IMAGE
