"""The simulator over real HTTP: shapes, headers, errors, filters, paging, scoping, actions, faults."""

from __future__ import annotations

import copy
import time
from typing import Any

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, SECRET_KEY, WEB_CONFIG


def seed_web(sim: Simulator, scale: int = 2, **kw: Any) -> str:
    stack = sim.add_stack("shop")
    return sim.add_service(stack, "web", copy.deepcopy(WEB_CONFIG), scale=scale, **kw)


def wait_state(api: requests.Session, url: str, wanted: str, timeout: float = 5.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        doc: dict[str, Any] = api.get(url).json()
        if doc["state"] == wanted or time.monotonic() > deadline:
            return doc
        time.sleep(0.005)


def new_config(image: str = "registry.example.com/shop/web:1.1") -> dict[str, Any]:
    config = copy.deepcopy(WEB_CONFIG)
    config["imageUuid"] = f"docker:{image}"
    return config


def error_shape(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "id"}


# ---- auth, headers, roots ----------------------------------------------------------------------

def test_401_with_challenge_and_rancher_body(sim: Simulator) -> None:
    r = requests.get(f"{sim.url}/v2-beta/no-such-thing", auth=("AK-sim-test", "wrong"))
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == (
        'Basic realm="Enter API access key and secret key as username and password"'
    )
    assert error_shape(r.json()) == {
        "type": "error",
        "links": {},
        "actions": {},
        "status": 401,
        "code": "Unauthorized",
        "message": "Unauthorized",
        "detail": None,
        "baseType": "error",
    }


def test_401_without_challenge_when_asked(sim: Simulator) -> None:
    r = requests.get(f"{sim.url}/v2-beta", headers={"X-API-No-Challenge": "true"})
    assert r.status_code == 401
    assert "WWW-Authenticate" not in r.headers


def test_headers_on_every_response(sim: Simulator, api: requests.Session) -> None:
    r = api.get(f"{sim.url}/v2-beta/services")
    assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    assert r.headers["X-API-Schemas"] == f"{sim.url}/v2-beta/schemas"
    assert r.headers["X-Rancher-Version"].startswith("v1.6.")
    assert r.headers["X-Api-Account-Id"] == "1a1"
    scoped = api.get(f"{sim.url}/v2-beta/projects/1a5/services")
    assert scoped.headers["X-API-Schemas"] == f"{sim.url}/v2-beta/projects/1a5/schemas"
    assert scoped.headers["X-Api-Account-Id"] == "1a5"
    missing = api.get(f"{sim.url}/v1/services/1s999")
    assert missing.headers["X-API-Schemas"] == f"{sim.url}/v1/schemas"


def test_404_body(sim: Simulator, api: requests.Session) -> None:
    r = api.get(f"{sim.url}/v2-beta/services/1s999")
    assert r.status_code == 404
    assert error_shape(r.json()) == {
        "type": "error",
        "links": {},
        "actions": {},
        "status": 404,
        "code": "Not Found",
        "message": "Not Found",
        "detail": None,
        "baseType": "error",
    }
    assert api.get(f"{sim.url}/v2-beta/widgets").status_code == 404


def test_405_on_wrong_method(sim: Simulator, api: requests.Session) -> None:
    r = api.delete(f"{sim.url}/v2-beta/services")
    assert r.status_code == 405
    assert r.json()["code"] == "Method not allowed"


def test_server_and_version_roots(sim: Simulator, api: requests.Session) -> None:
    root = api.get(sim.url + "/").json()
    assert [v["id"] for v in root["data"]] == ["v1", "v2-beta"]
    v2 = api.get(f"{sim.url}/v2-beta").json()
    assert v2["type"] == "apiVersion"
    assert v2["links"]["services"] == f"{sim.url}/v2-beta/services"
    assert v2["links"]["stacks"] == f"{sim.url}/v2-beta/stacks"
    assert "environments" in api.get(f"{sim.url}/v1").json()["links"]


def test_schemas(sim: Simulator, api: requests.Session) -> None:
    doc = api.get(f"{sim.url}/v2-beta/projects/1a5/schemas").json()
    service = next(s for s in doc["data"] if s["id"] == "service")
    assert service["links"]["collection"] == f"{sim.url}/v2-beta/projects/1a5/services"
    assert service["collectionMethods"] == ["GET", "POST"]
    assert "PUT" in service["resourceMethods"]
    assert service["resourceActions"]["upgrade"] == {"input": "serviceUpgrade", "output": "service"}
    assert service["collectionFilters"]["name"]["modifiers"][:3] == ["eq", "ne", "prefix"]
    assert service["resourceFields"]["launchConfig"]["update"] is False
    one = api.get(f"{sim.url}/v1/schemas/service").json()
    assert "environmentId" in one["resourceFields"] and "stackId" not in one["resourceFields"]
    assert "cancelrollback" in one["resourceActions"]


# ---- resources ---------------------------------------------------------------------------------

def test_service_resource_shape(sim: Simulator, api: requests.Session) -> None:
    sid = seed_web(sim)
    doc = api.get(f"{sim.url}/v2-beta/services/{sid}").json()
    assert list(doc)[:5] == ["id", "type", "links", "actions", "baseType"]
    assert next(iter(doc["links"])) == "self"
    assert doc["links"]["self"] == f"{sim.url}/v2-beta/services/{sid}"
    assert doc["actions"]["upgrade"] == f"{sim.url}/v2-beta/services/{sid}/?action=upgrade"
    assert doc["upgrade"] is None and doc["description"] is None
    assert doc["state"] == "active" and doc["transitioning"] == "no"
    assert doc["healthState"] == "healthy" and doc["currentScale"] == 2
    assert doc["launchConfig"]["imageUuid"] == WEB_CONFIG["imageUuid"]
    assert doc["launchConfig"]["version"] == "0"
    assert doc["launchConfig"]["secrets"] == WEB_CONFIG["secrets"]
    assert doc["createdTS"] > 1_600_000_000_000 and doc["created"].endswith("Z")


def test_v2beta_service_links_name_its_child_collections(sim: Simulator, api: requests.Session) -> None:
    # rancher-api.md §1.4: a v2-beta service links networkDrivers, serviceExposeMaps, serviceLogs and
    # storageDrivers at <self>/<name, lower-cased>; the simulator keeps none, so each lists nothing.
    sid = seed_web(sim)
    links = api.get(f"{sim.url}/v2-beta/projects/1a5/services/{sid}").json()["links"]
    for name, resource_type in (("networkDrivers", "networkDriver"), ("serviceExposeMaps", "serviceExposeMap"),
                                ("serviceLogs", "serviceLog"), ("storageDrivers", "storageDriver")):
        assert links[name] == f"{sim.url}/v2-beta/projects/1a5/services/{sid}/{name.lower()}"
        listed = api.get(links[name])
        assert listed.status_code == 200, listed.text
        assert (listed.json()["type"], listed.json()["resourceType"], listed.json()["data"]) == (
            "collection", resource_type, [])
    assert "containerStats" not in links  # a stats websocket's access, not modelled
    assert api.get(f"{sim.url}/v2-beta/services/1s999/networkdrivers").status_code == 404
    v1 = api.get(f"{sim.url}/v1/services/{sid}").json()["links"]
    assert "networkDrivers" not in v1 and api.get(f"{sim.url}/v1/services/{sid}/networkdrivers").status_code == 404


def test_v1_names_stacks_environments_and_hides_newer_fields(sim: Simulator, api: requests.Session) -> None:
    sid = seed_web(sim)
    doc = api.get(f"{sim.url}/v1/services/{sid}").json()
    assert doc["environmentId"] == "1e1" and "stackId" not in doc
    assert "baseType" not in doc
    assert "secrets" not in doc["launchConfig"]
    assert doc["links"]["environment"] == f"{sim.url}/v1/environments/1e1"
    env = api.get(doc["links"]["environment"]).json()
    assert env["type"] == "environment" and env["id"] == "1e1"
    assert api.get(f"{sim.url}/v2-beta/stacks/1e1").json()["id"] == "1st1"
    assert api.get(f"{sim.url}/v1/stacks").status_code == 404


def test_instances_collection_and_service_link(sim: Simulator, api: requests.Session) -> None:
    sid = seed_web(sim)
    svc = api.get(f"{sim.url}/v2-beta/services/{sid}").json()
    containers = api.get(svc["links"]["instances"]).json()["data"]
    assert [c["state"] for c in containers] == ["running", "running"]
    assert containers[0]["type"] == "container" and containers[0]["serviceIds"] == [sid]
    assert api.get(f"{sim.url}/v2-beta/containers/{containers[0]['id']}").json()["imageUuid"] == WEB_CONFIG["imageUuid"]
    assert len(api.get(f"{sim.url}/v2-beta/instances").json()["data"]) == 2


def test_container_service_ids_only_beyond_v1_and_never_of_a_removed_one(sim: Simulator, api: requests.Session) -> None:
    """cattle's InstanceOutputFilter adds serviceIds only for an API version other than v1, from the
    container's service maps, a removed one skipped; every version has the names cattle labels it with."""
    sid = seed_web(sim)
    v2 = api.get(f"{sim.url}/v2-beta/services/{sid}/instances").json()["data"]
    v1 = api.get(f"{sim.url}/v1/services/{sid}/instances").json()["data"]
    assert [c["serviceIds"] for c in v2] == [[sid], [sid]]
    assert [c["serviceIds"] for c in v1] == [None, None]
    for container in v1 + v2:
        assert container["labels"]["io.rancher.stack_service.name"] == "shop/web"
        assert container["labels"]["io.rancher.stack.name"] == "shop"
    assert api.delete(f"{sim.url}/v2-beta/services/{sid}").status_code == 200
    sim.advance(60)
    removed = api.get(f"{sim.url}/v2-beta/containers/{v2[0]['id']}").json()
    assert removed["state"] in ("removed", "purged") and removed["serviceIds"] is None


# ---- collections -------------------------------------------------------------------------------

def test_filters_and_modifiers(sim: Simulator, api: requests.Session) -> None:
    stack = sim.add_stack("shop")
    other = sim.add_stack("ops")
    for name in ("web", "web-admin", "api"):
        sim.add_service(stack, name, {"imageUuid": "docker:x"})
    sim.add_service(other, "web", {"imageUuid": "docker:x"}, scale=3)

    def names(**params: Any) -> list[str]:
        return [s["name"] for s in api.get(f"{sim.url}/v2-beta/services", params=params).json()["data"]]

    assert names(name="web") == ["web", "web"]
    assert names(name="web", stackId=stack) == ["web"]
    assert names(stackId="1e" + stack[3:], name="web") == ["web"]  # ids match by number
    assert names(name_prefix="web") == ["web", "web-admin", "web"]
    assert names(name_ne="web") == ["web-admin", "api"]
    assert names(name_like="%admin") == ["web-admin"]
    assert names(name_notlike="web%") == ["api"]
    assert names(name=["api", "web-admin"]) == ["web-admin", "api"]
    assert names(description_null="") == ["web", "web-admin", "api", "web"]
    assert names(createIndex_gt="2") == ["web"]
    assert names(bogus="1") == ["web", "web-admin", "api", "web"]  # unknown filters are ignored
    assert names(environmentId=stack) == ["web", "web-admin", "api", "web"]  # not a v2-beta filter
    doc = api.get(f"{sim.url}/v2-beta/services", params={"name": "web"}).json()
    assert doc["filters"]["name"] == [{"modifier": "eq", "value": "web"}]
    assert doc["filters"]["stackId"] is None
    assert doc["createTypes"]["service"] == f"{sim.url}/v2-beta/services"
    assert doc["sortLinks"]["name"].endswith("sort=name")
    assert names(sort="name", order="desc") == ["web-admin", "web", "web", "api"]


def test_pagination_through_250_services(sim: Simulator, api: requests.Session) -> None:
    stack = sim.add_stack("many")
    for n in range(250):
        sim.add_service(stack, f"svc-{n:03d}", {"imageUuid": "docker:x"}, state="inactive")
    first = api.get(f"{sim.url}/v2-beta/services").json()
    assert len(first["data"]) == 100 and first["pagination"]["limit"] == 100
    assert first["pagination"]["partial"] is True
    assert first["pagination"]["next"] == f"{sim.url}/v2-beta/services?marker=m100"
    seen: list[str] = []
    url: str | None = f"{sim.url}/v2-beta/services?limit=60&name_prefix=svc"
    while url:
        page = api.get(url).json()
        seen += [s["name"] for s in page["data"]]
        # cattle fills only next and partial; first and previous stay null on every page (§1.3).
        assert (page["pagination"]["first"], page["pagination"]["previous"]) == (None, None)
        url = page["pagination"]["next"]
    assert seen == [f"svc-{n:03d}" for n in range(250)]
    assert len(api.get(f"{sim.url}/v2-beta/services?limit=0").json()["data"]) == 250


@pytest.mark.parametrize("body", [b"{not json", b'{"name": "web",'])
def test_a_body_that_is_not_json_is_400_invalid_body_content(sim: Simulator, api: requests.Session,
                                                             body: bytes) -> None:
    stack = sim.add_stack("shop")
    r = api.post(f"{sim.url}/v2-beta/services", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert (r.json()["code"], r.json()["message"]) == ("InvalidBodyContent", "InvalidBodyContent")
    assert stack and api.get(f"{sim.url}/v2-beta/services").json()["data"] == []


@pytest.mark.parametrize("body", [b'"str"', b"123", b"[]"])
def test_json_that_is_no_object_is_ignored_like_an_empty_body(sim: Simulator, api: requests.Session,
                                                             body: bytes) -> None:
    """cattle's BodyParserRequestHandler keeps a Map or a List; anything else parses to no body, so the
    request fails the resource's own validation (422), not the parser (400)."""
    sim.add_stack("shop")
    r = api.post(f"{sim.url}/v2-beta/services", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["code"] != "InvalidBodyContent"


# ---- projects and keys -------------------------------------------------------------------------

def test_project_scoping_and_environment_keys(sim: Simulator, api: requests.Session) -> None:
    seed_web(sim)
    other = sim.add_project("Staging")
    assert other == "1a7"
    theirs = sim.add_stack("theirs", other)
    sim.add_service(theirs, "db", {"imageUuid": "docker:postgres"})
    access, secret = sim.add_environment_key(other)
    env = requests.Session()
    env.auth = (access, secret)

    # account key: unscoped means the default project; scoped links stay scoped
    assert [s["name"] for s in api.get(f"{sim.url}/v2-beta/services").json()["data"]] == ["web"]
    scoped = api.get(f"{sim.url}/v2-beta/projects/{other}/services").json()
    assert [s["name"] for s in scoped["data"]] == ["db"]
    assert scoped["data"][0]["links"]["self"].startswith(f"{sim.url}/v2-beta/projects/{other}/services/")
    assert {p["id"] for p in api.get(f"{sim.url}/v2-beta/projects").json()["data"]} == {"1a5", other}

    # environment key: unscoped is its own project, other projects are forbidden
    assert [s["name"] for s in env.get(f"{sim.url}/v2-beta/services").json()["data"]] == ["db"]
    assert [p["id"] for p in env.get(f"{sim.url}/v2-beta/projects").json()["data"]] == [other]
    denied = env.get(f"{sim.url}/v2-beta/projects/1a5/services")
    assert denied.status_code == 403
    assert denied.json()["code"] == "Forbidden" and denied.json()["message"] == "Forbidden"
    # another project's resource by id through your own scope is simply not found
    web_id = api.get(f"{sim.url}/v2-beta/services").json()["data"][0]["id"]
    assert env.get(f"{sim.url}/v2-beta/services/{web_id}").status_code == 404
    assert api.get(f"{sim.url}/v2-beta/projects/1a99/services").status_code == 403


def test_project_resource_has_scoped_links_and_schemas_header(sim: Simulator, api: requests.Session) -> None:
    r = api.get(f"{sim.url}/v2-beta/projects/1a5")
    doc = r.json()
    assert doc["type"] == "project" and doc["name"] == "Default"
    assert doc["links"]["services"] == f"{sim.url}/v2-beta/projects/1a5/services"
    assert r.headers["X-API-Schemas"] == f"{sim.url}/v2-beta/projects/1a5/schemas"


# ---- create, update, delete --------------------------------------------------------------------

def test_create_stack_and_service_over_http(sim: Simulator, api: requests.Session) -> None:
    stack = api.post(f"{sim.url}/v2-beta/stacks", json={"name": "shop"})
    assert stack.status_code == 201 and stack.json()["state"] == "activating"
    body = {"name": "web", "stackId": stack.json()["id"], "launchConfig": WEB_CONFIG, "startOnCreate": True}
    created = api.post(f"{sim.url}/v2-beta/services", json=body)
    assert created.status_code == 201
    doc = created.json()
    assert doc["state"] == "registering"
    assert (doc["transitioning"], doc["transitioningMessage"]) == ("yes", "In Progress")
    assert wait_state(api, doc["links"]["self"], "active")["state"] == "active"
    duplicate = api.post(f"{sim.url}/v2-beta/services", json=body)
    assert (duplicate.status_code, duplicate.json()["code"], duplicate.json()["fieldName"]) == (422, "NotUnique", "name")


def test_create_validations(sim: Simulator, api: requests.Session) -> None:
    stack = sim.add_stack("shop")
    url = f"{sim.url}/v2-beta/services"
    cases = [
        ({"stackId": stack, "launchConfig": WEB_CONFIG}, "MissingRequired", "name"),
        ({"name": "x", "launchConfig": WEB_CONFIG}, "MissingRequired", "stackId"),
        ({"name": "x", "stackId": stack, "launchConfig": {"imageUuid": "nginx"}}, "InvalidReference", "imageUuid"),
        ({"name": "x", "stackId": stack, "launchConfig": WEB_CONFIG, "scale": -1}, "MinLimitExceeded", "scale"),
        ({"name": "bad name", "stackId": stack, "launchConfig": WEB_CONFIG}, "InvalidCharacters", "name"),
    ]
    for body, code, field in cases:
        r = api.post(url, json=body)
        assert (r.status_code, r.json()["code"], r.json()["fieldName"], r.json()["message"]) == (422, code, field, None)


def test_v1_create_takes_environment_id(sim: Simulator, api: requests.Session) -> None:
    stack = sim.add_stack("shop")
    body = {"name": "web", "environmentId": "1e" + stack[3:], "launchConfig": {"imageUuid": "docker:x"}}
    r = api.post(f"{sim.url}/v1/services", json=body)
    assert r.status_code == 201 and r.json()["environmentId"] == "1e" + stack[3:]


def test_put_applies_updatable_fields_only(sim: Simulator, api: requests.Session) -> None:
    sid = seed_web(sim)
    url = f"{sim.url}/v2-beta/services/{sid}"
    r = api.put(url, json={"description": "shop front", "launchConfig": {"imageUuid": "docker:evil"}})
    assert r.status_code == 200
    assert r.json()["description"] == "shop front"
    assert r.json()["launchConfig"]["imageUuid"] == WEB_CONFIG["imageUuid"]


def test_delete_answers_removing_and_removed_stays_fetchable(frozen_sim: Simulator, api: requests.Session) -> None:
    sid = seed_web(frozen_sim)
    url = f"{frozen_sim.url}/v2-beta/services/{sid}"
    r = api.delete(url)
    assert r.status_code == 200 and r.json()["state"] == "removing"
    frozen_sim.advance(10)
    doc = api.get(url).json()
    assert doc["state"] == "removed" and doc["removed"] is not None and doc["actions"] == {}
    assert api.get(f"{frozen_sim.url}/v2-beta/services").json()["data"] == []
    assert len(api.get(f"{frozen_sim.url}/v2-beta/services?state=removed").json()["data"]) == 1


# ---- the upgrade family ------------------------------------------------------------------------

def test_upgrade_validation_bodies(sim: Simulator, api: requests.Session) -> None:
    sid = seed_web(sim)
    url = f"{sim.url}/v2-beta/services/{sid}/?action=upgrade"
    cases = [
        ({}, "MissingRequired", "Upgrade strategy needs to be set"),
        (
            {"inServiceStrategy": {}},
            "InvalidOption",
            "LaunchConfig/secondaryLaunchConfigs need to be specified for inService strategy",
        ),
        ({"inServiceStrategy": {"launchConfig": {"imageUuid": "nginx:2"}}}, "InvalidReference", "imageUuid"),
        ({"inServiceStrategy": {"launchConfig": new_config(), "batchSize": 0}}, "MinLimitExceeded", "batchSize"),
        ({"inServiceStrategy": {"launchConfig": new_config(), "intervalMillis": 5}}, "MinLimitExceeded", "intervalMillis"),
    ]
    for body, code, field in cases:
        r = api.post(url, json=body)
        assert error_shape(r.json()) == {
            "type": "error",
            "links": {},
            "actions": {},
            "status": 422,
            "code": code,
            "message": None,
            "detail": None,
            "fieldName": field,
            "baseType": "error",
        }
    assert api.get(f"{sim.url}/v2-beta/services/{sid}").json()["state"] == "active"


def test_invalid_action_and_missing_action(sim: Simulator, api: requests.Session) -> None:
    sid = seed_web(sim)
    r = api.post(f"{sim.url}/v2-beta/services/{sid}/?action=explode")
    assert (r.status_code, r.json()["code"], r.json()["fieldName"]) == (422, "InvalidAction", "action")
    assert api.post(f"{sim.url}/v2-beta/services/{sid}").status_code == 405


def test_upgrade_finish_over_http(frozen_sim: Simulator, api: requests.Session) -> None:
    sim = frozen_sim
    sid = seed_web(sim)
    url = f"{sim.url}/v2-beta/services/{sid}"
    r = api.post(f"{url}/?action=upgrade", json={"inServiceStrategy": {"launchConfig": new_config(), "batchSize": 2}})
    assert r.status_code == 202
    doc = r.json()
    assert doc["state"] == "upgrading" and doc["transitioning"] == "yes"
    assert doc["launchConfig"]["imageUuid"] == "docker:registry.example.com/shop/web:1.1"
    strategy = doc["upgrade"]["inServiceStrategy"]
    assert strategy["previousLaunchConfig"]["imageUuid"] == WEB_CONFIG["imageUuid"]
    assert strategy["previousLaunchConfig"]["version"] == "0"
    assert set(doc["actions"]) == {"update", "remove", "cancelupgrade", "rollback", *LINKS}
    assert doc["healthState"] == "healthy"
    sim.advance(2)
    assert api.get(url).json()["healthState"] == "initializing"
    sim.advance(10)
    doc = api.get(url).json()
    assert doc["state"] == "upgraded" and doc["transitioning"] == "no"
    assert set(doc["actions"]) == {"remove", "rollback", "finishupgrade", *LINKS}
    again = api.post(f"{url}/?action=upgrade", json={"inServiceStrategy": {"launchConfig": new_config("x:3")}})
    assert (again.status_code, again.json()["code"], again.json()["fieldName"]) == (422, "ActionNotAvailable", "action")
    finishing = api.post(doc["actions"]["finishupgrade"])
    assert finishing.status_code == 202 and finishing.json()["state"] == "finishing-upgrade"
    sim.advance(5)
    doc = api.get(url).json()
    assert doc["state"] == "active" and doc["upgrade"] is not None
    containers = api.get(doc["links"]["instances"]).json()["data"]
    assert {c["version"] for c in containers} == {doc["launchConfig"]["version"]}


def test_finish_is_active_while_the_old_containers_are_still_removing(frozen_sim: Simulator,
                                                                     api: requests.Session) -> None:
    # Cattle 1.6 schedules the old containers' remove and does not wait (cleanupUpgradedInstances):
    # over HTTP the service is active and healthy while they still show `removing`.
    sim = frozen_sim
    timing = Timing(speed=0.0)
    sid = seed_web(sim)
    url = f"{sim.url}/v2-beta/services/{sid}"
    api.post(f"{url}/?action=upgrade", json={"inServiceStrategy": {"launchConfig": new_config(), "batchSize": 2}})
    sim.advance(60)
    api.post(f"{url}/?action=finishupgrade")
    sim.advance(timing.finish_reconcile)
    doc = api.get(url).json()
    assert (doc["state"], doc["transitioning"], doc["healthState"]) == ("active", "no", "healthy")
    containers = api.get(doc["links"]["instances"]).json()["data"]
    old = [c for c in containers if c["version"] != doc["launchConfig"]["version"]]
    assert [c["state"] for c in old] == ["removing", "removing"]
    sim.advance(timing.finish_cleanup)
    states = {c["id"]: c["state"] for c in api.get(doc["links"]["instances"]).json()["data"]}
    assert all(states.get(c["id"], "removed") == "removed" for c in old)


def test_action_url_without_slash_works(sim: Simulator, api: requests.Session) -> None:
    sid = seed_web(sim)
    r = api.post(f"{sim.url}/v2-beta/services/{sid}?action=restart", json={"rollingRestartStrategy": {}})
    assert r.status_code == 202 and r.json()["state"] == "restarting"


def test_rollback_over_http(frozen_sim: Simulator, api: requests.Session) -> None:
    sim = frozen_sim
    sid = seed_web(sim)
    url = f"{sim.url}/v2-beta/services/{sid}"
    api.post(f"{url}/?action=upgrade", json={"inServiceStrategy": {"launchConfig": new_config()}})
    sim.advance(3)
    r = api.post(f"{url}/?action=rollback")
    assert r.status_code == 202
    assert r.json()["state"] == "rolling-back"
    assert r.json()["launchConfig"]["imageUuid"] == WEB_CONFIG["imageUuid"]
    assert r.json()["launchConfig"]["version"] == "0"
    sim.advance(30)
    doc = api.get(url).json()
    assert doc["state"] == "active"
    assert [i["imageUuid"] for i in sim.instances(sid)] == [WEB_CONFIG["imageUuid"]] * 2


def test_a_rollback_while_an_old_container_is_still_stopping_reconciles_the_service_to_its_scale(
        frozen_sim: Simulator, api: requests.Session) -> None:
    """Rolled back before the first batch's replacement exists (its old container still stopping):
    cattle never marks that unit back (getInstancesToUpgrade lists managed containers only), so the
    rollback's finishUpgrade removes the old container and the reconcile gives the unit a new one."""
    sim = frozen_sim
    sid = seed_web(sim)
    url = f"{sim.url}/v2-beta/services/{sid}"
    api.post(f"{url}/?action=upgrade", json={"inServiceStrategy": {"launchConfig": new_config(), "batchSize": 1}})
    assert [i["state"] for i in sim.instances(sid)] == ["stopping", "running"]
    assert api.post(f"{url}/?action=rollback").json()["state"] == "rolling-back"
    sim.advance(120)
    doc = api.get(url).json()
    assert (doc["state"], doc["healthState"], doc["currentScale"]) == ("active", "healthy", 2)
    running = [i for i in sim.instances(sid) if i["state"] == "running"]
    assert [i["imageUuid"] for i in running] == [WEB_CONFIG["imageUuid"]] * 2
    assert all(i["healthState"] == "healthy" for i in running)


def test_cancel_and_continue_over_http(frozen_sim: Simulator, api: requests.Session) -> None:
    sim = frozen_sim
    sid = seed_web(sim)
    url = f"{sim.url}/v2-beta/services/{sid}"
    api.post(f"{url}/?action=upgrade", json={"inServiceStrategy": {"launchConfig": new_config()}})
    sim.advance(1)
    assert api.post(f"{url}/?action=cancelupgrade").json()["state"] == "canceling-upgrade"
    sim.advance(1)
    doc = api.get(url).json()
    assert doc["state"] == "canceled-upgrade"
    assert set(doc["actions"]) == {"remove", "continueupgrade", "rollback", *LINKS}
    assert api.post(doc["actions"]["continueupgrade"]).json()["state"] == "upgrading"
    sim.advance(60)
    assert api.get(url).json()["state"] == "upgraded"


def upgrade_to_an_unhealthy_image(sim: Simulator, api: requests.Session, **health_check: Any) -> tuple[str, str]:
    """A scale-1 web upgraded to an image that never gets healthy; returns its id and URL."""
    sid = seed_web(sim, scale=1)
    sim.faults.unhealthy_image("registry.example.com/shop/web:1.1")
    url = f"{sim.url}/v2-beta/services/{sid}"
    config = new_config()
    config["healthCheck"] = {**config["healthCheck"], **health_check}
    api.post(f"{url}/?action=upgrade", json={"inServiceStrategy": {"launchConfig": config}})
    return sid, url


def test_unhealthy_image_waits_without_transitioning_error(frozen_sim: Simulator, api: requests.Session) -> None:
    # Real 1.6 (ActivityLogImpl, "Don't set error when exception is timeout"): the service keeps
    # upgrading with transitioning "yes"; only the message says which container it waits for.
    sim = frozen_sim
    sid, url = upgrade_to_an_unhealthy_image(sim, api)
    sim.advance(30)
    doc = api.get(url).json()
    assert (doc["state"], doc["transitioning"], doc["healthState"]) == ("upgrading", "yes", "initializing")
    assert doc["transitioningMessage"] == "In Progress"
    sim.advance(30)
    doc = api.get(url).json()
    new_id = sim.instances(sid)[-1]["id"]
    assert (doc["state"], doc["transitioning"]) == ("upgrading", "yes")
    assert doc["transitioningMessage"] == f"Waiting: healthy [container:{new_id}]"
    sim.advance(3600)
    assert api.get(url).json()["transitioning"] == "yes"


def test_a_stuck_container_is_recreated_with_a_new_id(frozen_sim: Simulator, api: requests.Session) -> None:
    sim = frozen_sim
    _, url = upgrade_to_an_unhealthy_image(sim, api, strategy="recreate", initializingTimeout=20000)
    sim.advance(10)
    first = [i["id"] for i in api.get(f"{url}/instances").json()["data"] if i["state"] == "running"]
    sim.advance(30)
    running = [i for i in api.get(f"{url}/instances").json()["data"] if i["state"] != "removed"]
    assert first and first[0] not in [i["id"] for i in running]
    assert [i["healthState"] for i in running if i["imageUuid"].endswith(":1.1")] == ["initializing"]
    assert api.get(url).json()["state"] == "upgrading"


def test_a_container_that_exits_at_start_sets_transitioning_error(frozen_sim: Simulator, api: requests.Session) -> None:
    sim = frozen_sim
    sid = seed_web(sim, scale=1)
    api.post(f"{sim.url}/_sim/faults", json={"kind": "failing_image", "image": "registry.example.com/shop/web:1.1"})
    url = f"{sim.url}/v2-beta/services/{sid}"
    api.post(f"{url}/?action=upgrade", json={"inServiceStrategy": {"launchConfig": new_config()}})
    sim.advance(10)
    doc = api.get(url).json()
    assert (doc["state"], doc["transitioning"]) == ("upgrading", "error")
    assert doc["transitioningMessage"].startswith("Container should have been running but is in stopped state")


def test_upgrade_completes_in_real_time_with_fast_timing(sim: Simulator, api: requests.Session) -> None:
    # The simulator's clock alone completes it (nothing calls advance); how fast is its speed's
    # business (Timing.fast: 1 ms a simulated second), not a wall-clock bound a loaded machine breaks.
    sid = seed_web(sim)
    url = f"{sim.url}/v2-beta/services/{sid}"
    started = sim.now()
    api.post(f"{url}/?action=upgrade", json={"inServiceStrategy": {"launchConfig": new_config()}})
    assert wait_state(api, url, "upgraded", timeout=10)["state"] == "upgraded"
    timing = Timing.fast()
    # stop, start and health-check each of the two containers: the simulated seconds the clock ran through
    assert sim.now() - started >= 2 * (timing.container_stop + timing.container_start + timing.health_check)


LINKS = ("addservicelink", "removeservicelink", "setservicelinks")


# ---- faults ------------------------------------------------------------------------------------

def test_fail_next_answers_error_then_recovers(sim: Simulator, api: requests.Session) -> None:
    sim.faults.fail_next("/services", count=2, status=503, method="GET")
    assert api.post(f"{sim.url}/v2-beta/services", json={}).status_code == 422  # method does not match
    first = api.get(f"{sim.url}/v2-beta/services")
    assert first.status_code == 503 and first.json()["code"] == "Service Unavailable"
    assert api.get(f"{sim.url}/v2-beta/services").status_code == 503
    assert api.get(f"{sim.url}/v2-beta/services").status_code == 200


def test_fail_next_drop_loses_the_answer_not_the_request(frozen_sim: Simulator, api: requests.Session) -> None:
    sid = seed_web(frozen_sim)
    frozen_sim.faults.fail_next("/services/", method="POST", drop=True)
    with pytest.raises(requests.ConnectionError):
        api.post(f"{frozen_sim.url}/v2-beta/services/{sid}/?action=deactivate")
    assert frozen_sim.service(sid)["state"] == "deactivating"
    assert api.get(f"{frozen_sim.url}/v2-beta/services/{sid}").status_code == 200
    assert [(r.method, r.status) for r in frozen_sim.requests] == [("POST", 0), ("GET", 200)]


def test_fail_next_with_status_changes_nothing(frozen_sim: Simulator, api: requests.Session) -> None:
    sid = seed_web(frozen_sim)
    frozen_sim.faults.fail_next("/services/", method="POST", status=502)
    r = api.post(f"{frozen_sim.url}/v2-beta/services/{sid}/?action=deactivate")
    assert (r.status_code, r.json()["code"]) == (502, "Bad Gateway")
    assert frozen_sim.service(sid)["state"] == "active"


def test_latency(sim: Simulator, api: requests.Session) -> None:
    sim.faults.latency(0.1, "/services")
    started = time.monotonic()
    api.get(f"{sim.url}/v2-beta/services")
    assert time.monotonic() - started >= 0.1
    # Which requests wait is the rule's match, not a stopwatch a loaded machine would stretch.
    assert sim.faults.delay_for("/v2-beta/services?limit=5") == 0.1
    assert sim.faults.delay_for("/v2-beta/stacks") == 0


def test_a_client_that_gives_up_leaves_no_traceback(sim: Simulator, api: requests.Session,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    sim.faults.latency(0.15, "/services")
    with pytest.raises(requests.Timeout):
        api.get(f"{sim.url}/v2-beta/services", timeout=0.02)
    deadline = time.monotonic() + 5
    while not sim.requests and time.monotonic() < deadline:  # the server finishes its answer
        time.sleep(0.01)
    time.sleep(0.05)
    assert "Traceback" not in capsys.readouterr().err


def test_refuse_connections_then_reopen_on_same_port(sim: Simulator) -> None:
    port = sim.port
    sim.faults.refuse_connections(0.3)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sim.url}/v2-beta", auth=(ACCESS_KEY, SECRET_KEY), timeout=1)
    deadline = time.monotonic() + 3
    while True:
        try:
            r = requests.get(f"{sim.url}/v2-beta", auth=(ACCESS_KEY, SECRET_KEY), timeout=1)
            break
        except requests.ConnectionError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    assert r.status_code == 200 and sim.port == port


def test_fail_action_over_http(frozen_sim: Simulator, api: requests.Session) -> None:
    sim = frozen_sim
    sid = seed_web(sim)
    url = f"{sim.url}/v2-beta/services/{sid}"
    api.post(f"{url}/?action=upgrade", json={"inServiceStrategy": {"launchConfig": new_config()}})
    sim.advance(60)
    sim.faults.fail_action(sid, "rollback")
    assert api.post(f"{url}/?action=rollback").status_code == 202
    sim.advance(600)
    doc = api.get(url).json()
    assert doc["state"] == "rolling-back" and doc["transitioning"] == "error"


def test_hang_all(frozen_sim: Simulator, api: requests.Session) -> None:
    sim = frozen_sim
    sid = seed_web(sim)
    sim.faults.hang()
    api.post(f"{sim.url}/v2-beta/services/{sid}/?action=deactivate")
    sim.advance(100)
    assert sim.service(sid)["state"] == "deactivating"
    sim.faults.clear()
    assert sim.service(sid)["state"] == "inactive"


# ---- request log and control API ---------------------------------------------------------------

def test_request_log_and_counts(sim: Simulator, api: requests.Session) -> None:
    api.get(f"{sim.url}/v2-beta/projects/1a5/services", params={"name": "web"})
    api.get(f"{sim.url}/v2-beta/services/1s9")
    requests.get(f"{sim.url}/_sim/requests")
    assert [(r.method, r.path, r.query, r.status, r.project_id) for r in sim.requests] == [
        ("GET", "/v2-beta/projects/1a5/services", "name=web", 200, "1a5"),
        ("GET", "/v2-beta/services/1s9", "", 404, "1a5"),
    ]
    assert sim.count("GET", "/services") == 2 and sim.count("POST") == 0
    sim.reset_log()
    assert sim.requests == []


def test_control_api(sim: Simulator, api: requests.Session) -> None:
    ctl = f"{sim.url}/_sim"
    seeded = requests.post(
        f"{ctl}/seed",
        json={
            "stacks": [{"name": "shop"}],
            "services": [{"stack": "shop", "name": "web", "launchConfig": {"imageUuid": "docker:web:1"}, "scale": 2}],
        },
    ).json()
    sid = seeded["services"][0]
    assert seeded["stacks"] == ["1st1"] and sim.service(sid)["state"] == "active"
    api.get(f"{sim.url}/v2-beta/services/{sid}")
    log = requests.get(f"{ctl}/requests").json()
    assert log["counts"]["total"] == 1 and log["requests"][0]["path"] == f"/v2-beta/services/{sid}"
    assert requests.delete(f"{ctl}/requests").status_code == 200 and sim.requests == []
    before = sim.now()
    assert requests.post(f"{ctl}/advance", json={"seconds": 500}).json()["now"] >= before + 500
    requests.post(f"{ctl}/faults", json={"kind": "fail_next", "pathContains": "/stacks", "status": 500})
    assert api.get(f"{sim.url}/v2-beta/stacks").status_code == 500
    requests.post(f"{ctl}/faults", json={"kind": "unhealthy_image", "image": "web:2"})
    assert requests.get(f"{ctl}/faults").json()["unhealthyImages"] == ["docker:web:2"]
    assert requests.delete(f"{ctl}/faults").json()["unhealthyImages"] == []
    state = requests.get(f"{ctl}/state").json()
    assert state["services"][0]["launchConfig"] == {"imageUuid": "docker:web:1"}
    assert requests.post(f"{ctl}/faults", json={"kind": "nope"}).status_code == 400
    assert requests.post(f"{ctl}/reset").status_code == 200
    assert api.get(f"{sim.url}/v2-beta/services").json()["data"] == []


def test_state_file_round_trip(tmp_path: Any) -> None:
    path = str(tmp_path / "state.json")
    with Simulator("AK", "SK", timing=Timing.fast(), state_file=path) as first:
        project = first.add_project("Staging")
        access, secret = first.add_environment_key(project)
        stack = first.add_stack("shop", project)
        sid = first.add_service(stack, "web", {"imageUuid": "docker:web:1"}, scale=2)
        lb = first.add_service(stack, "lb", {"imageUuid": "docker:lb:1"}, kind="loadBalancerService",
                               fields={"lbConfig": {"portRules": [{"sourcePort": 80, "targetPort": 8080}]}})
    with Simulator("AK", "SK", timing=Timing.fast(), state_file=path) as second:
        session = requests.Session()
        session.auth = (access, secret)
        doc = session.get(f"{second.url}/v2-beta/services/{sid}").json()
        assert (doc["name"], doc["scale"], doc["state"], doc["accountId"]) == ("web", 2, "active", project)
        doc = session.get(f"{second.url}/v2-beta/loadbalancerservices/{lb}").json()
        assert (doc["type"], doc["lbConfig"]["portRules"][0]["targetPort"]) == ("loadBalancerService", 8080)
        assert second.add_project("Next") == "1a8"


def test_https(tmp_path: Any) -> None:
    subprocess = pytest.importorskip("subprocess")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        capture_output=True,
    )
    if made.returncode != 0:
        pytest.skip("openssl not available")
    with Simulator("AK", "SK", tls_cert=str(cert), tls_key=str(key)) as sim:
        assert sim.url.startswith("https://")
        r = requests.get(f"{sim.url}/v2-beta", auth=("AK", "SK"), verify=str(cert))
        assert r.status_code == 200
        assert r.json()["links"]["self"].startswith("https://")


def test_unsupported_rancher_version() -> None:
    with pytest.raises(ValueError, match="not simulated"):
        Simulator("AK", "SK", rancher_version="3.0")


def test_account_id_header_names_the_project_however_it_was_chosen(sim: Simulator, api: requests.Session) -> None:
    other = sim.add_project("Staging")
    by_header = api.get(f"{sim.url}/v2-beta/stacks", headers={"X-API-Project-Id": other})
    by_query = api.get(f"{sim.url}/v2-beta/stacks", params={"projectId": other})
    by_path = api.get(f"{sim.url}/v2-beta/projects/{other}/stacks")
    assert {r.headers["X-Api-Account-Id"] for r in (by_header, by_query, by_path)} == {other}
