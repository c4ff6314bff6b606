"""The HTTP surface: 404 and 405 before credentials are looked at, 413 for a body past the limit however
it is sent, 503 while stopping, one JSON line per answer, and an access log that shows no secret."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from rancher_deploy.serve.app import MAX_BODY_BYTES
from rancher_deploy.simulator import Simulator

from .conftest import TOKEN, Serve


@pytest.mark.parametrize("path", ["/", "/upgrades", "/webhooks/quay", "/webhooks/dockerhub/a/b", "/upgrade/x"])
def test_an_unknown_path_is_404_even_without_credentials(serve: Serve, path: str) -> None:
    answer = serve().request("POST", path, token=None, body=b"{}")
    assert answer.status_code == 404
    assert answer.json()["error"].startswith("no such path; the server answers /upgrade")


@pytest.mark.parametrize("method, path, allowed", [("GET", "/upgrade", "POST"), ("PUT", "/webhooks/harbor", "POST"),
                                                   ("POST", "/status", "GET"), ("DELETE", "/healthz", "GET")])
def test_another_method_is_405_naming_the_allowed_one(serve: Serve, method: str, path: str, allowed: str) -> None:
    answer = serve().request(method, path, token=None)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == allowed
    assert answer.text == json.dumps({"error": f"{path} takes {allowed} only"}) + "\n"


def test_a_body_past_the_limit_is_413_by_its_length(serve: Serve, sim: Simulator) -> None:
    served = serve()
    answer = served.request("POST", "/webhooks/registry", body=b"x" * (MAX_BODY_BYTES + 1))
    assert answer.status_code == 413
    assert answer.json() == {"error": f"the body is larger than {MAX_BODY_BYTES} bytes"}
    assert served.status()["runs"] == [] and sim.count("POST") == 0


def test_a_body_past_the_limit_is_413_when_sent_in_chunks(serve: Serve) -> None:
    def chunks() -> Iterator[bytes]:   # requests sends a generator as Transfer-Encoding: chunked
        for _ in range(MAX_BODY_BYTES // 65536 + 1):
            yield b" " * 65536

    answer = serve().request("POST", "/upgrade", body=chunks())   # type: ignore[arg-type]
    assert answer.status_code == 413


def test_a_body_in_chunks_within_the_limit_is_read_whole(serve: Serve, web: str) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"docker_image": "registry.example.com:5000/shop/'
        yield b'web:2.1", "confirm": true}'

    served = serve()
    assert served.request("POST", "/upgrade", body=chunks()).status_code == 202   # type: ignore[arg-type]
    assert served.wait_until_done(1)["result"] == "upgraded"


def test_a_stopping_server_fails_its_health_check_and_queues_nothing(serve: Serve) -> None:
    served = serve()
    served.service.app.stopping = True
    served.service.scheduler.stop_accepting()
    health = served.request("GET", "/healthz", token=None)
    assert (health.status_code, health.json()) == (503, {"status": "stopping"})
    answer = served.upgrade()
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "60")
    assert answer.json() == {"error": "the server is stopping; try again later"}


def test_the_access_log_masks_a_token_in_any_webhook_path_and_forges_no_lines(serve: Serve) -> None:
    served = serve()
    served.request("POST", f"/webhooks/quay/{TOKEN}", token=None, body=b"{}")
    served.request("GET", "/status%0Afake: line", token=None)
    log = served.log.getvalue()
    assert "POST /webhooks/quay/*** 404" in log
    assert "GET /status?fake: line 404" in log and "\nfake: line" not in log


def test_verbose_runs_show_no_secret_in_the_log_or_status(serve: Serve, web: str) -> None:
    # The harness checks every line and answer for the token, the HMAC secret and Rancher's key.
    served = serve(RANCHER_VERBOSE="true", RANCHER_SERVE_HMAC_SECRET="hmac-secret-recognisable-9273")
    served.upgrade()
    served.wait_until_done(1)
    assert "debug: " in served.log.getvalue()
