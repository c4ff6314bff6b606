"""After a failed upgrade (or creation): restore the target and check where it settled, or say exactly what is left.

This is where the promise "never half-upgraded without saying so" is kept: the result is ROLLED_BACK
only when the target is seen back on every image it ran before (one the run created: removed again);
anything else is FAILED with the state named (exit 4), or INTERRUPTED when RANCHER_ON_INTERRUPT=report
asked to leave it. `restore` also serves an atomic run (`atomic`), which restores the targets that
were healthy when another failed.
"""

from __future__ import annotations

from rancher_deploy.creation import Creation
from rancher_deploy.errors import (
    DeployError,
    NotFound,
    RefusedError,
    TransientRancherError,
    WaitEnded,
    WaitGone,
    WaitInterrupted,
)
from rancher_deploy.events import Level, Result, Step, TargetOutcome
from rancher_deploy.plan import Plan
from rancher_deploy.settings import OnInterrupt
from rancher_deploy.snapshot import Goal, Phase, Snapshot, TargetRef
from rancher_deploy.steps import Run, TargetSteps

# The state of a target that does not exist: one a run would create, or one it removed where Rancher
# keeps no trace of it (2.x; a removed 1.x service stays readable, in its own state).
MISSING = "missing"


def recover(steps: TargetSteps, ref: TargetRef, plan: Plan, ended: WaitEnded, run: Run) -> TargetOutcome:
    """The upgrade (or the target the run created) did not become healthy: restore it, or say exactly what is left."""
    if isinstance(ended, WaitInterrupted):
        run.interrupted_by = ended.signal_number
    run.failing.set()
    what = "Creation" if created(plan) else "Upgrade"
    steps.emit(Step(f"{what} of {ref.name} failed: {ended}", Level.ERROR, ref.name, named=True))
    left = _left_as_it_is(steps, ref, plan, ended)
    if left is not None:
        return left
    return restore(steps, ref, plan, str(ended), ended.last)


def created(plan: Plan) -> bool:
    """The plan made its target (RANCHER_CREATE) rather than upgrading it: restoring it is removing it."""
    return isinstance(plan.request, Creation)


def restore(steps: TargetSteps, ref: TargetRef, plan: Plan, why: str, earlier: Snapshot | None, *,
            level: Level = Level.ERROR) -> TargetOutcome:
    """Put the target back where the run found it: roll it back (`roll_back`), or remove it again when
    the run created it (`remove`). Never raises."""
    return (remove if created(plan) else roll_back)(steps, ref, plan, why, earlier, level=level)


def roll_back(steps: TargetSteps, ref: TargetRef, plan: Plan, why: str, earlier: Snapshot | None, *,
              level: Level = Level.ERROR) -> TargetOutcome:
    """Roll the target back, wait until restored, and check it runs every image it ran before.

    `why` ends the ROLLED_BACK message, logged at `level` (a target restored because another one
    failed is a warning: the failure is that one's); `earlier` is the last snapshot seen, named when
    Rancher cannot be read any more. Never raises: a rollback that fails is FAILED (exit 4).
    """
    steps.emit(Step(f"Rolling back {ref.name}", Level.WARNING, ref.name, named=True))
    try:
        try:
            steps.actions.send(ref, steps.backend.rollback, "rollback")
        except RefusedError as refused:
            # Not offered: someone else (another run, a person) may be restoring it already, so
            # watch where it goes and judge by the images it ends on.
            steps.emit(Step(f"{refused}; watching where it goes", Level.WARNING, ref.name))
        last = steps.wait(ref, steps.backend.restored_goal, pace=steps.restore_pace)
    except (WaitEnded, DeployError) as error:
        last_seen = (error.last if isinstance(error, WaitEnded) else None) or steps.look(ref)
        problem = ("a second signal stopped the wait for the rollback, which Rancher continues on its own"
                   if isinstance(error, WaitInterrupted) else f"the rollback failed: {error}")
        advice = None
        if last_seen is not None and _restored(last_seen.images, plan):
            # The previous images are back in the target's spec and only the rollout is unfinished:
            # another rollback would now go back to the new image, the very one that failed.
            advice = ("its previous images are back and Rancher is still rolling them out: follow it with "
                      "`rancher-deploy status`; do not roll back again, which would return to the new image")
        return steps.failed(ref, problem, last_seen, plan.changes, earlier, advice=advice)
    if not _restored(last.images, plan):
        images = ", ".join(f"{name}={image}" for name, image in last.images)
        return steps.failed(ref, f"it settled on {images}, not on the images it had before", last, plan.changes)
    message = f"{ref.name} was rolled back to {', '.join(c.previous_image for c in plan.changes)}: {why}"
    return steps.report(ref, Result.ROLLED_BACK, last.state, plan.changes, message, level=level)


