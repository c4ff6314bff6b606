"""How a run spends time: the pace of its waits, the one deadline loop, and the one backoff.

Time is a dependency (the clock, the sleeper and the signal check are injected), so no test sleeps.
Deadlines are wall-clock, as kubectl's and botocore's are, so a slow Rancher cannot stretch them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

FIRST_BACKOFF_SECONDS = 0.5
# A wait's first poll comes this soon: a change often completes in a fraction of a second (a
# Kubernetes rollout of a ready image), and waiting a whole poll interval would add up to it.
FIRST_POLL_SECONDS = 0.05


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class Pace:
    """How a wait spends time: its budget and poll interval (seconds), and where time comes from.

    `interrupted` answers the signal number once SIGTERM/SIGINT arrived, else None.
    """

    timeout_seconds: float
    poll_interval_seconds: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    interrupted: Callable[[], int | None] = lambda: None


# How long a run waits for the restore a signal started (RANCHER_ON_INTERRUPT=rollback), from the moment
# the signal came (`Grace`). A CI kills the step a few seconds after its stop signal, and a run killed
# mid-wait reports nothing (exit 137, no outputs). The tightest of those timeouts is Woodpecker's before
# 3.14, `docker stop` with 5 s between SIGTERM and SIGKILL; GitHub's SIGTERM comes 7.5 s after its SIGINT
# and is followed by the kill 2.5 s later; GitLab's docker stop gives 10 s; Drone kills at once
# (docs/ci-conventions.md §6). 2 s of waiting, as the conventions ask ("exit within ~2 s"), leaves 3 s
# of Woodpecker's 5 for what is not waiting: the request in flight when the signal came, the restore's
# own request, the last read that names each target's state, the CI's files and the exit.
GRACE_SECONDS = 2.0


class Grace:
    """The first signal as a run's waits see it, and how long a restore it started is waited for.

    `interrupted()` answers the first signal's number from the moment the run's `stop` check first
    returned it (and stays so); `over()` answers it once `seconds` have passed since the signal came
    (`arrived`, on `clock`: a request in flight may hold the run seconds before it checks, while the
    CI's kill counts from the signal; where unknown, since the check first saw it), and a second
    signal's number (`urgent`) at once: what ends the wait for a restore.
    `sleep` never sleeps past the grace's end, so that end is kept to the poll. Targets in threads
    share one Grace: its end is one moment for the whole run, however many targets restore.
    """

    def __init__(self, clock: Callable[[], float], sleep: Callable[[float], None],
                 stop: Callable[[], int | None], urgent: Callable[[], int | None] = lambda: None, *,
                 arrived: Callable[[], float | None] = lambda: None, seconds: float = GRACE_SECONDS) -> None:
        self.seconds = seconds
        self._clock, self._sleep, self._stop, self._urgent, self._arrived = clock, sleep, stop, urgent, arrived
        self._first: int | None = None
        self._since: float | None = None   # when the first signal came; set once (threads race to the same moment)

    def interrupted(self) -> int | None:
        """The first signal's number once the run was asked to stop, else None."""
        if self._first is None:
            number = self._stop()
            if number is not None and self._first is None:
                came = self._arrived()
                self._since, self._first = self._clock() if came is None else came, number
        return self._first

    def urgent(self) -> int | None:
        """A second signal's number: the restore is not waited for at all."""
        return self._urgent()

    def over(self) -> int | None:
        """The signal that ends a restore's wait now: a second one, or the first once its grace passed."""
        second = self._urgent()
        if second is not None:
            return second
        first = self.interrupted()
        if first is not None and self._since is not None and self._clock() >= self._since + self.seconds:
            return first
        return None

    def sleep(self, seconds: float) -> None:
        """Sleep `seconds`, but not past the grace's end once a signal came."""
        if self._since is not None:
            seconds = min(seconds, max(0.0, self._since + self.seconds - self._clock()))
        self._sleep(seconds)


class Deadline:
    """One budget of `pace.timeout_seconds` from now, slept through in poll intervals."""

    def __init__(self, pace: Pace) -> None:
        self._pace = pace
        self.started = pace.clock()
        self._at = self.started + pace.timeout_seconds

    @property
    def elapsed_seconds(self) -> float:
        """Seconds since the budget started, by the pace's clock (what progress lines show)."""
        return self._pace.clock() - self.started

    @property
    def remaining_seconds(self) -> float:
        return max(0.0, self._at - self._pace.clock())

    def passed(self) -> bool:
        return self._pace.clock() >= self._at

    def pause(self, seconds: float | None = None) -> None:
        """Sleep `seconds` (default: one poll interval), never past the deadline."""
        interval = self._pace.poll_interval_seconds if seconds is None else seconds
        self._pace.sleep(min(interval, max(0.0, self._at - self._pace.clock())))


def backoff(first_seconds: float = FIRST_BACKOFF_SECONDS) -> Iterator[float]:
    """Delays between tries, in seconds: 0.5, 1, 2, 4, ... (doubling, unbounded; callers bound the tries)."""
    delay = first_seconds
    while True:
        yield delay
        delay *= 2


def polling(cap_seconds: float, first_seconds: float = FIRST_POLL_SECONDS) -> Iterator[float]:
    """Delays between polls, in seconds: `first_seconds`, doubling, never above `cap_seconds`
    (RANCHER_POLL_INTERVAL), so a wait sees a quick change quickly and a long one costs few reads."""
    for delay in backoff(min(first_seconds, cap_seconds)):
        if delay >= cap_seconds:
            break
        yield delay
    while True:
        yield cap_seconds
