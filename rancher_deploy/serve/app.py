"""The server's HTTP side, as a WSGI application: its routes, authentication, the body limit, the JSON
answers, and one access-log line per request (a passing health check excepted) with the path token
masked.

Every answer is one JSON object (`/ping`, the seed's, answers `Pong!`). A refused request changes
nothing: a request framed two ways (Transfer-Encoding and Content-Length) is refused first (400), then
routes and methods are checked (404, 405), then whether any credential is presented (401), then a
credential wrong whatever the body (403), then the Content-Length header (400, 413), then a signature
over the body (403; 503 when UNVERIFIED_BODIES such bodies are being read already), then the body
(400, 408 past BODY_SECONDS), and only then is a run queued (202, or 429 when the queue is full). No
body is read before its sender is known, unless a signature must be checked against it: a peer with a
wrong token that sends its body slowly would otherwise hold one of the few HTTP threads for as long as
it likes, and a handful of them would stop /healthz from answering. A body not read whole is never
left on a kept-alive connection: the answer closes it.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

from rancher_deploy.fleet import counted
from rancher_deploy.serve import auth, chunked, payloads
from rancher_deploy.serve.payloads import Parsed, PayloadError
from rancher_deploy.serve.scheduler import QueueFull, Scheduler, Stopping
from rancher_deploy.serve.server import CUT_KEY, HTTP_THREADS

# Larger than any push notification: Docker Hub's carries the repository's Dockerfile and description,
# a registry envelope a few dozen events; a bigger body is refused before it is read (413).
MAX_BODY_BYTES = 1024 * 1024
# What a refused sender is asked to wait before trying again (429, 503).
RETRY_AFTER_SECONDS = 60
# Seconds a whole body may take to arrive, however it trickles in (408 after them): cheroot's timeout
# is per read (server.READ_TIMEOUT_SECONDS), so a peer sending one byte every 9 s would otherwise hold
# an HTTP thread for as long as it likes. 30 s carry MAX_BODY_BYTES at 35 kB/s.
BODY_SECONDS = 30.0
# Bodies of senders not known yet (a signature, checked only once the body is read) read at once; one
# more is refused 503 before it is read, so the other HTTP threads stay free for /healthz and for
# senders with a token (docs/fleet.md, "Limits").
UNVERIFIED_BODIES = HTTP_THREADS // 2
# Set in the environ once the body was read whole: any other request with a body is answered with
# `Connection: close`, or the unread rest would be parsed as the next request on the connection.
_BODY_READ = "rancher_deploy.body_read"

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
Log = Callable[[str], None]
Parser = Callable[[bytes, Environ], Parsed]


class Refused(Exception):
    """The request is answered `status` with `{"error": message}`; nothing was changed."""

    def __init__(self, status: HTTPStatus, message: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers


@dataclass(frozen=True)
class Route:
    """A path and what answers it; `parse` for the routes that queue runs, `token_segment` for the
    webhooks whose URL may end in the token (senders that set no headers)."""

    path: str
    method: str
    parse: Parser | None = None
    public: bool = False
    token_segment: bool = False


def _registry(body: bytes, environ: Environ) -> Parsed:
    # `?registry=HOST[:PORT]` names the registry as the targets' images do, when the pushing clients
    # reached it by another name (a load balancer, a mirror): notifications carry the name they used.
    host = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).get("registry", [None])[-1]
    return payloads.registry(body, registry_host=host)


ROUTES: tuple[Route, ...] = (
    Route("/healthz", "GET", public=True),
    Route("/ping", "GET", public=True),
    Route("/status", "GET"),
    Route("/upgrade", "POST", lambda body, _: payloads.upgrade(body)),
    Route("/upgrade/", "POST", lambda body, _: payloads.upgrade(body)),   # the seed's first releases
    Route("/webhooks/dockerhub", "POST", lambda body, _: payloads.dockerhub(body), token_segment=True),
    Route("/webhooks/harbor", "POST", lambda body, _: payloads.harbor(body), token_segment=True),
    Route("/webhooks/registry", "POST", _registry, token_segment=True),
)
_PATH_TOKEN = re.compile(r"^(/webhooks/[^/]+/)[^/]+(.*)$")
# Health checks the access log leaves out when they pass.
_PROBES = frozenset({"/healthz", "/ping"})


def shown_path(path: str) -> str:
    """The path as the access log writes it: a webhook path's token segment as `***`, and characters
    that could forge a log line (a decoded %0A) as `?`."""
    return "".join(character if character.isprintable() else "?" for character in _PATH_TOKEN.sub(r"\1***\2", path))


class App:
    """The WSGI application; `stopping` turns /healthz to 503 while the server drains."""

    def __init__(self, keys: auth.Keys, scheduler: Scheduler, log: Log, *, body_seconds: float = BODY_SECONDS,
                 unverified_bodies: int = UNVERIFIED_BODIES) -> None:
        self._keys = keys
        self._scheduler = scheduler
        self._log = log
        self.stopping = False
        self.body_seconds = body_seconds
        self._unverified = threading.BoundedSemaphore(unverified_bodies)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        began = time.monotonic()
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET")
        note = ""
        try:
            status, document, headers = self._answer(environ, path, method)
            if status is HTTPStatus.ACCEPTED:
                note = " run " + ", ".join(str(item["run"]) for item in document["accepted"])
        except Refused as refused:
            status, document, headers = refused.status, {"error": refused.message}, refused.headers
            note = f" ({refused.message})"
        except Exception as error:   # noqa: BLE001 - a fault of ours is still answered as one JSON object
            # Every input is checked above; this is the net under a check that was missed (cheroot
            # would answer a bare 500 with an empty body).
            status, headers = HTTPStatus.INTERNAL_SERVER_ERROR, (("Connection", "close"),)
            document = {"error": f"the server failed to answer ({type(error).__name__}); GET /status lists "
                                 "any run it queued"}
            note = f" ({type(error).__name__})"
        if _has_body(environ) and not environ.get(_BODY_READ) and ("Connection", "close") not in headers:
            # Its body is unread, or read in part: what is left of it would be parsed as the next request
            # (a GET /status with a body), and a refused sender is not waited for (server._Gateway).
            headers = (*headers, ("Connection", "close"))
        body = (document if isinstance(document, bytes) else json.dumps(document).encode("utf-8") + b"\n")
        content_type = "text/plain; charset=utf-8" if isinstance(document, bytes) else "application/json"
        start_response(f"{status.value} {status.phrase}", [
            ("Content-Type", content_type), ("Content-Length", str(len(body))), ("Cache-Control", "no-store"),
            *headers])
        if not (path in _PROBES and status is HTTPStatus.OK):   # an orchestrator probes every few seconds
            self._log(f"{environ.get('REMOTE_ADDR', '-')} {method} {shown_path(path)} {status.value} "
                      f"{(time.monotonic() - began) * 1000:.0f}ms{note}")
        return [] if method == "HEAD" else [body]

    def _answer(self, environ: Environ, path: str, method: str) -> tuple[HTTPStatus, Any, tuple[tuple[str, str], ...]]:
        if environ.get("HTTP_TRANSFER_ENCODING") and environ.get("CONTENT_LENGTH"):
            # Two framings: cheroot reads the chunks, a proxy in front may have forwarded Content-Length
            # bytes, and the rest would be a second request smuggled in (RFC 9112 section 6.3 item 3:
            # "ought to be handled as an error"; the connection is closed, as it must be then).
            raise Refused(HTTPStatus.BAD_REQUEST, "a request may not have both Transfer-Encoding and Content-Length "
                                                  "(RFC 9112 section 6.3)")
        route, token = _route(path)
        if route.method == "GET" and method == "HEAD":
            method = "GET"   # load balancers probe health with HEAD (__call__ sends the headers alone)
        if route.method != method:
            raise Refused(HTTPStatus.METHOD_NOT_ALLOWED, f"{path} takes {route.method} only",
                          (("Allow", route.method),))
        if route.path == "/healthz":
            if self.stopping:
                return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "stopping"}, ()
            return HTTPStatus.OK, {"status": "ok"}, ()
        if route.path == "/ping":
            return HTTPStatus.OK, b"Pong!", ()
        presented = auth.Presented(environ.get("HTTP_AUTHORIZATION"), environ.get("HTTP_X_HUB_SIGNATURE_256"), token,
                                   environ.get("HTTP_X_REQUEST_TIMESTAMP"))
        # A GET's body is empty: its signature must cover a timestamp, or it could be replayed for ever.
        stamped = route.parse is None
        verdict = auth.check(self._keys, presented, None, stamped=stamped)
        if verdict is auth.Verdict.MISSING:
            # Before the size: a sender that presents nothing is told what it lacks, not that its body
            # is large (it would shrink the body and be refused again, for another reason).
            raise Refused(HTTPStatus.UNAUTHORIZED, "authentication required: Authorization: Bearer <token>, "
                                                   f"an {auth.SIGNATURE_HEADER} signature, or the webhook URL "
                                                   "with the token", (("WWW-Authenticate", "Bearer"),))
        if verdict is auth.Verdict.WRONG:
            # Before the size too: a wrong token is told so, not that its body is large.
            unstamped = stamped and presented.signature is not None and presented.timestamp is None
            raise Refused(HTTPStatus.FORBIDDEN, f"a signed {method} must sign {auth.TIMESTAMP_HEADER} too (docs/fleet.md)"
                          if unstamped else "the credential is not valid")
        body = b"" if route.parse is None else self._read(environ, unverified=verdict is auth.Verdict.UNDECIDED)
        if (verdict is auth.Verdict.UNDECIDED
                and auth.check(self._keys, presented, body, stamped=stamped) is not auth.Verdict.ALLOWED):
            raise Refused(HTTPStatus.FORBIDDEN, "the credential is not valid")
        if route.parse is None:
            return HTTPStatus.OK, self._scheduler.snapshot(), ()
        try:
            parsed = route.parse(body, environ)
        except PayloadError as error:
            raise Refused(HTTPStatus.BAD_REQUEST, str(error)) from None
        return self._queue(parsed)

    def _read(self, environ: Environ, *, unverified: bool) -> bytes:
        """The body (_body), its Content-Length checked first; a sender still `unverified` (a signature
        over the body) only while fewer than UNVERIFIED_BODIES such bodies are being read, else Refused
        503 before a byte of it is read: anyone can make us read a body to check its signature."""
        length = _length(environ)
        if not unverified:
            return _body(environ, length, self.body_seconds)
        if not self._unverified.acquire(blocking=False):
            raise Refused(HTTPStatus.SERVICE_UNAVAILABLE, "too many signed bodies are being read at once; try again "
                                                          "later", (("Retry-After", "5"),))
        try:
            return _body(environ, length, self.body_seconds)
        finally:
            self._unverified.release()

    def _queue(self, parsed: Parsed) -> tuple[HTTPStatus, Any, tuple[tuple[str, str], ...]]:
        try:
            admissions = self._scheduler.submit(parsed.triggers)
        except QueueFull as full:
            raise Refused(HTTPStatus.TOO_MANY_REQUESTS, f"the queue is full (`RANCHER_SERVE_QUEUE={full.limit}`: at "
                                                        f"most {counted(full.limit, 'waiting run')}); try again later",
                          (("Retry-After", str(RETRY_AFTER_SECONDS)),)) from None
        except Stopping:
            raise Refused(HTTPStatus.SERVICE_UNAVAILABLE, "the server is stopping; try again later",
                          (("Retry-After", str(RETRY_AFTER_SECONDS)),)) from None
        accepted = [{"run": admission.job.id, "image": str(admission.job.trigger.image),
                     "repository": admission.job.trigger.key,
                     "supersedes": admission.superseded.id if admission.superseded else None,
                     "note": admission.note}
                    for admission in admissions if admission.kept is None]
        # A push older than the waiting run's image: answered 2xx all the same, or the registry resends it.
        kept = [f"{trigger.image}: not queued: run {admission.job.id}, waiting, deploys {admission.job.trigger.image}, "
                f"and {admission.kept}" for admission, trigger in zip(admissions, parsed.triggers) if admission.kept]
        # Nothing to run is no error: registries resend what is not answered 2xx (notifications.md,
        # "Responses"), and a pull or a scan result will never name an image to deploy.
        status = HTTPStatus.ACCEPTED if accepted else HTTPStatus.OK
        return status, {"accepted": accepted, "ignored": [*parsed.ignored, *kept]}, ()


def _route(path: str) -> tuple[Route, str | None]:
    """The route of `path`, and the token segment a webhook path ends in; Refused 404 for no route."""
    for route in ROUTES:
        if path == route.path:
            return route, None
        if route.token_segment and path.startswith(route.path + "/"):
            token = path[len(route.path) + 1:]
            if token and "/" not in token:
                return route, token
    raise Refused(HTTPStatus.NOT_FOUND, "no such path; the server answers /upgrade, /webhooks/dockerhub, "
                                        "/webhooks/harbor, /webhooks/registry, /status and /healthz")


def _has_body(environ: Environ) -> bool:
    return bool(environ.get("HTTP_TRANSFER_ENCODING")) or (environ.get("CONTENT_LENGTH") or "0").strip() != "0"


def _length(environ: Environ) -> int | None:
    """The request's Content-Length (None: chunked or absent), checked before anything is read: Refused
    400 when it is not a whole number of bytes (a negative one would read until the peer closes), 413
    when it is over MAX_BODY_BYTES."""
    length_text = (environ.get("CONTENT_LENGTH") or "").strip()
    if not length_text:
        return None
    if not length_text.isdigit() or not length_text.isascii():
        raise Refused(HTTPStatus.BAD_REQUEST, "Content-Length is not a whole number of bytes")
    # Compared by its digits first: Python refuses int() of more than 4300 digits (ValueError).
    digits = length_text.lstrip("0") or "0"
    if len(digits) > len(str(MAX_BODY_BYTES)) or int(digits) > MAX_BODY_BYTES:
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is larger than {MAX_BODY_BYTES} bytes")
    return int(digits)


def _body(environ: Environ, length: int | None, seconds: float) -> bytes:
    """The request body, `length` bytes (checked by _length) or, sent in chunks, at most MAX_BODY_BYTES
    (Refused 413 when a chunk would take it past them, before that chunk is read; Refused 400 when it
    is not valid chunked coding; Refused 408 when it is not all there within `seconds`). Never more than
    MAX_BODY_BYTES + 1 bytes are buffered: a chunked body is read through serve/chunked.py's ChunkedBody
    (server.py puts it in the environ)."""
    stream = environ["wsgi.input"]
    late = threading.Event()
    cut = environ.get(CUT_KEY)

    def too_late() -> None:
        late.set()
        if cut is not None:
            cut()   # the read blocked in this request's thread returns at once, short

    timer = threading.Timer(seconds, too_late)
    timer.daemon = True
    timer.start()
    try:
        body: bytes = stream.read(length) if length is not None else stream.read(MAX_BODY_BYTES + 1)
    except chunked.TooLarge:
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is larger than {MAX_BODY_BYTES} bytes") \
            from None
    except (ValueError, OSError) as error:
        if late.is_set() or isinstance(error, OSError):   # OSError: cheroot's per-read timeout
            raise Refused(HTTPStatus.REQUEST_TIMEOUT, f"the body did not arrive within {seconds:g}s") from None
        raise Refused(HTTPStatus.BAD_REQUEST, f"the body is not valid chunked transfer coding ({error})"[:200]) \
            from None
    finally:
        timer.cancel()
    if late.is_set() or (length is not None and len(body) < length):
        raise Refused(HTTPStatus.REQUEST_TIMEOUT, f"the body did not arrive within {seconds:g}s")
    if len(body) > MAX_BODY_BYTES:
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"the body is larger than {MAX_BODY_BYTES} bytes")
    environ[_BODY_READ] = True
    return body
