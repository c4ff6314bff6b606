"""imagePullPolicy and the node's image cache: which digest a new pod runs when a tag has moved."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from rancher_deploy.simulator import Simulator
from rancher_deploy.simulator.rancher2.node import pull_policy

PODS = "/k8s/clusters/local/api/v1/namespaces/default/pods"
SMP = {"Content-Type": "application/strategic-merge-patch+json"}


@pytest.mark.parametrize(("container", "policy"), [
    ({"image": "app:1"}, "IfNotPresent"),
    ({"image": "registry:5000/app:1"}, "IfNotPresent"),
    ({"image": "app"}, "Always"),
    ({"image": "registry:5000/app"}, "Always"),
    ({"image": "app:latest"}, "Always"),
    ({"image": "app@sha256:" + "a" * 64}, "IfNotPresent"),
    ({"image": "app:latest", "imagePullPolicy": "IfNotPresent"}, "IfNotPresent"),
    ({"image": "app:1", "imagePullPolicy": "Never"}, "Never"),
])
def test_unset_pull_policy_defaults_like_the_apiserver(container: dict[str, Any], policy: str) -> None:
    assert pull_policy(container) == policy


def image_ids(k8s: Simulator, prefix: str = "web-") -> set[str]:
    return {p["status"]["containerStatuses"][0]["imageID"] for p in k8s.pods() if p["metadata"]["name"].startswith(prefix)}


def redeploy(k8s: Simulator, kube: requests.Session, stamp: str) -> None:
    """What Rancher's redeploy does: a new pod-template annotation, same image."""
    body = {"spec": {"template": {"metadata": {"annotations": {"cattle.io/timestamp": stamp}}}}}
    kube.patch(f"{k8s.url}/k8s/clusters/local/apis/apps/v1/namespaces/default/deployments/web", data=json.dumps(body),
              headers=SMP)
    k8s.advance(60)


@pytest.mark.parametrize(("policy", "pulls"), [(None, False), ("IfNotPresent", False), ("Always", True)])
def test_a_redeploy_of_a_moved_tag_pulls_only_when_the_policy_says(
        k8s: Simulator, kube: requests.Session, policy: str | None, pulls: bool) -> None:
    container: dict[str, Any] = {"name": "web", "image": "registry:5000/app:1"}
    if policy:
        container["imagePullPolicy"] = policy
    k8s.add_workload("default", "web", [container], replicas=2)
    (before,) = image_ids(k8s)
    assert before.startswith("registry:5000/app@sha256:")
    pushed = k8s.push_image("registry:5000/app:1")
    assert pushed.startswith("sha256:") and not before.endswith(pushed)
    redeploy(k8s, kube, "2026-11-29T10:00:00Z")
    pods = [p for p in k8s.pods() if p["metadata"]["name"].startswith("web-")]
    assert len(pods) == 2 and all(p["status"]["containerStatuses"][0]["ready"] for p in pods)
    (after,) = image_ids(k8s)
    assert after == (f"registry:5000/app@{pushed}" if pulls else before)
    listed = kube.get(f"{k8s.url}{PODS}").json()
    assert {p["status"]["containerStatuses"][0]["imageID"] for p in listed["items"]} == {after}


def test_never_runs_only_what_the_node_holds(k8s: Simulator) -> None:
    k8s.add_workload("default", "web", [{"name": "web", "image": "app:1"}])
    k8s.add_workload("default", "cached", [{"name": "c", "image": "app:1", "imagePullPolicy": "Never"}])
    k8s.add_workload("default", "absent", [{"name": "a", "image": "app:2", "imagePullPolicy": "Never"}])
    assert image_ids(k8s, "cached-") == image_ids(k8s, "web-")
    (absent,) = [p for p in k8s.pods() if p["metadata"]["name"].startswith("absent-")]
    status = absent["status"]["containerStatuses"][0]
    assert status["state"] == {"waiting": {"reason": "ErrImageNeverPull"}} and status["imageID"] == ""
    assert k8s.workload("deployment", "default", "absent")["status"]["readyReplicas"] == 0


def test_pods_name_their_owner_and_node(k8s: Simulator, kube: requests.Session) -> None:
    k8s.add_workload("default", "web", [{"name": "web", "image": "app:1"}], replicas=2)
    k8s.add_workload("default", "db", [{"name": "db", "image": "pg:16"}], kind="statefulset", replicas=2)
    rs = k8s.replica_sets("default", "web")[0]["metadata"]["name"]
    pods = {p["metadata"]["name"]: p for p in kube.get(f"{k8s.url}{PODS}").json()["items"]}
    assert sorted(n for n in pods if n.startswith("db-")) == ["db-0", "db-1"]
    web = next(p for n, p in pods.items() if n.startswith(f"{rs}-"))
    assert web["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert web["metadata"]["ownerReferences"][0]["name"] == rs
    assert pods["db-1"]["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"] == "db-1"
    assert web["spec"]["nodeName"] == "local-node" and web["status"]["phase"] == "Running"
    selected = kube.get(f"{k8s.url}{PODS}", params={"labelSelector": "statefulset.kubernetes.io/pod-name=db-0"}).json()
    assert [p["metadata"]["name"] for p in selected["items"]] == ["db-0"]


def test_a_push_over_the_control_api(k8s: Simulator) -> None:
    k8s.add_workload("default", "web", [{"name": "web", "image": "app:1", "imagePullPolicy": "Always"}])
    pushed = requests.post(f"{k8s.url}/_sim/images", json={"image": "app:1"}, timeout=5)
    assert pushed.status_code == 200 and pushed.json()["image"] == "app:1"
    k8s.delete_pod("default", k8s.pods()[0]["metadata"]["name"])
    k8s.advance(10)
    assert image_ids(k8s) == {f"app@{pushed.json()['digest']}"}
