"""The subscribe websockets as Rancher serves them (docs/simulator.md, "Event streams"): cattle's on
1.6 and norman's on 2.x, on the API's own port, read with websocket-client as Rancher's own tests do.

Simulated time stands still but for `advance`, so each event is where the test puts it.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import websocket

from rancher_deploy.simulator import Simulator, Timing
from rancher_deploy.simulator.cattle.subscribe import next_beat, publish_seconds

from .conftest import ACCESS_KEY, K8S_SECRET, K8S_TOKEN, SECRET_KEY, WEB_CONFIG

Message = dict[str, Any]
BASIC = "Basic " + base64.b64encode(f"{ACCESS_KEY}:{SECRET_KEY}".encode()).decode()
BEARER = f"Bearer {K8S_TOKEN}:{K8S_SECRET}"
# Every field of cattle's EventVO as Jackson writes it (listenerKey is @XmlTransient).
EVENT_FIELDS = {"id", "name", "replyTo", "resourceId", "resourceType", "publisher", "transitioning",
                "transitioningMessage", "transitioningInternalMessage", "previousIds", "previousNames", "data",
                "time", "timeoutMillis", "transitioningProgress", "context"}


def subscribe(sim: Simulator, path: str, authorization: str = BASIC, **options: Any) -> websocket.WebSocket:
    return websocket.create_connection(sim.url.replace("http", "ws", 1) + path, header={"Authorization": authorization},
                                       **{"timeout": 5, "suppress_origin": True, **options})


def messages(ws: websocket.WebSocket, count: int) -> list[Message]:
    return [json.loads(ws.recv()) for _ in range(count)]


def refusal(sim: Simulator, path: str, authorization: str = BASIC, **options: Any) -> websocket.WebSocketBadStatusException:
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        subscribe(sim, path, authorization, **options)
    return refused.value


def upgrade(sim: Simulator, service: str) -> None:
    answer = requests.post(f"{sim.url}/v2-beta/projects/1a5/services/{service}/?action=upgrade",
                           auth=(ACCESS_KEY, SECRET_KEY), timeout=5, json={"inServiceStrategy": {
                               "launchConfig": {**WEB_CONFIG, "imageUuid": "docker:web:2"}, "batchSize": 1,
                               "intervalMillis": 2000}})
    assert answer.status_code == 202, answer.text


@pytest.fixture
def cattle() -> Iterator[Simulator]:
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing(speed=0.0)) as simulator:
        yield simulator


@pytest.fixture
def web(cattle: Simulator) -> str:
    return cattle.add_service(cattle.add_stack("shop"), "web", dict(WEB_CONFIG), scale=2)


# -- cattle (1.6) --------------------------------------------------------------------------------------


def test_cattle_pings_first_then_publishes_each_change_with_the_resource_as_a_get_renders_it(
        cattle: Simulator, web: str) -> None:
    ws = subscribe(cattle, "/v2-beta/projects/1a5/subscribe?eventNames=resource.change")
    assert ws.getstatus() == 101
    ping = messages(ws, 1)[0]
    assert set(ping) == EVENT_FIELDS and ping["name"] == "ping"
    assert ping["data"] == {"options": {}, "resources": []} and isinstance(ping["time"], int)
    upgrade(cattle, web)
    changes = messages(ws, 2)
    assert all(set(change) == EVENT_FIELDS and change["name"] == "resource.change" for change in changes)
    service = next(change for change in changes if change["resourceType"] == "service")
    assert service["resourceId"] == web
    answered = requests.get(f"{cattle.url}/v2-beta/projects/1a5/services/{web}", auth=(ACCESS_KEY, SECRET_KEY),
                            timeout=5).json()
    assert service["data"]["resource"] == answered   # links under the subscription's project, as the GET's
    assert answered["state"] == "upgrading"
    cattle.advance(30)
    seen: list[Message] = []
    while not any(m["resourceType"] == "service" and m["data"]["resource"]["state"] == "upgraded" for m in seen):
        seen += messages(ws, 1)
    containers = [m for m in seen if m["resourceType"] == "container"]
    assert containers and all(web in m["data"]["resource"]["serviceIds"] for m in containers)
    assert {m["data"]["resource"]["healthState"] for m in containers} >= {"healthy"}
    ws.close()


def test_cattle_sends_no_state_when_subscribed_and_only_the_event_names_asked_for(cattle: Simulator, web: str) -> None:
    quiet = subscribe(cattle, "/v2-beta/projects/1a5/subscribe")   # no eventNames: pings only
    told = subscribe(cattle, "/v2-beta/subscribe?eventNames=resource.change")  # the key's project: 1a5
    assert messages(quiet, 1)[0]["name"] == messages(told, 1)[0]["name"] == "ping"
    upgrade(cattle, web)
    assert messages(told, 1)[0]["name"] == "resource.change"
    cattle.advance(5)
    assert messages(quiet, 1)[0]["name"] == "ping"   # the next ping, 5 s on; nothing between
    quiet.close()
    told.close()


def test_cattle_pings_every_five_simulated_seconds_and_closes_after_its_last(cattle: Simulator) -> None:
    ws = subscribe(cattle, "/v1/projects/1a5/subscribe?eventNames=resource.change")
    assert messages(ws, 1)[0]["name"] == "ping"
    cattle.advance(5)
    assert messages(ws, 1)[0]["name"] == "ping"
    cattle.advance(5 * 8640)   # api.sub.max.pings
    assert messages(ws, 1)[0]["name"] == "ping"
    opcode, _ = ws.recv_data()
    assert opcode == websocket.ABNF.OPCODE_CLOSE


def test_cattle_refuses_as_it_does_a_plain_get_a_bad_key_and_another_project(cattle: Simulator) -> None:
    plain = requests.get(f"{cattle.url}/v2-beta/projects/1a5/subscribe", auth=(ACCESS_KEY, SECRET_KEY), timeout=5)
    assert (plain.status_code, plain.json()["code"]) == (404, "Not Found")   # no Upgrade: NotFoundHandler
    refused = refusal(cattle, "/v2-beta/projects/1a5/subscribe", "Basic " + base64.b64encode(b"AK:wrong").decode())
    assert refused.status_code == 401 and json.loads(refused.resp_body or b"")["code"] == "Unauthorized"
    assert "www-authenticate" not in (refused.resp_headers or {}), "no challenge for a websocket upgrade"
    other = cattle.add_project("Staging")
    access, secret = cattle.add_environment_key(other)
    key = "Basic " + base64.b64encode(f"{access}:{secret}".encode()).decode()
    assert refusal(cattle, "/v2-beta/projects/1a5/subscribe", key).status_code == 403


def test_include_instances_embeds_the_containers_of_the_first_include_only_within_the_page(
        cattle: Simulator, web: str, api: requests.Session) -> None:
    url = f"{cattle.url}/v2-beta/projects/1a5/services/{web}"
    embedded = api.get(url, params={"include": "instances"}, timeout=5).json()["instances"]
    listed = api.get(f"{url}/instances", timeout=5).json()["data"]
    assert [c["id"] for c in embedded] == [c["id"] for c in listed] and len(embedded) == 2
    assert "instances" not in api.get(url, params=[("include", "stack"), ("include", "instances")], timeout=5).json()
    assert len(api.get(url, params={"include": "instances", "limit": "1"}, timeout=5).json()["instances"]) == 1


def test_drop_streams_cuts_a_subscription_with_a_reset(cattle: Simulator) -> None:
    """Neither a close frame nor a FIN (norman's own end): a reset, as a proxy that cuts it."""
    ws = subscribe(cattle, "/v2-beta/projects/1a5/subscribe?eventNames=resource.change")
    messages(ws, 1)
    cattle.faults.drop_streams()
    with pytest.raises(ConnectionResetError):
        ws.recv()


# -- norman (2.x) ----------------------------------------------------------------------------------------


@pytest.fixture
def norman() -> Iterator[Simulator]:
    with Simulator(K8S_TOKEN, K8S_SECRET, rancher_version="2.4", timing=Timing(speed=0.0)) as simulator:
        simulator.add_workload("default", "web", [{"name": "web", "image": "web:1"}], replicas=2)
        simulator.add_workload("default", "db", [{"name": "db", "image": "db:1"}], kind="statefulset")
        simulator.add_namespace("other")
        simulator.add_workload("other", "api", [{"name": "api", "image": "api:1"}])
        yield simulator


def project_path(sim: Simulator, query: str) -> str:
    return f"/v3/project/{sim.default_project_id}/subscribe?{query}"


def test_norman_sends_every_object_of_the_types_asked_for_then_each_change(norman: Simulator) -> None:
    ws = subscribe(norman, project_path(norman, "resourceTypes=deployment&namespaceId=default"), BEARER)
    first = messages(ws, 1)[0]
    assert (first["name"], first["data"]["id"], first["data"]["type"]) == ("resource.change", "deployment:default:web",
                                                                           "deployment")
    answered = requests.get(first["data"]["links"]["self"], headers={"Authorization": BEARER}, timeout=5).json()
    assert first["data"] == answered
    answered["containers"] = [{**answered["containers"][0], "image": "web:2"}]
    assert requests.put(answered["links"]["self"], json=answered, headers={"Authorization": BEARER},
                        timeout=5).status_code == 200
    change = messages(ws, 1)[0]
    assert change["data"]["id"] == "deployment:default:web" and change["data"]["containers"][0]["image"] == "web:2"
    norman.advance(5)   # the rollout moves on too: its changes, then the ping of the fifth second
    while (ping := messages(ws, 1)[0])["name"] == "resource.change":
        assert ping["data"]["id"] == "deployment:default:web"
    assert ping == {"name": "ping", "data": {}}
    assert requests.delete(answered["links"]["self"], headers={"Authorization": BEARER}, timeout=5).ok
    assert messages(ws, 1)[0]["name"] == "resource.remove"
    ws.close()


def test_norman_watches_every_workload_type_when_none_is_named(norman: Simulator) -> None:
    ws = subscribe(norman, project_path(norman, ""), BEARER)
    assert {m["data"]["id"] for m in messages(ws, 3)} == {"deployment:default:web", "statefulset:default:db",
                                                           "deployment:other:api"}
    ws.close()


def test_norman_ends_after_its_watch_timeout_without_a_close_frame(norman: Simulator) -> None:
    ws = subscribe(norman, project_path(norman, "resourceTypes=deployment&namespaceId=default"), BEARER)
    messages(ws, 1)
    norman.advance(1800)   # the watch's TimeoutSeconds
    with pytest.raises(websocket.WebSocketConnectionClosedException):
        while True:
            ws.recv()


def test_norman_refuses_as_norman_and_gorilla_do(norman: Simulator) -> None:
    unmatched = requests.get(f"{norman.url}{project_path(norman, 'resourceTypes=bogus')}",
                             headers={"Authorization": BEARER}, timeout=5)
    assert (unmatched.status_code, unmatched.json()["message"]) == (404, "no resources types matched")
    plain = requests.get(f"{norman.url}{project_path(norman, '')}", headers={"Authorization": BEARER}, timeout=5)
    assert (plain.status_code, plain.text, plain.headers["Sec-Websocket-Version"]) == (400, "Bad Request\n", "13")
    foreign = refusal(norman, project_path(norman, ""), BEARER, suppress_origin=False, origin="https://elsewhere.example")
    assert (foreign.status_code, foreign.resp_body) == (403, b"Forbidden\n")
    assert refusal(norman, project_path(norman, ""), f"Bearer {K8S_TOKEN}:wrong").status_code == 401


def test_norman_serves_the_management_types_at_v3_subscribe(norman: Simulator) -> None:
    ws = subscribe(norman, "/v3/subscribe?resourceTypes=project", BEARER)
    names = {m["data"]["name"] for m in messages(ws, 2)}
    assert names == {"Default", "System"}
    ws.close()


@pytest.mark.parametrize("where", ["project", "management"])
def test_norman_s_subscribe_schema_leads_to_the_websocket_and_is_never_a_type_watched(norman: Simulator,
                                                                                       where: str) -> None:
    """pkg/subscribe/register.go registers `subscribe` for each API version: GET on its collection."""
    base = f"/v3/project/{norman.default_project_id}" if where == "project" else "/v3"
    schemas = requests.get(f"{norman.url}{base}/schemas", headers={"Authorization": BEARER}, timeout=5).json()["data"]
    subscribe_schema = next(schema for schema in schemas if schema["id"] == "subscribe")
    assert subscribe_schema["collectionMethods"] == ["GET"]
    link = subscribe_schema["links"]["collection"]
    assert link == f"{norman.url}{base}/subscribe"
    ws = subscribe(norman, link[len(norman.url):], BEARER)
    first = messages(ws, 1)[0]
    assert first["name"] == "resource.change" and first["data"]["type"] != "subscribe"
    ws.close()


def test_a_container_that_turns_healthy_with_no_process_running_is_published(cattle: Simulator, web: str) -> None:
    """After a restart's process ends, a container's health check still runs: time alone turns it
    healthy, which the store logs as a change (`Backend.settle`), so the stream publishes it though
    no write and no process touched the service."""
    ws = subscribe(cattle, "/v2-beta/projects/1a5/subscribe?eventNames=resource.change")
    try:
        answer = requests.post(f"{cattle.url}/v2-beta/projects/1a5/services/{web}/?action=restart",
                               auth=(ACCESS_KEY, SECRET_KEY), timeout=5, json={})
        assert answer.status_code == 202, answer.text
        while cattle.service(web)["state"] != "active":
            cattle.advance(0.5)
        pending = [c["id"] for c in cattle.instances(web) if c["healthState"] == "initializing"]
        assert pending, "the restart ended with a health check still running"
        until(ws, lambda resource: resource["id"] == pending[-1] and resource["state"] == "running"
              and resource["healthState"] == "initializing")   # the events before are read
        cattle.advance(10)
        until(ws, lambda resource: resource["id"] == pending[-1] and resource["healthState"] == "healthy")
    finally:
        ws.close()


# -- at 10,000 services: what a look and a request render (docs/performance.md) ------------------------


@pytest.fixture(scope="module")
def crowded() -> Iterator[Simulator]:
    """10,000 resting services in 10 stacks (1s1..1s10000), time running as in tests (`Timing.fast`)."""
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing.fast()) as simulator:
        simulator.seed_bulk({"services": 10_000, "stacks": 10, "launchConfig": dict(WEB_CONFIG)})
        yield simulator


