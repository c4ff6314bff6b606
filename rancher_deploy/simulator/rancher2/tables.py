"""Server-side printing: the meta.k8s.io ``Table`` the apiserver answers when a client asks for one.

`kubectl get` sends ``Accept: application/json;as=Table;v=v1;g=meta.k8s.io, ...,application/json``
(kubectl pkg/cmd/get/get.go transformRequests) and prints the server's columns. The columns per
kind follow kubernetes pkg/printers/internalversion/printers.go (``deploymentColumnDefinitions``
and its siblings); ages are apimachinery's ``duration.HumanDuration``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from rancher_deploy.simulator.rancher2.workloads.objects import JSON

Cells = Callable[[JSON, float], list[Any]]
Column = tuple[str, str, int]  # name, type, priority (1: only with -o wide)

TABLE_GROUP = "meta.k8s.io"


def wants_table(accept: str) -> str | None:
    """The Table version an ``Accept`` header asks for first (``v1`` or ``v1beta1``), or None."""
    for media_range in accept.split(","):
        kind, *params = (part.strip() for part in media_range.split(";"))
        values = dict(p.split("=", 1) for p in params if "=" in p)
        if kind in ("application/json", "*/*") and values.get("as") == "Table" and values.get("g") == TABLE_GROUP \
                and values.get("v") in ("v1", "v1beta1"):
            return values["v"]
    return None


def human_duration(seconds: float) -> str:
    """apimachinery pkg/util/duration HumanDuration: "45s", "3m20s", "5h", "12d"."""
    if seconds < -1:
        return "<invalid>"
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    years, days = hours // (24 * 365), (hours // 24) % 365
    if hours < 24 * 365 * 8:
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{years}y"


def _age(obj: JSON, now: float) -> str:
    stamp = (obj.get("metadata") or {}).get("creationTimestamp")
    if not stamp:
        return "<unknown>"
    return human_duration(now - _stamp(stamp))


def _template_spec(obj: JSON) -> JSON:
    spec = obj.get("spec") or {}
    if "jobTemplate" in spec:
        spec = (spec["jobTemplate"].get("spec") or {})
    return dict((spec.get("template") or {}).get("spec") or {})


def _containers(obj: JSON) -> list[str]:
    containers = _template_spec(obj).get("containers") or []
    return [",".join(str(c.get("name")) for c in containers), ",".join(str(c.get("image")) for c in containers)]


def _selector(obj: JSON) -> str:
    labels = (((obj.get("spec") or {}).get("selector") or {}).get("matchLabels")) or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"


def _deployment(obj: JSON, now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0), _age(obj, now), *_containers(obj), _selector(obj)]


def _statefulset(obj: JSON, now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}", _age(obj, now), *_containers(obj)]


def _daemonset(obj: JSON, now: float) -> list[Any]:
    status = obj.get("status") or {}
    selector = ",".join(f"{k}={v}" for k, v in sorted((_template_spec(obj).get("nodeSelector") or {}).items()))
    return [status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0), status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            selector or "<none>", _age(obj, now), *_containers(obj), _selector(obj)]


def _replicaset(obj: JSON, now: float) -> list[Any]:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [spec.get("replicas", 0), status.get("replicas", 0), status.get("readyReplicas", 0), _age(obj, now),
            *_containers(obj), _selector(obj)]


def _cronjob(obj: JSON, now: float) -> list[Any]:
    spec = obj.get("spec") or {}
    return [spec.get("schedule", ""), str(bool(spec.get("suspend"))), 0, "<none>", _age(obj, now),
            *_containers(obj), "<none>"]


def _stamp(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def _job(obj: JSON, now: float) -> list[Any]:
    """printers.go printJob (before the Status column of Kubernetes 1.30): "succeeded/completions"
    ("/1 of <parallelism>" without completions), and the run's duration so far or in all."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    succeeded = status.get("succeeded", 0)
    if spec.get("completions") is not None:
        completions = f"{succeeded}/{spec['completions']}"
    elif (spec.get("parallelism") or 0) > 1:
        completions = f"{succeeded}/1 of {spec['parallelism']}"
    else:
        completions = f"{succeeded}/1"
    duration = ""
    if status.get("startTime"):
        end = _stamp(status["completionTime"]) if status.get("completionTime") else now
        duration = human_duration(end - _stamp(status["startTime"]))
    return [completions, duration, _age(obj, now), *_containers(obj), _selector(obj)]


