"""TLS against a Rancher whose certificate comes from a private CA made at test time (trustme).

Default verification must fail with a clear message and exit 2 (retrying cannot help); the CA bundle option, and the
variables Python users already set (REQUESTS_CA_BUNDLE, SSL_CERT_FILE), make it pass; the insecure
option passes with a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, NEW_IMAGE, SECRET_KEY, RunCli, server_cert


@pytest.fixture
def sim(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """The simulator over HTTPS; the test machine's own CA variables must not decide the outcome."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    cert, key = server_cert(ca, tmp_path)
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing.fast(), tls_cert=cert, tls_key=key) as simulator:
        yield simulator


def test_the_simulator_serves_https(sim: Simulator) -> None:
    assert sim.url.startswith("https://127.0.0.1:")


def test_an_unknown_ca_fails_verification_with_a_clear_message_exit_2(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("--output", "json")
    assert result.code == 2, result.stderr
    assert f"the TLS certificate of {sim.url} could not be verified" in result.stderr
    assert "set RANCHER_CA_BUNDLE to the CA's PEM file" in result.stderr
    assert result.json["result"] == "error"
    assert sim.count() == 0, "no request got through an unverified connection"


def test_the_ca_bundle_option_makes_it_pass(sim: Simulator, web: str, run_cli: RunCli, ca_file: str) -> None:
    result = run_cli(RANCHER_CA_BUNDLE=ca_file)
    assert result.code == 0, result.stderr
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
    assert "warning" not in result.stderr


def test_the_ca_bundle_flag_makes_it_pass(sim: Simulator, web: str, run_cli: RunCli, ca_file: str) -> None:
    assert run_cli("--ca-bundle", ca_file).code == 0


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"])
def test_the_variables_python_users_already_set_make_it_pass(
        sim: Simulator, web: str, run_cli: RunCli, ca_file: str, variable: str) -> None:
    result = run_cli(**{variable: ca_file})
    assert result.code == 0, result.stderr
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"


def test_insecure_passes_with_a_warning(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli(RANCHER_INSECURE="true")
    assert result.code == 0, result.stderr
    assert "warning: TLS verification is off (RANCHER_INSECURE); prefer RANCHER_CA_BUNDLE" in result.stderr
    assert "InsecureRequestWarning" not in result.stderr


def test_a_missing_ca_bundle_file_is_a_usage_error_before_any_request(sim: Simulator, run_cli: RunCli,
                                                                       tmp_path: Path) -> None:
    result = run_cli(RANCHER_CA_BUNDLE=str(tmp_path / "nope.pem"))
    assert result.code == 2
    assert "RANCHER_CA_BUNDLE: no such file" in result.stderr
    assert sim.count() == 0


def test_a_ca_bundle_and_insecure_together_are_refused(sim: Simulator, run_cli: RunCli, ca_file: str) -> None:
    result = run_cli(RANCHER_CA_BUNDLE=ca_file, RANCHER_INSECURE="true")
    assert result.code == 2
    assert "cannot be combined with a CA bundle" in result.stderr
