"""One upgrade per target at a time across the runs of one process (`rancher-deploy serve`).

The server runs several runs at once, each its own pipeline, and two of them can pick the same
target: a service whose sidekick runs another repository is picked by a push of either repository.
Rancher takes only the first upgrade and refuses the second (Cattle: 422 ActionNotAvailable while the
service is upgrading, rancher-api.md §4), so a run holds its target's lock, keyed by the resolved
target (its URL names the environment or project and the service or workload), from before it reads
the target to plan until the target's upgrade has ended; another run of that target waits for it,
then reads the target afresh and plans from what the first one left. Across processes nothing is
shared: there the pipeline waits out a target another process is upgrading (`TargetSteps.wait_out`).
"""

from __future__ import annotations

import threading
from typing import Callable


class TargetLocks:
    """The targets the runs of this process are upgrading; safe to use from any thread."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held: set[str] = set()

    def held(self, key: str) -> bool:
        """Whether a run holds `key` now."""
        with self._changed:
            return key in self._held

    def acquire(self, key: str, interrupted: Callable[[], int | None], *, waiting: Callable[[], object] = lambda: None,
                tick_seconds: float = 0.2) -> bool:
        """Hold `key` once no other run does; True then, False when `interrupted()` said a signal came
        first (looked at every `tick_seconds` while waiting: nothing is held then). `waiting()` is called
        once when another run holds it (to say so; what the caller read of the target is then stale);
        it must not use these locks."""
        with self._changed:
            if key in self._held:
                waiting()
            while key in self._held:
                if interrupted() is not None:
                    return False
                self._changed.wait(tick_seconds)
            self._held.add(key)
            return True

    def release(self, key: str) -> None:
        """Let the next run of `key` go."""
        with self._changed:
            self._held.discard(key)
            self._changed.notify_all()
