"""Rancher 2.x request plumbing shared by every 2.x surface: the call object, auth, error bodies.

Rancher 2.x authenticates one API key everywhere (v3, Steve, the Kubernetes proxy): HTTP Basic
with the access key as user, or ``Authorization: Bearer <access>:<secret>`` (rancher-api.md §5.1;
rancher/rancher pkg/auth/tokens/token_util.go GetTokenAuthFromRequest). Each surface reports
failures in its own body: Norman's for v3 (§5.6), the apiserver's for Steve, ``Status`` for the
proxy (§6).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from rancher_deploy.simulator.rancher2.cluster import Cluster
from rancher_deploy.simulator.rancher2.kube import JSON, KubeError
from rancher_deploy.simulator.wire import STATUS_TEXT, HttpRequest, Response

# The release each simulated minor version reports (GET /rancherversion, X-Rancher-Version-ish).
RELEASES: dict[str, str] = {
    "2.4": "v2.4.18",
    "2.5": "v2.5.17",
    "2.6": "v2.6.14",
    "2.7": "v2.7.15",
    "2.8": "v2.8.5",
    "2.9": "v2.9.3",
}
GIT_COMMITS: dict[str, str] = {v: hashlib.sha1(r.encode()).hexdigest()[:9] for v, r in RELEASES.items()}
NORMAN_EXPIRES = "Wed 24 Feb 1982 18:42:00 GMT"  # norman api/writer/headers.go

# Norman error codes by status, for errors that carry no more specific code (httperror/error.go).
NORMAN_CODES: dict[int, str] = {
    400: "InvalidBodyContent",
    403: "PermissionDenied",
    404: "NotFound",
    405: "MethodNotAllow",
    409: "Conflict",
    415: "InvalidBodyContent",
    422: "InvalidFormat",
    500: "ServerError",
    503: "ClusterUnavailable",
}


def has_steve(version: str) -> bool:
    """Steve serves /v1 from Rancher 2.5 on (§7); before that /v1 is nothing."""
    major, minor = (int(x) for x in version.split(".")[:2])
    return (major, minor) >= (2, 5)


def reports_prime(version: str) -> bool:
    major, minor = (int(x) for x in version.split(".")[:2])
    return (major, minor) >= (2, 7)


class NormanError(Exception):
    """A v3 API failure with Norman's code and message."""

    def __init__(self, status: int, code: str, message: str, field_name: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field_name = field_name

    @classmethod
    def from_kube(cls, err: KubeError) -> NormanError:
        code = {"NotFound": "NotFound", "AlreadyExists": "AlreadyExists", "Conflict": "Conflict",
                "Invalid": "InvalidFormat", "BadRequest": "InvalidBodyContent"}.get(err.reason)
        return cls(err.status, code or NORMAN_CODES.get(err.status, "ServerError"), err.message)

    def body(self) -> JSON:
        doc: JSON = {"baseType": "error", "type": "error", "status": self.status, "code": self.code, "message": self.message}
        if self.field_name is not None:
            doc["fieldName"] = self.field_name
        return doc


def norman_error_body(status: int) -> JSON:
    return NormanError(status, NORMAN_CODES.get(status, STATUS_TEXT.get(status, "Error")), STATUS_TEXT.get(status, "Error")).body()


def kube_status(err: KubeError, details: JSON | None = None) -> JSON:
    """A Kubernetes ``Status`` failure object (apimachinery metav1.Status)."""
    doc: JSON = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": err.message,
        "reason": err.reason,
        "code": err.status,
    }
    if details:
        doc["details"] = details
    return doc


def steve_error(err: KubeError) -> JSON:
    """rancher/apiserver's error body: the Kubernetes reason becomes the code."""
    return {"type": "error", "status": err.status, "code": err.reason, "message": err.message}


def unauthorized() -> Response:
    # Observed on 2.x up to v2.11 (§5.6): status as a string, no code field.
    return Response(401, {"type": "error", "status": "401", "message": "Unauthorized 401: must authenticate"})


def credentials(headers: dict[str, str]) -> tuple[str | None, str | None]:
    """The API key from Basic auth, a Bearer token or the R_SESS cookie."""
    auth = headers.get("authorization", "").strip()
    scheme, _, value = auth.partition(" ")
    token = ""
    if scheme.lower() == "basic":
        raw = value.strip()
        for decode in (base64.urlsafe_b64decode, base64.b64decode):
            try:
                token = decode(raw + "=" * (-len(raw) % 4)).decode("utf-8")
                break
            except (binascii.Error, UnicodeDecodeError, ValueError):
                continue
    elif scheme.lower() == "bearer":
        token = value.strip()
    else:
        for part in headers.get("cookie", "").split(";"):
            name, _, cookie = part.strip().partition("=")
            if name == "R_SESS":
                token = cookie
    if ":" not in token:
        return None, None
    access, _, secret = token.partition(":")
    return access, secret


@dataclass(frozen=True)
class Call:
    """One authenticated 2.x request: what a handler needs."""

    http: HttpRequest
    cluster: Cluster
    version: str
    params: list[tuple[str, str]]
    match: dict[str, str]

    @staticmethod
    def params_of(query: str) -> list[tuple[str, str]]:
        return parse_qsl(query, keep_blank_values=True)

    def param(self, name: str) -> str | None:
        for key, value in self.params:
            if key == name:
                return value
        return None

    def body_json(self) -> Any:
        if not self.http.body.strip():
            return {}
        try:
            return json.loads(self.http.body)
        except ValueError:
            raise KubeError(400, "BadRequest", "the body of the request could not be decoded as JSON") from None

    @property
    def root(self) -> str:
        return self.http.root
