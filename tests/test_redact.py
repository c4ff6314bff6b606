"""Redaction: registered secrets and URL passwords never survive into text a sink writes."""

from __future__ import annotations

import pytest

import base64
import json
import urllib.parse

from rancher_deploy.redact import Redactor, redact_url_credentials, sent_forms

SECRET = "s3cr3t-Key-Value/With+Signs"


def test_registered_secret_is_masked_everywhere() -> None:
    redact = Redactor(SECRET)
    assert redact(f"auth failed for {SECRET} and again {SECRET}") == "auth failed for *** and again ***"


def test_url_encoded_form_is_masked_too() -> None:
    redact = Redactor(SECRET)
    assert redact("https://h/?p=s3cr3t-Key-Value%2FWith%2BSigns") == "https://h/?p=***"


@pytest.mark.parametrize("spelled", [
    urllib.parse.quote("a b/c\"d+é-secret"),           # a path quoted by hand, "/" kept
    urllib.parse.quote_plus("a b/c\"d+é-secret"),      # a query or form value
    json.dumps("a b/c\"d+é-secret")[1:-1],             # inside the JSON result, after json.dumps
])
def test_every_spelling_text_from_outside_may_carry_is_masked(spelled: str) -> None:
    assert Redactor("a b/c\"d+é-secret")(f"echo: {spelled}") == "echo: ***"


def test_the_basic_header_value_and_a_tokens_halves_are_sent_forms() -> None:
    basic = base64.b64encode(b"AK-key:SK-secret-1").decode()
    token = base64.b64encode(b"token-ab1:tok-secret").decode()
    forms = sent_forms("AK-key", "SK-secret-1", "token-ab1:tok-secret")
    assert {basic, basic.rstrip("="), token, token.rstrip("=")} <= set(forms)
    assert sent_forms("AK-key", None, None) == () and sent_forms(None, None, "no-colon") == ()
    assert Redactor(*forms)(f"Authorization=Basic {basic}") == "Authorization=Basic ***"


def test_longer_secret_is_masked_whole_before_a_shorter_one_inside_it() -> None:
    redact = Redactor("abcd", "abcdefgh")
    assert redact("x abcdefgh y") == "x *** y"


@pytest.mark.parametrize("value", [None, "", "ab"])
def test_empty_or_tiny_values_are_not_registered(value: str | None) -> None:
    redact = Redactor(value)
    assert redact.secrets == frozenset()
    assert redact("ab cd") == "ab cd"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://KEY:pass@rancher.example.com/v2-beta", "https://KEY:***@rancher.example.com/v2-beta"),
        ("see http://user@host/x", "see http://user@host/x"),
        ("no url here: a@b", "no url here: a@b"),
        ("two https://a:b@h1 https://c:d@h2", "two https://a:***@h1 https://c:***@h2"),
    ],
)
def test_url_credentials(text: str, expected: str) -> None:
    assert redact_url_credentials(text) == expected
    assert Redactor()(text) == expected
