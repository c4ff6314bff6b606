"""How a run ends when the world moves under it (`recovery`): another writer's change is never reported as
this run's success nor rolled back blindly, someone else's rollback is not repeated, and a restore acts
once Rancher offers what it needs. Real HTTP against the simulator, on simulated time (no sleeps).
"""

from __future__ import annotations

import types
from typing import Iterator

import pytest
import requests

from rancher_deploy import cli
from rancher_deploy.simulator import Simulator, Timing

from .conftest import NEW_IMAGE, OLD_IMAGE, CliRun, RunCli, VirtualTime, invoke_cli
from .faults.conftest import RunWatching, act, other_pipeline_upgrades, run_watching  # noqa: F401  (fixture)

OTHER_IMAGE = "registry.example.com:5000/shop/web:3.0-hotfix"
TOKEN_ID, TOKEN_SECRET = "token-abcde", "tokensecret-recognisable-91c"


@pytest.fixture
def timing() -> Timing:
    return Timing(speed=0)


def image_of(sim: Simulator, service_id: str) -> str:
    return str(sim.service(service_id)["launchConfig"]["imageUuid"]).removeprefix("docker:")


def posts(sim: Simulator, action: str) -> int:
    return sum(1 for r in sim.requests if r.method == "POST" and f"action={action}" in r.query)


# -- Rancher 2.x: the workload's template is another writer's -------------------------------------------


@pytest.fixture(params=["2.4", "2.8"])
def sim2(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Simulator, VirtualTime]]:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version=request.param, timing=Timing(speed=0)) as sim:
        time = VirtualTime(sim)
        monkeypatch.setattr(cli, "time", types.SimpleNamespace(monotonic=time.monotonic))
        monkeypatch.setattr(cli._Signals, "sleep", lambda self, seconds: time.sleep(seconds))
        sim.add_workload("default", "web", [{"name": "web", "image": OLD_IMAGE}], replicas=2,
                         progress_deadline_seconds=60)
        yield sim, time


def run2(sim: Simulator, *argv: str, **overrides: str) -> CliRun:
    environ = {"CATTLE_URL": sim.url, "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}", "RANCHER_WORKLOAD": "web",
               "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_POLL_INTERVAL": "1", "RANCHER_TIMEOUT": "300"}
    return invoke_cli(("--output", "json", *argv), environ, dict(overrides), TOKEN_SECRET)


def deployment_url(sim: Simulator) -> str:
    return f"{sim.url}/k8s/clusters/{sim.cluster_id}/apis/apps/v1/namespaces/default/deployments/web"


def someone_sets_image(sim: Simulator, image: str) -> None:
    """A person's `kubectl set image deployment/web web=<image>` through Rancher's Kubernetes proxy."""
    answer = requests.patch(deployment_url(sim), json={"spec": {"template": {"spec": {"containers": [
        {"name": "web", "image": image}]}}}}, headers={"Authorization": f"Bearer {TOKEN_ID}:{TOKEN_SECRET}",
        "Content-Type": "application/strategic-merge-patch+json"}, timeout=5)
    assert answer.status_code == 200, answer.text


def running(sim: Simulator) -> str:
    return str(sim.workload("deployment", "default", "web")["spec"]["template"]["spec"]["containers"][0]["image"])


def writes(sim: Simulator) -> int:
    return sum(1 for r in sim.requests if r.method in ("PUT", "PATCH", "POST") and "/_sim/" not in r.path)


def someone_sets_image_at(sim: Simulator, time: VirtualTime, moment: float, image: str) -> list[int]:
    """`someone_sets_image` `moment` simulated seconds into the run; the list gets how many writes there
    were then (to tell whether the tool wrote after it)."""
    written: list[int] = []

    def write() -> None:
        someone_sets_image(sim, image)
        written.append(writes(sim))

    time.at(moment, write)
    return written


def test_another_writers_image_during_the_rollout_is_not_our_success_nor_rolled_back(
        sim2: tuple[Simulator, VirtualTime]) -> None:
    sim, time = sim2
    sim.faults.unhealthy_image(NEW_IMAGE)
    written = someone_sets_image_at(sim, time, 3, OTHER_IMAGE)
    result = run2(sim)
    assert result.code == 4, result.stderr
    (target,) = result.json["targets"]
    assert target["result"] == "failed"
    assert target["image"] == OTHER_IMAGE, "the image reported is the one read, not the one planned"
    assert f"another writer changed it while this run waited for its upgrade: it has web={OTHER_IMAGE}" \
        in target["message"]
    assert "this run does not roll back a change it did not make" in target["message"]
    assert "`rancher-deploy status`" in target["message"]
    assert "Rolling back" not in result.stderr
    assert writes(sim) == written[0], "the tool wrote to the workload after the other writer's change"
    assert running(sim) == OTHER_IMAGE


def test_someone_elses_undo_during_the_rollout_is_restored_not_upgraded_and_not_undone_again(
        sim2: tuple[Simulator, VirtualTime]) -> None:
    sim, time = sim2
    sim.faults.unhealthy_image(NEW_IMAGE)
    written = someone_sets_image_at(sim, time, 3, OLD_IMAGE)   # as `kubectl rollout undo` puts it back
    result = run2(sim)
    assert result.code == 1, result.stderr
    (target,) = result.json["targets"]
    assert (target["result"], target["image"]) == ("rolled-back", OLD_IMAGE)
    assert "someone else rolled it back while the upgrade ran" in result.stderr
    assert "already shows its previous images again" in result.stderr
    assert writes(sim) == written[0], "the tool sent a second rollback"
    assert running(sim) == OLD_IMAGE


