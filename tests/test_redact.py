"""Redaction: registered secrets and URL passwords never survive into text a sink writes."""

from __future__ import annotations

import pytest

from rancher_deploy.redact import Redactor, redact_url_credentials

SECRET = "s3cr3t-Key-Value/With+Signs"


def test_registered_secret_is_masked_everywhere() -> None:
    redact = Redactor(SECRET)
    assert redact(f"auth failed for {SECRET} and again {SECRET}") == "auth failed for *** and again ***"


def test_url_encoded_form_is_masked_too() -> None:
    redact = Redactor(SECRET)
    assert redact("https://h/?p=s3cr3t-Key-Value%2FWith%2BSigns") == "https://h/?p=***"


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
