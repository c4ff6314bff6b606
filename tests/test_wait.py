"""The poll loop with an injected clock: no test here sleeps."""

from __future__ import annotations

import pytest

from rancher_deploy.errors import NotFound, TransientRancherError, WaitFailed, WaitInterrupted, WaitTimedOut
from rancher_deploy.events import Event, Progress, Step
from rancher_deploy.snapshot import Goal, Health, Phase, Snapshot
from rancher_deploy.status import ServiceStatus, Transitioning
from rancher_deploy.timing import Pace
from rancher_deploy.wait import ProgressTracker, wait_for


class FakeTime:
    """A clock that moves only when the loop sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run(items: list[Snapshot | Exception], goal: Goal = Goal.UPGRADED, timeout: float = 60,
        interrupted: list[int | None] | None = None) -> tuple[Snapshot, list[Event], FakeTime]:
    time = FakeTime()
    queue = list(items)
    events: list[Event] = []

    def observe() -> Snapshot:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    signals = interrupted or []
    pace = Pace(timeout, 2.0, time.clock, time.sleep, lambda: signals.pop(0) if signals else None)
    result = wait_for(observe, goal, target="shop/web", pace=pace, emit=events.append)
    return result, events, time


def reading(state: str, transitioning: str, message: str | None, healthy: int, total: int) -> Snapshot:
    """A Rancher 1.x service as a wait sees it."""
    health = Health(healthy, total)
    status = ServiceStatus(state, Transitioning(transitioning), message, health)
    return Snapshot(state, Phase.BUSY, (), status, message, health)


UPGRADING = reading("upgrading", "yes", "In Progress", 0, 2)
HALF = reading("upgrading", "yes", "In Progress", 1, 2)
UPGRADED = reading("upgraded", "no", None, 2, 2)


def test_returns_when_done_and_prints_progress_only_on_change() -> None:
    result, events, time = run([UPGRADING, UPGRADING, UPGRADING, HALF, UPGRADED])
    assert result is UPGRADED
    progress = [event for event in events if isinstance(event, Progress)]
    assert [(p.state, p.healthy) for p in progress] == [("upgrading", 0), ("upgrading", 1), ("upgraded", 2)]
    # Polls start fast and back off to the poll interval (the cap), fast again after a change.
    assert time.slept == [0.05, 0.1, 0.2, 0.05]
    assert progress[1].elapsed_seconds == pytest.approx(0.35)


def test_polls_back_off_to_the_poll_interval_and_start_fast_again_after_a_change() -> None:
    result, _, time = run([UPGRADING] * 8 + [HALF, HALF, UPGRADED])
    assert result is UPGRADED
    assert time.slept == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 0.05, 0.1])


def test_heartbeat_repeats_an_unchanged_line_every_30_seconds() -> None:
    time = FakeTime()
    events: list[Event] = []
    pace = Pace(65, 2.0, time.clock, time.sleep)
    with pytest.raises(WaitTimedOut):
        wait_for(lambda: UPGRADING, Goal.UPGRADED, target="shop/web", pace=pace, emit=events.append)
    # 0 s, 30 s, 60 s: three identical lines for a 65 s wait, not 33.
    assert [e.elapsed_seconds for e in events if isinstance(e, Progress)] == [0.0, 30.0, 60.0]


def test_times_out_on_the_wall_clock_with_the_last_state() -> None:
    with pytest.raises(WaitTimedOut) as caught:
        run([HALF], timeout=10)
    assert str(caught.value) == ("shop/web was not upgraded after 10s (RANCHER_TIMEOUT); "
                                 "last seen upgrading (In Progress), 1/2 healthy")
    assert caught.value.last == HALF


def test_rancher_error_signal_fails_at_once() -> None:
    failing = reading("upgrading", "error", "Container should have been running but is in stopped state", 0, 2)
    with pytest.raises(WaitFailed, match="should have been running"):
        run([UPGRADING, failing, UPGRADED])


# ---- the progress deadline (a pure value, then the loop that keeps it) ------------------------

def tracker_after(readings: list[tuple[float, int]], deadline: float = 60) -> ProgressTracker:
    tracker = ProgressTracker(deadline)
    for now, healthy in readings:
        tracker = tracker.seen(reading("upgrading", "yes", None, healthy, 3), now)
    return tracker


@pytest.mark.parametrize(("readings", "now", "idle", "overdue"), [
    ([], 100, 0, False),                                   # nothing seen: the clock has not started
    ([(0, 0)], 59, 59, False),                             # the first snapshot starts the clock
    ([(0, 0)], 60, 60, True),                              # ... and the deadline is inclusive
    ([(0, 0), (50, 1)], 100, 50, False),                   # one more healthy container restarts it
    ([(0, 0), (50, 1), (70, 1)], 110, 60, True),           # the same count is no progress
    ([(0, 2), (30, 1), (50, 2)], 60, 60, True),            # falling back and recovering is not either
    ([(0, 0), (10, 2), (20, 3)], 79, 59, False),           # each further one counts
])
def test_progress_tracker(readings: list[tuple[float, int]], now: float, idle: float, overdue: bool) -> None:
    tracker = tracker_after(readings)
    assert (tracker.idle_seconds(now), tracker.overdue(now)) == (idle, overdue)


def test_a_wait_without_progress_fails_on_the_progress_deadline_with_rancher_s_words() -> None:
    stuck = reading("upgrading", "yes", "Waiting: healthy [container:1i9]", 0, 2)
    time = FakeTime()
    pace = Pace(600, 10.0, time.clock, time.sleep)
    with pytest.raises(WaitFailed) as caught:
        wait_for(lambda: stuck, Goal.UPGRADED, target="shop/web", pace=pace, emit=lambda e: None,
                 progress_deadline=300)
    assert str(caught.value) == ("the new containers never became healthy: 0/2 healthy after 300s without "
                                 "progress (RANCHER_PROGRESS_DEADLINE); Rancher says: Waiting: healthy [container:1i9]")
    assert time.now - 1000.0 == 300


def test_some_progress_then_a_stall_says_how_far_it_got() -> None:
    readings = iter([UPGRADING, HALF])
    time = FakeTime()
    pace = Pace(600, 10.0, time.clock, time.sleep)
    with pytest.raises(WaitFailed, match="did not all become healthy: 1/2 healthy after 100s without progress"):
        wait_for(lambda: next(readings, HALF), Goal.UPGRADED, target="shop/web", pace=pace, emit=lambda e: None,
                 progress_deadline=100)
    # HALF is read at the second poll (0.05 s): the deadline counts from there, not from the start.
    assert time.now - 1000.0 == pytest.approx(100.05), "the clock restarted when the first new container got healthy"


def test_without_a_progress_deadline_only_the_timeout_ends_a_stall() -> None:
    with pytest.raises(WaitTimedOut):
        run([UPGRADING], timeout=1000)


def test_transient_read_errors_are_reported_once_and_the_wait_resumes() -> None:
    blip = TransientRancherError("Reading service failed: cannot connect")
    result, events, _ = run([UPGRADING, blip, blip, blip, UPGRADED])
    assert result is UPGRADED
    warnings = [e.message for e in events if isinstance(e, Step)]
    assert warnings == ["Reading service failed: cannot connect; still waiting", "Rancher answers again"]


def test_a_target_that_disappears_fails_the_wait() -> None:
    with pytest.raises(WaitFailed, match="disappeared"):
        run([UPGRADING, NotFound("gone", status=404)])


def test_a_signal_interrupts_with_the_last_observation() -> None:
    with pytest.raises(WaitInterrupted) as caught:
        run([UPGRADING], interrupted=[None, None, 15])
    assert caught.value.signal_number == 15
    assert caught.value.last == UPGRADING


def test_a_signal_that_came_during_the_read_wins_over_what_it_read() -> None:
    # SIGTERM while a read (or the opening of a stream, which reads too) was under way: the wait ends
    # on the signal even though that read says done, and names that read.
    with pytest.raises(WaitInterrupted) as caught:
        run([UPGRADED], interrupted=[None, 15, 15])
    assert caught.value.last == UPGRADED
