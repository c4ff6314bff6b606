"""Kubernetes defaulting over HTTP: what every write stores, whichever surface it came through.

kubernetes pkg/apis/core/v1/defaults.go (SetDefaults_PodSpec, SetDefaults_Container),
pkg/apis/apps/v1/defaults.go and pkg/apis/batch/v1/defaults.go run on each object decoded for a
create or an update, so the stored object holds the defaults, and a field set once keeps its value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing

from .conftest import K8S_SECRET, K8S_TOKEN

PROXY = "/k8s/clusters/local/apis/apps/v1/namespaces/default"
SMP = {"Content-Type": "application/strategic-merge-patch+json"}
POD_DEFAULTS = {"restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                "securityContext": {}, "terminationGracePeriodSeconds": 30}
MESSAGE_DEFAULTS = {"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}


def deployment(name: str, image: str) -> dict[str, Any]:
    """What `kubectl create deployment <name> --image=<image>` sends."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": image, "resources": {}}]}}}}


def pod_spec(kube: requests.Session, sim: Simulator, name: str) -> Any:
    got = kube.get(f"{sim.url}{PROXY}/deployments/{name}")
    assert got.status_code == 200, got.text
    return got.json()["spec"]["template"]["spec"]


@pytest.mark.parametrize(("image", "policy"), [("app:latest", "Always"), ("app", "Always"), ("app:1", "IfNotPresent"),
                                               ("app:latest@sha256:" + "a" * 64, "Always"),
                                               ("app@sha256:" + "a" * 64, "IfNotPresent")])
