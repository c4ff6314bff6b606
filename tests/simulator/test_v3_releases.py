"""v3 by Rancher release, through Rancher's own v3 client (rancher-client-python-3p): the container
environment (mapped up to 2.5, Kubernetes' own from 2.6), what a PUT does to labels and annotations,
the state words each release's summary gives, and no `redeploy` before 2.4."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing

from .conftest import DEFAULTED

rancher = pytest.importorskip("rancher")

TOKEN = "token-vthre"
SECRET = "v3-releases-secret"
K8S = "/k8s/clusters/local"
# Plain and sourced variables interleaved, a whole ConfigMap and a whole Secret: every form Kubernetes has.
ENV: list[dict[str, Any]] = [
    {"name": "ZONE", "value": "eu"},
    {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
    {"name": "APP_URL", "value": "https://shop.example.com/$(ZONE)"},
    {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
    {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode", "optional": True}}},
]
ENV_FROM: list[dict[str, Any]] = [{"configMapRef": {"name": "common"}}, {"prefix": "S_", "secretRef": {"name": "extra"}}]


def simulator(version: str, timing: Timing | None = None) -> Simulator:
    return Simulator(TOKEN, SECRET, rancher_version=version, timing=timing or Timing.fast())


def client_for(sim: Simulator) -> Any:
    return rancher.Client(url=f"{sim.url}/v3/project/{sim.default_project_id}", token=f"{TOKEN}:{SECRET}")


def pod_template(sim: Simulator, name: str = "web") -> dict[str, Any]:
    template: dict[str, Any] = sim.workload("deployment", "default", name)["spec"]["template"]
    return template


def with_env(sim: Simulator) -> str:
    return sim.add_workload("default", "web", [{"name": "web", "image": "app:1", "env": ENV, "envFrom": ENV_FROM}])


def containers_of(client: Any, workload: Any) -> list[dict[str, Any]]:
    return [dict(c) for c in client._to_dict(workload)["containers"]]


# -- the container environment ---------------------------------------------------------------------


def test_rancher_2_5_maps_the_environment_and_rebuilds_it_on_every_write() -> None:
    with simulator("2.5") as sim:
        client = client_for(sim)
        workload = client.by_id_workload(with_env(sim))
        container = containers_of(client, workload)[0]
        assert "env" not in container and "envFrom" not in container
        assert container["environment"] == {"ZONE": "eu", "APP_URL": "https://shop.example.com/$(ZONE)"}
        assert [{k: v for k, v in e.items() if k != "type"} for e in container["environmentFrom"]] == [
            {"source": "secret", "sourceName": "db", "sourceKey": "password", "optional": False,
             "targetKey": "DB_PASSWORD"},
            {"source": "field", "sourceName": "status.podIP", "targetKey": "POD_IP"},
            {"source": "configMap", "sourceName": "settings", "sourceKey": "mode", "optional": True,
             "targetKey": "MODE"},
            {"source": "configMap", "sourceName": "common", "prefix": "", "optional": False},
            {"source": "secret", "sourceName": "extra", "prefix": "S_", "optional": False},
        ]
        # A PUT changing only the image rebuilds `env` the mapper's way: plain variables sorted first
        # (APP_URL now before the ZONE it refers to), `optional` written out.
        container["image"] = "app:2"
        client.update(workload, containers=[container])
        web = pod_template(sim)["spec"]["containers"][0]
        assert [e["name"] for e in web["env"]] == ["APP_URL", "ZONE", "DB_PASSWORD", "POD_IP", "MODE"]
        assert web["env"][2]["valueFrom"] == {"secretKeyRef": {"name": "db", "key": "password", "optional": False}}
        assert web["envFrom"] == [{"configMapRef": {"name": "common", "optional": False}},
                                  {"prefix": "S_", "secretRef": {"name": "extra", "optional": False}}]
        # An environmentFrom entry without `source` is dropped (ToInternal skips it).
        container["environmentFrom"] = [{"sourceName": "db", "sourceKey": "password", "targetKey": "LOST"}]
        client.update(client.reload(workload), containers=[container])
        assert [e["name"] for e in pod_template(sim)["spec"]["containers"][0]["env"]] == ["APP_URL", "ZONE"]


def test_rancher_2_6_shows_kubernetes_env_and_refuses_the_old_fields() -> None:
    with simulator("2.6") as sim:
        client = client_for(sim)
        workload = client.by_id_workload(with_env(sim))
        container = containers_of(client, workload)[0]
        assert "environment" not in container and "environmentFrom" not in container
        assert container["env"] == ENV and container["envFrom"] == ENV_FROM
        container["image"] = "app:2"
        client.update(workload, containers=[container])
        assert pod_template(sim)["spec"]["containers"][0] == {"name": "web", "image": "app:2", "env": ENV,
                                                               "envFrom": ENV_FROM, **DEFAULTED}
        for field, value in (("environment", {"A": "1"}), ("environmentFrom", [{"source": "secret"}])):
            with pytest.raises(rancher.ApiError) as refused:
                client.update(client.reload(workload), containers=[{**container, field: value}])
            assert (refused.value.error.status, refused.value.error.code) == (422, "InvalidBodyContent")
            assert refused.value.error.message.startswith(f"field `{field}` is deprecated")
        empty = client.update(client.reload(workload), containers=[{**container, "environment": {}}])
        assert empty.containers[0].env[0].name == "ZONE"


# -- labels and annotations on PUT -----------------------------------------------------------------


def test_a_put_replaces_the_pod_templates_labels_and_annotations_whole() -> None:
    # norman merge.APIUpdateMerge: a map field is the source's; only the workload's own metadata keeps
    # its protected `cattle.io/` keys (mergeMetadata, mergeProtected).
    with simulator("2.8") as sim:
        client = client_for(sim)
        created = client.create_deployment(name="web", namespaceId="default",
                                           containers=[{"name": "web", "image": "app:1"}],
                                           workloadAnnotations={"field.cattle.io/creatorId": "u-1", "team": "shop"})
        client.action(created, "redeploy")
        workload = client.reload(created)
        labels = dict(client._to_dict(workload)["labels"])
        assert "cattle.io/timestamp" in client._to_dict(workload)["annotations"]
        client.update(workload, labels={**labels, "tier": "web"}, annotations={"note": "kept"},
                      workloadLabels={"app": "shop"}, workloadAnnotations={"owner": "ops"})
        template = pod_template(sim)
        assert template["metadata"]["annotations"] == {"note": "kept"}  # the timestamp went
        assert template["metadata"]["labels"] == {**labels, "tier": "web"}
        own = sim.workload("deployment", "default", "web")["metadata"]
        assert own["labels"]["app"] == "shop" and own["labels"]["cattle.io/creator"] == "norman"
        assert {k: v for k, v in own["annotations"].items() if k != "deployment.kubernetes.io/revision"} == {
            "field.cattle.io/creatorId": "u-1", "owner": "ops"}
        # Labels sent without the selector's: Kubernetes refuses the template (norman keeps its reason).
        with pytest.raises(rancher.ApiError) as refused:
            client.update(client.reload(workload), labels={"tier": "web"})
        assert (refused.value.error.status, refused.value.error.code) == (422, "Invalid")
        assert "`selector` does not match template `labels`" in refused.value.error.message


# -- state words by release ------------------------------------------------------------------------


@pytest.fixture
def api() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}:{SECRET}"
    return session


@contextmanager
def stalled(version: str) -> Iterator[tuple[Simulator, str]]:
    with simulator(version, Timing(speed=0.0)) as sim:
        sim.add_workload("default", "web", [{"name": "web", "image": "app:1"}], replicas=3,
                         strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                         progress_deadline_seconds=60)
        sim.faults.unhealthy_image("app:bad")
        yield sim, f"{sim.url}/v3/project/{sim.default_project_id}/workloads/deployment:default:web"


def states(sim: Simulator, api: requests.Session, url: str) -> tuple[tuple[str, str, str], dict[str, Any] | None]:
    v3 = api.get(url, timeout=5).json()
    steve = api.get(f"{sim.url}/v1/apps.deployments/default/web", timeout=5)
    return ((v3["state"], v3["transitioning"], v3["transitioningMessage"]),
            steve.json()["metadata"]["state"] if steve.status_code == 200 else None)


@pytest.mark.parametrize("version, rolling, deadline", [
    # 2.0-2.4: rancher-api.md §5.2.
    ("2.2", ("updating", "yes", "upgrading workload"), ("updating", "error", "{rs}")),
    # 2.5 (wrangler v0.7): Progressing=False is an error in both views; Steve adds kstatus' words.
    ("2.5", ("updating", "yes", "upgrading workload"), ("error", "error", "{rs}")),
    # 2.6-2.11: only kstatus (Steve) notices the deadline; v3 shows the replica count.
    ("2.8", ("updating", "yes", "upgrading workload"), ("updating", "yes", "upgrading workload")),
    # 2.12 (wrangler v3.2.2): `error` again, with the condition's message.
    ("2.12", ("updating", "yes", "upgrading workload"), ("error", "error", "{rs}")),
])
def test_the_state_words_of_a_stalled_rollout_follow_the_release(api: requests.Session, version: str,
                                                                 rolling: tuple[str, str, str],
                                                                 deadline: tuple[str, str, str]) -> None:
    with stalled(version) as (sim, url):
        doc = api.get(url, timeout=5).json()
        doc["containers"][0]["image"] = "app:bad"
        assert api.put(url, json=doc, timeout=5).status_code == 200
        sim.advance(5)
        v3, steve = states(sim, api, url)
        assert v3 == rolling
        if steve is not None:
            assert (steve["name"], steve["transitioning"], steve["message"]) == ("in-progress", True, "Updated: 1/3")
        sim.advance(120)
        v3, steve = states(sim, api, url)
        rs = f'ReplicaSet "{sim.replica_sets("default", "web")[-1]["metadata"]["name"]}" has timed out progressing.'
        assert v3 == tuple(part.format(rs=rs) for part in deadline)
        if steve is not None:
            expected = {"2.5": ("error", rs), "2.12": ("error", rs)}.get(version, ("failed", "Progress deadline exceeded"))
            assert (steve["name"], steve["error"], steve["message"]) == (*expected[:1], True, expected[1])


# -- no redeploy before 2.4 ------------------------------------------------------------------------


def test_rancher_2_2_has_no_redeploy_action(api: requests.Session) -> None:
    with simulator("2.2") as sim:
        client = client_for(sim)
        workload = client.by_id_workload(sim.add_workload("default", "web", [{"name": "web", "image": "app:1"}]))
        assert set(client._to_dict(workload)["actions"]) == {"pause", "resume", "rollback"}
        schema = api.get(f"{sim.url}/v3/project/{sim.default_project_id}/schemas/deployment", timeout=5).json()
        assert "redeploy" not in schema["resourceActions"]
        refused = api.post(f"{workload.links.self}?action=redeploy", timeout=5)
        assert (refused.status_code, refused.json()["code"]) == (422, "InvalidAction")
        # What Rancher 2.0-2.3's UI does instead: the pod template's timestamp through a PUT.
        updated = client.update(workload, annotations={"cattle.io/timestamp": "2024-01-01T00:00:00Z"})
        assert updated.annotations["cattle.io/timestamp"] == "2024-01-01T00:00:00Z"
        assert sim.workload("deployment", "default", "web")["metadata"]["generation"] == 2
