"""What every command does to one target besides its own flow: wait, settle, finish, report, and
name the state and the next step.

The upgrade flow (`deploy`), its recovery after a failure (`recovery`) and the manual commands
(`commands`) all act through one `TargetSteps`, so a finish, a wait, a failure or a last line reads
the same whichever of them did it. Nothing here knows a Rancher state name: states are those of the
snapshots read, goals the backend's.
"""

from __future__ import annotations

import threading

import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Callable, Iterator

from rancher_deploy.actions import Actions
from rancher_deploy.backend import Backend
from rancher_deploy.errors import (
    DeployError,
    Interrupted,
    NeedsAttention,
    RancherAPIError,
    RancherUnreachable,
    RefusedError,
    TargetBusy,
    WaitEnded,
    WaitGone,
    WaitInterrupted,
    WaitTimedOut,
    signal_name,
)
from rancher_deploy.events import Emit, ImageChange, Level, Result, Step, TargetOutcome
from rancher_deploy.plan import Plan
from rancher_deploy.settings import Settings
from rancher_deploy.snapshot import Goal, Judgement, Phase, Snapshot, TargetRef
from rancher_deploy.target_locks import TargetLocks
from rancher_deploy.timing import Grace, Pace
from rancher_deploy.wait import wait_for


@dataclass(eq=False)
class Run:
    """Mutable bookkeeping of one run: the signal that cut it short, and each target's outcome."""

    interrupted_by: int | None = None
    outcomes: list[TargetOutcome] = field(default_factory=list)
    current: TargetRef | None = None   # the target being worked on: an error that stops the run names it
    # Set as soon as a target's upgrade is known to have failed, before its restore starts (which
    # waits as long as the upgrade did): --fail-fast starts no other target from then on.
    failing: threading.Event = field(default_factory=threading.Event)


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
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
    fresh: bool = True   # `last` is still the target's last read: no wait on other targets since
    # An atomic 1.x run decided to finish every target (`atomic.upgrade_together`): see `TargetSteps.finish`.
    committed: bool = False


