"""Rancher 2.x v3 API over real HTTP: fresh state, auth, PUT rollouts, faults, actions, errors."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing

from .conftest import DEFAULTED

TOKEN = "token-abcde"
SECRET = "S3cr3t-v3-test"
UI_STRATEGY = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}


@pytest.fixture(params=["2.4", "2.8"])
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """Frozen time: only advance() moves the rollout, so each intermediate state is exact."""
    with Simulator(TOKEN, SECRET, rancher_version=request.param, timing=Timing(speed=0.0)) as simulator:
        yield simulator


@pytest.fixture
def api() -> requests.Session:
    session = requests.Session()
    session.auth = (TOKEN, SECRET)
    return session


def base(sim: Simulator) -> str:
    return f"{sim.url}/v3/project/{sim.default_project_id}"


def get(api: requests.Session, sim: Simulator, wid: str) -> Any:
    r = api.get(f"{base(sim)}/workloads/{wid}")
    assert r.status_code == 200, r.text
    return r.json()


def web(sim: Simulator, replicas: int = 3, **kw: Any) -> str:
    return sim.add_workload(
        "default", "web", [{"name": "web", "image": "registry:5000/app:1", "ports": [{"containerPort": 8080}]}],
        replicas=replicas, strategy=UI_STRATEGY, **kw,
    )


def test_fresh_state(sim: Simulator, api: requests.Session) -> None:
    assert sim.cluster_id == "local"
    assert sim.default_project_id.startswith("local:p-") and len(sim.default_project_id) == len("local:p-xxxxx")
    clusters = api.get(f"{sim.url}/v3/clusters").json()["data"]
    assert [c["id"] for c in clusters] == ["local"]
    projects = {p["name"]: p["id"] for p in api.get(f"{sim.url}/v3/projects", params={"clusterId": "local"}).json()["data"]}
    assert projects == {"Default": sim.default_project_id, "System": sim.system_project_id}
    ns = api.get(f"{sim.url}/v3/cluster/local/namespaces/default").json()
    assert ns["projectId"] == sim.default_project_id
    assert api.get(f"{base(sim)}/workloads").json()["data"] == []


def test_rancherversion_and_version_paths(sim: Simulator, api: requests.Session) -> None:
    public = requests.get(f"{sim.url}/rancherversion")
    if sim.rancher_version == "2.8":
        assert public.json()["Version"].startswith("v2.8.") and "RancherPrime" in public.json()
    else:  # from 2.7 on only (rancher pkg/multiclustermanager/routes.go)
        assert public.status_code == 404
    setting = api.get(f"{sim.url}/v3/settings/server-version").json()
    assert setting["value"].startswith(f"v{sim.rancher_version}.")
    assert api.get(f"{sim.url}/v2-beta").status_code == 404
    steve = api.get(f"{sim.url}/v1/apps.deployments")
    assert steve.status_code == (200 if sim.rancher_version == "2.8" else 404)


def test_auth_basic_bearer_and_401(sim: Simulator) -> None:
    url = f"{sim.url}/v3/projects"
    assert requests.get(url, auth=(TOKEN, SECRET)).status_code == 200
    assert requests.get(url, headers={"Authorization": f"Bearer {TOKEN}:{SECRET}"}).status_code == 200
    urlsafe = base64.urlsafe_b64encode(f"{TOKEN}:{SECRET}".encode()).decode()
    assert requests.get(url, headers={"Authorization": f"Basic {urlsafe}"}).status_code == 200
    for bad in ({"Authorization": f"Bearer {TOKEN}:wrong"}, {}):
        r = requests.get(url, headers=bad)
        assert r.status_code == 401
        assert r.json() == {"type": "error", "status": "401", "message": "Unauthorized 401: must authenticate"}


def test_workload_shape(sim: Simulator, api: requests.Session) -> None:
    wid = web(sim)
    assert wid == "deployment:default:web"
    doc = get(api, sim, wid)
    self_link = f"{base(sim)}/workloads/{wid}"
    assert doc["type"] == "deployment" and doc["baseType"] == "workload"
    assert doc["links"]["self"] == self_link and doc["links"]["revisions"] == f"{self_link}/revisions"
    assert set(doc["actions"]) == {"redeploy", "pause", "resume", "rollback"}
    assert (doc["state"], doc["transitioning"], doc["scale"], doc["paused"]) == ("active", "no", 3, False)
    assert doc["containers"][0]["image"] == "registry:5000/app:1"
    assert doc["containers"][0]["type"] == "/v3/project/schemas/container"
    assert doc["deploymentConfig"]["maxSurge"] == 1 and doc["deploymentConfig"]["progressDeadlineSeconds"] == 600
    assert doc["workloadAnnotations"]["deployment.kubernetes.io/revision"] == "1"
    assert "metadata" not in doc and "generation" not in doc
    reasons = {c["type"]: c["reason"] for c in doc["deploymentStatus"]["conditions"]}
    assert reasons == {"Available": "MinimumReplicasAvailable", "Progressing": "NewReplicaSetAvailable"}
    listed = api.get(f"{base(sim)}/deployments", params={"name": "web"}).json()
    assert [w["id"] for w in listed["data"]] == [wid]
    assert api.get(f"{base(sim)}/workloads", params={"namespaceId": "kube-system"}).json()["data"] == []


def test_put_image_change_rolls_out_to_revision_2(sim: Simulator, api: requests.Session) -> None:
    wid = web(sim)
    doc = get(api, sim, wid)
    doc["containers"][0]["image"] = "registry:5000/app:2"
    put = api.put(f"{base(sim)}/workloads/{wid}", json=doc)
    assert put.status_code == 200
    # Not observed yet: 2.4's summary says so; from 2.5 v3 has no generation rule (summary.py), and
    # every replica is still ready.
    assert put.json()["state"] == ("in-progress" if sim.rancher_version == "2.4" else "active")
    assert put.json()["deploymentStatus"]["observedGeneration"] == 1
    sim.advance(sim.timing.controller_delay)
    created = get(api, sim, wid)["deploymentStatus"]
    # The new ReplicaSet exists and has no pods counted yet (sync.go getNewReplicaSet).
    assert (created["observedGeneration"], created["replicas"], created["updatedReplicas"]) == (2, 3, 0)
    progressing = next(c for c in created["conditions"] if c["type"] == "Progressing")
    assert (progressing["reason"], progressing["status"]) == ("NewReplicaSetCreated", "True")
    assert progressing["message"].startswith('Created new replica set "web-')
    sim.advance(sim.timing.controller_delay)
    step = get(api, sim, wid)
    status = step["deploymentStatus"]
    assert (status["observedGeneration"], status["replicas"], status["updatedReplicas"], status["readyReplicas"],
            status["unavailableReplicas"]) == (2, 4, 1, 3, 1)
    assert (step["state"], step["transitioning"], step["transitioningMessage"]) == ("updating", "yes", "upgrading workload")
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert progressing["reason"] == "ReplicaSetUpdated" and progressing["status"] == "True"
    sim.advance(30)
    done = get(api, sim, wid)
    assert done["state"] == "active" and done["transitioning"] == "no"
    assert done["workloadAnnotations"]["deployment.kubernetes.io/revision"] == "2"
    assert done["deploymentStatus"]["replicas"] == done["deploymentStatus"]["availableReplicas"] == 3
    k8s = sim.workload("deployment", "default", "web")
    assert k8s["metadata"]["generation"] == k8s["status"]["observedGeneration"] == 2
    assert k8s["spec"]["template"]["spec"]["containers"][0] == {
        "name": "web", "image": "registry:5000/app:2", "ports": [{"containerPort": 8080, "protocol": "TCP"}], **DEFAULTED
    }


def test_put_merges_objects_and_replaces_arrays(sim: Simulator, api: requests.Session) -> None:
    wid = sim.add_workload("default", "web", [
        {"name": "web", "image": "app:1", "env": [{"name": "MODE", "value": "prod"}]},
        {"name": "side", "image": "side:1"},
    ])
    r = api.put(f"{base(sim)}/workloads/{wid}", json={"containers": [{"name": "web", "image": "app:2"}], "state": "x"})
    assert r.status_code == 200
    spec = sim.workload("deployment", "default", "web")["spec"]
    # Arrays replaced whole (the env went), then defaulted as the apiserver defaults any update.
    assert spec["template"]["spec"]["containers"] == [{"name": "web", "image": "app:2", **DEFAULTED}]
    r = api.put(f"{base(sim)}/workloads/{wid}", json={"deploymentConfig": {"maxSurge": 2}})
    assert r.json()["deploymentConfig"]["maxUnavailable"] == "25%"  # objects merged
    assert r.json()["deploymentConfig"]["maxSurge"] == 2


def test_unhealthy_image_stalls_then_deadline_exceeded(sim: Simulator, api: requests.Session) -> None:
    wid = web(sim, progress_deadline_seconds=120)
    sim.faults.unhealthy_image("registry:5000/app:bad")
    doc = get(api, sim, wid)
    doc["containers"][0]["image"] = "registry:5000/app:bad"
    api.put(f"{base(sim)}/workloads/{wid}", json=doc)
    sim.advance(60)
    stalled = get(api, sim, wid)
    assert stalled["transitioning"] == "yes"
    assert stalled["deploymentStatus"]["updatedReplicas"] == 1 and stalled["deploymentStatus"]["readyReplicas"] == 3
    sim.advance(70)
    failed = get(api, sim, wid)
    rs_name = sim.replica_sets("default", "web")[-1]["metadata"]["name"]
    if sim.rancher_version == "2.4":
        assert failed["transitioning"] == "error"
        assert failed["transitioningMessage"] == f'ReplicaSet "{rs_name}" has timed out progressing.'
    else:
        # 2.6-2.11: Progressing=False is no error to wrangler (d13846e) and v3 skips kstatus, so only
        # the replica count shows; the condition below is what tells.
        assert (failed["state"], failed["transitioning"], failed["transitioningMessage"]) == (
            "updating", "yes", "upgrading workload")
    progressing = next(c for c in failed["deploymentStatus"]["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("False", "ProgressDeadlineExceeded")
    assert failed["deploymentStatus"]["availableReplicas"] == 3  # old pods keep serving


def test_rollback_with_replica_set_from_revisions(sim: Simulator, api: requests.Session) -> None:
    wid = web(sim)
    sim.faults.unhealthy_image("registry:5000/app:bad")
    doc = get(api, sim, wid)
    doc["containers"][0]["image"] = "registry:5000/app:bad"
    api.put(f"{base(sim)}/workloads/{wid}", json=doc)
    sim.advance(10)
    revisions = api.get(doc["links"]["revisions"]).json()["data"]
    by_revision = {r["workloadAnnotations"]["deployment.kubernetes.io/revision"]: r for r in revisions}
    assert set(by_revision) == {"1", "2"}
    old = by_revision["1"]
    assert old["id"].startswith("replicaset:default:web-")
    assert old["containers"][0]["image"] == "registry:5000/app:1"
    r = api.post(f"{base(sim)}/workloads/{wid}?action=rollback", json={"replicaSetId": old["id"]})
    assert r.status_code == 200 and r.text == ""
    sim.advance(10)
    back = get(api, sim, wid)
    assert back["state"] == "active"
    assert back["containers"][0]["image"] == "registry:5000/app:1"
    assert back["workloadAnnotations"]["deployment.kubernetes.io/revision"] == "3"
    names = {rs["metadata"]["name"]: rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
             for rs in sim.replica_sets("default", "web")}
    assert names[old["name"]] == "3"  # the old ReplicaSet is reused and becomes the newest
    bad = api.post(f"{base(sim)}/workloads/{wid}?action=rollback", json={"replicaSetId": "nonsense"})
    assert bad.status_code == 500
    assert bad.json()["code"] == "ServerError" and bad.json()["message"] == "Invalid ReplicaSet nonsense"


def test_redeploy_sets_timestamp_and_rolls_out(sim: Simulator, api: requests.Session) -> None:
    wid = web(sim, replicas=1)
    r = api.post(f"{base(sim)}/workloads/{wid}?action=redeploy")
    assert (r.status_code, r.text) == (200, "")
    doc = get(api, sim, wid)
    assert "cattle.io/timestamp" in doc["annotations"]
    assert sim.workload("deployment", "default", "web")["metadata"]["generation"] == 2
    sim.advance(10)
    assert get(api, sim, wid)["workloadAnnotations"]["deployment.kubernetes.io/revision"] == "2"


def test_pause_resume_and_their_errors(sim: Simulator, api: requests.Session) -> None:
    wid = web(sim, replicas=1)
    url = f"{base(sim)}/workloads/{wid}"
    r = api.post(f"{url}?action=resume")
    assert r.status_code == 422
    assert r.json() == {"baseType": "error", "type": "error", "status": 422, "code": "InvalidAction",
                        "message": f"Pause deployment {wid} before resume"}
    assert api.post(f"{url}?action=pause").status_code == 200
    assert get(api, sim, wid)["paused"] is True
    again = api.post(f"{url}?action=pause")
    assert again.status_code == 422 and again.json()["message"] == f"Deployment {wid} already paused"
    doc = get(api, sim, wid)
    doc["containers"][0]["image"] = "registry:5000/app:2"
    api.put(url, json=doc)
    sim.advance(30)
    assert len(sim.replica_sets("default", "web")) == 1  # paused: no rollout
    assert api.post(f"{url}?action=resume").status_code == 200
    sim.advance(30)
    assert get(api, sim, wid)["workloadAnnotations"]["deployment.kubernetes.io/revision"] == "2"


def test_norman_errors(sim: Simulator, api: requests.Session) -> None:
    missing = api.get(f"{base(sim)}/workloads/deployment:default:nope")
    assert missing.status_code == 404
    assert missing.json() == {"baseType": "error", "type": "error", "status": 404, "code": "NotFound",
                              "message": 'deployments.apps "nope" not found'}
    wid = web(sim, replicas=1)
    bad_action = api.post(f"{base(sim)}/workloads/{wid}?action=explode")
    assert bad_action.status_code == 422 and bad_action.json()["code"] == "InvalidAction"
    sts = sim.add_workload("default", "db", [{"name": "db", "image": "pg:15"}], kind="statefulset")
    assert api.post(f"{base(sim)}/workloads/{sts}?action=pause").json()["code"] == "InvalidAction"
    sim.faults.fail_next("/workloads", status=503)
    failed = api.get(f"{base(sim)}/workloads")
    assert failed.status_code == 503 and failed.json()["type"] == "error"
    assert api.get(f"{base(sim)}/workloads").status_code == 200


def test_a_body_that_is_not_json_is_422_invalid_body_content(sim: Simulator, api: requests.Session) -> None:
    # norman parse.ReadBody: httperror.InvalidBodyContent, a 422 (not Kubernetes' 400).
    wid = web(sim, replicas=1)
    for method in ("PUT", "POST"):
        url = f"{base(sim)}/workloads/{wid}" if method == "PUT" else f"{base(sim)}/workloads"
        r = api.request(method, url, data=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (method, r.text)
        assert r.json()["code"] == "InvalidBodyContent"
        assert r.json()["message"].startswith("Failed to parse body: ")


def test_other_kinds(sim: Simulator, api: requests.Session) -> None:
    sts = sim.add_workload("default", "db", [{"name": "db", "image": "pg:15"}], kind="statefulset", replicas=2)
    ds = sim.add_workload("default", "agent", [{"name": "agent", "image": "agent:1"}], kind="daemonset")
    cj = sim.add_workload("default", "backup", [{"name": "backup", "image": "backup:1"}], kind="cronjob")
    assert (sts, ds, cj) == ("statefulset:default:db", "daemonset:default:agent", "cronjob:default:backup")
    kinds = sorted(w["type"] for w in api.get(f"{base(sim)}/workloads").json()["data"])
    assert kinds == ["cronJob", "daemonSet", "statefulSet"]
    doc = get(api, sim, sts)
    doc["containers"][0]["image"] = "pg:16"
    api.put(f"{base(sim)}/workloads/{sts}", json=doc)
    sim.advance(1)
    mid = sim.workload("statefulset", "default", "db")["status"]
    assert mid["updatedReplicas"] == 1 and mid["currentRevision"] != mid["updateRevision"]
    sim.advance(10)
    end = sim.workload("statefulset", "default", "db")["status"]
    assert end["updatedReplicas"] == end["readyReplicas"] == 2 and end["currentRevision"] == end["updateRevision"]
    assert get(api, sim, sts)["state"] == "active"
    doc = get(api, sim, cj)
    doc["containers"][0]["image"] = "backup:2"
    api.put(f"{base(sim)}/workloads/{cj}", json=doc)
    job = sim.workload("cronjob", "default", "backup")["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert job["containers"][0]["image"] == "backup:2"
    assert api.get(f"{base(sim)}/statefulsets/{sts}").status_code == 200
    assert api.get(f"{base(sim)}/deployments/{sts}").status_code == 404


def test_project_scope_and_create(sim: Simulator, api: requests.Session) -> None:
    other = sim.add_project("Shop")
    sim.add_namespace("shop", other)
    sim.add_workload("shop", "web", [{"name": "web", "image": "shop:1"}])
    assert api.get(f"{base(sim)}/workloads").json()["data"] == []
    assert [w["id"] for w in api.get(f"{sim.url}/v3/project/{other}/workloads").json()["data"]] == ["deployment:shop:web"]
    created = api.post(f"{sim.url}/v3/project/{other}/workloads", json={
        "type": "deployment", "name": "api", "namespaceId": "shop", "scale": 1,
        "containers": [{"name": "api", "image": "api:1", **({"environment": {"A": "1"}} if sim.rancher_version == "2.4"
                                                            else {"env": [{"name": "A", "value": "1"}]})}],
    })
    assert created.status_code == 201, created.text
    k8s = sim.workload("deployment", "shop", "api")
    assert k8s["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "1"}]
    wrong_ns = api.post(f"{base(sim)}/workloads", json={
        "type": "deployment", "name": "x", "namespaceId": "shop", "containers": [{"name": "x", "image": "x"}],
    })
    assert wrong_ns.status_code == 422


def test_x_api_schemas_names_the_version_and_sub_context_norman_parsed(sim: Simulator, api: requests.Session) -> None:
    # rancher/norman parse/parse.go parseVersionAndSubContext, api/writer/headers.go addSchemasHeader,
    # urlbuilder/url.go constructBasicURL: the schemas of the sub-context the path is in, on errors too.
    pid = sim.default_project_id
    named = {
        f"/v3/project/{pid}/workloads": f"/v3/project/{pid}/schemas",
        f"/v3/project/{pid}": f"/v3/project/{pid}/schemas",
        f"/v3/projects/{pid}": f"/v3/project/{pid}/schemas",
        f"/v3/projects/{pid}/schemas": f"/v3/project/{pid}/schemas",
        "/v3/clusters/local": "/v3/cluster/local/schemas",
        "/v3/cluster/local/namespaces": "/v3/cluster/local/schemas",
        "/v3/clusters": "/v3/cluster/schemas",
        "/v3/projects": "/v3/project/schemas",
        "/v3/settings/server-version": "/v3/schemas",
        "/v3": "/v3/schemas",
    }
    for path, schemas in named.items():
        answer = api.get(f"{sim.url}{path}")
        assert answer.status_code == 200, (path, answer.text)
        assert answer.headers["X-Api-Schemas"] == f"{sim.url}{schemas}", path
        served = api.get(answer.headers["X-Api-Schemas"])
        assert served.status_code == 200 and served.json()["resourceType"] == "schema", schemas
    missing = api.get(f"{base(sim)}/workloads/deployment:default:nope")
    assert missing.status_code == 404 and missing.headers["X-Api-Schemas"] == f"{sim.url}/v3/project/{pid}/schemas"
    unscoped = api.get(f"{sim.url}/v3/project/schemas").json()["data"]
    assert next(s for s in unscoped if s["id"] == "workload")["links"]["collection"] == f"{sim.url}/v3/project/workloads"


def test_an_action_on_an_unknown_id_says_failed_to_find_its_schema_type(sim: Simulator, api: requests.Session) -> None:
    # norman api/validate.go names the request's type, the schema id (`workload`), not the path's collection.
    r = api.post(f"{base(sim)}/workloads/deployment:default:nope?action=redeploy")
    assert r.status_code == 404
    assert (r.json()["code"], r.json()["message"]) == ("NotFound",
                                                       "Failed to find type: workload id: deployment:default:nope")
    typed = api.post(f"{base(sim)}/statefulsets/statefulset:default:nope?action=redeploy")
    assert typed.json()["message"] == "Failed to find type: statefulSet id: statefulset:default:nope"


def test_a_namespace_in_no_project_is_on_the_proxy_and_in_no_project_view(sim: Simulator,
                                                                            api: requests.Session) -> None:
    seeded = api.post(f"{sim.url}/_sim/seed", json={"namespaces": [{"name": "loose", "inProject": False}]})
    assert seeded.status_code == 201 and seeded.json()["namespaces"] == ["loose"], seeded.text
    sim.add_namespace("kept", in_project=False)
    sim.add_workload("loose", "web", [{"name": "web", "image": "registry:5000/app:1"}])
    for name in ("loose", "kept"):
        namespace = api.get(f"{sim.url}/k8s/clusters/local/api/v1/namespaces/{name}").json()
        assert "annotations" not in namespace["metadata"] and "labels" not in namespace["metadata"]
        assert api.get(f"{sim.url}/v3/cluster/local/namespaces/{name}").json()["projectId"] is None
    for project in (sim.default_project_id, sim.system_project_id):
        listing = api.get(f"{sim.url}/v3/project/{project}/workloads", params={"name": "web"}).json()
        assert listing["data"] == []
    proxied = api.get(f"{sim.url}/k8s/clusters/local/apis/apps/v1/namespaces/loose/deployments/web")
    assert proxied.status_code == 200


def test_an_injected_401_answers_with_rancher_s_own_401_body(sim: Simulator, api: requests.Session) -> None:
    # What Rancher's auth filter answers on every 2.x surface (rancher-api.md §5.6), not a Norman ServerError.
    unauthorized = {"type": "error", "status": "401", "message": "Unauthorized 401: must authenticate"}
    for path in (f"/v3/project/{sim.default_project_id}/workloads", "/k8s/clusters/local/apis/apps/v1/deployments"):
        sim.faults.fail_next(path, status=401)
        r = api.get(f"{sim.url}{path}")
        assert (r.status_code, r.json()) == (401, unauthorized)
    sim.faults.fail_next("/v3/projects", status=403)
    assert api.get(f"{sim.url}/v3/projects").json()["code"] == "PermissionDenied"


@pytest.mark.parametrize(("body", "said"), [
    (b"", "Failed to parse body: EOF"),
    (b"[1]", "Failed to parse body: json: cannot unmarshal array into Go value of type map[string]interface {}"),
])
def test_an_empty_or_non_object_body_is_norman_s_422(sim: Simulator, api: requests.Session, body: bytes,
                                                      said: str) -> None:
    """norman parse/read_input.go ReadBody decodes every create and update body into a map."""
    sim.add_workload("default", "web", [{"name": "web", "image": "web:1"}])
    url = f"{sim.url}/v3/project/{sim.default_project_id}/workloads"
    for answer in (api.put(f"{url}/deployment:default:web", data=body, headers={"Content-Type": "application/json"}),
                   api.post(url, data=body, headers={"Content-Type": "application/json"})):
        assert answer.status_code == 422, answer.text
        assert (answer.json()["code"], answer.json()["message"]) == ("InvalidBodyContent", said)
