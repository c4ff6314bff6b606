"""Owns the promise that secrets never reach a sink: every line any sink writes passes through here.

Being that one pass, it also carries the run's spelling of settings and commands (`spell_with`,
`Inputs.speller`), so a message written with `RANCHER_TIMEOUT`, `--no-rollback` or
`rancher-deploy rollback` reads `--timeout`, input `rollback: false` or a step with
`command: rollback` for the user who runs it that way.
"""

from __future__ import annotations

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
        """Register a secret; its URL-encoded form is registered too, as it may appear in URLs."""
        if not secret or len(secret) < _MIN_SECRET_LENGTH:
            return
        self._secrets.add(secret)
        quoted = urllib.parse.quote(secret, safe="")
        if quoted != secret:
            self._secrets.add(quoted)

    @property
    def secrets(self) -> frozenset[str]:
        return frozenset(self._secrets)

    def __call__(self, text: str) -> str:
        text = redact_url_credentials(self._spell(text))
        # Longest first, so a secret that contains another is masked whole.
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, _MASK)
        return text


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
