"""Waits fed by Rancher's subscribe websockets, cattle's (1.x) and norman's (2.x v3): each change
Rancher pushes, kept when it concerns the target, and read into what a poll would read.

Both push every change of every resource of a project, narrowed by what the subscription asks for
(cattle: the event name; norman: the resource type and namespace). Norman's is asked per kind and
namespace, one per wait, keeping what concerns its one target; cattle's can be narrowed no further
than the environment, so the run opens one per environment and hands each message to a view per
service (`CattleEvents`): its targets share it, and each target's later waits go on from its view.
What differs is the start: cattle sends no state when subscribed (only changes from then on,
NonBlockingSubscriptionHandler), so a service is read once the stream is open, and no change between
the two is missed; norman's store watches from resourceVersion "0", so it sends every object first
(store/proxy/proxy_store.go realWatch), and no read is needed.
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
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

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
FINISH = "finishupgrade"
# When to read a service again after finishupgrade's answer, in seconds: the stream may tell only a
# second later, while cattle's finish is usually done long before. Cattle answers the action once the
# process is scheduled, at `finishing-upgrade`; a pool thread picks it up at once (about 25 ms in a
# log quoted in rancher/rancher#4208), re-runs the upgrade loop (nothing left to upgrade: no batch,
# no sleep), schedules the removal of the old containers without waiting for it (its wait list stays
# empty), reconciles the service, whose containers are all current and healthy, and ends `active`
# (ServiceFinishUpgrade.handle, UpgradeManagerImpl.finishUpgrade/cleanupUpgradedInstances,
# rancher/cattle v0.183.83, code/iaas/service-discovery/server/.../servicediscovery/): tens to a few
# hundred milliseconds (docs/simulator.md, "How long the finish takes"). It then publishes that
# change with what else changed at its next run, once a second (task.resource.change.publish.schedule=1,
# ResourceChangeEventListenerImpl.run): up to a second after the finish. The first read catches a
# finish that waited for nothing but its pickup and a few dozen database round trips (tens of
# milliseconds where the database answers quickly), the second one slowed by a busy cattle; past that
# the stream tells within a second of the finish's end. (A first read at 0.15 s, rancher-compose's poll after
# finishupgrade, would leave a finish spread over 0.1-0.5 s a little less to wait on average and one
# under 0.1 s about 50 ms more: no measured figure says which is usual, and the source shows a finish
# with nothing to wait for.) Two reads at most, so a finish costs what the shared stream saved (a
# subscription and a read), however long it takes.
FINISH_READS_SECONDS = (0.1, 0.3)
# How long an action's answer waits for another wait's take to end (each is at most its short timeout)
# before what the stream received is taken: all of it is older than the answer.
ANSWER_WAIT_SECONDS = 0.1
# A 2.x target's project, from its URL; compiled at first use (`re` caches it): a 1.x run never needs it.
_PROJECT_URL = r"^(?P<project>.*/v3/project/[^/]+)/"


class _Subscription:
    """One subscribe websocket (norman's: one wait's; cattle's: an environment's, `EnvironmentEvents`),
    opened on its reader thread; marks `lost` when it cannot be opened, breaks, goes silent, or ends
    twice without a message in between."""

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


class CattleEvents:
    """The run's subscriptions to cattle's events (1.x): one per environment, shared by every wait of
    every target there, opened by the first wait and closed at the end of the run (`close`).

    Cattle sends each subscriber every change of the environment (`<project>/subscribe` carries that
    project's only: the UI opens one per environment it shows), so one subscription serves all its
    services: ten targets there cost one subscription instead of twenty (two waits each), and a
    target's later waits (the finish's, a rollback's) start from what the stream kept, with no
    subscription and no read of their own.
    """

    def __init__(self, session: RancherSession) -> None:
        self._session = session
        self._lost = Lost()   # set once a stream could not be opened, broke or went silent: the waits poll
        self._lock = threading.Lock()
        self._streams: dict[str, EnvironmentEvents] = {}
        self._left: dict[str, str] = {}   # service id -> the state its last action was sent from

    def watch(self, project_url: str, ref: TargetRef, read: Callable[[], tuple[JSON, list[JSON]]],
              observed: Callable[[JSON, list[JSON]], Snapshot]) -> ServiceEvents | None:
        """A wait's view of the service (`Backend.watch`): its environment's subscription, opened on
        the first call; None once a stream was lost in this run (the waits poll)."""
        if self._lost.is_set():
            return None
        with self._lock:
            stream = self._streams.get(project_url)
            if stream is None or stream.dropped:
                stream = self._streams[project_url] = EnvironmentEvents(self._session, project_url, ref, self._lost)
            return stream.view(ref, read, observed, self._left.get(ref.id))

    @contextmanager
    def acting(self, ref: TargetRef, action: str, decided: JSON) -> Iterator[list[JSON]]:
        """Around the request that sends `action` on the service, decided on `decided` (the service as
        read for it): the caller appends the answer to the list it is given; the service's view
        takes it (`ServiceEvents.acted`), or reads again when none came."""
        with self._lock:
            views = [view for view in (stream.views.get(ref.id) for stream in self._streams.values()) if view]
            self._left[ref.id] = str(decided.get("state"))
        for view in views:
            view.sending()
        answered: list[JSON] = []
        try:
            yield answered
        finally:
            for view in views:
                view.acted(action, decided, answered[0] if answered else None)

    def close(self) -> None:
        """Hang up every subscription (the run is over); raises nothing."""
        with self._lock:
            streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            stream.close()


class EnvironmentEvents(_Subscription):
    """Cattle's `<project>/subscribe?eventNames=resource.change`, fanned out to the view of each
    service watched there.

    Whichever wait takes from the stream (one at a time, each for at most its short timeout, so that
    each still notices a signal or its deadline at once) hands every message to every view. A stream
    Rancher ended is subscribed again (`_Subscription`) and each view reads its service again; a lost
    one is lost for every view (said once: `streams.Lost`).
    """

    def __init__(self, session: RancherSession, project_url: str, ref: TargetRef, lost: Lost) -> None:
        super().__init__(session, f"{project_url}/subscribe", {"eventNames": RESOURCE_CHANGE},
                         f"the event stream of {ref.name}'s environment", lost)
        self.clock = session.clock   # the run's (timing.py): what the reads after a finish are timed by
        self.state = threading.RLock()   # the views' contents, changed by whichever wait takes
        self._taking = threading.Lock()
        self.views: dict[str, ServiceEvents] = {}
        self._waits = 0               # waits using a view now
        self._broken: StreamLost | None = None
        self.dropped = False          # closed before it opened: the next wait subscribes anew

    @property
    def opened(self) -> bool:
        return self._feed.opened

    def view(self, ref: TargetRef, read: Callable[[], tuple[JSON, list[JSON]]],
             observed: Callable[[JSON, list[JSON]], Snapshot], left: str | None) -> ServiceEvents:
        """The service's view, made on its first wait (`left`: the state the run's last action on it
        was sent from, if any); a wait starts on it (`detach` ends it)."""
        with self.state:
            view = self.views.get(ref.id)
            if view is None:
                view = self.views[ref.id] = ServiceEvents(self, ref, read, observed)
                view.stale = {left} if left else set()
            self._waits += 1
            return view.attach()

    def detach(self) -> None:
        """A wait is over. A stream still being opened when no wait uses it is closed (`Feed.close`:
        a proxy that sits on the handshake is not waited on again)."""
        with self.state:
            self._waits -= 1
            idle = self._waits <= 0 and not self._feed.opened
        if idle:
            self.dropped = True
            self.close()

    def pump(self, timeout: float, *, drain: bool = False) -> bool:
        """Take the next message within `timeout` seconds and hand it to every view, one at a time,
        so a lone wait judges each change as a poll would have seen it (the service upgraded before
        its last container's event); `drain`: every message already received instead, none waited for.
        False when another wait kept taking for `timeout` seconds (what it takes reaches every view
        too). Raises StreamLost."""
        if self._broken is not None:
            raise self._again()
        if not self._taking.acquire(timeout=max(0.0, timeout)):
            return False
        try:
            if self._broken is not None:
                raise self._again()
            message = self._take(0.0 if drain else timeout)
            while message is not None:
                with self.state:
                    for view in self.views.values():
                        view.apply(message)
                message = self._take(0.0) if drain else None
            return True
        except StreamLost as lost:
            self._broken = lost
            raise
        finally:
            self._taking.release()

    def _again(self) -> StreamLost:
        """The loss, for a view that did not see it happen: already said (`StreamLost.first`)."""
        lost = StreamLost(str(self._broken))
        lost.first = False
        return lost

    def _subscribed_again(self) -> None:
        with self.state:
            for view in self.views.values():
                view.unread = True   # cattle sends no state on subscribe: each view reads again

    def silent(self, why: str) -> StreamLost:
        lost = super().silent(why)
        self._broken = lost
        return lost


class ServiceEvents:
    """One service's view of its environment's events (`Backend.watch` on 1.x), kept for the run.

    Each event carries the changed resource as the API renders it (`data.resource`,
    ResourceChangeEventProcessor): the service itself, or one of its containers, whose state and
    health are what the wait counts. A container is the service's when it lists the service in
    `serviceIds` (v2-beta), and where the API leaves them out (v1: cattle's InstanceOutputFilter adds
    them only for other versions), when it was among the service's containers read, or carries
    the service's `io.rancher.stack_service.name` label (a container the upgrade makes). `read`
    reads the service and its containers once the stream is open (cattle sends no state on
    subscribe); `observed` turns the service and its containers into the snapshot a poll would make.

    The view outlives a wait: `close` ends the wait's use of it while the stream keeps it up to date,
    so the target's next wait starts from it with no subscription and no read, and `acted` keeps it
    true across an action the run sent.
    """

    def __init__(self, stream: EnvironmentEvents, ref: TargetRef, read: Callable[[], tuple[JSON, list[JSON]]],
                 observed: Callable[[JSON, list[JSON]], Snapshot]) -> None:
        self._stream = stream
        self._ref = ref
        self._read = read
        self._observed = observed
        self._service: JSON = {}
        self._instances: dict[str, JSON] = {}
        self.unread = True      # nothing read since subscribed: the next look reads
        self._reading: list[JSON] | None = None   # the messages that came while that read was under way
        self._changed = False   # the next look answers what is kept (a change, or a wait starting)
        # The service's states from before an action this run sent: an event still showing one was
        # published before the action (cattle publishes once a second, and the event may arrive after
        # the action's answer), so it is skipped until the service shows another state.
        self._before: set[str] = set()
        self._answered = ""   # the state the answer of the last action showed
        # The states the service left by the run's last action, for a read that starts the view:
        # a message still showing one, received during that read, was published before the action.
        self.stale: set[str] = set()
        self._checks: list[float] = []   # when (the stream's clock) to read again after a finish

    def attach(self) -> ServiceEvents:
        """Start a wait on this view: its first `next` answers the service as last seen."""
        self._changed = True
        return self

    def next(self, timeout: float) -> Snapshot | None:
        if self.unread:
            if not self._stream.opened:
                self._stream.pump(timeout)
                return None
            # What the stream received before the read is older than it: taken first (and ignored by
            # this view), so that only what comes during the read is applied after it.
            if not self._stream.pump(timeout, drain=True):
                return None
            stale, self.stale = self.stale, set()
            return self._reread(stale)
        if not self._changed:
            due = self._due()
            if due is not None and due <= 0:
                self._checks.pop(0)
                return self._reread(self._before | {self._answered})
            self._stream.pump(timeout if due is None else min(timeout, due))
        with self._stream.state:
            if not self._changed:
                return None
            self._changed = False
            service, instances = self._service, list(self._instances.values())
        return self._observed(service, instances)

    def _due(self) -> float | None:
        """Seconds until the next read after a finish is due (<= 0: now); None when none is left,
        or the stream already showed the service leave the state the finish's answer showed."""
        with self._stream.state:
            if self._checks and str(self._service.get("state")) != self._answered:
                self._checks.clear()
            return self._checks[0] - self._stream.clock() if self._checks else None

    def _reread(self, stale: set[str]) -> Snapshot:
        """The service and its containers read (once the stream is open, so no change is missed);
        the messages that came meanwhile are applied after it, except those still showing a state in
        `stale` once the read showed another (they were published before the read)."""
        with self._stream.state:
            self._reading = []
        try:
            service, instances = self._read()
        finally:
            with self._stream.state:
                arrived, self._reading = self._reading or [], None
        with self._stream.state:
            self._service, self._instances = service, {str(item.get("id")): item for item in instances}
            self.unread = self._changed = False
            self._before = stale - {str(service.get("state"))}
            for event in arrived:
                self.apply(event)
            self._changed = False
            service, instances = self._service, list(self._instances.values())
        return self._observed(service, instances)

    def silent(self, why: str) -> StreamLost:
        return self._stream.silent(why)

    def close(self) -> None:
        """The wait is over; the view stays subscribed for the target's next wait."""
        self._stream.detach()

    def sending(self) -> None:
        """An action is being sent, decided on a newer state than any an earlier action left: what
        that action left is no longer skipped (a quick effect of this one may show it again)."""
        with self._stream.state:
            self._before.clear()

    def acted(self, action: str, decided: JSON, answer: JSON | None) -> None:
        """`action` was sent on `decided` (the service as read for it): `answer` is its answer (the
        service in the state the action moved it to), None when none came: then read it again.
        After `finishupgrade`, the service is read again at FINISH_READS_SECONDS after the answer
        until it shows another state."""
        try:
            self._stream.pump(ANSWER_WAIT_SECONDS, drain=True)   # what was received before the answer is older
        except StreamLost:
            pass   # the next wait says so
        with self._stream.state:
            self._checks.clear()
            left, self._answered = str(decided.get("state")), str((answer or {}).get("state"))
            self.stale = {left} - {self._answered}
            # A view showing another state than those two learned it while the action was under way:
            # maybe its effect (a quick finish published before its answer came), maybe older news.
            # Neither it nor the answer can be trusted: the next wait reads.
            kept = str(self._service.get("state"))
            if (isinstance(answer, dict) and answer.get("id") == self._ref.id and not self.unread
                    and kept in (left, self._answered)):
                self._before, self._service = set(self.stale), answer
                if action == FINISH:
                    now = self._stream.clock()
                    self._checks = [now + delay for delay in FINISH_READS_SECONDS]
            else:
                self.unread = True

    def apply(self, event: JSON) -> None:
        """Keep what one message says of the service or of one of its containers (nothing of a ping
        or another resource); called by the stream, holding `state`."""
        if self._reading is not None:
            self._reading.append(event)   # a read is under way: applied after it
            return
        if self.unread:
            return
        resource = (event.get("data") or {}).get("resource") if event.get("name") == RESOURCE_CHANGE else None
        if not isinstance(resource, dict):
            return
        if resource.get("id") == self._ref.id:
            if str(resource.get("state")) in self._before:
                return
            self._before.clear()
            self._service = resource
            self._changed = True
        elif (resource.get("type") == "container" or resource.get("kind") == "container") and self._owns(resource):
            self._instances[str(resource.get("id"))] = resource
            self._changed = True

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
        project = re.match(_PROJECT_URL, ref.url)
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
