"""One upgrade per target at a time across the runs of one process (`target_locks`): the second run
of a target waits for the first, and a signal ends that wait with nothing held. (The server's runs
of one service, end to end: tests/serve/test_queue.py.)"""

from __future__ import annotations

import threading

from rancher_deploy.target_locks import TargetLocks


def test_a_second_holder_waits_for_the_first_to_let_go() -> None:
    locks = TargetLocks()
    assert locks.acquire("/v2-beta/projects/1a5/services/1s5", lambda: None)
    order: list[str] = []

    def second() -> None:
        assert locks.acquire("/v2-beta/projects/1a5/services/1s5", lambda: None, tick_seconds=0.01)
        order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    assert locks.acquire("/v2-beta/projects/1a7/services/1s5", lambda: None)   # another environment's: free
    thread.join(0.05)
    assert order == [] and thread.is_alive()
    order.append("first let go")
    locks.release("/v2-beta/projects/1a5/services/1s5")
    thread.join(5)
    assert order == ["first let go", "second"]


def test_a_signal_ends_the_wait_and_nothing_is_held_by_the_waiter() -> None:
    locks = TargetLocks()
    assert locks.acquire("t", lambda: None)
    signals: list[int] = []
    waiting = threading.Thread(target=lambda: signals.append(int(locks.acquire("t", lambda: 15 if signals else None,
                                                                               tick_seconds=0.01))))
    signals.append(-1)   # the signal arrived (the waiter reads it at its next tick)
    waiting.start()
    waiting.join(5)
    assert signals == [-1, 0]    # acquire answered False
    locks.release("t")
    assert not locks.held("t")
