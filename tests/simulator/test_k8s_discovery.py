"""API discovery and server-side printing behind /k8s/clusters/local, over real HTTP."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import requests

from rancher_deploy.simulator import Simulator
from rancher_deploy.simulator.rancher2.tables import human_duration, table

K8S = "/k8s/clusters/local"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"


def test_discovery_names_every_served_resource(k8s: Simulator, kube: requests.Session) -> None:
    # What client-go asks first (aggregated discovery, else the plain form).
    accept = {"Accept": "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"}
    core = kube.get(f"{k8s.url}{K8S}/api", headers=accept)
    assert core.status_code == 200 and core.headers["Content-Type"].startswith("application/json")
    assert core.json()["kind"] == "APIVersions" and core.json()["versions"] == ["v1"]
    groups = kube.get(f"{k8s.url}{K8S}/apis", headers=accept).json()
    assert groups["kind"] == "APIGroupList"
    assert {g["name"]: g["preferredVersion"]["groupVersion"] for g in groups["groups"]} == {
        "apps": "apps/v1", "batch": "batch/v1"}
    apps = kube.get(f"{k8s.url}{K8S}/apis/apps/v1").json()
    assert (apps["kind"], apps["groupVersion"]) == ("APIResourceList", "apps/v1")
    deployments = next(r for r in apps["resources"] if r["name"] == "deployments")
    assert deployments == {"name": "deployments", "singularName": "deployment", "namespaced": True,
                           "kind": "Deployment", "verbs": ["create", "delete", "deletecollection", "get", "list",
                                                           "patch", "update", "watch"],
                           "shortNames": ["deploy"], "categories": ["all"]}
    core_v1 = {r["name"]: r for r in kube.get(f"{k8s.url}{K8S}/api/v1").json()["resources"]}
    assert core_v1["namespaces"]["namespaced"] is False and "pods" in core_v1
    assert kube.get(f"{k8s.url}{K8S}/apis/apps").json()["kind"] == "APIGroup"
    assert kube.get(f"{k8s.url}{K8S}/apis/networking.k8s.io/v1").status_code == 404
    assert kube.get(f"{k8s.url}/k8s/clusters/c-nope/apis").status_code == 404


def test_lists_and_objects_print_as_tables_when_asked(k8s: Simulator, kube: requests.Session) -> None:
    k8s.add_workload("default", "web", [{"name": "web", "image": "app:1"}], replicas=2)
    listed = kube.get(f"{k8s.url}{K8S}/apis/apps/v1/namespaces/default/deployments", headers={"Accept": TABLE})
    assert listed.headers["Content-Type"] == "application/json;as=Table;v=v1;g=meta.k8s.io"
    doc = listed.json()
    assert (doc["kind"], doc["apiVersion"]) == ("Table", "meta.k8s.io/v1")
    assert [c["name"] for c in doc["columnDefinitions"] if c["priority"] == 0] == [
        "Name", "Ready", "Up-to-date", "Available", "Age"]
    assert doc["rows"][0]["cells"][:4] == ["web", "2/2", 2, 2]
    assert doc["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    one = kube.get(f"{k8s.url}{K8S}/apis/apps/v1/namespaces/default/deployments/web",
                  headers={"Accept": TABLE}, params={"includeObject": "Object"}).json()
    assert one["kind"] == "Table" and one["rows"][0]["object"]["kind"] == "Deployment"
    plain = kube.get(f"{k8s.url}{K8S}/apis/apps/v1/namespaces/default/deployments",
                    headers={"Accept": "application/vnd.kubernetes.protobuf,application/json"}).json()
    assert plain["kind"] == "DeploymentList"  # protobuf is never spoken: JSON it is
    namespaces = kube.get(f"{k8s.url}{K8S}/api/v1/namespaces", headers={"Accept": TABLE}).json()
    assert ["default", "Active"] == next(r["cells"][:2] for r in namespaces["rows"] if r["cells"][0] == "default")


@pytest.mark.parametrize(("seconds", "text"), [(5, "5s"), (119, "119s"), (200, "3m20s"), (600, "10m"),
                                                (3 * 3600 + 60, "3h1m"), (30 * 3600, "30h"), (50 * 3600, "2d2h"),
                                                (20 * 86400, "20d"), (3 * 365 * 86400, "3y")])
def test_ages_read_like_kubectl(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_jobs_print_as_tables_with_kubectl_s_columns(k8s: Simulator, kube: requests.Session) -> None:
    """kubectl get jobs asks for a Table like any list; the simulator runs no Jobs, so it has no rows."""
    doc = kube.get(f"{k8s.url}{K8S}/apis/batch/v1/namespaces/default/jobs", headers={"Accept": TABLE}).json()
    assert doc["kind"] == "Table" and doc["rows"] == []
    assert [c["name"] for c in doc["columnDefinitions"]] == [
        "Name", "Completions", "Duration", "Age", "Containers", "Images", "Selector"]


@pytest.mark.parametrize(("spec", "status", "cells"), [
    ({"completions": 3}, {"succeeded": 1, "startTime": "2026-01-01T00:00:00Z"}, ["1/3", "50s"]),
    ({"parallelism": 2}, {"startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:00:20Z"},
     ["0/1 of 2", "20s"]),
    ({}, {}, ["0/1", ""])])
def test_a_job_row_reads_like_kubectl(spec: dict[str, object], status: dict[str, object], cells: list[str]) -> None:
    job = {"metadata": {"name": "j", "creationTimestamp": "2026-01-01T00:00:00Z"}, "spec": spec, "status": status}
    now = datetime(2026, 1, 1, 0, 0, 50, tzinfo=timezone.utc).timestamp()
    row = table("jobs", [job], {}, "v1", "None", now)["rows"][0]["cells"]
    assert row[:3] == ["j", *cells] and row[3] == "50s"
