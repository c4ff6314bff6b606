"""A Rancher 1.6 API simulator on a loopback port: the ``Simulator`` facade tests and the demo use.

The simulator never imports the client and the client never imports the simulator: a fake that
shared constants with its client would agree with it by construction and prove nothing.
"""

from __future__ import annotations

import json
import os
from types import TracebackType
from typing import Any

from rancher_deploy.simulator.clock import Timing
from rancher_deploy.simulator.faults import Faults
from rancher_deploy.simulator.server import (
    App,
    RequestLog,
    RequestRecord,
    SimServer,
    tls_context,
)
from rancher_deploy.simulator.store import DEFAULT_PROJECT_ID, Store, parse_id

__all__ = ["SUPPORTED_RANCHER_VERSIONS", "RequestRecord", "Simulator", "Timing"]

SUPPORTED_RANCHER_VERSIONS: tuple[str, ...] = ("1.6",)


class Simulator:
    """A running fake Rancher 1.6 server plus the handles tests need (seed, time, faults, log)."""

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        *,
        rancher_version: str = "1.6",
        timing: Timing | None = None,
        state_file: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> None:
        if rancher_version not in SUPPORTED_RANCHER_VERSIONS:
            raise ValueError(
                f"Rancher version {rancher_version!r} is not simulated yet; only 1.6 is "
                "(Rancher 2.x support comes later)"
            )
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("TLS needs both a certificate file and a key file")
        self.rancher_version = rancher_version
        self.timing = timing or Timing.fast()
        self.state_file = state_file
        self.faults = Faults()
        self._store = Store(access_key, secret_key, self.timing, self.faults)
        self.faults.before_change = self._store.settle
        self._log = RequestLog()
        self._app = App(self._store, self.faults, self._log, rancher_version)
        tls = tls_context(tls_cert, tls_key) if tls_cert and tls_key else None
        self._server = SimServer(self._app, host, port, tls)
        self.faults.on_refuse = self._server.refuse
        self._host = host
        self._scheme = "https" if tls else "http"
        self._started = False

    # ---- lifecycle -----------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self.state_file and os.path.exists(self.state_file):
            with open(self.state_file, encoding="utf-8") as fh:
                self._store.load_state(json.load(fh))
        self._server.start()
        self._started = True
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._server.stop()
        if self.state_file:
            tmp = f"{self.state_file}.tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self._store.to_state(), fh, indent=2, sort_keys=True)
                fh.write("\n")
            os.replace(tmp, self.state_file)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{self._scheme}://{host}:{self.port}"

    @property
    def default_project_id(self) -> str:
        return DEFAULT_PROJECT_ID

    # ---- seeding -------------------------------------------------------------------------------

    def add_project(self, name: str) -> str:
        return self._store.add_project(name)

    def add_environment_key(self, project_id: str) -> tuple[str, str]:
        key = self._store.add_key(project_id)
        return key.access, key.secret

    def add_stack(self, name: str, project_id: str | None = None) -> str:
        return self._store.seed_stack(name, project_id).id

    def add_service(
        self,
        stack_id: str,
        name: str,
        launch_config: dict[str, Any],
        *,
        scale: int = 1,
        secondary_launch_configs: list[dict[str, Any]] | None = None,
        state: str = "active",
        retain_ip: bool = False,
    ) -> str:
        return self._store.seed_service(
            stack_id,
            name,
            launch_config,
            scale=scale,
            secondary_launch_configs=secondary_launch_configs,
            state=state,
            retain_ip=retain_ip,
        ).id

    # ---- observing -----------------------------------------------------------------------------

    def service(self, service_id: str) -> dict[str, Any]:
        """The /v2-beta JSON of the service at the current simulated time (unscoped links)."""
        with self._store.lock:
            self._store.settle()
            svc = self._store.services.get(_num(service_id))
            if svc is None:
                raise KeyError(f"no service {service_id}")
            return svc.to_resource(f"{self.url}/v2-beta", "v2-beta", self._store.now(), self._store.wall, self._store.unhealthy)

    def instances(self, service_id: str) -> list[dict[str, Any]]:
        """The service's containers, removed ones excluded, oldest first."""
        with self._store.lock:
            self._store.settle()
            svc = self._store.services.get(_num(service_id))
            if svc is None:
                raise KeyError(f"no service {service_id}")
            now = self._store.now()
            return [
                i.to_resource(f"{self.url}/v2-beta", "v2-beta", now, self._store.wall, self._store.unhealthy(i))
                for i in svc.live()
            ]

    def advance(self, seconds: float) -> None:
        self._store.advance(seconds)

    def now(self) -> float:
        """The current simulated time in seconds since start."""
        return self._store.now()

    @property
    def requests(self) -> list[RequestRecord]:
        return self._log.records()

    def count(self, method: str | None = None, path_contains: str = "") -> int:
        return self._log.count(method, path_contains)

    def reset_log(self) -> None:
        self._log.clear()

    def reset(self) -> None:
        """Back to a fresh install: data, faults and request log."""
        self.faults.clear()
        self._store.reset()
        self._log.clear()


def _num(service_id: str) -> int:
    return parse_id(service_id) or -1
