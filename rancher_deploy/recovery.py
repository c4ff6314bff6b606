"""After a failed upgrade (or creation): restore the target and check where it settled, or say exactly what is left.

This is where the promise "never half-upgraded without saying so" is kept: the result is ROLLED_BACK
only when the target is seen back on every image it ran before (one the run created: removed again);
anything else is FAILED with the state named (exit 4), or INTERRUPTED when RANCHER_ON_INTERRUPT=report
asked to leave it. `restore` also serves an atomic run (`atomic`), which restores the targets that
were healthy when another failed. A target another writer changed under the run (`ours`) is theirs:
it is neither called upgraded nor rolled back, but FAILED with the images it has.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from rancher_deploy.creation import Creation
from rancher_deploy.errors import (
    DeployError,
    NotFound,
    RefusedError,
    TransientRancherError,
    WaitEnded,
    WaitFailed,
    WaitGone,
    WaitInterrupted,
    WaitOvertaken,
    signal_name,
)
from rancher_deploy.events import ImageChange, Level, Result, Step, TargetOutcome, mixed
from rancher_deploy.images import same_image
from rancher_deploy.plan import Plan
from rancher_deploy.settings import OnInterrupt
from rancher_deploy.snapshot import Goal, Judgement, Phase, Snapshot, TargetRef, Verdict
from rancher_deploy.steps import Run, TargetSteps

# The state of a target that does not exist: one a run would create, or one it removed where Rancher
# keeps no trace of it (2.x; a removed 1.x service stays readable, in its own state).
MISSING = "missing"

# What to do about a target another writer changed under the run: it is theirs now, and only a person
# knows whether their change is to stay (a hotfix pushed by hand, another pipeline's release).
OVERTAKEN_ADVICE = ("find out who changed it and whether that change is to stay: `rancher-deploy status` shows it, "
                    "and `rancher-deploy upgrade` with the image it should run moves it on from there")

# How often a restore sends a rollback Rancher refused in one state once a later state offers it.
_OFFERS = 3


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
    accepted: list[bool] = []   # Rancher took the rollback (or shows one under way): `_roll_back` says
    try:
        last = _roll_back(steps, ref, plan, accepted)
    except WaitInterrupted as cut:   # the grace after a signal is over, or a second one came
        now = steps.look(ref) or cut.last
        if now is not None and now.judge(steps.backend.restored_goal).verdict is Verdict.DONE:
            return _rolled_back(steps, ref, plan, why, now, level)   # done as the wait ended
        return _cut_short(steps, ref, plan, "rollback", cut, now, earlier, run, accepted=bool(accepted))
    except (WaitEnded, DeployError) as error:
        last_seen = (error.last if isinstance(error, WaitEnded) else None) or steps.look(ref)
        if isinstance(error, WaitOvertaken):
            return steps.failed(ref, str(error), last_seen, plan.changes, earlier, advice=OVERTAKEN_ADVICE)
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
    return steps.report(ref, Result.ROLLED_BACK, last.state, plan.changes, message, level=level, seen=last)


def _roll_back(steps: TargetSteps, ref: TargetRef, plan: Plan, accepted: list[bool]) -> Snapshot:
    """Send the rollback and wait until the target is restored; its last snapshot.

    Read first: where the previous images are back already, someone else rolled it back, and another
    rollback would return to the new image (1.x: none is offered then), so it is only watched. Where
    Rancher refuses the rollback in the target's state (1.x: not offered while someone else cancels
    or finishes the upgrade), someone may be restoring it, so the wait watches where it goes, and as
    soon as it reaches a state that offers the rollback (`RefusedError.state`: canceled-upgrade, say)
    with this run's upgrade still pending, sends it there: the run set out to restore the target.
    `accepted` gets True once a rollback is under way in Rancher (sent and taken, or someone else's).
    The sends and reads are a restore's (`restore=True`: after a signal too, within its grace).
    Raises the `WaitEnded` family (WaitOvertaken: another writer's images appeared) and what sending
    raises besides a refusal.
    """
    goal, restoring = steps.backend.restored_goal, ours(ref, plan, restoring=True)
    seen = steps.actions.fetch_patiently(ref, "rollback", steps.restore_pace)
    if plan.moves_images and _restored(seen.images, plan):
        accepted.append(True)
        steps.emit(Step(f"{ref.name} already shows its previous images again ({_pairs(seen.images, plan)}, state "
                        f"{seen.state}): someone else rolled it back; watching it settle rather than sending another "
                        "rollback, which would return to the new image", Level.WARNING, ref.name, named=True))
        return steps.wait(ref, goal, pace=steps.restore_pace, stop=restoring)
    for _ in range(_OFFERS):
        try:
            steps.actions.send(ref, steps.backend.rollback, "rollback", before=seen, restore=True)
            accepted.append(True)
            break
        except RefusedError as refused:
            # Not offered: someone else (another run, a person) may be restoring it already, so
            # watch where it goes, and act where a later state offers it (`_offered`).
            later = "; rolling it back once a later state offers it" if refused.state is not None else ""
            steps.emit(Step(f"{refused}; watching where it goes{later}", Level.WARNING, ref.name))
            seen = steps.wait(ref, goal, pace=steps.restore_pace, stop=restoring, until=_offered(plan, refused.state))
            if refused.state is None or seen.judge(goal).verdict is Verdict.DONE:
                return seen
            steps.emit(Step(f"{ref.name} is {seen.state}, where Rancher offers the rollback: sending it",
                            Level.WARNING, ref.name, named=True))
    return steps.wait(ref, goal, pace=steps.restore_pace, stop=restoring)


def _offered(plan: Plan, refused_in: str | None) -> Callable[[Snapshot], bool] | None:
    """The restore wait's `until` after a rollback refused in state `refused_in` (None: no state offers
    it, nothing to act on): a later state that offers it while the target still holds this run's
    upgrade, its new images in the spec and, where the read says, its previous ones to bring back."""
    if refused_in is None:
        return None
    return lambda snapshot: (snapshot.state != refused_in and snapshot.can_roll_back
                             and _on(snapshot.images, plan.changes, new=True)
                             and _on(snapshot.restores, plan.changes, new=False))


def ours(ref: TargetRef, plan: Plan, *, restoring: bool = False) -> Callable[[Snapshot, Judgement], WaitEnded | None]:
    """A wait's check that the target still holds this run's change (`TargetSteps.wait`'s `stop`).

    Each container the plan changes must show its new image or its previous one (a read may lag
    behind the write: v3 answers from a cache). Any other image is another writer's (a person's
    `kubectl set image`, another pipeline): WaitOvertaken, and the target is not this run's to roll
    back any more, whoever restores it. Waiting for the upgrade (`restoring` false), a rollout that
    ends (the judge says done) on anything but the new images was not this run's either: on the
    previous ones, someone else rolled it back (WaitFailed: the restore finds it done); on a mix of
    the two, someone changed part of it (WaitOvertaken). The judge alone would call either done,
    since a rollout's rule reads generations and counts, not whose template it rolls out.
    """
    def check(snapshot: Snapshot, judgement: Judgement) -> WaitEnded | None:
        now = dict(snapshot.images)
        strangers = [change for change in plan.changes if change.container in now
                     and not same_image(now[change.container], change.new_image)
                     and not same_image(now[change.container], change.previous_image)]
        done = judgement.verdict is Verdict.DONE and not restoring
        if strangers or (done and not _on(snapshot.images, plan.changes, new=True)
                         and not _restored(snapshot.images, plan)):
            waited = "rollback" if restoring else "upgrade"
            return WaitOvertaken(
                f"another writer changed it while this run waited for its {waited}: it has "
                f"{_pairs(snapshot.images, plan)}, where this run set "
                f"{', '.join(f'{c.container}={c.new_image}' for c in plan.changes)}; this run does not roll back "
                "a change it did not make", snapshot)
        if done and plan.moves_images and not _on(snapshot.images, plan.changes, new=True):
            return WaitFailed(f"it rolled out its previous images ({_pairs(snapshot.images, plan)}) instead of this "
                              "run's: someone else rolled it back while the upgrade ran", snapshot)
        return None

    return check


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
    follow = steps.next_steps(ref, now, f"follow it with `rancher-deploy status`{again}")
    message = (f"{ref.name}: {what} requested and still under way when the run stopped waiting for it {when}: "
               f"{now.describe()} on {images}; Rancher completes it on its own: {follow}")
    return steps.report(ref, Result.INTERRUPTED, now.state, plan.changes, message, level=Level.WARNING, seen=now,
                        next_step=follow)


def _left_as_it_is(steps: TargetSteps, ref: TargetRef, plan: Plan, ended: WaitEnded) -> TargetOutcome | None:
    """The outcome when no rollback is to be tried: another writer's change, removed, told to report,
    or --no-rollback."""
    if isinstance(ended, WaitOvertaken):
        return steps.failed(ref, str(ended), ended.last, plan.changes, advice=OVERTAKEN_ADVICE)
    if isinstance(ended, WaitGone):
        # A 404 may pass (a proxy, a restarting Rancher): look once more before giving it up. Once
        # Rancher no longer has it, it has no state of its own to report: the pipeline's word says so.
        gone, state, now = True, Phase.GONE.value, None
        try:
            now = steps.backend.observe(ref)
            gone, state = now.judge(Goal.SETTLED).gone, now.state
        except NotFound:
            pass
        except DeployError:
            gone = False  # cannot tell; the rollback will find out
        if gone:
            advice = steps.next_steps(ref, now)
            message = (f"{ref.name} needs attention: it was removed while the upgrade ran ({ended}); "
                       f"there is nothing to roll back; its state is {state}; {advice}")
            return steps.report(ref, Result.FAILED, state, plan.changes, message, level=Level.ERROR, seen=now,
                                next_step=advice)
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
    advice = steps.next_steps(ref, now)
    message = f"{ref.name} is left in state {state} {why}; {advice}"
    level = Level.ERROR if result is Result.FAILED else Level.WARNING
    return steps.report(ref, result, state, plan.changes, message, level=level, seen=now, next_step=advice)


def left_behind(steps: TargetSteps, targets: tuple[TargetOutcome, ...]) -> tuple[TargetOutcome, ...]:
    """The run's outcomes as it reports them: where they ended in different states (exit 4, `mixed`),
    each target left as it was (rolled back, not upgraded, not created) says what the others got
    (`_again`)."""
    return tuple(_again(steps, done) for done in targets) if mixed(targets) else targets


def _again(steps: TargetSteps, done: TargetOutcome) -> TargetOutcome:
    """`done`, a target the run failed on and left as it was while others were changed: it still wants
    what they got, so its outcome says so, with the command that does it to that target alone."""
    if done.result not in (Result.ROLLED_BACK, Result.NOT_UPGRADED) or done.next_step:
        return done
    what = "create" if done.state == MISSING else "upgrade"
    advice = steps.next_steps(TargetRef(name=done.target, id=done.target_id, url=""), None,
                              f"once what stopped it is fixed, {what} it with `rancher-deploy upgrade`, as the others were")
    return replace(done, message=f"{done.message}; {advice}", next_step=advice)


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
        return steps.failed(ref, f"this run created it ({why}); removing it failed: {error}", last, plan.changes,
                            earlier, advice=delete)
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
    return _on(images, plan.changes, new=False)


def _on(images: tuple[tuple[str, str], ...], changes: tuple[ImageChange, ...], *, new: bool) -> bool:
    """Whether every container of `changes` that `images` shows is on its new image (else: previous)."""
    now = dict(images)
    return all(same_image(now[c.container], c.new_image if new else c.previous_image)
               for c in changes if c.container in now)


def _pairs(images: tuple[tuple[str, str], ...], plan: Plan) -> str:
    """"web=app:3": the images `images` shows for the containers the plan changes."""
    changed = {change.container for change in plan.changes}
    return ", ".join(f"{name}={image}" for name, image in images if name in changed)
