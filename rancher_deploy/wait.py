"""The poll loop: observe, judge, report progress, until done, failed, timed out or interrupted.

The deadline is wall-clock (kubectl, botocore), not an attempt count, so a slow Rancher cannot
stretch it; the clock and the sleeper are injected so tests never sleep. A read that fails in a
transient way (Rancher restarting, a network blip) does not end the wait: it is reported once and
the loop keeps looking until the deadline, because the service itself may be fine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from rancher_deploy.backend import Observation
from rancher_deploy.errors import DeployError, NotFound, RancherAPIError
from rancher_deploy.events import Emit, Level, Progress, Step
from rancher_deploy.http import TransientRancherError
from rancher_deploy.backend import Goal
from rancher_deploy.status import GONE_STATES, Judgement, Verdict, judge

HEARTBEAT_SECONDS = 30.0


class WaitEnded(DeployError):
    """A wait ended without reaching its goal; carries the last observation (None if never seen)."""

    def __init__(self, message: str, last: Observation | None, cause: DeployError | None = None) -> None:
        super().__init__(message)
        self.last = last
        self.cause = cause  # the read error that ended the wait, if one did


class WaitFailed(WaitEnded):
    """The judge said failed (Rancher's error signal, unhealthy containers, an unexpected state)."""


class WaitGone(WaitFailed):
    """The target was removed (or answers 404) while waiting: there is nothing left to roll back."""


class WaitTimedOut(WaitEnded):
    """The deadline passed while still waiting."""


class WaitInterrupted(WaitEnded):
    """A signal arrived while waiting."""

    def __init__(self, message: str, last: Observation | None, signal_number: int) -> None:
        super().__init__(message, last)
        self.signal_number = signal_number


@dataclass(frozen=True)
class Pace:
    """How a wait spends time: its budget, how often it looks, and where time comes from."""

    timeout: float
    poll_interval: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    interrupted: Callable[[], int | None] = lambda: None


def wait_for(
    observe: Callable[[], Observation],
    goal: Goal,
    *,
    target: str,
    pace: Pace,
    emit: Emit,
) -> Observation:
    """Poll until the goal is reached; raise WaitFailed, WaitTimedOut or WaitInterrupted otherwise."""
    started = pace.clock()
    deadline = started + pace.timeout
    last: Observation | None = None
    last_line: tuple[object, ...] | None = None
    last_shown = started
    read_trouble = False
    while True:
        signal_number = pace.interrupted()
        if signal_number is not None:
            raise WaitInterrupted(f"interrupted while waiting for {target} to be {goal.value}", last, signal_number)
        try:
            observation = observe()
        except NotFound:
            raise WaitGone(f"{target} disappeared while waiting (HTTP 404): was it removed?", last) from None
        except RancherAPIError as error:
            # 401/403/422 on a read will not pass by waiting; end the wait so that what was changed
            # is restored (or reported), rather than escaping as "nothing was changed".
            raise WaitFailed(str(error), last, error) from None
        except TransientRancherError as error:
            if not read_trouble:
                emit(Step(f"{error}; still waiting", Level.WARNING, target))
                read_trouble = True
        else:
            if read_trouble:
                emit(Step("Rancher answers again", Level.INFO, target))
                read_trouble = False
            last = observation
            judgement = judge(observation, goal)
            now = pace.clock()
            line = (observation.state, observation.transitioning, observation.message,
                    observation.healthy, observation.total)
            if line != last_line or now - last_shown >= HEARTBEAT_SECONDS:
                emit(_progress(target, observation, now - started))
                last_line, last_shown = line, now
            if judgement.verdict is Verdict.DONE:
                return observation
            if judgement.verdict is Verdict.FAILED:
                failure = WaitGone if observation.state in GONE_STATES else WaitFailed
                raise failure(judgement.message, observation)
        now = pace.clock()
        if now >= deadline:
            raise WaitTimedOut(
                f"{target} was not {goal.value} after {pace.timeout:g}s (RANCHER_TIMEOUT)"
                + (f"; last seen {_describe(last)}" if last else ""),
                last,
            )
        pace.sleep(min(pace.poll_interval, max(0.0, deadline - now)))


def _progress(target: str, observation: Observation, elapsed: float) -> Progress:
    return Progress(target=target, state=observation.state, message=observation.message,
                    healthy=observation.healthy, total=observation.total, elapsed_seconds=elapsed)


def _describe(observation: Observation) -> str:
    text = observation.state
    if observation.message:
        text += f" ({observation.message})"
    if observation.healthy is not None and observation.total is not None:
        text += f", {observation.healthy}/{observation.total} healthy"
    return text


__all__ = ["Judgement", "Pace", "WaitFailed", "WaitGone", "WaitInterrupted", "WaitTimedOut", "wait_for"]
