"""HTTP glue: a ThreadingHTTPServer that applies faults, routes /_sim/ and the API, and logs requests."""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rancher_deploy.simulator.control import handle as handle_control
from rancher_deploy.simulator.cattle import api as cattle_api
from rancher_deploy.simulator.cattle.errors import ApiError
from rancher_deploy.simulator.cattle.store import Store
from rancher_deploy.simulator.faults import Faults
from rancher_deploy.simulator.rancher2 import api as rancher2_api
from rancher_deploy.simulator.rancher2 import urls as rancher2_urls
from rancher_deploy.simulator.rancher2.cluster import Cluster
from rancher_deploy.simulator.rancher2.errors import KubeError, unauthorized
from rancher_deploy.simulator.rancher2.routes import surface_of
from rancher_deploy.simulator.request_log import RequestLog, RequestRecord
from rancher_deploy.simulator.upgrade import serve as serve_websocket
from rancher_deploy.simulator.wire import STATUS_TEXT, HttpRequest, Response, StreamCut


class App:
    """Everything a request needs, independent of sockets. ``cluster`` is set when playing 2.x."""

    def __init__(
        self, store: Store, faults: Faults, log: RequestLog, rancher_version: str, cluster: Cluster | None = None
    ) -> None:
        self.store = store
        self.faults = faults
        self.log = log
        self.rancher_version = rancher_version
        self.cluster = cluster

    def _failure_body(self, req: HttpRequest, status: int) -> object:
        if self.cluster is None:
            return ApiError.http(status).body()
        if status == 401:
            # Rancher's auth filter answers every 2.x surface the same way (rancher-api.md §5.6).
            return unauthorized().body
        reason = STATUS_TEXT.get(status, "Error").replace(" ", "")
        error = KubeError(status, reason, STATUS_TEXT.get(status, "Error"))
        return rancher2_api.error_body(surface_of(req.path), error)

    def request_root(self, headers: dict[str, str], scheme: str, host: str) -> str:
        """The base URL of the links in an answer, built from the request's headers as the
        generation played builds it (cattle's DefaultApiRequestParser, norman's urlbuilder)."""
        if self.cluster is not None:
            return rancher2_urls.request_root(headers, scheme, host)
        return cattle_api.request_root(headers, scheme, host)

    def _answer(self, req: HttpRequest) -> Response:
        if self.cluster is not None:
            return rancher2_api.handle(self.cluster, req, self.rancher_version)
        return cattle_api.handle(self.store, req, self.rancher_version)

    def handle(self, req: HttpRequest) -> Response | None:
        """The response to send, or None to drop the connection without answering."""
        if req.path == "/_sim" or req.path.startswith("/_sim/"):
            return handle_control(self, req)
        if self.faults.refusing():
            return None
        received = self.log.clock()
        # Fault rules match the path and the query, so `action=upgrade` picks one action out.
        target = f"{req.path}?{req.query}" if req.query else req.path
        delay = self.faults.delay_for(target)
        if delay > 0:
            time.sleep(delay)
        held = self.faults.take_hold(target)
        if held is not None:
            held[0].wait(held[1])
        failure = self.faults.take_failure(req.method, target)
        if failure is not None and not failure.drop:
            self.log.add(RequestRecord(req.method, req.path, req.query, failure.status, None, received))
            return Response(failure.status, self._failure_body(req, failure.status), dict(failure.headers))
        response = self._answer(req)
        if failure is not None:
            # A lost answer: the server did the work, the client never hears about it.
            self.log.add(RequestRecord(req.method, req.path, req.query, 0, response.project_id, received))
            return None
        self.log.add(RequestRecord(req.method, req.path, req.query, response.status, response.project_id, received))
        self.faults.answered(req.method, req.path)   # after `_answer`: the look saw the state before the held work
        return response


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default backlog is 5: ten targets opening their event streams at once overflow
    # it, and a dropped SYN is sent again only after a second (a real Rancher listens with more).
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, tls: ssl.SSLContext | None) -> None:
        # socketserver binds AF_INET unless told: an IPv6 address (`::1`) needs its own family.
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self.tls = tls
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Runs in the connection's own thread, so a slow TLS handshake never blocks accept().
        if self.tls is not None:
            try:
                request = self.tls.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                return
        with self.connections_lock:
            self.connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self.connections_lock:
                self.connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its own timeout) closes the socket while we answer; that is the
        # client's business, not a simulator fault worth a traceback on stderr.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    def drop_connections(self) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; no 40 ms delayed-ACK stall
    server: _HTTPServer

    def version_string(self) -> str:
        return "rancher-deploy-simulator"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        path, _, query = self.path.partition("?")
        scheme = "https" if self.server.tls is not None else "http"
        bound, port = str(self.server.server_address[0]), int(self.server.server_address[1])
        host = self.headers.get("Host") or (f"[{bound}]:{port}" if ":" in bound else f"{bound}:{port}")
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = HttpRequest(
            method=self.command,
            path=path,
            query=query,
            headers=headers,
            body=body,
            root=self.server.app.request_root(headers, scheme, host),
        )
        response = self.server.app.handle(req)
        if response is None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if response.websocket is not None:
            # A 101 has no body, so none of the JSON headers below; the handshake's own (Upgrade,
            # Connection, Sec-WebSocket-Accept) come from wsproto, the API's (X-Rancher-Version, ...)
            # from the generation played. The connection is the websocket's until it ends.
            self.close_connection = True
            serve_websocket(self.connection, response.websocket, dict(response.headers))
            return
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Expires": "Thu, 01 Jan 1970 00:00:00 GMT",
            "Cache-Control": "no-cache, must-revalidate",
        }
        headers.update(response.headers)
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        if response.stream is not None:
            self._send_stream(response.stream)
            return
        data = response.raw if response.raw is not None else json.dumps(response.body).encode("utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_stream(self, chunks: Iterator[bytes]) -> None:
        """Chunked transfer, flushed per chunk (a Kubernetes watch); the connection closes after."""
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        try:
            for chunk in chunks:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except StreamCut:
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        except OSError:
            pass  # the client went away mid-watch


class SimServer:
    """Owns the listening socket: start, stop, and close-then-reopen for refuse_connections."""

    def __init__(self, app: App, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> None:
        with self._lock:
            self._stopped = False
            self._open()

    def _open(self) -> None:
        httpd = _HTTPServer((self.host, self.port), self.app, self.tls)
        self.port = httpd.server_address[1]
        thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), name=f"rancher-sim-{self.port}", daemon=True)
        thread.start()
        self._httpd, self._thread = httpd, thread

    def _close(self) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        httpd.drop_connections()
        if thread is not None:
            thread.join(timeout=5)

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._close()

    def refuse(self, seconds: float) -> None:
        """Close the listener now and reopen it on the same port after ``seconds`` real seconds."""
        with self._lock:
            if self._stopped:
                return
            self._close()
        threading.Thread(target=self._reopen_after, args=(seconds,), name="rancher-sim-refuse", daemon=True).start()

    def _reopen_after(self, seconds: float) -> None:
        time.sleep(seconds)
        with self._lock:
            if self._stopped or self._httpd is not None:
                return
            for _ in range(100):
                try:
                    self._open()
                    return
                except OSError:
                    time.sleep(0.05)


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context
