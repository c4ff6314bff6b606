"""RancherSession: the one place that talks HTTP to Rancher, and turns its failures into DeployErrors.

Reads are retried with a bounded backoff because a network blip mid-poll was the most reported
failure of older tools (cdrx/rancher-gitlab-deploy#20, #33). Writes (actions, PUT) are never
repeated here: a POST that may or may not have reached Rancher is the caller's to re-check by
reading the state again. Every request has a timeout, TLS is verified unless told otherwise, and
nothing that could carry a secret reaches an error message unredacted.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import json
import os
import ssl
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Literal, Mapping, TypeVar
from urllib.parse import urlencode

import requests
import requests.auth
from requests.utils import DEFAULT_CA_BUNDLE_PATH

from rancher_deploy import __version__
from rancher_deploy.errors import (
    RETRYABLE_STATUSES,
    answered,
    AuthenticationFailed,
    CertificateNotTrusted,
    DeployError,
    NotRancher,
    RancherAPIError,
    RancherUnreachable,
    RequestTimedOut,
    TLSFailed,
    TransientRancherError,
)
from rancher_deploy.links import LinkMap, show_origin
from rancher_deploy.redact import Redactor, sent_forms
from rancher_deploy.timing import backoff
from rancher_deploy.tls import NAME_MISMATCH, NO_CERTIFICATE, NOT_TLS, UNTRUSTED_ISSUER, ssl_cause

JSON = dict[str, Any]
_Read = TypeVar("_Read")
# Rancher 1.x names its release in this header on every answer (see `Probe`).
CATTLE_VERSION = "X-Rancher-Version"
READ_ATTEMPTS = 4
# A collection longer than this many pages is a server that keeps sending the same `next`.
MAX_PAGES = 10_000


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class Credentials:
    """Either an access/secret key pair (basic auth) or a Rancher 2.x bearer token. Its repr shows
    neither secret (`repr(credentials)` in a log or a traceback's locals must not leak them)."""

    access_key: str | None = None
    secret_key: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, eq=False)
class Probe:
    """What one GET answered about the server behind it (`RancherSession.probe`).

    `body` is the JSON object of a 2xx answer (None for an error, or for a page that is not JSON);
    `cattle` the `X-Rancher-Version` header, which Rancher 1.x sets on every answer of its API
    server, errors and UI pages included (cattle's ApiRequestFilter.addVersionHeader, before it
    dispatches), and Rancher 2.x never sends: "v1.6.30", or None.
    """

    status: int
    body: JSON | None
    cattle: str | None


