"""The pipeline, flavour-agnostic: resolve -> look -> plan -> apply -> wait -> finish | roll back.

It emits events and returns an Outcome; it never prints. The one promise it keeps above all
others: a run never leaves a target half-upgraded without saying so. Every failure after the
first change ends in a rollback that is waited for, or in a FAILED target whose message names the
exact state and what to do next (exit 4). Sending each action, and telling from Rancher's state
whether an unanswered one was taken, belongs to `actions`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from rancher_deploy.actions import Actions
from rancher_deploy.backend import Backend, Goal, Observation, Phase, TargetRef
from rancher_deploy.errors import ConfigError, DeployError, NeedsAttention, NotFound, RancherUnreachable, RefusedError
from rancher_deploy.events import Emit, GroupEnd, GroupStart, ImageChange, Level, Outcome, Result, Step, TargetOutcome
from rancher_deploy.images import is_newer, same_image
from rancher_deploy.plan import Plan
from rancher_deploy.settings import OnInterrupt, PolicyKind, Settings
from rancher_deploy.status import GONE_STATES
from rancher_deploy.wait import Pace, WaitEnded, WaitGone, WaitInterrupted, WaitTimedOut, wait_for


@dataclass
class _Run:
    """Mutable bookkeeping of one run; only `deploy` touches it."""

    interrupted_by: int | None = None
    outcomes: list[TargetOutcome] = field(default_factory=list)


class Pipeline:
    """Runs one command over every target of the settings, in order, stopping at the first failure."""

    def __init__(self, settings: Settings, backend: Backend, emit: Emit, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 interrupted: Callable[[], int | None] = lambda: None,
                 urgent: Callable[[], int | None] = lambda: None) -> None:
        self._settings = settings
        self._backend = backend
        self._emit = emit
        self._clock = clock
        self._pace = Pace(settings.timeout_seconds, settings.poll_interval_seconds, clock, sleep, interrupted)
        # A rollback started because of a signal is not stopped by that signal, only by a second one.
        self._restore_pace = Pace(settings.timeout_seconds, settings.poll_interval_seconds, clock, sleep, urgent)
        self._interrupted = interrupted
        self._actions = Actions(backend, emit, self._pace, retries=settings.retries,
                                request_timeout=settings.request_timeout_seconds)

    def run(self) -> Outcome:
        started = self._clock()
        run = _Run()
        command = self._settings.command.value
        refs = [self._backend.resolve(target) for target in self._settings.targets]
        if command == "upgrade":
            # Every target is checked before the first one is touched, so a refusal or a bad
            # setting for the third service cannot surface after the first was upgraded.
            for ref in refs:
                self._preflight(ref)
        for ref in refs:
            self._emit(GroupStart(f"{command} {ref.name}"))
            try:
                outcome = self._one(command, ref, run)
            except DeployError as error:
                if not any(done.result in _CHANGED for done in run.outcomes):
                    raise
                # Earlier targets were changed: this is no longer "nothing was changed".
                outcome = self._stopped_after_changes(ref, error, run)
            finally:
                self._emit(GroupEnd())
            run.outcomes.append(outcome)
            if outcome.result in (Result.FAILED, Result.ROLLED_BACK) or run.interrupted_by is not None:
                rest = [other.name for other in refs[refs.index(ref) + 1:]]
                if rest:
                    self._emit(Step(f"Not touching {', '.join(rest)} after this failure", Level.WARNING))
                break
        return Outcome(command=command, targets=tuple(run.outcomes), duration_seconds=self._clock() - started,
                       flavour=self._backend.flavour, interrupted_by=run.interrupted_by)

    # -- one target ------------------------------------------------------------------------------

    def _one(self, command: str, ref: TargetRef, run: _Run) -> TargetOutcome:
        started = self._clock()
        handler = {"upgrade": self._upgrade, "rollback": self._rollback_command,
                   "finish": self._finish_command, "status": self._status_command}[command]
        outcome = handler(ref, run)
        return TargetOutcome(target=outcome.target, target_id=outcome.target_id, result=outcome.result,
                             state=outcome.state, changes=outcome.changes, message=outcome.message,
                             duration_seconds=self._clock() - started)

    def _preflight(self, ref: TargetRef) -> None:
        """Refuse now what the upgrade would refuse later: blocked states and invalid plans."""
        service = self._backend.fetch(ref)
        self._refuse_unless_upgradable(ref, service, self._backend.phase(service), allow_pending=True)
        plan = self._backend.plan(ref, service, self._settings)
        if plan.changes_anything:
            self._version_policy(plan)  # raises when the policy cannot be applied

    def _stopped_after_changes(self, ref: TargetRef, error: DeployError, run: _Run) -> TargetOutcome:
        changed = ", ".join(f"{done.target} ({done.result.value})" for done in run.outcomes
                            if done.result in _CHANGED)
        seen = self._look(ref)
        state = seen.state if seen else "unknown"
        message = (f"{ref.name} failed after earlier targets were changed ({changed}): {error}; "
                   f"its state is {state}")
        return self._report(ref, Result.FAILED, state, (), message, level=Level.ERROR)

    def _upgrade(self, ref: TargetRef, run: _Run) -> TargetOutcome:
        service = self._look_without_acting(ref) if self._settings.dry_run else self._ready(ref, run)
        plan = self._backend.plan(ref, service, self._settings)
        images = dict(self._backend.images(service))
        self._emit(Step(f"Found {ref.name} ({ref.id}): {service.get('state')}, "
                        + ", ".join(f"{name} on {image}" for name, image in images.items()), target=ref.name))
        if not plan.changes_anything:
            message = f"{ref.name} already runs {plan.changes[0].new_image}; nothing to do (--force redeploys it)"
            return self._report(ref, Result.UNCHANGED, str(service.get("state")), plan.changes, message)
        refusal = self._version_policy(plan)
        if refusal is not None:
            return self._report(ref, Result.UNCHANGED, str(service.get("state")), plan.changes, refusal)
        for line in plan.describe():
            self._emit(Step(line, target=ref.name))
        if self._settings.dry_run:
            message = "dry run: nothing was changed"
            return self._report(ref, Result.PLANNED, str(service.get("state")), plan.changes, message)

        self._request_upgrade(ref, plan)
        try:
            wait_for(lambda: self._backend.observe(ref), self._backend.applied_goal, target=ref.name,
                     pace=self._pace, emit=self._emit)
        except WaitEnded as ended:
            return self._recover(ref, plan, ended, run)

        if not self._backend.needs_finish:
            message = f"{ref.name} now runs " + ", ".join(f"{c.container}={c.new_image}" for c in plan.changes)
            return self._report(ref, Result.UPGRADED, "active", plan.changes, message)

        if not self._settings.finish:
            message = (f"{ref.name} is upgraded and left unfinished (--no-finish); run `rancher-deploy finish` "
                       "or `rancher-deploy rollback` later")
            return self._report(ref, Result.UPGRADED_UNFINISHED, "upgraded", plan.changes, message)
        return self._finish(ref, plan.changes, run, Result.UPGRADED)

    def _ready(self, ref: TargetRef, run: _Run) -> dict[str, Any]:
        """Bring the target to a state an upgrade may start from, or refuse with the reason."""
        service = self._backend.fetch(ref)
        phase = self._backend.phase(service)
        if phase is Phase.BUSY:
            self._emit(Step(f"{ref.name} is {service.get('state')} (another process runs); waiting for it to settle",
                            Level.WARNING, ref.name))
            self._wait_for_other(ref, run, Goal.SETTLED, "settle")
            service = self._backend.fetch(ref)
            phase = self._backend.phase(service)
            if phase is Phase.PENDING_FINISH:
                # We watched that upgrade run, so its owner is alive and will finish or roll it back
                # itself; doing it here would pull the service from under that run.
                self._emit(Step(f"{ref.name} was upgraded by another run that is still going; waiting for it to "
                                "finish or roll back", Level.WARNING, ref.name))
                if self._wait_for_other(ref, run, Goal.RELEASED, "be finished or rolled back by its owner"):
                    service = self._backend.fetch(ref)
                    phase = self._backend.phase(service)
        if phase is Phase.PENDING_FINISH:
            choice = self._settings.on_upgraded.value
            self._emit(Step(f"{ref.name} was left upgraded by an earlier run; {choice} it first (RANCHER_ON_UPGRADED)",
                            Level.WARNING, ref.name))
            action = self._backend.finish if choice == "finish" else self._backend.rollback
            self._actions.send(ref, action, choice)
            self._settle_active(ref, f"{choice} of the earlier upgrade")
            service = self._backend.fetch(ref)
            phase = self._backend.phase(service)
        self._refuse_unless_upgradable(ref, service, phase, allow_pending=False)
        return service

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

    def _look_without_acting(self, ref: TargetRef) -> dict[str, Any]:
        """--dry-run: say what a real run would do first, but neither wait nor act."""
        service = self._backend.fetch(ref)
        phase = self._backend.phase(service)
        if phase is Phase.PENDING_FINISH:
            self._emit(Step(f"dry run: {ref.name} was left upgraded by an earlier run; a real run would "
                            f"{self._settings.on_upgraded} it first (RANCHER_ON_UPGRADED)", Level.WARNING, ref.name))
        elif phase is Phase.BUSY:
            self._emit(Step(f"dry run: {ref.name} is {service.get('state')}; a real run would wait for it to "
                            "settle first", Level.WARNING, ref.name))
        else:
            self._refuse_unless_upgradable(ref, service, phase, allow_pending=False)
        return service

    @staticmethod
    def _refuse_unless_upgradable(ref: TargetRef, service: dict[str, Any], phase: Phase, *,
                                  allow_pending: bool) -> None:
        if phase is Phase.GONE:
            raise RefusedError(f"{ref.name} is {service.get('state')}; nothing was changed")
        if phase is Phase.READY or (allow_pending and phase in (Phase.PENDING_FINISH, Phase.BUSY)):
            return
        raise RefusedError(
            f"{ref.name} is {service.get('state')}; the upgrade needs it active (activate it in Rancher, "
            "or finish/roll back a canceled upgrade); nothing was changed")

    def _wait_for_other(self, ref: TargetRef, run: _Run, goal: Goal, what: str) -> bool:
        """Wait for another process on the target; False when its owner did not let go in time."""
        try:
            wait_for(lambda: self._backend.observe(ref), goal, target=ref.name, pace=self._pace, emit=self._emit)
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

    def _settle_active(self, ref: TargetRef, what: str) -> None:
        try:
            wait_for(lambda: self._backend.observe(ref), self._backend.restored_goal, target=ref.name, pace=self._pace,
                     emit=self._emit)
        except WaitEnded as ended:
            raise _attention(ref, f"{what} did not complete: {ended}", ended.last) from None

    def _request_upgrade(self, ref: TargetRef, plan: Plan) -> None:
        taken = self._actions.send(ref, lambda target: self._backend.apply(target, plan), "upgrade", resend=False)
        if taken is not None:
            # Rancher answered an error, or no answer came, and the service shows no change.
            error, service = taken
            raise RancherUnreachable(
                f"Rancher did not take the upgrade of {ref.name} ({error}); it is still "
                f"{service.get('state')} and nothing was changed") from None
        self._emit(Step(f"Upgrade of {ref.name} requested", target=ref.name))

    def _recover(self, ref: TargetRef, plan: Plan, ended: WaitEnded, run: _Run) -> TargetOutcome:
        """The upgrade did not become healthy: roll back, or say exactly what is left."""
        if isinstance(ended, WaitInterrupted):
            run.interrupted_by = ended.signal_number
        self._emit(Step(f"Upgrade of {ref.name} failed: {ended}", Level.ERROR, ref.name))
        gone, state = isinstance(ended, WaitGone), "removed"
        if gone:
            # A 404 may pass (a proxy, a restarting Rancher): look once more before giving it up.
            try:
                now = self._backend.observe(ref)
                gone, state = now.state in GONE_STATES, now.state
            except NotFound:
                pass
            except DeployError:
                gone = False  # cannot tell; the rollback will find out
        if gone:
            message = (f"{ref.name} needs attention: it was removed while the upgrade ran ({ended}); "
                       f"there is nothing to roll back; its state is {state}")
            return self._report(ref, Result.FAILED, state, plan.changes, message, level=Level.ERROR)
        if isinstance(ended, WaitInterrupted) and self._settings.on_interrupt is OnInterrupt.REPORT:
            state = ended.last.state if ended.last else "unknown"
            message = (f"{ref.name} is left in state {state} after the signal (RANCHER_ON_INTERRUPT=report); "
                       "finish it with `rancher-deploy finish` or restore it with `rancher-deploy rollback`")
            return self._report(ref, Result.INTERRUPTED, state, plan.changes, message, level=Level.WARNING)
        if not self._settings.rollback:
            state = ended.last.state if ended.last else "unknown"
            message = (f"{ref.name} is left in state {state} (--no-rollback); finish it with "
                       "`rancher-deploy finish` or restore it with `rancher-deploy rollback`")
            return self._report(ref, Result.FAILED, state, plan.changes, message, level=Level.ERROR)
        self._emit(Step(f"Rolling back {ref.name}", Level.WARNING, ref.name))
        try:
            try:
                self._actions.send(ref, self._backend.rollback, "rollback")
            except RefusedError as refused:
                # Not offered: someone else (another run, a person) may be restoring it already, so
                # watch where it goes and judge by the images it ends on.
                self._emit(Step(f"{refused}; watching where it goes", Level.WARNING, ref.name))
            last = wait_for(lambda: self._backend.observe(ref), self._backend.restored_goal, target=ref.name,
                            pace=self._restore_pace, emit=self._emit)
        except (WaitEnded, DeployError) as error:
            last_seen = (error.last if isinstance(error, WaitEnded) else None) or self._look(ref)
            problem = ("a second signal stopped the wait for the rollback, which Rancher continues on its own"
                       if isinstance(error, WaitInterrupted) else f"the rollback failed: {error}")
            attention = _attention(ref, problem, last_seen, ended.last)
            self._emit(Step(attention.message, Level.ERROR, ref.name))
            return self._outcome(ref, Result.FAILED, last_seen.state if last_seen else "unknown", plan.changes,
                                 attention.message)
        now_running = dict(last.images)
        if any(now_running.get(change.container, change.previous_image) != change.previous_image
               for change in plan.changes):
            images = ", ".join(f"{name}={image}" for name, image in last.images)
            attention = _attention(ref, f"it settled on {images}, not on the images it had before", last)
            self._emit(Step(attention.message, Level.ERROR, ref.name))
            return self._outcome(ref, Result.FAILED, last.state, plan.changes, attention.message)
        message = f"{ref.name} was rolled back to {', '.join(c.previous_image for c in plan.changes)}: {ended}"
        return self._report(ref, Result.ROLLED_BACK, last.state, plan.changes, message, level=Level.ERROR)

    def _finish(self, ref: TargetRef, changes: tuple[ImageChange, ...], run: _Run, result: Result) -> TargetOutcome:
        self._emit(Step(f"{ref.name} is upgraded and healthy; finishing the upgrade", target=ref.name))
        try:
            self._actions.send(ref, self._backend.finish, "finish")
            last = wait_for(lambda: self._backend.observe(ref), Goal.ACTIVE, target=ref.name, pace=self._pace,
                            emit=self._emit)
        except WaitInterrupted as ended:
            return self._left_running(ref, "finish", ended, run, changes)
        except (WaitEnded, DeployError) as error:
            last_seen = (error.last if isinstance(error, WaitEnded) else None) or self._look(ref)
            state = last_seen.state if last_seen else "unknown"
            message = (f"{ref.name} runs the new image but finishing the upgrade did not complete: {error}; "
                       f"state {state}. Run `rancher-deploy finish` again, or `rancher-deploy rollback`")
            return self._report(ref, Result.FAILED, state, changes, message, level=Level.ERROR)
        message = f"{ref.name} now runs " + ", ".join(f"{c.container}={c.new_image}" for c in changes)
        return self._report(ref, result, last.state, changes, message)

    # -- manual commands -------------------------------------------------------------------------

    def _rollback_command(self, ref: TargetRef, run: _Run) -> TargetOutcome:
        service = self._backend.fetch(ref)
        state = str(service.get("state"))
        images = self._current_changes(service)
        if not self._backend.can_roll_back(service):
            message = f"{ref.name} is {state}: there is no pending upgrade to roll back"
            return self._report(ref, Result.UNCHANGED, state, images, message)
        if self._settings.dry_run:
            message = f"dry run: would roll back {ref.name} (state {state})"
            return self._report(ref, Result.PLANNED, state, images, message)
        self._emit(Step(f"Rolling back {ref.name} (state {state})", target=ref.name))
        self._actions.send(ref, self._backend.rollback, "rollback")
        try:
            wait_for(lambda: self._backend.observe(ref), self._backend.restored_goal, target=ref.name,
                     pace=self._pace, emit=self._emit)
        except WaitInterrupted as ended:
            return self._left_running(ref, "rollback", ended, run, images)
        except WaitEnded as ended:
            raise _attention(ref, f"the rollback did not complete: {ended}", ended.last) from None
        after = self._backend.fetch(ref)
        message = f"{ref.name} was rolled back and is active on " + ", ".join(
            image for _, image in self._backend.images(after))
        return self._report(ref, Result.REVERTED, str(after.get("state")), self._current_changes(after), message)

    def _finish_command(self, ref: TargetRef, run: _Run) -> TargetOutcome:
        service = self._backend.fetch(ref)
        state = str(service.get("state"))
        images = self._current_changes(service)
        if self._backend.phase(service) is Phase.BUSY:
            self._emit(Step(f"{ref.name} is {state}; waiting for it to settle", target=ref.name))
            try:
                wait_for(lambda: self._backend.observe(ref), Goal.SETTLED, target=ref.name, pace=self._pace,
                         emit=self._emit)
            except WaitInterrupted as ended:
                run.interrupted_by = ended.signal_number
                # Nothing was sent: the images are what they were (the exit code still says 143/130).
                message = f"interrupted while waiting for {ref.name} to settle; nothing was changed"
                return self._report(ref, Result.UNCHANGED, ended.last.state if ended.last else state, images,
                                    message, level=Level.WARNING)
            service = self._backend.fetch(ref)
            state = str(service.get("state"))
        if "finishupgrade" not in (service.get("actions") or {}):
            message = f"{ref.name} is {state}: there is no upgrade to finish"
            return self._report(ref, Result.UNCHANGED, state, images, message)
        if self._settings.dry_run:
            message = f"dry run: would finish the upgrade of {ref.name}"
            return self._report(ref, Result.PLANNED, state, images, message)
        return self._finish(ref, images, run, Result.FINISHED)

    def _status_command(self, ref: TargetRef, run: _Run) -> TargetOutcome:
        observation = self._backend.observe(ref)
        images = ", ".join(f"{name}={image}" for name, image in observation.images)
        health = (f", {observation.healthy}/{observation.total} healthy"
                  if observation.healthy is not None and observation.total is not None else "")
        note = f" ({observation.message})" if observation.message else ""
        message = f"{ref.name} ({ref.id}) is {observation.state}{note}{health}: {images}"
        return self._report(ref, Result.STATUS, observation.state, self._changes_from(observation), message)

    # -- helpers ---------------------------------------------------------------------------------

    def _left_running(self, ref: TargetRef, action: str, ended: WaitInterrupted, run: _Run,
                      changes: tuple[ImageChange, ...]) -> TargetOutcome:
        """A signal ended the wait after Rancher accepted the action: it goes on there; say so."""
        run.interrupted_by = ended.signal_number
        state = ended.last.state if ended.last else "unknown"
        message = (f"interrupted while the {action} of {ref.name} was under way in Rancher (state {state}); "
                   "Rancher completes it on its own: check with `rancher-deploy status`")
        return self._report(ref, Result.INTERRUPTED, state, changes, message, level=Level.WARNING)

    def _look(self, ref: TargetRef) -> Observation | None:
        """One more look after an action failed, so an exit 4 names the state instead of "unknown"."""
        try:
            return self._backend.observe(ref)
        except DeployError:
            return None

    def _current_changes(self, service: dict[str, Any]) -> tuple[ImageChange, ...]:
        return tuple(ImageChange(name, image, image) for name, image in self._backend.images(service))

    @staticmethod
    def _changes_from(observation: Observation) -> tuple[ImageChange, ...]:
        return tuple(ImageChange(name, image, image) for name, image in observation.images)

    def _report(self, ref: TargetRef, result: Result, state: str, changes: tuple[ImageChange, ...], message: str,
                *, level: Level = Level.INFO) -> TargetOutcome:
        """Log the target's last line and return its outcome with the same words."""
        self._emit(Step(message, level, ref.name))
        return self._outcome(ref, result, state, changes, message)

    @staticmethod
    def _outcome(ref: TargetRef, result: Result, state: str, changes: tuple[ImageChange, ...],
                 message: str) -> TargetOutcome:
        return TargetOutcome(target=ref.name, target_id=ref.id, result=result, state=state, changes=changes,
                             message=message)


# Results after which the run has changed something in Rancher.
_CHANGED = frozenset({Result.UPGRADED, Result.UPGRADED_UNFINISHED, Result.FINISHED, Result.REVERTED,
                      Result.ROLLED_BACK, Result.FAILED, Result.INTERRUPTED})


def _attention(ref: TargetRef, problem: str, last: Observation | None,
               earlier: Observation | None = None) -> DeployError:
    """An exit-4 error that names the exact state, so a person knows where to look.

    When Rancher could not be read at the end, the state is unknown, and the last one seen is named.
    """
    def describe(observation: Observation) -> str:
        return observation.state + (f" ({observation.message})" if observation.message else "")

    state = "unknown"
    if last is not None:
        state = describe(last)
    elif earlier is not None:
        state = f"unknown (last seen {describe(earlier)})"
    return NeedsAttention(f"{ref.name} needs attention: {problem}; its state is {state}")
