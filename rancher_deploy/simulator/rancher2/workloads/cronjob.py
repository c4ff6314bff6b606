"""A CronJob: its job template is kept and served; no controller runs (Jobs are not modelled)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rancher_deploy.simulator.rancher2.workloads.base import Workload
from rancher_deploy.simulator.rancher2.workloads.objects import JSON, Environment


@dataclass
class CronJob(Workload):
    kind: ClassVar[str] = "cronjob"

    def template(self) -> JSON:
        job = self.spec.setdefault("jobTemplate", {}).setdefault("spec", {})
        template: JSON = job.setdefault("template", {})
        return template

    def replicas(self) -> int:
        return 0

    def settle(self, now: float, env: Environment, bump: Callable[[], int]) -> None:
        """Nothing to replay: a CronJob's spec changes start no rollout."""

    def settled(self) -> bool:
        return True
