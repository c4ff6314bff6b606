"""How a request is framed on the connection: never two ways (Transfer-Encoding and Content-Length, two
Content-Lengths), never a body left unread and then parsed as the next request, never a body trickled
in for longer than the deadline, never more signed bodies of unknown senders read at once than leave
threads for /healthz, and a listen backlog that holds a burst."""

from __future__ import annotations

import concurrent.futures
import select
import socket
from pathlib import Path
import threading
import time

from rancher_deploy.serve.app import UNVERIFIED_BODIES
from rancher_deploy.serve.server import HTTP_THREADS

from .conftest import HMAC_SECRET, TOKEN, Serve

BURST = 120
BODY = b'{"docker_image": "registry.example.com:5000/shop/web:2.1"}'
SMUGGLED_BODY = BODY.replace(b"2.1", b"9.9")
# A whole request, queued if the bytes around it are taken for its framing.
SMUGGLED = (b"POST /upgrade HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
            + b"\r\nContent-Length: %d\r\n\r\n" % len(SMUGGLED_BODY) + SMUGGLED_BODY)


def exchange(port: int, data: bytes) -> bytes:
    """Everything the server sends back on one connection after `data`, until it closes it (or 3 s of
    silence: a connection kept alive)."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as peer:
        peer.sendall(data)
        got = b""
        try:
            while chunk := peer.recv(65536):
                got += chunk
        except socket.timeout:
            pass
    return got


def test_transfer_encoding_with_a_content_length_is_400_and_nothing_in_it_is_queued(serve: Serve) -> None:
    # cheroot read the chunks while the application read Content-Length bytes of them: the rest of the
    # chunk, SMUGGLED, was answered as a second request (TE.CL smuggling).
    served = serve()
    data = BODY + SMUGGLED
    request = (b"POST /upgrade HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
               + b"\r\nTransfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n" % len(BODY)
               + b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n")
    answer = exchange(served.service.port, request)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request"), answer
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert b"Connection: close" in answer and b"RFC 9112 section 6.3" in answer
    assert served.status()["runs"] == []


def test_a_body_sent_to_a_get_is_never_parsed_as_the_next_request(serve: Serve) -> None:
    # /status reads no body: its chunked "body" stayed on the connection and was answered as a request.
    served = serve()
    request = (b"GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
               + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + SMUGGLED)
    answer = exchange(served.service.port, request)
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in answer, answer
    assert answer.count(b"HTTP/1.1 ") == 1, answer
    assert served.status()["runs"] == []


def test_a_body_sent_to_the_health_check_closes_the_connection_unread(serve: Serve) -> None:
    served = serve()
    answer = exchange(served.service.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
    assert answer.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" in answer, answer


def test_two_different_content_lengths_are_400_and_close(serve: Serve) -> None:
    served = serve()
    request = (b"POST /upgrade HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
               + b"\r\nContent-Length: 3\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY)
    answer = exchange(served.service.port, request)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request"), answer
    assert b"Content-Length given twice" in answer and answer.count(b"HTTP/1.1 ") == 1
    assert served.status()["runs"] == []


def test_the_same_content_length_twice_is_one(serve: Serve, web: str) -> None:
    served = serve()
    request = (b"POST /upgrade HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + TOKEN.encode()
               + b"\r\nContent-Length: %d\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % (len(BODY), len(BODY))
               + BODY)
    assert exchange(served.service.port, request).startswith(b"HTTP/1.1 202 Accepted")


def stalled_signed_body(port: int) -> socket.socket:
    """A connection that sends a body signed with a wrong signature (known wrong only once the body is
    read), one byte of it, and no more."""
    peer = socket.create_connection(("127.0.0.1", port), timeout=5)
    peer.sendall(b"POST /upgrade HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: sha256=" + b"0" * 64
                 + b"\r\nContent-Length: 100000\r\n\r\n{")
    return peer


def test_stalled_signed_bodies_leave_the_health_check_answering(serve: Serve) -> None:
    # Each held one of the HTTP threads until cheroot's read timeout, renewed by every byte dripped in.
    served = serve(RANCHER_SERVE_HMAC_SECRET=HMAC_SECRET)
    stalled = [stalled_signed_body(served.service.port) for _ in range(HTTP_THREADS * 2)]
    try:
        # The ones past the bound are refused before their body is read; wait for those answers.
        refused, deadline = 0, time.monotonic() + 10
        waiting = list(stalled)
        while refused < len(stalled) - UNVERIFIED_BODIES and time.monotonic() < deadline:
            readable, _, _ = select.select(waiting, [], [], 1)
            for peer in readable:
                assert peer.recv(65536).startswith(b"HTTP/1.1 503 Service Unavailable")
                waiting.remove(peer)
                refused += 1
        assert refused == len(stalled) - UNVERIFIED_BODIES
        began = time.monotonic()
        assert served.request("GET", "/healthz", token=None).status_code == 200
        assert served.request("GET", "/status").status_code == 200
        assert time.monotonic() - began < 5   # not the 10 s until cheroot times the stalled reads out
    finally:
        for peer in stalled:
            peer.close()


def test_a_body_trickling_in_past_the_deadline_is_408(serve: Serve) -> None:
    served = serve(RANCHER_SERVE_HMAC_SECRET=HMAC_SECRET)
    served.service.app.body_seconds = 0.2   # BODY_SECONDS (30) in production
    began = time.monotonic()
    with stalled_signed_body(served.service.port) as peer:
        answer = b""
        while chunk := peer.recv(65536):   # headers and body may come in two segments; then the close
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout") and b"Connection: close" in answer, answer
    assert b"the body did not arrive within 0.2s" in answer
    assert time.monotonic() - began < 3   # not cheroot's 10 s read timeout


def listen_overflows() -> int:
    """The kernel's count of connections a full listen queue dropped (TcpExt ListenOverflows, in
    /proc/net/netstat): each one waits for its SYN's retry (1 s, then 3 s)."""
    names, values = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()
                     if line.startswith("TcpExt:")]
    return int(values[names.index("ListenOverflows")])


def test_a_burst_of_connections_is_answered_without_a_retry(serve: Serve) -> None:
    # cheroot's listen backlog is 5: past it, the kernel dropped the SYNs, and the connections waited
    # for their retry. What is asserted is the kernel's own count of such drops, not how long a
    # connect took (a loaded machine is slow without dropping anything).
    served = serve()
    ready = threading.Barrier(BURST)

    def connect(_: int) -> None:
        ready.wait()
        with socket.create_connection(("127.0.0.1", served.service.port), timeout=10):
            pass

    before = listen_overflows()
    with concurrent.futures.ThreadPoolExecutor(BURST) as pool:
        list(pool.map(connect, range(BURST)))
    assert listen_overflows() == before
