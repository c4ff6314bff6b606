"""The seam's promises: each Backend method says what it raises, and the flavours raise what it says.

Over HTTP against the simulator: a plan of the other flavour is refused with TypeError before any
request that changes something, finish on a 2.x workload is refused before any request, and a
target of the other line is a ConfigError.
"""

from __future__ import annotations

import inspect

import pytest

from rancher_deploy import cattle, discovery
from rancher_deploy.backend import Backend
from rancher_deploy.errors import ConfigError, RefusedError
from rancher_deploy.http import Credentials, RancherSession
from rancher_deploy.plan import Plan, ServiceUpgrade, Strategy, WorkloadUpdate
from rancher_deploy.settings import Command, ServiceTarget, Settings, WorkloadTarget
from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, SECRET_KEY
from .test_workloads import TOKEN_ID, TOKEN_SECRET, WEB


def test_every_method_of_the_seam_says_what_it_raises() -> None:
    methods = [name for name, member in vars(Backend).items()
               if inspect.isfunction(member) and not name.startswith("_")]
    assert methods, "the Protocol has methods"
    quiet = [name for name in methods if "raises" not in (inspect.getdoc(getattr(Backend, name)) or "").lower()]
    assert quiet == []


def _plan(request: ServiceUpgrade | WorkloadUpdate) -> Plan:
    return Plan(target="x", target_id="x", changes=(), request=request)


def test_rancher_1_refuses_what_is_not_its_own(sim: Simulator, web: str) -> None:
    backend = cattle.connect(RancherSession(Credentials(ACCESS_KEY, SECRET_KEY)), sim.url, None, lambda text: None)
    ref = backend.resolve(ServiceTarget("web", "shop"))
    with pytest.raises(TypeError, match="a Rancher 1.x service cannot apply WorkloadUpdate"):
        backend.apply(ref, _plan(WorkloadUpdate({"web": "nginx:1"})))
    with pytest.raises(ConfigError, match="names a Rancher 2.x workload, but this is Rancher 1.x"):
        backend.resolve(WorkloadTarget("deployment", "web", "default"))
    with pytest.raises(RefusedError, match="Rancher does not offer finishupgrade"):
        backend.finish(ref)  # an active service has no upgrade to finish
    assert sim.count("POST") == 0


def test_rancher_2_refuses_what_is_not_its_own() -> None:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8", timing=Timing.fast()) as sim:
        sim.add_workload("default", "web", [dict(WEB)])
        settings = Settings.load(Command.STATUS, {}, {"CATTLE_URL": sim.url, "RANCHER_WORKLOAD": "web",
                                                      "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}"})
        backend = discovery.connect(RancherSession(Credentials(token=settings.token)), settings, lambda text: None)
        ref = backend.resolve(settings.workloads[0])
        sim.reset_log()
        with pytest.raises(TypeError, match="a Rancher 2.x workload cannot apply ServiceUpgrade"):
            backend.apply(ref, _plan(ServiceUpgrade(Strategy(1, 2.0, False))))
        with pytest.raises(RefusedError, match="its rollout finishes on its own"):
            backend.finish(ref)
        assert sim.requests == [], "refused before any request"
        with pytest.raises(ConfigError, match="names a Rancher 1.x service, but this is Rancher 2.x"):
            backend.resolve(ServiceTarget("web", "shop"))
