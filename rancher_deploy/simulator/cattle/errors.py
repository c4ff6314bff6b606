"""Rancher 1.x error bodies: the one exception the simulator raises for every API failure."""

from __future__ import annotations

import uuid
from typing import Any

from rancher_deploy.simulator.wire import STATUS_TEXT


class ApiError(Exception):
    """An API failure carrying exactly what Rancher would put in the error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str | None = None,
        field_name: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {field_name or message}")
        self.status = status
        self.code = code
        self.message = message
        self.field_name = field_name
        self.detail = detail

    @classmethod
    def http(cls, status: int) -> ApiError:
        """A plain HTTP error: code and message both come from the status table."""
        text = STATUS_TEXT.get(status, "Error")
        return cls(status, text, text)

    @classmethod
    def validation(cls, code: str, field_name: str) -> ApiError:
        """A 422: Rancher puts the human text in fieldName and leaves message null (§3.1 quirk)."""
        return cls(422, code, None, field_name)

    def body(self) -> dict[str, Any]:
        """The JSON document Rancher 1.6 sends; fieldName only on validation errors."""
        doc: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "type": "error",
            "links": {},
            "actions": {},
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "detail": self.detail,
        }
        if self.field_name is not None:
            doc["fieldName"] = self.field_name
        doc["baseType"] = "error"
        return doc


def not_found() -> ApiError:
    return ApiError.http(404)


def forbidden() -> ApiError:
    return ApiError.http(403)


def unauthorized() -> ApiError:
    return ApiError.http(401)


def method_not_allowed() -> ApiError:
    return ApiError.http(405)
