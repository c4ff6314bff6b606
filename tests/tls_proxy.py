"""A TLS-terminating reverse proxy for tests, written with the standard library, as nginx would sit
in front of Rancher: it answers https, forwards plain http to the simulator, passes `Host` as the
client sent it, and sets `X-Forwarded-Proto` (or any other header) only when told to.

Like nginx without `proxy_set_header Upgrade`, it drops the hop-by-hop `Upgrade` and `Connection`
headers, so a websocket handshake reaches Rancher as a plain GET; told `websockets=True` (nginx's
documented websocket setup) it passes them and then tunnels the connection both ways.

It also counts connections that did not speak TLS: a client that followed an http:// link to it
would have sent its request, credentials included, in clear text.

Proxies that hold long connections, for the stream tests: `websockets="hold"` never answers a
websocket handshake, `websockets="silent"` passes the 101 and then no frame; `watches="buffer"`
passes a Kubernetes watch's headers and holds its body until the server ends it (nginx's
`proxy_buffering on`), `watches="hold"` never passes it at all. `held` is set once one was held.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

# What `reshape` returns: the status, headers and body the client gets.
Reshape = Callable[[str, str, int, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]

# Headers about one hop that a proxy does not pass on (RFC 9110 §7.6.1).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                        "upgrade", "content-length"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, proxy: TlsProxy) -> None:
        self.proxy = proxy
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request = self.proxy.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            with self.proxy.lock:
                self.proxy.plain_connections += 1
            return
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _forward(self) -> None:
        proxy = self.server.proxy
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path
        if proxy.prefix:
            if not (path == proxy.prefix or path.startswith((proxy.prefix + "/", proxy.prefix + "?"))):
                self._answer(404, {"Content-Type": "text/plain"}, b"not under the proxy's prefix")
                return
            path = path[len(proxy.prefix):] or "/"
        headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP}
        headers.update(proxy.add_headers)
        if proxy.rewrite is not None:
            proxy.rewrite(self.command, path, headers)
        with proxy.lock:
            proxy.forwarded.append((self.command, path))
        if proxy.websockets and self.headers.get("Upgrade", "").lower() == "websocket":
            self._tunnel(path, {**headers, "Upgrade": "websocket", "Connection": "Upgrade"})
            return
        if proxy.watches != "pass" and self.command == "GET" and "watch=1" in path:
            self._buffer(path, headers)
            return
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=10)
        try:
            upstream.request(self.command, path, body=body or None, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            passed = {name: value for name, value in answer.getheaders() if name.lower() not in HOP_BY_HOP}
        finally:
            upstream.close()
        status = answer.status
        if proxy.reshape is not None:
            status, passed, data = proxy.reshape(self.command, path, status, passed, data)
        self._answer(status, passed, data)

    def _buffer(self, path: str, headers: dict[str, str]) -> None:
        """A watch whose headers pass at once and whose body is held: until the server ends it
        ("buffer"), or for good ("hold")."""
        proxy = self.server.proxy
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=None)
        upstream.request("GET", path, headers=headers)
        answer = upstream.getresponse()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        proxy.held.set()
        self.close_connection = True
        try:
            body = answer.read()   # until the server ends the watch
        except (OSError, http.client.HTTPException):   # the simulator stopped first (IncompleteRead)
            body = b""
        upstream.close()
        if proxy.watches == "hold":
            proxy.released.wait()
            return
        try:
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n")
        except OSError:
            pass

    def _tunnel(self, path: str, headers: dict[str, str]) -> None:
        """Send the handshake upstream, then copy bytes both ways until one side closes."""
        proxy = self.server.proxy
        if proxy.websockets == "hold":
            proxy.held.set()
            proxy.released.wait()
            self.close_connection = True
            return
        upstream = socket.create_connection((proxy.upstream_host, proxy.upstream_port), timeout=10)
        upstream.settimeout(None)
        head = f"{self.command} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        upstream.sendall(head.encode("latin-1") + b"\r\n")
        self.close_connection = True
        if proxy.websockets == "silent":
            self._silent(upstream)
            return

        def copy(source: socket.socket, target: socket.socket) -> None:
            try:
                while data := source.recv(65536):
                    target.sendall(data)
            except OSError:
                pass
            for end in (source, target):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        back = threading.Thread(target=copy, args=(upstream, self.connection), daemon=True)
        back.start()
        copy(self.connection, upstream)
        back.join(timeout=5)
        upstream.close()

    def _silent(self, upstream: socket.socket) -> None:
        """Pass the handshake's answer, then hold every frame after it, pings included."""
        answer = b""
        while b"\r\n\r\n" not in answer and (data := upstream.recv(4096)):
            answer += data
        self.connection.sendall(answer[:answer.find(b"\r\n\r\n") + 4])
        self.server.proxy.held.set()
        try:
            while upstream.recv(65536) and not self.server.proxy.released.is_set():
                pass
        except OSError:
            pass
        upstream.close()

    def _answer(self, status: int, headers: dict[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward


class TlsProxy:
    """https://127.0.0.1:<port><prefix> in front of `upstream` (an http:// URL).

    `prefix` is a path the proxy serves Rancher under and strips before forwarding
    (`https://host/rancher`); `add_headers` are set on every forwarded request; `websockets` passes
    websocket upgrades through ("hold", "silent": see the module's doc); `watches` "buffer" or
    "hold" holds Kubernetes watch bodies; `rewrite(method, path, headers)` may change the headers of
    a request before it is forwarded (a credential that went stale on the way, say), and
    `reshape(method, path, status, headers, body)` returns the answer passed back instead of upstream's.
    """

    def __init__(self, upstream: str, cert_file: str, key_file: str, *, prefix: str = "",
                 add_headers: dict[str, str] | None = None, websockets: bool | str = False,
                 watches: str = "pass", rewrite: Callable[[str, str, dict[str, str]], None] | None = None,
                 reshape: Reshape | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.prefix = prefix.rstrip("/")
        self.add_headers = dict(add_headers or {})
        self.websockets = websockets
        self.watches = watches
        self.rewrite = rewrite              # (method, path, headers): may change a request's headers
        self.reshape = reshape              # (method, path, status, headers, body): the answer passed on
        self.held = threading.Event()       # a handshake, frames or a watch's body were held
        self.released = threading.Event()   # set on exit: what is held is let go
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert_file, key_file)
        self.lock = threading.Lock()
        self.plain_connections = 0
        self.forwarded: list[tuple[str, str]] = []
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    def __enter__(self) -> TlsProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
