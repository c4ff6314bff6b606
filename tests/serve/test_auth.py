"""Who may start a run: no credential 401, a wrong one 403, and nothing changed by either; the right
token, signature or path token 202; no credential at all only when asked for."""

from __future__ import annotations

import json
import time

import pytest

from rancher_deploy.serve.auth import Keys, Presented, Verdict, check
from rancher_deploy.simulator import Simulator

from ..conftest import NEW_IMAGE, OLD_IMAGE
from .conftest import HMAC_SECRET, TOKEN, Serve, signed, signed_now

UPGRADE = json.dumps({"docker_image": NEW_IMAGE, "confirm": True}).encode()


def image_of(sim: Simulator, service: str) -> str:
    return str(sim.service(service)["launchConfig"]["imageUuid"])


def assert_nothing_changed(sim: Simulator, web: str) -> None:
    assert sim.count("POST") == 0 and image_of(sim, web) == f"docker:{OLD_IMAGE}"


@pytest.mark.parametrize("path", ["/upgrade", "/webhooks/dockerhub", "/status"])
def test_a_request_without_credentials_is_401_and_changes_nothing(
        serve: Serve, sim: Simulator, web: str, path: str) -> None:
    served = serve(RANCHER_SERVE_HMAC_SECRET=HMAC_SECRET)
    answer = served.request("GET" if path == "/status" else "POST", path, token=None, body=UPGRADE)
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.text.count("\n") == 1 and "authentication required" in answer.json()["error"]
    assert served.status()["runs"] == []
    assert_nothing_changed(sim, web)


