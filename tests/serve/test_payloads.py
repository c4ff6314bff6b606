"""Each sender's body, as its own documentation shows it, read over HTTP into the runs it starts; a body
that is not its sender's format is 400 with a one-line JSON error, and starts nothing.

The servers here make dry runs (RANCHER_DRY_RUN): what a body starts is read from the answer and
/status (each run's `image`), and no run changes a target whatever image it is given.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from rancher_deploy.serve.payloads import SEED_TIMEOUT_SECONDS, Trigger, upgrade
from rancher_deploy.serve.runs import settings_for
from rancher_deploy.settings import Command, Settings
from rancher_deploy.simulator import Simulator

from ..conftest import NEW_IMAGE, OLD_IMAGE
from .conftest import Serve, Served, server_environment

# docs.docker.com/docker-hub/repos/manage/webhooks ("Example webhook payload"), the Dockerfile cut short.
DOCKER_HUB = {
    "callback_url": "https://registry.hub.docker.com/u/svendowideit/testhook/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/",
    "push_data": {"pushed_at": 1417566161, "pusher": "trustedbuilder", "tag": "latest"},
    "repository": {
        "comment_count": 0, "date_created": 1417494799, "description": "", "dockerfile": "#\n# BUILD\t\tdocker build",
        "full_description": "Docker Hub based automated build from a GitHub repo", "is_official": False,
        "is_private": True, "is_trusted": True, "name": "testhook", "namespace": "svendowideit",
        "owner": "svendowideit", "repo_name": "svendowideit/testhook",
        "repo_url": "https://registry.hub.docker.com/u/svendowideit/testhook/", "star_count": 0, "status": "Active",
    },
}

# goharbor/website docs/working-with-projects/project-configuration/configure-webhooks.md, "Artifact
# pushed", Default and CloudEvents: a push by digest (Harbor puts the digest in `tag`).
HARBOR_DIGEST = "sha256:954b378c375d852eb3c63ab88978f640b4348b01c1b3456a024a81536dafbbf4"
HARBOR = {
    "type": "PUSH_ARTIFACT", "occur_at": 1680501893, "operator": "harbor-jobservice",
    "event_data": {
        "resources": [{"digest": HARBOR_DIGEST, "tag": HARBOR_DIGEST,
                       "resource_url": f"localhost/harbor/alpine@{HARBOR_DIGEST}"}],
        "repository": {"date_created": 1680501893, "name": "alpine", "namespace": "harbor",
                       "repo_full_name": "harbor/alpine", "repo_type": "private"},
    },
}
HARBOR_CLOUD = {
    "specversion": "1.0", "id": "66e18103-09c1-41f6-982f-37df223f3eeb",
    "requestid": "51c0b694-0168-4f3c-b0db-282565455d7b", "source": "/projects/2/webhook/policies/15",
    "type": "harbor.artifact.pushed", "datacontenttype": "application/json", "time": "2023-04-03T06:04:46Z",
    "data": copy.deepcopy(HARBOR["event_data"]), "operator": "harbor-jobservice",
}


def harbor_tagged(document: dict[str, Any], tag: str = "3.8") -> dict[str, Any]:
    """The documented push, of a tag (as the docs' "Artifact deleted" example names one)."""
    tagged = copy.deepcopy(document)
    data = tagged["data" if "specversion" in tagged else "event_data"]
    data["resources"] = [{"digest": HARBOR_DIGEST, "tag": tag, "resource_url": f"localhost/harbor/alpine:{tag}"}]
    return tagged


# distribution/distribution docs/content/about/notifications.md: the envelope of a manifest push (by
# digest: no tag) and two layer pushes, and the event of a manifest pull.
def registry_event(index: int, action: str, media_type: str, kind: str, **target: Any) -> dict[str, Any]:
    digest = "sha256:fea8895f450959fa676bcc1df0611ea93823a735a01205fd8622846041d0c7cf"
    return {
        "id": f"asdf-asdf-asdf-asdf-{index}", "timestamp": "2006-01-02T15:04:05Z", "action": action,
        "target": {"mediaType": media_type, "digest": digest, "length": 1, "repository": "library/test",
                   "url": f"https://example.com/v2/library/test/{kind}/{digest}", **target},
        "request": {"id": "asdfasdf", "addr": "client.local", "host": "registrycluster.local",
                    "method": "PUT" if action == "push" else "GET", "useragent": "test/0.1"},
        "actor": {"name": "test-actor"}, "source": {"addr": "hostname.local:port"},
    }


MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
LAYER = "application/vnd.docker.container.image.rootfs.diff+x-gtar"
REGISTRY = {"events": [registry_event(0, "push", MANIFEST, "manifests"),
                       registry_event(1, "push", LAYER, "blobs"), registry_event(2, "push", LAYER, "blobs")]}


def dry(serve: Serve) -> Served:
    return serve(RANCHER_DRY_RUN="true")


def accepted(answer: Any) -> list[str]:
    assert answer.status_code == 202, answer.text
    return [item["image"] for item in answer.json()["accepted"]]


def test_the_seeds_payload_with_the_docker_prefix(serve: Serve, web: str) -> None:
    served = dry(serve)
    answer = served.post("/upgrade", {"docker_image": f"docker:{NEW_IMAGE}", "confirm": True, "start_first": False,
                                      "timeout": 30})
    assert accepted(answer) == [NEW_IMAGE]
    assert served.wait_until_done(1)["result"] == "planned"


def test_the_seeds_first_path_with_its_slash_is_the_same(serve: Serve) -> None:
    assert accepted(dry(serve).post("/upgrade/", {"docker_image": NEW_IMAGE})) == [NEW_IMAGE]


def test_the_seeds_fields_become_the_runs_settings(sim: Simulator) -> None:
    settings = Settings.load(Command.SERVE, {}, server_environment(sim))
    assert (settings.finish, settings.start_first, settings.timeout_seconds) == (True, False, 30.0)
    given = settings_for(settings, upgrade(json.dumps({"docker_image": NEW_IMAGE, "confirm": False,
                                                       "start_first": True, "timeout": 12.5}).encode()).triggers[0])
    assert (given.command, str(given.image), given.finish, given.start_first, given.timeout_seconds) == (
        Command.UPGRADE, NEW_IMAGE, False, True, 12.5)
    # Left out: the server's RANCHER_FINISH and RANCHER_START_FIRST, and the seed's 30 s timeout.
    server = Settings.load(Command.SERVE, {}, server_environment(sim, RANCHER_START_FIRST="true",
                                                                 RANCHER_TIMEOUT="600"))
    left_out = settings_for(server, upgrade(json.dumps({"docker_image": NEW_IMAGE}).encode()).triggers[0])
    assert (left_out.finish, left_out.start_first, left_out.timeout_seconds) == (True, True, SEED_TIMEOUT_SECONDS)
    # A webhook changes only the image.
    hook = settings_for(server, Trigger(given.image, "registry"))
    assert (hook.finish, hook.start_first, hook.timeout_seconds) == (True, True, 600.0)


def test_confirm_false_leaves_the_upgrade_unfinished_and_start_first_reaches_rancher(
        serve: Serve, sim: Simulator, web: str) -> None:
    served = serve()
    answer = served.upgrade(confirm=False, start_first=True)
    assert answer.status_code == 202
    run = served.wait_until_done(1)
    assert run["result"] == "upgraded-unfinished"
    service = sim.service(web)
    assert service["state"] == "upgraded"
    assert service["upgrade"]["inServiceStrategy"]["startFirst"] is True
    assert service["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


def test_docker_hubs_documented_payload(serve: Serve) -> None:
    served = dry(serve)
    answer = served.post("/webhooks/dockerhub", DOCKER_HUB)
    assert accepted(answer) == ["svendowideit/testhook:latest"]
    assert answer.json()["accepted"][0]["repository"] == "docker.io/svendowideit/testhook"
    assert served.wait_until_done(1)["image"] == "svendowideit/testhook:latest"


@pytest.mark.parametrize("document", [HARBOR, HARBOR_CLOUD], ids=["default", "cloudevents"])
def test_harbors_documented_push_by_digest_is_ignored_and_a_tag_is_run(serve: Serve, document: dict[str, Any]) -> None:
    served = dry(serve)
    ignored = served.post("/webhooks/harbor", document)
    assert ignored.status_code == 200
    assert ignored.json() == {"accepted": [], "ignored": ["localhost/harbor/alpine: pushed by digest, without a tag"]}
    assert accepted(served.post("/webhooks/harbor", harbor_tagged(document))) == ["localhost/harbor/alpine:3.8"]
    assert [run["image"] for run in served.status()["runs"]] == ["localhost/harbor/alpine:3.8"]


@pytest.mark.parametrize("kind", ["PULL_ARTIFACT", "SCANNING_COMPLETED", "DELETE_ARTIFACT"])
def test_harbor_events_other_than_a_push_start_nothing(serve: Serve, kind: str) -> None:
    served = dry(serve)
    answer = served.post("/webhooks/harbor", {**harbor_tagged(HARBOR), "type": kind})
    assert (answer.status_code, answer.json()) == (200, {"accepted": [], "ignored": [f"{kind}: not a push"]})
    assert served.status()["runs"] == []


def test_harbor_1x_names_a_push_pushimage(serve: Serve) -> None:
    document = {**harbor_tagged(HARBOR, "7"), "type": "pushImage"}
    assert accepted(dry(serve).post("/webhooks/harbor", document)) == ["localhost/harbor/alpine:7"]


def test_the_registrys_documented_envelope_names_no_image(serve: Serve) -> None:
    served = dry(serve)
    answer = served.post("/webhooks/registry", REGISTRY)
    assert answer.status_code == 200
    assert answer.json() == {"accepted": [], "ignored": [
        "push of library/test: a manifest pushed by digest, without a tag",
        "push of library/test: a blob, not a manifest", "push of library/test: a blob, not a manifest"]}
    pull = {"events": [registry_event(0, "pull", MANIFEST, "manifests", tag="latest")]}
    assert served.post("/webhooks/registry", pull).json()["ignored"] == ["pull of library/test: not a push"]
    assert served.status()["runs"] == []


@pytest.mark.parametrize("media_type", [MANIFEST, "application/vnd.oci.image.index.v1+json",
                                        "application/vnd.oci.image.manifest.v1+json"])
def test_a_tagged_manifest_push_in_an_envelope_of_others_is_run_once(serve: Serve, media_type: str) -> None:
    served = dry(serve)
    push = registry_event(3, "push", media_type, "manifests", tag="2.1")
    envelope = {"events": [*REGISTRY["events"], push, push]}   # delivered at least once: repeated
    answer = served.post("/webhooks/registry", envelope)
    assert accepted(answer) == ["registrycluster.local/library/test:2.1"]
    assert len(answer.json()["ignored"]) == 3


def test_the_registry_name_the_targets_use_can_be_given(serve: Serve) -> None:
    served = dry(serve)
    envelope = {"events": [registry_event(0, "push", MANIFEST, "manifests", tag="2.1")]}
    answer = served.post("/webhooks/registry?registry=registry.example.com:5000", envelope)
    assert accepted(answer) == ["registry.example.com:5000/library/test:2.1"]


@pytest.mark.parametrize("host", ["h/path", "registry.example.com/shop", "registry", "registry.example.com:port",
                                  "https://registry.example.com", "", "registry.example.com:99999",
                                  "registry.example.com:0", "localhost:65536"])
def test_a_registry_parameter_that_is_no_registry_host_is_400_naming_it(serve: Serve, host: str) -> None:
    # `h/path` was taken as a host: the run looked for targets of `h/path/library/test`, which none runs.
    served = serve()
    envelope = {"events": [registry_event(0, "push", MANIFEST, "manifests", tag="2.1")]}
    answer = served.post(f"/webhooks/registry?registry={host}", envelope)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"].startswith("?registry= must be a registry host[:port]")
    assert served.status()["runs"] == []


@pytest.mark.parametrize("host", ["REGISTRY.EXAMPLE.COM:5000", "Registry.Example.com:5000"])
def test_a_registry_host_in_capitals_is_the_same_registry(serve: Serve, sim: Simulator, web: str, host: str) -> None:
    # A host name is case-insensitive (RFC 4343); the reference grammar allows capitals in it. The run of
    # a push naming the registry in capitals picks the target running registry.example.com:5000/shop/web.
    served = serve()
    event = registry_event(0, "push", MANIFEST, "manifests", tag="2.1", repository="shop/web")
    event["request"]["host"] = host
    answer = served.post("/webhooks/registry", {"events": [event]})
    assert answer.json()["accepted"][0]["repository"] == "registry.example.com:5000/shop/web", answer.text
    run = served.wait_until_done(1)
    assert (run["result"], [target["target"] for target in run["targets"]]) == ("upgraded", ["Default/shop/web"])


@pytest.mark.parametrize("path", ["/upgrade", "/webhooks/dockerhub", "/webhooks/harbor", "/webhooks/registry"])
@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000])
def test_a_body_nested_too_deeply_for_the_decoder_is_400_in_one_line(serve: Serve, path: str, body: bytes) -> None:
    served = serve()
    answer = served.request("POST", path, body=body)
    assert answer.status_code == 400
    assert answer.json() == {"error": "the body nests too deeply to be a sender's JSON"}
    assert served.status()["runs"] == []


