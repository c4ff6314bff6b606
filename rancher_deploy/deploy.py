"""The pipeline, flavour-neutral: resolve -> look -> plan -> apply -> wait -> finish | roll back.

It emits events and returns an Outcome; it never prints. The one promise it keeps above all
others: a run never leaves a target half-upgraded without saying so. Every failure after the
first change ends in a rollback that is waited for (`recovery`; after a signal, a short grace), or in
a target whose message names the exact state and what to do next. The upgrade of one target has two
halves, `start` (up to healthy) and `complete` (finish); one target runs them back to back, and
several named targets run them as one (`atomic`) unless RANCHER_ATOMIC=false. Sending each
action, and telling from Rancher's state whether an unanswered one was taken, belongs to
`actions`; the manual commands (rollback, finish, status) live in `commands`. A target that does
not exist is an error before anything changes, unless RANCHER_CREATE asks to make it (`create`),
which then takes the place of its upgrade in both halves.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Sequence

from rancher_deploy import commands
from rancher_deploy.backend import Backend
from rancher_deploy.errors import (
    ConfigError,
    DeployError,
    ExitCode,
    Interrupted,
    NeedsAttention,
    TargetMissing,
    WaitEnded,
    WaitInterrupted,
    signal_name,
)
from rancher_deploy.events import (
    Emit,
    Event,
    GroupEnd,
    GroupStart,
    ImageChange,
    Level,
    Outcome,
    Result,
    Step,
    TargetOutcome,
)
from rancher_deploy.images import ImageRef, same_image
from rancher_deploy.parallel import NotStarted, concurrent, each
from rancher_deploy.plan import Plan
from rancher_deploy.policy import POLICY_LABEL, PolicyLabelError, TargetPolicy, decide, for_target
from rancher_deploy.recovery import MISSING, created, left_behind, ours, recover
from rancher_deploy.settings import Command, OnUpgraded, Settings, Target
from rancher_deploy.snapshot import Phase, Snapshot, TargetRef
from rancher_deploy.steps import Applied, Run, TargetSteps, outcome, runs, unchanged
from rancher_deploy.target_locks import TargetLocks
from rancher_deploy.targets import alone

if TYPE_CHECKING:  # fleet mode's alone: a run naming its targets never loads `fleet`
    from rancher_deploy.fleet import Pick

# Registry polling's choice of a target's image (poll.TagChooser): given the target's name, how it was
# read and the version policy it follows, the image it moves to and None, or the image it runs and the
# reason it stays.
Choose = Callable[[str, Snapshot, TargetPolicy], tuple[ImageRef, str | None]]

# How often one target's upgrade waits out another process's, begun between its read and its request.
_RACES = 3


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class _Ready:
    """A target an upgrade may start from, and what the run did first to an upgrade an earlier run
    left pending (RANCHER_ON_UPGRADED; None when there was none), with the images it ran before that."""

    snapshot: Snapshot
    first: OnUpgraded | None = None
    ran: tuple[tuple[str, str], ...] = ()


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
                 urgent: Callable[[], int | None] = lambda: None,
                 arrived: Callable[[], float | None] = lambda: None,
                 choose: Choose | None = None, locks: TargetLocks | None = None) -> None:
        self._settings = settings
        self._choose = choose
        self._backend = backend
        # Targets run in threads (`parallel`): one event at a time reaches the log, whole.
        lock, log = threading.Lock(), emit

        def emit_whole(event: Event) -> None:
            with lock:
                log(event)

        emit = self._emit = emit_whole
        self._clock = clock
        self._steps = TargetSteps(settings, backend, emit, clock=clock, sleep=sleep, interrupted=interrupted,
                                  urgent=urgent, arrived=arrived, locks=locks)
        self._run = Run()
        self._started = clock()
        # Each target as the preflight read it, and when: the upgrade starts from that read when it is
        # younger than one poll interval (as fresh as a poll would be), rather than reading again.
        self._checked: dict[str, tuple[Snapshot, float]] = {}
        # Targets RANCHER_CREATE makes, by the placeholder ref that names them until they exist.
        self._creations: dict[TargetRef, Plan] = {}
        # The picks of a fleet run by target id: their plans take `Pick.own_settings`; others the run's.
        self._picks: dict[str, Pick] = {}
        # Fleet picks whose own autoupdate.policy cannot be read, by target id: each fails alone.
        self._unreadable: dict[str, PolicyLabelError] = {}

    def run(self, picks: Sequence[Pick] = ()) -> Outcome:
        """Run the command over every target; raises the `errors` family only while the run changed
        nothing (or cannot tell: NeedsAttention), and `stopped` then says what it knew of each target.

        `picks`: the targets fleet selection found (`fleet.select`), each upgraded in the containers
        that run the image's repository; without them, the settings' targets are looked up.
        """
        self._started = self._clock()
        run = self._run = Run()
        command = self._settings.command
        if picks:
            refs = [pick.candidate.ref for pick in picks]
            self._picks = {pick.candidate.ref.id: pick for pick in picks}
            # The run's settings select every pick again: advice names the one it is for.
            self._steps.alone = {pick.candidate.ref.id: pick.alone for pick in picks}
        else:
            refs = [self._resolve(target) for target in self._settings.targets]
            if len(refs) > 1:
                # Advice for one target of several must name it alone: the run's own settings name them all.
                self._steps.alone = {ref.id: (alone(target),) for ref, target in zip(refs, self._settings.targets)}
        if command is Command.UPGRADE:
            # Every target is checked before the first one is touched, so a refusal or a bad
            # setting for the third service cannot surface after the first was upgraded. After a
            # signal nothing more is read: no target is started (the flows' `stop`), and the run
            # exits while a CI's stop still lets it (a slow Rancher takes seconds per read).
            for ref in refs:
                run.current = ref
                if self._steps.interrupted() is not None:
                    break
                if ref not in self._creations:
                    self._preflight(ref, self._picks[ref.id].candidate.snapshot if ref.id in self._picks else None)
        if command is Command.UPGRADE and len(refs) > 1 and self._settings.atomic and not self._settings.dry_run:
            from rancher_deploy.atomic import upgrade_together   # RANCHER_ATOMIC's alone: start-up for the others

            upgrade_together(self, self._steps, refs, run, limit=self._settings.parallel)
        elif command is Command.UPGRADE:
            self._independently(refs, run)
        else:
            self._one_by_one(command, refs, run)
        return self._outcome(tuple(run.outcomes))

    def stopped(self, error: DeployError) -> Outcome:
        """What the run knew when `error` stopped it, for its report: the targets done before, and the
        one it stopped on with its last known state (`error.last`, else one more read where Rancher
        answered), so the JSON result names it and its state rather than nothing."""
        targets = list(self._run.outcomes)
        ref = self._run.current
        if ref is not None and all(done.target != ref.name for done in targets):
            seen = error.last
            if seen is None and error.exit_code is not ExitCode.RANCHER_UNAVAILABLE and ref not in self._creations:
                seen = self._steps.look(ref)
            result = (Result.FAILED if error.exit_code is ExitCode.NEEDS_ATTENTION else
                      Result.NOT_UPGRADED if self._settings.command is Command.UPGRADE else Result.UNCHANGED)
            state = seen.state if seen else MISSING if ref in self._creations else "unknown"
            targets.append(outcome(ref, result, state, self._asked(ref, seen), str(error), error.next_step))
        return self._outcome(tuple(targets))

    def _resolve(self, target: Target) -> TargetRef:
        """The target's ref; for one that does not exist, with RANCHER_CREATE on an upgrade, a placeholder
        naming it and the plan that makes it (`create`). Raises what `Backend.resolve` raises otherwise
        (a missing target: exit 2, before anything is changed)."""
        try:
            return self._backend.resolve(target)
        except TargetMissing as missing:
            if self._settings.command is not Command.UPGRADE:
                raise
            if not self._settings.create:
                raise TargetMissing(f"{missing}; `RANCHER_CREATE=true` creates it") from None
        plan = self._backend.plan_creation(target, self._settings)
        pending = TargetRef(name=plan.target, id=plan.target_id, url="")
        self._creations[pending] = plan
        return pending

    def _asked(self, ref: TargetRef, snapshot: Snapshot | None) -> tuple[ImageChange, ...]:
        """What this run asks of the target, seen as `snapshot` shows it: an upgrade's plan (from what
        runs to what was asked), else the images as they are; nothing when it was never seen."""
        if ref in self._creations:
            return self._creations[ref].changes
        if snapshot is None:
            return ()
        if self._settings.command is Command.UPGRADE:
            try:
                return self._plan(ref, snapshot)[0].changes
            except DeployError:
                pass  # no plan can be made (the error says why elsewhere): the images as they are
        return unchanged(snapshot.images)

    def _plan(self, ref: TargetRef, snapshot: Snapshot) -> tuple[Plan, str | None]:
        """The backend's plan for the target, from the settings it takes (a pick's own, else the run's),
        and a reason to skip it (None: go on). With registry polling (`choose`, RANCHER_POLL) those
        settings take the image's tag chosen for this target, or the image it runs and why it stays."""
        settings, skipped = self._settings, None
        if self._choose is not None:
            image, skipped = self._choose(ref.name, snapshot, self._target_policy(ref, snapshot))
            settings = replace(settings, image=image)
        return self._backend.plan(ref, snapshot, self._own(ref, settings)), skipped

    def _own(self, ref: TargetRef, settings: Settings) -> Settings:
        """`settings` as the target's plan takes them: a fleet pick's own (`Pick.own_settings`), else as they are."""
        pick = self._picks.get(ref.id)
        return pick.own_settings(settings) if pick else settings

    def _outcome(self, targets: tuple[TargetOutcome, ...]) -> Outcome:
        return Outcome(command=self._settings.command.value, targets=left_behind(self._steps, targets),
                       duration_seconds=self._clock() - self._started, flavour=self._backend.flavour,
                       interrupted_by=self._run.interrupted_by)

    def _independently(self, refs: list[TargetRef], run: Run) -> None:
        """Upgrade each target on its own (RANCHER_ATOMIC=false, or one target), up to RANCHER_PARALLEL
        at once: one failing stops none of the others, unless --fail-fast, which starts no further
        target after it. An error raised while nothing was changed anywhere starts no further target
        either and is the run's answer, as with one target; once another target changed, it becomes
        that target's NOT_UPGRADED (or FAILED) outcome. A signal starts no further target."""
        grouped = not concurrent(self._settings.parallel, len(refs))
        failed = run.failing   # also set by `recovery.recover` once a failure is known, before it restores
        quiet = threading.Event()   # an error came while nothing was changed: the run ends with it

        def one(ref: TargetRef) -> TargetOutcome:
            run.current = ref
            started = self._clock()
            if grouped:
                self._emit(GroupStart(f"upgrade {ref.name}"))
            try:
                with self._steps.holding(ref, lambda: self._stale(ref)) as held:   # one run of a target at once
                    done = self._upgrade(ref, run) if held else self.not_upgraded(
                        ref, "interrupted while another run of this process upgraded it")
            except DeployError:
                failed.set()
                if not any(earlier.result in _CHANGED for earlier in run.outcomes):
                    quiet.set()
                raise
            finally:
                if grouped:
                    self._emit(GroupEnd())
            done = replace(done, duration_seconds=self._clock() - started)
            if done.result in (Result.FAILED, Result.ROLLED_BACK, Result.NOT_UPGRADED):
                failed.set()
            run.outcomes.append(done)
            return done

        fail_fast = self._settings.fail_fast

        def stop() -> bool:   # a signal starts no further target, also one no wait has seen (between two)
            run.interrupted_by = run.interrupted_by or self._steps.interrupted()
            return quiet.is_set() or run.interrupted_by is not None or (fail_fast and failed.is_set())

        ended = each(refs, one, limit=self._settings.parallel, stop=stop)
        run.outcomes.clear()
        outcomes = [done for done in ended if isinstance(done, TargetOutcome)]
        errors = [(ref, error) for ref, error in zip(refs, ended) if isinstance(error, DeployError)]
        if errors and not any(done.result in _CHANGED for done in outcomes):
            run.outcomes.extend(outcomes)
            run.current = errors[0][0]
            raise errors[0][1]
        why = f"the run was interrupted by {signal_name(run.interrupted_by)}" if run.interrupted_by is not None else (
            "another target failed (--fail-fast)")
        rest = [ref for ref, done in zip(refs, ended) if isinstance(done, NotStarted)]
        if rest:
            self._emit(Step(f"Not touching {', '.join(ref.name for ref in rest)}: {why}", Level.WARNING))
        for ref, done in zip(refs, ended):
            if isinstance(done, DeployError):
                done = self.not_upgraded(ref, done)
            elif isinstance(done, NotStarted):
                done = self.not_upgraded(ref, f"{why} before it was started")
            run.outcomes.append(done)
        self._unreadable_alone(refs, run)

    def _one_by_one(self, command: Command, refs: list[TargetRef], run: Run) -> None:
        """A manual command over each target in turn, stopping at the first that fails."""
        for ref in refs:
            run.current = ref
            self._emit(GroupStart(f"{command} {ref.name}"))
            started = self._clock()
            try:
                done = _MANUAL[command](self._steps, ref, run)
            except DeployError as error:
                if not any(earlier.result in _CHANGED for earlier in run.outcomes):
                    raise
                # Earlier targets were changed: this is no longer "nothing was changed".
                done = self._stopped_after_changes(ref, error)
            finally:
                self._emit(GroupEnd())
            run.outcomes.append(replace(done, duration_seconds=self._clock() - started))
            if run.interrupted_by is not None or done.result in (Result.FAILED, Result.ROLLED_BACK):
                rest = [other.name for other in refs[refs.index(ref) + 1:]]
                if rest:
                    self._emit(Step(f"Not touching {', '.join(rest)} after this failure", Level.WARNING))
                break

    def _stale(self, ref: TargetRef) -> None:
        """The preflight's read of `ref` is too old to start from (`_ready` reads again); reports still use it."""
        if ref.id in self._checked:
            self._checked[ref.id] = (self._checked[ref.id][0], float("-inf"))

    def _preflight(self, ref: TargetRef, listed: Snapshot | None = None) -> None:
        """Refuse now what the upgrade would refuse later: blocked states and invalid plans. A fleet pick's first
        read is the survey's (`listed`); of unknown age, so `_ready` reads again (docs/fleet.md, What it costs)."""
        snapshot = listed if listed is not None else self._backend.fetch(ref)
        self._checked[ref.id] = (snapshot, self._clock() if listed is None or self._settings.dry_run else float("-inf"))
        self._steps.refuse_unless_upgradable(ref, snapshot, allow_pending=True)
        try:
            for_target(self._settings.version_policy, snapshot.labels, snapshot.annotations)
        except PolicyLabelError as bad:
            if ref.id not in self._picks:
                raise _label_error(ref, bad) from None
            # One team's typo in a shared fleet must not hold back the others' upgrades: this pick
            # alone fails (`start`), the run goes on (docs/fleet.md, "A label that is not a policy").
            self._unreadable[ref.id] = bad
            return
        self._plan(ref, snapshot)  # with RANCHER_POLL, lists the registry's tags: a refusal stops the run here

    def not_upgraded(self, ref: TargetRef, problem: DeployError | str) -> TargetOutcome:
        """A target the run failed on (`problem` an error) or left alone (a reason) before changing it.

        Only after other targets were changed (before that, the error ends the run: nothing was
        changed). An error that leaves the target's state unknown makes it FAILED instead (exit 4).
        """
        if isinstance(problem, DeployError) and problem.exit_code is ExitCode.NEEDS_ATTENTION:
            return self._stopped_after_changes(ref, problem)
        snapshot: Snapshot | None = None
        if ref not in self._creations and self._steps.interrupted() is not None:
            snapshot = self._checked.get(ref.id, (None, 0.0))[0]   # after a signal, the preflight's read will do
        elif ref not in self._creations:
            try:
                snapshot = self._backend.fetch(ref)
            except DeployError:
                pass  # the message says why; its state and images stay unknown
        failed = isinstance(problem, DeployError)
        message = (f"{ref.name} was not created: {problem}" if ref in self._creations else
                   f"{ref.name} was not upgraded: {problem}") + ("; nothing was changed on it" if failed else "")
        state = MISSING if ref in self._creations else snapshot.state if snapshot else "unknown"
        return self._steps.report(ref, Result.NOT_UPGRADED, state,
                                  self._asked(ref, snapshot), message,
                                  level=Level.ERROR if failed else Level.WARNING)

    def _stopped_after_changes(self, ref: TargetRef, error: DeployError) -> TargetOutcome:
        seen = None if ref in self._creations else self._steps.look(ref)
        state = seen.state if seen else "unknown"
        message = f"{ref.name} failed after other targets were changed: {error}"
        advice = error.next_step or self._steps.next_steps(ref, seen)   # an exit-4 error names both itself
        message += "" if error.next_step else f"; its state is {state}; {advice}"
        return self._steps.report(ref, Result.FAILED, state, (), message, level=Level.ERROR, next_step=advice)

    # -- the upgrade -----------------------------------------------------------------------------

    def _upgrade(self, ref: TargetRef, run: Run) -> TargetOutcome:
        half = self.start(ref, run)
        return self.complete(half, run) if isinstance(half, Applied) else half

    def start(self, ref: TargetRef, run: Run) -> Applied | TargetOutcome:
        """The first half of an upgrade: from looking to healthy; an outcome when it ends earlier.

        Raises the `errors` family only while nothing was changed on this target (or its state is
        unknown: NeedsAttention); once the upgrade was taken, a failure ends in `recover`'s outcome.
        """
        if ref in self._creations:
            from rancher_deploy import create   # RANCHER_CREATE's alone: start-up for the others

            return create.start(self._steps, ref, self._creations[ref], run)
        if ref.id in self._unreadable:
            return self._policy_unreadable(ref, self._unreadable[ref.id])
        started = self._clock()
        for attempt in range(1, _RACES + 1):
            prepared = self._prepare(ref, run)
            if isinstance(prepared, TargetOutcome):
                return prepared
            plan, snapshot = prepared
            raced = self._steps.request_upgrade(ref, plan, snapshot, run, lambda seen: self._asked(ref, seen),
                                                wait_out_races=attempt < _RACES)
            if raced is None:
                break
            if isinstance(raced, TargetOutcome):
                return raced
        try:
            healthy = self._steps.wait(ref, self._backend.applied_goal, stop=ours(ref, plan))
        except WaitEnded as ended:
            return recover(self._steps, ref, plan, ended, run)
        return Applied(ref, plan, healthy, started)

    def _prepare(self, ref: TargetRef, run: Run) -> tuple[Plan, Snapshot] | TargetOutcome:
        """Ready the target and plan its upgrade (`start`'s first steps); the plan and the read it was
        made from, or the outcome when nothing is to be sent (unchanged, skipped, planned by a dry run)."""
        if self._settings.dry_run:
            ready = _Ready(self._look_without_acting(ref))
        else:
            got = self._ready(ref, run)
            if isinstance(got, TargetOutcome):
                return got
            ready = got
        snapshot = ready.snapshot
        plan, skipped = self._plan(ref, snapshot)
        self._emit(Step(f"Found {ref.name} ({ref.id}): {snapshot.state}, "
                        + ", ".join(f"{name} on {image}" for name, image in dict(snapshot.images).items()),
                        target=ref.name, named=True))
        if skipped is None:  # a tag polling chose, or no polling: the policy decides as for any image
            plan, skipped = self._version_policy(ref, plan, snapshot)
        if not plan.changes_anything or skipped is not None:
            return self._nothing_more(ref, ready, plan, skipped)
        for number, line in enumerate(plan.describe()):   # its first line is "Plan for <target> ..."
            self._emit(Step(line, target=ref.name, named=number == 0))
        for warning in self._steps.warn(ref, (*plan.warnings, *plan.redeploy_warnings)):
            self._emit(Step(warning, Level.WARNING, ref.name))
        if self._settings.dry_run:
            return self._steps.report(ref, Result.PLANNED, snapshot.state, plan.changes, "dry run: nothing was changed")
        return plan, snapshot

    def complete(self, applied: Applied, run: Run) -> TargetOutcome:
        """The second half: finish a healthy 1.x upgrade (unless --no-finish); a 2.x rollout, and a target
        the run created, are done."""
        if created(applied.plan):
            from rancher_deploy import create   # as in `start`

            return create.complete(self._steps, applied)
        ref, changes, last = applied.ref, applied.plan.changes, applied.last
        if not self._backend.needs_finish:
            images = runs(last, changes)   # as read: the wait saw them still this run's (`recovery.ours`)
            # Done does not always mean running: an OnDelete set's pods change only when deleted.
            caveat = last.judge(self._backend.applied_goal).caveat
            message = f"{ref.name} is updated to {images}; {caveat}" if caveat else f"{ref.name} now runs {images}"
            return self._steps.report(ref, Result.UPGRADED, last.state, changes, message, seen=last)
        if not self._settings.finish:
            message = (f"{ref.name} is {last.state} and left unfinished ({self._settings.unfinished_by}); later, "
                       f"{self._steps.next_steps(ref, last)}")
            return self._steps.report(ref, Result.UPGRADED_UNFINISHED, last.state, changes, message)
        try:
            return self._steps.finish(ref, last, changes, run, Result.UPGRADED, fresh=applied.fresh,
                                      committed=applied.committed)
        except Interrupted as signalled:
            # Not finished, so a 1.x rollback is still possible: the signal is met as one that came
            # while the upgrade was waited for, by RANCHER_ON_INTERRUPT.
            ended = WaitInterrupted(str(signalled), signalled.last or last, signalled.signal_number)
            return recover(self._steps, ref, applied.plan, ended, run)

    def _nothing_more(self, ref: TargetRef, ready: _Ready, plan: Plan, skipped: str | None) -> TargetOutcome:
        """The end of an upgrade with nothing to send: the target already runs the image, or the
        version policy said no (`skipped`, its reason).

        Nothing changed is UNCHANGED or SKIPPED. But when the run first finished or rolled back an
        upgrade an earlier run left pending, it did change something, and says what (FINISHED or
        REVERTED); a dry run on such a target says what a real run would do.
        """
        snapshot, choice = ready.snapshot, self._settings.on_upgraded
        why = skipped or f"{ref.name} already runs {plan.changes[0].new_image}" + (
            " with the environment and labels asked for" if self._settings.edits else "")
        if self._settings.dry_run and snapshot.phase is Phase.PENDING_FINISH:
            restored = ", ".join(f"{name}={image}" for name, image in snapshot.restores)
            then = (f"then upgrade it as usual from what that restores{f' ({restored})' if restored else ''}"
                    if choice is OnUpgraded.ROLLBACK else f"then nothing more: {why}")
            message = (f"dry run: a real run would first {choice} the upgrade an earlier run left {snapshot.state} "
                       f"(RANCHER_ON_UPGRADED), {then}; nothing was changed")
            return self._steps.report(ref, Result.PLANNED, snapshot.state, plan.changes, message)
        if ready.first is None:
            if skipped is not None:
                return self._steps.report(ref, Result.SKIPPED, snapshot.state, plan.changes,
                                          f"{skipped}; nothing was changed")
            return self._steps.report(ref, Result.UNCHANGED, snapshot.state, plan.changes,
                                      f"{why}; nothing to do (--force redeploys it)")
        # Changes from what ran before the run to what runs now (the image asked for, unless skipped).
        ran = dict(ready.ran)
        changes = tuple(replace(change, previous_image=ran.get(change.container, change.previous_image),
                                new_image=change.previous_image if skipped else change.new_image)
                        for change in plan.changes)
        done, result = ("finished", Result.FINISHED) if ready.first is OnUpgraded.FINISH else (
            "rolled back", Result.REVERTED)
        message = (f"{ref.name}: the upgrade an earlier run left pending was {done} first (RANCHER_ON_UPGRADED); "
                   f"then {why}, so nothing more was sent")
        return self._steps.report(ref, result, snapshot.state, changes, message)

    def _ready(self, ref: TargetRef, run: Run) -> _Ready | TargetOutcome:
        """Bring the target to a state an upgrade may start from, or refuse with the reason.

        Another process is waited for (`TargetSteps.settle`: TargetBusy, exit 3, when it does not
        end in time); an upgrade an earlier run left pending is finished or rolled back first
        (RANCHER_ON_UPGRADED). An outcome when that ends otherwise: FAILED (exit 4) naming the state
        and the next step, or a signal's.
        """
        checked = self._checked.pop(ref.id, None)
        fresh = checked is not None and self._clock() - checked[1] < self._settings.poll_interval_seconds
        snapshot = checked[0] if checked is not None and fresh else self._backend.fetch(ref)
        if snapshot.phase is Phase.BUSY:
            self._emit(Step(f"{ref.name} is {snapshot.state} (another process runs); waiting for it to settle",
                            Level.WARNING, ref.name))
            waited = self._steps.wait_out(ref, run, snapshot, self._asked(ref, snapshot), stopped=Result.NOT_UPGRADED)
            if isinstance(waited, TargetOutcome):
                return waited
            snapshot = waited
        if snapshot.phase is not Phase.PENDING_FINISH:
            self._steps.refuse_unless_upgradable(ref, snapshot, allow_pending=False)
            return _Ready(snapshot)
        choice, ran = self._settings.on_upgraded, unchanged(snapshot.images)
        self._emit(Step(f"{ref.name} was left {snapshot.state} by an earlier run; {choice} it first "
                        "(RANCHER_ON_UPGRADED)", Level.WARNING, ref.name))
        action = self._backend.finish if choice is OnUpgraded.FINISH else self._backend.rollback
        try:
            self._steps.actions.send(ref, action, choice.value)
        except Interrupted as signalled:
            return self._steps.stopped(ref, run, signalled, ran, Result.NOT_UPGRADED)
        except NeedsAttention as unknown:  # the answer was lost and Rancher cannot be read
            return self._steps.unknown(ref, unknown, ran)
        try:
            settled = self._steps.wait(ref, self._backend.restored_goal)
        except WaitInterrupted as ended:
            return self._steps.left_running(ref, f"{choice} of the earlier upgrade", ended, run, ran)
        except WaitEnded as ended:
            return self._steps.failed(ref, f"the {choice} of the upgrade an earlier run left pending did not "
                                           f"complete: {ended}", ended.last, ran)
        self._steps.refuse_unless_upgradable(ref, settled, allow_pending=False)
        return _Ready(settled, choice, snapshot.images)

    def _version_policy(self, ref: TargetRef, plan: Plan, snapshot: Snapshot) -> tuple[Plan, str | None]:
        """The plan to go on with and the version policy's reason to skip the target (None: go on), by
        `policy.decide`, the one place a version is judged. Only the containers the plan moves have a
        say; where none moves and nothing else changes, a policy that takes the same image again (force;
        newer on latest, the seed's latest -> latest) makes the plan a redeploy, as --force would."""
        chosen = self._target_policy(ref, snapshot)
        moving = [change for change in plan.changes if not same_image(change.previous_image, change.new_image)]
        for change in moving:
            decision = decide(chosen.policy, change.previous_image, change.new_image)
            if not decision.allowed:
                return plan, (f"skipped by the version policy {chosen}: {change.container} stays on "
                              f"{change.previous_image}: {decision.reason}")
        if moving or plan.changes_anything or self._settings.image is None:
            return plan, None
        if not plan.changes or not all(decide(chosen.policy, change.previous_image, change.new_image).allowed
                                       for change in plan.changes):
            return plan, None
        forced = self._backend.plan(ref, snapshot, replace(self._own(ref, self._settings), force=True))
        return replace(forced, forced_by=f"the version policy {chosen}"), None

    def _target_policy(self, ref: TargetRef, snapshot: Snapshot) -> TargetPolicy:
        """The target's own policy (its label or annotation autoupdate.policy), else RANCHER_VERSION_POLICY's.
        A label that cannot be read is a ConfigError naming it (exit 2), found before anything changes."""
        try:
            return for_target(self._settings.version_policy, snapshot.labels, snapshot.annotations)
        except PolicyLabelError as bad:
            raise _label_error(ref, bad) from None

    def _policy_unreadable(self, ref: TargetRef, bad: PolicyLabelError) -> TargetOutcome:
        """A fleet pick whose own policy cannot be read, as the preflight read it: NOT_UPGRADED, naming why."""
        snapshot = self._checked.pop(ref.id)[0]
        message = (f"{ref.name} was not upgraded: its {bad.where} {POLICY_LABEL} is no version policy: {bad}; fix "
                   f"or remove the {bad.where} (the other targets go on); nothing was changed on it")
        return self._steps.report(ref, Result.NOT_UPGRADED, snapshot.state, self._asked(ref, snapshot), message,
                                  level=Level.ERROR)

    def _unreadable_alone(self, refs: list[TargetRef], run: Run) -> None:
        """The first unreadable policy label is the run's error (exit 2) when every other target was left
        alone (`_QUIET`); each outcome stays in `run` for the result. Otherwise the outcomes decide (4, 1)."""
        bad = [ref for ref in refs if ref.id in self._unreadable]
        if bad and all(done.result in _QUIET or done.target_id in self._unreadable for done in run.outcomes):
            run.current = bad[0]
            raise _label_error(bad[0], self._unreadable[bad[0].id])

    def _look_without_acting(self, ref: TargetRef) -> Snapshot:
        """--dry-run: say what a real run would do first, but neither wait nor act, from the preflight's read."""
        snapshot = self._checked.pop(ref.id)[0]   # every target of an upgrade was checked first (`run`)
        if snapshot.phase is Phase.PENDING_FINISH:
            self._emit(Step(f"dry run: {ref.name} was left {snapshot.state} by an earlier run; a real run would "
                            f"{self._settings.on_upgraded} it first (RANCHER_ON_UPGRADED)", Level.WARNING, ref.name, True))
        elif snapshot.phase is Phase.BUSY:
            self._emit(Step(f"dry run: {ref.name} is {snapshot.state}; a real run would wait for it to "
                            "settle first", Level.WARNING, ref.name, named=True))
        else:
            self._steps.refuse_unless_upgradable(ref, snapshot, allow_pending=False)
        return snapshot


def _label_error(ref: TargetRef, bad: PolicyLabelError) -> ConfigError:
    return ConfigError(f"{bad.where} {POLICY_LABEL} of {ref.name}", f"{bad}; nothing was changed")


_MANUAL = {Command.ROLLBACK: commands.rollback, Command.FINISH: commands.finish, Command.STATUS: commands.status}

_QUIET = frozenset({Result.UNCHANGED, Result.SKIPPED, Result.PLANNED})  # targets a run left alone, or only planned

# Results after which the run has changed something in Rancher.
_CHANGED = frozenset({Result.UPGRADED, Result.UPGRADED_UNFINISHED, Result.CREATED, Result.FINISHED,
                      Result.REVERTED, Result.ROLLED_BACK, Result.FAILED, Result.INTERRUPTED})
