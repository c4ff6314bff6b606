"""The HTTP surface: 404 and 405 before credentials are looked at, 413 for a body past the limit however
it is sent, 503 while stopping, one JSON line per answer, and an access log that shows no secret."""

from __future__ import annotations

import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rancher_deploy.serve.app import MAX_BODY_BYTES, Refused, _length
from rancher_deploy.serve.server import HTTP_THREADS
from rancher_deploy.simulator import Simulator

from .conftest import HMAC_SECRET, TOKEN, Served, Serve, signed_now


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


@pytest.mark.parametrize("path", ["/healthz", "/ping"])
def test_a_health_probe_by_head_is_answered_with_the_headers_of_get(serve: Serve, path: str) -> None:
    served = serve()
    head, get = served.request("HEAD", path, token=None), served.request("GET", path, token=None)
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["Content-Length"] == get.headers["Content-Length"]
    assert served.request("HEAD", "/status", token=None).status_code == 401


def raw(served: Served, head: bytes, body: bytes = b"{") -> socket.socket:
    """A connection that sent `head` (request line and headers, without the blank line) and the start
    of a body, and sends no more: a slow or stalled client."""
    peer = socket.create_connection(("127.0.0.1", served.service.port), timeout=3)
    peer.sendall(head + b"\r\nHost: x\r\n\r\n" + body)
    return peer


@pytest.mark.parametrize("length", [b"-1", b"-0", b"+5", b"1e3", b"0x10"])
def test_a_content_length_that_is_not_a_whole_number_is_400_without_reading_the_body(
        serve: Serve, length: bytes) -> None:
    # Read as written, `-1` would read until the peer closes, buffering all it sends.
    served = serve()
    with raw(served, b"POST /upgrade HTTP/1.1\r\nAuthorization: Bearer " + TOKEN.encode() + b"\r\nContent-Length: "
             + length) as peer:
        answer = peer.recv(200)
    assert answer.startswith(b"HTTP/1.1 400"), answer
    assert served.status()["runs"] == []


@pytest.mark.parametrize("head, status", [
    (b"POST /upgrade HTTP/1.1\r\nAuthorization: Bearer wrong", b"403"),
    (b"POST /webhooks/dockerhub/wrong HTTP/1.1", b"403"),
    (b"POST /upgrade HTTP/1.1", b"401"),
])
def test_a_refused_credential_is_answered_before_the_body_arrives(serve: Serve, head: bytes, status: bytes) -> None:
    served = serve()
    with raw(served, head + b"\r\nContent-Length: 1000") as peer:
        assert peer.recv(200).startswith(b"HTTP/1.1 " + status)


def test_stalled_clients_with_a_wrong_token_leave_the_health_check_answering(serve: Serve) -> None:
    served = serve()
    stalled = [raw(served, b"POST /upgrade HTTP/1.1\r\nAuthorization: Bearer wrong\r\nContent-Length: 100000")
               for _ in range(HTTP_THREADS * 2)]
    try:
        began = time.monotonic()
        assert served.request("GET", "/healthz", token=None).status_code == 200
        assert time.monotonic() - began < 2
    finally:
        for peer in stalled:
            peer.close()


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


@pytest.mark.parametrize("media_type", ["application/vnd.docker.distribution.events.v1+json",
                                        "application/vnd.docker.distribution.events.v2+json", "application/json"])
def test_the_registry_envelope_is_read_under_each_media_type_distribution_sends(serve: Serve, media_type: str) -> None:
    # distribution 2.x (Debian's docker-registry 2.8.2) sends events.v1+json, 3.x events.v2+json
    # (notifications/event.go EventsMediaType); docs/fleet.md says both are read.
    envelope = {"events": [{"action": "push", "target": {
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json", "repository": "shop/web", "tag": "2.1"},
        "request": {"host": "registry.example.com:5000"}}]}
    served = serve()
    answer = served.request("POST", "/webhooks/registry", body=json.dumps(envelope).encode(),
                            headers={"Content-Type": media_type})
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"][0]["image"] == "registry.example.com:5000/shop/web:2.1"


def answer_of(peer: socket.socket) -> tuple[bytes, dict[str, Any]]:
    """The status line and the JSON object of the answer on `peer` (the server closes it)."""
    data = b""
    while chunk := peer.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], json.loads(body)