def until(ws: websocket.WebSocket, wanted: Any) -> Message:
    """The first resource.change event whose resource `wanted` accepts (pings and others skipped)."""
    while True:
        message = json.loads(ws.recv())
        if message["name"] == "resource.change" and wanted(message["data"]["resource"]):
            return message


def test_an_open_subscription_renders_what_changed_not_all_10000_services(crowded: Simulator) -> None:
    """Each look of a subscription renders the services the store logged as touched (a write, or time
    advancing one), not the project: at 10,000 services a look at everything held the store's lock
    for half a second, and every request with it (reviewer p15)."""
    ws = subscribe(crowded, "/v2-beta/projects/1a5/subscribe?eventNames=resource.change", timeout=30)
    try:
        assert messages(ws, 1)[0]["name"] == "ping"
        before = crowded.rendered
        named = requests.put(f"{crowded.url}/v2-beta/projects/1a5/services/1s5", json={"description": "renamed"},
                             auth=(ACCESS_KEY, SECRET_KEY), timeout=30)
        assert named.status_code == 200, named.text
        assert until(ws, lambda resource: resource["id"] == "1s5")["data"]["resource"]["description"] == "renamed"
        # The PUT's answer, then the looks: the service and its containers once each, not 30,000 objects.
        assert crowded.rendered - before <= 10, crowded.rendered - before
        # Time moving one service (an upgrade, container by container) costs its own renders only.
        before = crowded.rendered
        upgrade(crowded, "1s7")
        until(ws, lambda resource: resource["id"] == "1s7" and resource["state"] == "upgraded")
        assert crowded.rendered - before <= 400, crowded.rendered - before
    finally:
        ws.close()


