"""StatefulSet update strategies over the Kubernetes proxy: a rolling update's partition, and OnDelete."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing

TOKEN, SECRET = "token-sts", "sts-secret"
STS = "/k8s/clusters/local/apis/apps/v1/namespaces/default/statefulsets/db"
SMP = {"Content-Type": "application/strategic-merge-patch+json"}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(TOKEN, SECRET, rancher_version="2.8", timing=Timing(speed=0.0)) as simulator:
        yield simulator


@pytest.fixture
def api() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}:{SECRET}"
    return session


def images(sim: Simulator) -> dict[str, str]:
    return {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in sim.pods()}


def patch(sim: Simulator, api: requests.Session, body: dict[str, Any]) -> None:
    assert api.patch(f"{sim.url}{STS}", data=json.dumps(body), headers=SMP).status_code == 200


NEW_IMAGE = {"spec": {"template": {"spec": {"containers": [{"name": "db", "image": "pg:16"}]}}}}


def test_a_partition_updates_only_the_ordinals_at_or_above_it(sim: Simulator, api: requests.Session) -> None:
    sim.add_workload("default", "db", [{"name": "db", "image": "pg:15"}], kind="statefulset", replicas=3,
                     strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    patch(sim, api, NEW_IMAGE)
    sim.advance(60)
    assert images(sim) == {"db-0": "pg:15", "db-1": "pg:15", "db-2": "pg:16"}
    status = api.get(f"{sim.url}{STS}").json()["status"]
    assert (status["updatedReplicas"], status["currentReplicas"], status["readyReplicas"]) == (1, 2, 3)
    assert status["currentRevision"] != status["updateRevision"]
    # A pod below the partition that goes away comes back on the current revision.
    sim.delete_pod("default", "db-0")
    sim.advance(60)
    assert images(sim)["db-0"] == "pg:15"
    patch(sim, api, {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})
    sim.advance(60)
    assert set(images(sim).values()) == {"pg:16"}
    status = api.get(f"{sim.url}{STS}").json()["status"]
    assert status["currentRevision"] == status["updateRevision"] and status["currentReplicas"] == 3


def test_on_delete_changes_a_pod_only_when_it_is_deleted(sim: Simulator, api: requests.Session) -> None:
    sim.add_workload("default", "db", [{"name": "db", "image": "pg:15"}], kind="statefulset", replicas=3,
                     strategy={"type": "OnDelete"})
    patch(sim, api, NEW_IMAGE)
    sim.advance(600)
    doc = api.get(f"{sim.url}{STS}").json()
    assert doc["status"]["observedGeneration"] == doc["metadata"]["generation"] == 2
    assert doc["status"]["updatedReplicas"] == 0 and set(images(sim).values()) == {"pg:15"}
    deleted = api.delete(f"{sim.url}/k8s/clusters/local/api/v1/namespaces/default/pods/db-1")
    assert deleted.status_code == 200 and deleted.json()["kind"] == "Pod"
    sim.advance(60)
    assert images(sim) == {"db-0": "pg:15", "db-1": "pg:16", "db-2": "pg:15"}
    status = api.get(f"{sim.url}{STS}").json()["status"]
    assert (status["updatedReplicas"], status["currentReplicas"]) == (1, 2)
    for name in ("db-0", "db-2"):
        sim.delete_pod("default", name)
    sim.advance(60)
    status = api.get(f"{sim.url}{STS}").json()["status"]
    assert status["updatedReplicas"] == 3 and set(images(sim).values()) == {"pg:16"}
    # Only a rolling update completes by moving currentRevision (completeRollingUpdate).
    assert status["currentRevision"] != status["updateRevision"]
    assert api.delete(f"{sim.url}/k8s/clusters/local/api/v1/namespaces/default/pods/db-9").status_code == 404
