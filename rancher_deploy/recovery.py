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
    signal_name,
)
from rancher_deploy.events import Level, Result, Step, TargetOutcome
from rancher_deploy.plan import Plan
from rancher_deploy.settings import OnInterrupt
from rancher_deploy.snapshot import Goal, Phase, Snapshot, TargetRef, Verdict
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
    return restore(steps, ref, plan, str(ended), ended.last, run)


def created(plan: Plan) -> bool:
    """The plan made its target (RANCHER_CREATE) rather than upgrading it: restoring it is removing it."""
    return isinstance(plan.request, Creation)


def restore(steps: TargetSteps, ref: TargetRef, plan: Plan, why: str, earlier: Snapshot | None, run: Run, *,
            level: Level = Level.ERROR) -> TargetOutcome:
    """Put the target back where the run found it: roll it back (`roll_back`), or remove it again when
    the run created it (`remove`). Never raises."""
    return (remove if created(plan) else roll_back)(steps, ref, plan, why, earlier, run, level=level)


def roll_back(steps: TargetSteps, ref: TargetRef, plan: Plan, why: str, earlier: Snapshot | None, run: Run, *,
              level: Level = Level.ERROR) -> TargetOutcome:
    """Roll the target back, wait until restored, and check it runs every image it ran before.

    `why` ends the ROLLED_BACK message, logged at `level` (a target restored because another one
    failed is a warning: the failure is that one's); `earlier` is the last snapshot seen, named when
    Rancher cannot be read any more. Never raises: a rollback that fails is FAILED (exit 4). After a
    signal (one that started it, or one that came while it ran) it is waited for only within the
    grace after that signal (`_cut_short`), and the signal is the run's (`run.interrupted_by`).
    """
    steps.emit(Step(f"Rolling back {ref.name}", Level.WARNING, ref.name, named=True))
    accepted = True
    try:
        try:
            steps.actions.send(ref, steps.backend.rollback, "rollback", restore=True)
        except RefusedError as refused:
            # Not offered: someone else (another run, a person) may be restoring it already, so
            # watch where it goes and judge by the images it ends on.
            accepted = False
            steps.emit(Step(f"{refused}; watching where it goes", Level.WARNING, ref.name))
        last = steps.wait(ref, steps.backend.restored_goal, pace=steps.restore_pace)
    except WaitInterrupted as cut:   # the grace after a signal is over, or a second one came
        now = steps.look(ref) or cut.last
        if now is not None and now.judge(steps.backend.restored_goal).verdict is Verdict.DONE:
            return _rolled_back(steps, ref, plan, why, now, level)   # done as the wait ended
        return _cut_short(steps, ref, plan, "rollback", cut, now, earlier, run, accepted=accepted)
    except (WaitEnded, DeployError) as error:
        last_seen = (error.last if isinstance(error, WaitEnded) else None) or steps.look(ref)
        return steps.failed(ref, f"the rollback failed: {error}", last_seen, plan.changes, earlier,
                            advice=_rolling_out(last_seen, plan))
    return _rolled_back(steps, ref, plan, why, last, level)


def _rolled_back(steps: TargetSteps, ref: TargetRef, plan: Plan, why: str, last: Snapshot,
                 level: Level) -> TargetOutcome:
    """A rollback whose wait reached the restored goal: ROLLED_BACK on the images it had before, else FAILED."""
    if not _restored(last.images, plan):
        images = ", ".join(f"{name}={image}" for name, image in last.images)
        return steps.failed(ref, f"it settled on {images}, not on the images it had before", last, plan.changes)
    message = f"{ref.name} was rolled back to {', '.join(c.previous_image for c in plan.changes)}: {why}"
    return steps.report(ref, Result.ROLLED_BACK, last.state, plan.changes, message, level=level)


def _rolling_out(last: Snapshot | None, plan: Plan) -> str | None:
    """The advice for a target whose previous images are back in its spec while the rollout of them is
    unfinished (None otherwise): another rollback would now go back to the new image, the very one
    that failed."""
    if last is None or not _restored(last.images, plan):
        return None
    return ("its previous images are back and Rancher is still rolling them out: follow it with "
            "`rancher-deploy status`; do not roll back again, which would return to the new image")


