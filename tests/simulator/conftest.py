"""Fixtures for the simulator's own tests: a fresh, fast simulator per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from rancher_deploy.simulator import Simulator, Timing

ACCESS_KEY = "AK-sim-test"
SECRET_KEY = "SK-sim-test-secret"
K8S_TOKEN = "token-k8sxx"  # a Rancher 2.x API key: token id and secret
K8S_SECRET = "k8s-test-secret"

# What the apiserver stores on a container a write leaves them unset on, for an image whose tag is not
# `latest` (kubernetes pkg/apis/core/v1/defaults.go SetDefaults_Container).
DEFAULTED: dict[str, str] = {"imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
                             "terminationMessagePolicy": "File"}

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


@pytest.fixture
def k8s() -> Iterator[Simulator]:
    """Rancher 2.8 whose simulated time moves only with advance(): exact intermediate states."""
    with Simulator(K8S_TOKEN, K8S_SECRET, rancher_version="2.8", timing=Timing(speed=0.0)) as simulator:
        yield simulator


@pytest.fixture
def kube() -> requests.Session:
    """The 2.x API key as a bearer token, as a Rancher kubeconfig sends it."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {K8S_TOKEN}:{K8S_SECRET}"
    return session
