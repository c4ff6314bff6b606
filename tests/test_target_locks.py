"""One upgrade per target at a time across the runs of one process (`target_locks`): the second run
of a target waits for the first, and a signal ends that wait with nothing held. (The server's runs
of one service, end to end: tests/serve/test_queue.py.)"""

from __future__ import annotations

import copy
import threading
from typing import Callable

from rancher_deploy.errors import ExitCode
from rancher_deploy.events import Result
from rancher_deploy.runner import Ran, run
from rancher_deploy.settings import Command, Settings
from rancher_deploy.simulator import Simulator
from rancher_deploy.target_locks import TargetLocks

from .conftest import ACCESS_KEY, LAUNCH_CONFIG, NEW_IMAGE, SECRET_KEY


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


class HeldByAnotherRun(TargetLocks):
    """Each target is held by another run when a run first asks for it; that run ends (lets go) as
    soon as the asking run says it waits: the wait, every time, with no thread and no sleep."""

    def acquire(self, key: str, interrupted: Callable[[], int | None], *, waiting: Callable[[], object] = lambda: None,
                tick_seconds: float = 0.2) -> bool:
        super().acquire(key, lambda: None)   # the other run

        def then_it_ends() -> None:
            waiting()
            self.release(key)

        return super().acquire(key, interrupted, waiting=then_it_ends, tick_seconds=tick_seconds)


def fleet_run(sim: Simulator, locks: TargetLocks, **environment: str) -> Ran:
    environ = {"CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS_KEY, "CATTLE_SECRET_KEY": SECRET_KEY,
               "RANCHER_SELECT_IMAGE": "true", "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_POLL_INTERVAL": "0.005",
               "RANCHER_TIMEOUT": "30", **environment}
    return run(Settings.load(Command.UPGRADE, {}, environ), lambda event: None, locks=locks)


def opted_in(sim: Simulator, **labels: str) -> str:
    config = copy.deepcopy(LAUNCH_CONFIG)
    config["labels"].update({"autoupdate.enable": "true", **labels})
    return sim.add_service(sim.add_stack("shop"), "web", config, scale=2)


def test_a_run_that_waited_for_its_target_plans_from_a_fresh_read(sim: Simulator) -> None:
    web = opted_in(sim)
    ran = fleet_run(sim, HeldByAnotherRun())
    assert (ran.exit_code, ran.outcome and ran.outcome.targets[0].result) == (ExitCode.OK, Result.UPGRADED)
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


def test_a_pick_with_an_unreadable_policy_label_that_waited_is_still_reported_not_a_bug(sim: Simulator) -> None:
    # The wait marks the preflight's read stale; the report of a pick whose label is no policy still
    # reads it (it used to be dropped: KeyError, exit 4 "internal error").
    opted_in(sim, **{"autoupdate.policy": "mjaor"})
    ran = fleet_run(sim, HeldByAnotherRun())
    assert ran.exit_code is ExitCode.USAGE, ran.error
    assert "label autoupdate.policy of" in str(ran.error) and "internal error" not in str(ran.error)
