"""cattle's generic ValidationHandler rules the store applies: names, image references, integer fields."""

from __future__ import annotations

import re
from typing import Any, Iterable

from rancher_deploy.simulator.cattle.errors import ApiError

_NAME = re.compile(r"^[a-zA-Z0-9-]+$")


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise ApiError.validation("InvalidCharacters", "name")
    if len(name) > 63:
        raise ApiError.validation("MaxLengthExceeded", "name")


def check_unique_in_stack(taken: Iterable[tuple[str, Iterable[str]]], name: str, launch_configs: Iterable[Any]) -> None:
    """A service's name and its sidekicks' (its secondary launch configs' `name`) must be new to its
    stack, whatever their case: `taken` holds each other service of the stack that is not removed, as
    (name, its sidekicks' names). 422 NotUnique on `name` otherwise, as cattle's
    ServiceCreateValidationFilter.validateLaunchConfigNames answers (rancher/cattle,
    code/iaas/service-discovery/api/src/main/java/io/cattle/platform/servicediscovery/api/filter/
    ServiceCreateValidationFilter.java: lower-cased names of the stack's services and their launch
    configs, then ValidationErrorCodes.NOT_UNIQUE, "name")."""
    used = {taken_name.lower() for other, sidekicks in taken for taken_name in (other, *sidekicks)}
    for candidate in (name, *(str(config.get("name")) for config in launch_configs
                               if isinstance(config, dict) and config.get("name"))):
        if candidate.lower() in used:
            raise ApiError.validation("NotUnique", "name")
        used.add(candidate.lower())


def check_image(config: Any) -> None:
    """No storage driver claims an image without the docker: prefix (§1.4)."""
    image = config.get("imageUuid") if isinstance(config, dict) else None
    if not isinstance(image, str) or not image.startswith(("docker:", "sim:")):
        raise ApiError.validation("InvalidReference", "imageUuid")


def int_field(body: Any, name: str, default: int, *, minimum: int) -> int:
    value = body.get(name) if isinstance(body, dict) else None
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ApiError.validation("InvalidType", name)
    try:
        number = int(value)
    except ValueError:
        raise ApiError.validation("InvalidType", name) from None
    if number < minimum:
        raise ApiError.validation("MinLimitExceeded", name)
    return number
