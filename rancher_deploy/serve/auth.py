"""Who may start a run: a bearer token, an HMAC-SHA256 signature of the body, or the token as the last
segment of a webhook's path; pure.

Each sender can do one of these: a script, Harbor ("Auth Header" of a webhook policy, sent as the
`Authorization` header: goharbor/harbor src/pkg/notifier/handler/notification/http_handler.go) and the
distribution registry (`headers: Authorization: [Bearer ...]` of a notification endpoint,
docs/content/about/notifications.md) send the bearer token; senders that sign bodies the way GitHub does
(`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, docs.github.com "Validating webhook
deliveries"; Gitea and Forgejo send the same header) send a signature; Docker Hub's webhook form takes a
URL and nothing else, so the token goes into the URL's path. Every comparison takes constant time
(`hmac.compare_digest`), so how long a refusal takes says nothing about how much of a guess was right.

A signature of the body alone can be replayed for ever, and a GET's body is empty: one `GET /status`
seen on the wire would read the status for good. So a signed request may carry a timestamp, and a
signed GET must: `X-Request-Timestamp: <Unix seconds>`, the signature then being the HMAC of
`<timestamp>.<body>`, accepted within TIMESTAMP_TOLERANCE_SECONDS of the server's clock. That is how
Stripe signs (`t.` + payload in `Stripe-Signature`, stripe.com/docs/webhooks "Verify signatures
manually") with the header and the five minutes Slack uses (`X-Slack-Request-Timestamp`,
api.slack.com/authentication/verifying-requests-from-slack); GitHub's signature carries no time
(docs.github.com "Validating webhook deliveries"), so POSTs signed its way stay accepted.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Callable

from rancher_deploy.errors import ConfigError
from rancher_deploy.settings import Settings

SIGNATURE_HEADER = "X-Hub-Signature-256"
TIMESTAMP_HEADER = "X-Request-Timestamp"
_SIGNATURE_PREFIX = "sha256="
# How far a signed request's timestamp may be from the server's clock, either way (Slack's and Stripe's
# five minutes): the window in which a captured request can be replayed, and the clock skew tolerated.
TIMESTAMP_TOLERANCE_SECONDS = 300


class Verdict(enum.Enum):
    """What a request's credentials are worth: its status when refused."""

    ALLOWED = 200
    MISSING = 401    # no credential at all
    WRONG = 403      # a credential, but none that matches
    UNDECIDED = 0    # only a signature can still match, and the body is not read yet


@dataclass(frozen=True)
class Keys:
    """The credentials the server accepts; `open` when it accepts every request (no key set, and
    RANCHER_SERVE_ALLOW_UNAUTHENTICATED says the network is trusted)."""

    token: str | None = field(repr=False)         # a traceback's locals or a `repr` must not show them
    hmac_secret: str | None = field(repr=False)

    @property
    def open(self) -> bool:
        return self.token is None and self.hmac_secret is None

    @classmethod
    def from_settings(cls, settings: Settings, name: Callable[[str], str]) -> Keys:
        """The server's keys; raises ConfigError (exit 2) when none is set and nothing says that is
        meant. `name` spells a setting the way the user set it (`Inputs.name`)."""
        keys = cls(settings.serve_token, settings.serve_hmac_secret)
        if keys.open and not settings.serve_allow_unauthenticated:
            raise ConfigError(name("serve_token"), f"is required, or {name('serve_hmac_secret')}: without either, "
                                                   "anyone who reaches the port could deploy; set "
                                                   f"{name('serve_allow_unauthenticated')}=true to serve a trusted "
                                                   "network without them")
        return keys

    def methods(self) -> str:
        """The accepted credentials, for the start-up line (names, never values)."""
        accepted = []
        if self.token:
            accepted += ["Authorization: Bearer token", "token as a webhook path's last segment"]
        if self.hmac_secret:
            accepted.append(f"{SIGNATURE_HEADER} signature")
        return ", ".join(accepted) or "none: every request is accepted (RANCHER_SERVE_ALLOW_UNAUTHENTICATED)"


@dataclass(frozen=True)
class Presented:
    """The credentials a request carries: its Authorization header, its signature header, the token
    segment of a webhook path and its X-Request-Timestamp header (None for each it lacks)."""

    authorization: str | None = field(default=None, repr=False)   # as Keys: no secret in a repr
    signature: str | None = None
    path_token: str | None = field(default=None, repr=False)
    timestamp: str | None = None

    @property
    def any(self) -> bool:
        return any(value is not None for value in (self.authorization, self.signature, self.path_token))


def check(keys: Keys, presented: Presented, body: bytes | None, *, stamped: bool = False,
          now: float | None = None) -> Verdict:
    """ALLOWED when one credential the request carries matches a key the server has; MISSING when it
    carries none; WRONG otherwise (an Authorization header of another scheme, a signature with no
    secret to check it against, a token that differs, a timestamp that is missing where `stamped`
    requires one, or further than TIMESTAMP_TOLERANCE_SECONDS from `now`, Unix seconds, default the
    clock). With `body` None (not read yet) it is UNDECIDED when no token matches but a signature could:
    the caller reads the body and asks again."""
    if keys.open:
        return Verdict.ALLOWED
    if not presented.any:
        return Verdict.MISSING
    if _bearer_matches(keys.token, presented.authorization) or _same(keys.token, presented.path_token):
        return Verdict.ALLOWED
    if keys.hmac_secret is None or presented.signature is None:
        return Verdict.WRONG
    if presented.timestamp is None:
        if stamped:
            return Verdict.WRONG
    elif not _recent(presented.timestamp, time.time() if now is None else now):
        return Verdict.WRONG
    if body is None:
        return Verdict.UNDECIDED
    signed = body if presented.timestamp is None else presented.timestamp.strip().encode("ascii") + b"." + body
    return Verdict.ALLOWED if _signature_matches(keys.hmac_secret, presented.signature, signed) else Verdict.WRONG


# Digits a timestamp may have: Unix seconds take 10 until the year 2286. More is no time of this era,
# and reading it is not even safe: a few hundred digits overflow a float in `now - int(text)`, and
# Python refuses int() of more than 4300 (sys.get_int_max_str_digits), both exceptions, not a refusal.
_TIMESTAMP_DIGITS = 12


def _recent(timestamp: str, now: float) -> bool:
    text = timestamp.strip()
    return (text.isascii() and text.isdigit() and len(text) <= _TIMESTAMP_DIGITS
            and abs(now - int(text)) <= TIMESTAMP_TOLERANCE_SECONDS)


def stamped_signature(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers of a request signed with a timestamp (`timestamp`, Unix seconds): what a signed
    GET /status needs, and any signed request may send."""
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, f"{timestamp}.".encode() + body)}


def signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value of `body`: `sha256=` and the hex HMAC-SHA256 under `secret`."""
    return _SIGNATURE_PREFIX + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def _same(key: str | None, given: str | None) -> bool:
    if key is None or given is None:
        return False
    return hmac.compare_digest(key.encode("utf-8"), given.encode("utf-8", "surrogateescape"))


def _bearer_matches(token: str | None, authorization: str | None) -> bool:
    if authorization is None:
        return False
    scheme, _, credential = authorization.strip().partition(" ")
    return scheme.lower() == "bearer" and _same(token, credential.strip())


def _signature_matches(secret: str | None, given: str | None, body: bytes) -> bool:
    if secret is None or given is None:
        return False
    # Hex digits compare case-insensitively; GitHub sends lower case.
    return _same(signature(secret, body), given.strip().lower())
