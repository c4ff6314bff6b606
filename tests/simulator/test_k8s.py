"""The Kubernetes API behind /k8s/clusters/local and Steve's /v1, over real HTTP: one state with v3."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing

from .conftest import DEFAULTED, K8S_SECRET, K8S_TOKEN

APPS = "/k8s/clusters/local/apis/apps/v1/namespaces/default"
SMP = {"Content-Type": "application/strategic-merge-patch+json"}


@pytest.fixture
def sim(k8s: Simulator) -> Simulator:
    """Rancher 2.8 (frozen time) with deployment default/web: two containers, two replicas."""
    k8s.add_workload(
        "default", "web",
        [{"name": "web", "image": "app:1", "env": [{"name": "MODE", "value": "prod"}]},
         {"name": "proxy", "image": "envoy:1.28"}],
        replicas=2, strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
    )
    return k8s


@pytest.fixture
def api(kube: requests.Session) -> requests.Session:
    return kube


def test_get_deployment(sim: Simulator, api: requests.Session) -> None:
    r = api.get(f"{sim.url}{APPS}/deployments/web")
    assert r.status_code == 200
    doc = r.json()
    assert (doc["apiVersion"], doc["kind"]) == ("apps/v1", "Deployment")
    assert doc["metadata"]["generation"] == doc["status"]["observedGeneration"] == 1
    assert doc["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    assert doc["status"]["readyReplicas"] == 2


def test_strategic_merge_patch_changes_one_container(sim: Simulator, api: requests.Session) -> None:
    body = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "app:2"}]}}}}
    r = api.patch(f"{sim.url}{APPS}/deployments/web", data=json.dumps(body), headers=SMP)
    assert r.status_code == 200, r.text
    containers = r.json()["spec"]["template"]["spec"]["containers"]
    assert containers == [
        {"name": "web", "image": "app:2", "env": [{"name": "MODE", "value": "prod"}], **DEFAULTED},
        {"name": "proxy", "image": "envoy:1.28", **DEFAULTED},
    ]
    assert r.json()["metadata"]["generation"] == 2
    sim.advance(20)
    done = sim.workload("deployment", "default", "web")
    assert done["status"]["observedGeneration"] == 2 and done["status"]["updatedReplicas"] == 2
    assert done["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    v3 = api.get(f"{sim.url}/v3/project/{sim.default_project_id}/workloads/deployment:default:web").json()
    assert [c["image"] for c in v3["containers"]] == ["app:2", "envoy:1.28"]  # one state behind every view


def test_merge_and_json_patch_and_unsupported_type(sim: Simulator, api: requests.Session) -> None:
    url = f"{sim.url}{APPS}/deployments/web"
    merge = api.patch(url, data=json.dumps({"spec": {"replicas": 3}}), headers={"Content-Type": "application/merge-patch+json"})
    assert merge.json()["spec"]["replicas"] == 3
    ops = [{"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "envoy:1.29"}]
    jp = api.patch(url, data=json.dumps(ops), headers={"Content-Type": "application/json-patch+json"})
    assert jp.json()["spec"]["template"]["spec"]["containers"][1]["image"] == "envoy:1.29"
    plain = api.patch(url, data=json.dumps({"spec": {}}), headers={"Content-Type": "application/json"})
    assert plain.status_code == 415
    assert plain.json()["kind"] == "Status" and plain.json()["reason"] == "UnsupportedMediaType"
    invalid = api.patch(url, data=json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": None}]}}}}), headers=SMP)
    assert invalid.status_code == 422 and invalid.json()["reason"] == "Invalid"


def test_not_found_status(sim: Simulator, api: requests.Session) -> None:
    r = api.get(f"{sim.url}{APPS}/deployments/nope")
    assert r.status_code == 404
    assert r.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": 'deployments.apps "nope" not found', "reason": "NotFound", "code": 404}
    assert api.get(f"{sim.url}/k8s/clusters/local/apis/apps/v1/namespaces/ghost/deployments/web").status_code == 404
    unauth = requests.get(f"{sim.url}{APPS}/deployments/web")
    assert unauth.status_code == 401


def test_replicasets_history_and_rollback_by_patch(sim: Simulator, api: requests.Session) -> None:
    url = f"{sim.url}{APPS}/deployments/web"
    original = api.get(url).json()["spec"]["template"]
    api.patch(url, data=json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "app:2"}]}}}}), headers=SMP)
    sim.advance(20)
    selector = "workload.user.cattle.io/workloadselector=deployment-default-web"
    rs = api.get(f"{sim.url}{APPS}/replicasets", params={"labelSelector": selector}).json()
    assert rs["kind"] == "ReplicaSetList"
    revisions = {i["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: i for i in rs["items"]}
    assert set(revisions) == {"1", "2"}
    assert revisions["1"]["spec"]["replicas"] == 0 and revisions["2"]["spec"]["replicas"] == 2
    owner = revisions["1"]["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"]) == ("Deployment", "web")
    assert revisions["1"]["metadata"]["name"].startswith("web-")
    assert "pod-template-hash" in revisions["1"]["metadata"]["labels"]
    # kubectl rollout undo: PATCH the old template back; the old ReplicaSet becomes revision 3.
    api.patch(url, data=json.dumps([{"op": "replace", "path": "/spec/template", "value": original}]),
              headers={"Content-Type": "application/json-patch+json"})
    sim.advance(20)
    names = {i["metadata"]["name"]: i["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
             for i in api.get(f"{sim.url}{APPS}/replicasets").json()["items"]}
    assert names[revisions["1"]["metadata"]["name"]] == "3" and len(names) == 2
    assert api.get(url).json()["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"


def test_statefulset_controller_revisions(sim: Simulator, api: requests.Session) -> None:
    sim.add_workload("default", "db", [{"name": "db", "image": "pg:15"}], kind="statefulset")
    url = f"{sim.url}{APPS}/statefulsets/db"
    api.patch(url, data=json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "db", "image": "pg:16"}]}}}}), headers=SMP)
    sim.advance(10)
    status = api.get(url).json()["status"]
    assert status["currentRevision"] == status["updateRevision"] and status["updatedReplicas"] == 1
    revs = api.get(f"{sim.url}{APPS}/controllerrevisions").json()["items"]
    assert sorted(r["revision"] for r in revs) == [1, 2]
    ds = sim.add_workload("default", "agent", [{"name": "a", "image": "agent:1"}], kind="daemonset")
    assert ds == "daemonset:default:agent"
    assert api.get(f"{sim.url}{APPS}/daemonsets/agent").json()["status"]["numberReady"] == 1


def test_watch_streams_modified_events(sim: Simulator, api: requests.Session) -> None:
    events: list[dict[str, Any]] = []
    ready = threading.Event()

    def watch() -> None:
        with api.get(f"{sim.url}{APPS}/deployments", params={"watch": "true", "fieldSelector": "metadata.name=web",
                                                             "timeoutSeconds": "30"}, stream=True, timeout=10) as r:
            for line in r.iter_lines():
                events.append(json.loads(line))
                ready.set()
                if events[-1]["object"]["status"].get("updatedReplicas") == 2 and \
                        events[-1]["object"]["metadata"]["generation"] == 2 and \
                        events[-1]["object"]["status"].get("replicas") == 2:
                    return

    thread = threading.Thread(target=watch)
    thread.start()
    assert ready.wait(5)
    api.patch(f"{sim.url}{APPS}/deployments/web", headers=SMP,
              data=json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "app:2"}]}}}}))
    for _ in range(10):
        sim.advance(2)
    sim.advance(30)
    thread.join(10)
    assert not thread.is_alive()
    assert events[0]["type"] == "ADDED"
    assert {e["type"] for e in events[1:]} == {"MODIFIED"}
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions)


TABLE_ACCEPT = ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,"
                "application/json")  # what `kubectl get` sends (kubectl pkg/cmd/get/get.go transformRequests)


class TableWatch:
    """A 30 s watch of deployment web asking for Tables, read by a thread; simulated time ends it."""

    def __init__(self, sim: Simulator, api: requests.Session) -> None:
        self.sim, self.api = sim, api
        self.events: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        self.thread = threading.Thread(target=self._read)
        self.thread.start()
        assert self.wait_for(lambda events: bool(events)), "the watch sends the object first"

    def _read(self) -> None:
        with self.api.get(f"{self.sim.url}{APPS}/deployments", headers={"Accept": TABLE_ACCEPT}, stream=True,
                          params={"watch": "true", "fieldSelector": "metadata.name=web", "timeoutSeconds": "30"},
                          timeout=10) as r:
            for line in r.iter_lines():
                with self.arrived:
                    self.events.append(json.loads(line))
                    self.arrived.notify_all()

    def wait_for(self, seen: Callable[[list[dict[str, Any]]], bool]) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: seen(self.events), timeout=5)

    def finish(self) -> list[dict[str, Any]]:
        self.sim.advance(31)
        self.thread.join(10)
        assert not self.thread.is_alive()
        return self.events


def rolled_out(events: list[dict[str, Any]]) -> bool:
    return any(e["type"] == "MODIFIED" and e["object"]["rows"][0]["cells"][1:4] == ["2/2", 2, 2] for e in events)


def test_a_table_watch_sends_tables_with_the_list_s_columns(sim: Simulator, api: requests.Session) -> None:
    # apiserver endpoints/handlers/response.go watchEmbeddedEncoder: each event's object converted to a
    # Table (one row), the column definitions in the first only (TableOptions.NoHeaders after it).
    listed = api.get(f"{sim.url}{APPS}/deployments", headers={"Accept": TABLE_ACCEPT}).json()
    watch = TableWatch(sim, api)
    api.patch(f"{sim.url}{APPS}/deployments/web", headers=SMP,
              data=json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "app:2"}]}}}}))
    for _ in range(10):
        sim.advance(2)
    assert watch.wait_for(rolled_out)
    assert api.delete(f"{sim.url}{APPS}/deployments/web").status_code == 200
    assert watch.wait_for(lambda events: events[-1]["type"] == "DELETED")
    events = watch.finish()
    assert events[0]["type"] == "ADDED" and {e["type"] for e in events[1:-1]} == {"MODIFIED"}
    first = events[0]["object"]
    assert (first["kind"], first["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert first["columnDefinitions"] == listed["columnDefinitions"]
    assert all(e["object"]["kind"] == "Table" and e["object"]["columnDefinitions"] is None for e in events[1:])
    for event in events:
        (row,) = event["object"]["rows"]
        assert row["cells"][0] == "web" and len(row["cells"]) == len(listed["rows"][0]["cells"])
        assert row["object"]["kind"] == "PartialObjectMetadata"
        assert event["object"]["metadata"]["resourceVersion"] == row["object"]["metadata"]["resourceVersion"]
    assert first["rows"][0]["cells"][1:4] == listed["rows"][0]["cells"][1:4] == ["2/2", 2, 2]


def test_a_table_watch_before_kubernetes_1_15_sends_objects(kube: requests.Session) -> None:
    # Watches serve Tables from 1.15 (kubernetes/kubernetes#71548); kubectl's Accept falls back to JSON.
    with Simulator(K8S_TOKEN, K8S_SECRET, rancher_version="2.2", kubernetes_version="1.14",
                   timing=Timing(speed=0.0)) as old:
        old.add_workload("default", "web", [{"name": "web", "image": "app:1"}])
        watch = TableWatch(old, kube)
        events = watch.finish()
    assert [(e["type"], e["object"]["kind"]) for e in events] == [("ADDED", "Deployment")]


def test_steve_get_put_patch(sim: Simulator, api: requests.Session) -> None:
    url = f"{sim.url}/v1/apps.deployments/default/web"
    doc = api.get(url).json()
    assert (doc["id"], doc["type"]) == ("default/web", "apps.deployment")
    # kstatus' words (wrangler checkStandard): Steve summarises with them, v3 does not.
    assert doc["metadata"]["state"] == {"name": "active", "error": False, "transitioning": False,
                                        "message": f"Deployment is available. Replicas: {doc['spec']['replicas']}"}
    assert doc["links"]["self"] == url
    listed = api.get(f"{sim.url}/v1/apps.deployments/default").json()
    assert [d["id"] for d in listed["data"]] == ["default/web"]
    doc["spec"]["template"]["spec"]["containers"][0]["image"] = "app:2"
    stale = json.loads(json.dumps(doc))
    put = api.put(url, json=doc)
    assert put.status_code == 200, put.text
    assert put.json()["metadata"]["state"]["name"] == "in-progress"
    conflict = api.put(url, json=stale)
    assert conflict.status_code == 409 and conflict.json()["code"] == "Conflict"
    del doc["metadata"]["resourceVersion"]
    assert api.put(url, json=doc).status_code == 422
    patched = api.patch(url, data=json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy:2"}]}}}}))
    assert patched.status_code == 200  # no Content-Type: strategic merge
    assert [c["image"] for c in patched.json()["spec"]["template"]["spec"]["containers"]] == ["app:2", "envoy:2"]
    assert api.get(f"{sim.url}/v1/apps.deployments/default/nope").json()["code"] == "NotFound"
    proxied = api.get(f"{sim.url}/k8s/clusters/local/v1/apps.deployments/default/web")
    assert proxied.status_code == 200


def test_unready_capacity_fault(sim: Simulator, api: requests.Session) -> None:
    sim.faults.capacity(2, "default/web")
    api.patch(f"{sim.url}{APPS}/deployments/web", headers=SMP,
              data=json.dumps({"spec": {"replicas": 3}}))
    sim.advance(700)
    doc = sim.workload("deployment", "default", "web")
    assert doc["status"]["readyReplicas"] == 2 and doc["status"]["replicas"] == 3
    v3 = api.get(f"{sim.url}/v3/project/{sim.default_project_id}/workloads/deployment:default:web").json()
    assert v3["state"] == "updating"


def test_an_empty_map_is_the_same_template_as_a_missing_one(sim: Simulator, api: requests.Session) -> None:
    # Kubernetes compares pod templates semantically: a rollback that leaves `annotations: {}`
    # (a strategic merge deleting the only annotation) reuses the old ReplicaSet.
    url = f"{sim.url}{APPS}/deployments/web"
    api.patch(url, data=json.dumps({"spec": {"template": {
        "metadata": {"annotations": {"cattle.io/timestamp": "2026-11-27T00:00:00Z"}},
        "spec": {"containers": [{"name": "web", "image": "app:2"}]}}}}), headers=SMP)
    sim.advance(20)
    api.patch(url, data=json.dumps({"spec": {"template": {
        "metadata": {"annotations": {"cattle.io/timestamp": None}},
        "spec": {"containers": [{"name": "web", "image": "app:1"}]}}}}), headers=SMP)
    sim.advance(20)
    revisions = sorted(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                       for rs in sim.replica_sets("default", "web"))
    assert revisions == ["2", "3"], "the first ReplicaSet was reused as revision 3, not a new one made"


def test_progressing_shows_new_replica_set_created_before_the_new_pods(sim: Simulator, api: requests.Session) -> None:
    url = f"{sim.url}{APPS}/deployments/web"
    api.patch(url, data=json.dumps({"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "app:2"}]}}}}),
              headers=SMP)
    sim.advance(sim.timing.controller_delay)
    first = api.get(url).json()
    conditions = {c["type"]: c for c in first["status"]["conditions"]}
    assert conditions["Progressing"]["reason"] == "NewReplicaSetCreated"
    assert first["status"]["updatedReplicas"] == 0 and first["status"]["observedGeneration"] == 2
    new_rs = next(rs for rs in sim.replica_sets("default", "web")
                  if rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2")
    assert conditions["Progressing"]["message"] == f'Created new replica set "{new_rs["metadata"]["name"]}"'
    sim.advance(sim.timing.controller_delay)
    second = {c["type"]: c for c in api.get(url).json()["status"]["conditions"]}
    assert second["Progressing"]["reason"] == "ReplicaSetUpdated"
    # Still progressing since the rollout began: the transition time is kept.
    assert second["Progressing"]["lastTransitionTime"] == conditions["Progressing"]["lastTransitionTime"]


def test_lists_come_in_limit_sized_chunks(sim: Simulator, api: requests.Session) -> None:
    for n in range(4):
        sim.add_workload("default", f"api-{n}", [{"name": "api", "image": "api:1"}])
    url = f"{sim.url}{APPS}/deployments"
    names: list[str] = []
    first = api.get(url, params={"limit": "2"}).json()
    assert first["metadata"]["remainingItemCount"] == 3 and first["metadata"]["continue"]
    names += [i["metadata"]["name"] for i in first["items"]]
    token = first["metadata"]["continue"]
    while token:
        chunk = api.get(url, params={"limit": "2", "continue": token}).json()
        assert chunk["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        names += [i["metadata"]["name"] for i in chunk["items"]]
        token = chunk["metadata"].get("continue")
    assert names == ["api-0", "api-1", "api-2", "api-3", "web"]
    selected = api.get(url, params={"limit": "1", "labelSelector": "workload.user.cattle.io/workloadselector"}).json()
    assert "remainingItemCount" not in selected["metadata"] and selected["metadata"]["continue"]
    broken = api.get(url, params={"limit": "2", "continue": "not-a-token"})
    assert broken.status_code == 400 and broken.json()["reason"] == "BadRequest"
    assert broken.json()["message"].startswith("invalid continue token: continue key is not valid")


def test_steve_lists_page_with_its_own_continue_token(sim: Simulator, api: requests.Session) -> None:
    for n in range(2):
        sim.add_workload("default", f"api-{n}", [{"name": "api", "image": "api:1"}])
    url = f"{sim.url}/v1/apps.deployments"
    first = api.get(url, params={"limit": "2"}).json()
    assert [d["id"] for d in first["data"]] == ["default/api-0", "default/api-1"]
    assert first["pagination"]["partial"] is True and first["continue"]
    rest = api.get(first["pagination"]["next"]).json()
    assert [d["id"] for d in rest["data"]] == ["default/web"]
    assert "continue" not in rest and rest["pagination"] == {"first": rest["links"]["self"], "partial": True}
    assert "pagination" not in api.get(url).json()


def test_delete_removes_a_workload_with_its_replica_sets(sim: Simulator, api: requests.Session) -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "canary", "labels": {"app": "canary"}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "canary"}},
                     "template": {"metadata": {"labels": {"app": "canary"}},
                                  "spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}
    created = api.post(f"{sim.url}{APPS}/deployments", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["metadata"]["generation"] == 1
    assert api.post(f"{sim.url}{APPS}/deployments", json=body).json()["reason"] == "AlreadyExists"
    sim.advance(10)
    uid = created.json()["metadata"]["uid"]
    deleted = api.delete(f"{sim.url}{APPS}/deployments/canary")
    assert deleted.status_code == 200
    assert deleted.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "details": {"name": "canary", "group": "apps", "kind": "deployments", "uid": uid}}
    assert api.get(f"{sim.url}{APPS}/deployments/canary").status_code == 404
    assert api.get(f"{sim.url}{APPS}/replicasets", params={"labelSelector": "app=canary"}).json()["items"] == []
    assert api.delete(f"{sim.url}{APPS}/deployments/canary").json()["reason"] == "NotFound"
    gone = api.delete(f"{sim.url}/v1/apps.deployments/default/web")
    assert gone.status_code == 204 and gone.content == b""
    assert api.get(f"{sim.url}/v1/apps.deployments/default/web").status_code == 404


def test_a_posted_deployment_gets_the_apiserver_s_defaults(sim: Simulator, api: requests.Session) -> None:
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bare"},
            "spec": {"selector": {"matchLabels": {"app": "bare"}},
                     "template": {"metadata": {"labels": {"app": "bare"}},
                                  "spec": {"containers": [{"name": "app", "image": "app:2"}]}}}}
    created = api.post(f"{sim.url}{APPS}/deployments", json=body)
    assert created.status_code == 201, created.text
    spec = created.json()["spec"]
    assert (spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (1, 10, 600)
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    recreate = {**body, "metadata": {"name": "other"},
                "spec": {**body["spec"], "replicas": 3, "strategy": {"type": "Recreate"}}}
    spec = api.post(f"{sim.url}{APPS}/deployments", json=recreate).json()["spec"]
    assert (spec["replicas"], spec["strategy"]) == (3, {"type": "Recreate"})


def test_replica_sets_select_their_own_pods_and_carry_the_controller_s_annotations(sim: Simulator,
                                                                                   api: requests.Session) -> None:
    # sync.go getNewReplicaSet (CloneSelectorAndAddLabel: pod-template-hash in the selector) and
    # deployment_util.go SetNewReplicaSetAnnotations / SetReplicasAnnotations (desired-replicas,
    # max-replicas = replicas + maxSurge, written whenever the controller creates or scales one;
    # revision-history on a ReplicaSet rolled back to).
    url = f"{sim.url}{APPS}/deployments/web"

    def replica_sets() -> dict[str, Any]:
        items = api.get(f"{sim.url}{APPS}/replicasets").json()["items"]
        return {rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in items}

    def to(image: str) -> None:
        body = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": image}]}}}}
        assert api.patch(url, data=json.dumps(body), headers=SMP).status_code == 200
        sim.advance(30)

    to("app:2")
    first, second = replica_sets()["1"], replica_sets()["2"]
    for rs in (first, second):
        template_hash = rs["metadata"]["labels"]["pod-template-hash"]
        assert rs["spec"]["selector"]["matchLabels"] == {
            "workload.user.cattle.io/workloadselector": "deployment-default-web", "pod-template-hash": template_hash}
        selector = ",".join(f"{k}={v}" for k, v in rs["spec"]["selector"]["matchLabels"].items())
        pods = api.get(f"{sim.url}/k8s/clusters/local/api/v1/namespaces/default/pods",
                       params={"labelSelector": selector}).json()["items"]
        assert {p["metadata"]["ownerReferences"][0]["name"] for p in pods} <= {rs["metadata"]["name"]}
        assert len(pods) == rs["spec"]["replicas"]
        annotations = rs["metadata"]["annotations"]
        assert (annotations["deployment.kubernetes.io/desired-replicas"],
                annotations["deployment.kubernetes.io/max-replicas"]) == ("2", "3")  # 2 replicas, maxSurge 1
        assert "deployment.kubernetes.io/revision-history" not in annotations
    assert first["spec"]["replicas"] == 0 and second["spec"]["replicas"] == 2
    assert api.patch(url, data=json.dumps({"spec": {"replicas": 4}}), headers=SMP).status_code == 200
    sim.advance(30)
    scaled = replica_sets()["2"]["metadata"]["annotations"]
    assert (scaled["deployment.kubernetes.io/desired-replicas"], scaled["deployment.kubernetes.io/max-replicas"]) \
        == ("4", "5")
    to("app:1")  # back to the first template: its ReplicaSet, revision 3, remembers it served revision 1
    to("app:2")
    to("app:1")
    back = replica_sets()["5"]
    assert back["metadata"]["name"] == first["metadata"]["name"]
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1,3"
    assert back["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "4"
    assert replica_sets()["4"]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "2"


@pytest.mark.parametrize("kind", ["statefulset", "daemonset"])
def test_controller_revisions_hold_the_template_patch_kubectl_undo_sends(sim: Simulator, api: requests.Session,
                                                                         kind: str) -> None:
    sim.add_workload("default", "db", [{"name": "db", "image": "pg:15"}], kind=kind, replicas=2)
    url = f"{sim.url}{APPS}/{kind}s/db"
    for image in ("pg:16", "pg:17"):
        body = {"spec": {"template": {"spec": {"containers": [{"name": "db", "image": image}]}}}}
        assert api.patch(url, data=json.dumps(body), headers=SMP).status_code == 200
        sim.advance(30)
    workload = api.get(url).json()
    selector = ",".join(f"{k}={v}" for k, v in workload["spec"]["selector"]["matchLabels"].items())
    listing = api.get(f"{sim.url}{APPS}/controllerrevisions", params={"labelSelector": selector}).json()
    revisions = sorted(listing["items"], key=lambda r: r["revision"])
    assert [r["revision"] for r in revisions] == [1, 2, 3]
    assert all(r["apiVersion"] == "apps/v1" and r["kind"] == "ControllerRevision" for r in revisions)
    assert all(r["metadata"]["ownerReferences"][0]["name"] == "db" for r in revisions)
    first = revisions[0]["data"]["spec"]["template"]
    assert first["$patch"] == "replace" and first["spec"]["containers"] == [{"name": "db", "image": "pg:15", **DEFAULTED}]
    assert "controller-revision-hash" not in first["metadata"]["labels"], "the workload's template, not a pod's"
    # kubectl rollout undo --to-revision=1: the revision's data, as a strategic merge patch.
    undone = api.patch(url, data=json.dumps(revisions[0]["data"]), headers=SMP)
    assert undone.status_code == 200, undone.text
    assert undone.json()["spec"]["template"] == workload["spec"]["template"] | {"spec": {
        **workload["spec"]["template"]["spec"], "containers": [{"name": "db", "image": "pg:15", **DEFAULTED}]}}
    sim.advance(30)
    after = api.get(f"{sim.url}{APPS}/controllerrevisions", params={"labelSelector": selector}).json()["items"]
    assert sorted(r["revision"] for r in after) == [2, 3, 4], "the equal revision is reused with the next number"


def test_pods_are_listed_by_selector_and_deleted(sim: Simulator, api: requests.Session) -> None:
    sim.add_workload("default", "db", [{"name": "db", "image": "pg:15"}], kind="statefulset", replicas=2)
    pods = api.get(f"{sim.url}/k8s/clusters/local/api/v1/namespaces/default/pods",
                   params={"labelSelector": "workload.user.cattle.io/workloadselector=statefulset-default-db"}).json()
    assert pods["kind"] == "PodList" and sorted(p["metadata"]["name"] for p in pods["items"]) == ["db-0", "db-1"]
    pod = pods["items"][0]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "StatefulSet"
    assert {"type": "Ready", "status": "True"} in pod["status"]["conditions"]
    assert pod["metadata"]["labels"]["controller-revision-hash"] == \
        api.get(f"{sim.url}{APPS}/statefulsets/db").json()["status"]["updateRevision"]
    deleted = api.delete(f"{sim.url}/k8s/clusters/local/api/v1/namespaces/default/pods/db-1")
    assert deleted.status_code == 200 and deleted.json()["metadata"]["name"] == "db-1"
    assert api.delete(f"{sim.url}/k8s/clusters/local/api/v1/namespaces/default/pods/db-9").status_code == 404
    sim.advance(10)
    names = [p["metadata"]["name"] for p in api.get(f"{sim.url}/k8s/clusters/local/api/v1/namespaces/default/pods",
                                                    params={"labelSelector": "app!=x"}).json()["items"]]
    assert sorted(n for n in names if n.startswith("db-")) == ["db-0", "db-1"], "the controller made db-1 again"


def test_a_broken_statefulset_pod_blocks_its_rollback_until_deleted_a_daemonset_does_not(
        sim: Simulator, api: requests.Session) -> None:
    """Kubernetes' forced rollback (kubernetes/kubernetes#67250): with OrderedReady, a StatefulSet
    waits for its broken pod forever, even after the template is reverted; a DaemonSet replaces an
    out-of-date pod that is not available."""
    sim.faults.unhealthy_image("pg:bad")
    for kind in ("statefulset", "daemonset"):
        sim.add_workload("default", kind, [{"name": "db", "image": "pg:15"}], kind=kind, replicas=2)
        url = f"{sim.url}{APPS}/{kind}s/{kind}"
        for image in ("pg:bad", "pg:15"):
            body = {"spec": {"template": {"spec": {"containers": [{"name": "db", "image": image}]}}}}
            assert api.patch(url, data=json.dumps(body), headers=SMP).status_code == 200
            sim.advance(60)
    sts = api.get(f"{sim.url}{APPS}/statefulsets/statefulset").json()["status"]
    assert sts["readyReplicas"] == sts["updatedReplicas"] == 1, "db-1 still runs the broken revision"
    ds = api.get(f"{sim.url}{APPS}/daemonsets/daemonset").json()["status"]
    assert ds["numberAvailable"] == ds["updatedNumberScheduled"] == 1
    assert api.delete(f"{sim.url}/k8s/clusters/local/api/v1/namespaces/default/pods/statefulset-1").status_code == 200
    sim.advance(60)
    sts = api.get(f"{sim.url}{APPS}/statefulsets/statefulset").json()["status"]
    assert sts["readyReplicas"] == sts["updatedReplicas"] == 2 and sts["currentRevision"] == sts["updateRevision"]
