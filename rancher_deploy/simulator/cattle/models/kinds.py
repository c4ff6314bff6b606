"""The kinds of 1.x service, as data: which run containers, their own fields, what they hide.

Cattle serves several types that are all services underneath (one table, a `kind` column): their
collections (`/loadbalancerservices`, …; the type's plural, lower-cased) list only their kind,
`/services` lists every kind, and each resource's `type` and `kind` are its kind with `baseType`
`service` (rancher-api.md §1.3 createTypes). Fields come from cattle's v1.6
`resources/content/schema/base/<kind>.json`; what a user does not see of the base service from
`schema/user/user-auth.json`; who gets a computed health state from
`ServiceDiscoveryServiceImpl.calculateServiceHealthState` (service and loadBalancerService only,
§1.4). `dnsService` (the UI's "alias") and `externalService` run no container at all.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceKind:
    name: str
    containers: bool                        # its launch config is deployed as containers
    fields: tuple[str, ...] = ()            # its own fields, stored as sent and echoed back
    required: tuple[str, ...] = ()          # besides name and stackId, on create
    hidden: frozenset[str] = frozenset()    # base service fields the kind does not show (user-auth.json)
    computed_health: bool = False           # else healthState is always "healthy"

    @property
    def collection(self) -> str:
        """The URL collection: the plural type name, lower-cased (`loadbalancerservices`)."""
        return self.name.lower() + "s"


_NO_SCALE = frozenset({"scale", "secondaryLaunchConfigs", "vip", "createIndex", "selectorContainer",
                       "publicEndpoints", "scalePolicy", "currentScale", "lbConfig"})

KINDS: dict[str, ServiceKind] = {k.name: k for k in (
    ServiceKind("service", True, ("lbConfig",), ("launchConfig",), computed_health=True),
    # lbConfig (type lbConfig: portRules, certificateIds, config, stickinessPolicy) is required.
    ServiceKind("loadBalancerService", True, ("lbConfig",), ("launchConfig", "lbConfig"),
                frozenset({"secondaryLaunchConfigs", "createIndex", "selectorContainer"}), computed_health=True),
    ServiceKind("networkDriverService", True, ("networkDriver", "lbConfig"), ("launchConfig", "networkDriver")),
    ServiceKind("storageDriverService", True, ("storageDriver", "lbConfig"), ("launchConfig", "storageDriver")),
    ServiceKind("dnsService", False, ("dns",), (), _NO_SCALE),
    ServiceKind("externalService", False, ("externalIpAddresses", "hostname", "healthCheck"), (),
                _NO_SCALE | {"selectorLink", "retainIp", "assignServiceIpAddress"}),
)}
KIND_BY_COLLECTION: dict[str, ServiceKind] = {k.collection: k for k in KINDS.values()}
