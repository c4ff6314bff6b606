"""Rancher 2.x releases that differ where a deploy notices, end to end over real HTTP: the containers'
environment through v3 (mapped up to 2.5), Rancher's own state words, servers without v3 `redeploy`
(2.0-2.3), and clusters that serve CronJobs only as batch/v1beta1 (Kubernetes before 1.21)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing

from .test_workloads import NEW, OLD, TOKEN_ID, TOKEN_SECRET, run, stored

# Plain and sourced variables interleaved (APP_URL refers to ZONE, defined before it), whole ConfigMaps
# and Secrets: what Rancher 2.5's environment mapper would reorder and rewrite.
ENV: list[dict[str, Any]] = [
    {"name": "ZONE", "value": "eu"},
    {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
    {"name": "APP_URL", "value": "https://shop.example.com/$(ZONE)"},
    {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
    {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
]
ENV_FROM: list[dict[str, Any]] = [{"configMapRef": {"name": "common"}}, {"prefix": "S_", "secretRef": {"name": "x"}}]
WEB: dict[str, Any] = {"name": "web", "image": OLD, "env": ENV, "envFrom": ENV_FROM}


def simulator(version: str, **kw: Any) -> Simulator:
    return Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version=version, timing=kw.pop("timing", Timing.fast()), **kw)


def container(sim: Simulator, kind: str = "deployment") -> dict[str, Any]:
    spec = sim.workload(kind, "default", "web")["spec"]
    if kind == "cronjob":
        spec = spec["jobTemplate"]["spec"]
    result: dict[str, Any] = spec["template"]["spec"]["containers"][0]
    return result


# -- every variable kept, through v3, on each release ----------------------------------------------


@pytest.mark.parametrize("version", ["2.3", "2.5", "2.6", "2.9"])
def test_an_upgrade_through_v3_keeps_every_variable_exactly(version: str) -> None:
    with simulator(version) as sim:
        sim.add_workload("default", "web", [dict(WEB)], replicas=2)
        result = run(sim, "--output", "json", RANCHER_FLAVOUR="v3")
        assert result.code == 0, result.stderr
        assert result.json["flavour"] == "v3"
        assert container(sim) == stored({**WEB, "image": NEW})
        assert "warning" not in result.stderr


def test_where_the_kubernetes_api_is_refused_v3_changes_it_and_says_the_variables_are_rewritten() -> None:
    with simulator("2.5") as sim:
        sim.add_workload("default", "web", [dict(WEB)], replicas=2)
        sim.faults.fail_next("/k8s/clusters/local/apis/apps", status=403, method="PATCH")
        result = run(sim, RANCHER_FLAVOUR="v3")
        assert result.code == 0, result.stderr
        assert ("warning: default/deployment:web: Rancher's v3 API rewrites the containers' environment variables "
                "on every change (plain ones sorted by name first), and the Kubernetes API that would keep them as "
                "they are was refused (HTTP 403); changing it through v3") in result.stderr
        after = container(sim)
        assert after["image"] == NEW
        # Every variable is still there, in Rancher's order (and with the `optional` it writes out).
        assert sorted(e["name"] for e in after["env"]) == sorted(e["name"] for e in ENV)
        assert [e["name"] for e in after["env"]][:2] == ["APP_URL", "ZONE"]


# -- pod-template labels and annotations through a v3 PUT ------------------------------------------


@pytest.mark.parametrize("version", ["2.4", "2.8"])
def test_an_upgrade_through_v3_sends_the_pod_templates_labels_and_annotations_back_whole(version: str) -> None:
    # A v3 PUT replaces them with what it sends (norman merge.go: a map field is the source's), so
    # anything left out, `cattle.io/*` keys included, would be lost.
    with simulator(version) as sim:
        sim.add_workload("default", "web", [{"name": "web", "image": OLD}], replicas=2)
        kept = {"labels": {"tier": "web", "workload.user.cattle.io/workloadselector": "deployment-default-web"},
                "annotations": {"cattle.io/timestamp": "2024-05-01T10:00:00Z", "prometheus.io/scrape": "true"}}
        requests.patch(f"{sim.url}/k8s/clusters/local/apis/apps/v1/namespaces/default/deployments/web",
                       json={"spec": {"template": {"metadata": kept}}}, timeout=5,
                       headers={"Authorization": f"Bearer {TOKEN_ID}:{TOKEN_SECRET}",
                                "Content-Type": "application/merge-patch+json"})
        result = run(sim, RANCHER_FLAVOUR="v3")
        assert result.code == 0, result.stderr
        template = sim.workload("deployment", "default", "web")["spec"]["template"]
        assert template["metadata"] == kept and template["spec"]["containers"][0]["image"] == NEW


# -- Rancher's own state word ----------------------------------------------------------------------


@pytest.mark.parametrize("version, flavour, state", [
    ("2.2", "v3", "updating"),   # §5.2: `updating`, transitioning error
    ("2.5", "v3", "error"),      # wrangler v0.7: Progressing=False is an error
    ("2.8", "v3", "updating"),   # 2.6-2.11: v3 shows only the replica count
    ("2.12", "v3", "error"),     # wrangler v3.2.2
    ("2.8", "k8s", "failed"),    # no word from the Kubernetes API: the one Rancher's UI shows
])
def test_a_stalled_upgrade_left_in_place_names_rancher_s_own_state(version: str, flavour: str, state: str) -> None:
    with simulator(version) as sim:
        sim.add_workload("default", "web", [{"name": "web", "image": OLD}], replicas=2, progress_deadline_seconds=30)
        sim.faults.unhealthy_image(NEW)
        result = run(sim, "--output", "json", RANCHER_FLAVOUR=flavour, RANCHER_ROLLBACK="false")
        assert result.json["flavour"] == flavour
        (target,) = result.json["targets"]
        assert (target["result"], target["state"]) == ("failed", state), result.stderr
        status = run(sim, "status", "--output", "json", RANCHER_FLAVOUR=flavour, RANCHER_IMAGE=None)
        assert status.json["targets"][0]["state"] == state


# -- Rancher 2.0-2.3: no v3 redeploy ---------------------------------------------------------------


def test_force_on_rancher_2_2_sets_the_timestamp_through_the_put_as_its_ui_did() -> None:
    with simulator("2.2") as sim:
        sim.add_workload("default", "web", [dict(WEB)], replicas=2)
        generation = sim.workload("deployment", "default", "web")["metadata"]["generation"]
        result = run(sim, "--force", "--output", "json", RANCHER_IMAGE=OLD)
        assert result.code == 0, result.stderr
        assert result.json["flavour"] == "v3" and result.json["result"] == "upgraded"
        workload = sim.workload("deployment", "default", "web")
        assert workload["metadata"]["generation"] == generation + 1
        assert "cattle.io/timestamp" in workload["spec"]["template"]["metadata"]["annotations"]
        assert workload["status"]["updatedReplicas"] == workload["status"]["availableReplicas"] == 2
        assert sim.count("POST") == 0 and sim.count("PUT", "/workloads/deployment:default:web") == 1
        # The PUT sent only the annotations, so Rancher's environment mapper rewrote nothing.
        assert container(sim) == stored(WEB)


# -- Kubernetes before 1.21: CronJobs only as batch/v1beta1 ----------------------------------------


@pytest.mark.parametrize("kubernetes", ["1.20", "1.28"])
def test_a_cronjob_upgrade_through_the_kubernetes_api_uses_the_batch_version_the_cluster_serves(
        kubernetes: str) -> None:
    with simulator("2.8", kubernetes_version=kubernetes) as sim:
        sim.add_workload("default", "web", [{"name": "web", "image": OLD}], kind="cronjob")
        result = run(sim, "--output", "json", RANCHER_WORKLOAD="web")
        assert result.code == 0, result.stderr
        assert result.json["flavour"] == "k8s" and result.json["targets"][0]["target"] == "default/cronjob:web"
        assert container(sim, "cronjob")["image"] == NEW
        version = "v1beta1" if kubernetes == "1.20" else "v1"
        assert sim.count("PATCH", f"/apis/batch/{version}/namespaces/default/cronjobs/web") == 1
        # One discovery read (GET /apis/batch/v1's resources), then every object request at the one version.
        assert sim.count("GET", "/apis/batch") >= 1
        objects = sim.count(path_contains="/namespaces/default/cronjobs")
        assert objects >= 1 and sim.count(path_contains=f"/apis/batch/{version}/namespaces/") == objects


# -- v3 collections of more than one page ----------------------------------------------------------


def test_v3_finds_a_workload_past_the_first_1000_and_reads_every_page_it_lists() -> None:
    # norman pages every collection at 1000 items, sorted by id (parse/collection.go, api/handler/query.go).
    with simulator("2.4") as sim:
        sim.add_namespace("bulk")
        for n in range(1105):
            sim.add_workload("bulk", f"w{n:04d}", [{"name": "web", "image": OLD}], replicas=0)
        result = run(sim, "--output", "json", RANCHER_NAMESPACE="bulk", RANCHER_WORKLOAD="w1100")
        assert result.code == 0, result.stderr
        assert result.json["targets"][0]["target"] == "bulk/deployment:w1100"
        assert sim.workload("deployment", "bulk", "w1100")["spec"]["template"]["spec"]["containers"][0]["image"] == NEW
        sim.reset_log()
        missing = run(sim, RANCHER_NAMESPACE="bulk", RANCHER_WORKLOAD="nope")
        assert missing.code == 2
        assert "workloads there: deployment:w0000, deployment:w0001," in missing.stderr
        pages = [r.query for r in sim.requests if r.path.endswith("/workloads") and r.method == "GET"]
        assert any("marker=deployment%3Abulk%3Aw1000" in query for query in pages), pages