def test_a_rollout_that_succeeds_reports_the_images_it_read(sim2: tuple[Simulator, VirtualTime]) -> None:
    sim, _ = sim2
    result = run2(sim)
    assert result.code == 0, result.stderr
    (target,) = result.json["targets"]
    assert (target["result"], target["image"]) == ("upgraded", NEW_IMAGE)
    assert f"now runs web={NEW_IMAGE}" in target["message"]


# -- Rancher 1.x: the same, through the service's states --------------------------------------------------


SLOW = {"RANCHER_POLL_INTERVAL": "2", "RANCHER_TIMEOUT": "300"}


def test_another_pipelines_upgrade_in_the_middle_of_ours_is_not_finished_nor_rolled_back_1x(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    """Between two of our reads, someone rolls our upgrade back and upgrades the service to their image:
    the service is `upgrading` again, as ours was, but on their image."""
    sim.faults.hang(web)

    def theirs() -> None:
        sim.faults.clear()
        act(sim, web, "rollback")
        sim.advance(60)
        assert sim.service(web)["state"] == "active"
        other_pipeline_upgrades(sim, web, OTHER_IMAGE)

    virtual.at(5, theirs)
    result = run_cli("--output", "json", **SLOW)
    assert result.code == 4, result.stderr
    (target,) = result.json["targets"]
    assert (target["result"], target["image"]) == ("failed", OTHER_IMAGE)
    assert f"another writer changed it while this run waited for its upgrade: it has web={OTHER_IMAGE}" \
        in target["message"]
    assert posts(sim, "finishupgrade") == 0 and posts(sim, "rollback") == 1, "only theirs"
    assert image_of(sim, web) == OTHER_IMAGE


def test_a_cancel_from_outside_is_rolled_back_once_canceled_upgrade_offers_it_exit_1(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    """Someone cancels our upgrade: canceling-upgrade offers no rollback, canceled-upgrade does
    (rancher-api.md §2.3); the run set out to restore, so it sends it there."""
    sim.faults.unhealthy_image(NEW_IMAGE)
    virtual.at(3, lambda: act(sim, web, "cancelupgrade"))
    result = run_cli("--output", "json", **SLOW)
    assert result.code == 1, result.stderr
    assert "Rancher does not offer rollback for shop/web in state canceling-upgrade" in result.stderr
    assert "is canceled-upgrade, where Rancher offers the rollback: sending it" in result.stderr
    assert posts(sim, "rollback") == 1
    assert (sim.service(web)["state"], image_of(sim, web)) == ("active", OLD_IMAGE)
    assert result.json["targets"][0]["result"] == "rolled-back"


def test_a_rollback_offered_again_is_not_sent_for_someone_elses_upgrade(
        sim: Simulator, web: str, virtual: VirtualTime, run_cli: RunCli) -> None:
    """Our upgrade is canceled, then someone else rolls it back and upgrades to their image before we
    look: `upgraded` offers rollback, but of their upgrade, which is not ours to undo."""
    sim.faults.unhealthy_image(NEW_IMAGE)

    def theirs() -> None:
        act(sim, web, "rollback")
        sim.advance(60)
        other_pipeline_upgrades(sim, web, OTHER_IMAGE)
        sim.advance(60)

    virtual.at(3, lambda: act(sim, web, "cancelupgrade"))
    virtual.hooks.append(lambda time: theirs() if sim.service(web)["state"] == "canceled-upgrade" else None)
    result = run_cli("--output", "json", **SLOW)
    assert result.code == 4, result.stderr
    assert posts(sim, "rollback") == 1, "only theirs"
    assert image_of(sim, web) == OTHER_IMAGE
    assert result.json["targets"][0]["image"] == OTHER_IMAGE


def test_a_rollback_is_done_once_active_with_every_container_healthy_not_at_active_alone(
        sim: Simulator, web: str, virtual: VirtualTime, run_watching: RunWatching) -> None:  # noqa: F811
    """The rollback is accepted while the first batch's old container is still stopping: Rancher ends
    it `active` with a new container for that unit, still initializing (rancher-api.md §3.5, no health
    waits). Restored means all the service's containers healthy, as an upgrade is judged."""
    sim.faults.unhealthy_image(NEW_IMAGE)
    # The wait's first read is refused: the upgrade is rolled back at once, its first old container
    # still stopping and no new one made yet.
    refuse = lambda: sim.faults.fail_next(f"/services/{web}", method="GET", status=422)  # noqa: E731
    result = run_watching([("Upgrade of shop/web requested", refuse)], "--output", "json",
                          RANCHER_BATCH_SIZE="1", **SLOW)
    assert result.code == 1, result.stderr
    assert "active, 1/2 containers healthy" in result.stderr, "the rollback's active-but-short moment was not seen"
    assert "shop/web: active, 2/2 containers healthy" in result.stderr
    service = sim.service(web)
    assert (service["state"], service["healthState"], service["currentScale"]) == ("active", "healthy", 2)
    assert all(i["healthState"] == "healthy" for i in sim.instances(web) if i["state"] == "running")
