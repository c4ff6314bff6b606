"""What every command does to one target besides its own flow: wait, finish, report, name the state.

The upgrade flow (`deploy`), its recovery after a failure (`recovery`) and the manual commands
(`commands`) all act through one `TargetSteps`, so a finish, a wait or a last line reads the same
whichever of them did it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from rancher_deploy.actions import Actions
from rancher_deploy.backend import Backend
from rancher_deploy.errors import DeployError, NeedsAttention, WaitEnded, WaitInterrupted
from rancher_deploy.events import Emit, ImageChange, Level, Result, Step, TargetOutcome
from rancher_deploy.plan import Plan
from rancher_deploy.settings import Settings
from rancher_deploy.snapshot import Goal, Snapshot, TargetRef
from rancher_deploy.timing import Pace
from rancher_deploy.wait import wait_for


@dataclass
class Run:
    """Mutable bookkeeping of one run: the signal that cut it short, and each target's outcome."""

    interrupted_by: int | None = None
    outcomes: list[TargetOutcome] = field(default_factory=list)


@dataclass(frozen=True)
class Applied:
    """An upgrade Rancher took and the judge found healthy (1.x `upgraded`, 2.x rolled out), not yet finished.

    Between the two halves of the upgrade flow; an atomic run (`atomic`) holds one per target until
    every target got this far, because a 1.x upgrade can only be rolled back before it is finished.
    `started` is the clock reading when the target's run began (seconds).
    """

    ref: TargetRef
    plan: Plan
    last: Snapshot
    started: float


class TargetSteps:
    """The shared steps, bound to one run's settings, backend, log and time."""

    def __init__(self, settings: Settings, backend: Backend, emit: Emit, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 interrupted: Callable[[], int | None] = lambda: None,
                 urgent: Callable[[], int | None] = lambda: None) -> None:
        self.settings = settings
        self.backend = backend
        self.emit = emit
        self.clock = clock
        self.pace = Pace(settings.timeout_seconds, settings.poll_interval_seconds, clock, sleep, interrupted)
        # A rollback started because of a signal is not stopped by that signal, only by a second one.
        self.restore_pace = Pace(settings.timeout_seconds, settings.poll_interval_seconds, clock, sleep, urgent)
        self.actions = Actions(backend, emit, self.pace, retries=settings.retries,
                               request_timeout=settings.request_timeout_seconds)

    def wait(self, ref: TargetRef, goal: Goal, *, pace: Pace | None = None) -> Snapshot:
        """Wait for `goal` (errors: the `WaitEnded` family, each with the last snapshot)."""
        return wait_for(lambda: self.backend.observe(ref), goal, target=ref.name, pace=pace or self.pace,
                        emit=self.emit)

    def finish(self, ref: TargetRef, changes: tuple[ImageChange, ...], run: Run, result: Result) -> TargetOutcome:
        """Send finishupgrade and wait until active; a failure is reported with the exact state (exit 4)."""
        self.emit(Step(f"{ref.name} is upgraded and healthy; finishing the upgrade", target=ref.name))
        try:
            self.actions.send(ref, self.backend.finish, "finish")
            last = self.wait(ref, Goal.ACTIVE)
        except WaitInterrupted as ended:
            return self.left_running(ref, "finish", ended, run, changes)
        except (WaitEnded, DeployError) as error:
            last_seen = self.look(ref) or (error.last if isinstance(error, WaitEnded) else None)
            state = last_seen.state if last_seen else "unknown"
            message = (f"{ref.name} runs the new image but finishing the upgrade did not complete: {error}; "
                       f"state {state}; {self.backend.next_steps(last_seen)}")
            return self.report(ref, Result.FAILED, state, changes, message, level=Level.ERROR)
        message = f"{ref.name} now runs " + ", ".join(f"{c.container}={c.new_image}" for c in changes)
        return self.report(ref, result, last.state, changes, message)

    def left_running(self, ref: TargetRef, action: str, ended: WaitInterrupted, run: Run,
                     changes: tuple[ImageChange, ...]) -> TargetOutcome:
        """A signal ended the wait after Rancher accepted the action: it goes on there; say so."""
        run.interrupted_by = ended.signal_number
        state = ended.last.state if ended.last else "unknown"
        message = (f"interrupted while the {action} of {ref.name} was under way in Rancher (state {state}); "
                   "Rancher completes it on its own: check with `rancher-deploy status`")
        return self.report(ref, Result.INTERRUPTED, state, changes, message, level=Level.WARNING)

    def look(self, ref: TargetRef) -> Snapshot | None:
        """One more look after an action failed, so an exit 4 names the state instead of "unknown"."""
        try:
            return self.backend.observe(ref)
        except DeployError:
            return None

    def report(self, ref: TargetRef, result: Result, state: str, changes: tuple[ImageChange, ...], message: str,
               *, level: Level = Level.INFO) -> TargetOutcome:
        """Log the target's last line and return its outcome with the same words."""
        self.emit(Step(message, level, ref.name))
        return outcome(ref, result, state, changes, message)


def outcome(ref: TargetRef, result: Result, state: str, changes: tuple[ImageChange, ...],
            message: str) -> TargetOutcome:
    return TargetOutcome(target=ref.name, target_id=ref.id, result=result, state=state, changes=changes,
                         message=message)


def unchanged(images: tuple[tuple[str, str], ...]) -> tuple[ImageChange, ...]:
    """The images a target runs, as changes that change nothing (what `status` and refusals report)."""
    return tuple(ImageChange(name, image, image) for name, image in images)


def attention(ref: TargetRef, problem: str, last: Snapshot | None, earlier: Snapshot | None = None, *,
              backend: Backend) -> DeployError:
    """An exit-4 error that names the exact state and what to run next, so a person knows where to look.

    When Rancher could not be read at the end, the state is unknown, and the last one seen is named.
    """
    state = "unknown"
    if last is not None:
        state = last.describe(counts=False)
    elif earlier is not None:
        state = f"unknown (last seen {earlier.describe(counts=False)})"
    return NeedsAttention(f"{ref.name} needs attention: {problem}; its state is {state}; {backend.next_steps(last)}")
