"""The credentials a run sends to Rancher, checked before any request: the URL (and keys written into
it), the access and secret keys or the 2.x token, which of them is sent when several are given; and
which parts of the raw values are secret too (a token's half, the environment values a run sets).

Apart from `settings`, which calls `check` with the table's converted values: the rules here change
with what an HTTP header can carry and what Rancher issues, not with the table. Pure; raises
ConfigError naming the setting the way the user set it (`name`, `Inputs.name`), never its value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import unquote, urlsplit, urlunsplit

from rancher_deploy.errors import ConfigError
from rancher_deploy.options import json_items

# Rancher issues keys and tokens of ASCII letters and digits (a 2.x token `token-xxxxx:` and 54 of
# them), so any other character is a slip of the paste (a typographic quote from a chat or a document,
# a non-breaking space) that Rancher answers with 401 at best. At worst the request is never sent:
# requests encodes a Basic pair as latin-1 (`_basic_auth_str`, psf/requests src/requests/auth.py) and
# http.client every header value as latin-1 (`putheader`, cpython Lib/http/client.py), so `€` or `”`
# raised UnicodeEncodeError mid-run; and a latin-1 letter (`ü`) would go out as other bytes than our
# websocket's UTF-8 header sends (`http.RancherSession._authorization`). Printable ASCII only; a space
# inside a secret key is legal in Basic (RFC 7617 §2 forbids only control characters).
# Text, compiled by `re`'s cache at first use (docs/architecture.md, Start-up: a run with keys needs no token's).
_ACCESS_KEY = r"[!-9;-~]+"        # printable ASCII without space and ':' (RFC 7617's user-id has no ':')
_SECRET_KEY = r"[ -~]+"
_TOKEN = r"token-[a-z0-9]+:[!-~]+"
_NOT_ASCII = ("contains a character other than printable ASCII (a quote, letter or space pasted from a "
              "document or chat?), which Rancher's keys never hold and an HTTP header cannot carry as typed "
              "(value not shown)")


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class Checked:
    """What `check` makes of the credential settings: the URL without credentials, the keys (from their
    settings, else written into the URL), and the warning lines a run logs about credentials given
    but not sent."""

    url: str
    access_key: str | None = field(repr=False)
    secret_key: str | None = field(repr=False)
    warnings: tuple[str, ...] = ()


def check(values: Mapping[str, Any], name: Callable[[str], str]) -> Checked:
    """The credentials `values` (the table's url, access_key, secret_key, token) give; raises ConfigError.

    A token, where given, is what is sent (it is the 2.x credential, and keys may come from a variable
    set for a whole pipeline's 1.x jobs), with a warning naming the keys left unsent: a 401 then says to
    check the token, and the log has said why not the keys. Likewise the key settings over other keys
    written into the URL (the settings are the more specific, and a URL variable may serve several
    jobs): sent, with one warning naming what is not. The same key in both is one login, silently;
    the URL's access key beside a secret key setting is one login too. No warning names a value.
    """
    url, url_access, url_secret = _split_url(values["url"], name("url"))
    access, secret, token = values["access_key"], values["secret_key"], values["token"]
    if token is not None:
        if not re.fullmatch(_TOKEN, token):
            problem = "must look like token-xxxxx:secret (value not shown)" if token.isascii() else _NOT_ASCII
            raise ConfigError(name("token"), problem)
        unsent = [setting for setting, value in ((name("access_key"), access), (name("secret_key"), secret),
                                                 (f"the keys in {name('url')}", url_access or url_secret)) if value]
        return Checked(url, access or url_access, secret or url_secret,
                       _unsent(name("token"), unsent, "the token takes precedence"))
    overridden = [setting for setting, given, written in (("access_key", access, url_access),
                                                          ("secret_key", secret, url_secret))
                  if given and written and written != given]
    written = _words(overridden[0]) if len(overridden) == 1 else "keys"
    warnings = _unsent(" and ".join(map(name, overridden)), [f"the {written} written into {name('url')}"] if overridden
                       else [], "the key settings take precedence")
    access, secret = access or url_access, secret or url_secret
    if not access and not secret:
        raise ConfigError(name("access_key"), f"is required (with {name('secret_key')}), or {name('token')} instead")
    if not access:
        raise ConfigError(name("access_key"), "is required when a secret key is set")
    if not secret:
        raise ConfigError(name("secret_key"), "is required when an access key is set")
    for setting, value, pattern in (("access_key", access, _ACCESS_KEY), ("secret_key", secret, _SECRET_KEY)):
        if not re.fullmatch(pattern, value):
            problem = "must not contain spaces or ':'" if value.isascii() and value.isprintable() else _NOT_ASCII
            if values[setting]:
                raise ConfigError(name(setting), problem)
            raise ConfigError(name("url"), f"the {_words(setting)} written into it {problem}")
    return Checked(url, access, secret, warnings)


def _unsent(sent: str, unsent: list[str], why: str) -> tuple[str, ...]:
    """The one warning line for credentials given beside those sent (none when nothing is left unsent)."""
    if not unsent:
        return ()
    verb = "are" if " and " in sent else "is"
    return (f"{sent} {verb} sent, not {' and '.join(unsent)}: {why} (leave out one or the other to silence this)",)


def _words(setting: str) -> str:
    return setting.replace("_", " ")   # `access key`


def _split_url(url: str | None, setting: str) -> tuple[str, str | None, str | None]:
    """Check the URL; credentials written into it are taken out (and never echoed back)."""
    if not url:
        raise ConfigError(setting, "is required: the Rancher URL, e.g. https://rancher.example.com")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ConfigError(setting, "is not a valid URL (bad host or port)") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(setting, "must start with https:// or http://")
    if not parts.hostname:
        raise ConfigError(setting, "has no host name")
    if parts.query or parts.fragment:
        raise ConfigError(setting, "must not contain a query (?) or fragment (#)")
    access = secret = None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        access, _, secret = userinfo.partition(":")
        access, secret = unquote(access) or None, unquote(secret) or None
    clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return clean, access, secret


def secret_parts(value: str) -> tuple[str, ...]:
    """A secret and the part after its first colon: a 2.x token is `token-xxxxx:secret`, and Rancher
    shows the two halves apart (its UI lists the access key and the secret key of a token), so the
    secret half may be printed on its own. The one rule for it, before and after validation."""
    head, colon, tail = value.partition(":")
    return (value, tail) if colon and tail else (value,)


# GitLab masks a variable only from 8 characters on (docs: ci/variables, "Mask a CI/CD variable"). A
# shorter value set in the environment is never printed either, but masking it would hide ordinary
# words and numbers (`true`, `info`, an image tag) wherever they appear.
_MASKED_VALUE_LENGTH = 8


def pair_texts(text: str) -> tuple[str, ...]:
    """The KEY=VALUE items of a set_env text as its converter reads them (a Drone/Woodpecker map as
    JSON, lines, or comma separated), before validation: an item it cannot read masks nothing, as the
    run stops on it without showing it."""
    try:
        items = json_items(text, keyed=True)
    except ValueError:
        items = None
    return items if items is not None else tuple(text.splitlines() if "\n" in text else text.split(","))


def masked_values(values: Iterable[str]) -> tuple[str, ...]:
    """The environment values RANCHER_SET_ENV sets that are masked in every output: they are often
    secrets, and Rancher's error messages may echo what was sent."""
    return tuple(value for value in (text.strip() for text in values) if len(value) >= _MASKED_VALUE_LENGTH)
