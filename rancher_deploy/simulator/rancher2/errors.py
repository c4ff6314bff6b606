"""Rancher 2.x failures and their bodies: Norman's for v3 (§5.6), the apiserver's for Steve, ``Status`` for the proxy (§6)."""

from __future__ import annotations

from typing import Any

from rancher_deploy.simulator.wire import Response

JSON = dict[str, Any]


class KubeError(Exception):
    """A Kubernetes API failure; each API surface renders it in its own error body."""

    def __init__(self, status: int, reason: str, message: str, details: JSON | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.details = details  # the Status body's ``details`` (name, group, kind, causes), if any


def not_found(kind: str, name: str) -> KubeError:
    resource = {"Deployment": "deployments.apps", "StatefulSet": "statefulsets.apps",
                "DaemonSet": "daemonsets.apps", "CronJob": "cronjobs.batch",
                "ReplicaSet": "replicasets.apps", "ControllerRevision": "controllerrevisions.apps",
                "Namespace": "namespaces", "Pod": "pods"}.get(kind, kind.lower())
    return KubeError(404, "NotFound", f'{resource} "{name}" not found')



# Norman error codes by status, for errors that carry no more specific code (httperror/error.go).
NORMAN_CODES: dict[int, str] = {
    400: "InvalidBodyContent",
    401: "Unauthorized",
    403: "PermissionDenied",
    404: "NotFound",
    405: "MethodNotAllow",
    409: "Conflict",
    415: "InvalidBodyContent",
    422: "InvalidFormat",
    500: "ServerError",
    503: "ClusterUnavailable",
}



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
        if err.reason == "BadRequest":
            # A body that is not JSON: norman's parse.ReadBody answers InvalidBodyContent, which is a
            # 422 in norman's table (httperror/error.go), not the 400 Kubernetes would send.
            return cls(422, "InvalidBodyContent", f"Failed to parse body: {err.message}")
        # norman store/proxy/error_wrapper.go translateError: a Kubernetes failure keeps its reason as
        # the code (`Invalid`, `AlreadyExists`, `Conflict`, ...).
        code = {"NotFound": "NotFound", "AlreadyExists": "AlreadyExists", "Conflict": "Conflict",
                "Invalid": "Invalid", "BadRequest": "InvalidBodyContent"}.get(err.reason)
        return cls(err.status, code or NORMAN_CODES.get(err.status, "ServerError"), err.message)

    def body(self) -> JSON:
        doc: JSON = {"baseType": "error", "type": "error", "status": self.status, "code": self.code, "message": self.message}
        if self.field_name is not None:
            doc["fieldName"] = self.field_name
        return doc



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
    details = details or err.details
    if details:
        doc["details"] = details
    return doc


def steve_error(err: KubeError) -> JSON:
    """rancher/apiserver's error body: the Kubernetes reason becomes the code."""
    return {"type": "error", "status": err.status, "code": err.reason, "message": err.message}


def unauthorized() -> Response:
    # Observed on 2.x up to v2.11 (§5.6): status as a string, no code field.
    return Response(401, {"type": "error", "status": "401", "message": "Unauthorized 401: must authenticate"})
