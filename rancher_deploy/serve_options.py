"""The rows of the settings table that `rancher-deploy serve` alone reads: where it listens, how a
request proves it may start a run, how many may wait, and how long a stop waits for running upgrades.

Apart from `settings`, which puts them at the end of its one table (SETTINGS), because no CI step reads
them: the tests that hold action.yml and the CI templates to the table leave these out
(`Option.serve_only`). Each run the server starts also reads the upgrade options of the table.
"""

from __future__ import annotations

import re

from rancher_deploy.choices import Command
from rancher_deploy.options import DAY, Kind, Option

_SERVE = (Command.SERVE,)
_SERVE_TOKEN = r"[A-Za-z0-9._~+=-]{16,}"   # compiled at first use (`re` caches it): `serve` alone reads it


def _serve_token(token: str) -> str:
    # Path-segment safe (no `/`) and a bearer token's characters (RFC 6750 b64token); 16 or more, so
    # that it cannot be guessed and the redactor masks it wherever it appears.
    if not re.fullmatch(_SERVE_TOKEN, token):
        raise ValueError("must be at least 16 letters, digits or -._~+= (value not shown)")
    return token


def _serve_secret(secret: str) -> str:
    if len(secret) < 16:
        raise ValueError("must be at least 16 characters (value not shown)")
    return secret


SERVE_OPTIONS: tuple[Option, ...] = (
    Option("serve_host", ("RANCHER_SERVE_HOST",), Kind.TEXT,
           "serve: the address to listen on: 0.0.0.0 every IPv4 address (a container's port), 127.0.0.1 behind a "
           "proxy on the same host, :: IPv6", default="0.0.0.0", commands=_SERVE, metavar="ADDRESS"),
    Option("serve_port", ("RANCHER_SERVE_PORT", "AUTOUPDATE_HTTP_PORT"), Kind.COUNT,
           "serve: the TCP port to listen on (0: any free one, logged)", default=8080, minimum=0, maximum=65535,
           commands=_SERVE,
           metavar="PORT"),
    Option("serve_token", ("RANCHER_SERVE_TOKEN",), Kind.SECRET,
           "serve: the token a request carries as `Authorization: Bearer TOKEN`, or, from a sender that sets no "
           "headers (Docker Hub), as the last segment of a webhook's path; at least 16 letters, digits or -._~+=; "
           "never printed", commands=_SERVE, metavar="TOKEN", parse=_serve_token),
    Option("serve_hmac_secret", ("RANCHER_SERVE_HMAC_SECRET",), Kind.SECRET,
           "serve: the key of the body's HMAC-SHA256 signature a request may carry instead, as "
           "`X-Hub-Signature-256: sha256=HEX` (a GET signs `TIMESTAMP.BODY` with `X-Request-Timestamp: TIMESTAMP`, "
           "within 5 minutes); at least 16 characters; never printed", commands=_SERVE,
           metavar="SECRET", parse=_serve_secret),
    Option("serve_allow_unauthenticated", ("RANCHER_SERVE_ALLOW_UNAUTHENTICATED",), Kind.BOOL,
           "serve: start without a token or HMAC secret and accept every request (a trusted network only)",
           default=False, commands=_SERVE),
    Option("serve_queue", ("RANCHER_SERVE_QUEUE",), Kind.COUNT,
           "serve: how many accepted requests may wait for their run; past that a request is answered 429",
           default=100, minimum=1, maximum=100_000, commands=_SERVE, metavar="N"),
    Option("serve_grace", ("RANCHER_SERVE_GRACE",), Kind.SECONDS,
           "serve: seconds running upgrades get after SIGTERM to end on their own; then they are interrupted as a "
           "run's SIGTERM interrupts it (RANCHER_ON_INTERRUPT)", default=300.0, minimum=0, maximum=DAY, commands=_SERVE,
           metavar="SECONDS", field="serve_grace_seconds"),
)
