"""The CLI's own machinery: signal handling around the wait loop."""

from __future__ import annotations

import signal
import time

from rancher_deploy.cli import _Signals


def test_a_signal_cuts_one_sleep_short_and_later_sleeps_still_wait() -> None:
    signals = _Signals()
    signals._handle(signal.SIGTERM, None)
    started = time.monotonic()
    signals.sleep(5)
    assert time.monotonic() - started < 1, "the signal wakes the sleeping wait at once"
    started = time.monotonic()
    signals.sleep(0.05)
    # Were the wake-up left set, the rollback wait after a signal would poll Rancher in a busy loop.
    assert time.monotonic() - started >= 0.04
    assert signals.interrupted() == signal.SIGTERM and signals.urgent() is None
    signals._handle(signal.SIGINT, None)
    assert signals.urgent() == signal.SIGINT
