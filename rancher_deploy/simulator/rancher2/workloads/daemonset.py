"""The DaemonSet controller: one pod on the one node of the simulated cluster."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rancher_deploy.simulator.rancher2.workloads.objects import JSON, safe_hash
from rancher_deploy.simulator.rancher2.workloads.replacing import ReplacingWorkload


@dataclass
class DaemonSet(ReplacingWorkload):
    kind: ClassVar[str] = "daemonset"
    replaces_unavailable: ClassVar[bool] = True

    def replicas(self) -> int:
        return 1  # one schedulable node

    def _ordinal_name(self, ordinal: int) -> str:
        return f"{self.name}-{safe_hash([self.uid, ordinal], 5)}"

    def _compute_status(self, t: float, old: JSON) -> None:
        _, pods, ready, updated = self._counts(t)
        self.status = {
            "observedGeneration": self.observed_generation,
            "desiredNumberScheduled": 1,
            "currentNumberScheduled": len(pods),
            "numberMisscheduled": 0,
            "numberReady": ready,
            "updatedNumberScheduled": updated,
            "numberAvailable": ready,
            "numberUnavailable": max(1 - ready, 0),
        }

    def _rolled_out(self) -> bool:
        s = self.status
        return bool(s.get("updatedNumberScheduled") == 1 and s.get("numberAvailable") == 1)
