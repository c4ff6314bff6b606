"""Sending an action to Rancher once, and deciding from what Rancher shows when its answer goes wrong.

An action POST (upgrade, finishupgrade, rollback; a PUT or PATCH on 2.x) is not idempotent, so it
is never repeated blindly (users of older tools saw double upgrades and tracebacks on a network
blip, cdrx/rancher-gitlab-deploy#20, #33). Rancher moves a target to another state, or other
images, as soon as it accepts an action, so a fresh read tells whether it was taken.
"""

from __future__ import annotations

from typing import Callable

from rancher_deploy.backend import Backend
from rancher_deploy.errors import (
    RETRYABLE_STATUSES,
    DeployError,
    NeedsAttention,
    RancherAPIError,
    RequestTimedOut,
    TransientRancherError,
)
from rancher_deploy.events import Emit, Level, Step
from rancher_deploy.snapshot import Snapshot, TargetRef
from rancher_deploy.timing import Deadline, Pace, backoff

_DOING = {"upgrade": "upgrading", "finish": "finishing", "rollback": "rolling back"}


class Actions:
    """Sends actions for the pipeline: look before, send once, look again when the answer is unclear."""

    def __init__(self, backend: Backend, emit: Emit, pace: Pace, *, retries: int, request_timeout: float,
                 advise: Callable[[TargetRef], str] | None = None) -> None:
        self._backend = backend
        # What to run next on a target whose state is unknown (`steps.TargetSteps.next_steps`: naming it
        # alone in a run of several), else the backend's words.
        self._advise = advise or (lambda ref: backend.next_steps(None))
        self._emit = emit
        self._pace = pace
        self._retries = retries
        self._request_timeout = request_timeout

    def send(self, ref: TargetRef, action: Callable[[TargetRef], None], name: str, *,
             resend: bool = True, before: Snapshot | None = None) -> tuple[DeployError, Snapshot] | None:
        """Send an action; None when it is under way in Rancher.

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
        if before is None:
            before = self.fetch_patiently(ref, name)
        for attempt, delay in enumerate(backoff(), start=1):
            try:
                action(ref)
                return None
            except (TransientRancherError, RancherAPIError) as error:
                if isinstance(error, RancherAPIError) and error.status not in RETRYABLE_STATUSES:
                    raise
                after = self._look_again(ref, name, error, before)
                answered = isinstance(error, RancherAPIError)
                if self._moved(before, after):
                    answer = "answer was an error" if answered else "answer was lost"
                    self._emit(Step(f"The {name} request's {answer}, but Rancher is {_DOING.get(name, name)} "
                                    f"{ref.name} (state {after.state}); going on", Level.WARNING, ref.name, named=True))
                    return None
                if not resend:
                    return error, after
                if not answered or attempt > self._retries:
                    raise
                asked = error.retry_after if isinstance(error, RancherAPIError) else None
                if asked is not None:
                    delay = min(asked, self._pace.timeout_seconds)
                when = f"in {delay:g}s" + (" (Rancher's Retry-After)" if asked is not None else "")
                self._emit(Step(f"{error}; {ref.name} is still {after.state}, so Rancher did not take "
                                f"it: sending {name} again {when}", Level.WARNING, ref.name, named=True))
                self._pace.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def fetch_patiently(self, ref: TargetRef, name: str) -> Snapshot:
        """Read the target, giving Rancher one wait's budget (RANCHER_TIMEOUT) to answer again.

        An action usually follows a wait; if Rancher stopped answering during it (restart, network
        outage), a rollback or finish that gave up at once would leave the service half-upgraded.
        """
        deadline = Deadline(self._pace)
        warned = False
        while True:
            try:
                return self._backend.fetch(ref)
            except TransientRancherError as error:
                if deadline.passed():
                    raise
                if not warned:
                    self._emit(Step(f"{error}; will try the {name} until {self._pace.timeout_seconds:g}s have "
                                    "passed (RANCHER_TIMEOUT)", Level.WARNING, ref.name))
                    warned = True
                deadline.pause()

    def _look_again(self, ref: TargetRef, name: str, error: DeployError, before: Snapshot) -> Snapshot:
        try:
            after = self.fetch_patiently(ref, name)
            if isinstance(error, RequestTimedOut) and not self._moved(before, after):
                # A slow Rancher may still be working on the request: give it one more request
                # timeout before concluding that it was not taken.
                self._pace.sleep(self._request_timeout)
                after = self.fetch_patiently(ref, name)
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
