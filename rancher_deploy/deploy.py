"""The pipeline, flavour-neutral: resolve -> look -> plan -> apply -> wait -> finish | roll back.

It emits events and returns an Outcome; it never prints. The one promise it keeps above all
others: a run never leaves a target half-upgraded without saying so. Every failure after the
first change ends in a rollback that is waited for (`recovery`), or in a FAILED target whose
message names the exact state and what to do next (exit 4). The upgrade of one target has two
halves, `start` (up to healthy) and `complete` (finish); one target runs them back to back, and
several named targets run them as one (`atomic`) unless RANCHER_ATOMIC=false. Sending each
action, and telling from Rancher's state whether an unanswered one was taken, belongs to
`actions`; the manual commands (rollback, finish, status) live in `commands`.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

from rancher_deploy import commands
from rancher_deploy.atomic import upgrade_together
from rancher_deploy.backend import Backend
from rancher_deploy.errors import (
    ConfigError,
    DeployError,
    ExitCode,
    RancherUnreachable,
    RefusedError,
    WaitEnded,
    WaitInterrupted,
    WaitTimedOut,
)
from rancher_deploy.events import (
    Emit,
    GroupEnd,
    GroupStart,
    ImageChange,
    Level,
    Outcome,
    Result,
    Step,
    TargetOutcome,
)
from rancher_deploy.images import is_newer, same_image
from rancher_deploy.plan import Plan
from rancher_deploy.recovery import recover
from rancher_deploy.settings import Command, OnUpgraded, PolicyKind, Settings
from rancher_deploy.snapshot import Goal, Phase, Snapshot, TargetRef
from rancher_deploy.steps import Applied, Run, TargetSteps, attention


class Pipeline:
    """Runs one command over every target of the settings, in order.

    Several targets of an upgrade are atomic by default (`atomic`); with RANCHER_ATOMIC=false each
    runs its own flow and a failure stops none of the others. The manual commands stop at the
    first target that fails.
    """

    def __init__(self, settings: Settings, backend: Backend, emit: Emit, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 interrupted: Callable[[], int | None] = lambda: None,
                 urgent: Callable[[], int | None] = lambda: None) -> None:
        self._settings = settings
        self._backend = backend
        self._emit = emit
        self._clock = clock
        self._steps = TargetSteps(settings, backend, emit, clock=clock, sleep=sleep, interrupted=interrupted,
                                  urgent=urgent)

    def run(self) -> Outcome:
        started = self._clock()
        run = Run()
        command = self._settings.command
        refs = [self._backend.resolve(target) for target in self._settings.targets]
        if command is Command.UPGRADE:
            # Every target is checked before the first one is touched, so a refusal or a bad
            # setting for the third service cannot surface after the first was upgraded.
            for ref in refs:
                self._preflight(ref)
        if command is Command.UPGRADE and len(refs) > 1 and self._settings.atomic and not self._settings.dry_run:
            upgrade_together(self, self._steps, refs, run)
        else:
            self._one_by_one(command, refs, run)
        return Outcome(command=command.value, targets=tuple(run.outcomes), duration_seconds=self._clock() - started,
                       flavour=self._backend.flavour, interrupted_by=run.interrupted_by)

    def _one_by_one(self, command: Command, refs: list[TargetRef], run: Run) -> None:
        independent = command is Command.UPGRADE
        for ref in refs:
            self._emit(GroupStart(f"{command} {ref.name}"))
            started = self._clock()
            try:
                done = self._upgrade(ref, run) if independent else _MANUAL[command](self._steps, ref, run)
            except DeployError as error:
                if not any(earlier.result in _CHANGED for earlier in run.outcomes):
                    raise
                # Earlier targets were changed: this is no longer "nothing was changed".
                done = self.not_upgraded(ref, error) if independent else self._stopped_after_changes(ref, error)
            finally:
                self._emit(GroupEnd())
            run.outcomes.append(replace(done, duration_seconds=self._clock() - started))
            stop = run.interrupted_by is not None or (
                not independent and done.result in (Result.FAILED, Result.ROLLED_BACK))
            if stop:
                rest = [other.name for other in refs[refs.index(ref) + 1:]]
                if rest:
                    self._emit(Step(f"Not touching {', '.join(rest)} after this failure", Level.WARNING))
                break

    def _preflight(self, ref: TargetRef) -> None:
        """Refuse now what the upgrade would refuse later: blocked states and invalid plans."""
        snapshot = self._backend.fetch(ref)
        _refuse_unless_upgradable(ref, snapshot, self._backend, allow_pending=True)
        plan = self._backend.plan(ref, snapshot, self._settings)
        if plan.changes_anything:
            self._version_policy(plan)  # raises when the policy cannot be applied

    def not_upgraded(self, ref: TargetRef, problem: DeployError | str) -> TargetOutcome:
        """A target the run failed on (`problem` an error) or left alone (a reason) before changing it.

        Only after other targets were changed (before that, the error ends the run: nothing was
        changed). An error that leaves the target's state unknown makes it FAILED instead (exit 4).
        """
        if isinstance(problem, DeployError) and problem.exit_code is ExitCode.NEEDS_ATTENTION:
            return self._stopped_after_changes(ref, problem)
        state, changes = "unknown", _NO_CHANGES
        try:
            snapshot = self._backend.fetch(ref)
            state, changes = snapshot.state, self._backend.plan(ref, snapshot, self._settings).changes
        except DeployError:
            pass  # the message says why; its images stay unknown
        failed = isinstance(problem, DeployError)
        message = f"{ref.name} was not upgraded: {problem}" + ("; nothing was changed on it" if failed else "")
        return self._steps.report(ref, Result.NOT_UPGRADED, state, changes, message,
                                  level=Level.ERROR if failed else Level.WARNING)

    def _stopped_after_changes(self, ref: TargetRef, error: DeployError) -> TargetOutcome:
        seen = self._steps.look(ref)
        state = seen.state if seen else "unknown"
        message = f"{ref.name} failed after other targets were changed: {error}"
        if error.exit_code is not ExitCode.NEEDS_ATTENTION:  # that one names the state and next steps itself
            message += f"; its state is {state}; {self._backend.next_steps(seen)}"
        return self._steps.report(ref, Result.FAILED, state, (), message, level=Level.ERROR)

    # -- the upgrade -----------------------------------------------------------------------------

    def _upgrade(self, ref: TargetRef, run: Run) -> TargetOutcome:
        half = self.start(ref, run)
        return self.complete(half, run) if isinstance(half, Applied) else half

    def start(self, ref: TargetRef, run: Run) -> Applied | TargetOutcome:
        """The first half of an upgrade: from looking to healthy; an outcome when it ends earlier.

        Raises the `errors` family only while nothing was changed on this target (or its state is
        unknown: NeedsAttention); once the upgrade was taken, a failure ends in `recover`'s outcome.
        """
        started = self._clock()
        report = self._steps.report
        snapshot = self._look_without_acting(ref) if self._settings.dry_run else self._ready(ref, run)
        plan = self._backend.plan(ref, snapshot, self._settings)
        self._emit(Step(f"Found {ref.name} ({ref.id}): {snapshot.state}, "
                        + ", ".join(f"{name} on {image}" for name, image in dict(snapshot.images).items()),
                        target=ref.name))
        if not plan.changes_anything:
            message = f"{ref.name} already runs {plan.changes[0].new_image}; nothing to do (--force redeploys it)"
            return report(ref, Result.UNCHANGED, snapshot.state, plan.changes, message)
        refusal = self._version_policy(plan)
        if refusal is not None:
            return report(ref, Result.SKIPPED, snapshot.state, plan.changes, refusal)
        for line in plan.describe():
            self._emit(Step(line, target=ref.name))
        for warning in plan.warnings:
            self._emit(Step(warning, Level.WARNING, ref.name))
        if self._settings.dry_run:
            return report(ref, Result.PLANNED, snapshot.state, plan.changes, "dry run: nothing was changed")

        self._request_upgrade(ref, plan)
        try:
            healthy = self._steps.wait(ref, self._backend.applied_goal)
        except WaitEnded as ended:
            return recover(self._steps, ref, plan, ended, run)
        return Applied(ref, plan, healthy, started)

    def complete(self, applied: Applied, run: Run) -> TargetOutcome:
        """The second half: finish a healthy 1.x upgrade (unless --no-finish); a 2.x rollout is done."""
        ref, changes, last = applied.ref, applied.plan.changes, applied.last
        if not self._backend.needs_finish:
            images = ", ".join(f"{c.container}={c.new_image}" for c in changes)
            # Done does not always mean running: an OnDelete set's pods change only when deleted.
            caveat = last.judge(self._backend.applied_goal).caveat
            message = f"{ref.name} is updated to {images}; {caveat}" if caveat else f"{ref.name} now runs {images}"
            return self._steps.report(ref, Result.UPGRADED, last.state, changes, message)
        if not self._settings.finish:
            message = (f"{ref.name} is upgraded and left unfinished (--no-finish); later, "
                       f"{self._backend.next_steps(last)}")
            return self._steps.report(ref, Result.UPGRADED_UNFINISHED, last.state, changes, message)
        return self._steps.finish(ref, changes, run, Result.UPGRADED)

    def _ready(self, ref: TargetRef, run: Run) -> Snapshot:
        """Bring the target to a state an upgrade may start from, or refuse with the reason."""
        snapshot = self._backend.fetch(ref)
        if snapshot.phase is Phase.BUSY:
            self._emit(Step(f"{ref.name} is {snapshot.state} (another process runs); waiting for it to settle",
                            Level.WARNING, ref.name))
            self._wait_for_other(ref, run, Goal.SETTLED, "settle")
            snapshot = self._backend.fetch(ref)
            if snapshot.phase is Phase.PENDING_FINISH:
                # We watched that upgrade run, so its owner is alive and will finish or roll it back
                # itself; doing it here would pull the service from under that run.
                self._emit(Step(f"{ref.name} was upgraded by another run that is still going; waiting for it to "
                                "finish or roll back", Level.WARNING, ref.name))
                if self._wait_for_other(ref, run, Goal.RELEASED, "be finished or rolled back by its owner"):
                    snapshot = self._backend.fetch(ref)
        if snapshot.phase is Phase.PENDING_FINISH:
            choice = self._settings.on_upgraded
            self._emit(Step(f"{ref.name} was left upgraded by an earlier run; {choice} it first (RANCHER_ON_UPGRADED)",
                            Level.WARNING, ref.name))
            action = self._backend.finish if choice is OnUpgraded.FINISH else self._backend.rollback
            self._steps.actions.send(ref, action, choice.value)
            try:
                self._steps.wait(ref, self._backend.restored_goal)
            except WaitEnded as ended:
                raise attention(ref, f"{choice} of the earlier upgrade did not complete: {ended}", ended.last,
                                backend=self._backend) from None
            snapshot = self._backend.fetch(ref)
        _refuse_unless_upgradable(ref, snapshot, self._backend, allow_pending=False)
        return snapshot

    def _version_policy(self, plan: Plan) -> str | None:
        """RANCHER_VERSION_POLICY=newer: the reason to skip, or None to go on."""
        if self._settings.version_policy.kind is not PolicyKind.NEWER:
            return None
        for change in plan.changes:
            if same_image(change.previous_image, change.new_image):
                continue  # a container the plan does not change (a sidekick named as it is) has no say
            newer = is_newer(change.previous_image, change.new_image)
            if newer is None:
                raise ConfigError("RANCHER_VERSION_POLICY",
                                  f"newer cannot compare {change.previous_image} with {change.new_image} "
                                  f"({change.container}): both need version tags of the same repository")
            if not newer:
                return (f"skipped by the version policy: {change.container} runs {change.previous_image}, "
                        f"which is not older than {change.new_image}; nothing was changed")
        return None

    def _look_without_acting(self, ref: TargetRef) -> Snapshot:
        """--dry-run: say what a real run would do first, but neither wait nor act."""
        snapshot = self._backend.fetch(ref)
        if snapshot.phase is Phase.PENDING_FINISH:
            self._emit(Step(f"dry run: {ref.name} was left upgraded by an earlier run; a real run would "
                            f"{self._settings.on_upgraded} it first (RANCHER_ON_UPGRADED)", Level.WARNING, ref.name))
        elif snapshot.phase is Phase.BUSY:
            self._emit(Step(f"dry run: {ref.name} is {snapshot.state}; a real run would wait for it to "
                            "settle first", Level.WARNING, ref.name))
        else:
            _refuse_unless_upgradable(ref, snapshot, self._backend, allow_pending=False)
        return snapshot

    def _wait_for_other(self, ref: TargetRef, run: Run, goal: Goal, what: str) -> bool:
        """Wait for another process on the target; False when its owner did not let go in time."""
        try:
            self._steps.wait(ref, goal)
        except WaitInterrupted as ended:
            run.interrupted_by = ended.signal_number
            raise RefusedError(f"interrupted while waiting for {ref.name} to {what}; nothing was changed") from None
        except WaitTimedOut as ended:
            if goal is Goal.RELEASED:
                self._emit(Step(f"{ended}; its owner seems gone", Level.WARNING, ref.name))
                return False
            raise RefusedError(f"{ref.name} did not {what}: {ended}; nothing was changed") from None
        except WaitEnded as ended:
            if ended.cause is not None:
                raise ended.cause from None
            raise RefusedError(f"{ref.name} did not {what}: {ended}; nothing was changed") from None
        return True

    def _request_upgrade(self, ref: TargetRef, plan: Plan) -> None:
        taken = self._steps.actions.send(ref, lambda target: self._backend.apply(target, plan), "upgrade",
                                         resend=False)
        if taken is not None:
            # Rancher answered an error, or no answer came, and the target shows no change.
            error, snapshot = taken
            raise RancherUnreachable(
                f"Rancher did not take the upgrade of {ref.name} ({error}); it is still "
                f"{snapshot.state} and nothing was changed") from None
        self._emit(Step(f"Upgrade of {ref.name} requested", target=ref.name))


def _refuse_unless_upgradable(ref: TargetRef, snapshot: Snapshot, backend: Backend, *, allow_pending: bool) -> None:
    if snapshot.phase is Phase.GONE:
        raise RefusedError(f"{ref.name} is {snapshot.state}; nothing was changed")
    if snapshot.phase is Phase.READY or (allow_pending and snapshot.phase in (Phase.PENDING_FINISH, Phase.BUSY)):
        return
    raise RefusedError(f"{ref.name} is {snapshot.state}; the upgrade needs it active: "
                       f"{backend.next_steps(snapshot)}; nothing was changed")


_NO_CHANGES: tuple[ImageChange, ...] = ()
_MANUAL = {Command.ROLLBACK: commands.rollback, Command.FINISH: commands.finish, Command.STATUS: commands.status}

# Results after which the run has changed something in Rancher.
_CHANGED = frozenset({Result.UPGRADED, Result.UPGRADED_UNFINISHED, Result.FINISHED, Result.REVERTED,
                      Result.ROLLED_BACK, Result.FAILED, Result.INTERRUPTED})
