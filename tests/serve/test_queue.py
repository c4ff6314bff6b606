"""The queue: one run per repository at a time, a request for the waiting image with other fields replacing it,
every other tag queued after it, a bound past
which a request is 429 with nothing queued, and /status telling runs and targets apart.

An upgrade is held by the simulator's hang fault (the target stays `upgrading` until the test lifts
it), so a run is surely going while the test sends the next request.
"""

from __future__ import annotations

import copy
import json

import pytest

from rancher_deploy.choices import VersionPolicy
from rancher_deploy.images import ImageRef
from rancher_deploy.policy import decide
from rancher_deploy.serve.payloads import Trigger
from rancher_deploy.serve.scheduler import Order, by_trigger, by_version
from rancher_deploy.simulator import Simulator

from ..conftest import LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE
from .conftest import Serve, held_run

REPOSITORY = NEW_IMAGE.rsplit(":", 1)[0]
API = "registry.example.com:5000/shop/api"


def test_a_push_for_a_busy_repository_waits_and_one_with_other_fields_supersedes_it(
        serve: Serve, sim: Simulator, web: str) -> None:
    # The seed's payload carries confirm, start_first and timeout: a second request for the waiting image
    # with confirm: true after confirm: false was dropped as a resend, and the run left the target unfinished.
    served = held_run(serve, sim, web)   # run 1: 2.1
    waiting = served.upgrade(f"{REPOSITORY}:2.2", confirm=False)
    assert waiting.status_code == 202 and waiting.json()["accepted"][0]["supersedes"] is None
    confirmed = served.upgrade(f"{REPOSITORY}:2.2")
    assert confirmed.json()["accepted"] == [{"run": 3, "image": f"{REPOSITORY}:2.2", "repository": REPOSITORY,
                                             "supersedes": 2, "note": "replaces the waiting request's "
                                                                      "confirm/start_first/timeout"}]
    resent = served.upgrade(f"{REPOSITORY}:2.2")   # identical: a resend, not queued
    assert resent.status_code == 200 and "deploys that image" in resent.json()["ignored"][0]
    status = served.status()
    assert (status["queued"], status["running"]) == (1, 1)
    assert {run["run"]: run["state"] for run in status["runs"]} == {3: "queued", 2: "superseded", 1: "running"}
    assert served.run(2)["superseded_by"] == 3

    sim.faults.clear()
    assert served.wait_until_done(3)["result"] == "upgraded"
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{REPOSITORY}:2.2"
    assert sim.service(web)["state"] == "active"   # confirmed: finished, as the later request asked
    assert "[run 2]" not in served.log.getvalue()


def test_the_same_image_from_two_senders_meaning_the_same_run_is_a_resend(
        serve: Serve, sim: Simulator, web: str) -> None:
    # /upgrade stored the seed's 30 s timeout and None for the left-out confirm/start_first, a Docker
    # Hub push None for all three: each "replaced" the other, with an untrue note. Compared as the runs
    # are given them (RANCHER_TIMEOUT=30, RANCHER_FINISH true here), they are the same run.
    served = held_run(serve, sim, web)   # run 1: 2.1
    hook = {"push_data": {"tag": "2.2"}, "repository": {"repo_name": REPOSITORY}}
    assert served.post("/upgrade", {"docker_image": f"{REPOSITORY}:2.2"}).status_code == 202   # run 2
    pushed = served.post("/webhooks/dockerhub", hook)
    assert pushed.status_code == 200 and "deploys that image" in pushed.json()["ignored"][0], pushed.text
    confirmed = served.upgrade(f"{REPOSITORY}:2.2", start_first=False, timeout=30)   # the same, spelt out
    assert confirmed.status_code == 200 and confirmed.json()["accepted"] == [], confirmed.text
    other = served.upgrade(f"{REPOSITORY}:2.2", timeout=60)   # another timeout: the sender's latest word
    assert other.json()["accepted"][0]["supersedes"] == 2


