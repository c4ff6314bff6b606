"""Rancher 2.x workloads end to end, over real HTTP: v3 (Rancher 2.4) and the Kubernetes proxy (2.8)."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from pathlib import Path
import requests

from rancher_deploy.simulator import Simulator, Timing

from .conftest import CliRun, invoke_cli

TOKEN_ID = "token-abcde"
TOKEN_SECRET = "tokensecret-recognisable-91c"
OLD = "registry.example.com:5000/shop/web:2.0"
NEW = "registry.example.com:5000/shop/web:2.1"
WEB: dict[str, Any] = {
    "name": "web",
    "image": OLD,
    "ports": [{"containerPort": 8080, "protocol": "TCP", "name": "http"}],
    "env": [{"name": "DATABASE_URL", "value": "postgres://db/shop"}, {"name": "LIST", "value": "a,b"}],
    "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "100m"}},
    "imagePullPolicy": "Always",
}
SIDECAR: dict[str, Any] = {"name": "proxy", "image": "envoyproxy/envoy:v1.30.0"}


def stored(container: dict[str, Any]) -> dict[str, Any]:
    """``container`` as the apiserver stores it when it was written without these fields (kubernetes
    pkg/apis/core/v1/defaults.go SetDefaults_Container); the images here carry version tags, so the
    pull policy stored is IfNotPresent."""
    return {"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File", **container}


def unset_pull_policy(container: dict[str, Any]) -> dict[str, Any]:
    """The container as created without an imagePullPolicy: the apiserver stores its default."""
    return {key: value for key, value in container.items() if key != "imagePullPolicy"}


@pytest.fixture(params=["2.4", "2.8"])
def sim2(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version=request.param, timing=Timing.fast()) as simulator:
        yield simulator


def run(sim: Simulator, *argv: str, **overrides: str | None) -> CliRun:
    environ = {
        "CATTLE_URL": sim.url,
        "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}",
        "RANCHER_WORKLOAD": "web",
        "RANCHER_IMAGE": NEW,
        "RANCHER_POLL_INTERVAL": "0.005",
        "RANCHER_TIMEOUT": "30",
        "RANCHER_REQUEST_TIMEOUT": "5",
    }
    return invoke_cli(argv, environ, overrides, TOKEN_SECRET)


def containers(sim: Simulator, kind: str = "deployment", name: str = "web") -> dict[str, dict[str, Any]]:
    workload = sim.workload(kind, "default", name)
    spec = workload["spec"]
    if kind == "cronjob":
        spec = spec["jobTemplate"]["spec"]
    return {c["name"]: c for c in spec["template"]["spec"]["containers"]}


def test_upgrades_a_deployment_and_keeps_every_other_field(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB), dict(SIDECAR)], replicas=3)
    result = run(sim2, "--output", "json")
    assert result.code == 0, result.stderr
    after = containers(sim2)
    assert after["web"] == stored({**WEB, "image": NEW})
    assert after["proxy"] == stored(SIDECAR)
    assert result.json["targets"][0]["previous_image"] == OLD
    assert result.json["flavour"] == ("v3" if sim2.rancher_version == "2.4" else "k8s")
    status = sim2.workload("deployment", "default", "web")["status"]
    assert status["updatedReplicas"] == status["availableReplicas"] == 3


def test_detects_the_api_from_the_version(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)])
    result = run(sim2)
    assert result.code == 0, result.stderr
    expected = "v3 API" if sim2.rancher_version == "2.4" else "Kubernetes API through Rancher, cluster local"
    assert expected in result.stderr


@pytest.mark.parametrize("suffix", ["/", "/v3", "/k8s/clusters/local", "/v1"])
def test_accepts_the_url_forms_of_rancher_2(sim2: Simulator, suffix: str) -> None:
    sim2.add_workload("default", "web", [dict(WEB)])
    assert run(sim2, CATTLE_URL=sim2.url + suffix).code == 0
    assert containers(sim2)["web"]["image"] == NEW


def test_project_scoped_v3_url(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)])
    result = run(sim2, CATTLE_URL=f"{sim2.url}/v3/project/{sim2.default_project_id}")
    assert result.code == 0, result.stderr
    assert "v3 API" in result.stderr


def test_basic_auth_with_the_key_pair_works_too(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)])
    result = run(sim2, RANCHER_TOKEN=None, CATTLE_ACCESS_KEY=TOKEN_ID, CATTLE_SECRET_KEY=TOKEN_SECRET)
    assert result.code == 0, result.stderr


def test_wrong_token_exits_2(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)])
    result = run(sim2, RANCHER_TOKEN=f"{TOKEN_ID}:wrong-secret-xyz", RANCHER_RETRIES="0")
    assert result.code == 2
    assert "check RANCHER_TOKEN" in result.stderr
    assert "401" in result.stderr and "wrong-secret-xyz" not in result.output


def test_already_on_the_image_is_unchanged_and_force_redeploys(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)], replicas=2)
    unchanged = run(sim2, "--output", "json", RANCHER_IMAGE=OLD)
    assert unchanged.code == 0 and unchanged.json["result"] == "unchanged"
    generation = sim2.workload("deployment", "default", "web")["metadata"]["generation"]
    forced = run(sim2, "--force", RANCHER_IMAGE=OLD)
    assert forced.code == 0, forced.stderr
    workload = sim2.workload("deployment", "default", "web")
    assert workload["metadata"]["generation"] > generation
    assert "cattle.io/timestamp" in workload["spec"]["template"]["metadata"]["annotations"]


def test_a_forced_redeploy_of_a_moved_tag_can_be_seen_not_to_pull(sim2: Simulator) -> None:
    # CI pushed a new build under the same tag; with IfNotPresent (what the apiserver stores for a
    # version tag left without a policy) the node keeps the old digest, so the redeploy restarts the
    # pods on what they already ran (the simulator makes it visible).
    sim2.add_workload("default", "web", [unset_pull_policy(WEB)], replicas=2)
    before = sim2.pods()
    running = {p["status"]["containerStatuses"][0]["imageID"] for p in before}
    pushed = sim2.push_image(OLD)
    forced = run(sim2, "--force", RANCHER_IMAGE=OLD)
    assert forced.code == 0, forced.stderr
    pods = sim2.pods()
    assert len(pods) == 2 and {p["metadata"]["name"] for p in pods}.isdisjoint(p["metadata"]["name"] for p in before)
    assert {p["status"]["containerStatuses"][0]["imageID"] for p in pods} == running
    assert not any(image_id.endswith(pushed) for image_id in running)


def test_container_selection(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(SIDECAR), dict(WEB)])
    assert run(sim2).code == 0  # picked by repository
    assert containers(sim2)["proxy"] == stored(SIDECAR)
    named = run(sim2, RANCHER_CONTAINER="proxy", RANCHER_IMAGE="envoyproxy/envoy:v1.31.0")
    assert named.code == 0, named.stderr
    assert containers(sim2)["proxy"]["image"] == "envoyproxy/envoy:v1.31.0"
    unknown = run(sim2, RANCHER_CONTAINER="db")
    assert unknown.code == 2 and "RANCHER_CONTAINER: default/deployment:web has no container 'db'" in unknown.stderr
    nomatch = run(sim2, RANCHER_IMAGE="other/app:1")
    assert nomatch.code == 2 and "RANCHER_CONTAINER: is required: no container" in nomatch.stderr


def test_a_stalled_rollout_is_rolled_back_and_exits_1(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)], replicas=2, progress_deadline_seconds=30)
    sim2.faults.unhealthy_image(NEW)
    result = run(sim2, "--output", "json")
    assert result.code == 1, result.stderr
    assert "exceeded its progress deadline" in result.stderr
    assert result.json["result"] == "rolled-back"
    assert containers(sim2)["web"]["image"] == OLD
    status = sim2.workload("deployment", "default", "web")["status"]
    assert status["availableReplicas"] == 2


def test_a_stalled_rollout_never_counts_an_old_replica_as_an_updated_one_available(sim2: Simulator) -> None:
    """Old pods ready, the new one never ready: availableReplicas counts the old ones, so
    min(available, updated) said "1/2 updated replicas available" while none was."""
    sim2.add_workload("default", "web", [dict(WEB)], replicas=2, progress_deadline_seconds=30)
    sim2.faults.unhealthy_image(NEW)
    result = run(sim2, "--output", "json")
    assert result.code == 1, result.stderr
    during = result.stderr[:result.stderr.index("Rolling back")]
    counts = [line.rsplit(", ", 1)[-1] for line in during.splitlines() if "updated replicas available" in line]
    assert counts and all(count.startswith("0/2 updated replicas available") for count in counts), during


@pytest.mark.parametrize("kind", ["statefulset", "daemonset", "cronjob"])
def test_other_workload_kinds(sim2: Simulator, kind: str) -> None:
    sim2.add_workload("default", "web", [dict(WEB)], kind=kind, replicas=2)
    result = run(sim2, RANCHER_WORKLOAD=f"{kind}:web")
    assert result.code == 0, result.stderr
    assert containers(sim2, kind)["web"]["image"] == NEW


def pod_images(sim: Simulator) -> dict[str, str]:
    return {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in sim.pods()}


def test_a_partitioned_statefulset_is_done_once_the_pods_above_the_partition_are_updated(sim2: Simulator) -> None:
    # kubectl's StatefulSetStatusViewer; waiting for every pod would time out and roll back.
    sim2.add_workload("default", "web", [dict(WEB)], kind="statefulset", replicas=3,
                      strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}})
    result = run(sim2, "--output", "json", RANCHER_WORKLOAD="statefulset:web", RANCHER_TIMEOUT="3")
    assert result.code == 0, result.stderr
    assert result.json["result"] == "upgraded"
    message = result.json["targets"][0]["message"]
    assert message == (f"default/statefulset:web is updated to web={NEW}; the 2 pod(s) below partition 2 keep "
                       "their image until the partition is lowered")
    assert pod_images(sim2) == {"web-0": OLD, "web-1": OLD, "web-2": NEW}


def test_an_on_delete_statefulset_is_done_once_observed_and_says_its_pods_still_run_the_old_image(
        sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)], kind="statefulset", replicas=2, strategy={"type": "OnDelete"})
    result = run(sim2, "--output", "json", RANCHER_WORKLOAD="statefulset:web", RANCHER_TIMEOUT="3")
    assert result.code == 0, result.stderr
    assert result.json["result"] == "upgraded"
    message = result.json["targets"][0]["message"]
    assert "only when they are deleted" in message and "now runs" not in message
    assert containers(sim2, "statefulset")["web"]["image"] == NEW
    assert pod_images(sim2) == {"web-0": OLD, "web-1": OLD}
    sim2.delete_pod("default", "web-1")
    assert pod_images(sim2) == {"web-0": OLD, "web-1": NEW}


def test_a_paused_deployment_is_refused_with_how_to_resume_it(sim2: Simulator) -> None:
    sim2.add_namespace("shop")
    sim2.add_workload("shop", "web", [dict(WEB)], replicas=2)
    paused = requests.patch(f"{sim2.url}/k8s/clusters/local/apis/apps/v1/namespaces/shop/deployments/web",
                            json={"spec": {"paused": True}}, timeout=5,
                            headers={"Authorization": f"Bearer {TOKEN_ID}:{TOKEN_SECRET}",
                                     "Content-Type": "application/merge-patch+json"})
    assert paused.status_code == 200
    result = run(sim2, RANCHER_NAMESPACE="shop")
    assert result.code == 2
    assert ("shop/deployment:web is paused, which an upgrade does not start from: resume its rollout with `kubectl rollout "
            "resume deployment/web -n shop` or Resume on the workload in Rancher's UI, then upgrade it again; "
            "nothing was changed") in result.stderr
    assert "activate it" not in result.stderr
    assert sim2.workload("deployment", "shop", "web")["spec"]["template"]["spec"]["containers"][0]["image"] == OLD
    rollback = run(sim2, "rollback", RANCHER_NAMESPACE="shop", RANCHER_IMAGE=None)
    assert rollback.code == 2, rollback.stderr
    assert "shop/deployment:web is paused, which a rollback does not start from: resume its rollout" in rollback.stderr
    assert "Rolling back" not in rollback.stderr
    assert sim2.count("PATCH") == 1 and sim2.count("PUT") == sim2.count("POST") == 0, "only the test's pause"


def test_dry_run_and_status_write_nothing(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)])
    dry = run(sim2, "--dry-run")
    assert dry.code == 0 and f"  web: {OLD} -> {NEW}" in dry.stderr
    status = run(sim2, "status", RANCHER_IMAGE=None)
    assert status.code == 0 and f"web={OLD}" in status.stderr
    assert [r for r in sim2.requests if r.method not in ("GET",)] == []


def test_rollback_command_returns_to_the_previous_revision(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)], replicas=2)
    assert run(sim2).code == 0
    result = run(sim2, "rollback", "--output", "json", RANCHER_IMAGE=None)
    assert result.code == 0, result.stderr
    assert result.json["result"] == "reverted"
    assert containers(sim2)["web"]["image"] == OLD


def test_missing_workload_says_what_exists(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)])
    result = run(sim2, RANCHER_WORKLOAD="api")
    assert result.code == 2
    assert "'api' not found in namespace 'default'" in result.stderr


def test_self_signed_rancher_2_works_through_the_ca_option(tmp_path: Any) -> None:
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1")
    cert, key, ca_file = tmp_path / "server.pem", tmp_path / "server.key", tmp_path / "ca.pem"
    server.cert_chain_pems[0].write_to_path(str(cert))
    server.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_file))
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.4", timing=Timing.fast(), tls_cert=str(cert),
                   tls_key=str(key)) as sim:
        sim.add_workload("default", "web", [dict(WEB)])
        refused = run(sim, RANCHER_RETRIES="0")
        assert refused.code == 2 and "could not be verified" in refused.stderr
        assert run(sim, RANCHER_CA_BUNDLE=str(ca_file)).code == 0
        assert containers(sim)["web"]["image"] == NEW


def test_a_rollback_that_fails_on_rancher_2_exits_4_naming_the_state(sim2: Simulator) -> None:
    from rancher_deploy import discovery
    from rancher_deploy.deploy import Pipeline
    from rancher_deploy.errors import ExitCode
    from rancher_deploy.events import Event, Result, Step, exit_code
    from rancher_deploy.http import Credentials, RancherSession
    from rancher_deploy.settings import Command, Settings

    sim2.add_workload("default", "web", [dict(WEB)], replicas=2, progress_deadline_seconds=30)
    sim2.faults.unhealthy_image(NEW)
    environ = {"CATTLE_URL": sim2.url, "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}", "RANCHER_WORKLOAD": "web",
               "RANCHER_IMAGE": NEW, "RANCHER_POLL_INTERVAL": "0.005", "RANCHER_TIMEOUT": "30",
               "RANCHER_RETRIES": "0"}
    settings = Settings.load(Command.UPGRADE, {}, environ)
    session = RancherSession(Credentials(token=settings.token), read_attempts=1)
    backend = discovery.connect(session, settings, lambda text: None)
    # v3 rolls back by its action, or by a PUT where the run changed more than the pod spec (its record);
    # on 2.4 a change made through the Kubernetes API (variables Rancher's mapper would rewrite) goes
    # back the same way, by a PATCH.
    rollback_writes = ("POST", "PUT", "PATCH") if sim2.rancher_version == "2.4" else ("PATCH",)

    def emit(event: Event) -> None:
        # Once the tool decides to roll back, Rancher refuses every write to the workload.
        if isinstance(event, Step) and event.message.startswith("Rolling back"):
            for method in rollback_writes:
                sim2.faults.fail_next("web", count=100, status=500, method=method)

    outcome = Pipeline(settings, backend, emit).run()
    assert exit_code(outcome) is ExitCode.NEEDS_ATTENTION
    (target,) = outcome.targets
    assert target.result is Result.FAILED
    assert "needs attention: the rollback failed" in target.message
    # Rancher's own word where v3 gives one (2.4: `updating`, transitioning error), else the UI's.
    assert f"its state is {'updating' if sim2.rancher_version == '2.4' else 'failed'}" in target.message
    assert containers(sim2)["web"]["image"] == NEW


def test_rollback_command_restores_the_whole_previous_template(sim2: Simulator) -> None:
    import requests

    sim2.add_workload("default", "web", [dict(WEB)], replicas=2)
    assert run(sim2).code == 0
    # Someone adds an environment variable by hand: a new revision with the same image.
    extra = {"spec": {"template": {"spec": {"containers": [{"name": "web", "env": [{"name": "NEWVAR", "value": "1"}]}]}}}}
    response = requests.patch(f"{sim2.url}/k8s/clusters/local/apis/apps/v1/namespaces/default/deployments/web",
                              json=extra, headers={"Authorization": f"Bearer {TOKEN_ID}:{TOKEN_SECRET}",
                                                   "Content-Type": "application/strategic-merge-patch+json"},
                              data=None, timeout=5)
    assert response.status_code == 200, response.text
    sim2.advance(60)
    assert "NEWVAR" in str(containers(sim2)["web"]["env"])
    result = run(sim2, "rollback", RANCHER_IMAGE=None)
    assert result.code == 0, result.stderr
    assert containers(sim2)["web"] == stored({**WEB, "image": NEW}), "the previous revision's container, every field"


def test_rollback_command_on_a_kind_without_revisions_is_refused(sim2: Simulator) -> None:
    sim2.add_workload("default", "report", [{"name": "report", "image": "report:1"}], kind="cronjob")
    assert run(sim2, RANCHER_WORKLOAD="cronjob:report", RANCHER_IMAGE="report:2").code == 0
    result = run(sim2, "rollback", RANCHER_WORKLOAD="cronjob:report", RANCHER_IMAGE=None)
    assert result.code == 2
    assert "a cronjob keeps no earlier revisions to roll back to; nothing was changed" in result.stderr
    assert "Rolling back" not in result.stderr, "refused before anything is said to start"
    assert containers(sim2, "cronjob", "report")["report"]["image"] == "report:2"


def test_init_containers_are_chosen_only_on_request(sim2: Simulator) -> None:
    migrate = {"name": "migrate", "image": "registry.example.com:5000/shop/migrate:2.0"}
    sim2.add_workload("default", "web", [dict(WEB)], init_containers=[dict(migrate)])
    new_migrate = "registry.example.com:5000/shop/migrate:2.1"
    refused = run(sim2, RANCHER_IMAGE=new_migrate, RANCHER_CONTAINER="migrate")
    assert refused.code == 2 and "has no container 'migrate' (containers: web)" in refused.stderr
    # With init containers considered, the one running the image's repository is chosen.
    result = run(sim2, "--init-containers", RANCHER_IMAGE=new_migrate)
    assert result.code == 0, result.stderr
    workload = sim2.workload("deployment", "default", "web")
    assert workload["spec"]["template"]["spec"]["initContainers"] == [stored({**migrate, "image": new_migrate})]
    assert containers(sim2)["web"] == stored(WEB)


def test_several_containers_at_once(sim2: Simulator) -> None:
    sidecar = {"name": "assets", "image": OLD}
    sim2.add_workload("default", "web", [dict(WEB), dict(sidecar)])
    result = run(sim2, "--output", "json", RANCHER_CONTAINER="web,assets")
    assert result.code == 0, result.stderr
    assert {c["name"] for c in result.json["targets"][0]["containers"]} == {"web", "assets"}
    assert containers(sim2)["web"]["image"] == containers(sim2)["assets"]["image"] == NEW


@pytest.mark.parametrize("flavour, expected", [("v3", "v3 API"), ("k8s", "Kubernetes API through Rancher")])
def test_the_flavour_can_be_forced(sim2: Simulator, flavour: str, expected: str) -> None:
    sim2.add_workload("default", "web", [dict(WEB)])
    result = run(sim2, "--output", "json", RANCHER_FLAVOUR=flavour)
    assert result.code == 0, result.stderr
    assert expected in result.stderr and result.json["flavour"] == flavour
    assert containers(sim2)["web"]["image"] == NEW


def test_rancher_1_flavour_forced_on_rancher_2_is_refused_clearly(sim2: Simulator) -> None:
    result = run(sim2, RANCHER_FLAVOUR="rancher-1.x", RANCHER_WORKLOAD=None, RANCHER_SERVICE="web")
    assert result.code == 2
    assert "no Rancher 1.x API (/v2-beta or /v1) found" in result.stderr


def test_force_warns_in_the_plan_when_the_pull_policy_keeps_the_cached_image(sim2: Simulator) -> None:
    # imagePullPolicy crosses v3 (2.4) and the Kubernetes proxy (2.8) as Rancher stores it: a container
    # created on a version tag without one holds IfNotPresent (kubernetes SetDefaults_Container).
    sim2.add_workload("default", "web", [unset_pull_policy(WEB)])
    sim2.add_workload("default", "api", [dict(WEB)])  # Always: pulls on every start
    warned = run(sim2, "--force", "--dry-run", RANCHER_IMAGE=OLD)
    assert warned.code == 0, warned.stderr
    assert (f"warning: default/deployment:web: --force restarts web on {OLD}, but its imagePullPolicy is "
            "IfNotPresent, so a node that has this tag cached starts the old copy") in warned.stderr
    quiet = run(sim2, "--force", RANCHER_IMAGE=OLD, RANCHER_WORKLOAD="api")
    assert quiet.code == 0 and "imagePullPolicy" not in quiet.stderr


def test_the_only_container_taking_another_repository_is_warned_about(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [{"name": "worker", "image": "registry.example.com:5000/shop/worker:2.0"}])
    result = run(sim2)
    assert result.code == 0, result.stderr
    assert ("warning: default/deployment:web: worker runs registry.example.com:5000/shop/worker, and the new image "
            "is from another repository, registry.example.com:5000/shop/web") in result.stderr


def test_a_bare_name_finds_a_statefulset_and_costs_a_lookup_per_kind_at_most(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)])
    sim2.add_workload("default", "db", [{"name": "db", "image": "postgres:15"}], kind="statefulset")
    exact = run(sim2, "--dry-run", RANCHER_WORKLOAD="deployment:web")
    exact_requests = sim2.count()
    sim2.reset_log()
    bare = run(sim2, "--dry-run")
    assert exact.code == bare.code == 0, bare.stderr
    # v3 answers every kind in one list; the Kubernetes API needs one GET per other kind, and one of
    # the batch group to know the version it serves CronJobs under.
    extra = 0 if sim2.rancher_version == "2.4" else 3 + 1
    assert sim2.count() == exact_requests + extra, "a bare name costs one lookup per kind, never a list"
    result = run(sim2, "--output", "json", RANCHER_WORKLOAD="db", RANCHER_IMAGE="postgres:16")
    assert result.code == 0, result.stderr
    assert result.json["targets"][0]["target"] == "default/statefulset:db"
    assert containers(sim2, "statefulset", "db")["db"]["image"] == "postgres:16"


def test_a_bare_name_several_kinds_share_is_refused_asking_for_kind_and_name(sim2: Simulator) -> None:
    for kind in ("deployment", "statefulset"):
        sim2.add_workload("default", "web", [dict(WEB)], kind=kind)
    for kind in ("statefulset", "daemonset"):
        sim2.add_workload("default", "db", [{"name": "db", "image": "postgres:15"}], kind=kind)
    shared = run(sim2, "--dry-run")
    assert shared.code == 2
    assert "'web' names several workloads in namespace 'default' (deployment:web, statefulset:web)" in shared.stderr
    exact = run(sim2, "--dry-run", RANCHER_WORKLOAD="deployment:web")
    assert exact.code == 0 and "Found default/deployment:web" in exact.stderr
    ambiguous = run(sim2, RANCHER_WORKLOAD="db", RANCHER_IMAGE="postgres:16")
    assert ambiguous.code == 2
    assert ("RANCHER_WORKLOAD: 'db' names several workloads in namespace 'default' (statefulset:db, daemonset:db); "
            "write the one you mean as kind:name") in ambiguous.stderr
    assert [r for r in sim2.requests if r.method != "GET"] == []


def test_kind_and_name_stay_exact(sim2: Simulator) -> None:
    sim2.add_workload("default", "db", [{"name": "db", "image": "postgres:15"}], kind="statefulset")
    result = run(sim2, RANCHER_WORKLOAD="deployment:db", RANCHER_IMAGE="postgres:16")
    assert result.code == 2 and "deployment 'db' not found in namespace 'default'" in result.stderr


def test_a_bare_name_that_nothing_has_lists_what_the_namespace_has(sim2: Simulator) -> None:
    sim2.add_workload("default", "web", [dict(WEB)])
    sim2.add_workload("default", "db", [{"name": "db", "image": "postgres:15"}], kind="statefulset")
    result = run(sim2, RANCHER_WORKLOAD="cache")
    assert result.code == 2
    if sim2.rancher_version == "2.4":  # v3 knows the namespace's project once it has asked the Kubernetes API
        expected = (f"workload 'cache' not found in namespace 'default' of project {sim2.default_project_id}; "
                    "workloads there: deployment:web, statefulset:db")
    else:
        expected = ("workload 'cache' not found in namespace 'default' of cluster local (no deployment, statefulset, "
                    "daemonset, cronjob has that name); workloads there: deployment:web, statefulset:db")
    assert expected in result.stderr


# A namespace in no Rancher project (made with kubectl, never moved into one): v3 cannot see it.


@pytest.mark.parametrize("version, flavour", [("2.4", None), ("2.5", None), ("2.8", "v3")])
def test_a_namespace_in_no_project_is_reached_through_the_kubernetes_api(version: str, flavour: str | None) -> None:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version=version, timing=Timing.fast()) as sim:
        sim.add_namespace("loose", in_project=False)
        sim.add_workload("loose", "web", [dict(WEB)], replicas=2)
        result = run(sim, "--output", "json", RANCHER_NAMESPACE="loose", RANCHER_FLAVOUR=flavour)
        assert result.code == 0, result.stderr
        assert ("warning: namespace 'loose' is in no Rancher project, so the v3 API cannot see its workloads; "
                "using the Kubernetes API through Rancher (cluster local) for this run") in result.stderr
        assert result.json["flavour"] == "k8s" and result.json["result"] == "upgraded"
        assert containers_in(sim, "loose")["web"]["image"] == NEW


def test_v3_names_what_is_wrong_when_a_workload_is_in_no_project_it_looked_in() -> None:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.4", timing=Timing.fast()) as sim:
        shop = sim.add_project("Shop")
        sim.add_namespace("shop", shop)
        sim.add_workload("shop", "web", [dict(WEB)])
        missing = run(sim, RANCHER_NAMESPACE="nope")
        assert missing.code == 2
        assert "namespace 'nope' not found in cluster local; check RANCHER_NAMESPACE" in missing.stderr
        elsewhere = run(sim, RANCHER_NAMESPACE="shop", RANCHER_PROJECT=sim.default_project_id)
        assert elsewhere.code == 2
        assert (f"RANCHER_PROJECT: namespace 'shop' is in project Shop ({shop}), not in Default "
                f"({sim.default_project_id})") in elsewhere.stderr
        absent = run(sim, RANCHER_NAMESPACE="shop", RANCHER_WORKLOAD="deployment:api")
        assert absent.code == 2
        assert (f"deployment 'api' not found in namespace 'shop' of project {shop}; workloads there: deployment:web"
                in absent.stderr)
        assert [r for r in sim.requests if r.method != "GET"] == []


def containers_in(sim: Simulator, namespace: str, kind: str = "deployment", name: str = "web") -> dict[str, Any]:
    spec = sim.workload(kind, namespace, name)["spec"]
    return {c["name"]: c for c in spec["template"]["spec"]["containers"]}


# StatefulSets and DaemonSets roll back to their previous ControllerRevision, as kubectl rollout undo
# does, through the Kubernetes API Rancher proxies (v3 keeps no revisions for them).

KUBE_APPS = "/k8s/clusters/local/apis/apps/v1/namespaces/default"


@pytest.mark.parametrize("kind", ["statefulset", "daemonset"])
def test_rollback_command_returns_a_statefulset_or_daemonset_to_its_previous_revision(sim2: Simulator,
                                                                                       kind: str) -> None:
    sim2.add_workload("default", "db", [{"name": "db", "image": "postgres:15", "imagePullPolicy": "Always"}],
                      kind=kind, replicas=2)
    first = sim2.workload(kind, "default", "db")
    assert run(sim2, RANCHER_WORKLOAD=f"{kind}:db", RANCHER_IMAGE="postgres:16").code == 0
    sim2.reset_log()
    result = run(sim2, "rollback", "--output", "json", RANCHER_WORKLOAD=f"{kind}:db", RANCHER_IMAGE=None)
    assert result.code == 0, result.stderr
    assert result.json["result"] == "reverted"
    after = sim2.workload(kind, "default", "db")
    assert after["spec"]["template"] == first["spec"]["template"], "the previous revision's template, exactly"
    assert sim2.count("PATCH", f"{KUBE_APPS}/{kind}s/db") == 1, "kubectl's undo: one patch through the proxy"
    assert sim2.count("PUT") == sim2.count("POST") == 0
    if kind == "statefulset":
        assert after["status"]["updateRevision"] == first["status"]["updateRevision"], "revision 1, reused"


# One rule for every kind: nothing to roll back to is a reported skip (exit 0, unchanged); a kind
# that cannot be rolled back at all, or no API to do it, is refused (exit 2) before "Rolling back".
@pytest.mark.parametrize("kind", ["deployment", "statefulset", "daemonset"])
def test_rollback_with_no_earlier_revision_is_a_reported_skip(sim2: Simulator, kind: str) -> None:
    sim2.add_workload("default", "db", [{"name": "db", "image": "postgres:15"}], kind=kind)
    result = run(sim2, "rollback", "--output", "json", RANCHER_WORKLOAD=f"{kind}:db", RANCHER_IMAGE=None)
    assert result.code == 0, result.stderr
    (target,) = result.json["targets"]
    assert target["result"] == "unchanged"
    assert target["message"] == f"default/{kind}:db has no earlier revision to roll back to"
    assert "Rolling back" not in result.stderr
    assert [r for r in sim2.requests if r.method != "GET"] == []


def test_v3_rollback_without_the_kubernetes_api_is_refused_before_any_change() -> None:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.4", timing=Timing.fast()) as sim:
        sim.add_workload("default", "db", [{"name": "db", "image": "postgres:15"}], kind="statefulset")
        assert run(sim, RANCHER_WORKLOAD="statefulset:db", RANCHER_IMAGE="postgres:16").code == 0
        sim.faults.fail_next("/controllerrevisions", count=10, status=403)
        sim.reset_log()
        result = run(sim, "rollback", RANCHER_WORKLOAD="statefulset:db", RANCHER_IMAGE=None)
        assert result.code == 2
        assert ("default/statefulset:db: a statefulset keeps its revisions only in the Kubernetes API (v3 has none), "
                "which this key cannot reach (HTTP 403); nothing was changed") in result.stderr
        assert "Rolling back" not in result.stderr, "refused before anything is said to start"
        assert [r for r in sim.requests if r.method != "GET"] == []
        assert containers(sim, "statefulset", "db")["db"]["image"] == "postgres:16"


def test_a_failed_statefulset_upgrade_is_rolled_back_and_its_stuck_pod_replaced(sim2: Simulator) -> None:
    """A StatefulSet (OrderedReady) waits forever for a pod of the failed revision, even after its
    template is put back (kubernetes/kubernetes#67250): the rollback deletes that pod so that it is
    made again from the restored revision, and the run ends restored (exit 1)."""
    from rancher_deploy import discovery
    from rancher_deploy.deploy import Pipeline
    from rancher_deploy.errors import ExitCode
    from rancher_deploy.events import Event, Result, Step, exit_code
    from rancher_deploy.http import Credentials, RancherSession
    from rancher_deploy.settings import Command, Settings

    sim2.add_workload("default", "db", [{"name": "db", "image": "postgres:15"}], kind="statefulset", replicas=3)
    sim2.faults.unhealthy_image("postgres:16")
    environ = {"CATTLE_URL": sim2.url, "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}", "RANCHER_WORKLOAD": "db",
               "RANCHER_IMAGE": "postgres:16", "RANCHER_POLL_INTERVAL": "2", "RANCHER_TIMEOUT": "120"}
    settings = Settings.load(Command.UPGRADE, {}, environ)
    session = RancherSession(Credentials(token=settings.token), read_attempts=1)
    now = [0.0]
    lines: list[str] = []

    def sleep(seconds: float) -> None:  # the tool's time is the simulator's: no wall-clock wait
        now[0] += seconds
        sim2.advance(seconds)

    def emit(event: Event) -> None:
        if isinstance(event, Step):
            lines.append(event.message)

    warnings: list[str] = []
    backend = discovery.connect(session, settings, warnings.append)
    outcome = Pipeline(settings, backend, emit, clock=lambda: now[0], sleep=sleep).run()
    assert exit_code(outcome) is ExitCode.ROLLED_BACK, lines
    assert outcome.targets[0].result is Result.ROLLED_BACK
    assert any("deleted pod db-2, which ran the failed revision and was not ready" in w for w in warnings), warnings
    workload = sim2.workload("statefulset", "default", "db")
    assert containers(sim2, "statefulset", "db")["db"]["image"] == "postgres:15"
    assert workload["status"]["readyReplicas"] == workload["status"]["updatedReplicas"] == 3


def test_a_netrc_for_the_host_cannot_replace_the_token(sim2: Simulator, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """requests takes auth from ~/.netrc when a request has none; the token must be that auth."""
    host = sim2.url.split("://", 1)[1].split(":", 1)[0]
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {host} login someone-else password not-the-token\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    sim2.add_workload("default", "web", [dict(WEB)])
    result = run(sim2)
    assert result.code == 0, result.stderr
    assert containers(sim2)["web"]["image"] == NEW


def test_a_refused_rollback_still_names_the_workload_and_its_state_in_the_json(sim2: Simulator) -> None:
    sim2.add_workload("default", "report", [{"name": "report", "image": "report:1"}], kind="cronjob")
    result = run(sim2, "rollback", "--output", "json", RANCHER_WORKLOAD="cronjob:report", RANCHER_IMAGE=None)
    assert result.code == 2
    assert result.json["result"] == "error" and result.json["flavour"] == ("v3" if sim2.rancher_version == "2.4"
                                                                          else "k8s")
    (target,) = result.json["targets"]
    assert (target["target"], target["result"], target["state"]) == ("default/cronjob:report", "unchanged", "active")


def test_a_redeploy_within_the_same_second_still_changes_the_template() -> None:
    from rancher_deploy.workload_view import timestamp_now

    ahead = "2999-01-01T00:00:00Z"  # a template stamped later than the clock (same second, or skew)
    assert timestamp_now(ahead) == "2999-01-01T00:00:01Z"
    assert timestamp_now("1999-01-01T00:00:00Z") > "1999-01-01T00:00:00Z"  # the clock, when it is later
    assert timestamp_now("not a time") < "2999"  # an unreadable stamp: the clock


def test_force_redeploys_even_when_the_template_was_stamped_this_second(sim2: Simulator) -> None:
    import requests

    sim2.add_workload("default", "web", [dict(WEB)])
    url = f"{sim2.url}/k8s/clusters/local/apis/apps/v1/namespaces/default/deployments/web"
    auth = {"Authorization": f"Bearer {TOKEN_ID}:{TOKEN_SECRET}"}
    stamp = {"spec": {"template": {"metadata": {"annotations": {"cattle.io/timestamp": "2999-01-01T00:00:00Z"}}}}}
    requests.patch(url, json=stamp, headers={**auth, "Content-Type": "application/merge-patch+json"}, timeout=5)
    sim2.advance(60)
    before = requests.get(url, headers=auth, timeout=5).json()["metadata"]["generation"]
    result = run(sim2, "--force", RANCHER_IMAGE=OLD)
    assert result.code == 0, result.stderr
    after = requests.get(url, headers=auth, timeout=5).json()
    assert after["metadata"]["generation"] > before, "the redeploy must change the template"
    assert after["spec"]["template"]["metadata"]["annotations"]["cattle.io/timestamp"] == "2999-01-01T00:00:01Z"


def test_a_rollback_that_does_not_complete_in_time_does_not_advise_another(monkeypatch: pytest.MonkeyPatch) -> None:
    """The automatic rollback put the previous images back but the rollout is still going: a second
    rollback would return to the new image, the very one that failed, so the advice is to follow it."""
    import types

    from rancher_deploy import cli

    from .conftest import VirtualTime

    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8", timing=Timing(speed=0)) as sim:
        time = VirtualTime(sim)
        monkeypatch.setattr(cli, "time", types.SimpleNamespace(monotonic=time.monotonic))
        monkeypatch.setattr(cli._Signals, "sleep", lambda self, seconds: time.sleep(seconds))
        sim.add_workload("default", "db", [dict(WEB)], replicas=2, kind="statefulset")
        sim.faults.unhealthy_image(NEW)
        sim.faults.capacity(1, "default/db")
        result = run(sim, "--output", "json", RANCHER_WORKLOAD="statefulset:db", RANCHER_TIMEOUT="30",
                     RANCHER_POLL_INTERVAL="1")
        assert result.code == 4, result.stderr
        message = result.json["targets"][0]["message"]
        assert "its previous images are back and Rancher is still rolling them out" in message
        assert "do not roll back again" in message and "`rancher-deploy rollback`" not in message


def test_a_rollback_answered_409_conflict_is_read_again_and_resent_exit_1(sim2: Simulator) -> None:
    """A Kubernetes update conflict (409) changed nothing: kubectl reads the object again and resends,
    and so does the rollback (with RANCHER_RETRIES' budget, as after a 5xx)."""
    from rancher_deploy import discovery
    from rancher_deploy.deploy import Pipeline
    from rancher_deploy.errors import ExitCode
    from rancher_deploy.events import Event, Step, exit_code
    from rancher_deploy.http import Credentials, RancherSession
    from rancher_deploy.settings import Command, Settings

    sim2.add_workload("default", "web", [dict(WEB)], replicas=2, progress_deadline_seconds=30)
    sim2.faults.unhealthy_image(NEW)
    environ = {"CATTLE_URL": sim2.url, "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}", "RANCHER_WORKLOAD": "web",
               "RANCHER_IMAGE": NEW, "RANCHER_POLL_INTERVAL": "0.005", "RANCHER_TIMEOUT": "30"}
    settings = Settings.load(Command.UPGRADE, {}, environ)
    backend = discovery.connect(RancherSession(Credentials(token=settings.token)), settings, lambda text: None)
    rollback_writes = ("POST", "PUT", "PATCH") if sim2.rancher_version == "2.4" else ("PATCH",)
    steps: list[str] = []

    def emit(event: Event) -> None:
        if isinstance(event, Step):
            steps.append(event.message)
            if event.message.startswith("Rolling back"):
                for method in rollback_writes:
                    sim2.faults.fail_next("web", count=1, status=409, method=method)

    outcome = Pipeline(settings, backend, emit).run()
    assert exit_code(outcome) is ExitCode.ROLLED_BACK, steps
    assert any("HTTP 409" in step and "sending rollback again" in step for step in steps), steps
    assert containers(sim2)["web"]["image"] == OLD
