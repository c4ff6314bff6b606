"""The manual commands on one target: `rollback`, `finish` and `status`.

Each reports the state and exits 0 when it did what it says (README, exit codes); a rollback or finish
that Rancher does not complete is an exit-4 error naming the state. What a rollback means per
flavour is the backend's: 1.x's rollback action, 2.x's previous revision.
"""

from __future__ import annotations

from rancher_deploy.errors import WaitEnded, WaitInterrupted
from rancher_deploy.events import Level, Result, Step, TargetOutcome
from rancher_deploy.snapshot import Goal, Phase, TargetRef
from rancher_deploy.steps import Run, TargetSteps, attention, unchanged


def rollback(steps: TargetSteps, ref: TargetRef, run: Run) -> TargetOutcome:
    """Roll back a pending upgrade (1.x) or to the previous revision (2.x) and wait until restored."""
    snapshot = steps.backend.fetch(ref)
    images = unchanged(snapshot.images)
    if not snapshot.can_roll_back:
        message = f"{ref.name} is {snapshot.state}: there is no pending upgrade to roll back"
        return steps.report(ref, Result.UNCHANGED, snapshot.state, images, message)
    if steps.settings.dry_run:
        message = f"dry run: would roll back {ref.name} (state {snapshot.state})"
        return steps.report(ref, Result.PLANNED, snapshot.state, images, message)
    steps.emit(Step(f"Rolling back {ref.name} (state {snapshot.state})", target=ref.name))
    steps.actions.send(ref, steps.backend.rollback, "rollback")
    try:
        steps.wait(ref, steps.backend.restored_goal)
    except WaitInterrupted as ended:
        return steps.left_running(ref, "rollback", ended, run, images)
    except WaitEnded as ended:
        raise attention(ref, f"the rollback did not complete: {ended}", ended.last) from None
    after = steps.backend.fetch(ref)
    message = f"{ref.name} was rolled back and is active on " + ", ".join(image for _, image in after.images)
    return steps.report(ref, Result.REVERTED, after.state, unchanged(after.images), message)


def finish(steps: TargetSteps, ref: TargetRef, run: Run) -> TargetOutcome:
    """Finish an upgrade left `upgraded` (1.x), after waiting for a running process to settle."""
    snapshot = steps.backend.fetch(ref)
    images = unchanged(snapshot.images)
    if snapshot.phase is Phase.BUSY:
        steps.emit(Step(f"{ref.name} is {snapshot.state}; waiting for it to settle", target=ref.name))
        try:
            steps.wait(ref, Goal.SETTLED)
        except WaitInterrupted as ended:
            run.interrupted_by = ended.signal_number
            # Nothing was sent: the images are what they were (the exit code still says 143/130).
            message = f"interrupted while waiting for {ref.name} to settle; nothing was changed"
            return steps.report(ref, Result.UNCHANGED, ended.last.state if ended.last else snapshot.state, images,
                                message, level=Level.WARNING)
        snapshot = steps.backend.fetch(ref)
    if not snapshot.can_finish:
        message = f"{ref.name} is {snapshot.state}: there is no upgrade to finish"
        return steps.report(ref, Result.UNCHANGED, snapshot.state, images, message)
    if steps.settings.dry_run:
        message = f"dry run: would finish the upgrade of {ref.name}"
        return steps.report(ref, Result.PLANNED, snapshot.state, images, message)
    return steps.finish(ref, images, run, Result.FINISHED)


def status(steps: TargetSteps, ref: TargetRef, run: Run) -> TargetOutcome:
    """Report state, health and images; changes nothing."""
    snapshot = steps.backend.observe(ref)
    images = ", ".join(f"{name}={image}" for name, image in snapshot.images)
    health = snapshot.health.counts if snapshot.health else ""
    note = f" ({snapshot.message})" if snapshot.message else ""
    message = f"{ref.name} ({ref.id}) is {snapshot.state}{note}{health}: {images}"
    return steps.report(ref, Result.STATUS, snapshot.state, unchanged(snapshot.images), message)
