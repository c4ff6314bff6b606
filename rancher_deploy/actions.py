"""Sending an action to Rancher once, and deciding from what Rancher shows when its answer goes wrong.

An action POST (upgrade, finishupgrade, rollback; a PUT or PATCH on 2.x) is not idempotent, so it
is never repeated blindly (users of older tools saw double upgrades and tracebacks on a network
blip, cdrx/rancher-gitlab-deploy#20, #33). Rancher moves a target to another state, or other
images, as soon as it accepts an action, so a fresh read tells whether it was taken.
"""

from __future__ import annotations

from typing import Callable

from rancher_deploy.backend import Backend
from rancher_deploy.errors import (RETRYABLE_STATUSES, DeployError, Interrupted, NeedsAttention, RancherAPIError,
                                   RequestTimedOut, TransientRancherError, signal_name)
from rancher_deploy.events import Emit, Level, Step
from rancher_deploy.snapshot import Snapshot, TargetRef
from rancher_deploy.timing import Deadline, Pace, backoff

_DOING = {"upgrade": "upgrading", "finish": "finishing", "rollback": "rolling back"}


class Actions:
    """Sends actions for the pipeline: look before, send once, look again when the answer is unclear."""

    def __init__(self, backend: Backend, emit: Emit, pace: Pace, restore_pace: Pace | None = None, *,
                 retries: int, request_timeout: float, advise: Callable[[TargetRef], str] | None = None) -> None:
        self._backend = backend
        # What to run next on a target whose state is unknown (`steps.TargetSteps.next_steps`: naming it
        # alone in a run of several), else the backend's words.
        self._advise = advise or (lambda ref: backend.next_steps(None))
        self._emit = emit
        self._pace = pace
        self._restore_pace = restore_pace or pace
        self._retries = retries
        self._request_timeout = request_timeout

    def check(self, ref: TargetRef, name: str, last: Snapshot | None = None) -> None:
        """Raise Interrupted when a signal asked the run to stop: a change is never sent after one
        (docs/ci-conventions.md §6, "on a signal start no new change"). Called just before each
        request that changes something, so a signal that came during the reads before it (or during
        start-up) stops it; `last` is the target as those reads left it, for the report."""
        number = self._pace.interrupted()
        if number is not None:
            raise Interrupted(f"{signal_name(number)} arrived before the {name} of {ref.name} was sent, so it was "
                              "not sent", number, last)

    def send(self, ref: TargetRef, action: Callable[[TargetRef], None], name: str, *,
             resend: bool = True, before: Snapshot | None = None, restore: bool = False,
             until: Callable[[], int | None] | None = None) -> tuple[DeployError, Snapshot] | None:
        """Send an action; None when it is under way in Rancher.

        A change (`restore` false) is checked against the signals just before each try (`check`:
        Interrupted, with nothing sent). A restore (a rollback after a failure or a signal) is what a
        signal asks for, so it is sent all the same, and its reads and tries end with the grace after
        a signal (`TargetSteps.restore_pace`). `until`, for a restore that must not go late (an atomic
        run's finish after a signal), is checked before each try: a signal number there raises
        Interrupted, with nothing sent.

        If Rancher answered an error that says "try again" (`errors.RETRYABLE_STATUSES`: 5xx; 429, too
        many requests; 409, Cattle's "resource busy" while another process holds the service's lock,
        rancher-api.md §3.7, or a Kubernetes update conflict, which kubectl answers by reading again and
        resending) and shows no change, sending again is safe, and is done up to RANCHER_RETRIES
        times, after the backoff or, when a 429 said when (`Retry-After`), after that long (at most
        RANCHER_TIMEOUT). The read that looks for a change is also what the resend starts from (the
        backends act on the target as last read: a fresh action link, a fresh object to patch), so a
        conflict is resent on what Rancher holds now. A lost answer with no change in sight is never
        resent (the request may still be on its way). With resend=False the error
        and what Rancher shows are returned instead, for the caller to word ("nothing was changed");
        otherwise the error is raised.

        `before` is the target as the caller just read it, when nothing was sent and no time was
        waited since (the read that decided the action): it stands for the read taken before the
        action, which a lost answer is judged against. Otherwise the target is read first.
        """
        pace = self._restore_pace if restore else self._pace
        if before is None:
            before = self.fetch_patiently(ref, name, pace)
        for attempt, delay in enumerate(backoff(), start=1):
            if not restore:
                self.check(ref, name, before)
            elif until is not None and (number := until()) is not None:
                raise Interrupted(f"the {name} of {ref.name} was not sent: its time after {signal_name(number)} "
                                  "was over", number, before)
            try:
                action(ref)
                return None
            except (TransientRancherError, RancherAPIError) as error:
                if isinstance(error, RancherAPIError) and error.status not in RETRYABLE_STATUSES:
                    raise
                after = self._look_again(ref, name, error, before, pace)
                answered = isinstance(error, RancherAPIError)
                if self._moved(before, after):
                    answer = "answer was an error" if answered else "answer was lost"
                    self._emit(Step(f"The {name} request's {answer}, but Rancher is {_DOING.get(name, name)} "
                                    f"{ref.name} (state {after.state}); going on", Level.WARNING, ref.name, named=True))
                    return None
                if not resend:
                    return error, after
                if not answered or attempt > self._retries or (restore and pace.interrupted() is not None):
                    raise
                asked = error.retry_after if isinstance(error, RancherAPIError) else None
                if asked is not None:
                    delay = min(asked, self._pace.timeout_seconds)
                when = f"in {delay:g}s" + (" (Rancher's Retry-After)" if asked is not None else "")
                self._emit(Step(f"{error}; {ref.name} is still {after.state}, so Rancher did not take "
                                f"it: sending {name} again {when}", Level.WARNING, ref.name, named=True))
                pace.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def fetch_patiently(self, ref: TargetRef, name: str, pace: Pace | None = None) -> Snapshot:
        """Read the target, giving Rancher one wait's budget (RANCHER_TIMEOUT) to answer again, or
        until `pace` says to stop (a signal; for a restore, the end of the grace after one).

        An action usually follows a wait; if Rancher stopped answering during it (restart, network
        outage), a rollback or finish that gave up at once would leave the service half-upgraded.
        """
        pace = pace or self._pace
        deadline = Deadline(pace)
        warned = False
        while True:
            try:
                return self._backend.fetch(ref)
            except TransientRancherError as error:
                if deadline.passed() or pace.interrupted() is not None:
                    raise
                if not warned:
                    self._emit(Step(f"{error}; will try the {name} until {pace.timeout_seconds:g}s have "
                                    "passed (RANCHER_TIMEOUT)", Level.WARNING, ref.name))
                    warned = True
                deadline.pause()

    def _look_again(self, ref: TargetRef, name: str, error: DeployError, before: Snapshot, pace: Pace) -> Snapshot:
        try:
            after = self.fetch_patiently(ref, name, pace)
            if isinstance(error, RequestTimedOut) and not self._moved(before, after):
                # A slow Rancher may still be working on the request: give it one more request
                # timeout before concluding that it was not taken.
                pace.sleep(self._request_timeout)
                after = self.fetch_patiently(ref, name, pace)
        except TransientRancherError:
            advice = self._advise(ref)
            unknown = NeedsAttention(
                f"{ref.name} needs attention: the answer to the {name} request was lost ({error}) and Rancher "
                f"cannot be read since, so whether it was taken is unknown; its state is unknown "
                f"(last seen {before.state}); {advice}")
            unknown.next_step = advice
            raise unknown from None
        return after

    @staticmethod
    def _moved(before: Snapshot, after: Snapshot) -> bool:
        """Rancher took an action when the target's state, images or generation changed since just before
        it (the generation catches a forced redeploy, which keeps state and images)."""
        return (after.state, after.images, after.generation) != (before.state, before.images, before.generation)
