"""The poll loop: observe, judge, report progress, until done, failed, timed out or interrupted.

The loop is apart from the judgement (kubectl's rollout status, botocore's waiters): each snapshot
judges itself by its flavour's rule. A read that fails in a transient way (Rancher restarting, a
network blip) does not end the wait: it is reported once and the loop keeps looking until the
deadline, because the target itself may be fine.
"""

from __future__ import annotations

from typing import Callable

from rancher_deploy.errors import (
    NotFound,
    RancherAPIError,
    TransientRancherError,
    WaitFailed,
    WaitGone,
    WaitInterrupted,
    WaitTimedOut,
)
from rancher_deploy.events import Emit, Level, Progress, Step
from rancher_deploy.snapshot import Goal, Snapshot, Verdict
from rancher_deploy.timing import Deadline, Pace

HEARTBEAT_SECONDS = 30.0


def wait_for(
    observe: Callable[[], Snapshot],
    goal: Goal,
    *,
    target: str,
    pace: Pace,
    emit: Emit,
) -> Snapshot:
    """Poll until the goal is reached and return the snapshot that reached it.

    Emits a Progress event when what is seen changes, and every HEARTBEAT_SECONDS otherwise.
    Raises WaitFailed (the judge said failed, or a read Rancher refused), WaitGone (removed, or
    404), WaitTimedOut (after `pace.timeout_seconds` of wall clock) or WaitInterrupted (a signal);
    each carries the last snapshot seen.
    """
    deadline = Deadline(pace)
    last: Snapshot | None = None
    last_line: tuple[object, ...] | None = None
    last_shown = deadline.started
    read_trouble = False
    while True:
        signal_number = pace.interrupted()
        if signal_number is not None:
            raise WaitInterrupted(f"interrupted while waiting for {target} to be {goal.value}", last, signal_number)
        try:
            snapshot = observe()
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
        else:
            if read_trouble:
                emit(Step("Rancher answers again", Level.INFO, target))
                read_trouble = False
            last = snapshot
            judgement = snapshot.judge(goal)
            now = pace.clock()
            line = (snapshot.state, snapshot.message, snapshot.health, judgement.message)
            if line != last_line or now - last_shown >= HEARTBEAT_SECONDS:
                emit(_progress(target, snapshot, deadline.elapsed_seconds))
                last_line, last_shown = line, now
            if judgement.verdict is Verdict.DONE:
                return snapshot
            if judgement.verdict is Verdict.FAILED:
                raise (WaitGone if judgement.gone else WaitFailed)(judgement.message, snapshot)
        if deadline.passed():
            raise WaitTimedOut(
                f"{target} was not {goal.value} after {pace.timeout_seconds:g}s (RANCHER_TIMEOUT)"
                + (f"; last seen {last.describe()}" if last else ""),
                last,
            )
        deadline.pause()


def _progress(target: str, snapshot: Snapshot, elapsed: float) -> Progress:
    health = snapshot.health
    return Progress(target=target, state=snapshot.state, message=snapshot.message,
                    healthy=health.healthy if health else None, total=health.total if health else None,
                    elapsed_seconds=elapsed, counted=health.counted if health else "healthy")
