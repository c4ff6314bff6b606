"""Cattle's subscribe websocket (1.6): `/v1/subscribe`, `/v2-beta/projects/<id>/subscribe?eventNames=...`.

What cattle v1.6 does (code/framework/api-pub-sub, code/iaas/api-logic/.../change): a GET of the
`subscribe` collection that is a websocket upgrade (JettyWebSocketSubcriptionHandler; without
`Upgrade: websocket` no writer is made and the request ends in NotFoundHandler's 404) subscribes the
connection to the event names asked for, qualified with the key's account (the project: a
QUALIFIED SubscriptionStyle, names stripped again when written). It writes a `ping` event at once,
then one every `api.sub.ping.interval.millis` (5 s), at most `api.sub.max.pings` (8640) times, and
closes after that (NonBlockingSubscriptionHandler). Every change of a resource's state, of its
fields through the API or of its progress is published as `resource.change` naming the resource
(ResourceChangeEventListenerImpl), and ResourceChangeEventProcessor fills `data.resource` with the
resource as a GET renders it with the subscribe request's options (its `include`), dropping a
removed resource whose state is not yet `removed`. Each event is an EventVO written by Jackson:
every field, null or not, `time` in epoch milliseconds (go-rancher's `client.Publish`).
"""

from __future__ import annotations

import json
import math
import time
import uuid
import weakref
from typing import Any

from rancher_deploy.simulator.cattle.errors import ApiError, not_found
from rancher_deploy.simulator.cattle.handlers import ApiRequest, render_instance, render_service, with_included
from rancher_deploy.simulator.cattle.models.resource import JSON
from rancher_deploy.simulator.cattle.store import Store
from rancher_deploy.simulator.clock import Timing
from rancher_deploy.simulator.upgrade import TICK, handshake
from rancher_deploy.simulator.wire import Response, StreamCut, Websocket

PING_SECONDS = 5.0    # api.sub.ping.interval.millis=5000 (api-server/defaults.properties), simulated time
MAX_PINGS = 8640      # api.sub.max.pings: then the subscription ends
RESOURCE_CHANGE = "resource.change"


def subscribe(api: ApiRequest, store: Store, _: dict[str, str]) -> Response:
    """Answer a subscribe request: 101 and the project's events, or why not (404, 400)."""
    if api.http.headers.get("upgrade", "").lower() != "websocket":
        raise not_found()
    session = handshake(api.http)
    if session is None:
        raise ApiError.http(400)  # Jetty's WebSocketServerFactory refuses a broken handshake
    names = {value for key, value in api.params if key == "eventNames"}
    return Response(101, None, websocket=Websocket(session, _Publisher(api, store, names).poll))


def event(name: str, data: Any, at: float, resource_type: str | None = None, resource_id: str | None = None) -> JSON:
    """One EventVO as Jackson writes it (code/framework/eventing/.../EventVO.java; `listenerKey` is
    @XmlTransient)."""
    return {
        "id": str(uuid.uuid4()), "name": name, "replyTo": None, "resourceId": resource_id,
        "resourceType": resource_type, "publisher": None, "transitioning": None, "transitioningMessage": None,
        "transitioningInternalMessage": None, "previousIds": None, "previousNames": None, "data": data,
        "time": int(at * 1000), "timeoutMillis": None, "transitioningProgress": None, "context": None,
    }