class RancherSession:
    """One `requests.Session` with auth, TLS policy, timeouts, read retries and a call counter."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        verify: str | Literal[False] = DEFAULT_CA_BUNDLE_PATH,
        ca_given: bool = False,
        request_timeout: float = 30.0,
        redactor: Redactor | None = None,
        debug: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        read_attempts: int = READ_ATTEMPTS,
        credential_names: str | None = None,
        home: str | None = None,
        warn: Callable[[str], None] | None = None,
        wait_budget: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`home` is the configured URL: no request goes to another scheme, host or port, and
        Rancher's links are rebased onto it (`links`); without it, the first URL requested is home.
        `wait_budget` (seconds, RANCHER_TIMEOUT) bounds what one read waits for a 429's Retry-After."""
        self._credentials = credentials
        # One requests.Session per thread: targets of one run proceed in threads (`parallel`), and
        # requests does not document Session as thread-safe (its cookie jar and connection pools are
        # shared mutable state; psf/requests#2766, #1871). A session per thread also gives each target
        # its own keep-alive connection, which is what running them at once needs; a lock would
        # serialise them again.
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._closing: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        # A CA file or False, never True (Settings.verify decides which): requests replaces verify=True,
        # per request or per session, with REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE from the environment
        # (Session.merge_environment_settings, requests/sessions.py; psf/requests#3829), which would read
        # the environment a second time. `ca_given`: the file is one the user named, not certifi's.
        self._verify = verify
        self._ca_given = ca_given
        self._timeout = request_timeout
        self._redact = redactor or Redactor(credentials.secret_key, credentials.token, *sent_forms(
            credentials.access_key, credentials.secret_key, credentials.token))
        # A 401 names the settings that hold what Rancher refused (never their values), the way the
        # caller says the user set them (`credential_names`), else by their variables.
        self._credential_settings = credential_names or (
            "RANCHER_TOKEN" if credentials.token else "CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY")
        self._debug = debug
        self._sleep = sleep
        self._read_attempts = max(1, read_attempts)
        self._wait_budget = wait_budget
        self._clock = clock
        self._links = LinkMap(home) if home else None
        self._warn = warn or self._log
        self.calls = 0

    @property
    def clock(self) -> Callable[[], float]:
        """The run's clock (seconds), for what paces itself beside the requests (`kubewatch`, `subscribe`)."""
        return self._clock

    @property
    def sleep(self) -> Callable[[float], None]:
        """The run's sleeper (a signal cuts it short), for what paces itself beside the requests."""
        return self._sleep

    @property
    def _session(self) -> requests.Session:
        """This thread's requests.Session, made on its first request."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._new_session()
            with self._lock:
                self._sessions.append(session)
        return session

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Accept"] = "application/json"
        session.headers["User-Agent"] = f"rancher-deploy/{__version__}"
        # Credentials go in as `auth`, never as a bare header: with no `auth`, requests takes one from
        # ~/.netrc for the host (Session.prepare_request, requests/sessions.py), which would replace
        # the token the settings chose with whatever an unrelated .netrc holds.
        credentials = self._credentials
        if credentials.token:
            session.auth = _Bearer(credentials.token)
        elif credentials.access_key and credentials.secret_key:
            session.auth = (credentials.access_key, credentials.secret_key)
        # Rancher answers 401 with a Basic challenge unless told not to; we never want a prompt.
        session.headers["X-API-No-Challenge"] = "true"
        return session

    def on_close(self, action: Callable[[], None]) -> None:
        """Have `close` call `action` first (it must raise nothing): what was opened through this
        session for the whole run, such as the event streams of 1.x (`subscribe.CattleEvents`)."""
        with self._lock:
            self._closing.append(action)

    def close(self) -> None:
        """Hang up what the run opened (`on_close`), then its connections; the end of the run."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
            closing, self._closing = self._closing, []
        for action in closing:
            action()
        for session in sessions:
            session.close()

    def get(self, url: str, params: Mapping[str, Any] | None = None, *, what: str) -> JSON:
        """GET a resource or collection, retrying transient failures with backoff (0.5 s, 1 s, 2 s, ...).

        A 429 that says when to come back (`Retry-After`, RFC 9110 §10.2.3) is waited for instead of
        the backoff, but never past the wait budget (`wait_budget` seconds, RANCHER_TIMEOUT, from the
        first try of this read): once that is spent, the 429 is raised.
        """
        return self._read(lambda: self._request("GET", url, what=what, params=params), what)

    def probe(self, url: str, *, what: str, allow: Collection[int] = ()) -> Probe:
        """One GET that tells which Rancher answers, read like `get` (retried the same way).

        Unlike `get` it answers rather than raises for a 404, for a status in `allow`, for an error
        that carries cattle's version header (a Rancher 1.x said so, whatever it refused; not one
        to retry), and for a 2xx that is not JSON (Rancher 1.x serves its UI's page for any path
        outside its API versions); every other failure raises what `get` raises.
        """
        return self._read(lambda: self._probe_once(url, what, frozenset({404, *allow})), what)

    def _read(self, attempt: Callable[[], _Read], what: str) -> _Read:
        started = self._clock()
        for number, delay in enumerate(backoff(), start=1):
            try:
                return attempt()
            except TransientRancherError as error:
                if number >= self._read_attempts:
                    raise
                asked = ""
                if error.retry_after is not None:
                    left = self._wait_budget - (self._clock() - started)
                    if left <= 0:
                        raise
                    delay, asked = min(error.retry_after, left), f"Rancher asked to wait {error.retry_after:g}s; "
                self._log(f"{what}: {error}; {asked}retrying in {delay:g}s "
                          f"(attempt {number + 1} of {self._read_attempts})")
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def get_all(self, url: str, params: Mapping[str, Any] | None = None, *, what: str) -> list[JSON]:
        """Every item of a collection: its `data`, page after page, following `pagination.next`.

        Rancher pages every collection (1.x: 100 items unless `limit` says otherwise, the next page
        at `marker=m<offset>`, rancher-api.md §1.3; v3: 1000 sorted by id, the next page at
        `marker=<id>`, norman parse/collection.go), so the first page is not the list.
        Each page is a `get` (retried like any read); a `next` already followed ends the walk.
        """
        items: list[JSON] = []
        followed: set[str] = set()
        page = self.get(url, params=params, what=what)
        while True:
            items += [item for item in page.get("data") or [] if isinstance(item, dict)]
            following = (page.get("pagination") or {}).get("next")
            if not isinstance(following, str) or not following or following in followed or len(followed) >= MAX_PAGES:
                return items
            followed.add(following)
            page = self.get(following, what=what)

    def get_optional(self, url: str, *, what: str) -> JSON | None:
        """GET that answers None for 404, for probing which API a server offers."""
        try:
            return self.get(url, what=what)
        except RancherAPIError as error:
            if error.status == 404:
                return None
            raise

    def post(self, url: str, body: Mapping[str, Any] | None = None, *, params: Mapping[str, str] | None = None,
             what: str) -> JSON:
        """POST once (actions are not idempotent); the caller re-reads state if this fails."""
        return self._request("POST", url, what=what, params=params, body=body or {})

    def put(self, url: str, body: Mapping[str, Any], *, what: str) -> JSON:
        return self._request("PUT", url, what=what, body=body)

    def patch(self, url: str, body: Any, *, content_type: str, what: str) -> JSON:
        """PATCH with an explicit patch type: Kubernetes rejects a plain application/json patch."""
        return self._request("PATCH", url, what=what, body=body, content_type=content_type)

    def delete(self, url: str, *, what: str) -> JSON:
        """DELETE once; the caller decides what a 404 (already gone) means."""
        return self._request("DELETE", url, what=what)

    def _request(self, method: str, url: str, *, what: str, **sent: Any) -> JSON:
        """`_send` (`sent`: its params, body, content_type), then the answer as JSON or the error it is."""
        response = self._send(method, url, what=what, **sent)
        payload = self._json(response)
        if response.status_code >= 400:
            raise self._failure(response, payload, method, what)
        if payload is None and not response.content.strip():
            return {}  # Rancher 2.x actions (redeploy, rollback) answer 200 with an empty body
        if payload is None:
            raise NotRancher(
                f"{what} failed: {self._host(url)} answered HTTP {response.status_code} without JSON; "
                "is CATTLE_URL the Rancher API?"
            )
        if method == "GET":
            self._learn(url, payload)
        return payload

    def _probe_once(self, url: str, what: str, allow: frozenset[int]) -> Probe:
        response = self._send("GET", url, what=what)
        payload = self._json(response)
        cattle = response.headers.get(CATTLE_VERSION) or None
        status = response.status_code
        if status >= 400 and status not in allow and (cattle is None or status in RETRYABLE_STATUSES):
            raise self._failure(response, payload, "GET", what)
        if status >= 400:
            return Probe(status, None, cattle)
        if payload is not None:
            self._learn(url, payload)
        return Probe(status, payload, cattle)

    def _send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> requests.Response:
        """One request, counted and logged; the errors of no answer (or of a redirect) raised as ours."""
        url = self._place(url, what)
        with self._lock:
            self.calls += 1
        self._log(f"{method} {url}" + (f" {dict(params)}" if params else ""))
        try:
            response = self._session.request(
                method, url, params=params, timeout=self._timeout, allow_redirects=False,
                **_body_arguments(body, content_type),
                verify=self._verify,
            )
        except requests.exceptions.SSLError as error:
            raise self._tls_failure(error, url, what=what) from None
        except requests.exceptions.Timeout:
            raise RequestTimedOut(
                f"{what} failed: {self._host(url)} did not answer within {self._timeout:g}s "
                "(RANCHER_REQUEST_TIMEOUT)"
            ) from None
        except requests.exceptions.ConnectionError as error:
            raise TransientRancherError(
                f"{what} failed: cannot connect to {self._host(url)} ({self._reason(error)})"
            ) from None
        except requests.exceptions.RequestException as error:
            raise RancherUnreachable(f"{what} failed: {self._redact(type(error).__name__)}") from None
        self._log(f"  -> HTTP {response.status_code}")
        if response.is_redirect:
            # A redirect would drop the body of a POST (th0th/rancher-redeploy-workload#2): say where to.
            location = self._redact(response.headers.get("Location", "?"))
            raise NotRancher(
                f"{what} failed: {self._host(url)} redirects to {location}; set CATTLE_URL to that address"
            )
        return response

    def _failure(self, response: requests.Response, payload: JSON | None, method: str, what: str) -> DeployError:
        """The error for an answer of 400 or more: transient for a read Rancher may answer later, else
        Rancher's own error (its words redacted; a 401 naming the settings that hold the credentials)."""
        status = response.status_code
        retry_after = retry_after_of(response) if status == 429 else None
        if status in RETRYABLE_STATUSES and method == "GET":
            transient = self._transient(what, status, payload)
            transient.retry_after = retry_after
            return transient
        api_error = self._refusal(what, status, payload)
        api_error.retry_after = retry_after
        return api_error

    def open_stream(self, url: str, params: Mapping[str, Any] | None = None, *, what: str,
                    silence: float | None = None) -> requests.Response:
        """GET a response that streams (a Kubernetes watch): answered once the headers are in, the body
        read later by the caller (`streams.Feed`), whose read fails after `silence` seconds without
        data (None: never). Counted as one request. Raises what `_request` raises for an answer that
        is an error, and TransientRancherError when no answer came."""
        url = self._place(url, what)
        with self._lock:
            self.calls += 1
        self._log(f"GET {url} {dict(params or {})} (stream)")
        try:
            response = self._session.get(url, params=params, timeout=(self._timeout, silence), stream=True,
                                         allow_redirects=False, verify=self._verify)
        except requests.exceptions.SSLError as error:
            raise self._tls_failure(error, url, what=what) from None
        except requests.exceptions.RequestException as error:
            raise TransientRancherError(f"{what} failed: {self._reason(error)}") from None
        if response.status_code >= 400 or response.is_redirect:
            payload = self._json(response)
            response.close()
            if response.status_code in RETRYABLE_STATUSES or response.is_redirect:
                raise self._transient(what, response.status_code, payload)
            raise self._refusal(what, response.status_code, payload)
        return response

    def open_websocket(self, url: str, params: Mapping[str, str], *, what: str) -> Any:
        """Open a websocket to `url` (a subscribe stream) with what every request carries: the
        credentials (never logged), TLS verified against the same CA (or not, RANCHER_INSECURE),
        the link rebased and held to the configured origin, ws:// or wss:// as the URL's scheme is
        http or https. Returns the connected `websocket.WebSocket`; counted as one request.

        Raises what `_request` raises for an answer other than 101 (a refusal, read from its body;
        409/429/5xx and a redirect, which is never followed, as TransientRancherError), TLS failures
        as `_request` words them, RequestTimedOut, and TransientRancherError when no answer came.
        """
        import websocket  # here, not at the top: only a wait that streams needs it (start-up stays light)

        url = self._place(url, what)
        with self._lock:
            self.calls += 1
        query = urlencode(dict(params))
        self._log(f"GET {url}?{query} (websocket)")
        address = ("wss" if url.startswith("https:") else "ws") + url[url.index(":"):] + f"?{query}"
        header = {"User-Agent": f"rancher-deploy/{__version__}", "Accept": "application/json",
                  "X-API-No-Challenge": "true", **self._authorization()}
        if self._verify is False:
            sslopt: dict[str, Any] = {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
        else:
            sslopt = {"cert_reqs": ssl.CERT_REQUIRED, ("ca_cert_path" if os.path.isdir(self._verify) else "ca_certs"):
                      self._verify}
        try:
            # No Origin (a browser's header; gorilla, behind norman's subscribe, refuses one for another
            # host), and no redirect followed: it would carry the credentials elsewhere. UTF-8 is checked
            # by the JSON decoding of each message: websocket-client's own check is pure Python, byte by
            # byte, and every subscriber gets every event of the environment.
            return websocket.create_connection(address, timeout=self._timeout, header=header, sslopt=sslopt,
                                               suppress_origin=True, redirect_limit=0, enable_multithread=True,
                                               skip_utf8_validation=True)
        except websocket.WebSocketBadStatusException as refused:
            status = int(refused.status_code)
            try:
                body = json.loads(refused.resp_body or b"")
            except ValueError:
                body = None
            payload = body if isinstance(body, dict) else None
            if status in RETRYABLE_STATUSES or 300 <= status < 400:
                raise self._transient(what, status, payload) from None
            raise self._refusal(what, status, payload) from None
        except ssl.SSLError as error:
            raise self._tls_failure(error, url, what=what) from None
        except (TimeoutError, websocket.WebSocketTimeoutException):
            raise RequestTimedOut(f"{what} failed: {self._host(url)} did not answer within {self._timeout:g}s "
                                  "(RANCHER_REQUEST_TIMEOUT)") from None
        except (OSError, websocket.WebSocketException) as error:
            raise TransientRancherError(f"{what} failed: cannot connect to {self._host(url)} "
                                        f"({self._reason(error)})") from None

    def _transient(self, what: str, status: int, payload: JSON | None) -> TransientRancherError:
        """An answer that says "try again" (5xx, 429, 409, a redirect), worded as every answer is, redacted."""
        return TransientRancherError(self._redact(answered(what, status, payload)))

    def _refusal(self, what: str, status: int, payload: JSON | None) -> RancherAPIError:
        """Rancher's error answer as the error family's own, redacted; a 401 names the settings that
        hold what Rancher refused (never their values)."""
        api_error = RancherAPIError.from_body(what, status, payload)
        api_error.message = self._redact(api_error.message)
        if isinstance(api_error, AuthenticationFailed):
            api_error.message += f"; Rancher refused the credentials: check {self._credential_settings}"
        return api_error

    def _authorization(self) -> dict[str, str]:
        """The Authorization header the session's `auth` sends, for a request requests does not make."""
        credentials = self._credentials
        if credentials.token:
            return {"Authorization": f"Bearer {credentials.token}"}
        if credentials.access_key and credentials.secret_key:
            pair = f"{credentials.access_key}:{credentials.secret_key}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
        return {}

    def _place(self, url: str, what: str) -> str:
        """Where to send a request for `url` (a link rebased onto home); refused if elsewhere."""
        if self._links is None:
            self._links = LinkMap(url)
        placed = self._links.place(url)
        if not self._links.at_home(placed):
            # Checked before sending: the credentials must never go to another scheme or origin.
            raise NotRancher(self._redact(
                f"{what} failed: Rancher sent a link to {show_origin(placed)}, not to "
                f"{show_origin(self._links.home)} where CATTLE_URL points, and nothing was sent there. Rancher "
                "builds its links from the headers of the proxy in front of it: set X-Forwarded-Proto (and "
                "X-Forwarded-Host, X-Forwarded-Port) there"))
        return placed

    def _learn(self, url: str, payload: JSON) -> None:
        """Learn where Rancher believes it lives from the self link of what `url` answered."""
        links = payload.get("links")
        answered = links.get("self") if isinstance(links, dict) else None
        if self._links is None or not isinstance(answered, str):
            return
        learnt = self._links.learn(url, answered)
        if learnt is not self._links:
            self._links = learnt
            rebase = learnt.rebases[0]
            self._warn(self._redact(
                f"Rancher builds its links on {rebase.theirs}, not on {rebase.ours} where CATTLE_URL points; "
                f"they are followed at {rebase.ours} instead. The proxy in front of Rancher should pass "
                "X-Forwarded-Proto (and X-Forwarded-Host, X-Forwarded-Port; X-API-URL-Prefix for a path on 2.x)"))

    def _json(self, response: requests.Response) -> JSON | None:
        try:
            payload = response.json()
        except ValueError:
            return None
        return payload if isinstance(payload, dict) else None

    def _host(self, url: str) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        return self._redact(f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else ""))

    def _tls_failure(self, error: Exception, url: str, *, what: str) -> DeployError:
        """Why no TLS session came about, worded for what fixes it.

        A certificate that failed verification (ssl.SSLCertVerificationError, with OpenSSL's
        X509_V_ERR code) gets the CA-bundle hint only where a bundle can help, and is told apart when
        the bundle the user gave is the one that does not sign it. A handshake that met no TLS at all
        (an https:// URL for a port that answers plain HTTP) asks whether the address speaks https.
        Both exit 2. The connection closing mid-handshake may pass, so it is a transient error.
        """
        from urllib.parse import urlsplit

        host = self._host(url)
        cause = ssl_cause(error)
        skip = "(or `RANCHER_INSECURE=true` to skip the check)"
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = self._redact(str(cause.verify_message or cause.reason or "no reason given")).rstrip(".")
            failed = f"{what} failed: the TLS certificate of {host}"
            if cause.verify_code in NAME_MISMATCH:
                return CertificateNotTrusted(f"{failed} is not valid for that address ({reason}); use a name the "
                                             f"certificate was issued for in CATTLE_URL {skip}")
            if cause.verify_code not in UNTRUSTED_ISSUER:
                return CertificateNotTrusted(f"{failed} could not be verified ({reason}); another CA bundle will "
                                             f"not change that: the certificate itself needs fixing {skip}")
            if self._ca_given:
                return CertificateNotTrusted(f"{failed} could not be verified ({reason}): the CA bundle given in "
                                             "RANCHER_CA_BUNDLE does not sign it; set RANCHER_CA_BUNDLE to the PEM "
                                             f"file of the CA that does {skip}")
            return CertificateNotTrusted(f"{failed} could not be verified ({reason}); set RANCHER_CA_BUNDLE to "
                                         f"the CA's PEM file {skip}")
        if isinstance(cause, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return TransientRancherError(f"{what} failed: {host} closed the connection during the TLS handshake")
        reason = str(getattr(cause, "reason", None) or "")
        if reason in NO_CERTIFICATE:
            return TLSFailed(f"{what} failed: the CA bundle given in RANCHER_CA_BUNDLE holds no certificate OpenSSL "
                             f"can read ({reason}); it must be PEM text (-----BEGIN CERTIFICATE-----)")
        if reason in NOT_TLS:
            plain = self._redact(f"http://{urlsplit(url).netloc.rpartition('@')[2]}")
            return TLSFailed(f"{what} failed: {host} did not answer in TLS ({reason}); does that address speak "
                             f"https? If it serves plain HTTP, set CATTLE_URL to {plain}")
        return TLSFailed(f"{what} failed: the TLS handshake with {host} failed ({self._redact(reason or type(cause).__name__)})")

    def _reason(self, error: Exception) -> str:
        text = str(error)
        reasons = {
            "Connection refused": "connection refused",
            "Name or service not known": "unknown host name",
            "Temporary failure in name resolution": "host name lookup failed",
            "Connection reset": "connection reset",
            "RemoteDisconnected": "connection closed without an answer",
            "Connection aborted": "connection aborted",
            "timed out": "timed out",
        }
        for marker, reason in reasons.items():
            if marker in text:
                return reason
        return "connection failed"

    def _log(self, message: str) -> None:
        if self._debug is not None:
            self._debug(self._redact(message))


def retry_after_of(response: requests.Response) -> float | None:
    """Seconds a response's `Retry-After` asks to wait: delay-seconds or an HTTP-date (RFC 9110
    §10.2.3); None when it is absent or unreadable, 0 for a date already past."""
    value = (response.headers.get("Retry-After") or "").strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


def _body_arguments(body: Any, content_type: str | None) -> dict[str, Any]:
    if body is None:
        return {}
    if content_type is None:
        return {"json": body}
    return {"data": json.dumps(body).encode(), "headers": {"Content-Type": content_type}}


class _Bearer(requests.auth.AuthBase):
    """`Authorization: Bearer token-xxxxx:secret`, the form Rancher 2.x API tokens take."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request
