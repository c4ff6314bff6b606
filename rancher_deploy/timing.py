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
