"""RANCHER_CREATE in the upgrade flow: make a target that does not exist and wait until it is healthy.

A created target is one the run touched: when it never becomes healthy, or another target of an
atomic run fails, it is removed again (`recovery.restore`), so exit 1 still means that every target
is where the run found it, here absent; a removal that fails is FAILED (exit 4) with the state
named. The creation is sent once, as every action is (`actions`): when its answer goes wrong, Rancher
is asked whether the target exists now, rather than asked to make it twice.
"""

from __future__ import annotations

from rancher_deploy.creation import Creation
from rancher_deploy.errors import (
    Interrupted,
    RancherAPIError,
    RancherUnreachable,
    TargetMissing,
    TransientRancherError,
    WaitEnded,
)
from rancher_deploy.events import Level, Result, Step, TargetOutcome
from rancher_deploy.plan import Plan
from rancher_deploy.recovery import MISSING, recover
from rancher_deploy.snapshot import TargetRef
from rancher_deploy.steps import Applied, Run, TargetSteps


def start(steps: TargetSteps, pending: TargetRef, plan: Plan, run: Run) -> Applied | TargetOutcome:
    """Create the target of a `Backend.plan_creation` plan and wait until it is healthy (the backend's
    restored goal, held to RANCHER_PROGRESS_DEADLINE where Rancher does not say it stalled).

    `pending` names the target before it exists (its id is empty where Rancher gives it, 1.x). Returns
    what the pipeline's upgrade would (`Applied`, or the outcome it ended with: PLANNED on a dry run,
    `recovery`'s after a failure). Raises the `errors` family only while nothing was created.
    """
    creation = plan.request
    if not isinstance(creation, Creation):
        raise TypeError(f"create.start needs a creation plan, not {type(creation).__name__}")
    started = steps.clock()
    steps.emit(Step(f"{pending.name} does not exist; RANCHER_CREATE makes it", target=pending.name))
    for number, line in enumerate(plan.describe()):   # its first line is "Plan for <target>: create ..."
        steps.emit(Step(line, target=pending.name, named=number == 0))
    for warning in plan.warnings:
        steps.emit(Step(warning, Level.WARNING, pending.name))
    if steps.settings.dry_run:
        return steps.report(pending, Result.PLANNED, MISSING, plan.changes,
                            f"dry run: a real run would create {pending.name}; nothing was changed")
    try:
        steps.actions.check(pending, "creation")
    except Interrupted as signalled:   # a signal came first: nothing is created
        return steps.stopped(pending, run, signalled, plan.changes, Result.NOT_UPGRADED, MISSING)
    ref = _send(steps, pending, plan, creation)
    run.current = ref
    steps.emit(Step(f"Created {ref.name} ({ref.id}); waiting until it is healthy", target=ref.name, named=True))
    try:
        healthy = steps.wait(ref, steps.backend.restored_goal, changing=True)
    except WaitEnded as ended:
        return recover(steps, ref, plan, ended, run)
    return Applied(ref, plan, healthy, started)


def complete(steps: TargetSteps, applied: Applied) -> TargetOutcome:
    """A created target that became healthy: CREATED. Nothing is left to finish (a 1.x service created
    with startOnCreate is active, not upgraded)."""
    images = ", ".join(f"{change.container}={change.new_image}" for change in applied.plan.changes)
    return steps.report(applied.ref, Result.CREATED, applied.last.state, applied.plan.changes,
                        f"{applied.ref.name} was created and runs {images}")


def _send(steps: TargetSteps, pending: TargetRef, plan: Plan, creation: Creation) -> TargetRef:
    """POST the creation once. A refusal (4xx) raises as it is: nothing was made. A lost answer or a
    5xx may hide a creation Rancher made: one more lookup tells, and the run goes on with what exists,
    or raises RancherUnreachable (exit 3, nothing was changed), or NeedsAttention when Rancher cannot be
    read to tell."""
    try:
        return steps.backend.create(plan)
    except (TransientRancherError, RancherAPIError) as error:
        if isinstance(error, RancherAPIError) and error.status < 500:
            raise
        try:
            ref = steps.backend.resolve(creation.target)
        except TargetMissing:
            raise RancherUnreachable(f"Rancher did not create {pending.name} ({error}); nothing was changed") from None
        except TransientRancherError:
            raise steps.attention(pending, f"the answer to its creation was lost ({error}) and Rancher cannot be read "
                                           "since, so whether it exists is unknown", None) from None
        steps.emit(Step(f"The answer to the creation of {pending.name} was lost ({error}), but Rancher has it "
                        f"({ref.id}); going on", Level.WARNING, pending.name))
        return ref
