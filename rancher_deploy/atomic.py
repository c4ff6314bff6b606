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

import threading
from contextlib import contextmanager
from dataclasses import replace
from typing import Iterator, Protocol, Sequence

from rancher_deploy.errors import DeployError
from rancher_deploy.parallel import NotStarted, concurrent, each
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
# Outcomes that changed nothing: with only these besides an error, the error is the run's whole answer.
_QUIET = frozenset({Result.UNCHANGED, Result.SKIPPED, Result.PLANNED})


def upgrade_together(flow: Flow, steps: TargetSteps, refs: Sequence[TargetRef], run: Run, *,
                     limit: int = 1) -> None:
    """Upgrade every target, finish them only when all are healthy; on any failure restore them all.

    Up to `limit` targets proceed at once (RANCHER_PARALLEL): every first half, then every second
    half, so none is finished before all are healthy. Once one fails, no further target is started;
    those under way run to healthy (or fail) and are then restored with the rest. Appends one
    outcome per target to `run.outcomes`, in the order of `refs`. Raises the `errors` family only
    while nothing was changed (the first target's error, in their order), like a one-target run.
    Log groups wrap each target's step only when targets run one at a time (`parallel.concurrent`):
    at once, their lines interleave, each naming its target.
    """
    grouped = not concurrent(limit, len(refs))
    stopping = threading.Event()

    def first_half(ref: TargetRef) -> tuple[Applied | TargetOutcome, float]:
        started = steps.clock()
        run.current = ref
        try:
            with _group(steps, f"upgrade {ref.name}", grouped):
                result = flow.start(ref, run)
        except DeployError:
            stopping.set()
            raise
        if not isinstance(result, Applied) and (result.result in _STOPS or run.interrupted_by is not None):
            stopping.set()
        return result, started

    halves = each(refs, first_half, limit=limit,
                  stop=lambda: stopping.is_set() or steps.pace.interrupted() is not None)
    applied: list[tuple[TargetRef, Applied]] = []  # by the ref started from: a created target's id is new
    done: dict[TargetRef, TargetOutcome] = {}
    errors: list[tuple[TargetRef, DeployError]] = []
    why: str | None = None
    for ref, half in zip(refs, halves):
        if isinstance(half, NotStarted):
            continue
        if isinstance(half, DeployError):
            errors.append((ref, half))
            continue
        result, started = half
        if isinstance(result, Applied):
            applied.append((ref, result))
            continue
        done[ref] = replace(result, duration_seconds=steps.clock() - started)
        if why is None and (result.result in _STOPS or run.interrupted_by is not None):
            why = f"{ref.name} failed" if run.interrupted_by is None else "the run was interrupted by a signal"
    if errors and not applied and all(outcome.result in _QUIET for outcome in done.values()):
        run.current = errors[0][0]
        raise errors[0][1]  # nothing was changed: the error is the whole answer
    for ref, error in errors:
        done[ref] = flow.not_upgraded(ref, error)
        why = why or f"{ref.name} failed"
    # The run's one decision, for every target at once: restore them all (a signal came), or finish them
    # all, whatever comes after (`TargetSteps.finish`, `committed`).
    if why is None and (signal := steps.pace.interrupted()) is not None:
        run.interrupted_by, why = signal, "the run was interrupted by a signal"

    def second_half(pair: tuple[TargetRef, Applied]) -> TargetOutcome:
        item = pair[1]
        with _group(steps, f"{'complete' if why is None else 'after the failure:'} {item.ref.name}", grouped):
            # Others were waited for since its last read: the finish reads it again first.
            outcome = (flow.complete(replace(item, fresh=False, committed=True), run) if why is None
                       else _undo(steps, item, why, run))
        return replace(outcome, duration_seconds=steps.clock() - item.started)

    for (ref, item), ended in zip(applied, each(applied, second_half, limit=limit)):
        if isinstance(ended, DeployError):  # complete and _undo report their failures themselves
            ended = flow.not_upgraded(item.ref, ended)
        if not isinstance(ended, NotStarted):
            done[ref] = ended
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
        return left_changed(steps, item.ref, item.plan, "after the signal (`RANCHER_ON_INTERRUPT=report`)",
                            Result.INTERRUPTED, item.last)
    if not steps.settings.rollback:
        kept = (Result.CREATED if created(item.plan) else
                Result.UPGRADED_UNFINISHED if steps.backend.needs_finish else Result.UPGRADED)
        return left_changed(steps, item.ref, item.plan, f"on the new image although {why} (--no-rollback)", kept,
                            item.last)
    return restore(steps, item.ref, item.plan, f"{why}, and RANCHER_ATOMIC restores every target of the run",
                   item.last, run, level=Level.WARNING)


@contextmanager
def _group(steps: TargetSteps, title: str, grouped: bool = True) -> Iterator[None]:
    """A foldable section of the log around one target's step (none when `grouped` is false)."""
    if not grouped:
        yield
        return
    steps.emit(GroupStart(title))
    try:
        yield
    finally:
        steps.emit(GroupEnd())
