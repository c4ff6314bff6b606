"""Fixtures for the simulator's own tests: a fresh, fast simulator per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing

ACCESS_KEY = "AK-sim-test"
SECRET_KEY = "SK-sim-test-secret"

WEB_CONFIG: dict[str, Any] = {
    "imageUuid": "docker:registry.example.com/shop/web:1.0",
    "kind": "container",
    "environment": {"MODE": "production"},
    "labels": {"tier": "web"},
    "ports": ["8080:80/tcp"],
    "secrets": [{"type": "secretReference", "secretId": "1se1", "name": "db-password"}],
    "healthCheck": {"type": "instanceHealthCheck", "port": 80, "interval": 2000, "healthyThreshold": 2},
    "networkMode": "managed",
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing.fast()) as simulator:
        yield simulator


@pytest.fixture
def frozen_sim() -> Iterator[Simulator]:
    """Simulated time only moves with sim.advance(): intermediate states can be asserted exactly."""
    with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing(speed=0.0)) as simulator:
        yield simulator


@pytest.fixture
def api() -> requests.Session:
    session = requests.Session()
    session.auth = (ACCESS_KEY, SECRET_KEY)
    session.headers["Accept"] = "application/json"
    return session
