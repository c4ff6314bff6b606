"""How a request is framed on the connection: never two ways (Transfer-Encoding and Content-Length, two
Content-Lengths), never a body left unread and then parsed as the next request, never a body trickled
in for longer than the deadline, never more signed bodies of unknown senders read at once than leave
threads for /healthz, and a listen backlog that holds a burst."""

from __future__ import annotations

import socket

from .conftest import TOKEN, Serve

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
