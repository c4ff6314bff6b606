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


PROBE_DEFAULTS = {"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3}


def test_every_container_list_gets_its_ports_env_probes_and_handlers_defaulted(k8s: Simulator,
                                                                              kube: requests.Session) -> None:
    # zz_generated.defaults.go: ports' protocol (+default="TCP"), SetDefaults_ObjectFieldSelector,
    # SetDefaults_Probe, SetDefaults_HTTPGetAction, on init, regular and ephemeral containers alike.
    body = deployment("web", "app:1")
    full = {"name": "app", "image": "app:1",
            "ports": [{"containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}],
            "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
            "livenessProbe": {"httpGet": {"port": 8080}},
            "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 3},
            "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30},
            "lifecycle": {"preStop": {"httpGet": {"port": 8080, "path": "/drain"}},
                          "postStart": {"exec": {"command": ["true"]}}}}
    pod = body["spec"]["template"]["spec"]
    pod["containers"] = [full]
    pod["initContainers"] = [{**full, "name": "init"}]
    pod["ephemeralContainers"] = [{"name": "debug", "image": "busybox", "ports": [{"containerPort": 9}]}]
    assert kube.post(f"{k8s.url}{PROXY}/deployments", json=body).status_code == 201
    spec = pod_spec(kube, k8s, "web")
    for container in (spec["containers"][0], spec["initContainers"][0]):
        assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"},
                                      {"containerPort": 53, "protocol": "UDP"}]
        assert container["env"][0]["valueFrom"] == {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}
        # No defaulter touches a resourceFieldRef (its divisor is left as sent).
        assert container["env"][1]["valueFrom"] == {"resourceFieldRef": {"resource": "limits.cpu"}}
        assert container["livenessProbe"] == {"httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
                                              **PROBE_DEFAULTS}
        assert container["readinessProbe"] == {"tcpSocket": {"port": 8080}, **PROBE_DEFAULTS, "periodSeconds": 3}
        assert container["startupProbe"] == {"exec": {"command": ["true"]}, **PROBE_DEFAULTS, "failureThreshold": 30}
        assert container["lifecycle"] == {"preStop": {"httpGet": {"port": 8080, "path": "/drain", "scheme": "HTTP"}},
                                          "postStart": {"exec": {"command": ["true"]}}}
        assert container["imagePullPolicy"] == "IfNotPresent"
    assert spec["ephemeralContainers"] == [{"name": "debug", "image": "busybox", "ports": [{"containerPort": 9,
                                            "protocol": "TCP"}], "imagePullPolicy": "Always", **MESSAGE_DEFAULTS}]
    # The same write again, undefaulted, is no change: its defaulted spec is the stored one.
    url = f"{k8s.url}{PROXY}/deployments/web"
    before = kube.get(url).json()["metadata"]
    again = {**body, "metadata": {**body["metadata"], "resourceVersion": before["resourceVersion"]}}
    put = kube.put(url, json=again)
    assert put.status_code == 200, put.text
    assert put.json()["metadata"]["generation"] == before["generation"] == 1


def test_volumes_are_stored_with_their_sources_defaults(k8s: Simulator, kube: requests.Session) -> None:
    body = deployment("web", "app:1")
    body["spec"]["template"]["spec"]["volumes"] = [
        {"name": "scratch"},
        {"name": "host", "hostPath": {"path": "/var/log"}},
        {"name": "tls", "secret": {"secretName": "tls"}},
        {"name": "conf", "configMap": {"name": "conf", "defaultMode": 256}},
        {"name": "info", "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
        {"name": "all", "projected": {"sources": [
            {"downwardAPI": {"items": [{"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
            {"serviceAccountToken": {"path": "token", "audience": "vault"}}]}},
        {"name": "cache", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"]}}}},
    ]
    assert kube.post(f"{k8s.url}{PROXY}/deployments", json=body).status_code == 201
    volumes = {v.pop("name"): v for v in pod_spec(kube, k8s, "web")["volumes"]}
    assert volumes == {
        "scratch": {"emptyDir": {}},  # SetDefaults_Volume
        "host": {"hostPath": {"path": "/var/log", "type": ""}},  # SetDefaults_HostPathVolumeSource
        "tls": {"secret": {"secretName": "tls", "defaultMode": 420}},
        "conf": {"configMap": {"name": "conf", "defaultMode": 256}},  # set: kept
        "info": {"downwardAPI": {"defaultMode": 420, "items": [
            {"path": "labels", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}}]}},
        "all": {"projected": {"defaultMode": 420, "sources": [
            {"downwardAPI": {"items": [{"path": "name", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}]}},
            {"serviceAccountToken": {"path": "token", "audience": "vault", "expirationSeconds": 3600}}]}},
        "cache": {"ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"],
                                                                 "volumeMode": "Filesystem"}}}},
    }


def test_a_field_ref_is_defaulted_on_the_steve_and_v3_write_paths_too(k8s: Simulator, kube: requests.Session) -> None:
    env = [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}]
    body = deployment("steve", "app:1")
    body["metadata"]["namespace"] = "default"
    body["spec"]["template"]["spec"]["containers"][0]["env"] = env
    assert kube.post(f"{k8s.url}/v1/apps.deployments", json=body).status_code == 201
    v3 = kube.post(f"{k8s.url}/v3/project/{k8s.default_project_id}/workloads", json={
        "type": "deployment", "name": "norman", "namespaceId": "default",
        "containers": [{"name": "app", "image": "app:1", "env": env, "ports": [{"containerPort": 80}]}]})
    assert v3.status_code == 201, v3.text
    for name in ("steve", "norman"):
        container = pod_spec(kube, k8s, name)["containers"][0]
        assert container["env"] == [{"name": "NODE", "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                                               "fieldPath": "spec.nodeName"}}}], name
    assert pod_spec(kube, k8s, "norman")["containers"][0]["ports"][0]["protocol"] == "TCP"


def test_statefulset_claim_templates_host_network_ports_and_pod_only_defaults(release: Simulator,
                                                                               kube: requests.Session) -> None:
    # SetObjectDefaults_StatefulSet runs SetDefaults_PersistentVolumeClaim(Spec) on each claim
    # template; defaultHostNetworkPorts ran in SetDefaults_PodSpec until 1.28 (kubernetes#117696),
    # and runs in SetDefaults_Pod, with enableServiceLinks and requests from limits, on every Pod.
    new = kube.get(f"{release.url}/k8s/clusters/local/version").json()["minor"] == "28"
    apps = f"{release.url}/k8s/clusters/local/apis/apps/v1/namespaces/default"
    body = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                     "volumeClaimTemplates": [{"metadata": {"name": "data"},
                                               "spec": {"accessModes": ["ReadWriteOnce"]}}],
                     "template": {"metadata": {"labels": {"app": "db"}}, "spec": {
                         "hostNetwork": True,
                         "containers": [{"name": "db", "image": "db:1", "ports": [{"containerPort": 5432}],
                                         "resources": {"limits": {"cpu": "1"}}}]}}}}
    created = kube.post(f"{apps}/statefulsets", json=body)
    assert created.status_code == 201, created.text
    spec = created.json()["spec"]
    assert spec["volumeClaimTemplates"] == [{"metadata": {"name": "data"}, "status": {"phase": "Pending"},
                                             "spec": {"accessModes": ["ReadWriteOnce"], "volumeMode": "Filesystem"}}]
    template = spec["template"]["spec"]
    assert template["containers"][0]["ports"] == [{"containerPort": 5432, "protocol": "TCP",
                                                   **({} if new else {"hostPort": 5432})}]
    assert "enableServiceLinks" not in template and "requests" not in template["containers"][0]["resources"]
    release.advance(60)
    pods = kube.get(f"{release.url}/k8s/clusters/local/api/v1/namespaces/default/pods").json()["items"]
    assert pods, "the StatefulSet runs a pod"
    for pod in pods:
        assert pod["spec"]["enableServiceLinks"] is True
        container = pod["spec"]["containers"][0]
        assert container["ports"] == [{"containerPort": 5432, "protocol": "TCP", "hostPort": 5432}]
        assert container["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}


def cronjob(name: str, restart_policy: str | None) -> dict[str, Any]:
    pod: dict[str, Any] = {"containers": [{"name": "job", "image": "job:1"}]}
    if restart_policy is not None:
        pod["restartPolicy"] = restart_policy
    return {"kind": "CronJob", "metadata": {"name": name, "namespace": "default"},
            "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": pod}}}}}