def test_a_created_deployment_stores_the_pod_and_container_defaults(k8s: Simulator, kube: requests.Session,
                                                                    image: str, policy: str) -> None:
    created = kube.post(f"{k8s.url}{PROXY}/deployments", json=deployment("d2", image))
    assert created.status_code == 201, created.text
    for spec in (created.json()["spec"]["template"]["spec"], pod_spec(kube, k8s, "d2")):
        assert {key: spec[key] for key in POD_DEFAULTS} == POD_DEFAULTS
        assert spec["containers"] == [{"name": "app", "image": image, "resources": {}, "imagePullPolicy": policy,
                                       **MESSAGE_DEFAULTS}]
    # The controller's ReplicaSet carries the stored template.
    k8s.advance(1)
    (rs,) = k8s.replica_sets("default", "d2")
    assert rs["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_a_tag_moved_to_latest_keeps_the_stored_policy_so_a_redeploy_does_not_pull(k8s: Simulator,
                                                                                  kube: requests.Session) -> None:
    assert kube.post(f"{k8s.url}{PROXY}/deployments", json=deployment("web", "registry:5000/app:1")).status_code == 201
    k8s.advance(30)
    moved = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry:5000/app:latest"}]}}}}
    patched = kube.patch(f"{k8s.url}{PROXY}/deployments/web", data=json.dumps(moved), headers=SMP)
    assert patched.status_code == 200, patched.text
    assert patched.json()["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    k8s.advance(30)
    (before,) = {p["status"]["containerStatuses"][0]["imageID"] for p in k8s.pods()}
    pushed = k8s.push_image("registry:5000/app:latest")  # CI pushes a new build under the same tag
    stamp = {"spec": {"template": {"metadata": {"annotations": {"cattle.io/timestamp": "2026-11-29T10:00:00Z"}}}}}
    assert kube.patch(f"{k8s.url}{PROXY}/deployments/web", data=json.dumps(stamp), headers=SMP).status_code == 200
    k8s.advance(60)
    after = {p["status"]["containerStatuses"][0]["imageID"] for p in k8s.pods()}
    assert after == {before} and not before.endswith(pushed), "IfNotPresent: the node's cached copy runs again"


def test_an_update_defaults_only_what_it_leaves_unset(k8s: Simulator, kube: requests.Session) -> None:
    assert kube.post(f"{k8s.url}{PROXY}/deployments", json=deployment("web", "app:1")).status_code == 201
    url = f"{k8s.url}{PROXY}/deployments/web"
    doc = kube.get(url).json()
    container = doc["spec"]["template"]["spec"]["containers"][0]
    del container["imagePullPolicy"]  # a PUT without the field: defaulted from the image it names
    container["image"] = "app:latest"
    doc["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 5  # set: kept
    del doc["spec"]["template"]["spec"]["dnsPolicy"]
    put = kube.put(url, json=doc)
    assert put.status_code == 200, put.text
    spec = pod_spec(kube, k8s, "web")
    assert spec["containers"][0]["imagePullPolicy"] == "Always"
    assert (spec["terminationGracePeriodSeconds"], spec["dnsPolicy"]) == (5, "ClusterFirst")
    unchanged = kube.put(url, json=kube.get(url).json()).json()
    assert unchanged["metadata"]["generation"] == put.json()["metadata"]["generation"], "a defaulted no-op is no change"


def test_steve_v3_and_seeded_workloads_are_stored_defaulted(k8s: Simulator, kube: requests.Session) -> None:
    body = deployment("steve", "app:1")
    body["metadata"]["namespace"] = "default"
    assert kube.post(f"{k8s.url}/v1/apps.deployments", json=body).status_code == 201
    v3 = kube.post(f"{k8s.url}/v3/project/{k8s.default_project_id}/workloads", json={
        "type": "deployment", "name": "norman", "namespaceId": "default",
        "containers": [{"name": "app", "image": "app:latest"}]})
    assert v3.status_code == 201, v3.text
    assert v3.json()["containers"][0]["imagePullPolicy"] == "Always"  # v3 shows the stored container
    k8s.add_workload("default", "seeded", [{"name": "app", "image": "app:2"}])
    for name, policy in (("steve", "IfNotPresent"), ("norman", "Always"), ("seeded", "IfNotPresent")):
        spec = pod_spec(kube, k8s, name)
        assert {key: spec[key] for key in POD_DEFAULTS} == POD_DEFAULTS, name
        assert spec["containers"][0]["imagePullPolicy"] == policy, name


@pytest.fixture(params=["1.20", "1.28"])
def release(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    with Simulator(K8S_TOKEN, K8S_SECRET, rancher_version="2.8", kubernetes_version=request.param,
                   timing=Timing(speed=0.0)) as simulator:
        yield simulator


def test_each_kind_stores_its_own_defaults_as_its_kubernetes_release_has_them(release: Simulator,
                                                                             kube: requests.Session) -> None:
    # apps/v1 SetDefaults_StatefulSet (the PVC retention policy once StatefulSetAutoDeletePVC is on
    # by default, 1.27), SetDefaults_DaemonSet (maxSurge once DaemonSetUpdateSurge is, 1.22),
    # batch SetDefaults_CronJob; and the pod spec of each template.
    new = kube.get(f"{release.url}/k8s/clusters/local/version").json()["minor"] == "28"
    for kind in ("statefulset", "daemonset", "cronjob"):
        release.add_workload("default", kind, [{"name": "c", "image": "app:1"}], kind=kind)
    apps = f"{release.url}/k8s/clusters/local/apis/apps/v1/namespaces/default"
    batch = f"{release.url}/k8s/clusters/local/apis/batch/{'v1' if new else 'v1beta1'}/namespaces/default"
    sts = kube.get(f"{apps}/statefulsets/statefulset").json()["spec"]
    assert (sts["podManagementPolicy"], sts["revisionHistoryLimit"]) == ("OrderedReady", 10)
    assert sts["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert sts.get("persistentVolumeClaimRetentionPolicy") == (
        {"whenDeleted": "Retain", "whenScaled": "Retain"} if new else None)
    ds = kube.get(f"{apps}/daemonsets/daemonset").json()["spec"]
    assert ds["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {
        "maxUnavailable": 1, **({"maxSurge": 0} if new else {})}}
    cron = kube.get(f"{batch}/cronjobs/cronjob").json()["spec"]
    assert {key: cron[key] for key in ("concurrencyPolicy", "suspend", "successfulJobsHistoryLimit",
                                       "failedJobsHistoryLimit")} == {
        "concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}
    job_pod = cron["jobTemplate"]["spec"]["template"]["spec"]
    assert (job_pod["restartPolicy"], job_pod["containers"][0]["imagePullPolicy"]) == ("OnFailure", "IfNotPresent")
    for workload in (sts, ds):
        assert {key: workload["template"]["spec"][key] for key in POD_DEFAULTS} == POD_DEFAULTS
