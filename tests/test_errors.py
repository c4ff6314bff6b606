"""The error family: exit codes and how Rancher's error bodies become one readable line."""

from __future__ import annotations

import signal

import pytest

from rancher_deploy.errors import (
    AuthenticationFailed,
    ConfigError,
    ExitCode,
    Interrupted,
    NotFound,
    PermissionDenied,
    RancherAPIError,
)


def test_config_error_names_the_setting_and_exits_2() -> None:
    error = ConfigError("RANCHER_TIMEOUT", "must be a whole number of seconds, got 'soon'")
    assert str(error) == "RANCHER_TIMEOUT: must be a whole number of seconds, got 'soon'"
    assert error.exit_code == ExitCode.USAGE == 2


def test_cattle_validation_error_shows_the_text_rancher_put_in_field_name() -> None:
    body = {
        "type": "error",
        "status": 422,
        "code": "InvalidOption",
        "message": None,
        "fieldName": "StartFirst option can't be used for service with retainIp field set",
    }
    error = RancherAPIError.from_body("Upgrade of web/app", 422, body)
    assert str(error) == (
        "Upgrade of web/app failed: HTTP 422 (InvalidOption: "
        "StartFirst option can't be used for service with retainIp field set)"
    )
    assert error.code == "InvalidOption"
    assert error.exit_code == ExitCode.RANCHER_UNUSABLE


@pytest.mark.parametrize(
    ("status", "expected"),
    [(401, AuthenticationFailed), (403, PermissionDenied), (404, NotFound), (500, RancherAPIError)],
)
def test_status_picks_the_error_class(status: int, expected: type[RancherAPIError]) -> None:
    error = RancherAPIError.from_body("Reading the service", status, {"code": "X", "message": "Y"})
    assert type(error) is expected
    assert error.status == status


def test_rancher2_unauthorized_body_without_code() -> None:
    body = {"type": "error", "status": "401", "message": "Unauthorized 401: must authenticate"}
    error = RancherAPIError.from_body("Reading /v3", 401, body)
    assert str(error) == "Reading /v3 failed: HTTP 401 (Unauthorized 401: must authenticate)"


def test_missing_body_still_reads_well() -> None:
    assert str(RancherAPIError.from_body("Reading", 502, None)) == "Reading failed: HTTP 502 (no error body)"


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_exit_code_follows_the_signal(signum: int, code: int) -> None:
    assert Interrupted("stopped", signal_number=signum).exit_code == code


def test_every_exit_code_has_a_meaning() -> None:
    for code in ExitCode:
        assert code.meaning
