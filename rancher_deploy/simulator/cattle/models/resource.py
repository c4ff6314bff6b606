"""What every 1.x resource rendering shares: the JSON type and Rancher's timestamp formats."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

JSON = dict[str, Any]


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def millis(epoch: float) -> int:
    return int(epoch * 1000)
