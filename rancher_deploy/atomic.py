"""Several targets as one (RANCHER_ATOMIC, the default): all of them upgraded, or every touched one restored.

A Rancher 1.x upgrade can be rolled back only until it is finished (`finishupgrade` removes the old
containers; rancher-api.md §3.5, rancher/rancher#11456). So every target is first upgraded and
judged healthy (`Pipeline.start`), and only when all are does any get finished (`Pipeline.complete`).
When one fails, the targets already healthy are rolled back too (2.x: to the revision they had; one
the run created, RANCHER_CREATE, is removed again), so exit 1 means that every target is back where it
started; a restore that fails is named per
target (exit 4). A signal restores (RANCHER_ON_INTERRUPT=rollback) or reports every touched target.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from typing import Iterator, Protocol, Sequence

from rancher_deploy.errors import DeployError
from rancher_deploy.events import GroupEnd, GroupStart, Level, Result, Step, TargetOutcome
from rancher_deploy.recovery import created, left_changed, restore
from rancher_deploy.settings import OnInterrupt
from rancher_deploy.snapshot import TargetRef
from rancher_deploy.steps import Applied, Run, TargetSteps


class Flow(Protocol):
    """The two halves of one target's upgrade, as the pipeline runs them (`deploy.Pipeline`)."""

    def start(self, ref: TargetRef, run: Run) -> Applied | TargetOutcome:
        """Up to healthy; an outcome when it ended earlier (unchanged, or failed and recovered)."""
        ...

    def complete(self, applied: Applied, run: Run) -> TargetOutcome:
        """Finish (1.x) or report (2.x) a healthy upgrade."""
        ...

    def not_upgraded(self, ref: TargetRef, problem: DeployError | str) -> TargetOutcome:
        """A target the run failed on, or stopped before, while nothing was changed on it."""
        ...


# Outcomes of the first half after which the run is no longer going to upgrade every target.
_STOPS = frozenset({Result.FAILED, Result.ROLLED_BACK, Result.INTERRUPTED, Result.NOT_UPGRADED})


def upgrade_together(flow: Flow, steps: TargetSteps, refs: Sequence[TargetRef], run: Run) -> None:
    """Upgrade every target, finish them only when all are healthy; on any failure restore them all.

    Appends one outcome per target to `run.outcomes`, in the order of `refs`. Raises the `errors`
    family only while nothing was changed yet (the first target's error), like a one-target run.
    """
    applied: list[tuple[TargetRef, Applied]] = []  # by the ref started from: a created target's id is new
    done: dict[TargetRef, TargetOutcome] = {}
    why: str | None = None
    for ref in refs:
        if (signal := steps.pace.interrupted()) is not None:
            run.interrupted_by = signal
            why = "the run was interrupted by a signal"
            break
        started = steps.clock()
        run.current = ref
        with _group(steps, f"upgrade {ref.name}"):
            try:
                result = flow.start(ref, run)
            except DeployError as error:
                if not applied:
                    raise  # nothing was changed: the error is the whole answer
                result = flow.not_upgraded(ref, error)
        if isinstance(result, Applied):
            applied.append((ref, result))
            continue
        done[ref] = replace(result, duration_seconds=steps.clock() - started)
        if result.result in _STOPS or run.interrupted_by is not None:
            why = f"{ref.name} failed" if run.interrupted_by is None else "the run was interrupted by a signal"
            break
    if why is None and (signal := steps.pace.interrupted()) is not None:
        run.interrupted_by, why = signal, "the run was interrupted by a signal"

    for ref, item in applied:
        with _group(steps, f"{'complete' if why is None else 'after the failure:'} {item.ref.name}"):
            outcome = flow.complete(item, run) if why is None else _undo(steps, item, why, run)
        done[ref] = replace(outcome, duration_seconds=steps.clock() - item.started)
    if why is not None:
        untouched = [ref for ref in refs if ref not in done]
        if untouched:
            steps.emit(Step(f"Not touching {', '.join(ref.name for ref in untouched)}: {why}", Level.WARNING))
        for ref in untouched:
            done[ref] = flow.not_upgraded(ref, f"{why} before it was started (RANCHER_ATOMIC)")
    run.outcomes.extend(done[ref] for ref in refs)


def _undo(steps: TargetSteps, item: Applied, why: str, run: Run) -> TargetOutcome:
    """Restore a healthy target because another failed (remove it, when the run created it), or leave it
    and say what works next."""
    if run.interrupted_by is not None and steps.settings.on_interrupt is OnInterrupt.REPORT:
        return left_changed(steps, item.ref, item.plan, "after the signal (RANCHER_ON_INTERRUPT=report)",
                            Result.INTERRUPTED, item.last)
    if not steps.settings.rollback:
        kept = (Result.CREATED if created(item.plan) else
                Result.UPGRADED_UNFINISHED if steps.backend.needs_finish else Result.UPGRADED)
        return left_changed(steps, item.ref, item.plan, f"on the new image although {why} (--no-rollback)", kept,
                            item.last)
    return restore(steps, item.ref, item.plan, f"{why}, and RANCHER_ATOMIC restores every target of the run",
                     item.last, level=Level.WARNING)


@contextmanager
def _group(steps: TargetSteps, title: str) -> Iterator[None]:
    """A foldable section of the log around one target's step."""
    steps.emit(GroupStart(title))
    try:
        yield
    finally:
        steps.emit(GroupEnd())
