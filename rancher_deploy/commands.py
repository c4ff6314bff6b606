"""The manual commands on one target: `rollback`, `finish` and `status`.

Each reports the state and exits 0 when it did what it says (README, exit codes); a rollback or
finish that Rancher does not complete is a FAILED target (exit 4) whose message names the state and
what to run next, like a failed upgrade's: something was sent, so it is never an `error` ("nothing
was changed"). What a rollback means per flavour is the backend's: 1.x's rollback action, 2.x's previous revision. A 2.x rollout has no
finish step, so `finish` refuses a workload (exit 2) rather than report success on nothing.
Their changes follow the result fields: `previous_image` is what ran before the command,
`requested_image` what it asked for, and the image it runs at the end follows from the result.
"""

from __future__ import annotations

from rancher_deploy.errors import Interrupted, NeedsAttention, RefusedError, WaitEnded, WaitInterrupted
from rancher_deploy.events import ImageChange, Level, Result, Step, TargetOutcome
from rancher_deploy.snapshot import Goal, Phase, TargetRef, Verdict
from rancher_deploy.steps import Run, TargetSteps, outcome, unchanged


def rollback(steps: TargetSteps, ref: TargetRef, run: Run) -> TargetOutcome:
    """Roll back a pending upgrade (1.x) or to the previous revision (2.x) and wait until restored.

    One rule for every flavour and kind, decided by the backend (`Backend.rollback_to`) before
    anything is said or sent: nothing to roll back to is a reported skip (UNCHANGED, exit 0); a
    target that cannot be rolled back at all is refused (RefusedError, exit 2). A rollback that
    Rancher does not complete is FAILED (exit 4), with the state and the next step.
    """
    snapshot = steps.backend.fetch(ref)
    restore = steps.backend.rollback_to(ref, snapshot)
    if restore.nothing is not None:
        return steps.report(ref, Result.UNCHANGED, snapshot.state, unchanged(snapshot.images), restore.nothing)
    back = dict(restore.images)
    asked = tuple(ImageChange(name, image, back.get(name, image)) for name, image in snapshot.images)
    if steps.settings.dry_run:
        target = f" to {_images(restore.images)}" if restore.images else ""
        message = f"dry run: would roll back {ref.name} (state {snapshot.state}){target}; nothing was changed"
        return steps.report(ref, Result.PLANNED, snapshot.state, asked, message)
    steps.emit(Step(f"Rolling back {ref.name} (state {snapshot.state})", target=ref.name, named=True))
    try:
        steps.actions.send(ref, steps.backend.rollback, "rollback")
    except Interrupted as signalled:   # the signal came first: nothing sent
        return steps.stopped(ref, run, signalled, asked, Result.UNCHANGED)
    except NeedsAttention as unknown:   # the answer was lost and Rancher cannot be read: taken or not is unknown
        return steps.unknown(ref, unknown, asked)
    try:
        after = steps.wait(ref, steps.backend.restored_goal)
    except WaitInterrupted as ended:
        return steps.left_running(ref, "rollback", ended, run, asked)
    except WaitEnded as ended:
        return steps.failed(ref, f"the rollback did not complete: {ended}", ended.last, asked)
    ran = dict(snapshot.images)
    changes = tuple(ImageChange(name, ran.get(name, image), image) for name, image in after.images)
    message = f"{ref.name} was rolled back and is {after.state} on {_images(after.images)}"
    return steps.report(ref, Result.REVERTED, after.state, changes, message)


def finish(steps: TargetSteps, ref: TargetRef, run: Run) -> TargetOutcome:
    """Finish an upgrade left pending (1.x), after waiting for a running process to settle.

    A process that ends failed, or a finish that Rancher does not complete, is FAILED (exit 4), with
    the state and the next step; one still running after RANCHER_TIMEOUT raises TargetBusy (exit 3).
    """
    if not steps.backend.needs_finish:
        raise RefusedError(f"{ref.name} is a Rancher 2.x workload, whose rollout completes on its own: there is "
                           "no upgrade to finish and nothing was changed (`rancher-deploy status` shows it; "
                           "`rancher-deploy rollback` restores the previous revision)")
    snapshot = steps.backend.fetch(ref)
    if snapshot.phase is Phase.BUSY:
        steps.emit(Step(f"{ref.name} is {snapshot.state} (another process runs); waiting for it to settle",
                        Level.WARNING, ref.name))
        settled = steps.settle(ref, run, unchanged(snapshot.images), stopped=Result.UNCHANGED)
        if isinstance(settled, TargetOutcome):
            return settled
        snapshot = settled
    images = unchanged(snapshot.images)
    if not snapshot.can_finish:
        message = f"{ref.name} is {snapshot.state}: there is no upgrade to finish"
        return steps.report(ref, Result.UNCHANGED, snapshot.state, images, message)
    if steps.settings.dry_run:
        message = f"dry run: would finish the upgrade of {ref.name}; nothing was changed"
        return steps.report(ref, Result.PLANNED, snapshot.state, images, message)
    try:
        return steps.finish(ref, snapshot, images, run, Result.FINISHED)
    except Interrupted as signalled:   # the signal came first: nothing sent
        return steps.stopped(ref, run, signalled, images, Result.UNCHANGED)


def status(steps: TargetSteps, ref: TargetRef, run: Run) -> TargetOutcome:
    """Report state, health and images (and what a rollback would restore); changes nothing.

    The state is said once, in the verdict line, so this logs nothing itself.
    """
    snapshot = steps.backend.observe(ref)
    health = snapshot.health.counts if snapshot.health else ""
    note = f" ({snapshot.message})" if snapshot.message else ""
    message = f"{ref.name} is {snapshot.state}{note}{health}: {_images(snapshot.images)}"
    if snapshot.restores:
        message += f"; a rollback would restore {_images(snapshot.restores)}"
    if snapshot.phase is Phase.PENDING_FINISH or snapshot.judge(Goal.SETTLED).verdict is Verdict.FAILED:
        message += f"; {steps.next_steps(ref, snapshot)}"
    return outcome(ref, Result.STATUS, snapshot.state, unchanged(snapshot.images), message)


def _images(pairs: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(f"{name}={image}" for name, image in pairs)