FIELD = "spec.jobTemplate.spec.template.spec.restartPolicy"


def test_a_cronjob_whose_pods_would_restart_always_is_refused_as_the_apiserver_refuses_it(
        release: Simulator, kube: requests.Session) -> None:
    # batch validation validateJobSpec, after SetDefaults_PodSpec made an unset restartPolicy Always:
    # "Required value" from 1.21 (kubernetes#95747), "Unsupported value" before.
    new = kube.get(f"{release.url}/k8s/clusters/local/version").json()["minor"] == "28"
    batch = f"{release.url}/k8s/clusters/local/apis/batch/{'v1' if new else 'v1beta1'}/namespaces/default/cronjobs"
    cause = ({"reason": "FieldValueRequired", "message": 'Required value: valid values: "OnFailure", "Never"'} if new
             else {"reason": "FieldValueNotSupported",
                   "message": 'Unsupported value: "Always": supported values: "OnFailure", "Never"'})
    for policy in (None, "Always"):
        refused = kube.post(batch, json=cronjob("nightly", policy))
        assert refused.status_code == 422, refused.text
        assert refused.json() == {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Invalid", "code": 422,
            "message": f'CronJob.batch "nightly" is invalid: {FIELD}: {cause["message"]}',
            "details": {"name": "nightly", "group": "batch", "kind": "CronJob", "causes": [{**cause, "field": FIELD}]}}
    assert kube.get(f"{batch}/nightly").status_code == 404, "nothing is stored"
    steve = kube.post(f"{release.url}/v1/batch.cronjobs", json=cronjob("steve", None))
    assert (steve.status_code, steve.json()["code"]) == (422, "Invalid"), steve.text
    v3 = kube.post(f"{release.url}/v3/project/{release.default_project_id}/workloads", json={
        "type": "cronJob", "name": "norman", "namespaceId": "default", "containers": [{"name": "job", "image": "job:1"}]})
    assert (v3.status_code, v3.json()["code"]) == (422, "Invalid"), v3.text
    assert FIELD in v3.json()["message"] and FIELD in steve.json()["message"]
    # With OnFailure or Never it is stored; an update that drops the policy is refused and changes nothing.
    for name, policy in (("ok", "OnFailure"), ("never", "Never")):
        assert kube.post(batch, json=cronjob(name, policy)).status_code == 201
    dropped = kube.patch(f"{batch}/ok", data=json.dumps({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "restartPolicy": None}}}}}}), headers=SMP)
    assert (dropped.status_code, dropped.json()["details"]["causes"][0]["field"]) == (422, FIELD)
    stored = kube.get(f"{batch}/ok").json()
    assert stored["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"
    assert stored["metadata"]["generation"] == 1
    bad = kube.post(batch, json=cronjob("bad", "Sometimes")).json()
    assert [c["message"] for c in bad["details"]["causes"]] == [
        'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
        'Unsupported value: "Sometimes": supported values: "OnFailure", "Never"']
    assert bad["message"].startswith(f'CronJob.batch "bad" is invalid: [{FIELD}: Unsupported value: "Sometimes"')
