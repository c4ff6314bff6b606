"""TLS against a Rancher whose certificate comes from a private CA made at test time (trustme).

Default verification must fail with a clear message and exit 2 (retrying cannot help); the CA bundle option, and the
variables Python users already set (REQUESTS_CA_BUNDLE, SSL_CERT_FILE), make it pass; the insecure
option passes with a warning. Those variables are read once, by the settings (a stale one is a usage
error), and each way a handshake fails gets the hint that fixes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, NEW_IMAGE, SECRET_KEY, RunCli, invoke_cli, server_cert


@pytest.fixture
def sim(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    yield from serving_https(ca, tmp_path, monkeypatch)


def serving_https(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """The simulator over HTTPS; the test machine's own CA variables must not decide the outcome."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(name, raising=False)
    with https_simulator(ca, tmp_path) as simulator:
        yield simulator


def https_simulator(ca: trustme.CA, tmp_path: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Simulator:
    """A simulator serving HTTPS with a certificate `ca` issued for `hosts`."""
    cert, key = server_cert(ca, tmp_path, name=f"server-{hosts[0]}", hosts=hosts)
    return Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing.fast(), tls_cert=cert, tls_key=key)


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


# The CA variables of other tools: read once, by the settings table, never again by requests.


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_a_stale_ca_variable_of_other_tools_is_a_usage_error_naming_it(
        sim: Simulator, web: str, run_cli: RunCli, tmp_path: Path, variable: str) -> None:
    # requests reads REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE itself whenever verify=True, and failed on
    # a stale one with "OSError: Could not find a suitable TLS CA certificate bundle" (exit 4).
    result = run_cli("--output", "json", **{variable: "/nonexistent/ca.pem"})
    assert result.code == 2, result.stderr
    assert f"error: {variable}: no such file '/nonexistent/ca.pem'" in result.stderr
    assert "internal error" not in result.stderr and result.json["result"] == "error"
    assert sim.count() == 0


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_the_environment_cannot_override_the_ca_the_settings_chose(
        sim: Simulator, web: str, run_cli: RunCli, ca_file: str, tmp_path: Path, variable: str) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    chosen = run_cli(RANCHER_CA_BUNDLE=ca_file, **{variable: str(other)})
    assert chosen.code == 0, chosen.stderr
    stale = run_cli(RANCHER_INSECURE="true", **{variable: "/nonexistent/ca.pem"})
    assert stale.code == 0, stale.stderr


# What a failed handshake says depends on why it failed.


def test_an_https_url_for_a_plain_http_server_asks_whether_it_speaks_https(base_env: dict[str, str],
                                                                            ca_file: str) -> None:
    # The simulator serves plain HTTP unless given a certificate: an https:// URL for it meets no TLS at all.
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing.fast()) as plain_sim:
        plain = plain_sim.url
        https = plain.replace("http://", "https://")
        results = [invoke_cli(flags, {**base_env, "CATTLE_URL": https}, {}, SECRET_KEY)
                   for flags in ((), ("--ca-bundle", ca_file))]
    for result in results:
        assert result.code == 2, result.stderr
        assert f"{https} did not answer in TLS" in result.stderr
        assert f"does that address speak https? If it serves plain HTTP, set CATTLE_URL to {plain}" in result.stderr
        assert "certificate" not in result.stderr and "CA bundle" not in result.stderr


def test_a_ca_bundle_that_does_not_sign_the_certificate_is_named_not_asked_for(
        sim: Simulator, web: str, run_cli: RunCli, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    result = run_cli("--ca-bundle", str(other))
    assert result.code == 2, result.stderr
    assert f"the TLS certificate of {sim.url} could not be verified" in result.stderr
    assert ("the CA bundle given in --ca-bundle does not sign it; set --ca-bundle to the PEM file of the CA that "
            "does (or `RANCHER_INSECURE=true` to skip the check)") in result.stderr
    assert "set RANCHER_CA_BUNDLE to the CA's PEM file" not in result.stderr
    assert sim.count() == 0
    # On GitHub the same advice reads as inputs, the value too (docs/ci.md, "Advice reads the same way").
    github = run_cli(GITHUB_ACTIONS="true", **{"INPUT_CA-BUNDLE": str(other)})
    assert ("the CA bundle given in input ca-bundle does not sign it; set input ca-bundle to the PEM file of the CA "
            "that does (or input `insecure: true` to skip the check)") in github.stderr


def test_a_certificate_for_another_host_name_says_so(ca: trustme.CA, ca_file: str, tmp_path: Path,
                                                     base_env: dict[str, str]) -> None:
    with https_simulator(ca, tmp_path, hosts=("rancher.example.com",)) as other:
        result = invoke_cli((), {**base_env, "CATTLE_URL": other.url, "RANCHER_CA_BUNDLE": ca_file}, {}, SECRET_KEY)
    assert result.code == 2, result.stderr
    assert f"the TLS certificate of {other.url} is not valid for that address" in result.stderr
    assert "use a name the certificate was issued for in CATTLE_URL" in result.stderr
    assert "CA bundle" not in result.stderr


def test_a_ca_bundle_that_holds_no_certificate_says_so(sim: Simulator, web: str, run_cli: RunCli,
                                                        tmp_path: Path) -> None:
    not_pem = tmp_path / "ca.der"
    not_pem.write_bytes(b"0\x82\x01\x0a not PEM text")
    result = run_cli(RANCHER_CA_BUNDLE=str(not_pem))
    assert result.code == 2, result.stderr
    assert ("the CA bundle given in RANCHER_CA_BUNDLE holds no certificate OpenSSL can read "
            "(NO_CERTIFICATE_OR_CRL_FOUND); it must be PEM text") in result.stderr
    assert sim.count() == 0
