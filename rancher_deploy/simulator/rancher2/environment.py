"""A v3 container's environment, by release: Rancher's environment mapper (2.0-2.5), or Kubernetes'
own `env`/`envFrom` and the validator that refuses the old fields (2.6+).

Up to 2.5 the container mapper (rancher pkg/schemas/mapper/env.go EnvironmentMapper; rancher/types
mapper/env.go before 2.5) shows plain variables as an `environment` map and every other source as
`environmentFrom` entries `{source, sourceName, sourceKey, targetKey, ...}`, and rebuilds `env` and
`envFrom` from them on every write: the plain variables first, sorted by name, then the sourced ones
in order; an entry without `source` is dropped, and `optional` comes back `false` where it was unset.
Rancher 2.6.0 removed the mapper (commit 3eb274ff13): containers carry `env`/`envFrom`, and a body
with a non-empty `environment` or `environmentFrom` is refused (pkg/api/norman/customization/
workload/validator.go).
"""

from __future__ import annotations

import copy
from typing import Any

from rancher_deploy.simulator.rancher2.errors import NormanError
from rancher_deploy.simulator.rancher2.workloads.objects import JSON

SCHEMA = "/v3/project/schemas/environmentFrom"
DEPRECATED = {
    "environment": "field `environment` is deprecated, please use Kubernetes native field `env` for the "
                   "container's environment variables",
    "environmentFrom": "field `environmentFrom` is deprecated, please use Kubernetes native fields `env` and "
                       "`valueFrom` for the container's environment variables",
}


def to_v3(container: JSON) -> JSON:
    """EnvironmentMapper.FromInternal: `env`/`envFrom` of a Kubernetes container as v3 shows them."""
    out = {key: copy.deepcopy(value) for key, value in container.items() if key not in ("env", "envFrom")}
    plain: dict[str, Any] = {}
    sourced: list[JSON] = []
    for var in container.get("env") or []:
        source = var.get("valueFrom")
        if source is None:
            plain[str(var.get("name"))] = var.get("value", "")
            continue
        name = var.get("name")
        if "fieldRef" in source:
            sourced.append({"source": "field", "sourceName": source["fieldRef"].get("fieldPath"), "targetKey": name})
        if "resourceFieldRef" in source:
            ref = source["resourceFieldRef"]
            sourced.append({"source": "resource", "sourceName": ref.get("containerName", ""),
                            "sourceKey": ref.get("resource"), "divisor": ref.get("divisor", "0"), "targetKey": name})
        for key, kind in (("configMapKeyRef", "configMap"), ("secretKeyRef", "secret")):
            if key in source:
                ref = source[key]
                sourced.append({"source": kind, "sourceName": ref.get("name"), "sourceKey": ref.get("key"),
                                "optional": bool(ref.get("optional", False)), "targetKey": name})
    for whole in container.get("envFrom") or []:
        for key, kind in (("secretRef", "secret"), ("configMapRef", "configMap")):
            if key in whole:
                sourced.append({"source": kind, "sourceName": whole[key].get("name"), "prefix": whole.get("prefix", ""),
                                "optional": bool(whole[key].get("optional", False)), "type": SCHEMA})
    if plain:
        out["environment"] = plain
    if sourced:
        out["environmentFrom"] = sourced
    return out


def from_v3(container: JSON) -> JSON:
    """EnvironmentMapper.ToInternal: `env`/`envFrom` rebuilt from `environment`/`environmentFrom`."""
    out = {key: value for key, value in container.items() if key not in ("environment", "environmentFrom")}
    env: list[JSON] = []
    whole: list[JSON] = []
    plain = container.get("environment") or {}
    for name in sorted(plain):
        env.append({"name": name, "value": _text(plain[name])})
    for entry in container.get("environmentFrom") or []:
        source = str(entry.get("source") or "")
        if not source:
            continue  # rancher's ToInternal skips an entry with no source
        target, key = str(entry.get("targetKey") or ""), str(entry.get("sourceKey") or "")
        if not target and not key:
            ref = _clean({"name": entry.get("sourceName"), "optional": entry.get("optional")})
            if source in ("secret", "configMap"):
                whole.append(_clean({"prefix": entry.get("prefix"), f"{source}Ref": ref}))
            continue
        target = target or key
        value_from: JSON | None = None
        if source == "field":
            # The apiserver defaults a fieldRef's apiVersion to v1 (SetDefaults_ObjectFieldSelector).
            value_from = {"fieldRef": {"apiVersion": "v1", "fieldPath": entry.get("sourceName")}}
        elif source == "resource":
            value_from = {"resourceFieldRef": _clean({"containerName": entry.get("sourceName"), "resource": key,
                                                      "divisor": entry.get("divisor")})}
        elif source in ("configMap", "secret"):
            value_from = {f"{source}KeyRef": _clean({"name": entry.get("sourceName"), "key": key,
                                                     "optional": entry.get("optional")})}
        if value_from is not None:
            env.append({"name": target, "valueFrom": value_from})
    if env:
        out["env"] = env
    if whole:
        out["envFrom"] = whole
    return out


def refuse_deprecated(body: JSON) -> None:
    """2.6+: 422 InvalidBodyContent for a container with a non-empty `environment` or `environmentFrom`."""
    for container in body.get("containers") or []:
        if not isinstance(container, dict):
            continue
        for field, message in DEPRECATED.items():
            if container.get(field) not in (None, {}, [], ""):
                raise NormanError(422, "InvalidBodyContent", message)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _clean(value: JSON) -> JSON:
    return {key: item for key, item in value.items() if item is not None and item != ""}