@pytest.mark.parametrize("authorization", [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", "Bearer"])
def test_a_wrong_credential_is_403_and_changes_nothing(
        serve: Serve, sim: Simulator, web: str, authorization: str) -> None:
    served = serve()
    answer = served.request("POST", "/upgrade", token=None, body=UPGRADE, headers={"Authorization": authorization})
    assert answer.status_code == 403
    assert answer.json() == {"error": "the credential is not valid"}
    assert served.status()["runs"] == []
    assert_nothing_changed(sim, web)


def test_the_right_token_starts_a_run_that_upgrades(serve: Serve, sim: Simulator, web: str) -> None:
    served = serve()
    answer = served.upgrade()
    assert answer.status_code == 202
    assert answer.json()["accepted"] == [{"run": 1, "image": NEW_IMAGE, "repository": NEW_IMAGE.rsplit(":", 1)[0],
                                          "supersedes": None, "note": None}]
    run = served.wait_until_done(1)
    assert (run["result"], run["exit_code"]) == ("upgraded", 0)
    assert image_of(sim, web) == f"docker:{NEW_IMAGE}"


def test_a_body_signed_with_the_hmac_secret_is_accepted(serve: Serve, sim: Simulator, web: str) -> None:
    served = serve(RANCHER_SERVE_TOKEN=None, RANCHER_SERVE_HMAC_SECRET=HMAC_SECRET)
    answer = served.request("POST", "/upgrade", token=None, body=UPGRADE, headers=signed(UPGRADE))
    assert answer.status_code == 202
    served.wait_until_done(1)
    assert image_of(sim, web) == f"docker:{NEW_IMAGE}"


@pytest.mark.parametrize("headers", [
    signed(UPGRADE, secret=HMAC_SECRET + "x"),                         # another key
    signed(UPGRADE.replace(b"2.1", b"6.6")),                            # the signature of another body
    {"X-Hub-Signature-256": "sha1=" + signed(UPGRADE)["X-Hub-Signature-256"][7:]},   # not sha256=
], ids=["other key", "other body", "other scheme"])
def test_a_wrong_signature_is_403_and_changes_nothing(
        serve: Serve, sim: Simulator, web: str, headers: dict[str, str]) -> None:
    served = serve(RANCHER_SERVE_TOKEN=None, RANCHER_SERVE_HMAC_SECRET=HMAC_SECRET)
    answer = served.request("POST", "/upgrade", token=None, body=UPGRADE, headers=headers)
    assert answer.status_code == 403
    # /status is asked with a signature too (of its timestamp and empty body): nothing was queued.
    assert served.request("GET", "/status", token=None, headers=signed_now(b"")).json()["runs"] == []
    assert_nothing_changed(sim, web)


@pytest.mark.parametrize("headers", [
    signed(b""),                                   # no timestamp: the same signature for ever
    signed_now(b"", age_seconds=600),              # a GET seen ten minutes ago, replayed
    signed_now(b"", age_seconds=-600),             # a timestamp far in the future
    {**signed_now(b""), "X-Request-Timestamp": str(int(time.time()) - 1)},   # another timestamp
], ids=["unstamped", "replayed", "future", "stamp changed"])
def test_a_signed_status_request_needs_a_fresh_timestamp_in_what_is_signed(
        serve: Serve, headers: dict[str, str]) -> None:
    served = serve(RANCHER_SERVE_TOKEN=None, RANCHER_SERVE_HMAC_SECRET=HMAC_SECRET)
    answer = served.request("GET", "/status", token=None, headers=headers)
    assert answer.status_code == 403, answer.text
    assert "runs" not in answer.json()
    if "X-Request-Timestamp" not in headers:
        assert answer.json() == {"error": "a signed GET must sign X-Request-Timestamp too (docs/fleet.md)"}
    assert served.request("GET", "/status", token=None, headers=signed_now(b"")).status_code == 200


def test_a_post_may_sign_a_timestamp_too_and_then_it_must_be_fresh(serve: Serve, sim: Simulator, web: str) -> None:
    served = serve(RANCHER_SERVE_TOKEN=None, RANCHER_SERVE_HMAC_SECRET=HMAC_SECRET)
    stale = served.request("POST", "/upgrade", token=None, body=UPGRADE, headers=signed_now(UPGRADE, age_seconds=400))
    assert stale.status_code == 403
    assert_nothing_changed(sim, web)
    fresh = served.request("POST", "/upgrade", token=None, body=UPGRADE, headers=signed_now(UPGRADE))
    assert fresh.status_code == 202
    served.wait_until_done(1)


def test_the_token_as_a_webhook_paths_last_segment_is_accepted_and_never_logged(
        serve: Serve, sim: Simulator, web: str) -> None:
    served = serve()
    hook = {"push_data": {"tag": "2.1"}, "repository": {"repo_name": "registry.example.com:5000/shop/web"}}
    answer = served.post(f"/webhooks/dockerhub/{TOKEN}", hook, token=None)
    assert answer.status_code == 202
    served.wait_until_done(1)
    assert image_of(sim, web) == f"docker:{NEW_IMAGE}"
    assert "POST /webhooks/dockerhub/*** 202" in served.log.getvalue()
    wrong = served.post(f"/webhooks/dockerhub/{TOKEN[::-1]}", hook, token=None)
    assert wrong.status_code == 403
    assert "POST /webhooks/dockerhub/*** 403" in served.log.getvalue()
    assert len(served.status()["runs"]) == 1


def test_health_needs_no_credential(serve: Serve) -> None:
    served = serve()
    answer = served.request("GET", "/healthz", token=None)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    assert served.request("GET", "/ping", token=None).text == "Pong!"   # the seed's
    assert "GET /healthz" not in served.log.getvalue() and "GET /ping" not in served.log.getvalue()   # unlogged


def test_an_unauthenticated_server_must_be_asked_for(serve: Serve, sim: Simulator, web: str) -> None:
    served = serve(RANCHER_SERVE_TOKEN=None, RANCHER_SERVE_ALLOW_UNAUTHENTICATED="true")
    assert "warning: no RANCHER_SERVE_TOKEN or RANCHER_SERVE_HMAC_SECRET" in served.log.getvalue()
    assert served.upgrade(token=None).status_code == 202
    served.wait_until_done(1)
    assert image_of(sim, web) == f"docker:{NEW_IMAGE}"


@pytest.mark.parametrize("digits", [400, 5000])
def test_a_timestamp_of_hundreds_of_digits_is_a_wrong_credential_not_an_exception(digits: int) -> None:
    # 400 digits overflowed a float (now - int(text)), 5000 are past Python's int() limit (ValueError).
    keys = Keys(None, HMAC_SECRET)
    assert check(keys, Presented(signature="sha256=00", timestamp="9" * digits), b"{}") is Verdict.WRONG