@pytest.mark.parametrize("path, body, error", [
    ("/upgrade", b"{not json", "the body is not JSON"),
    ("/upgrade", b"[1, 2]", "the body is not a JSON object"),
    ("/upgrade", b'{"confirm": true}', "docker_image is missing or not a string"),
    ("/upgrade", b'{"docker_image": "App:1"}', "docker_image: 'App:1' has an invalid repository part 'App' "
                                               "(lower-case letters, digits and . _ - separators)"),
    ("/upgrade", b'{"docker_image": "shop/web"}', "docker_image: 'shop/web' names no tag; write repository:tag "
                                                  "(e.g. shop/web:1.2)"),
    ("/upgrade", b'{"docker_image": "shop/web:2", "confirm": "yes"}', 'confirm must be true or false, got "yes"'),
    ("/upgrade", b'{"docker_image": "shop/web:2", "timeout": 0}', "timeout must be a number of seconds of at least 1, "
                                                                  "got 0"),
    ("/webhooks/dockerhub", b'{"repository": {"repo_name": "a/b"}}', "push_data is missing or not an object"),
    ("/webhooks/dockerhub", b'{"push_data": {"tag": "1"}, "repository": {}}',
     "repository.repo_name is missing or not a string"),
    ("/webhooks/harbor", b'{"type": "PUSH_ARTIFACT", "event_data": {"resources": []}}',
     "event_data.resources is missing or empty"),
    ("/webhooks/registry", b'{"events": {}}', "events is missing or not a list"),
    ("/webhooks/registry", b'{"events": [{"action": "push", "target": {"mediaType": "' + MANIFEST.encode() +
     b'", "repository": "a/b", "tag": "1"}}]}', "events[0].request.host is missing (or name the registry: "
                                                "?registry=HOST)"),
])
def test_a_body_not_in_its_senders_format_is_400_in_one_line(
        serve: Serve, sim: Simulator, web: str, path: str, body: bytes, error: str) -> None:
    served = serve()
    answer = served.request("POST", path, body=body)
    assert answer.status_code == 400
    assert answer.text == json.dumps({"error": error}) + "\n"
    assert served.status()["runs"] == [] and sim.count("POST") == 0
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{OLD_IMAGE}"


def test_a_run_the_payload_left_unfinished_names_confirm_not_a_flag(serve: Serve, sim: Simulator, web: str) -> None:
    served = serve()
    assert served.post("/upgrade", {"docker_image": NEW_IMAGE, "confirm": False}).status_code == 202
    run = served.wait_until_done(1)
    assert (run["result"], run["meaning"]) == ("upgraded-unfinished", "done: upgraded and healthy, left unfinished as asked")
    (target,) = run["targets"]
    assert "left unfinished (the request's confirm: false)" in target["message"], target["message"]
    assert "--no-finish" not in served.log.getvalue()
