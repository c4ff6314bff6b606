"""The HTTP server under the application: cheroot's threaded WSGI server, bound before anything else
starts, serving from its own thread, stopped gracefully from ours.

Why cheroot (CherryPy's server, its own package since 2017, kept by the CherryPy team): it is pure
Python and threaded, as the rest of the program is; `prepare()` binds the port before the server
announces itself, so a port in use is a one-line exit 2; `stop()` is its documented graceful shutdown,
callable from another thread: it closes the listening socket, lets requests already being answered
finish (`shutdown_timeout`) and closes idle keep-alive connections, which is the first step of our
SIGTERM; and it installs no signal handlers and writes no access log of its own, so both stay ours
(the access log masks the path token). waitress, the other pure-Python WSGI server, offers no
public way to stop its loop from another thread; uvicorn and hypercorn would bring an event loop to
a program whose runs are threads.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any, Callable

from cheroot import server, wsgi

from rancher_deploy.serve.chunked import ChunkedBody

Log = Callable[[str], None]

# Threads answering HTTP requests; a request only parses, checks and queues, so a few suffice.
HTTP_THREADS = 8
# Seconds a connection may stay silent (headers or body not arriving, an idle keep-alive) before cheroot
# closes it: a client that stalls holds one of the HTTP_THREADS no longer than this. Stated, not left
# to cheroot's default (10 s as of cheroot 10), so a release changing it changes nothing here.
READ_TIMEOUT_SECONDS = 10
# Seconds requests being answered get to finish when the server stops.
SHUTDOWN_SECONDS = 5
# Connections the kernel holds until the server accepts them. cheroot's default (request_queue_size,
# cheroot/server.py) is 5: a registry announcing a burst of pushes at once, or a CI fleet, had its
# connections stall in SYN retries (1 s, then 3 s). 128, as the simulator (simulator/server.py), is
# Linux's SOMAXCONN before 5.4.
LISTEN_BACKLOG = 128
# The environ key of a callable that stops reading the request's connection (app._body's deadline):
# the read blocked on it returns at once, short, and the answer can still be written.
CUT_KEY = "rancher_deploy.cut"


class _Recorded:
    """A connection's rfile, keeping the lines read through it (the request's header lines)."""

    def __init__(self, rfile: Any) -> None:
        self._rfile = rfile
        self.lines: list[bytes] = []

    def readline(self, size: int = -1) -> bytes:
        line: bytes = self._rfile.readline(size)
        self.lines.append(line)
        return line


class _HeaderReader(server.HeaderReader):
    """cheroot's header reader, refusing two Content-Length headers that disagree.

    Why: cheroot keeps the last one (HeaderReader.__call__, cheroot/server.py), while a proxy in
    front may have framed the body by the first, and the bytes between would be a second request.
    RFC 9112 section 6.3 item 5: such a message is unrecoverable, 400 and close. cheroot answers the
    ValueError raised here with 400 and closes the connection (HTTPRequest.read_request_headers)
    before the application sees the request, so that answer is cheroot's plain text, not JSON.
    """

    def __call__(self, rfile: Any, hdict: dict[bytes, bytes] | None = None) -> dict[bytes, bytes]:
        recorded = _Recorded(rfile)
        headers: dict[bytes, bytes] = super().__call__(recorded, hdict)
        lengths = {value.strip() for name, _, value in (line.partition(b":") for line in recorded.lines)
                   if name.strip().lower() == b"content-length"}
        if len(lengths) > 1:
            raise ValueError("Content-Length given twice, with different values (RFC 9112 section 6.3)")
        return headers


class _Request(server.HTTPRequest):
    header_reader = _HeaderReader()


class _Connection(server.HTTPConnection):
    RequestHandlerClass = _Request


class _Gateway(wsgi.Gateway_10):
    """cheroot's WSGI 1.0 gateway, closing the connection when the answer says `Connection: close`.

    Why: before it writes an answer on a kept-alive connection, cheroot reads the rest of the request
    body (HTTPRequest.send_headers, cheroot/server.py, per RFC 2616 8.2.2), so a refusal the
    application decides before reading the body (401, 403, 400) would still wait for every byte a slow
    peer sends. The RFC lets a server close instead to defend itself; the application asks for that
    with the header, and cheroot then skips the read.
    """

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        write = super().start_response(status, headers, exc_info)
        if any(name.lower() == "connection" and value.lower() == "close" for name, value in headers):
            self.req.close_connection = True
        return write

    def get_environ(self) -> dict[str, Any]:   # type: ignore[override]   # cheroot's stub says None
        """cheroot's environ, with a chunked body read through ChunkedBody (bounded by the server's
        `body_limit`) instead of cheroot's reader, which reads each chunk whole (serve/chunked.py)."""
        environ: dict[str, Any] = super().get_environ()   # type: ignore[no-untyped-call]
        connection = self.req.conn.socket
        environ[CUT_KEY] = lambda: _cut(connection)
        if self.req.chunked_read:
            # cheroot does not drain a chunked body after the answer (HTTPRequest.send_headers), so the
            # connection is where ChunkedBody leaves it: at the next request once the body was read
            # whole; the application closes the connection when it refuses one unread.
            environ["wsgi.input"] = ChunkedBody(self.req.conn.rfile, self.req.server.body_limit)
        return environ


def _cut(connection: socket.socket) -> None:
    """Stop reading `connection`: a read blocked on it returns b"" (Linux, shutdown(2) SHUT_RD)."""
    try:
        connection.shutdown(socket.SHUT_RD)
    except OSError:
        pass   # already closed by the peer: nothing is read from it any more


class _Server(wsgi.Server):
    """cheroot's server, with its error log through ours (redacted, one line per message), our header
    reader (_HeaderReader) and a listen backlog of LISTEN_BACKLOG."""

    ConnectionClass = _Connection

    log: Log
    # Bytes a chunked body may decode to (ChunkedBody refuses more before reading it).
    body_limit: int
    # How long the connection loop's select() waits, hence how long stop() waits for that loop
    # (cheroot's ConnectionManager.stop: "may take up to half a second" at its default 0.5).
    expiration_interval = 0.1

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        if level >= logging.WARNING or msg:
            self.log(f"http: {msg}".rstrip())


class HttpServer:
    """`app` served on `host`:`port` (0: any free port) from a thread of its own; a chunked request
    body decodes to at most `body_limit` bytes (the application checks a Content-Length itself)."""

    def __init__(self, app: Callable[..., Any], host: str, port: int, log: Log, body_limit: int) -> None:
        self._server = _Server((host, port), app, numthreads=HTTP_THREADS, shutdown_timeout=SHUTDOWN_SECONDS,
                               server_name="rancher-deploy", timeout=READ_TIMEOUT_SECONDS,
                               request_queue_size=LISTEN_BACKLOG)
        self._server.gateway = _Gateway
        self._server.log = log
        self._server.body_limit = body_limit
        self._thread: threading.Thread | None = None

    def bind(self) -> tuple[str, int]:
        """Bind and listen; returns the address listened on. Raises OSError (the port is taken, the
        address is not this host's)."""
        self._server.prepare()
        host, port = self._server.bind_addr[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve, name="http", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop accepting connections, let the requests being answered finish, close the rest."""
        self._server.stop()
        if self._thread is not None:
            self._thread.join(SHUTDOWN_SECONDS)
