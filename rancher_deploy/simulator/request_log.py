"""The request log: every API request the simulator answered, in order, for tests and benchmarks to count and time."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Callable


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the simulator answered it (status 0: the connection was dropped).

    `received` and `answered` are the simulator's `time.monotonic()` (or the log's clock) when the
    request arrived and when its answer was ready to send (after any injected latency; a watch's is
    when its stream began), in seconds: on Linux and macOS the same clock as `time.monotonic()` in
    any process of the machine, so a client can set its own moments against them.
    """

    method: str
    path: str
    query: str
    status: int
    project_id: str | None
    received: float = 0.0
    answered: float = 0.0


class RequestLog:
    """The records, in the order their answers were ready; `clock` stamps them (seconds, monotonic)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self.clock = clock

    def add(self, record: RequestRecord) -> None:
        """Keep `record`, stamped `answered` now."""
        with self._lock:
            self._records.append(replace(record, answered=self.clock()))

    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def count(self, method: str | None = None, path_contains: str = "") -> int:
        return sum(
            1
            for r in self.records()
            if (method is None or r.method == method.upper()) and path_contains in r.path
        )