def test_past_the_queues_bound_a_request_is_429_and_queues_nothing(serve: Serve, sim: Simulator, web: str) -> None:
    served = serve(RANCHER_SERVE_QUEUE="1", RANCHER_PARALLEL="1")
    sim.faults.hang(web)
    assert served.upgrade().status_code == 202
    served.wait_for_line("[run 1] Upgrade of Default/shop/web requested")
    assert served.upgrade(f"{API}:1.0").status_code == 202           # waits for the one worker
    full = served.upgrade("registry.example.com:5000/shop/cart:1.0")
    assert full.status_code == 429
    assert full.headers["Retry-After"] == "60"
    assert full.json() == {"error": "the queue is full (`RANCHER_SERVE_QUEUE=1`: at most 1 waiting run); try again later"}
    status = served.status()
    assert (status["queued"], status["queue_limit"], [run["run"] for run in status["runs"]]) == (1, 1, [2, 1])
    # A minor release of a waiting repository needs a place of its own; a newer patch release, or the same
    # image with other fields, takes the waiting one's.
    assert served.upgrade(f"{API}:1.1.0").status_code == 429
    again = served.upgrade(f"{API}:1.0", confirm=False)
    assert again.status_code == 202 and again.json()["accepted"][0]["supersedes"] == 2
    newer = served.upgrade(f"{API}:1.0.1")
    assert newer.status_code == 202 and newer.json()["accepted"][0]["supersedes"] == 3


def test_status_lists_each_targets_last_run(serve: Serve, sim: Simulator, web: str) -> None:
    served = serve(RANCHER_OUTPUT="json", RANCHER_VERSION_POLICY="any")   # back to the older image, on purpose
    served.upgrade()
    served.wait_until_done(1)
    served.upgrade(OLD_IMAGE)
    served.wait_until_done(2)
    status = served.status()
    assert status["targets"]["Default/shop/web"] == {
        "run": 2, "result": "upgraded", "state": "active", "image": OLD_IMAGE, "requested_image": OLD_IMAGE,
        "at": status["runs"][0]["ended"]}
    first = status["runs"][1]
    assert (first["run"], first["source"], first["result"], first["exit_code"]) == (1, "upgrade", "upgraded", 0)
    assert first["targets"][0]["previous_image"] == OLD_IMAGE and first["targets"][0]["image"] == NEW_IMAGE
    # RANCHER_OUTPUT=json: each run's result object on stdout, one line each, with its number.
    lines = [json.loads(line) for line in served.out.getvalue().splitlines()]
    assert [(line["run"], line["source"], line["result"], line["exit_code"]) for line in lines] == [
        (1, "upgrade", "upgraded", 0), (2, "upgrade", "upgraded", 0)]


def test_a_servers_own_image_setting_is_named_as_unread(serve: Serve, sim: Simulator, web: str) -> None:
    served = serve(RANCHER_IMAGE=OLD_IMAGE)
    assert "warning: RANCHER_IMAGE is not read: each request names the image its run deploys" in served.log.getvalue()
    served.upgrade()
    assert served.wait_until_done(1)["targets"][0]["image"] == NEW_IMAGE


def test_runs_of_different_repositories_go_at_once(serve: Serve, sim: Simulator, web: str) -> None:
    config = {**sim.service(web)["launchConfig"], "imageUuid": f"docker:{API}:1.0"}
    api = sim.add_service(sim.service(web)["stackId"], "api", config, scale=1)
    served = serve()
    sim.faults.hang(web)
    served.upgrade()
    served.wait_for_line("[run 1] Upgrade of Default/shop/web requested")
    served.upgrade(f"{API}:1.1")
    assert served.wait_until_done(2)["result"] == "upgraded"    # while run 1 still holds shop/web
    assert served.run(1)["state"] == "running"
    assert sim.service(api)["launchConfig"]["imageUuid"] == f"docker:{API}:1.1"
    sim.faults.clear()
    assert served.wait_until_done(1)["targets"][0]["target"] == "Default/shop/web"


