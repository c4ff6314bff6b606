"""What the URL points at is checked before the run says "Connected", and a wrong part is named.

Over real HTTP against the simulator: a 2.x URL on a 1.x server, an unknown cluster or project in the
URL or the settings, a 1.x flavour forced on a 2.x server. Each ends with exit 2 and one line naming
the setting and the part that is wrong, before any change.
"""

from __future__ import annotations

from typing import Iterator

import pytest

from rancher_deploy.simulator import Simulator, Timing

from .conftest import RunCli
from .test_workloads import TOKEN_ID, TOKEN_SECRET, WEB, run


@pytest.fixture(params=["2.4", "2.8"])
def sim2(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version=request.param, timing=Timing.fast()) as simulator:
        simulator.add_workload("default", "web", [dict(WEB)])
        yield simulator


@pytest.mark.parametrize("path", ["/v3", "/v3/project/c-abcde:p-fghij", "/k8s/clusters/c-abcde"])
def test_a_rancher_2_url_on_rancher_1_says_this_is_rancher_1(sim: Simulator, web: str, run_cli: RunCli,
                                                             path: str) -> None:
    for target in ({"RANCHER_SERVICE": "web"}, {"RANCHER_SERVICE": None, "RANCHER_WORKLOAD": "web"}):
        result = run_cli(CATTLE_URL=sim.url + path, **target)
        assert result.code == 2, result.stderr
        assert f"CATTLE_URL: {path} is not served here: this is Rancher 1.x (use {sim.url}/v2-beta)" in result.stderr
        assert "Connected" not in result.stderr
    assert sim.count("POST") == 0


def test_a_cluster_that_does_not_exist_is_named_before_connected(sim2: Simulator) -> None:
    result = run(sim2, CATTLE_URL=f"{sim2.url}/k8s/clusters/c-nope")
    assert result.code == 2
    assert "CATTLE_URL: cluster 'c-nope' not found; clusters this key sees: local (local)" in result.stderr
    assert "Connected" not in result.stderr
    forced = run(sim2, RANCHER_FLAVOUR="k8s", RANCHER_CLUSTER="c-nope")
    assert forced.code == 2
    assert "RANCHER_CLUSTER: cluster 'c-nope' not found; clusters this key sees: local (local)" in forced.stderr
    assert [r for r in sim2.requests if r.method != "GET"] == []


def test_the_cluster_is_checked_once_and_named_in_connected(sim2: Simulator) -> None:
    result = run(sim2, CATTLE_URL=f"{sim2.url}/k8s/clusters/local")
    assert result.code == 0, result.stderr
    assert "Kubernetes API through Rancher, cluster local" in result.stderr
    assert sim2.count("GET", "/v3/clusters") == 1


def test_a_project_that_does_not_exist_is_blamed_not_the_workload(sim2: Simulator) -> None:
    result = run(sim2, CATTLE_URL=f"{sim2.url}/v3/project/local:p-nope")
    assert result.code == 2
    assert ("CATTLE_URL: project 'local:p-nope' not found; projects this key sees: "
            f"Default ({sim2.default_project_id}), System ({sim2.system_project_id})") in result.stderr
    assert "workload" not in result.stderr.split("error:", 1)[1]
    by_name = run(sim2, RANCHER_FLAVOUR="v3", RANCHER_PROJECT="Prod")
    assert by_name.code == 2 and "RANCHER_PROJECT: project 'Prod' not found; projects this key sees:" in by_name.stderr


def test_rancher_1_forced_on_rancher_2_names_the_version(sim2: Simulator) -> None:
    result = run(sim2, RANCHER_FLAVOUR="rancher-1.x", RANCHER_WORKLOAD=None, RANCHER_SERVICE="web")
    assert result.code == 2
    assert f"this is Rancher v{sim2.rancher_version}." in result.stderr
    assert "Connected" not in result.stderr


def test_a_url_that_is_no_rancher_api_is_refused(sim2: Simulator) -> None:
    result = run(sim2, CATTLE_URL=f"{sim2.url}/nothing/here")
    assert result.code == 2
    assert "Connected" not in result.stderr


def test_an_environment_that_does_not_exist_in_the_url_names_the_url(sim: Simulator, web: str,
                                                                     run_cli: RunCli) -> None:
    result = run_cli(CATTLE_URL=f"{sim.url}/v2-beta/projects/1a99")
    assert result.code == 2
    assert "CATTLE_URL: environment 1a99 does not exist or this key may not use it" in result.stderr
    assert "Connected" not in result.stderr


def test_a_server_root_that_answers_its_version_pays_no_request_for_the_check(sim2: Simulator) -> None:
    result = run(sim2, "--dry-run")
    assert result.code == 0, result.stderr
    assert not [r for r in sim2.requests if r.path == "/v3"], "/rancherversion answered: /v3 is not asked"
