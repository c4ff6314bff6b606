"""Schema documents, as data: what /schemas serves and what collections filter on.

Only the types the simulator models are described; field lists follow go-rancher's generated v2
types and cattle's frozen v1 schema (rancher-api.md §1.4, §7). gdapi-python binds its methods
(list_service, create_stack, upgrade_action ...) from these documents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rancher_deploy.simulator.cattle.listing import modifiers_for
from rancher_deploy.simulator.cattle.models.kinds import KINDS
from rancher_deploy.simulator.cattle.models.process import (
    LINK_ACTIONS,
    SERVICE_PROCESS_ACTIONS,
)
from rancher_deploy.simulator.cattle.models.service import (
    V1_HIDDEN_LAUNCH_CONFIG_KEYS,
    V1_HIDDEN_SERVICE_FIELDS,
)

JSON = dict[str, Any]


@dataclass(frozen=True)
class Field:
    type: str
    create: bool = False
    update: bool = False
    nullable: bool = True
    required: bool = False
    default: Any = None
    min: int | None = None

    def to_json(self) -> JSON:
        doc: JSON = {"type": self.type, "create": self.create, "update": self.update, "nullable": self.nullable}
        if self.required:
            doc["required"] = True
        if self.default is not None:
            doc["default"] = self.default
        if self.min is not None:
            doc["min"] = self.min
        return doc


@dataclass(frozen=True)
class SchemaDef:
    id: str
    plural: str
    fields: Mapping[str, Field]
    collection_methods: tuple[str, ...] = ()
    resource_methods: tuple[str, ...] = ()
    actions: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)
    filters: Mapping[str, str] = field(default_factory=dict)
    parent: str | None = None


RO = Field("string")
COMMON: dict[str, Field] = {
    "accountId": Field("reference[account]"),
    "created": Field("date"),
    "description": Field("string", create=True, update=True),
    "id": Field("string"),
    "kind": Field("string"),
    "removed": Field("date"),
    "removeTime": Field("date"),
    "state": Field("enum"),
    "transitioning": Field("enum"),
    "transitioningMessage": RO,
    "transitioningProgress": Field("int"),
    "uuid": RO,
}

LAUNCH_CONFIG_FIELDS: dict[str, Field] = {
    name: Field(kind, create=True, update=True)
    for name, kind in {
        "imageUuid": "string",
        "kind": "enum",
        "command": "array[string]",
        "entryPoint": "array[string]",
        "environment": "map[string]",
        "labels": "map[string]",
        "ports": "array[string]",
        "expose": "array[string]",
        "dataVolumes": "array[string]",
        "dataVolumesFromLaunchConfigs": "array[string]",
        "networkLaunchConfig": "string",
        "networkMode": "enum",
        "healthCheck": "instanceHealthCheck",
        "logConfig": "logConfig",
        "secrets": "array[secretReference]",
        "memory": "int",
        "memoryReservation": "int",
        "cpuShares": "int",
        "cpuPeriod": "int",
        "cpuQuota": "int",
        "privileged": "boolean",
        "stdinOpen": "boolean",
        "tty": "boolean",
        "startOnCreate": "boolean",
        "restartPolicy": "restartPolicy",
        "user": "string",
        "workingDir": "string",
        "hostname": "string",
        "dns": "array[string]",
        "dnsSearch": "array[string]",
        "capAdd": "array[enum]",
        "capDrop": "array[enum]",
        "devices": "array[string]",
        "ulimits": "array[ulimit]",
        "tmpfs": "map[string]",
        "sysctls": "map[string]",
        "stopSignal": "string",
        "runInit": "boolean",
        "drainTimeoutMs": "int",
        "ipcMode": "string",
        "shmSize": "int",
        "pidsLimit": "int",
        "netAlias": "array[string]",
        "healthCmd": "array[string]",
        "healthInterval": "int",
        "healthRetries": "int",
        "healthTimeout": "int",
        "vcpu": "int",
        "version": "string",
    }.items()
}

SERVICE_FIELDS: dict[str, Field] = {
    **COMMON,
    "name": Field("string", create=True, update=True, nullable=False, required=True),
    "assignServiceIpAddress": Field("boolean", create=True),
    "createIndex": Field("int"),
    "currentScale": Field("int"),
    "externalId": Field("string", create=True),
    "fqdn": RO,
    "healthState": Field("enum"),
    "instanceIds": Field("array[reference[instance]]"),
    "launchConfig": Field("launchConfig", create=True),
    "lbConfig": Field("lbTargetConfig", create=True, update=True),
    "linkedServices": Field("map[reference[service]]"),
    "metadata": Field("map[json]", create=True, update=True),
    "publicEndpoints": Field("array[publicEndpoint]", create=True, update=True),
    "retainIp": Field("boolean", create=True, update=True),
    "scale": Field("int", create=True, update=True, default=1, min=0),
    "scalePolicy": Field("scalePolicy", create=True, update=True),
    "secondaryLaunchConfigs": Field("array[secondaryLaunchConfig]", create=True),
    "secrets": Field("array[secretReference]"),
    "selectorContainer": Field("string", create=True, update=True),
    "selectorLink": Field("string", create=True, update=True),
    "stackId": Field("reference[stack]", create=True, required=True),
    "startOnCreate": Field("boolean", create=True),
    "system": Field("boolean"),
    "upgrade": Field("serviceUpgrade"),
    "vip": Field("string", create=True),
}

SERVICE_FILTERS: dict[str, str] = {
    "accountId": "reference[account]",
    "createIndex": "int",
    "created": "date",
    "description": "string",
    "externalId": "string",
    "healthState": "enum",
    "id": "reference[service]",
    "kind": "string",
    "name": "string",
    "removeTime": "date",
    "removed": "date",
    "selectorContainer": "string",
    "selectorLink": "string",
    "skip": "boolean",
    "stackId": "reference[stack]",
    "state": "string",
    "system": "boolean",
    "uuid": "string",
    "vip": "string",
}
V1_SERVICE_FILTERS: dict[str, str] = {
    **{k: v for k, v in SERVICE_FILTERS.items() if k not in ("skip", "stackId", "system")},
    "environmentId": "reference[environment]",
}

STACK_FIELDS: dict[str, Field] = {
    **COMMON,
    "name": Field("string", create=True, update=True, nullable=False, required=True),
    "answers": Field("map[json]", create=True),
    "binding": Field("binding", create=True, update=True),
    "dockerCompose": Field("string", create=True),
    "environment": Field("map[string]", create=True),
    "externalId": Field("string", create=True, update=True),
    "group": Field("string", create=True, update=True),
    "healthState": Field("enum"),
    "outputs": Field("map[string]", update=True),
    "previousEnvironment": Field("map[string]"),
    "previousExternalId": RO,
    "rancherCompose": Field("string", create=True),
    "serviceIds": Field("array[reference[service]]"),
    "startOnCreate": Field("boolean", create=True),
    "system": Field("boolean", create=True),
    "templates": Field("map[string]", create=True),
}
STACK_FILTERS: dict[str, str] = {
    "accountId": "reference[account]",
    "created": "date",
    "description": "string",
    "externalId": "string",
    "group": "string",
    "healthState": "enum",
    "id": "reference[stack]",
    "kind": "string",
    "name": "string",
    "removeTime": "date",
    "removed": "date",
    "state": "string",
    "system": "boolean",
    "uuid": "string",
}
V1_STACK_FILTERS: dict[str, str] = {k: v for k, v in STACK_FILTERS.items() if k not in ("group", "system")}

INSTANCE_FIELDS: dict[str, Field] = {
    **COMMON,
    "name": Field("string", create=True, update=True),
    "deploymentUnitUuid": RO,
    "firstRunning": Field("date"),
    "healthState": Field("enum"),
    "hostId": Field("reference[host]"),
    "imageUuid": Field("string", create=True),
    "labels": Field("map[string]", create=True),
    "primaryIpAddress": RO,
    "serviceIds": Field("array[reference[service]]"),
    "stackId": Field("reference[stack]"),
    "startCount": Field("int"),
    "version": RO,
}
INSTANCE_FILTERS: dict[str, str] = {
    "accountId": "reference[account]",
    "created": "date",
    "deploymentUnitUuid": "string",
    "healthState": "enum",
    "hostId": "reference[host]",
    "id": "reference[instance]",
    "imageUuid": "string",
    "kind": "string",
    "name": "string",
    "removed": "date",
    "state": "string",
    "uuid": "string",
    "version": "string",
}

PROJECT_FIELDS: dict[str, Field] = {
    **COMMON,
    "name": Field("string", create=True, update=True),
    "members": Field("array[projectMember]"),
    "orchestration": RO,
}
PROJECT_FILTERS: dict[str, str] = {
    "id": "reference[project]",
    "kind": "string",
    "name": "string",
    "removed": "date",
    "state": "string",
    "uuid": "string",
}

UPGRADE_STRATEGY_FIELDS: dict[str, Field] = {
    "batchSize": Field("int", create=True, default=1, min=1),
    "intervalMillis": Field("int", create=True, default=2000, min=100),
    "launchConfig": Field("launchConfig", create=True),
    "previousLaunchConfig": Field("launchConfig", create=True),
    "previousSecondaryLaunchConfigs": Field("array[secondaryLaunchConfig]", create=True),
    "secondaryLaunchConfigs": Field("array[secondaryLaunchConfig]", create=True),
    "startFirst": Field("boolean", create=True, default=False),
}

SERVICE_ACTIONS: dict[str, tuple[str | None, str]] = {
    "activate": (None, "service"),
    "addservicelink": ("addRemoveServiceLinkInput", "service"),
    "cancelupgrade": (None, "service"),
    "continueupgrade": (None, "service"),
    "deactivate": (None, "service"),
    "finishupgrade": (None, "service"),
    "remove": (None, "service"),
    "removeservicelink": ("addRemoveServiceLinkInput", "service"),
    "restart": ("serviceRestart", "service"),
    "rollback": (None, "service"),
    "setservicelinks": ("setServiceLinksInput", "service"),
    "update": (None, "service"),
    "upgrade": ("serviceUpgrade", "service"),
}
assert set(SERVICE_ACTIONS) == set(SERVICE_PROCESS_ACTIONS) | set(LINK_ACTIONS)
V1_SERVICE_ACTIONS: dict[str, tuple[str | None, str]] = {
    **{k: v for k, v in SERVICE_ACTIONS.items() if k != "continueupgrade"},
    "cancelrollback": (None, "service"),
}
STACK_ACTIONS: dict[str, tuple[str | None, str]] = {
    "activateservices": (None, "stack"),
    "deactivateservices": (None, "stack"),
    "remove": (None, "stack"),
    "update": (None, "stack"),
}

# Listable collections of a version root / project resource, in link order.
# The API versions a 1.6 server offers at its root, and the collections each links to.
API_VERSIONS: tuple[str, ...] = ("v1", "v2-beta")
COLLECTIONS: dict[str, tuple[str, ...]] = {
    "v1": ("containers", "environments", "instances", "projects", "schemas", "services"),
    "v2-beta": ("containers", "instances", "projects", "schemas", "services", "stacks"),
}


def _defs(api_version: str) -> list[SchemaDef]:
    v1 = api_version == "v1"
    rw = ("GET", "PUT", "DELETE")
    service_fields = dict(SERVICE_FIELDS)
    if v1:
        for hidden in V1_HIDDEN_SERVICE_FIELDS:
            service_fields.pop(hidden, None)
        service_fields["environmentId"] = Field("reference[environment]", create=True, required=True)
    launch_fields = dict(LAUNCH_CONFIG_FIELDS)
    if v1:
        for hidden in V1_HIDDEN_LAUNCH_CONFIG_KEYS:
            launch_fields.pop(hidden, None)
    stack_fields = dict(STACK_FIELDS)
    if v1:
        for hidden in ("answers", "binding", "group", "serviceIds", "system", "templates"):
            stack_fields.pop(hidden)
    instance_fields = dict(INSTANCE_FIELDS)
    if v1:
        instance_fields["environmentId"] = instance_fields.pop("stackId")
    stack_id = "environment" if v1 else "stack"
    return [
        SchemaDef("apiVersion", "apiVersions", {}),
        SchemaDef("collection", "collections", {}),
        SchemaDef(
            "error",
            "errors",
            {
                "code": RO,
                "detail": RO,
                "fieldName": RO,
                "message": RO,
                "status": Field("int"),
            },
        ),
        SchemaDef("schema", "schemas", {}, collection_methods=("GET",), resource_methods=("GET",)),
        # The event stream's collection (cattle resources/content/schema/base/subscribe.json, granted
        # "cr" in project-auth.json): its link is where a client opens the websocket (`subscribe.py`;
        # cattle's tests/integration test_subscribe.py finds it so).
        SchemaDef(
            "subscribe",
            "subscribe",
            {"eventNames": Field("array[string]", create=True)},
            collection_methods=("GET", "POST"),
        ),
        SchemaDef(
            "project",
            "projects",
            PROJECT_FIELDS,
            collection_methods=("GET",),
            resource_methods=("GET",),
            filters=PROJECT_FILTERS,
        ),
        SchemaDef(
            stack_id,
            "environments" if v1 else "stacks",
            stack_fields,
            collection_methods=("GET", "POST"),
            resource_methods=rw,
            actions=STACK_ACTIONS,
            filters=V1_STACK_FILTERS if v1 else STACK_FILTERS,
        ),
        SchemaDef(
            "service",
            "services",
            service_fields,
            collection_methods=("GET", "POST"),
            resource_methods=rw,
            actions=V1_SERVICE_ACTIONS if v1 else SERVICE_ACTIONS,
            filters=V1_SERVICE_FILTERS if v1 else SERVICE_FILTERS,
        ),
        SchemaDef(
            "instance",
            "instances",
            instance_fields,
            collection_methods=("GET",),
            resource_methods=("GET",),
            filters=INSTANCE_FILTERS,
        ),
        SchemaDef(
            "container",
            "containers",
            instance_fields,
            collection_methods=("GET",),
            resource_methods=("GET",),
            filters=INSTANCE_FILTERS,
            parent="instance",
        ),
        SchemaDef("launchConfig", "launchConfigs", launch_fields),
        SchemaDef(
            "secondaryLaunchConfig",
            "secondaryLaunchConfigs",
            {**launch_fields, "name": Field("string", create=True, required=True)},
        ),
        SchemaDef(
            "instanceHealthCheck",
            "instanceHealthChecks",
            {
                name: Field(kind, create=True)
                for name, kind in {
                    "healthyThreshold": "int",
                    "initializingTimeout": "int",
                    "interval": "int",
                    "port": "int",
                    "reinitializingTimeout": "int",
                    "requestLine": "string",
                    "responseTimeout": "int",
                    "strategy": "enum",
                    "unhealthyThreshold": "int",
                }.items()
            },
        ),
        SchemaDef(
            "serviceUpgrade",
            "serviceUpgrades",
            {
                "inServiceStrategy": Field("inServiceUpgradeStrategy", create=True),
                "toServiceStrategy": Field("toServiceUpgradeStrategy", create=True),
            },
        ),
        SchemaDef("inServiceUpgradeStrategy", "inServiceUpgradeStrategies", UPGRADE_STRATEGY_FIELDS),
        SchemaDef(
            "toServiceUpgradeStrategy",
            "toServiceUpgradeStrategies",
            {
                "batchSize": Field("int", create=True, default=1, min=1),
                "finalScale": Field("int", create=True, default=1, min=1),
                "intervalMillis": Field("int", create=True, default=2000, min=100),
                "toServiceId": Field("reference[service]", create=True),
                "updateLinks": Field("boolean", create=True, default=False),
            },
        ),
        SchemaDef(
            "serviceRestart",
            "serviceRestarts",
            {"rollingRestartStrategy": Field("rollingRestartStrategy", create=True)},
        ),
        SchemaDef(
            "rollingRestartStrategy",
            "rollingRestartStrategies",
            {
                "batchSize": Field("int", create=True, default=1, min=1),
                "intervalMillis": Field("int", create=True, default=2000, min=100),
            },
        ),
    ] + ([] if v1 else _kind_defs(service_fields, SERVICE_ACTIONS, SERVICE_FILTERS) + LB_DEFS)


# The kinds' own fields and their types (cattle schema/base/<kind>.json; a service's lbConfig is an
# lbTargetConfig, a load balancer's an lbConfig).
KIND_FIELD_TYPES: dict[str, str] = {
    "lbConfig": "lbTargetConfig", "networkDriver": "networkDriver", "storageDriver": "storageDriver",
    "dns": "array[string]", "externalIpAddresses": "array[string]", "hostname": "string",
    "healthCheck": "instanceHealthCheck",
}


def _kind_defs(service_fields: dict[str, Field], actions: Mapping[str, tuple[str | None, str]],
               filters: Mapping[str, str]) -> list[SchemaDef]:
    """One schema per kind of service but `service` itself: the base fields less those the kind
    hides, plus its own; served on v2-beta (networkDriverService and storageDriverService came with 1.2)."""
    defs: list[SchemaDef] = []
    for kind in KINDS.values():
        if kind.name == "service":
            continue
        fields = {name: f for name, f in service_fields.items() if name not in kind.hidden}
        for name in kind.fields:
            load_balancer = (kind.name, name) == ("loadBalancerService", "lbConfig")
            kind_type = "lbConfig" if load_balancer else KIND_FIELD_TYPES[name]
            fields[name] = Field(kind_type, create=True, update=name != "healthCheck", required=name in kind.required)
        fields["launchConfig"] = Field("launchConfig", create=True, required="launchConfig" in kind.required)
        defs.append(SchemaDef(kind.name, kind.name + "s", fields, ("GET", "POST"), ("GET", "PUT", "DELETE"),
                              actions, filters, parent="service"))
    return defs


def _nested(schema_id: str, plural: str, fields: dict[str, str]) -> SchemaDef:
    return SchemaDef(schema_id, plural, {name: Field(kind, create=True, update=True) for name, kind in fields.items()})


# A load balancer's configuration (schema/base/lbConfig.json; the rule fields from user-auth.json).
LB_DEFS: list[SchemaDef] = [
    _nested("lbConfig", "lbConfigs", {"certificateIds": "array[reference[certificate]]", "config": "string",
                                      "defaultCertificateId": "reference[certificate]", "portRules": "array[portRule]",
                                      "stickinessPolicy": "loadBalancerCookieStickinessPolicy"}),
    _nested("portRule", "portRules", {"backendName": "string", "hostname": "string", "path": "string",
                                      "priority": "int", "protocol": "enum", "selector": "string",
                                      "serviceId": "reference[service]", "sourcePort": "int", "targetPort": "int"}),
    _nested("lbTargetConfig", "lbTargetConfigs", {"portRules": "array[targetPortRule]"}),
    _nested("targetPortRule", "targetPortRules", {"backendName": "string", "hostname": "string", "path": "string",
                                                  "targetPort": "int"}),
]


def schema_defs(api_version: str) -> dict[str, SchemaDef]:
    return {d.id: d for d in _defs(api_version)}


def filters_for(api_version: str, schema_id: str) -> dict[str, str]:
    return dict(schema_defs(api_version)[schema_id].filters)


def render_schema(d: SchemaDef, base_url: str) -> JSON:
    """One schema resource; ``base_url`` is the version root, project-scoped when the request was."""
    links: JSON = {"self": f"{base_url}/schemas/{d.id.lower()}"}
    if "GET" in d.collection_methods:
        links["collection"] = f"{base_url}/{d.plural}"
    doc: JSON = {
        "id": d.id,
        "type": "schema",
        "links": links,
        "actions": {},
        "baseType": "schema",
        "pluralName": d.plural,
        "resourceMethods": list(d.resource_methods),
        "resourceFields": {name: f.to_json() for name, f in sorted(d.fields.items())},
        "resourceActions": {
            name: {"input": inp, "output": out} for name, (inp, out) in sorted(d.actions.items())
        },
        "collectionMethods": list(d.collection_methods),
        "collectionFields": {},
        "collectionActions": {},
        "collectionFilters": {
            name: {"modifiers": list(modifiers_for(kind))} for name, kind in sorted(d.filters.items())
        },
        "includeableLinks": [],
    }
    if d.parent:
        doc["parent"] = d.parent
    return doc