def _cut_short(steps: TargetSteps, ref: TargetRef, plan: Plan, what: str, cut: WaitInterrupted,
               now: Snapshot | None, earlier: Snapshot | None, run: Run, *, accepted: bool,
               advice: str | None = None) -> TargetOutcome:
    """The wait for a restore (`what`: rollback, removal) ended by a signal before the restore was seen
    done: the grace after the signal passed (`timing.GRACE_SECONDS`), or a second signal came. `now`
    is the target as read once more (None: it could not be read), `accepted` whether Rancher took the
    restore's request.

    A restore Rancher took and is still carrying out is INTERRUPTED: the run exits 143/130, as after
    any signal, naming the state, the counts and what to run next, and Rancher completes it on its
    own. That is the exit code's "interrupted after the tool restored or reported the service's
    state" (the README's exit codes, `errors.ExitCode`), the reported half; "could not be restored"
    (4) is kept for a restore Rancher did not take, that shows a failure, or whose state cannot be
    read (FAILED, with `advice`).
    """
    run.interrupted_by = run.interrupted_by or steps.interrupted() or cut.signal_number
    when = (f"at a second signal ({signal_name(cut.signal_number)})" if steps.grace.urgent() is not None else
            f"{steps.grace.seconds:g}s after {signal_name(cut.signal_number)} (a CI kills a step a few seconds "
            "after its stop signal)")
    if now is None or not accepted or now.judge(Goal.SETTLED).verdict is Verdict.FAILED:
        problem = f"the {what} was not seen done when the run stopped waiting for it {when}"
        return steps.failed(ref, problem, now, plan.changes, earlier, advice=advice or _rolling_out(now, plan))
    images = ", ".join(dict.fromkeys(image for _, image in now.images))
    again = "; do not roll it back again, which would return to the new image" if now.can_roll_back else ""
    message = (f"{ref.name}: {what} requested and still under way when the run stopped waiting for it {when}: "
               f"{now.describe()} on {images}; Rancher completes it on its own: follow it with "
               f"`rancher-deploy status`{again}")
    return steps.report(ref, Result.INTERRUPTED, now.state, plan.changes, message, level=Level.WARNING)


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


def remove(steps: TargetSteps, ref: TargetRef, plan: Plan, why: str, earlier: Snapshot | None, run: Run, *,
           level: Level = Level.ERROR) -> TargetOutcome:
    """Remove a target this run created, and wait until Rancher has: ROLLED_BACK, absent as before the run.

    `why` ends the message, logged at `level`; `earlier` is the last snapshot seen. The DELETE is sent
    once: a lost answer is judged by whether the target goes away. Never raises: a removal that fails
    or does not end within RANCHER_TIMEOUT is FAILED (exit 4), with the state named.
    """
    steps.emit(Step(f"Removing {ref.name}, which this run created", Level.WARNING, ref.name, named=True))
    delete = "delete it in Rancher, after which a run with RANCHER_CREATE creates it again"
    try:
        try:
            steps.backend.remove(ref)
        except NotFound:
            pass  # gone already
        except TransientRancherError as error:
            steps.emit(Step(f"{error}; watching whether Rancher removes it", Level.WARNING, ref.name))
        gone = _wait_gone(steps, ref)
    except WaitInterrupted as cut:   # the grace after a signal is over, or a second one came
        try:
            now: Snapshot | None = steps.backend.observe(ref)
        except NotFound:
            return steps.report(ref, Result.ROLLED_BACK, MISSING, plan.changes, f"{ref.name} was removed again: {why}",
                                level=level)
        except DeployError:
            now = cut.last
        if now is not None and now.judge(Goal.REMOVED).verdict is Verdict.DONE:
            return steps.report(ref, Result.ROLLED_BACK, now.state, plan.changes,
                                f"{ref.name} was removed again: {why}", level=level)
        return _cut_short(steps, ref, plan, "removal", cut, now, earlier, run, accepted=True,
                          advice=f"this run created it ({why}); {delete}")
    except (WaitEnded, DeployError) as error:
        last = (error.last if isinstance(error, WaitEnded) else None) or steps.look(ref)
        state = last.describe(counts=False) if last else (
            f"unknown (last seen {earlier.describe(counts=False)})" if earlier else "unknown")
        message = (f"{ref.name} needs attention: this run created it ({why}); removing it failed: {error}; its state "
                   f"is {state}; {delete}")
        return steps.report(ref, Result.FAILED, last.state if last else "unknown", plan.changes, message,
                            level=Level.ERROR)
    return steps.report(ref, Result.ROLLED_BACK, gone.state if gone else MISSING, plan.changes,
                        f"{ref.name} was removed again: {why}", level=level)


def _wait_gone(steps: TargetSteps, ref: TargetRef) -> Snapshot | None:
    """Wait until Rancher no longer has the target: its last snapshot where Rancher keeps it readable
    (a removed 1.x service), None once it answers 404 (2.x). Raises the `WaitEnded` family; a signal
    ends it as it ends a rollback's wait (the restore pace: after the grace, or at a second signal)."""
    try:
        return steps.wait(ref, Goal.REMOVED, pace=steps.restore_pace)
    except WaitGone:
        return None  # 404: what the judges never say for this goal, so the wait's only way to say gone


def _restored(images: tuple[tuple[str, str], ...], plan: Plan) -> bool:
    """Whether every container the plan changed shows its previous image again."""
    now_running = dict(images)
    return all(now_running.get(change.container, change.previous_image) == change.previous_image
               for change in plan.changes)
