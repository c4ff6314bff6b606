"""Validate the fake with Rancher's own Python client, gdapi-python 0.5.3, unchanged."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import gdapi
import pytest

from rancher_deploy.simulator import Simulator

from .conftest import ACCESS_KEY, SECRET_KEY


def client(sim: Simulator, path: str = "/v2-beta") -> Any:
    return gdapi.Client(url=sim.url + path, access_key=ACCESS_KEY, secret_key=SECRET_KEY)


def wait_for(c: Any, obj: Any, state: str, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        obj = c.reload(obj)
        if obj.state == state or time.monotonic() > deadline:
            return obj
        time.sleep(0.005)


def test_create_find_upgrade_refuse_finish(sim: Simulator) -> None:
    c = client(sim)
    stack = wait_for(c, c.create_stack(name="shop"), "active")
    created = c.create_service(
        name="web",
        stackId=stack.id,
        scale=2,
        startOnCreate=True,
        launchConfig={"imageUuid": "docker:nginx:1.24", "labels": {"tier": "web"}},
    )
    assert created.state == "registering"
    found = c.list_service(name="web").data
    assert [s.id for s in found] == [created.id]
    svc = wait_for(c, found[0], "active")
    assert svc.upgrade is None  # the field exists, so gdapi binds the action as upgrade_action

    launch_config = {"imageUuid": "docker:nginx:1.25", "labels": {"tier": "web"}}
    upgrading = svc.upgrade_action(inServiceStrategy={"launchConfig": launch_config, "batchSize": 1})
    assert upgrading.state == "upgrading"
    assert upgrading.upgrade.inServiceStrategy.previousLaunchConfig.imageUuid == "docker:nginx:1.24"
    upgraded = wait_for(c, upgrading, "upgraded")
    assert upgraded.state == "upgraded"

    with pytest.raises(gdapi.ApiError) as refused:
        svc.upgrade_action(inServiceStrategy={"launchConfig": launch_config})  # stale object, live URL
    assert refused.value.error.code == "ActionNotAvailable"
    assert refused.value.error.fieldName == "action"

    finished = wait_for(c, upgraded.finishupgrade(), "active")
    assert finished.launchConfig.imageUuid == "docker:nginx:1.25"
    assert [i.imageUuid for i in finished.instances().data] == ["docker:nginx:1.25"] * 2


def test_what_rancher_deploy_creates_and_removes_is_taken_as_rancher_s_client_sends_it(sim: Simulator) -> None:
    # The bodies of RANCHER_CREATE (creation.service_body), sent by Rancher's own client, and the
    # removal of what a failed creation leaves: DELETE of the service, then of the stack made for it.
    from rancher_deploy.creation import Blueprint, Creation, Port, service_body
    from rancher_deploy.images import ImageRef
    from rancher_deploy.targets import ServiceTarget

    c = client(sim)
    stack = c.create_stack(name="shop", startOnCreate=True)
    image = ImageRef.parse("nginx:1.25")
    creation = Creation(ServiceTarget("web", "shop"), "service", "web", image,
                        Blueprint(image, scale=2, ports=(Port(80, 8080),), env=(("MODE", "prod"),)))
    body = service_body(creation, stack.id, "stackId")
    created = c.create_service(**{key: value for key, value in body.items() if key != "type"})
    assert (created.type, created.state, created.startOnCreate) == ("service", "registering", True)
    active = wait_for(c, created, "active")
    assert (active.scale, active.launchConfig.ports, active.launchConfig.environment.MODE) == (2, ["8080:80/tcp"], "prod")
    assert len(active.instances().data) == 2

    removing = c.delete(active)
    assert removing.state == "removing"
    assert wait_for(c, removing, "removed").state == "removed"
    assert c.list_service(name="web").data == []
    assert c.delete(wait_for(c, stack, "active")).state == "removing"
    assert wait_for(c, stack, "removed").state == "removed"


def test_rollback(sim: Simulator) -> None:
    c = client(sim)
    stack = c.create_stack(name="shop")
    sim.add_service(stack.id, "web", {"imageUuid": "docker:nginx:1.24"})
    svc = c.list_service(name="web").data[0]
    svc.upgrade_action(inServiceStrategy={"launchConfig": {"imageUuid": "docker:nginx:1.25"}})
    upgraded = wait_for(c, svc, "upgraded")
    rolling = upgraded.rollback()
    assert rolling.state == "rolling-back"
    assert rolling.launchConfig.imageUuid == "docker:nginx:1.24"
    assert wait_for(c, rolling, "active").launchConfig.version == "0"


def test_page_through_250_services(sim: Simulator) -> None:
    stack = sim.add_stack("many")
    for n in range(250):
        sim.add_service(stack, f"svc-{n:03d}", {"imageUuid": "docker:x"}, state="inactive")
    page = client(sim).list_service(limit=100)
    names = [s.name for s in page.data]
    while page.pagination.next:
        page = page.next()
        names += [s.name for s in page.data]
    assert names == [f"svc-{n:03d}" for n in range(250)]


def test_project_scoped_base_url(sim: Simulator) -> None:
    project = sim.add_project("Staging")
    stack = sim.add_stack("theirs", project)
    sim.add_service(stack, "db", {"imageUuid": "docker:postgres:16"})
    scoped = client(sim, f"/v2-beta/projects/{project}")
    found = scoped.list_service(name="db").data
    assert len(found) == 1
    assert found[0].links.self.startswith(f"{sim.url}/v2-beta/projects/{project}/services/")
    assert scoped.by_id_service(found[0].id).name == "db"
    assert client(sim).list_service(name="db").data == []  # unscoped is the default project


def test_a_new_container_that_never_gets_healthy_is_waited_for_without_an_error(frozen_sim: Simulator) -> None:
    # What Rancher's own tooling sees (gdapi; cattle.py's wait_success reads `transitioning`): the
    # service stays upgrading with transitioning "yes" and a wait message, never "error"; with an
    # initializingTimeout the stuck container is replaced by a new one (another id).
    sim = frozen_sim
    c = client(sim)
    stack = c.create_stack(name="shop")
    config = {"imageUuid": "docker:web:1", "healthCheck": {"port": 80, "strategy": "recreate",
                                                            "initializingTimeout": 30000}}
    sim.add_service(stack.id, "web", config)
    sim.faults.unhealthy_image("web:2")
    svc = c.list_service(name="web").data[0]
    svc.upgrade_action(inServiceStrategy={"launchConfig": {**config, "imageUuid": "docker:web:2"}})
    sim.advance(10)
    first = [i.id for i in c.reload(svc).instances().data if i.imageUuid == "docker:web:2"]
    sim.advance(50)
    svc = c.reload(svc)
    assert (svc.state, svc.transitioning) == ("upgrading", "yes")
    assert svc.transitioningMessage.startswith("Waiting: healthy [container:1i")
    now = [i for i in svc.instances().data if i.imageUuid == "docker:web:2" and i.state != "removed"]
    assert len(first) == 1 and [i.id for i in now] != first
    assert [i.healthState for i in now] == ["initializing"]


def test_rancher_s_client_creates_a_load_balancer_and_upgrades_it_keeping_its_lb_config(sim: Simulator) -> None:
    c = client(sim)
    stack = wait_for(c, c.create_stack(name="shop"), "active")
    web = c.create_service(name="web", stackId=stack.id, startOnCreate=True,
                           launchConfig={"imageUuid": "docker:nginx:1.24"})
    lb_config = {"portRules": [{"sourcePort": 80, "targetPort": 8080, "protocol": "http", "serviceId": web.id}]}
    lb = c.create_load_balancer_service(name="lb", stackId=stack.id, startOnCreate=True, lbConfig=lb_config,
                                        launchConfig={"imageUuid": "docker:rancher/lb-service-haproxy:v0.9.14",
                                                      "ports": ["80:80/tcp"]})
    assert (lb.type, lb.baseType, lb.kind) == ("loadBalancerService", "service", "loadBalancerService")
    assert lb.links.self == f"{sim.url}/v2-beta/loadbalancerservices/{lb.id}"
    lb = wait_for(c, lb, "active")
    assert lb.healthState == "healthy" and len(lb.instances().data) == 1
    assert sorted(s.type for s in c.list_service().data) == ["loadBalancerService", "service"]
    assert [s.name for s in c.list_load_balancer_service().data] == ["lb"]
    new_config = {"imageUuid": "docker:rancher/lb-service-haproxy:v0.9.15", "ports": ["80:80/tcp"]}
    upgraded = wait_for(c, lb.upgrade_action(inServiceStrategy={"launchConfig": new_config}), "upgraded")
    assert upgraded.launchConfig.imageUuid.endswith("v0.9.15")
    assert upgraded.lbConfig.portRules[0].targetPort == 8080 and upgraded.lbConfig.portRules[0].serviceId == web.id


def test_kinds_without_containers_and_required_fields(sim: Simulator) -> None:
    c = client(sim)
    stack = wait_for(c, c.create_stack(name="shop"), "active")
    alias = wait_for(c, c.create_dns_service(name="db", stackId=stack.id, startOnCreate=True), "active")
    external = wait_for(c, c.create_external_service(name="mail", stackId=stack.id, startOnCreate=True,
                                                     externalIpAddresses=["10.0.0.9"]), "active")
    assert (alias.type, alias.healthState, alias.instances().data) == ("dnsService", "healthy", [])
    assert external.externalIpAddresses == ["10.0.0.9"] and "scale" not in external.__dict__
    with pytest.raises(gdapi.ApiError) as refused:
        c.create_network_driver_service(name="ipsec", stackId=stack.id, launchConfig={"imageUuid": "docker:ipsec"})
    assert (refused.value.error.code, refused.value.error.fieldName) == ("MissingRequired", "networkDriver")


@pytest.mark.parametrize("path", ["/v2-beta/projects/1a5", "/v1"])
def test_the_subscribe_schema_leads_to_the_event_stream(sim: Simulator, path: str) -> None:
    """cattle's own tests/integration test_subscribe.py opens the websocket where the `subscribe`
    schema's collection link points (resources/content/schema/base/subscribe.json; "cr" for a project)."""
    import websocket

    c = client(sim, path)
    schema = c.schema.types["subscribe"]
    assert schema.collectionMethods == ["GET", "POST"]
    url = schema.links.collection
    assert url == f"{sim.url}{path}/subscribe"
    pair = base64.b64encode(f"{ACCESS_KEY}:{SECRET_KEY}".encode()).decode()
    ws = websocket.create_connection(url.replace("http", "ws", 1) + "?eventNames=resource.change",
                                     header={"Authorization": f"Basic {pair}"}, timeout=5)
    try:
        assert json.loads(ws.recv())["name"] == "ping"
    finally:
        ws.close()
