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


def test_collections_page_sort_and_filter_as_norman_does(sim: Simulator) -> None:
    # norman parse/collection.go (limit 1000 by default, 10000 at most, -1 for the cap; marker),
    # api/handler/query.go (filter, sort by id, one page), types/condition.go (eq, ne, in, notin).
    sim.add_namespace("bulk")
    for n in reversed(range(1205)):
        sim.add_workload("bulk", f"w{n:04d}", [{"name": "c", "image": "busybox:1"}], replicas=0)
    client = rancher.Client(url=f"{sim.url}/v3/project/{sim.default_project_id}", token=f"{TOKEN}:{SECRET}")
    first = client.list_workload()
    ids = [w.id for w in first.data]
    assert len(ids) == 1000 and ids == sorted(ids) and ids[0] == "deployment:bulk:w0000"
    pagination = first.pagination
    assert (pagination.limit, pagination.total, pagination.partial) == (1000, 1205, True)
    assert pagination.next.endswith("/workloads?marker=deployment%3Abulk%3Aw1000")
    assert pagination.first.endswith("marker=deployment%3Abulk%3Aw0000")
    assert pagination.last.endswith("marker=deployment%3Abulk%3Aw0205")
    assert getattr(pagination, "previous", None) is None
    second = first.next()  # Rancher's client follows pagination.next
    assert [w.id for w in second.data] == [f"deployment:bulk:w{n:04d}" for n in range(1000, 1205)]
    assert second.pagination.marker == "deployment:bulk:w1000" and getattr(second.pagination, "next", None) is None
    assert second.pagination.previous.endswith("marker=deployment%3Abulk%3Aw0000")
    every = client.list_workload(limit=-1)
    assert (len(every.data), every.pagination.limit) == (1205, 10000)
    assert getattr(every.pagination, "partial", False) is False
    assert client.list_workload(limit=20000).pagination.limit == 10000
    three = client.list_workload(limit=3, marker="deployment:bulk:w0500", order="desc")
    assert [w.name for w in three.data] == ["w0500", "w0499", "w0498"]
    # Modifiers; filters the schema has no collection filter for are ignored, not applied.
    assert [w.name for w in client.list_workload(name_in=["w0003", "w1104", "none"]).data] == ["w0003", "w1104"]
    assert client.list_workload(name_notin=["w0003", "w1104"], limit=1).pagination.total == 1203
    assert client.list_workload(name_ne="w0003", limit=1).pagination.total == 1204
    assert [w.name for w in client.list_workload(name="w1200", unknownField="x").data] == ["w1200"]
    filtered = client.list_workload(name="w1200")
    assert [(c.modifier, c.value) for c in filtered.filters.name] == [("eq", "w1200")]
    assert filtered.filters.namespaceId is None
    assert client.list_workload(paused="false", namespaceId="bulk", limit=1).pagination.total == 1205


@pytest.mark.parametrize(("version", "env_lists"), [("2.4", False), ("2.8", True)])
def test_what_rancher_deploy_creates_and_removes_is_taken_as_rancher_s_client_sends_it(
        version: str, env_lists: bool) -> None:
    # RANCHER_CREATE's v3 body (creation.v3_body: name, namespaceId, scale, containers; the env in the
    # form of the release: an `environment` map before 2.6, Kubernetes' list after), sent by the v3
    # client, and the removal of what a failed creation leaves (DELETE of the workload).
    from rancher_deploy.creation import Blueprint, Creation, Port, v3_body
    from rancher_deploy.images import ImageRef
    from rancher_deploy.targets import WorkloadTarget

    with Simulator(TOKEN, SECRET, rancher_version=version, timing=Timing.fast()) as sim:
        client = rancher.Client(url=f"{sim.url}/v3/project/{sim.default_project_id}", token=f"{TOKEN}:{SECRET}")
        image = ImageRef.parse("nginx:1.25")
        creation = Creation(WorkloadTarget("deployment", "web", "default"), "deployment", "web", image,
                            Blueprint(image, scale=2, ports=(Port(80),), env=(("MODE", "prod"),),
                                      labels=(("tier", "web"),)))
        container = _created_and_removed(sim, client, v3_body(creation, env_lists=env_lists))
        assert container["env"] == [{"name": "MODE", "value": "prod"}]
        assert container["ports"][0]["containerPort"] == 80
        if env_lists:  # the other form is what this release refuses
            with pytest.raises(rancher.ApiError, match="InvalidBodyContent"):
                client.create_deployment(**{key: value for key, value in v3_body(creation, env_lists=False).items()
                                            if key != "type"})


def _created_and_removed(sim: Simulator, client: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Create the workload of `body` through the client, wait until it is active, delete it; the
    Kubernetes container it ran."""
    created = client.create_deployment(**{key: value for key, value in body.items() if key != "type"})
    assert (created.id, created.scale) == ("deployment:default:web", 2)
    active = reload_until_active(client, created)
    assert active.deploymentStatus.availableReplicas == 2
    assert active.labels["tier"] == "web"
    container = sim.workload("deployment", "default", "web")["spec"]["template"]["spec"]["containers"][0]
    client.delete(active)
    assert client.list_deployment(name="web").data == []
    assert client.reload(active) is None  # the client's answer to a 404
    return dict(container)
