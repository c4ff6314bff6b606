"""What the URL points at is checked before the run says "Connected", and a wrong part is named.

Over real HTTP against the simulator: a 2.x URL on a 1.x server, an unknown cluster or project in the
URL or the settings, a 1.x flavour forced on a 2.x server. Each ends with exit 2 and one line naming
the setting and the part that is wrong, before any change.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from rancher_deploy.discovery import Server, identify
from rancher_deploy.http import Credentials, RancherSession
from rancher_deploy.simulator import Simulator, Timing

from .conftest import RunCli
from .test_workloads import NEW, OLD, TOKEN_ID, TOKEN_SECRET, WEB, run


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


@pytest.mark.parametrize("scope", ["project", "projects"])
def test_a_project_that_does_not_exist_is_blamed_not_the_workload(sim2: Simulator, scope: str) -> None:
    result = run(sim2, CATTLE_URL=f"{sim2.url}/v3/{scope}/local:p-nope")
    assert result.code == 2
    assert ("CATTLE_URL: project 'local:p-nope' not found; projects this key sees: "
            f"Default ({sim2.default_project_id}), System ({sim2.system_project_id})") in result.stderr
    assert "workload" not in result.stderr.split("error:", 1)[1]
    assert "Connected" not in result.stderr, "the project in the URL is checked before the URL is said to work"
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


# A 1.x server names its release in a header on every answer, so a URL whose path names no API is
# taken for the server root without reading the API's own: a path that leads elsewhere shows first as a
# 404 below it, which must still name CATTLE_URL and the path.
# A path that names an API and goes on past it says so, rather than that `<path>/v2-beta` answers 404.
@pytest.mark.parametrize("path, wrong, where", [
    ("/foo", "/foo", "leads to no Rancher API ({url}/foo/v2-beta answers 404)"),
    ("/foo/bar/", "/foo/bar", "leads to no Rancher API ({url}/foo/bar/v2-beta answers 404)"),
    ("/v2-beta/foo", "/v2-beta/foo", "names the API /v2-beta and then more than a project (/foo)"),
    ("/v3/foo", "/v3/foo", "names the API /v3 and then more than a project (/foo)"),
    ("/v1/projects/1a5/foo", "/v1/projects/1a5/foo", "names the API /v1 and then more than a project (/projects/1a5/foo)"),
    ("/foo/v1", "/foo", "leads to no Rancher API ({url}/foo/v2-beta answers 404)")])
@pytest.mark.parametrize("named", [{}, {"RANCHER_ENVIRONMENT": "1a5"}, {"RANCHER_ENVIRONMENT": "Default"},
                                   {"RANCHER_STACK": None, "RANCHER_SERVICE": None, "RANCHER_SELECT_IMAGE": "true"}],
                         ids=["no-environment", "environment-id", "environment-name", "fleet"])
def test_a_1x_url_whose_path_leads_to_no_api_names_cattle_url_and_the_path(
        sim: Simulator, web: str, run_cli: RunCli, path: str, wrong: str, where: str,
        named: dict[str, str | None]) -> None:
    result = run_cli(CATTLE_URL=sim.url + path, **named)
    assert result.code == 2, result.stderr
    assert (f"rancher-deploy: error: CATTLE_URL: its path {wrong} {where.format(url=sim.url)}: use the server root "
            f"({sim.url}, or the path a proxy serves Rancher under) or its /v2-beta API") in result.stderr.splitlines()
    assert "Connected" not in result.stderr
    assert [request for request in sim.requests if request.method != "GET"] == []


def test_an_environment_that_does_not_exist_still_names_rancher_environment(sim: Simulator, web: str,
                                                                            run_cli: RunCli) -> None:
    # The API root answers (one request to tell), so the 404 is the environment's, not the URL's.
    result = run_cli(RANCHER_ENVIRONMENT="1a99")
    assert result.code == 2
    assert "RANCHER_ENVIRONMENT: environment 1a99 does not exist or this key may not use it" in result.stderr
    assert "CATTLE_URL" not in result.stderr


def test_a_server_root_that_answers_its_version_pays_no_request_for_the_check(sim2: Simulator) -> None:
    result = run(sim2, "--dry-run")
    assert result.code == 0, result.stderr
    assert not [r for r in sim2.requests if r.path == "/v3"], "/rancherversion answered: /v3 is not asked"


# What the URL points at, checked before "Connected" whatever its form.


@pytest.mark.parametrize("path", ["/v1/projects/1a5", "/v2-beta", "/v2-beta/projects/1a5"])
def test_a_rancher_1_url_on_rancher_2_is_refused_before_connected(sim2: Simulator, path: str) -> None:
    # Only a bare /v1 may be a 2.x server's (Steve, 2.5+); these were accepted and their path dropped.
    result = run(sim2, CATTLE_URL=sim2.url + path)
    assert result.code == 2, result.stderr
    release = {"2.4": "v2.4.18", "2.8": "v2.8.5"}[sim2.rancher_version]
    assert (f"CATTLE_URL: {path} is a Rancher 1.x API, but this is Rancher {release}; use the server root "
            f"({sim2.url}), {sim2.url}/v3 or {sim2.url}/k8s/clusters/<id>") in result.stderr
    assert "Connected" not in result.stderr
    assert [r for r in sim2.requests if r.method != "GET"] == []


def test_a_cluster_url_of_v3_names_the_cluster(sim2: Simulator) -> None:
    wrong = run(sim2, CATTLE_URL=f"{sim2.url}/v3/clusters/c-nope")
    assert wrong.code == 2, wrong.stderr
    assert "CATTLE_URL: cluster 'c-nope' not found; clusters this key sees: local (local)" in wrong.stderr
    assert "Connected" not in wrong.stderr and "no Rancher API found" not in wrong.stderr
    right = run(sim2, CATTLE_URL=f"{sim2.url}/v3/clusters/local")
    assert right.code == 0, right.stderr
    expected = "v3 API" if sim2.rancher_version == "2.4" else "Kubernetes API through Rancher, cluster local"
    assert expected in right.stderr


@pytest.mark.parametrize("flavour", ["v3", "k8s"])
def test_a_rancher_2_flavour_forced_on_rancher_1_says_this_is_rancher_1(sim: Simulator, web: str, run_cli: RunCli,
                                                                       flavour: str) -> None:
    for suffix in ("", "/v2-beta"):
        result = run_cli(CATTLE_URL=sim.url + suffix, RANCHER_FLAVOUR=flavour, RANCHER_SERVICE=None,
                         RANCHER_WORKLOAD="web")
        assert result.code == 2, result.stderr
        assert (f"RANCHER_FLAVOUR: is {flavour}, a Rancher 2.x API, but this is Rancher 1.x (its API is "
                f"{sim.url}/v2-beta)") in result.stderr
        assert "Listing projects" not in result.stderr and "Connected" not in result.stderr
    assert sim.count("POST") == 0


def test_a_namespace_that_does_not_exist_is_named_after_one_look(sim2: Simulator) -> None:
    result = run(sim2, RANCHER_NAMESPACE="nope")
    assert result.code == 2, result.stderr
    assert "error: namespace 'nope' not found in cluster local; check RANCHER_NAMESPACE" in result.stderr
    assert "Listing" not in result.stderr
    if sim2.rancher_version == "2.8":
        assert sim2.count("GET", "/api/v1/namespaces/nope") == 1
        assert not [r for r in sim2.requests if r.path.endswith("/namespaces/nope/statefulsets")], "no list"


# RANCHER_PROJECT holds on every flavour: the project must exist and hold the namespace.


def test_a_project_that_does_not_exist_is_refused_before_any_change(sim2: Simulator) -> None:
    result = run(sim2, RANCHER_PROJECT="Prod")
    assert result.code == 2, result.stderr
    assert ("RANCHER_PROJECT: project 'Prod' not found; projects this key sees: "
            f"Default ({sim2.default_project_id}), System ({sim2.system_project_id})") in result.stderr
    assert "Connected" not in result.stderr
    assert [r for r in sim2.requests if r.method != "GET"] == []
    assert sim2.workload("deployment", "default", "web")["spec"]["template"]["spec"]["containers"][0]["image"] == OLD


@pytest.mark.parametrize("named", ["System", "id"])
def test_a_namespace_in_another_project_is_refused_naming_where_it_is(sim2: Simulator, named: str) -> None:
    project = sim2.system_project_id if named == "id" else named
    result = run(sim2, RANCHER_PROJECT=project)
    assert result.code == 2, result.stderr
    assert (f"RANCHER_PROJECT: namespace 'default' is in project Default ({sim2.default_project_id}), not in "
            f"System ({sim2.system_project_id})") in result.stderr
    assert [r for r in sim2.requests if r.method != "GET"] == []


def test_a_namespace_in_no_project_does_not_pass_for_the_project_named(sim2: Simulator) -> None:
    # On 2.4 v3 cannot see such a namespace and the run used to move to the Kubernetes API silently.
    sim2.add_namespace("loose", in_project=False)
    sim2.add_workload("loose", "web", [dict(WEB)])
    result = run(sim2, RANCHER_NAMESPACE="loose", RANCHER_PROJECT="Default")
    assert result.code == 2, result.stderr
    assert ("RANCHER_PROJECT: namespace 'loose' is in no Rancher project, not in Default "
            f"({sim2.default_project_id})") in result.stderr
    assert [r for r in sim2.requests if r.method != "GET"] == []


@pytest.mark.parametrize("named", ["Default", "id", None])
def test_the_project_named_costs_one_request_and_none_when_not_named(sim2: Simulator, named: str | None) -> None:
    project = sim2.default_project_id if named == "id" else named
    result = run(sim2, RANCHER_PROJECT=project)
    assert result.code == 0, result.stderr
    assert sim2.workload("deployment", "default", "web")["spec"]["template"]["spec"]["containers"][0]["image"] == NEW
    project_reads = [r for r in sim2.requests if r.path.startswith("/v3/projects")]
    namespace_reads = sim2.count("GET", "/api/v1/namespaces/default")
    if named is None:
        # v3 lists the projects to look in, as before; the Kubernetes API needs none.
        assert len(project_reads) == (1 if sim2.rancher_version == "2.4" else 0) and namespace_reads == 0
    else:
        assert len(project_reads) == 1
        assert namespace_reads == (0 if sim2.rancher_version == "2.4" else 1)


@pytest.mark.parametrize("version, flavour", [("2.5", "v3"), ("2.6", "k8s"), ("2.7", "k8s")])
def test_the_release_is_read_where_every_release_serves_it(version: str, flavour: str) -> None:
    """Every 2.x serves its release as the server-version setting (`/rancherversion` only from 2.7),
    which decides between v3 and the Kubernetes API (2.6 moved Rancher's own UI to the latter)."""
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version=version, timing=Timing.fast()) as simulator:
        simulator.add_workload("default", "web", [dict(WEB)])
        result = run(simulator, "--output", "json")
        assert result.code == 0, result.stderr
        assert result.json["flavour"] == flavour
        assert f"Connected: Rancher v{version}." in result.stderr
        assert [r.path for r in simulator.requests if "version" in r.path] == ["/v3/settings/server-version"]


