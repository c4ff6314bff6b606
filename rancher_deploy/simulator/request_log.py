"""The request log: every API request the simulator answered, in order, for tests to count."""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestRecord:
    """One API request as the simulator answered it (status 0: the connection was dropped)."""

    method: str
    path: str
    query: str
    status: int
    project_id: str | None


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

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
