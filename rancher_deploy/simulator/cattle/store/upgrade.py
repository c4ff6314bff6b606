"""The in-service upgrade request: validate it (ServiceUpgradeValidationFilter), accept it, roll it back."""

from __future__ import annotations

import copy
import uuid

from rancher_deploy.simulator.cattle.errors import ApiError
from rancher_deploy.simulator.cattle.models.kinds import KINDS
from rancher_deploy.simulator.cattle.models.resource import JSON
from rancher_deploy.simulator.cattle.models.service import Service
from rancher_deploy.simulator.cattle.store.validation import check_image, int_field


def validate_upgrade(svc: Service, body: JSON) -> None:
    in_service = body.get("inServiceStrategy")
    to_service = body.get("toServiceStrategy")
    if in_service is None and to_service is None:
        raise ApiError.validation("MissingRequired", "Upgrade strategy needs to be set")
    if in_service is None:
        raise ApiError.validation("InvalidOption", "toServiceStrategy is not supported by the simulator")
    if not isinstance(in_service, dict):
        raise ApiError.validation("InvalidType", "inServiceStrategy")
    primary = in_service.get("launchConfig")
    secondaries = in_service.get("secondaryLaunchConfigs")
    if not primary and not secondaries:
        raise ApiError.validation(
            "InvalidOption", "LaunchConfig/secondaryLaunchConfigs need to be specified for inService strategy"
        )
    int_field(in_service, "batchSize", 1, minimum=1)
    int_field(in_service, "intervalMillis", 2000, minimum=100)
    if in_service.get("startFirst") and svc.retain_ip:
        raise ApiError.validation("InvalidOption", "StartFirst option can't be used for service with retainIp field set")
    containers = KINDS[svc.kind].containers  # a DNS service's launch config carries no image
    if primary and containers:
        check_image(primary)
    for sec in secondaries or []:
        if not isinstance(sec, dict) or not sec.get("name"):
            raise ApiError.validation("MissingRequired", "name")
        if sec.get("imageUuid") != "rancher/none" and containers:
            check_image(sec)


def accept_upgrade(svc: Service, body: JSON) -> tuple[list[str | None], int, float, bool]:
    """Swap the launch configs at acceptance and record the completed request in ``upgrade`` (§3.2)."""
    strategy: JSON = body["inServiceStrategy"]
    batch = int_field(strategy, "batchSize", 1, minimum=1)
    interval_ms = int_field(strategy, "intervalMillis", 2000, minimum=100)
    start_first = bool(strategy.get("startFirst") or False)
    previous = copy.deepcopy(svc.launch_config)
    previous_secondaries = copy.deepcopy(svc.secondary_launch_configs)
    version = str(uuid.uuid4())
    names: list[str | None] = []
    primary = strategy.get("launchConfig")
    if primary:
        svc.launch_config = dict(copy.deepcopy(primary), version=version)
        names.append(None)
    upgraded_secondaries: list[JSON] = []
    for sec in strategy.get("secondaryLaunchConfigs") or []:
        name = str(sec["name"])
        kept = [s for s in svc.secondary_launch_configs if s.get("name") != name]
        if sec.get("imageUuid") == "rancher/none":
            svc.secondary_launch_configs = kept  # a sidekick upgraded to rancher/none is dropped
            continue
        new = dict(copy.deepcopy(sec), version=version)
        position = [s.get("name") for s in svc.secondary_launch_configs]
        if name in position:
            svc.secondary_launch_configs[position.index(name)] = new
        else:
            svc.secondary_launch_configs.append(new)
        upgraded_secondaries.append(copy.deepcopy(new))
        names.append(name)
    svc.upgrade = {
        "type": "serviceUpgrade",
        "inServiceStrategy": {
            "type": "inServiceUpgradeStrategy",
            "batchSize": batch,
            "intervalMillis": interval_ms,
            "launchConfig": copy.deepcopy(svc.launch_config) if primary else None,
            "previousLaunchConfig": previous,
            "previousSecondaryLaunchConfigs": previous_secondaries,
            "secondaryLaunchConfigs": upgraded_secondaries or None,
            "startFirst": start_first,
        },
        "toServiceStrategy": None,
    }
    return names, batch, interval_ms / 1000.0, start_first


def strategy_numbers(svc: Service) -> tuple[int, float, bool]:
    strategy = (svc.upgrade or {}).get("inServiceStrategy") or {}
    return (
        int(strategy.get("batchSize") or 1),
        int(strategy.get("intervalMillis") or 2000) / 1000.0,
        bool(strategy.get("startFirst") or False),
    )


def restore_previous(svc: Service) -> None:
    """Rollback sets the launch configs back the moment it is accepted (§3.5)."""
    strategy = (svc.upgrade or {}).get("inServiceStrategy") or {}
    previous = strategy.get("previousLaunchConfig")
    if previous:
        svc.launch_config = copy.deepcopy(previous)
    previous_secondaries = strategy.get("previousSecondaryLaunchConfigs")
    if previous_secondaries is not None:
        svc.secondary_launch_configs = copy.deepcopy(previous_secondaries)
