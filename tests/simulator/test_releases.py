"""What each simulated Rancher 2.x release offers: old servers (2.0-2.3), the Kubernetes release of
cluster `local` and the API versions it serves, over real HTTP."""

from __future__ import annotations

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing
from rancher_deploy.simulator.command import main

TOKEN = "token-relea"
SECRET = "releases-test-secret"
K8S = "/k8s/clusters/local"
JOB = [{"name": "job", "image": "busybox:1"}]


@pytest.fixture
def api() -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}:{SECRET}"
    return session


def simulator(version: str, kubernetes: str | None = None) -> Simulator:
    return Simulator(TOKEN, SECRET, rancher_version=version, timing=Timing.fast(), kubernetes_version=kubernetes)


@pytest.mark.parametrize("version, release, kubernetes", [
    ("2.0", "v2.0.16", "v1.10.12"), ("2.2", "v2.2.13", "v1.13.12"), ("2.3", "v2.3.11", "v1.16.15"),
    ("2.5", "v2.5.17", "v1.20.15"), ("2.12", "v2.12.12", "v1.33.5"),
])
def test_each_release_reports_itself_and_the_kubernetes_it_installed(api: requests.Session, version: str,
                                                                      release: str, kubernetes: str) -> None:
    with simulator(version) as sim:
        public = requests.get(f"{sim.url}/rancherversion", timeout=5)
        if version == "2.12":
            assert public.json()["Version"] == release
        else:  # /rancherversion exists from 2.7 (rancher pkg/multiclustermanager/routes.go)
            assert public.status_code == 404
        assert api.get(f"{sim.url}/v3/settings/server-version", timeout=5).json()["value"] == release
        assert api.get(f"{sim.url}{K8S}/version", timeout=5).json()["gitVersion"] == kubernetes
        assert api.get(f"{sim.url}/v3/project/{sim.default_project_id}/workloads", timeout=5).status_code == 200


@pytest.mark.parametrize("kubernetes, served, group", [("1.20", ["v1beta1"], ["v1", "v1beta1"]),
                                                       ("1.22.3", ["v1", "v1beta1"], ["v1", "v1beta1"]),
                                                       ("v1.28.15", ["v1"], ["v1"])])
def test_cronjobs_are_served_under_the_batch_versions_of_the_kubernetes_release(
        api: requests.Session, kubernetes: str, served: list[str], group: list[str]) -> None:
    # batch/v1 CronJob is GA from 1.21; batch/v1beta1 is served until 1.24 and removed in 1.25. Jobs are
    # batch/v1 on every release (pkg/registry/batch/rest/storage_batch.go), so the group always has v1.
    with simulator("2.8", kubernetes) as sim:
        sim.add_workload("default", "job", JOB, kind="cronjob")
        batch = api.get(f"{sim.url}{K8S}/apis/batch", timeout=5).json()
        assert [v["version"] for v in batch["versions"]] == group
        assert batch["preferredVersion"]["version"] == "v1"
        groups = {g["name"]: g for g in api.get(f"{sim.url}{K8S}/apis", timeout=5).json()["groups"]}
        assert groups["batch"]["preferredVersion"]["groupVersion"] == "batch/v1"
        for version in ("v1", "v1beta1"):
            listing = api.get(f"{sim.url}{K8S}/apis/batch/{version}", timeout=5)
            job = api.get(f"{sim.url}{K8S}/apis/batch/{version}/namespaces/default/cronjobs/job", timeout=5)
            if version in served:
                assert "cronjobs" in [r["name"] for r in listing.json()["resources"]]
                assert job.json()["apiVersion"] == f"batch/{version}" and job.json()["kind"] == "CronJob"
            else:
                assert job.status_code == 404
                assert job.json()["message"] == "the server could not find the requested resource"
                if version in group:
                    assert "cronjobs" not in [r["name"] for r in listing.json()["resources"]]
                else:
                    assert listing.status_code == 404


def test_a_cronjob_is_written_through_the_version_the_cluster_serves(api: requests.Session) -> None:
    with simulator("2.5") as sim:  # Kubernetes 1.20
        sim.add_workload("default", "job", JOB, kind="cronjob")
        url = f"{sim.url}{K8S}/apis/batch/v1beta1/namespaces/default/cronjobs/job"
        patched = api.patch(url, json={"spec": {"jobTemplate": {"spec": {"template": {"spec": {
            "containers": [{"name": "job", "image": "busybox:2"}]}}}}}},
            headers={"Content-Type": "application/strategic-merge-patch+json"}, timeout=5)
        assert patched.status_code == 200 and patched.json()["apiVersion"] == "batch/v1beta1"
        template = sim.workload("cronjob", "default", "job")["spec"]["jobTemplate"]["spec"]["template"]
        assert template["spec"]["containers"][0]["image"] == "busybox:2"


def test_the_kubernetes_version_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="not 1.<minor>"):
        simulator("2.8", "2.0")
    with pytest.raises(ValueError, match="goes with Rancher 2.x"):
        Simulator(TOKEN, SECRET, kubernetes_version="1.20")
    with pytest.raises(SystemExit) as stopped:
        main(["--access-key", "K", "--secret-key", "S", "--rancher-version", "2.8", "--kubernetes-version", "x"])
    assert stopped.value.code == 2 and "--kubernetes-version" in capsys.readouterr().err

