"""StatefulSet update strategies over the Kubernetes proxy: a rolling update's partition, and OnDelete."""

from __future__ import annotations

import json
from typing import Any

import requests

from rancher_deploy.simulator import Simulator

STS = "/k8s/clusters/local/apis/apps/v1/namespaces/default/statefulsets/db"
SMP = {"Content-Type": "application/strategic-merge-patch+json"}


def images(k8s: Simulator) -> dict[str, str]:
    return {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in k8s.pods()}


def patch(k8s: Simulator, kube: requests.Session, body: dict[str, Any]) -> None:
    assert kube.patch(f"{k8s.url}{STS}", data=json.dumps(body), headers=SMP).status_code == 200


NEW_IMAGE = {"spec": {"template": {"spec": {"containers": [{"name": "db", "image": "pg:16"}]}}}}


def test_a_partition_updates_only_the_ordinals_at_or_above_it(k8s: Simulator, kube: requests.Session) -> None:
    k8s.add_workload("default", "db", [{"name": "db", "image": "pg:15"}], kind="statefulset", replicas=3,
                     strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    patch(k8s, kube, NEW_IMAGE)
    k8s.advance(60)
    assert images(k8s) == {"db-0": "pg:15", "db-1": "pg:15", "db-2": "pg:16"}
    status = kube.get(f"{k8s.url}{STS}").json()["status"]
    assert (status["updatedReplicas"], status["currentReplicas"], status["readyReplicas"]) == (1, 2, 3)
    assert status["currentRevision"] != status["updateRevision"]
    # A pod below the partition that goes away comes back on the current revision.
    k8s.delete_pod("default", "db-0")
    k8s.advance(60)
    assert images(k8s)["db-0"] == "pg:15"
    patch(k8s, kube, {"spec": {"updateStrategy": {"rollingUpdate": {"partition": 0}}}})
    k8s.advance(60)
    assert set(images(k8s).values()) == {"pg:16"}
    status = kube.get(f"{k8s.url}{STS}").json()["status"]
    assert status["currentRevision"] == status["updateRevision"] and status["currentReplicas"] == 3


def test_on_delete_changes_a_pod_only_when_it_is_deleted(k8s: Simulator, kube: requests.Session) -> None:
    k8s.add_workload("default", "db", [{"name": "db", "image": "pg:15"}], kind="statefulset", replicas=3,
                     strategy={"type": "OnDelete"})
    patch(k8s, kube, NEW_IMAGE)
    k8s.advance(600)
    doc = kube.get(f"{k8s.url}{STS}").json()
    assert doc["status"]["observedGeneration"] == doc["metadata"]["generation"] == 2
    assert doc["status"]["updatedReplicas"] == 0 and set(images(k8s).values()) == {"pg:15"}
    deleted = kube.delete(f"{k8s.url}/k8s/clusters/local/api/v1/namespaces/default/pods/db-1")
    assert deleted.status_code == 200 and deleted.json()["kind"] == "Pod"
    k8s.advance(60)
    assert images(k8s) == {"db-0": "pg:15", "db-1": "pg:16", "db-2": "pg:15"}
    status = kube.get(f"{k8s.url}{STS}").json()["status"]
    assert (status["updatedReplicas"], status["currentReplicas"]) == (1, 2)
    for name in ("db-0", "db-2"):
        k8s.delete_pod("default", name)
    k8s.advance(60)
    status = kube.get(f"{k8s.url}{STS}").json()["status"]
    assert status["updatedReplicas"] == 3 and set(images(k8s).values()) == {"pg:16"}
    # Only a rolling update completes by moving currentRevision (completeRollingUpdate).
    assert status["currentRevision"] != status["updateRevision"]
    assert kube.delete(f"{k8s.url}/k8s/clusters/local/api/v1/namespaces/default/pods/db-9").status_code == 404