class TargetSteps:
    """The shared steps, bound to one run's settings, backend, log and time.

    `alone` maps a target's id to the settings that name it alone (`RANCHER_SERVICE=shop/web`,
    `targets.alone`; a fleet run's `fleet.Pick.alone`), in a run of several targets: advice then names
    them, so that following the advice for one target does not touch the others.
    """

    def __init__(self, settings: Settings, backend: Backend, emit: Emit, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 interrupted: Callable[[], int | None] = lambda: None,
                 urgent: Callable[[], int | None] = lambda: None,
                 arrived: Callable[[], float | None] = lambda: None,
                 locks: TargetLocks | None = None) -> None:
        self.settings = settings
        self.locks = locks
        # The first signal, as of when it came (`arrived`, else when a check first sees it): the restore
        # it starts is waited for only within the grace after it (`timing.Grace`), whatever RANCHER_TIMEOUT says.
        self.grace = Grace(clock, sleep, interrupted, urgent, arrived=arrived)
        self.interrupted = self.grace.interrupted
        self.backend = backend
        self.emit = emit
        self.clock = clock
        self.alone: dict[str, tuple[str, ...]] = {}   # set by the pipeline once it has resolved several targets
        # The plan's warnings per target id, as the pipeline logged them: its outcome carries them (`report`),
        # so the JSON result and the notifications say them too (a 1.x redeploy that will not pull, ...).
        self.warnings: dict[str, tuple[str, ...]] = {}
        # Rancher pushes a stream in real time, so a wait reads one only on the system's clock; on an
        # injected clock (the tests' virtual time, where the simulator moves only while the tool
        # sleeps) it polls, as it does when a stream breaks.
        self.streams = clock is time.monotonic
        self.pace = Pace(settings.timeout_seconds, settings.poll_interval_seconds, clock, sleep, self.interrupted)
        # A restore (rollback, removal) is not stopped by the signal that started it, nor by one that
        # comes while it runs: its wait ends when the grace after that signal is over, or at a second one.
        self.restore_pace = Pace(settings.timeout_seconds, settings.poll_interval_seconds, clock, self.grace.sleep,
                                 self.grace.over)
        self.actions = Actions(backend, emit, self.pace, self.restore_pace, retries=settings.retries,
                               request_timeout=settings.request_timeout_seconds,
                               advise=lambda ref: self.next_steps(ref, None))

    def wait(self, ref: TargetRef, goal: Goal, *, pace: Pace | None = None, changing: bool = False,
             stop: Callable[[Snapshot, Judgement], WaitEnded | None] | None = None,
             until: Callable[[Snapshot], bool] | None = None) -> Snapshot:
        """Wait for `goal` (errors: the `WaitEnded` family, each with the last snapshot); `stop` and
        `until` put each read to the caller as well (`wait.wait_for`).

        A change under way, this run's (the backend's applied goal, or `changing`: a target it
        created) or another process's that a settle waits out, is also held to
        RANCHER_PROGRESS_DEADLINE where Rancher does not say itself that it stalled
        (`Backend.reports_stalls`: Rancher 1.x waits for ever for new containers that never become
        healthy, rancher-api.md §2.2). A restore (finish, rollback) and a wait for another run to
        let go are not: they rest, or move, without new containers."""
        watched = not self.backend.reports_stalls and (changing or goal in (self.backend.applied_goal, Goal.SETTLED))
        progress = self.settings.progress_deadline_seconds if watched else None
        return wait_for(lambda: self.backend.observe(ref), goal, target=ref.name, pace=pace or self.pace,
                        emit=self.emit, progress_deadline=progress,
                        watch=(lambda: self.backend.watch(ref)) if self.streams else None, stop=stop, until=until)

    @contextmanager
    def holding(self, ref: TargetRef, waited: Callable[[], object] = lambda: None) -> Iterator[bool]:
        """Hold the target against the other runs of this process (`target_locks`; none is held
        without `locks`, or by a dry run, which changes nothing), waiting while another run holds it:
        True inside once held, False when a signal ended that wait (nothing is held or changed).
        `waited()` is called when it had to wait: what the caller read of the target before is stale."""
        if self.locks is None or self.settings.dry_run:
            yield True
            return
        def waiting() -> None:
            self.emit(Step(f"{ref.name} is being upgraded by another run of this process; waiting for it to end",
                           Level.WARNING, ref.name))
            waited()

        key = ref.url or ref.id   # the resolved target: its URL names the environment/project too
        got = self.locks.acquire(key, self.interrupted, waiting=waiting)
        try:
            yield got
        finally:
            if got:
                self.locks.release(key)

    def request_upgrade(self, ref: TargetRef, plan: Plan, seen: Snapshot, run: Run,
                        asked: Callable[[Snapshot], tuple[ImageChange, ...]], *,
                        wait_out_races: bool) -> Snapshot | TargetOutcome | None:
        """Send the upgrade (`deploy`'s), decided on `seen`: the read the plan was made from, just now;
        None when taken. Another process may have started an upgrade since that read, and Rancher
        refuses ours as not available in that state (Cattle 422, norman 404 ActionNotAvailable,
        rancher-api.md §4): a busy target, not a wrong setting. With `wait_out_races` that process is
        waited out as the preflight waits (`wait_out`; `asked(snapshot)`: what the run asks of the
        target) and the fresh read returned, to plan again; else the refusal is raised (exit 2). An
        error Rancher answered, or a lost answer, with the target unchanged: RancherUnreachable (3). A
        signal that came before the upgrade was sent: `stopped` (NOT_UPGRADED), nothing sent."""
        try:
            taken = self.actions.send(ref, lambda target: self.backend.apply(target, plan), "upgrade",
                                      resend=False, before=seen)
        except Interrupted as signalled:
            return self.stopped(ref, run, signalled, asked(seen), Result.NOT_UPGRADED)
        except RancherAPIError as refused:
            if refused.code != "ActionNotAvailable" or refused.status not in (404, 422) or not wait_out_races:
                raise
            now = self.backend.fetch(ref)
            if now.phase not in (Phase.BUSY, Phase.PENDING_FINISH):
                raise
            self.emit(Step(f"Another process started an upgrade of {ref.name} since it was read (it is now "
                           f"{now.state}); waiting for it to settle, then planning again", Level.WARNING, ref.name,
                           named=True))
            return self.wait_out(ref, run, now, asked(now), stopped=Result.NOT_UPGRADED)
        if taken is not None:
            error, snapshot = taken
            unreachable = RancherUnreachable(f"Rancher did not take the upgrade of {ref.name} ({error}); it is "
                                             f"still {snapshot.state} and nothing was changed")
            unreachable.last = snapshot
            raise unreachable from None
        self.emit(Step(f"Upgrade of {ref.name} requested", target=ref.name, named=True))
        return None

    def wait_out(self, ref: TargetRef, run: Run, snapshot: Snapshot, changes: tuple[ImageChange, ...], *,
                 stopped: Result) -> Snapshot | TargetOutcome:
        """Wait out another process's work on the target (`snapshot` shows it busy, or pending its
        finish): until it settles, and an upgrade it left pending until its owner finishes or rolls it
        back. The fresh read, or the outcome `settle` gives when a wait ends otherwise."""
        if snapshot.phase is Phase.BUSY:
            settled = self.settle(ref, run, changes, stopped=stopped)
            if isinstance(settled, TargetOutcome):
                return settled
            snapshot = settled
        if snapshot.phase is Phase.PENDING_FINISH:
            # We watched that upgrade run, so its owner is alive and will finish or roll it back
            # itself; doing it here would pull the service from under that run.
            self.emit(Step(f"{ref.name} was {snapshot.state} by another run that is still going; waiting for "
                           "it to finish or roll back", Level.WARNING, ref.name))
            return self.settle(ref, run, changes, stopped=stopped, goal=Goal.RELEASED)
        return snapshot

    def settle(self, ref: TargetRef, run: Run, changes: tuple[ImageChange, ...], *, stopped: Result,
               goal: Goal = Goal.SETTLED) -> Snapshot | TargetOutcome:
        """Wait for another process on the target to end (`goal`: SETTLED, or RELEASED by the run that
        owns a pending upgrade), then read it again; nothing is sent.

        Returns the fresh snapshot (for RELEASED also when the owner did not let go in time: it seems
        gone), or the target's outcome when the wait ends otherwise, with `changes` (what the command
        asks of the target): FAILED when that process will not complete (Rancher's error signal, a
        state nobody will move on from, no progress within RANCHER_PROGRESS_DEADLINE: exit 4, the
        state and the next step named), `stopped` when a signal ended the wait (nothing was
        changed). Raises TargetBusy (exit 3: another process is still at work, retrying later may
        help) when it did not end within RANCHER_TIMEOUT, RefusedError when the target is gone, and
        the read error that ended the wait, if one did.
        """
        try:
            self.wait(ref, goal)
        except WaitInterrupted as ended:
            run.interrupted_by = ended.signal_number
            state = ended.last.state if ended.last else "unknown"
            message = f"interrupted while waiting for {ref.name} to be {goal.value}; nothing was changed"
            return self.report(ref, stopped, state, changes, message, level=Level.WARNING)
        except WaitTimedOut as ended:
            if goal is Goal.RELEASED:
                # The pending upgrade's owner did not finish or roll it back in time: it seems gone, and
                # the caller treats the upgrade as one an earlier run left (RANCHER_ON_UPGRADED).
                self.emit(Step(f"{ended}; its owner seems gone", Level.WARNING, ref.name))
                return self.backend.fetch(ref)
            raise TargetBusy(f"{ended}: another process is still working on it and nothing was changed; "
                             "retrying later may help", ended.last) from None
        except WaitGone as ended:
            raise RefusedError(f"{ref.name} was removed while waiting for it: {ended}; nothing was changed") from None
        except WaitEnded as ended:
            if ended.cause is not None:
                raise ended.cause from None
            problem = f"the process already running on it will not complete: {ended}; this run changed nothing"
            return self.failed(ref, problem, ended.last, changes)
        return self.backend.fetch(ref)

    def refuse_unless_upgradable(self, ref: TargetRef, snapshot: Snapshot, *, allow_pending: bool) -> None:
        """RefusedError (exit 2, nothing changed) unless an upgrade may start from where the target is;
        the target's state and the backend's advice name what to do instead."""
        refused: RefusedError | None = None
        if snapshot.phase is Phase.GONE:
            refused = RefusedError(f"{ref.name} is {snapshot.state}; nothing was changed")
        elif snapshot.phase is not Phase.READY and not (
                allow_pending and snapshot.phase in (Phase.PENDING_FINISH, Phase.BUSY)):
            refused = RefusedError(f"{ref.name} is {snapshot.state}, which an upgrade does not start from: "
                                   f"{self.next_steps(ref, snapshot)}; nothing was changed")
        if refused is not None:
            refused.last = snapshot
            raise refused

    def finish(self, ref: TargetRef, seen: Snapshot, changes: tuple[ImageChange, ...], run: Run,
               result: Result, *, fresh: bool = True, committed: bool = False) -> TargetOutcome:
        """Send finishupgrade and wait for the backend's restored goal; a failure is reported with the
        exact state (exit 4). `seen` is the target as last read, healthy and waiting for the finish;
        when `fresh` (read just now, nothing waited for since) the finish is decided on it instead of
        another read. Raises Interrupted when a signal came before the finish was sent: what then
        becomes of the target is the caller's (an upgrade's is restored, a `finish` command's is unchanged).

        `committed`: an atomic run decided, where it checked for a signal just before its first finish
        (`atomic.upgrade_together`), to finish every target, at once for all of them: a finished upgrade
        cannot be rolled back, so deciding per target would leave a moment in which one is rolled back
        while another is finished, the one thing RANCHER_ATOMIC rules out. A signal after that no longer
        stops the finish: it is sent as a restore is, but only while the grace after the signal lasts
        (the CI's kill could meet it later), and waited for within it; one left unsent is `_unsent`."""
        self.emit(Step(f"{ref.name} is {seen.state} and healthy; finishing the upgrade", target=ref.name))
        if committed and (number := self.interrupted()) is not None:
            run.interrupted_by = number
            if (over := self.grace.over()) is not None:
                return self._unsent(ref, seen, changes, run, over)
            self.emit(Step(f"{signal_name(number)} came after this run decided to finish its targets; finishing "
                           f"{ref.name} too, as a finished upgrade cannot be rolled back and RANCHER_ATOMIC keeps "
                           "the targets together", Level.WARNING, ref.name, named=True))
        try:
            try:
                self.actions.send(ref, self.backend.finish, "finish", before=seen if fresh else None,
                                  restore=committed, until=self.grace.over if committed else None)
            except Interrupted as stopped:
                if not committed:
                    raise
                return self._unsent(ref, stopped.last or seen, changes, run, stopped.signal_number)
            last = self.wait(ref, self.backend.restored_goal, pace=self.restore_pace if committed else None)
        except Interrupted:
            raise
        except WaitInterrupted as ended:
            return self.left_running(ref, "finish", ended, run, changes)
        except (WaitEnded, DeployError) as error:
            earlier = error.last if isinstance(error, WaitEnded) else None
            return self.failed(ref, f"it runs the new image but finishing the upgrade did not complete: {error}",
                               self.look(ref) or earlier, changes)
        return self.report(ref, result, last.state, changes, f"{ref.name} now runs {runs(last, changes)}", seen=last)

    def _unsent(self, ref: TargetRef, seen: Snapshot, changes: tuple[ImageChange, ...], run: Run,
                number: int) -> TargetOutcome:
        """An atomic run's finish not sent because the grace after a signal was over (or a second one
        came): the target is upgraded and unfinished. The run had decided to finish every target, and
        another's finish may be under way in Rancher however its request ended, so the one advice that
        keeps the targets together is to finish this one too."""
        run.interrupted_by = run.interrupted_by or number
        ended = "a second signal came" if self.grace.urgent() is not None else "the grace after it was over"
        advice = self.next_steps(ref, seen, "finish it with `rancher-deploy finish`, as this run had decided to finish "
                                            "every target")
        return self.report(ref, Result.INTERRUPTED, seen.state, changes,
                           f"{signal_name(number)}: {ended} before the finish of {ref.name} could be sent, so it "
                           f"was not; {ref.name} is {seen.state} on the new image: {advice}",
                           level=Level.WARNING, seen=seen, next_step=advice)

    def stopped(self, ref: TargetRef, run: Run, signalled: Interrupted, changes: tuple[ImageChange, ...],
                result: Result, state: str | None = None) -> TargetOutcome:
        """A change the run did not send because a signal came first (`Actions.check`): `result`
        (NOT_UPGRADED, or UNCHANGED for a command), in the state its last read showed (`state` where the
        caller knows better: a target not yet created is missing); the run exits 143/130."""
        run.interrupted_by = signalled.signal_number
        state = state or (signalled.last.state if signalled.last else "unknown")
        return self.report(ref, result, state, changes, f"{signalled}; nothing was changed on {ref.name}",
                           level=Level.WARNING)

    def left_running(self, ref: TargetRef, action: str, ended: WaitInterrupted, run: Run,
                     changes: tuple[ImageChange, ...]) -> TargetOutcome:
        """A signal ended the wait after Rancher accepted the action: it goes on there; say so. Where the
        wait had not read the target yet (the signal came while the action's request was in flight),
        one more read (`look`: no wait's patience) names its state and images rather than "unknown"."""
        run.interrupted_by = ended.signal_number
        now = ended.last or self.look(ref)
        state = now.state if now else "unknown"
        advice = self.next_steps(ref, None)
        message = (f"interrupted while the {action} of {ref.name} was under way in Rancher (state {state}); "
                   f"Rancher completes it on its own: {advice}")
        return self.report(ref, Result.INTERRUPTED, state, changes, message, level=Level.WARNING, seen=now,
                           next_step=advice)

    def failed(self, ref: TargetRef, problem: str, last: Snapshot | None, changes: tuple[ImageChange, ...],
               earlier: Snapshot | None = None, *, advice: str | None = None) -> TargetOutcome:
        """A target left where it should not be: FAILED (exit 4), logged, its state and next step named
        (`advice` where the caller knows better than the backend's general next step)."""
        error = self.attention(ref, problem, last, earlier, advice=advice)
        return self.report(ref, Result.FAILED, last.state if last else "unknown", changes, error.message,
                           level=Level.ERROR, seen=last, next_step=error.next_step)

    def unknown(self, ref: TargetRef, error: DeployError, changes: tuple[ImageChange, ...]) -> TargetOutcome:
        """FAILED (exit 4) in state unknown: `error` (an action's answer lost, Rancher unreadable since)
        names what happened and, where it knows it, what to run next; else the next step is added."""
        advice = error.next_step or self.next_steps(ref, None)
        message = str(error) if error.next_step else f"{error}; {advice}"
        return self.report(ref, Result.FAILED, "unknown", changes, message, level=Level.ERROR, next_step=advice)

    def attention(self, ref: TargetRef, problem: str, last: Snapshot | None,
                  earlier: Snapshot | None = None, *, advice: str | None = None) -> NeedsAttention:
        """An exit-4 error that names the exact state and what to run next, so a person knows where to look.

        When Rancher could not be read at the end, the state is unknown, and the last one seen is named.
        """
        state = "unknown"
        if last is not None:
            state = last.describe(counts=False)
        elif earlier is not None:
            state = f"unknown (last seen {earlier.describe(counts=False)})"
        then = self.next_steps(ref, last, advice)
        error = NeedsAttention(f"{ref.name} needs attention: {problem}; its state is {state}; {then}")
        error.last, error.next_step = last, then
        return error

    def next_steps(self, ref: TargetRef, snapshot: Snapshot | None, advice: str | None = None) -> str:
        """What a person can run next on the target, in the backend's words (`Backend.next_steps`) unless
        the caller knows better (`advice`); in a run of several targets with the setting that names this
        one alone, since the same command with the run's settings would act on every target of the run."""
        advice = advice or self.backend.next_steps(snapshot)
        alone = self.alone.get(ref.id)
        if alone and "`rancher-deploy " in advice:
            advice += f" (with {', '.join(f'`{setting}`' for setting in alone)}, so that it touches {ref.name} alone)"
        return advice

    def look(self, ref: TargetRef) -> Snapshot | None:
        """One more look after an action failed, so an exit 4 names the state instead of "unknown"."""
        try:
            return self.backend.observe(ref)
        except DeployError:
            return None

    def warn(self, ref: TargetRef, warnings: tuple[str, ...]) -> tuple[str, ...]:
        """Keep the plan's `warnings` for the target's outcome (`report`); returns them, for the log."""
        self.warnings[ref.id] = warnings
        return warnings

    def report(self, ref: TargetRef, result: Result, state: str, changes: tuple[ImageChange, ...], message: str,
               *, level: Level = Level.INFO, seen: Snapshot | None = None, next_step: str = "") -> TargetOutcome:
        """Log the target's last line and return its outcome with the same words; `seen` is the target's
        last read, whose images the result says it runs (`TargetOutcome.running`); `next_step` what
        the message says to run next, where it says (`TargetOutcome.next_step`)."""
        self.emit(Step(message, level, ref.name))
        return replace(outcome(ref, result, state, changes, message), warnings=self.warnings.get(ref.id, ()),
                       running=seen.images if seen is not None else None, next_step=next_step)


def outcome(ref: TargetRef, result: Result, state: str, changes: tuple[ImageChange, ...],
            message: str, next_step: str = "") -> TargetOutcome:
    return TargetOutcome(target=ref.name, target_id=ref.id, result=result, state=state, changes=changes,
                         message=message, ui_url=ref.ui_url, next_step=next_step)


def runs(seen: Snapshot, changes: tuple[ImageChange, ...]) -> str:
    """"web=app:2": the image each container of `changes` shows in `seen`, as read (the change's new
    image where the read does not show the container: a 2.x init container)."""
    read = dict(seen.images)
    return ", ".join(f"{c.container}={read.get(c.container, c.new_image)}" for c in changes)


def unchanged(images: tuple[tuple[str, str], ...]) -> tuple[ImageChange, ...]:
    """The images a target runs, as changes that change nothing (what `status` and refusals report)."""
    return tuple(ImageChange(name, image, image) for name, image in images)
