"""The poll loop: observe, judge, report progress, until done, failed, timed out or interrupted.

The loop is apart from the judgement (kubectl's rollout status, botocore's waiters): each snapshot
judges itself by its flavour's rule. A read that fails in a transient way (Rancher restarting, a
network blip) does not end the wait: it is reported once and the loop keeps looking until the
deadline, because the target itself may be fine. Where Rancher never says that a rollout stopped
progressing (1.x: new containers that never become healthy are waited for for ever, rancher-api.md
§2.2), the wait judges progress itself with a `ProgressTracker`, like Kubernetes' progress deadline.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from rancher_deploy.backend import Stream, StreamLost
from rancher_deploy.errors import (
    NotFound,
    RancherAPIError,
    TransientRancherError,
    WaitEnded,
    WaitFailed,
    WaitGone,
    WaitInterrupted,
    WaitTimedOut,
)
from rancher_deploy.events import Emit, Level, Progress, Step
from rancher_deploy.snapshot import Goal, Judgement, Snapshot, Verdict
from rancher_deploy.timing import Deadline, Pace, polling

HEARTBEAT_SECONDS = 30.0
MIN_PAUSE_SECONDS = 0.01    # a pause cut to a due heartbeat never reaches 0 (on a clock only sleeping moves)
STREAM_READ_SECONDS = 0.05   # the longest a stream read blocks before signals and deadlines are looked at


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class ProgressTracker:
    """How long a rollout has gone without progress: Kubernetes' progress deadline, kept by the wait.

    Progress is one more new container (or replica) counted healthy than ever before; the clock
    starts at the first snapshot and restarts at each progress. Pure: `seen` returns the next
    value, so each rule has a table test. Times are the wait's clock, in seconds.
    """

    deadline_seconds: float
    since: float | None = None   # when the best count so far was first seen
    best: int = 0                # the most healthy new containers seen so far

    def seen(self, snapshot: Snapshot, now: float) -> ProgressTracker:
        """The tracker after one more snapshot read at `now`."""
        healthy = snapshot.health.healthy if snapshot.health else 0
        if self.since is None or healthy > self.best:
            return replace(self, since=now, best=max(healthy, self.best))
        return self

    def idle_seconds(self, now: float) -> float:
        """Seconds since the last progress (0 before the first snapshot)."""
        return 0.0 if self.since is None else now - self.since

    def overdue(self, now: float) -> bool:
        return self.since is not None and self.idle_seconds(now) >= self.deadline_seconds


def stalled_message(snapshot: Snapshot, idle_seconds: float) -> str:
    """Why a rollout without progress was given up, in the words a person reads first."""
    health = snapshot.health
    healthy = health.healthy if health else 0
    counts = f"{healthy}/{health.total if health and health.total is not None else '?'} healthy"
    what = "never became healthy" if healthy == 0 else "did not all become healthy"
    text = (f"the new containers {what}: {counts} after {idle_seconds:.0f}s without progress "
            "(RANCHER_PROGRESS_DEADLINE)")
    return text + (f"; Rancher says: {snapshot.message}" if snapshot.message else "")


def wait_for(
    observe: Callable[[], Snapshot],
    goal: Goal,
    *,
    target: str,
    pace: Pace,
    emit: Emit,
    progress_deadline: float | None = None,
    watch: Callable[[], Stream | None] | None = None,
    stop: Callable[[Snapshot, Judgement], WaitEnded | None] | None = None,
    until: Callable[[Snapshot], bool] | None = None,
) -> Snapshot:
    """Wait until the goal is reached and return the snapshot that reached it.

    With `watch`, observations come from the stream it opens (Rancher pushes each change: no request
    while nothing changes); when it cannot be opened, breaks or goes silent, this polls instead,
    saying so once a run (`StreamLost.first`). A stream's silence is never a verdict: before the
    timeout or the progress deadline ends a wait that a stream fed, one read confirms it (the judge
    decides on that read), and a read that shows what the stream did not send takes the stream for
    silent (`Stream.silent`: lost for the rest of the run).
    Polls start `FIRST_POLL_SECONDS` apart and back off to `pace.poll_interval_seconds` (the cap),
    starting fast again after each change seen. Emits a Progress event when what is seen changes,
    and every HEARTBEAT_SECONDS otherwise. Raises WaitFailed (the judge said failed, a read Rancher
    refused, or `progress_deadline` seconds passed without a further healthy new container),
    WaitGone (removed, or 404), WaitTimedOut (after `pace.timeout_seconds` of wall clock) or
    WaitInterrupted (a signal); each carries the last snapshot seen.

    Each snapshot read is also put to the caller, after its progress line and before its verdict:
    `stop` may end the wait with the error it returns (what the target shows is not what the caller
    waits on any more: another writer's images), and `until` returns the snapshot at once when it
    holds (the caller has something to do first: an action Rancher offers now).
    """
    deadline = Deadline(pace)
    progress = ProgressTracker(progress_deadline) if progress_deadline is not None else None
    stream: Stream | None = None
    opening = watch   # opened inside the loop, so a read that starts it fails as a poll would
    delays = polling(pace.poll_interval_seconds)
    last: Snapshot | None = None
    last_line: tuple[object, ...] | None = None
    last_shown = deadline.started
    read_trouble = False
    confirm = False   # the next look is a read that confirms a verdict the stream alone would give
    try:
        while True:
            signal_number = pace.interrupted()
            if signal_number is not None:
                raise WaitInterrupted(f"interrupted while waiting for {target} to be {goal.value}", last,
                                      signal_number)
            snapshot: Snapshot | None = None
            fresh, confirming, confirm = False, confirm, False
            try:
                if opening is not None:
                    open_now, opening = opening, None
                    stream = open_now()
                if stream is not None and not confirming:
                    # Short reads, so that a signal or the deadline is noticed while nothing changes.
                    snapshot = stream.next(min(STREAM_READ_SECONDS, max(0.01, deadline.remaining_seconds)))
                else:
                    fresh = True
                    snapshot = observe()
            except StreamLost as lost:
                _say_lost(lost, emit, target, pace)
                _close(stream)
                stream = None
                continue
            except NotFound:
                raise WaitGone(f"{target} disappeared while waiting (HTTP 404): was it removed?", last) from None
            except RancherAPIError as error:
                # 401/403/422 on a read will not pass by waiting; end the wait so that what was changed
                # is restored (or reported), rather than escaping as "nothing was changed".
                raise WaitFailed(str(error), last, error) from None
            except TransientRancherError as error:
                if not read_trouble:
                    emit(Step(f"{error}; still waiting", Level.WARNING, target))
                    read_trouble = True
            if snapshot is not None and pace.interrupted() is not None:
                # A signal that came while reading (or opening a stream, which reads too) wins over
                # what was read: the loop's top ends the wait on it, naming this reading.
                last = snapshot
                continue
            now = pace.clock()
            if snapshot is not None:
                if read_trouble:
                    emit(Step("Rancher answers again", Level.INFO, target))
                    read_trouble = False
                judgement = snapshot.judge(goal)
                line = (snapshot.state, snapshot.message, snapshot.health, judgement.message)
                if confirming and stream is not None and last is not None and line != last_line:
                    _say_lost(stream.silent(f"went silent: a read shows {snapshot.describe()}, which it did not "
                                            f"send (it last said {last.describe()})"), emit, target, pace)
                    stream = None
                last = snapshot
                if line != last_line or now - last_shown >= HEARTBEAT_SECONDS:
                    if line != last_line:
                        delays = polling(pace.poll_interval_seconds)  # a change: look again soon
                    emit(_progress(target, snapshot, deadline.elapsed_seconds))
                    last_line, last_shown = line, now
                if stop is not None and (ended := stop(snapshot, judgement)) is not None:
                    raise ended
                if judgement.verdict is Verdict.DONE or (until is not None and until(snapshot)):
                    return snapshot
                if judgement.verdict is Verdict.FAILED:
                    raise (WaitGone if judgement.gone else WaitFailed)(judgement.message, snapshot)
                if progress is not None:
                    progress = progress.seen(snapshot, now)
            elif last is not None and now - last_shown >= HEARTBEAT_SECONDS:
                emit(_progress(target, last, deadline.elapsed_seconds))
                last_shown = now
            overdue = progress is not None and last is not None and progress.overdue(now)
            if (overdue or deadline.passed()) and stream is not None and not fresh:
                confirm = True   # a stream's silence is no verdict: the judge decides on one read
                continue
            if progress is not None and last is not None and overdue:
                raise WaitFailed(stalled_message(last, progress.idle_seconds(now)), last)
            if deadline.passed():
                raise WaitTimedOut(
                    f"{target} was not {goal.value} after {pace.timeout_seconds:g}s (RANCHER_TIMEOUT)"
                    + (f"; last seen {last.describe()}" if last else ""),
                    last,
                )
            if stream is None:
                # Look again no later than the next heartbeat line is due.
                delay = min(next(delays), max(0.0, last_shown + HEARTBEAT_SECONDS - now))
                if progress is not None and progress.since is not None:
                    # Look again when the progress deadline falls due, so it is kept to the second.
                    delay = min(delay, max(0.0, progress.since + progress.deadline_seconds - now))
                deadline.pause(max(delay, MIN_PAUSE_SECONDS))
    finally:
        _close(stream)


def _say_lost(lost: StreamLost, emit: Emit, target: str, pace: Pace) -> None:
    """The warning that the run's waits poll from now on: once a run, by the wait that lost the
    stream first (parallel waits losing it at once share `streams.Lost`)."""
    if lost.first:
        emit(Step(f"{lost}; polling instead (every {pace.poll_interval_seconds:g}s at most, "
                  "RANCHER_POLL_INTERVAL)", Level.WARNING, target))


def _close(stream: Stream | None) -> None:
    if stream is not None:
        stream.close()


def _progress(target: str, snapshot: Snapshot, elapsed: float) -> Progress:
    health = snapshot.health
    return Progress(target=target, state=snapshot.state, message=snapshot.message,
                    healthy=health.healthy if health else None, total=health.total if health else None,
                    elapsed_seconds=elapsed, counted=health.counted if health else "healthy")