@pytest.mark.parametrize("timestamp", [b"9" * 400, b"9" * 5000, b"0" * 30 + b"1"])
def test_a_timestamp_no_clock_has_is_a_wrong_credential_answered_in_json(serve: Serve, timestamp: bytes) -> None:
    # 400 digits overflowed a float, 5000 are past Python's int() limit: both were a bare, empty 500.
    served = serve(RANCHER_SERVE_TOKEN=None, RANCHER_SERVE_HMAC_SECRET=HMAC_SECRET)
    with raw(served, b"POST /upgrade HTTP/1.1\r\nX-Hub-Signature-256: sha256=00\r\nX-Request-Timestamp: "
             + timestamp + b"\r\nContent-Length: 2\r\nConnection: close", b"{}") as peer:
        status, document = answer_of(peer)
    assert (status, document) == (b"HTTP/1.1 403 Forbidden", {"error": "the credential is not valid"})
    assert served.request("GET", "/status", token=None, headers=signed_now(b"")).json()["runs"] == []


@pytest.mark.parametrize("body", [b"ZZ\r\n", b"2\r\n{}XX"])
def test_a_broken_chunked_body_is_400_in_json(serve: Serve, body: bytes) -> None:
    served = serve()
    with raw(served, b"POST /upgrade HTTP/1.1\r\nAuthorization: Bearer " + TOKEN.encode()
             + b"\r\nTransfer-Encoding: chunked\r\nConnection: close", body) as peer:
        status, document = answer_of(peer)
    assert status == b"HTTP/1.1 400 Bad Request"
    assert document["error"].startswith("the body is not valid chunked transfer coding"), document
    assert served.status()["runs"] == []


@pytest.mark.parametrize("body", [b"-5\r\n{}\r\n0\r\n\r\n", b"+2\r\n{}\r\n0\r\n\r\n", b"2" + b" " * 2000 + b"\r\n",
                                  b"2\r\n{}\r\n0\r\n" + b"X: y\r\n" * 40 + b"\r\n"])
def test_a_chunk_size_that_is_not_plain_hex_is_400_not_the_end_of_the_body(serve: Serve, body: bytes) -> None:
    # cheroot's reader took `-5` for the last chunk (its `int(size, 16) <= 0`) and queued the body before it.
    served = serve()
    with raw(served, b"POST /upgrade HTTP/1.1\r\nAuthorization: Bearer " + TOKEN.encode()
             + b"\r\nTransfer-Encoding: chunked\r\nConnection: close", body) as peer:
        status, document = answer_of(peer)
    assert (status, document["error"][:45]) == (b"HTTP/1.1 400 Bad Request", "the body is not valid chunked transfer coding")
    assert served.status()["runs"] == []