@pytest.mark.parametrize("query", [{}, {"stackId": "1st3"}, {"order": "desc"}, {"marker": "m9995"},
                                   {"stackId": "1st3", "order": "desc", "marker": "m5"}])
def test_a_page_of_10000_services_renders_that_page_only(crowded: Simulator, query: dict[str, str]) -> None:
    """A list filtered only as the narrowing does (name, stackId) is paged before rendering; the page
    is the one filtering everything rendered gives (`sort=id` takes that path: the same order here)."""
    auth = (ACCESS_KEY, SECRET_KEY)
    before = crowded.rendered
    page = requests.get(f"{crowded.url}/v2-beta/projects/1a5/services", params={**query, "limit": "5"}, auth=auth,
                        timeout=30).json()
    assert crowded.rendered - before <= 5
    rendered_all = requests.get(f"{crowded.url}/v2-beta/projects/1a5/services",
                                params={**query, "limit": "5", "sort": "id"}, auth=auth, timeout=30).json()
    assert [service["id"] for service in page["data"]] == [service["id"] for service in rendered_all["data"]]
    assert len(page["data"]) == 5
    assert page["pagination"]["partial"] == rendered_all["pagination"]["partial"]
    assert (page["pagination"]["next"] is None) == (rendered_all["pagination"]["next"] is None)