def _left_as_it_is(steps: TargetSteps, ref: TargetRef, plan: Plan, ended: WaitEnded) -> TargetOutcome | None:
    """The outcome when no rollback is to be tried: removed, told to report, or --no-rollback."""
    if isinstance(ended, WaitGone):
        # A 404 may pass (a proxy, a restarting Rancher): look once more before giving it up. Once
        # Rancher no longer has it, it has no state of its own to report: the pipeline's word says so.
        gone, state = True, Phase.GONE.value
        try:
            now = steps.backend.observe(ref)
            gone, state = now.judge(Goal.SETTLED).gone, now.state
        except NotFound:
            pass
        except DeployError:
            gone = False  # cannot tell; the rollback will find out
        if gone:
            message = (f"{ref.name} needs attention: it was removed while the upgrade ran ({ended}); "
                       f"there is nothing to roll back; its state is {state}")
            return steps.report(ref, Result.FAILED, state, plan.changes, message, level=Level.ERROR)
    if isinstance(ended, WaitInterrupted) and steps.settings.on_interrupt is OnInterrupt.REPORT:
        return left_changed(steps, ref, plan, "after the signal (`RANCHER_ON_INTERRUPT=report`)", Result.INTERRUPTED,
                            ended.last)
    if not steps.settings.rollback:
        return left_changed(steps, ref, plan, "(--no-rollback)", Result.FAILED, ended.last)
    return None


def left_changed(steps: TargetSteps, ref: TargetRef, plan: Plan, why: str, result: Result,
                 earlier: Snapshot | None) -> TargetOutcome:
    """A changed target the run leaves as it is, with its state and the next command that works there."""
    now = steps.look(ref) or earlier
    state = now.state if now else "unknown"
    message = f"{ref.name} is left in state {state} {why}; {steps.next_steps(ref, now)}"
    level = Level.ERROR if result is Result.FAILED else Level.WARNING
    return steps.report(ref, result, state, plan.changes, message, level=level)


def remove(steps: TargetSteps, ref: TargetRef, plan: Plan, why: str, earlier: Snapshot | None, *,
           level: Level = Level.ERROR) -> TargetOutcome:
    """Remove a target this run created, and wait until Rancher has: ROLLED_BACK, absent as before the run.

    `why` ends the message, logged at `level`; `earlier` is the last snapshot seen. The DELETE is sent
    once: a lost answer is judged by whether the target goes away. Never raises: a removal that fails
    or does not end within RANCHER_TIMEOUT is FAILED (exit 4), with the state named.
    """
    steps.emit(Step(f"Removing {ref.name}, which this run created", Level.WARNING, ref.name, named=True))
    try:
        try:
            steps.backend.remove(ref)
        except NotFound:
            pass  # gone already
        except TransientRancherError as error:
            steps.emit(Step(f"{error}; watching whether Rancher removes it", Level.WARNING, ref.name))
        gone = _wait_gone(steps, ref)
    except (WaitEnded, DeployError) as error:
        last = (error.last if isinstance(error, WaitEnded) else None) or steps.look(ref)
        problem = ("a second signal stopped the wait for its removal, which Rancher continues on its own"
                   if isinstance(error, WaitInterrupted) else f"removing it failed: {error}")
        state = last.describe(counts=False) if last else (
            f"unknown (last seen {earlier.describe(counts=False)})" if earlier else "unknown")
        message = (f"{ref.name} needs attention: this run created it ({why}); {problem}; its state is {state}; "
                   "delete it in Rancher, after which a run with RANCHER_CREATE creates it again")
        return steps.report(ref, Result.FAILED, last.state if last else "unknown", plan.changes, message,
                            level=Level.ERROR)
    return steps.report(ref, Result.ROLLED_BACK, gone.state if gone else MISSING, plan.changes,
                        f"{ref.name} was removed again: {why}", level=level)


def _wait_gone(steps: TargetSteps, ref: TargetRef) -> Snapshot | None:
    """Wait until Rancher no longer has the target: its last snapshot where Rancher keeps it readable
    (a removed 1.x service), None once it answers 404 (2.x). Raises the `WaitEnded` family; a signal
    stops it only a second time (the restore pace), as it stops a rollback."""
    try:
        return steps.wait(ref, Goal.REMOVED, pace=steps.restore_pace)
    except WaitGone:
        return None  # 404: what the judges never say for this goal, so the wait's only way to say gone


def _restored(images: tuple[tuple[str, str], ...], plan: Plan) -> bool:
    """Whether every container the plan changed shows its previous image again."""
    now_running = dict(images)
    return all(now_running.get(change.container, change.previous_image) == change.previous_image
               for change in plan.changes)