@pytest.mark.parametrize("size", [b"F" * 40, b"FFFFFFFFFFFFFFFF", b"%x" % (MAX_BODY_BYTES + 1), b"0" * 100 + b"FFFFFF"])
def test_a_chunk_size_past_the_limit_is_413_in_json_before_its_data(serve: Serve, size: bytes) -> None:
    # cheroot's ChunkedRFile._fetch reads rfile.read(int(size, 16)): 40 hex digits overflow ssize_t (a bare
    # 500), and a size within ssize_t was read whole whatever the limit. No data follows the size line here:
    # the answer comes before any is sent.
    served = serve()
    with raw(served, b"POST /upgrade HTTP/1.1\r\nAuthorization: Bearer " + TOKEN.encode()
             + b"\r\nTransfer-Encoding: chunked\r\nConnection: close", size + b"\r\n") as peer:
        status, document = answer_of(peer)
    assert (status, document) == (b"HTTP/1.1 413 Request Entity Too Large",
                                  {"error": f"the body is larger than {MAX_BODY_BYTES} bytes"})
    assert served.status()["runs"] == []


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS"))


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads VmRSS")
def test_an_unauthenticated_chunk_is_not_buffered_past_the_limit(serve: Serve) -> None:
    # A signature without a timestamp is UNDECIDED until the body is read; one chunk announced as 200 MiB
    # was read whole by cheroot before _body saw any of it, so anyone reaching the port could make the
    # server (this process) hold any amount.
    served = serve(RANCHER_SERVE_HMAC_SECRET=HMAC_SECRET)
    before, size = _rss_kib(), 200 * 1024 * 1024
    peak, block, sent = before, b"a" * (1 << 20), 0
    with socket.create_connection(("127.0.0.1", served.service.port), timeout=30) as peer:
        peer.sendall(b"POST /upgrade HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=00\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + b"%x\r\n" % size)
        try:
            while sent < size:
                peer.sendall(block)
                sent += len(block)
                peak = max(peak, _rss_kib())
        except OSError:
            pass   # refused and closed early, as it should be
    assert (peak - before) * 1024 < 8 * MAX_BODY_BYTES, f"the server grew by {(peak - before) // 1024} MiB"
    assert sent < size
    assert served.request("GET", "/status", token=None, headers=signed_now(b"")).json()["runs"] == []


def test_a_chunked_body_read_whole_leaves_the_connection_kept_alive(serve: Serve, web: str) -> None:
    # ChunkedBody reads the last chunk and its trailers, so the next request on the connection parses.
    served = serve()
    body = b'{"docker_image": "registry.example.com:5000/shop/web:2.1"}'
    request = (b"POST /upgrade HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
               + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + b"%x;ext=1\r\n" % len(body) + body
               + b"\r\n0\r\nX-Trailer: 1\r\n\r\n")
    with socket.create_connection(("127.0.0.1", served.service.port), timeout=5) as peer:
        peer.sendall(request + b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := peer.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 202 Accepted") and b"HTTP/1.1 200 OK" in data, data
    served.wait_until_done(1)


def test_a_content_length_of_thousands_of_digits_is_413_not_an_exception() -> None:
    # Over HTTP cheroot refuses it first (its own 400, server.py read_request_headers); the application
    # must not rely on that: int() of more than 4300 digits raises ValueError.
    with pytest.raises(Refused) as refused:
        _length({"CONTENT_LENGTH": "9" * 5000})
    assert refused.value.status == 413
    assert _length({"CONTENT_LENGTH": "0" * 5000 + "12"}) == 12


def test_a_seed_timeout_too_large_for_a_float_is_400(serve: Serve) -> None:
    served = serve()
    answer = served.request("POST", "/upgrade", body=b'{"docker_image": "registry.example.com:5000/shop/web:2.1", '
                                                     b'"timeout": ' + b"9" * 400 + b"}")
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("timeout must be a number of seconds of at least 1, got 9999")


def test_a_large_body_without_credentials_is_401_not_413(serve: Serve, sim: Simulator) -> None:
    served = serve()
    answer = served.request("POST", "/upgrade", token=None, body=b"x" * (MAX_BODY_BYTES + 1))
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json()["error"].startswith("authentication required")
    assert served.status()["runs"] == [] and sim.count("POST") == 0


@pytest.mark.parametrize("path, token", [("/upgrade", "wrong"), ("/webhooks/registry/wrong", None)])
def test_a_large_body_with_a_wrong_credential_is_403_not_413(serve: Serve, path: str, token: str | None) -> None:
    # The credential is decided before the body: the sender is told it is wrong, not to shrink the body.
    served = serve()
    answer = served.request("POST", path, token=token, body=b"x" * (MAX_BODY_BYTES + 1))
    assert (answer.status_code, answer.json()) == (403, {"error": "the credential is not valid"})
    assert served.status()["runs"] == []


def test_the_docs_compose_health_check_probes_the_port_the_variables_name(serve: Serve) -> None:
    # docs/fleet.md hardcoded 8080 in it, which fails once RANCHER_SERVE_PORT or AUTOUPDATE_HTTP_PORT moves the server.
    text = pathlib.Path(__file__).parents[2].joinpath("docs", "fleet.md").read_text(encoding="utf-8")
    (command,) = re.findall(r'test: \["CMD", "python", "-c", "(.*)"\]', text)
    port = str(serve().service.port)
    base = {name: value for name, value in os.environ.items() if name not in ("RANCHER_SERVE_PORT", "AUTOUPDATE_HTTP_PORT")}
    for variable in ("RANCHER_SERVE_PORT", "AUTOUPDATE_HTTP_PORT"):
        probe = subprocess.run([sys.executable, "-c", command], env={**base, variable: port}, timeout=30)
        assert probe.returncode == 0, variable
