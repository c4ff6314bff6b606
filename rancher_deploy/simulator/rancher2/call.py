"""Rancher 2.x request plumbing shared by every 2.x surface: the authenticated call handlers take.

Rancher 2.x authenticates one API key everywhere (v3, Steve, the Kubernetes proxy): HTTP Basic
with the access key as user, or ``Authorization: Bearer <access>:<secret>`` (rancher-api.md §5.1;
rancher/rancher pkg/auth/tokens/token_util.go GetTokenAuthFromRequest).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from rancher_deploy.simulator.rancher2.cluster import Cluster
from rancher_deploy.simulator.rancher2.errors import KubeError, NormanError
from rancher_deploy.simulator.wire import HttpRequest


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

    def norman_body(self) -> dict[str, Any]:
        """A v3 create or update body as norman reads it (parse/read_input.go ReadBody decodes into a
        map): empty is 422 "Failed to parse body: EOF", JSON of another shape is Go's unmarshal error."""
        if not self.http.body.strip():
            raise NormanError(422, "InvalidBodyContent", "Failed to parse body: EOF")
        try:
            body = json.loads(self.http.body)
        except ValueError:
            raise NormanError(422, "InvalidBodyContent", "Failed to parse body: invalid character in JSON") from None
        if not isinstance(body, dict):
            shape = {list: "array", str: "string", bool: "bool"}.get(type(body), "number")
            raise NormanError(422, "InvalidBodyContent", f"Failed to parse body: json: cannot unmarshal {shape} "
                                                         "into Go value of type map[string]interface {}")
        return body

    @property
    def root(self) -> str:
        return self.http.root