@pytest.mark.parametrize("status", [401, 403])
def test_a_key_refused_the_setting_reads_the_public_release(status: int) -> None:
    """A key that may not read settings (a token scoped to one cluster is refused elsewhere) learns the
    release from `/rancherversion`, public from 2.7 (rancher pkg/multiclustermanager/routes.go)."""
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8", timing=Timing.fast()) as simulator:
        simulator.add_workload("default", "web", [dict(WEB)])
        simulator.faults.fail_next("/v3/settings/server-version", status=status, method="GET")
        result = run(simulator, "--dry-run", CATTLE_URL=f"{simulator.url}/k8s/clusters/local")
        assert result.code == 0, result.stderr
        assert "Connected: Rancher v2.8.5, Kubernetes API through Rancher, cluster local" in result.stderr
        assert [r.path for r in simulator.requests if "version" in r.path] == ["/v3/settings/server-version",
                                                                               "/rancherversion"]


@pytest.mark.parametrize("path", ["", "/v3", "/k8s/clusters/local", "/v3/project/local:p-abcde"])
def test_a_wrong_token_on_a_2x_url_is_refused_with_rancher_s_401(sim2: Simulator, path: str) -> None:
    # Where the URL names a cluster, the release setting's 401 is not the answer (a token scoped to that
    # cluster gets it too): the cluster's or project's own read says it, in Rancher's words.
    result = run(sim2, CATTLE_URL=sim2.url + path, RANCHER_TOKEN=f"{TOKEN_ID}:wrong-secret-xyz", RANCHER_RETRIES="0")
    assert result.code == 2, result.stderr
    assert ("HTTP 401 (Unauthorized 401: must authenticate); Rancher refused the credentials: check RANCHER_TOKEN"
            in result.stderr)
    assert "Connected" not in result.stderr and "wrong-secret-xyz" not in result.output


