"""The one family of errors a run can end with, each carrying the exit code the pipeline sees.

ExitCode is the table of codes (the README lists the same ones; a test checks) and each class
declares its code; `events.exit_code` is the one function that turns how a run ended into a code,
and `cli.main` is the only place that turns an error into a message and that code.
"""

from __future__ import annotations

import enum
from typing import Any, Iterable, Mapping

from rancher_deploy.snapshot import Snapshot


class ExitCode(enum.IntEnum):
    """Exit codes are a contract with CI templates (`allow_failure: exit_codes`, retries)."""

    OK = 0
    ROLLED_BACK = 1
    USAGE = 2
    RANCHER_UNAVAILABLE = 3
    NEEDS_ATTENTION = 4
    INTERRUPTED = 130
    TERMINATED = 143

    @property
    def meaning(self) -> str:
        """The README's wording of the code, as the log's last line and the JSON result show it."""
        return _MEANINGS[self]

    @classmethod
    def for_signal(cls, signal_number: int) -> ExitCode:
        """128 + the signal, the shell's convention: 130 for SIGINT, 143 for SIGTERM (the only two handled)."""
        return cls(128 + signal_number)


def signal_name(signal_number: int) -> str:
    """"SIGTERM" or "SIGINT", the two signals a run handles, as a message names them (without
    importing `signal`, which the modules below the CLI do not need)."""
    return {2: "SIGINT", 15: "SIGTERM"}.get(signal_number, f"signal {signal_number}")


_MEANINGS = {
    ExitCode.OK: "done: every target upgraded (or created) and finished, or nothing to do",
    ExitCode.ROLLED_BACK: "the run failed and every target it touched was restored",
    ExitCode.USAGE: (
        "invalid usage or configuration (also credentials Rancher refuses, names that do not exist, TLS "
        "verification failures, a URL that is not a Rancher API); nothing was changed: fix the settings"
    ),
    ExitCode.RANCHER_UNAVAILABLE: (
        "Rancher could not be reached or failed (connection errors, timeouts, 5xx, 429) before anything "
        "changed; retrying may help"
    ),
    ExitCode.NEEDS_ATTENTION: (
        "needs attention: targets ended in different states, or one could not be restored, or its state is "
        "unknown; the output names each target's state and what to run next"
    ),
    ExitCode.INTERRUPTED: "interrupted (SIGINT) after the tool restored or reported the service's state",
    ExitCode.TERMINATED: "interrupted (SIGTERM) after the tool restored or reported the service's state",
}


class DeployError(Exception):
    """Base of every error a run reports; the message is written for the person reading the CI log.

    `exit_code` is the class's row of the exit-code table: what the error means for the caller when
    no signal cut the run short (see `events.exit_code`).
    """

    exit_code: ExitCode = ExitCode.NEEDS_ATTENTION
    # The target as last seen, where the error knows it: the report names its state.
    last: Snapshot | None = None
    # What to run next, where the message already says it (an exit-4 error names it): "" otherwise.
    next_step: str = ""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(DeployError):
    """A setting is missing or malformed; raised before any request is sent."""

    exit_code = ExitCode.USAGE

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class UsageError(DeployError):
    """The command line could not be read: an unknown command or flag, a flag without its value."""

    exit_code = ExitCode.USAGE


class RefusedError(DeployError):
    """The target is in a state the tool will not touch (for example `inactive`); nothing was changed.

    `state` is the state Rancher refused an action in where another state may offer it (1.x: an
    action its state does not list, rancher-api.md §2.3); None where no state will (nothing to roll
    back to)."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, *, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state


class RancherUnreachable(DeployError):
    """No answer came back: connection refused or reset, DNS, timeouts; retrying may help."""

    exit_code = ExitCode.RANCHER_UNAVAILABLE


class NotRancher(DeployError):
    """The URL answers, but not as a Rancher API (no JSON, a redirect, no API version root)."""

    exit_code = ExitCode.USAGE


class TLSFailed(DeployError):
    """No TLS session could be set up with the URL's address (most often: an https:// URL for an
    address that serves plain HTTP); waiting will not change that."""

    exit_code = ExitCode.USAGE


class CertificateNotTrusted(TLSFailed):
    """Rancher's TLS certificate could not be verified; waiting will not change that."""


class TargetBusy(DeployError):
    """Another process (a run, a person) kept the target busy past RANCHER_TIMEOUT; nothing was
    changed, and retrying later may help, as after a 409. `last` is how it was last seen."""

    exit_code = ExitCode.RANCHER_UNAVAILABLE

    def __init__(self, message: str, last: Snapshot | None) -> None:
        super().__init__(message)
        self.last = last


