"""After a failed upgrade: roll back and check where the target settled, or say exactly what is left.

This is where the promise "never half-upgraded without saying so" is kept: the result is ROLLED_BACK
only when the target is seen back on every image it ran before; anything else is FAILED with the
state named (exit 4), or INTERRUPTED when RANCHER_ON_INTERRUPT=report asked to leave it. `roll_back`
also serves an atomic run (`atomic`), which restores the targets that were healthy when another failed.
"""

from __future__ import annotations

from rancher_deploy.errors import DeployError, NotFound, RefusedError, WaitEnded, WaitGone, WaitInterrupted
from rancher_deploy.events import Level, Result, Step, TargetOutcome
from rancher_deploy.plan import Plan
from rancher_deploy.settings import OnInterrupt
from rancher_deploy.snapshot import Goal, Phase, Snapshot, TargetRef
from rancher_deploy.steps import Run, TargetSteps


def recover(steps: TargetSteps, ref: TargetRef, plan: Plan, ended: WaitEnded, run: Run) -> TargetOutcome:
    """The upgrade did not become healthy: roll back, or say exactly what is left."""
    if isinstance(ended, WaitInterrupted):
        run.interrupted_by = ended.signal_number
    steps.emit(Step(f"Upgrade of {ref.name} failed: {ended}", Level.ERROR, ref.name))
    left = _left_as_it_is(steps, ref, plan, ended)
    if left is not None:
        return left
    return roll_back(steps, ref, plan, str(ended), ended.last)


def roll_back(steps: TargetSteps, ref: TargetRef, plan: Plan, why: str, earlier: Snapshot | None, *,
              level: Level = Level.ERROR) -> TargetOutcome:
    """Roll the target back, wait until restored, and check it runs every image it ran before.

    `why` ends the ROLLED_BACK message, logged at `level` (a target restored because another one
    failed is a warning: the failure is that one's); `earlier` is the last snapshot seen, named when
    Rancher cannot be read any more. Never raises: a rollback that fails is FAILED (exit 4).
    """
    steps.emit(Step(f"Rolling back {ref.name}", Level.WARNING, ref.name))
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
        return steps.failed(ref, problem, last_seen, plan.changes, earlier)
    now_running = dict(last.images)
    if any(now_running.get(change.container, change.previous_image) != change.previous_image
           for change in plan.changes):
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
        return left_changed(steps, ref, plan, "after the signal (RANCHER_ON_INTERRUPT=report)", Result.INTERRUPTED,
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