class _Publisher:
    """One subscription: what is due on it at each look (``poll``): its pings, and the project's
    changes, which every subscription of the same project and rendering reads from one `_Changes`."""

    def __init__(self, api: ApiRequest, store: Store, names: set[str]) -> None:
        self._store = store
        self._generation = store.faults.stream_generation()
        # Subscribed now, while the request holds the store: what changes from here on is sent,
        # even if the first look comes after the client has read what it then needs.
        self._changes = _Changes.of(api, store) if RESOURCE_CHANGE in names else None
        self._cursor = self._changes.last if self._changes is not None else 0
        self._pings = 0
        self._next_ping: float | None = None

    def poll(self) -> list[str] | None:
        if self._store.faults.stream_generation() != self._generation:
            raise StreamCut()
        if self._pings >= MAX_PINGS:
            return None   # the Retry that sends them is spent: the subscription ends (unsubscribe)
        with self._store.lock:
            now = self._store.settled_lately(TICK / 2)
            messages: list[str] = []
            if self._next_ping is None:
                messages.append(self._ping(now))   # written when subscribing, not one of the Retry's
                self._next_ping = now + PING_SECONDS
            if self._changes is not None:
                self._cursor, changed = self._changes.since(self._cursor, now)
                messages += changed
            if now >= self._next_ping:
                # Every ping due since the last look counts; one message says them (after a jump in time).
                due = 1 + int((now - self._next_ping) // PING_SECONDS)
                self._pings += due
                self._next_ping += PING_SECONDS * due
                messages.append(self._ping(now))
        return messages

    def _ping(self, now: float) -> str:
        return _text(event("ping", {"options": {}, "resources": []}, self._store.wall(now)))


class _Changes:
    """The `resource.change` events of one project as one rendering shows it (links under one base,
    one API version, one `include`), looked for at most once a tick however many subscriptions read
    them: each look renders the services the store logged as touched since the last look (a write,
    a seed, time advancing one: `Backend.touched_since`), never the whole project (after a reset or
    a fault that changes how resting containers show: everything once), and keeps an event for each
    resource rendered otherwise than the last time. The first look only learns what is there:
    cattle sends no state when subscribed."""

    KEEP_SECONDS = 10.0   # real seconds an event is kept for the subscriptions that have not read it yet
    _all: weakref.WeakKeyDictionary[Store, dict[tuple[str, ...], _Changes]] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, api: ApiRequest, store: Store) -> _Changes:
        """The changes seen through `api`'s rendering, made (and first looked at) on first use; the
        caller holds the store."""
        includes = [value.lower() for key, value in api.params if key == "include"]
        key = (api.project_id, api.base, api.api_version, *includes[:1])
        found = cls._all.setdefault(store, {}).get(key)
        if found is None:
            found = cls._all[store][key] = _Changes(api, store)
        return found

    def __init__(self, api: ApiRequest, store: Store) -> None:
        self._api = api
        self._store = store
        self._shown: dict[str, JSON] = {}     # "<type>:<id>" -> the resource as last published
        self._position = store.changes_logged()   # how far the store's log of touched services is read
        self._shown_generation = store.faults.shown_generation()
        self._looked_at = time.monotonic()
        # Cattle publishes the changes it collected on a schedule (`publish_seconds`), not as they
        # happen: one look per period, on the beat of a task that runs from cattle's start.
        self._period = publish_seconds(store.timing)
        self._due = next_beat(store.booted, self._period, self._looked_at)
        self._events: list[tuple[int, float, str]] = []   # (number, when kept, the event's text)
        self._looks = 0
        self.last = 0
        self._look(store.now(), learn=True)

    def since(self, cursor: int, now: float) -> tuple[int, list[str]]:
        """The events after number `cursor` (looking first when the publish period is due), and the
        new cursor."""
        if time.monotonic() >= self._due:
            self._due = next_beat(self._store.booted, self._period, time.monotonic())
            self._look(now, learn=False)
        return self.last, [text for number, _, text in self._events if number > cursor]

    def _look(self, now: float, *, learn: bool) -> None:
        store, api = self._store, self._api
        self._looked_at = time.monotonic()
        touched = store.touched_since(self._position)
        self._position = store.changes_logged()
        shown = store.faults.shown_generation()
        if learn or touched is None or shown != self._shown_generation:
            self._shown_generation = shown
            looked = store.list_services(api.project_id)
        else:
            # Only what the store logged as touched since the last look: a write, a seed, or time
            # advancing it (`Backend.settle`), so a look costs what changed, not the project's size.
            looked = [svc for svc in (store.services.get(num) for num in sorted(touched))
                      if svc is not None and svc.project_id == api.project_id]
        self._events = [kept for kept in self._events if self._looked_at - kept[1] < self.KEEP_SECONDS]
        self._looks += 1
        services_first = store.faults.services_first(self._looks)
        for svc in looked:
            # A service and its containers in either order (`Faults.publish_order`): cattle publishes a
            # second's changes together, so a service may say `upgraded` before its last container's
            # event says it is healthy.
            resources = [render_instance(api, store, inst) for inst in svc.instances]
            service = with_included(api, store, svc, render_service(api, store, svc))
            resources = [service, *resources] if services_first else [*resources, service]
            for resource in resources:
                key = f"{resource['type']}:{resource['id']}"
                if self._shown.get(key) == resource:
                    continue
                self._shown[key] = resource
                if not learn:
                    self.last += 1
                    change = event(RESOURCE_CHANGE, {"resource": resource}, store.wall(now), str(resource["type"]),
                                   str(resource["id"]))
                    self._events.append((self.last, self._looked_at, _text(change)))


def publish_seconds(timing: Timing) -> float:
    """Real seconds between two publications of the changes collected: ``timing.publish_interval``
    simulated seconds (cattle's 1 s) at the timing's speed, at least half a tick; every look when
    time stands still (speed 0), where only writes and `advance` change anything."""
    if timing.speed <= 0:
        return TICK / 2
    return max(TICK / 2, timing.publish_interval / timing.speed)


def next_beat(booted: float, period: float, now: float) -> float:
    """The first publication after `now` (real seconds, `time.monotonic()`) of a task run every
    `period` seconds since `booted`, the simulator's start (or where `Simulator.publish_beat_at` put it).

    Cattle schedules its publishing task once, when it starts (TaskManagerImpl.start, scheduleWithFixedDelay
    of `task.resource.change.publish.schedule`), so where its beat falls against a client's upgrade
    owes nothing to the client: a beat started by the first subscription would publish each change
    of an upgrade timed in whole seconds from its action just after it happens, every time. Cattle's
    fixed delay drifts by each run's length; the simulator keeps a fixed rate, whose phase a caller
    can set.
    """
    beat = booted + period * (math.floor((now - booted) / period) + 1)
    return beat if beat - now > period * 1e-9 else beat + period   # `now` on a beat, give or take a rounding


def _text(message: JSON) -> str:
    """A message as Jackson writes it: compact."""
    return json.dumps(message, separators=(",", ":"))

