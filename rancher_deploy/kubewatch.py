"""One workload watched through the Kubernetes API Rancher proxies, with a long window and a check
that no proxy holds it.

A Kubernetes watch has no heartbeat: a proxy that holds its body (nginx's `proxy_buffering`) looks
exactly like a watch on which nothing happens. Asking the server to end every watch after a few
seconds made a proxy let go of what it held, but cost one request per few seconds of rollout. A
watch here asks what client-go's reflector asks, a random 5-10 minutes, and is checked instead:

- While the wait goes on (the rollout has not converged: a wait stops reading its stream once it
  has), a watch silent for `quiet` seconds costs one read of the workload. A read that shows the
  same resourceVersion the watch last delivered found nothing the watch missed; one that shows
  another gives the wait what it read at once, and the watch `DELIVERY_GRACE_SECONDS` to send that
  change too (it may be on its way); a watch that does not is taken for held (`StreamLost`, the
  wait polls from then on, said once a run).
- Each read that finds nothing new doubles the silence the next one waits for (`quiet`, 2x, 4x, ...
  up to `CONFIRM_CAP_SECONDS`), for the whole wait: what the watch delivers does not reset it, and a
  silence is confirmed at most once per interval. A rollout's requests while waiting are so one
  watch (one more each 5-10 minutes, as the server ends it), one GET where the write's answer does
  not give the start, and at most log2(60 s / quiet) + 1 confirming reads in its first two minutes
  (6 at the default 2 s), then at most one a minute of silence: not one per poll interval.
"""

from __future__ import annotations

import random
import time
from typing import Callable

from rancher_deploy.errors import NotFound
from rancher_deploy.http import JSON, RancherSession
from rancher_deploy.snapshot import TargetRef
from rancher_deploy.streams import Feed, Lost, StreamEnded, StreamLost, json_lines

# What client-go's reflector asks of each watch it opens: `timeoutSeconds` drawn in [5, 10) minutes,
# `int64(minWatchTimeout.Seconds() * (rand.Float64() + 1.0))` with minWatchTimeout = 5 * time.Minute,
# "to avoid situations of hanging watchers" (kubernetes staging/src/k8s.io/client-go/tools/cache/
# reflector.go); drawn per watch so that many clients do not come back at once.
WATCH_MIN_SECONDS = 300
# The longest silence a confirming read waits for once it has backed off: a held watch on a rollout
# that starts moving late is found within a minute, at one read a minute.
CONFIRM_CAP_SECONDS = 60.0
# How long a watch has to send a change a read has just shown: the apiserver's watch cache sends an
# event within milliseconds of the write (and Rancher's proxy passes it as it comes), so a second
# means a proxy holds it; a read made just after a change and before its event must not lose the watch.
DELIVERY_GRACE_SECONDS = 1.0
# A read timeout past the window the watch asked for: silent that long, it is held for good (no
# buffering proxy lets go of a watch the server has not ended).
HELD_MARGIN_SECONDS = 60.0
# Between re-lists after 410 Expired, client-go's reflector backs off (tools/cache/reflector.go:
# `wait.NewExponentialBackoffManager(800*time.Millisecond, 30*time.Second, 2*time.Minute, 2.0, 1.0,
# clock)`, the wait `wait.BackoffUntil` does before each ListAndWatch): 0.8 s, doubling, capped at
# 30 s, each stretched by a random [0, 1) of itself (jitter 1.0). Here the cap is also the poll
# interval (RANCHER_POLL_INTERVAL, `quiet`): a relist is a read, and a wait never reads more often
# than it would poll. Without it, a server that answers every watch 410 costs a read and a watch
# each time the wait looks (hundreds a second).
RELIST_FIRST_SECONDS = 0.8
RELIST_CAP_SECONDS = 30.0


