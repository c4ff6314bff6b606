"""Waits fed by Rancher's subscribe websockets, cattle's (1.x) and norman's (2.x v3): each change
Rancher pushes, kept when it concerns the target, and read into what a poll would read.

Both push every change of every resource of a project, narrowed by what the subscription asks for
(cattle: the event name; norman: the resource type and namespace), so each stream here keeps only
what concerns its one target. What differs is the start: cattle sends no state when subscribed
(only changes from then on, NonBlockingSubscriptionHandler), so the target is read once the stream
is open, and no change between the two is missed; norman's store watches from resourceVersion "0",
so it sends every object first (store/proxy/proxy_store.go realWatch), and no read is needed.
The websocket is opened on the stream's reader thread (`streams.Feed`), so a wait notices a signal
or its deadline while a proxy sits on the handshake.

A stream Rancher ends cleanly (norman's handler returns after its watch's 30 minutes and drops the
connection without a close frame, pkg/subscribe/handler.go) is subscribed again, once in a row:
norman sends the state again, cattle's is read again. Once a stream could not be opened, broke,
went silent or ended twice in a row, the flavour's `streams.Lost` is set and the run's later waits
poll without trying again: the log says so once (`wait.wait_for`).
"""

from __future__ import annotations

import re
from typing import Callable

from rancher_deploy.errors import NotFound
from rancher_deploy.http import JSON, RancherSession
from rancher_deploy.snapshot import Snapshot, TargetRef
from rancher_deploy.streams import Feed, Lost, StreamEnded, StreamLost, subscription

RESOURCE_CHANGE = "resource.change"
# The v3 schema of each workload kind, which norman's `resourceTypes` names (rancher/types
# client/project/v3: DeploymentType "deployment", StatefulSetType "statefulSet", ...).
NORMAN_TYPES = {"deployment": "deployment", "statefulset": "statefulSet", "daemonset": "daemonSet",
                "cronjob": "cronJob"}
# The label cattle puts on every container of a service, "<stack>/<service>" (what traefik's rancher
# provider and rancher-dns attribute containers by, where the API gives no serviceIds).
STACK_SERVICE_LABEL = "io.rancher.stack_service.name"
_PROJECT_URL = re.compile(r"^(?P<project>.*/v3/project/[^/]+)/")


class _Subscription:
    """One subscribe websocket of a wait, opened on its reader thread; marks `lost` when it cannot
    be opened, breaks, goes silent, or ends twice without a message in between."""

    def __init__(self, session: RancherSession, url: str, params: dict[str, str], what: str, lost: Lost) -> None:
        self._open: Callable[[], Feed] = lambda: subscription(session, url, params, what, lost)
        self._what = what
        self._lost = lost
        self._feed = self._open()
        self._ended = False   # ended cleanly, and subscribed again, with no message since

    def _take(self, timeout: float) -> JSON | None:
        """The next message, None when none came within `timeout` seconds; raises StreamLost."""
        try:
            message: JSON | None = self._feed.get(timeout)
        except StreamEnded:
            if self._ended:
                raise self.silent("was closed by Rancher twice in a row") from None
            self._ended = True
            self._feed.close()
            self._feed = self._open()
            self._subscribed_again()
            return None
        if message is not None:
            self._ended = False
        return message

    def _subscribed_again(self) -> None:
        """What a new subscription needs (cattle: a read once it is open)."""

    def silent(self, why: str) -> StreamLost:
        """Take the stream for lost (`why`: what showed it): closed, and polled for the rest of the run."""
        self._feed.close()
        return self._lost.take(StreamLost(f"{self._what} {why}"))

    def close(self) -> None:
        self._feed.close()


class ServiceEvents(_Subscription):
    """`Backend.watch` on 1.x: cattle's `<project>/subscribe?eventNames=resource.change`.

    Each event carries the changed resource as the API renders it (`data.resource`,
    ResourceChangeEventProcessor): the service itself, or one of its containers, whose state and
    health are what the wait counts. A container is the service's when it lists the service in
    `serviceIds` (v2-beta), and where the API leaves them out (v1: cattle's InstanceOutputFilter adds
    them only for other versions), when it was among the service's containers read, or carries
    the service's `io.rancher.stack_service.name` label (a container the upgrade makes). `read`
    reads the service and its containers once the stream is open; `observed` turns the service and
    its containers into the snapshot a poll would have made.
    """

    def __init__(self, session: RancherSession, project_url: str, ref: TargetRef,
                 read: Callable[[], tuple[JSON, list[JSON]]], observed: Callable[[JSON, list[JSON]], Snapshot],
                 lost: Lost) -> None:
        super().__init__(session, f"{project_url}/subscribe", {"eventNames": RESOURCE_CHANGE},
                         f"the event stream of {ref.name}", lost)
        self._ref = ref
        self._read = read
        self._observed = observed
        self._service: JSON = {}
        self._instances: dict[str, JSON] = {}
        self._unread = True

    def next(self, timeout: float) -> Snapshot | None:
        event = self._take(timeout)
        if self._unread:
            if not self._feed.opened:
                return None
            self._service, instances = self._read()
            self._instances = {str(instance.get("id")): instance for instance in instances}
            self._unread = False
        elif event is None or not self._apply(event):
            return None
        return self._observed(self._service, list(self._instances.values()))

    def _subscribed_again(self) -> None:
        self._unread = True

    def _apply(self, event: JSON) -> bool:
        """Keep what the event says of the service or of one of its containers; False when it says
        nothing of them (a ping, another resource)."""
        resource = (event.get("data") or {}).get("resource") if event.get("name") == RESOURCE_CHANGE else None
        if not isinstance(resource, dict):
            return False
        if resource.get("id") == self._ref.id:
            self._service = resource
            return True
        if resource.get("type") != "container" and resource.get("kind") != "container":
            return False
        if self._owns(resource):
            self._instances[str(resource.get("id"))] = resource
            return True
        return False

    def _owns(self, container: JSON) -> bool:
        if str(container.get("id")) in self._instances:
            return True   # its removal too, which its serviceIds no longer name (a removed link is skipped)
        owners = container.get("serviceIds")
        if owners:
            return isinstance(owners, list) and self._ref.id in owners
        label = str((container.get("labels") or {}).get(STACK_SERVICE_LABEL) or "")
        return bool(label) and (self._ref.name == label or self._ref.name.endswith(f"/{label}"))


class WorkloadEvents(_Subscription):
    """What `V3Workloads.watch` returns: norman's `/v3/project/<id>/subscribe?resourceTypes=<kind>
    &namespaceId=<namespace>`, answering the workload's v3 bodies (the first: as it is now).

    Norman sends every object of the kind there first; a workload that was not among them by the
    first ping (5 s on) is read once, so that one already deleted ends the wait as a poll's 404 would.
    """

    def __init__(self, session: RancherSession, ref: TargetRef, read: Callable[[], JSON], lost: Lost) -> None:
        project = _PROJECT_URL.match(ref.url)
        kind, namespace, _ = ref.id.split(":", 2)
        if project is None or kind not in NORMAN_TYPES:
            raise lost.take(StreamLost(f"no event stream for {ref.name} (its link {ref.url} is not in a v3 project)"))
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
