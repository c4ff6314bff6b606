"""Waits fed by Rancher's subscribe websockets, cattle's (1.x) and norman's (2.x v3): each change
Rancher pushes, kept when it concerns the target, and read into what a poll would read.

Both push every change of every resource of a project, narrowed by what the subscription asks for
(cattle: the event name; norman: the resource type and namespace), so each stream here keeps only
what concerns its one target. What differs is the start: cattle sends no state when subscribed
(only changes from then on, NonBlockingSubscriptionHandler), so the stream is opened first and the
target read once after, and no change between the two is missed; norman's store watches from
resourceVersion "0", so it sends every object first (store/proxy/proxy_store.go realWatch), and
no read is needed. Once a stream could not be opened or broke, the backend's `lost` is set and its
later waits poll without trying again: the log says so once (`wait.wait_for`).
"""

from __future__ import annotations

import re
import threading
from typing import Callable

from rancher_deploy.errors import NotFound
from rancher_deploy.http import JSON, RancherSession
from rancher_deploy.snapshot import Snapshot, TargetRef
from rancher_deploy.streams import Feed, StreamEnded, StreamLost, subscription

RESOURCE_CHANGE = "resource.change"
# The v3 schema of each workload kind, which norman's `resourceTypes` names (rancher/types
# client/project/v3: DeploymentType "deployment", StatefulSetType "statefulSet", ...).
NORMAN_TYPES = {"deployment": "deployment", "statefulset": "statefulSet", "daemonset": "daemonSet",
                "cronjob": "cronJob"}
_PROJECT_URL = re.compile(r"^(?P<project>.*/v3/project/[^/]+)/")


class _Subscription:
    """One subscribe websocket of a wait; sets `lost` when it cannot be opened, breaks or ends."""

    def __init__(self, session: RancherSession, url: str, params: dict[str, str], what: str,
                 lost: threading.Event) -> None:
        self._what = what
        self._lost = lost
        try:
            self._feed: Feed = subscription(session, url, params, what)
        except StreamLost:
            lost.set()
            raise

    def _take(self, timeout: float) -> JSON | None:
        """The next message, None when none came within `timeout` seconds; raises StreamLost."""
        try:
            message: JSON | None = self._feed.get(timeout)
            return message
        except StreamEnded:
            error = StreamLost(f"{self._what} was closed by Rancher")
        except StreamLost as lost:
            error = lost
        self._lost.set()
        raise error

    def close(self) -> None:
        self._feed.close()


class ServiceEvents(_Subscription):
    """`Backend.watch` on 1.x: cattle's `<project>/subscribe?eventNames=resource.change`.

    Each event carries the changed resource as the API renders it (`data.resource`,
    ResourceChangeEventProcessor): the service itself, or one of its containers (listed under
    `serviceIds`), whose state and health are what the wait counts. `read` reads the service and its
    containers once (after subscribing); `observed` turns the service and its containers into the
    snapshot a poll would have made.
    """

    def __init__(self, session: RancherSession, project_url: str, ref: TargetRef,
                 read: Callable[[], tuple[JSON, list[JSON]]], observed: Callable[[JSON, list[JSON]], Snapshot],
                 lost: threading.Event) -> None:
        super().__init__(session, f"{project_url}/subscribe", {"eventNames": RESOURCE_CHANGE},
                         f"the event stream of {ref.name}", lost)
        self._ref = ref
        self._observed = observed
        try:
            self._service, instances = read()
        except BaseException:
            self.close()
            raise
        self._instances = {str(instance.get("id")): instance for instance in instances}
        self._fresh = True

    def next(self, timeout: float) -> Snapshot | None:
        if not self._fresh:
            event = self._take(timeout)
            if event is None or not self._apply(event):
                return None
        self._fresh = False
        return self._observed(self._service, list(self._instances.values()))

    def _apply(self, event: JSON) -> bool:
        """Keep what the event says of the service or of one of its containers; False when it says
        nothing of them (a ping, another resource)."""
        resource = (event.get("data") or {}).get("resource") if event.get("name") == RESOURCE_CHANGE else None
        if not isinstance(resource, dict):
            return False
        if resource.get("id") == self._ref.id:
            self._service = resource
            return True
        if self._ref.id in (resource.get("serviceIds") or []):
            self._instances[str(resource.get("id"))] = resource
            return True
        return False


class WorkloadEvents(_Subscription):
    """What `V3Workloads.watch` returns: norman's `/v3/project/<id>/subscribe?resourceTypes=<kind>
    &namespaceId=<namespace>`, answering the workload's v3 bodies (the first: as it is now).

    Norman sends every object of the kind there first; a workload that was not among them by the
    first ping (5 s on) is read once, so that one already deleted ends the wait as a poll's 404 would.
    """

    def __init__(self, session: RancherSession, ref: TargetRef, read: Callable[[], JSON],
                 lost: threading.Event) -> None:
        project = _PROJECT_URL.match(ref.url)
        kind, namespace, _ = ref.id.split(":", 2)
        if project is None or kind not in NORMAN_TYPES:
            lost.set()
            raise StreamLost(f"no event stream for {ref.name} (its link {ref.url} is not in a v3 project)")
        super().__init__(session, f"{project.group('project')}/subscribe",
                         {"resourceTypes": NORMAN_TYPES[kind], "namespaceId": namespace},
                         f"the event stream of {ref.name}", lost)
        self._ref = ref
        self._read = read
        self._seen = False

    def next(self, timeout: float) -> JSON | None:
        message = self._take(timeout)
        if message is None:
            return None
        name, data = message.get("name"), message.get("data")
        if name == "ping" and not self._seen:
            self._seen = True
            return self._read()
        if not isinstance(data, dict) or data.get("id") != self._ref.id:
            return None
        if name == "resource.remove":
            raise NotFound(f"{self._ref.name} was deleted", status=404)
        if name != RESOURCE_CHANGE:
            return None
        self._seen = True
        return dict(data)