class KubeWatch:
    """One workload watched the way kubectl's rollout status does (client-go tools/watch
    UntilWithSync over a ListWatch narrowed by `fieldSelector=metadata.name=`): read it, then watch
    from that read's resourceVersion; a watch the server ends (its `timeoutSeconds`, 5-10 minutes)
    is opened again from the last version seen, and one answered 410 Expired (etcd compacted past
    that version: client-go tools/cache/reflector.go isExpiredError) reads the object again and
    watches from there. `next` answers workload bodies as the Kubernetes API serves them. Given
    `last` (the object as a write just answered it: the apiserver's answer carries its
    resourceVersion), it starts from that instead of reading.

    `quiet` (seconds, RANCHER_POLL_INTERVAL) is how long the watch may be silent before one read
    checks it (the module's rule), and the longest pause between re-lists (`RELIST_FIRST_SECONDS`);
    `lost` is the run's flag, set when the watch is lost. Time is a dependency (timing.py): `clock`
    reads seconds, `sleep` pauses (the run's, so a signal cuts it short), `uniform` draws in [0, 1)
    for the watch's window and the re-list's jitter.
    """

    def __init__(self, session: RancherSession, ref: TargetRef, lost: Lost, quiet: float,
                 last: JSON | None = None, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, uniform: Callable[[], float] = random.random) -> None:
        self._session = session
        self._clock, self._sleep, self._uniform = clock, sleep, uniform
        self._quiet = max(quiet, 0.001)
        self._relist_delay = RELIST_FIRST_SECONDS   # the next re-list's pause before jitter
        self._relist_at: float | None = None        # when the re-list an expired watch asked for is due
        self._ref = ref
        self._lost = lost
        self._interval = self._quiet   # the silence the next confirming read waits for
        self._collection, _, self._name = ref.url.rpartition("/")
        self._feed: Feed | None = None
        self._pending: JSON | None = None
        self._version = ""
        self._heard = clock()              # when the watch last sent something, or a read last looked
        self._owed: float | None = None    # when a read showed a version the watch has not sent yet
        self._shown = ""                   # the version the last confirming read showed
        self._relist(last)

    def _relist(self, last: JSON | None = None) -> None:
        body = last if last is not None else self._session.get(self._ref.url, what=f"Reading {self._ref.name}")
        self._pending = body
        self._version = _version_of(body)
        self._open()

    def _open(self) -> None:
        """Start the next watch; its request is sent on the reader thread (`streams.json_lines`)."""
        self.close()
        window = int(WATCH_MIN_SECONDS * (self._uniform() + 1.0))
        params = {"watch": "1", "fieldSelector": f"metadata.name={self._name}", "resourceVersion": self._version,
                  "timeoutSeconds": str(window)}
        self._feed = json_lines(
            lambda: self._session.open_stream(self._collection, params, what=f"Watching {self._ref.name}",
                                              silence=window + HELD_MARGIN_SECONDS),
            f"the watch of {self._ref.name}", self._lost)

    def next(self, timeout: float) -> JSON | None:
        """The workload as it is now (first), then after each change; None when nothing changed
        within `timeout` seconds. A silence longer than the current interval is checked with one
        read, whose body comes back when it shows a change. Raises StreamLost (the watch broke, or
        did not send a change a read showed), NotFound when the workload was deleted, and what a
        GET raises when it is read."""
        if self._pending is not None:
            body, self._pending = self._pending, None
            self._heard = self._clock()
            return body
        if self._relist_at is not None:
            return self._relist_when_due(timeout)
        now = self._clock()
        if self._owed is not None and now - self._owed >= DELIVERY_GRACE_SECONDS:
            raise self.silent(f"went silent: a read shows version {self._shown} of the workload, which the "
                              f"watch had not sent {DELIVERY_GRACE_SECONDS:g}s later (a proxy holds it)")
        if self._owed is None and now - self._heard >= self._interval:
            return self._confirm()
        if self._feed is None:
            self._open()
        assert self._feed is not None
        try:
            event = self._feed.get(timeout)
        except StreamEnded:
            self._open()  # the server's timeoutSeconds: watch on from the last version seen
            return None
        if event is None:
            return None
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                self._expired()
                return None
            raise self.silent(f"failed ({obj.get('message') or obj.get('reason')})")
        if kind == "DELETED":
            raise NotFound(f"{self._ref.name} was deleted", status=404)
        self._version = _version_of(obj) or self._version
        self._heard, self._owed = self._clock(), None
        self._relist_delay = RELIST_FIRST_SECONDS   # a watch that delivers: the next 410 re-lists soon again
        return dict(obj)

    def _expired(self) -> None:
        """410 Expired: close the watch and schedule the re-list after a jittered pause (client-go's
        backoff, `RELIST_FIRST_SECONDS`), then double the next pause."""
        self.close()
        pause = min(self._relist_delay * (1.0 + self._uniform()), self._quiet)
        self._relist_at = self._clock() + pause
        self._relist_delay = min(2 * self._relist_delay, RELIST_CAP_SECONDS)

    def _relist_when_due(self, timeout: float) -> JSON | None:
        """Sleep out the re-list's pause, at most `timeout` seconds of it; once due, read the workload
        (the body answered) and watch from there. None while the pause lasts."""
        left = self._relist_at - self._clock() if self._relist_at is not None else 0.0
        if left > 0:
            self._sleep(min(timeout, left))
            if self._relist_at is not None and self._clock() < self._relist_at:
                return None
        self._relist_at = None
        self._relist()
        return self.next(timeout)

    def _confirm(self) -> JSON | None:
        """One read of the workload after a silence (the module's rule): None when it shows the
        version the watch last sent (and the next silence must be twice as long), else what it
        read, the watch owing that change."""
        self._heard = self._clock()   # before the read: a read that fails is not tried again at once
        body = self._session.get(self._ref.url, what=f"Reading {self._ref.name}")
        self._shown = _version_of(body)
        if self._shown == self._version:
            self._interval = min(2 * self._interval, CONFIRM_CAP_SECONDS)
            return None
        self._owed = self._clock()
        return body

    def silent(self, why: str) -> StreamLost:
        """Take the watch for one a proxy holds (a read showed what it did not): lost for the run.
        Marked lost before the connection is closed, so that this is the loss the log tells."""
        lost = self._lost.take(StreamLost(f"the watch of {self._ref.name} {why}"))
        self.close()
        return lost

    def close(self) -> None:
        if self._feed is not None:
            self._feed.close()
            self._feed = None


def _version_of(body: JSON) -> str:
    return str((body.get("metadata") or {}).get("resourceVersion") or "")
