"""How a run spends time: the pace of its waits, the one deadline loop, and the one backoff.

Time is a dependency (the clock, the sleeper and the signal check are injected), so no test sleeps.
Deadlines are wall-clock, as kubectl's and botocore's are, so a slow Rancher cannot stretch them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

FIRST_BACKOFF_SECONDS = 0.5


@dataclass(frozen=True)
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

    def passed(self) -> bool:
        return self._pace.clock() >= self._at

    def pause(self) -> None:
        """Sleep one poll interval, never past the deadline."""
        self._pace.sleep(min(self._pace.poll_interval_seconds, max(0.0, self._at - self._pace.clock())))


def backoff(first_seconds: float = FIRST_BACKOFF_SECONDS) -> Iterator[float]:
    """Delays between tries, in seconds: 0.5, 1, 2, 4, ... (doubling, unbounded; callers bound the tries)."""
    delay = first_seconds
    while True:
        yield delay
        delay *= 2
