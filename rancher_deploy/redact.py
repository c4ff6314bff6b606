"""Owns the promise that secrets never reach a sink: every line any sink writes passes through here.

Being that one pass, it also carries the run's spelling of settings and commands (`spell_with`,
`Inputs.speller`), so a message written with `RANCHER_TIMEOUT`, `--no-rollback` or
`rancher-deploy rollback` reads `--timeout`, input `rollback: false` or a step with
`command: rollback` for the user who runs it that way.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
from typing import Callable

# Shorter values would turn ordinary words into "***"; Rancher keys and tokens are far longer.
_MIN_SECRET_LENGTH = 4
_MASK = "***"
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")


class Redactor:
    """Remembers secret values and scrubs them, and credentials inside URLs, from any text."""

    def __init__(self, *secrets: str | None) -> None:
        self._secrets: set[str] = set()
        self._spell: Callable[[str], str] = lambda text: text
        for secret in secrets:
            self.add(secret)

    def spell_with(self, spell: Callable[[str], str]) -> None:
        """Also rewrite the text every sink writes with `spell` (applied before scrubbing secrets)."""
        self._spell = spell

    def add(self, secret: str | None) -> None:
        """Register a secret with the spellings text from outside may carry it in: URL-quoted (a
        path, `/` kept or not; a query or form, spaces as `+`), as a JSON string holds it (the JSON
        result is redacted after `json.dumps`, which escapes quotes, backslashes and non-ASCII)."""
        if not secret or len(secret) < _MIN_SECRET_LENGTH:
            return
        self._secrets.add(secret)
        self._secrets.update({urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret),
                              urllib.parse.quote_plus(secret), json.dumps(secret)[1:-1]})

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def __call__(self, text: str) -> str:
        text = redact_url_credentials(self._spell(text))
        # Longest first, so a secret that contains another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, _MASK)
        return text


def sent_forms(access_key: str | None, secret_key: str | None, token: str | None) -> tuple[str, ...]:
    """The credentials as the tool itself puts them on the wire, beyond the raw secrets: the value of
    each `Authorization: Basic` header it could send, base64 of `user:password` (RFC 7617) for the key
    pair and for a 2.x token's two halves (`token-xxxxx:secret`, which Rancher also takes as a key
    pair), with and without its `=` padding (a proxy or a log may strip it).

    Why: a refusal body may echo the request's headers (a WAF, a debugging proxy), and the Basic
    value is the secret in another spelling. requests encodes the pair as latin-1
    (`_basic_auth_str`, psf/requests src/requests/auth.py), our own websocket header as UTF-8
    (`http.RancherSession._authorization`): both are listed. A Bearer header carries the token
    unchanged, which the caller registers with its halves (`settings.secret_parts`).
    Returns a tuple of strings, empty when no pair is complete.
    """
    head, _, tail = (token or "").partition(":")
    pairs = ((access_key, secret_key), (head, tail))
    forms: list[str] = []
    for user, password in pairs:
        if not user or not password:
            continue
        pair = f"{user}:{password}"
        for encoding in ("latin-1", "utf-8"):
            try:
                value = base64.b64encode(pair.encode(encoding)).decode("ascii")
            except UnicodeEncodeError:
                continue
            forms += [value, value.rstrip("=")]
    return tuple(dict.fromkeys(forms))


def redact_url_credentials(text: str) -> str:
    """Mask the password of every `scheme://user:password@host` in the text, keeping the user name.

    Users paste URLs like `https://key:secret@rancher.example.com/v2-beta`; the user part names the
    key (useful in errors), the password never shows.
    """

    def mask(match: re.Match[str]) -> str:
        user, _, password = match.group("userinfo").partition(":")
        shown = f"{user}:{_MASK}" if password else user
        return f"{match.group('scheme')}{shown}@"

    return _URL_USERINFO.sub(mask, text)