def test_cattle_publishes_the_changes_of_each_period_together_in_their_latest_state() -> None:
    """Cattle collects the resources changed and publishes each once a second, as it then renders
    (task.resource.change.publish.schedule=1, ResourceChangeEventListenerImpl.run): two edits within
    one period make one event, carrying the second. Here a period is 0.5 s real."""
    assert publish_seconds(Timing.realistic()) == 1.0 and publish_seconds(Timing.fast()) < 0.02
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing(speed=1000.0, publish_interval=500.0)) as sim:
        stack = sim.add_stack("shop")
        web, api = sim.add_service(stack, "web", dict(WEB_CONFIG)), sim.add_service(stack, "api", dict(WEB_CONFIG))
        ws = subscribe(sim, "/v2-beta/projects/1a5/subscribe?eventNames=resource.change")

        def describe(service: str, text: str) -> None:
            assert requests.put(f"{sim.url}/v2-beta/projects/1a5/services/{service}", json={"description": text},
                                auth=(ACCESS_KEY, SECRET_KEY), timeout=5).status_code == 200

        try:
            describe(api, "beat")
            until(ws, lambda resource: resource["id"] == api)   # a publication: the next is 0.5 s away
            describe(web, "first")
            time.sleep(0.05)   # well inside the period; a look every 20 ms would publish "first" meanwhile
            describe(web, "second")
            published = until(ws, lambda resource: resource["id"] == web)["data"]["resource"]
            assert published["description"] == "second"
        finally:
            ws.close()