class RancherAPIError(DeployError):
    """Rancher answered with an error body; keeps Rancher's own status, code, message and fieldName.

    Its exit code follows the status: 409 (busy), 429 and 5xx may pass, so 3; any other refusal
    (400, 401, 403, 404, 422) will not, so 2.
    """

    retry_after: float | None = None  # seconds a 429's Retry-After asked to wait, when it said

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        rancher_message: str | None = None,
        field_name: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.rancher_message = rancher_message
        self.field_name = field_name
        self.exit_code = ExitCode.RANCHER_UNAVAILABLE if status in RETRYABLE_STATUSES else ExitCode.USAGE

    @classmethod
    def from_body(cls, what: str, status: int, body: Mapping[str, Any] | None) -> RancherAPIError:
        """Build the error from Rancher's JSON error body.

        Cattle puts the human text of its own validation errors in `fieldName` and leaves `message`
        null (rancher/rancher#7440), so both are shown; 2.x sends `status` as a string on 401.
        """
        body = body or {}
        code = _text(body.get("code"))
        rancher_message = _text(body.get("message"))
        field_name = _text(body.get("fieldName"))
        error_class = _BY_STATUS.get(status, cls)
        return error_class(
            answered(what, status, body),
            status=status,
            code=code,
            rancher_message=rancher_message,
            field_name=field_name,
        )


def answered(what: str, status: int, body: Mapping[str, Any] | None) -> str:
    """`{what} failed: HTTP {status} ({what Rancher said})`: the one wording of an error answer, whether
    it is Rancher's refusal (`RancherAPIError`) or a 5xx a read may outlive (`TransientRancherError`).
    Rancher's words are its body's `code`, `message` and `fieldName` (each once); "no error body" when
    it sent none of them."""
    body = body or {}
    details = [part for part in (_text(body.get(key)) for key in ("code", "message", "fieldName")) if part]
    said = ": ".join(dict.fromkeys(details)) if details else "no error body"
    return f"{what} failed: HTTP {status} ({said})"


class AuthenticationFailed(RancherAPIError):
    """HTTP 401: the keys or token were not accepted."""


class PermissionDenied(RancherAPIError):
    """HTTP 403: the credentials work but may not see that environment or project."""


class NotFound(RancherAPIError):
    """HTTP 404, or a lookup by name that found nothing."""


class TargetNotFound(DeployError):
    """The environment, stack, service or workload named in the settings does not exist."""

    exit_code = ExitCode.USAGE


class TargetMissing(TargetNotFound):
    """The service (1.x; its stack may be missing too) or workload (2.x) itself does not exist, while
    what holds it does (the 1.x environment, the 2.x namespace): what RANCHER_CREATE makes."""


LISTED_NAMES = 20  # names a not-found message shows: enough to spot a typo, not a page


def listed(names: Iterable[str]) -> str:
    """What exists instead, for a not-found message: sorted, at most LISTED_NAMES, "none" when empty."""
    ordered = sorted(names)
    shown = ", ".join(ordered[:LISTED_NAMES]) or "none"
    return shown + (", ..." if len(ordered) > LISTED_NAMES else "")


class NeedsAttention(DeployError):
    """The target may be broken or half-upgraded; the message names its exact state."""

    exit_code = ExitCode.NEEDS_ATTENTION


# Statuses that say "try again" rather than "you asked for something wrong" (409: the resource is
# busy with another process, cattle's AbstractObjectResourceManager). The one set: a read answered
# so is retried (http.py), and a run that ends on one exits 3.
RETRYABLE_STATUSES = frozenset({409, 429, 500, 502, 503, 504})

_BY_STATUS: dict[int, type[RancherAPIError]] = {
    401: AuthenticationFailed,
    403: PermissionDenied,
    404: NotFound,
}


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


# -- raised while talking to Rancher and while waiting; each says whether anything may have changed --


class TransientRancherError(RancherUnreachable):
    """A read kept failing in a way that may pass (5xx, reset, timeout); waits may resume after it."""

    retry_after: float | None = None  # seconds a 429's Retry-After asked to wait, when it said


class RequestTimedOut(TransientRancherError):
    """No answer within the request timeout: unlike a refused connection, Rancher may still act on it."""


class NotCattle(NotRancher):
    """The server answers, but not with Rancher 1.x's API (it may be Rancher 2.x)."""


class WaitEnded(DeployError):
    """A wait ended without reaching its goal; carries the last snapshot (None if never seen)."""

    def __init__(self, message: str, last: Snapshot | None, cause: DeployError | None = None) -> None:
        super().__init__(message)
        self.last = last
        self.cause = cause  # the read error that ended the wait, if one did


class WaitFailed(WaitEnded):
    """The judge said failed (Rancher's error signal, unhealthy containers, an unexpected state)."""


class WaitGone(WaitFailed):
    """The target was removed (or answers 404) while waiting: there is nothing left to roll back."""


class WaitOvertaken(WaitFailed):
    """Another writer changed the target's images while the run waited (images neither this run found
    nor asked for): the target is no longer this run's to restore, so nothing is rolled back."""


class WaitTimedOut(WaitEnded):
    """The deadline passed while still waiting."""


class Interrupted(DeployError):
    """A signal (SIGTERM, SIGINT) asked the run to stop before it sent a change, so that change was not
    sent (docs/ci-conventions.md §6: on a signal, start no new change). Its exit code is 128 + the
    signal (143, 130); `last` is the target as read just before, where there was one."""

    def __init__(self, message: str, signal_number: int, last: Snapshot | None = None) -> None:
        super().__init__(message)
        self.signal_number = signal_number
        self.exit_code = ExitCode.for_signal(signal_number)
        self.last = last


class WaitInterrupted(WaitEnded):
    """A signal arrived while waiting."""

    def __init__(self, message: str, last: Snapshot | None, signal_number: int) -> None:
        super().__init__(message, last)
        self.signal_number = signal_number
