"""RancherSession: the one place that talks HTTP to Rancher, and turns its failures into DeployErrors.

Reads are retried with a bounded backoff because a network blip mid-poll was the most reported
failure of older tools (cdrx/rancher-gitlab-deploy#20, #33). Writes (actions, PUT) are never
repeated here: a POST that may or may not have reached Rancher is the caller's to re-check by
reading the state again. Every request has a timeout, TLS is verified unless told otherwise, and
nothing that could carry a secret reaches an error message unredacted.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import requests

from rancher_deploy import __version__
from rancher_deploy.errors import (
    AuthenticationFailed,
    CertificateNotTrusted,
    NotRancher,
    RancherAPIError,
    RancherUnreachable,
    RequestTimedOut,
    TransientRancherError,
)
from rancher_deploy.links import LinkMap, show_origin
from rancher_deploy.redact import Redactor
from rancher_deploy.timing import backoff

JSON = dict[str, Any]
# Statuses that say "try again" rather than "you asked for something wrong".
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
READ_ATTEMPTS = 4
# A collection longer than this many pages is a server that keeps sending the same `next`.
MAX_PAGES = 10_000


@dataclass(frozen=True)
class Credentials:
    """Either an access/secret key pair (basic auth) or a Rancher 2.x bearer token."""

    access_key: str | None = None
    secret_key: str | None = None
    token: str | None = None


class RancherSession:
    """One `requests.Session` with auth, TLS policy, timeouts, read retries and a call counter."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        verify: bool | str = True,
        request_timeout: float = 30.0,
        redactor: Redactor | None = None,
        debug: Callable[[str], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        read_attempts: int = READ_ATTEMPTS,
        credential_names: str | None = None,
        home: str | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        """`home` is the configured URL: no request goes to another scheme, host or port, and
        Rancher's links are rebased onto it (`links`); without it, the first URL requested is home."""
        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"
        self._session.headers["User-Agent"] = f"rancher-deploy/{__version__}"
        if credentials.token:
            self._session.headers["Authorization"] = f"Bearer {credentials.token}"
        elif credentials.access_key and credentials.secret_key:
            self._session.auth = (credentials.access_key, credentials.secret_key)
        # Rancher answers 401 with a Basic challenge unless told not to; we never want a prompt.
        self._session.headers["X-API-No-Challenge"] = "true"
        # Passed on every request: a session-level value would lose to REQUESTS_CA_BUNDLE in requests.
        self._verify = verify
        self._timeout = request_timeout
        self._redact = redactor or Redactor(credentials.secret_key, credentials.token)
        # A 401 names the settings that hold what Rancher refused (never their values), the way the
        # caller says the user set them (`credential_names`), else by their variables.
        self._credential_settings = credential_names or (
            "RANCHER_TOKEN" if credentials.token else "CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY")
        self._debug = debug
        self._sleep = sleep
        self._read_attempts = max(1, read_attempts)
        self._links = LinkMap(home) if home else None
        self._warn = warn or self._log
        self.calls = 0

    def close(self) -> None:
        self._session.close()

    def get(self, url: str, params: Mapping[str, Any] | None = None, *, what: str) -> JSON:
        """GET a resource or collection, retrying transient failures with backoff (0.5 s, 1 s, 2 s, ...)."""
        for attempt, delay in enumerate(backoff(), start=1):
            try:
                return self._request("GET", url, what=what, params=params)
            except TransientRancherError as error:
                if attempt >= self._read_attempts:
                    raise
                self._log(f"{what}: {error}; retrying in {delay:g}s (attempt {attempt + 1} of {self._read_attempts})")
                self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def get_all(self, url: str, params: Mapping[str, Any] | None = None, *, what: str) -> list[JSON]:
        """Every item of a collection: its `data`, page after page, following `pagination.next`.

        Rancher pages every collection (1.x: 100 items unless `limit` says otherwise, the next page
        at `marker=m<offset>`, rancher-api.md §1.3; v3: 1000), so the first page is not the list.
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

    def _request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> JSON:
        url = self._place(url, what)
        self.calls += 1
        self._log(f"{method} {url}" + (f" {dict(params)}" if params else ""))
        try:
            response = self._session.request(
                method, url, params=params, timeout=self._timeout, allow_redirects=False,
                **_body_arguments(body, content_type),
                verify=self._verify,
            )
        except requests.exceptions.SSLError:
            raise CertificateNotTrusted(
                f"{what} failed: the TLS certificate of {self._host(url)} could not be verified; "
                "set RANCHER_CA_BUNDLE to the CA's PEM file (or RANCHER_INSECURE=true to skip the check)"
            ) from None
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
        payload = self._json(response)
        if response.status_code >= 400:
            if response.status_code in TRANSIENT_STATUSES and method == "GET":
                raise TransientRancherError(f"{what} failed: HTTP {response.status_code} from Rancher")
            api_error = RancherAPIError.from_body(what, response.status_code, payload)
            api_error.message = self._redact(api_error.message)
            if isinstance(api_error, AuthenticationFailed):
                api_error.message += f"; Rancher refused the credentials: check {self._credential_settings}"
            raise api_error
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


def _body_arguments(body: Any, content_type: str | None) -> dict[str, Any]:
    if body is None:
        return {}
    if content_type is None:
        return {"json": body}
    return {"data": json.dumps(body).encode(), "headers": {"Content-Type": content_type}}