@pytest.mark.parametrize("booted, period, now, beat", [
    (100.0, 1.0, 100.0, 101.0), (100.0, 1.0, 100.4, 101.0), (100.0, 1.0, 101.0, 102.0), (100.0, 1.0, 105.7, 106.0),
    (100.0, 1.0, 99.5, 100.0),   # a beat put ahead (`publish_beat_at`) has beats before it too
    (0.1, 0.1, 0.3, 0.4),        # on a beat only up to a rounding: still the next one
])
def test_the_beats_run_from_the_start(booted: float, period: float, now: float, beat: float) -> None:
    assert next_beat(booted, period, now) == pytest.approx(beat)
    assert next_beat(booted, period, now) > now


def test_a_subscription_meets_cattle_s_beat_where_it_is_and_does_not_start_one() -> None:
    """Cattle's publishing task runs from its start, whoever subscribes (TaskManagerImpl): here a
    period is 2 s real and the beat is put 0.4 s ahead, so a change is published about 0.4 s after
    subscribing, not 2 s after, as a beat started by the subscription would publish it."""
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing(speed=1000.0, publish_interval=2000.0)) as sim:
        stack = sim.add_stack("shop")
        web = sim.add_service(stack, "web", dict(WEB_CONFIG))
        sim.publish_beat_at(time.monotonic() + 0.4)
        ws = subscribe(sim, "/v2-beta/projects/1a5/subscribe?eventNames=resource.change", timeout=5)
        try:
            subscribed = time.monotonic()
            assert requests.put(f"{sim.url}/v2-beta/projects/1a5/services/{web}", json={"description": "now"},
                                auth=(ACCESS_KEY, SECRET_KEY), timeout=5).status_code == 200
            until(ws, lambda resource: resource["id"] == web)
            assert time.monotonic() - subscribed < 1.5   # a beat of its own: 2 s
        finally:
            ws.close()


def test_a_reset_makes_every_subscription_look_at_everything_once() -> None:
    """The store's log of touched services (what a look renders): a reader that had read it all when
    the store was reset is told to look at every service (None), not at nothing."""
    from rancher_deploy.simulator.cattle.store import Store
    from rancher_deploy.simulator.faults import Faults

    store = Store(ACCESS_KEY, SECRET_KEY, Timing(speed=0.0), Faults())
    read_all = store.changes_logged()
    store.reset()
    assert store.touched_since(read_all) is None
    assert store.touched_since(store.changes_logged()) == set()