def _controllerrevision(obj: JSON, now: float) -> list[Any]:
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    owner = next((o for o in owners if o.get("controller")), None)
    controller = f"{owner['kind'].lower()}.apps/{owner['name']}" if owner else "<none>"
    return [controller, obj.get("revision", 0), _age(obj, now)]


def _namespace(obj: JSON, now: float) -> list[Any]:
    return [(obj.get("status") or {}).get("phase", "Active"), _age(obj, now)]


def _pod(obj: JSON, now: float) -> list[Any]:
    statuses = (obj.get("status") or {}).get("containerStatuses") or []
    ready = sum(1 for s in statuses if s.get("ready"))
    reason = (obj.get("status") or {}).get("phase", "Pending")
    for s in statuses:
        waiting = (s.get("state") or {}).get("waiting")
        if waiting:
            reason = waiting.get("reason", reason)
    total = len((obj.get("spec") or {}).get("containers") or [])
    return [f"{ready}/{total}", reason, sum(int(s.get("restartCount", 0)) for s in statuses), _age(obj, now),
            "<none>", (obj.get("spec") or {}).get("nodeName") or "<none>", "<none>", "<none>"]


_WIDE: tuple[Column, ...] = (("Containers", "string", 1), ("Images", "string", 1))
COLUMNS: dict[str, tuple[tuple[Column, ...], Cells]] = {
    "deployments": ((("Ready", "string", 0), ("Up-to-date", "integer", 0), ("Available", "integer", 0),
                     ("Age", "string", 0), *_WIDE, ("Selector", "string", 1)), _deployment),
    "statefulsets": ((("Ready", "string", 0), ("Age", "string", 0), *_WIDE), _statefulset),
    "daemonsets": ((("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0),
                    ("Up-to-date", "integer", 0), ("Available", "integer", 0), ("Node Selector", "string", 0),
                    ("Age", "string", 0), *_WIDE, ("Selector", "string", 1)), _daemonset),
    "replicasets": ((("Desired", "integer", 0), ("Current", "integer", 0), ("Ready", "integer", 0),
                     ("Age", "string", 0), *_WIDE, ("Selector", "string", 1)), _replicaset),
    "cronjobs": ((("Schedule", "string", 0), ("Suspend", "boolean", 0), ("Active", "integer", 0),
                  ("Last Schedule", "string", 0), ("Age", "string", 0), *_WIDE, ("Selector", "string", 1)), _cronjob),
    "jobs": ((("Completions", "string", 0), ("Duration", "string", 0), ("Age", "string", 0), *_WIDE,
              ("Selector", "string", 1)), _job),
    "controllerrevisions": ((("Controller", "string", 0), ("Revision", "integer", 0), ("Age", "string", 0)),
                            _controllerrevision),
    "namespaces": ((("Status", "string", 0), ("Age", "string", 0)), _namespace),
    "pods": ((("Ready", "string", 0), ("Status", "string", 0), ("Restarts", "integer", 0), ("Age", "string", 0),
              ("IP", "string", 1), ("Node", "string", 1), ("Nominated Node", "string", 1),
              ("Readiness Gates", "string", 1)), _pod),
}


def table(plural: str, items: list[JSON], list_meta: JSON, version: str, include: str, now: float, *,
          headers: bool = True) -> JSON:
    """A Table of ``items`` (objects of resource ``plural``) as the apiserver's TableConvertor builds it.

    ``include`` is the ``includeObject`` parameter: ``Metadata`` (default), ``Object`` or ``None``;
    ``now`` is the wall-clock time the ages are counted to. Without ``headers`` (a watch's events after
    its first: TableOptions.NoHeaders) ``columnDefinitions`` is null, as the printers leave it.
    """
    columns, cells = COLUMNS[plural]
    definitions: list[JSON] | None = None
    if headers:
        definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
        definitions += [{"name": name, "type": kind, "format": "", "description": name, "priority": priority}
                        for name, kind, priority in columns]
    rows = []
    for obj in items:
        row: JSON = {"cells": [obj["metadata"]["name"], *cells(obj, now)]}
        if include == "Object":
            row["object"] = obj
        elif include != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": f"{TABLE_GROUP}/v1",
                             "metadata": obj["metadata"]}
        rows.append(row)
    return {"kind": "Table", "apiVersion": f"{TABLE_GROUP}/{version}", "metadata": list_meta,
            "columnDefinitions": definitions, "rows": rows}