def test_status_says_why_a_candidate_was_not_upgraded(serve: Serve, sim: Simulator, web: str) -> None:
    config = {**sim.service(web)["launchConfig"], "labels": {}}     # the same repository, not opted in
    sim.add_service(sim.service(web)["stackId"], "canary", config, scale=1)
    served = serve()
    served.upgrade()
    run = served.wait_until_done(1)
    assert [target["target"] for target in run["targets"]] == ["Default/shop/web"]
    assert run["selection"]["skipped"] == [{
        "target": "Default/shop/canary", "id": run["selection"]["skipped"][0]["id"], "place": "Default",
        "reason": "not opted in: no label autoupdate.enable or autoupdate.enabled"}]


def test_a_notification_naming_more_images_than_places_queues_none_of_them(
        serve: Serve, sim: Simulator, web: str) -> None:
    served = serve(RANCHER_SERVE_QUEUE="1", RANCHER_PARALLEL="1")
    sim.faults.hang(web)
    served.upgrade()
    served.wait_for_line("[run 1] Upgrade of Default/shop/web requested")

    def push(*repositories: str) -> dict[str, object]:
        return {"events": [{"action": "push", "target": {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "repository": repository,
            "tag": "1.0"}, "request": {"host": "registry.example.com:5000"}} for repository in repositories]}

    assert served.post("/webhooks/registry", push("shop/api", "shop/cart")).status_code == 429
    assert [run["run"] for run in served.status()["runs"]] == [1]
    answer = served.post("/webhooks/registry", push("shop/api"))
    assert answer.status_code == 202 and answer.json()["accepted"][0]["image"] == f"{API}:1.0"


