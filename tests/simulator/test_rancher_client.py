"""Validate the 2.x fake with Rancher's own v3 Python client (rancher-client-python-3p, module ``rancher``).

Pointed at a project URL as Rancher's integration tests do: the client reads the project's
``X-Api-Schemas`` header, loads the schemas and binds create_/list_/by_id methods from them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from rancher_deploy.simulator import Simulator, Timing

rancher = pytest.importorskip("rancher")

TOKEN = "token-abcde"
SECRET = "client-test-secret"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(TOKEN, SECRET, rancher_version="2.8", timing=Timing.fast()) as simulator:
        yield simulator


def reload_until_active(client: Any, obj: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        obj = client.reload(obj)
        if obj.state == "active" or time.monotonic() > deadline:
            return obj
        time.sleep(0.01)


@pytest.mark.parametrize("auth", ["keys", "token"])
def test_create_list_reload_until_active(sim: Simulator, auth: str) -> None:
    url = f"{sim.url}/v3/project/{sim.default_project_id}"
    if auth == "keys":
        client = rancher.Client(url=url, access_key=TOKEN, secret_key=SECRET)
    else:
        client = rancher.Client(url=url, token=f"{TOKEN}:{SECRET}")
    created = client.create_deployment(
        name="web",
        namespaceId="default",
        scale=2,
        containers=[{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80, "protocol": "TCP"}]}],
    )
    assert created.id == "deployment:default:web"
    assert created.type == "deployment"
    found = client.list_deployment(name="web").data
    assert [w.id for w in found] == ["deployment:default:web"]
    assert client.list_deployment(name="other").data == []
    active = reload_until_active(client, found[0])
    assert active.state == "active"
    assert active.deploymentStatus.readyReplicas == 2
    assert active.workloadAnnotations["deployment.kubernetes.io/revision"] == "1"
    assert sim.workload("deployment", "default", "web")["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"


def test_update_and_actions_through_the_client(sim: Simulator) -> None:
    sim.add_workload("default", "api", [{"name": "api", "image": "api:1"}], replicas=1)
    client = rancher.Client(url=f"{sim.url}/v3/project/{sim.default_project_id}", access_key=TOKEN, secret_key=SECRET)
    workload = client.list_workload(name="api").data[0]
    containers = [dict(c) for c in client._to_dict(workload)["containers"]]
    containers[0]["image"] = "api:2"
    updated = client.update(workload, containers=containers)
    assert updated.containers[0].image == "api:2"
    active = reload_until_active(client, updated)
    assert active.workloadAnnotations["deployment.kubernetes.io/revision"] == "2"
    assert client.action(active, "redeploy") == ""
    assert "cattle.io/timestamp" in client.reload(active).annotations
    with pytest.raises(rancher.ApiError) as refused:
        client.action(active, "resume")
    assert refused.value.error.code == "InvalidAction"


def test_client_built_on_a_projects_schemas_url_as_rancher_integration_tests_do(sim: Simulator) -> None:
    # Rancher's tests/integration/suite/conftest.py builds project clients on `<project self>/schemas`.
    admin = rancher.Client(url=f"{sim.url}/v3", token=f"{TOKEN}:{SECRET}")
    project = admin.by_id_project(sim.default_project_id)
    client = rancher.Client(url=project.links.self + "/schemas", token=f"{TOKEN}:{SECRET}")
    created = client.create_deployment(name="web", namespaceId="default",
                                       containers=[{"name": "web", "image": "nginx:1.25"}])
    assert created.id == "deployment:default:web"
    assert reload_until_active(client, created).state == "active"


@pytest.mark.parametrize("env_list", [False, True])
def test_what_rancher_deploy_creates_and_removes_is_taken_as_rancher_s_client_sends_it(
        sim: Simulator, env_list: bool) -> None:
    # RANCHER_CREATE's v3 body (creation.v3_body: name, namespaceId, scale, containers), sent by the v3
    # client, and the removal of what a failed creation leaves (DELETE of the workload).
    from rancher_deploy.creation import Blueprint, Creation, Port, v3_body
    from rancher_deploy.images import ImageRef
    from rancher_deploy.targets import WorkloadTarget

    client = rancher.Client(url=f"{sim.url}/v3/project/{sim.default_project_id}", token=f"{TOKEN}:{SECRET}")
    image = ImageRef.parse("nginx:1.25")
    creation = Creation(WorkloadTarget("deployment", "web", "default"), "deployment", "web", image,
                        Blueprint(image, scale=2, ports=(Port(80),), env=(("MODE", "prod"),), labels=(("tier", "web"),)))
    body = v3_body(creation, env_list=env_list)
    created = client.create_deployment(**{key: value for key, value in body.items() if key != "type"})
    assert (created.id, created.scale) == ("deployment:default:web", 2)
    active = reload_until_active(client, created)
    assert active.deploymentStatus.availableReplicas == 2
    assert active.labels["tier"] == "web"
    container = sim.workload("deployment", "default", "web")["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "MODE", "value": "prod"}]
    assert container["ports"][0]["containerPort"] == 80

    client.delete(active)
    assert client.list_deployment(name="web").data == []
    assert client.reload(active) is None  # the client's answer to a 404