class _CattleUi(BaseHTTPRequestHandler):
    """What Rancher 1.6 answers for a path outside its API versions: its UI's page, with its release in
    the header cattle's ApiRequestFilter sets on every answer."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        page = b"<!DOCTYPE html><html><head><title>Rancher</title></head></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("X-Rancher-Version", "v1.6.30")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


def test_a_1x_ui_page_with_cattle_s_header_says_rancher_1() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CattleUi)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        root = f"http://127.0.0.1:{server.server_address[1]}"
        session = RancherSession(Credentials("AK", "SK"), read_attempts=1)
        assert identify(session, root) == Server(1, "v1.6.30")
    finally:
        server.shutdown()
        server.server_close()


# Each flavour's own modules: a run loads the backend discovery picked and not the other's, whose
# import (some 10 ms for the 2.x modules) every CI step would otherwise pay before its upgrade is sent.
CATTLE_MODULES = {"rancher_deploy.cattle", "rancher_deploy.status"}
WORKLOAD_MODULES = {"rancher_deploy.workloads", "rancher_deploy.workload_view", "rancher_deploy.rollout",
                    "rancher_deploy.kube", "rancher_deploy.v3", "rancher_deploy.projects"}
# Not a run's to load: semver compares versions for a version policy only (`images`), and argparse
# reads a command line, which a run configured by its environment alone does not have.
ONLY_WHEN_NEEDED = {"semver", "argparse"}


def _modules_loaded_by_a_run(environ: dict[str, str], tmp_path: Path) -> set[str]:
    """The modules a whole run (a fresh interpreter, no arguments, as CI runs it) has loaded when it ends."""
    probe = ("import sys\nfrom rancher_deploy.__main__ import main\ncode = main([])\n"
             "print(' '.join(sorted(sys.modules)))\nsys.exit(code)")
    done = subprocess.run([sys.executable, "-c", probe], env={"PATH": os.environ.get("PATH", ""), **environ},
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_a_1x_run_loads_no_2x_module(sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path) -> None:
    loaded = _modules_loaded_by_a_run(base_env, tmp_path)
    assert CATTLE_MODULES <= loaded
    assert loaded & (WORKLOAD_MODULES | ONLY_WHEN_NEEDED) == set()


def test_a_2x_run_loads_no_1x_module(sim2: Simulator, tmp_path: Path) -> None:
    environ = {"CATTLE_URL": sim2.url, "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}", "RANCHER_WORKLOAD": "web",
               "RANCHER_IMAGE": NEW, "RANCHER_POLL_INTERVAL": "0.005", "RANCHER_TIMEOUT": "30"}
    loaded = _modules_loaded_by_a_run(environ, tmp_path)
    assert WORKLOAD_MODULES <= loaded
    assert loaded & (CATTLE_MODULES | ONLY_WHEN_NEEDED) == set()