def test_two_runs_of_one_target_never_go_at_once(serve: Serve, sim: Simulator) -> None:
    # A service whose sidekick runs another repository is picked by a push of either: two runs, keyed
    # by two repositories, go at once. Rancher would refuse the second upgrade (422 ActionNotAvailable,
    # the service upgrading); the second run waits for the first to end, then plans from what it left.
    # (From a review: before the per-target lock, that push was lost with exit 2.)
    config = copy.deepcopy(LAUNCH_CONFIG)
    config["labels"]["autoupdate.enable"] = "true"
    side = {"name": "side", "imageUuid": "docker:registry.example.com:5000/shop/side:1.0"}
    web = sim.add_service(sim.add_stack("shop"), "web", config, scale=2, secondary_launch_configs=[side])
    served = serve()
    sim.faults.hang(web)   # the first upgrade stays going until the second run is seen waiting
    envelope = {"events": [
        {"action": "push", "target": {"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                      "repository": repository, "tag": tag},
         "request": {"host": "registry.example.com:5000"}}
        for repository, tag in (("shop/web", "2.1"), ("shop/side", "2.0"))]}
    assert served.post("/webhooks/registry", envelope).status_code == 202
    served.wait_for_line("is being upgraded by another run of this process; waiting for it to end")
    assert served.status()["running"] == 2
    sim.faults.clear()
    first, second = served.wait_until_done(1), served.wait_until_done(2)
    assert (first["exit_code"], second["exit_code"]) == (0, 0), (first.get("error"), second.get("error"))
    service = sim.service(web)
    assert service["launchConfig"]["imageUuid"] == f"docker:{REPOSITORY}:2.1"
    assert service["secondaryLaunchConfigs"][0]["imageUuid"] == "docker:registry.example.com:5000/shop/side:2.0"
    assert "ActionNotAvailable" not in served.log.getvalue()


def test_a_newer_patch_release_supersedes_the_waiting_one_and_a_late_older_one_is_not_queued(
        serve: Serve, sim: Simulator, web: str) -> None:
    # The issue: "a newer push for a busy target waits and supersedes an older queued one". Registries
    # deliver late and out of order (a notification retried after its backoff): newest is by version.
    served = held_run(serve, sim, web)   # run 1: 2.1
    assert served.upgrade(f"{REPOSITORY}:2.2").status_code == 202             # run 2 waits
    newer = served.upgrade(f"{REPOSITORY}:2.2.1")                             # every policy takes it over 2.2
    assert newer.status_code == 202 and newer.json()["accepted"][0]["supersedes"] == 2, newer.text
    assert newer.json()["accepted"][0]["note"].startswith("a newer patch release")
    late = served.upgrade(f"{REPOSITORY}:2.2.0")
    assert late.status_code == 200 and late.json()["accepted"] == [], late.text
    assert "every built-in version policy a label may set, takes that over it" in late.json()["ignored"][0]
    assert {run["run"]: run["state"] for run in served.status()["runs"]} == {3: "queued", 2: "superseded",
                                                                              1: "running"}
    sim.faults.clear()
    assert served.wait_until_done(3)["result"] == "upgraded"
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{REPOSITORY}:2.2.1"
    # Run 2 never ran: Rancher was asked for two upgrades, 2.1's and 2.2.1's.
    assert [r.query for r in sim.requests if r.method == "POST" and r.query == "action=upgrade"] == ["action=upgrade"] * 2


def test_by_version_replaces_only_what_every_policy_takes_and_ignores_only_what_none_would() -> None:
    compare = by_version(VersionPolicy.parse("newer"))

    def order(waiting: str, new: str, **fields: bool) -> Order:
        return compare(Trigger(ImageRef.parse(f"{REPOSITORY}:{waiting}"), "registry"),
                       Trigger(ImageRef.parse(f"{REPOSITORY}:{new}"), "upgrade", **fields))[0]

    assert order("1.5", "1.5.1") is Order.REPLACE
    assert order("1.5.1", "1.5") is Order.IGNORE
    assert order("1.5", "1.5") is Order.IGNORE and order("1.5", "1.5", finish=True) is Order.REPLACE
    assert order("1.5", "sha-4f2a9c1") is Order.BOTH     # newer skips a commit; a label `any` takes it
    assert order("2.0.1", "2.1.0") is Order.BOTH         # a target labelled patch takes 2.0.1 only
    assert order("2.1.0", "2.0.1") is Order.BOTH
    assert order("1.5", "latest") is Order.BOTH and order("latest", "1.5") is Order.BOTH


@pytest.mark.parametrize("policy, first, second, results, ends_on", [
    # Commits cannot be ordered, and a target's own policy might take one and not the other: each runs.
    ("any", "main-5f3a2c1", "main-0b7d9e4", ("upgraded", "upgraded"), "main-0b7d9e4"),
    # CI pushes :2.2 and :sha-4f2a9c1 of one build; `newer` skips the commit tag, so replacing the
    # waiting 2.2 with it deployed neither (review of #16).
    ("newer", "2.2", "sha-4f2a9c1", ("upgraded", "skipped"), "2.2"),
])
def test_a_push_the_policies_cannot_order_over_the_waiting_one_is_queued_after_it(
        serve: Serve, sim: Simulator, web: str, policy: str, first: str, second: str, results: tuple[str, str],
        ends_on: str) -> None:
    served = held_run(serve, sim, web, RANCHER_VERSION_POLICY=policy)
    assert served.upgrade(f"{REPOSITORY}:{first}").status_code == 202
    later = served.upgrade(f"{REPOSITORY}:{second}")
    assert later.status_code == 202 and later.json()["accepted"][0]["supersedes"] is None
    sim.faults.clear()
    assert (served.wait_until_done(2)["result"], served.wait_until_done(3)["result"]) == results
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{REPOSITORY}:{ends_on}"


@pytest.mark.parametrize("label, on, first, second", [
    ("patch", "2.1.0", "2.1.1", "2.2.0"),          # a target labelled patch takes 2.1.1 only
    ("minor", "2.1.0", "2.2.0", "3.0.0"),          # a target labelled minor takes 2.2.0 only
])
def test_a_newer_release_does_not_replace_a_waiting_one_a_labelled_target_would_take(
        serve: Serve, sim: Simulator, web: str, label: str, on: str, first: str, second: str) -> None:
    config = copy.deepcopy(LAUNCH_CONFIG)
    config["imageUuid"] = f"docker:{REPOSITORY}:{on}"
    config["labels"].update({"autoupdate.enable": "true", "autoupdate.policy": label})
    pinned = sim.add_service(sim.service(web)["stackId"], "pinned", config, scale=1)
    assert decide(VersionPolicy.parse(label), f"{REPOSITORY}:{on}", f"{REPOSITORY}:{first}").allowed
    assert not decide(VersionPolicy.parse(label), f"{REPOSITORY}:{on}", f"{REPOSITORY}:{second}").allowed
    served = held_run(serve, sim, web)   # run 1: 2.1, which the label skips
    assert served.upgrade(f"{REPOSITORY}:{first}").status_code == 202
    later = served.upgrade(f"{REPOSITORY}:{second}")
    assert later.status_code == 202 and later.json()["accepted"][0]["supersedes"] is None
    sim.faults.clear()
    served.wait_until_done(3)
    assert sim.service(pinned)["launchConfig"]["imageUuid"] == f"docker:{REPOSITORY}:{first}"


def test_by_trigger_drops_or_replaces_only_the_same_image_and_queues_every_other_tag() -> None:
    def order(waiting: str, new: str, **fields: bool) -> Order:
        return by_trigger(Trigger(ImageRef.parse(f"{REPOSITORY}:{waiting}"), "registry"),
                          Trigger(ImageRef.parse(f"{REPOSITORY}:{new}"), "upgrade", **fields))[0]

    assert order("1.5", "1.5") is Order.IGNORE and order("latest", "latest") is Order.IGNORE
    assert order("1.5", "1.5", finish=True) is Order.REPLACE and order("1.5", "1.5", start_first=False) is Order.REPLACE
    for waiting, new in [("1.5", "1.5.1"), ("1.5.1", "1.5"), ("1.5", "sha-4f2a9c1"), ("2.0.1", "2.1.0"),
                         ("1.4.9", "1.4.10"), ("1.5", "latest"), ("latest", "1.5")]:
        assert order(waiting, new) is Order.BOTH, (waiting, new)
    assert by_trigger(Trigger(ImageRef.parse(REPOSITORY), "poll", poll=True),
                      Trigger(ImageRef.parse(REPOSITORY), "poll", poll=True))[0] is Order.IGNORE


def test_every_status_entry_has_the_same_fields_and_a_runs_own_warnings(serve: Serve, sim: Simulator, web: str) -> None:
    # A queued, superseded or cancelled run lacked result, exit_code and targets; a run's own warnings
    # (patterns matching nothing) reached only the log.
    served = held_run(serve, sim, web)
    served.upgrade(f"{REPOSITORY}:2.2", confirm=False)
    served.upgrade(f"{REPOSITORY}:2.2")
    served.upgrade(f"{API}:1.0")
    runs = {run["run"]: run for run in served.status()["runs"]}
    assert {number: runs[number]["state"] for number in (1, 2, 3)} == {3: "queued", 2: "superseded", 1: "running"}
    assert (runs[3]["result"], runs[3]["exit_code"], runs[3]["targets"], runs[3]["warnings"]) == (None, None, [], [])
    sim.faults.clear()
    for number in (1, 3, 4):
        served.wait_until_done(number)
    runs = {run["run"]: run for run in served.status()["runs"]}
    assert len({frozenset(run) for run in runs.values()}) == 1, {number: sorted(run) for number, run in runs.items()}
    assert runs[4]["warnings"] == [] and runs[4]["result"] == "unchanged"

    other = serve(RANCHER_ENVIRONMENTS="prod")
    other.upgrade()
    (warning,) = other.wait_until_done(1)["warnings"]
    assert warning.startswith('RANCHER_ENVIRONMENTS ["prod"] matches none of the 1 environment seen'), warning
