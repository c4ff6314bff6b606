"""The StatefulSet controller: pods named by ordinal, replaced highest ordinal first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rancher_deploy.simulator.rancher2.workloads.objects import JSON
from rancher_deploy.simulator.rancher2.workloads.replacing import ReplacingWorkload


@dataclass
class StatefulSet(ReplacingWorkload):
    kind: ClassVar[str] = "statefulset"

    def _ordinal_name(self, ordinal: int) -> str:
        return f"{self.name}-{ordinal}"

    def _compute_status(self, t: float, old: JSON) -> None:
        update, pods, ready, updated = self._counts(t)
        current_rev = self.current_revision or (update.name if update else "")
        current = next((r for r in self.revisions if r.name == current_rev), None)
        status: JSON = {
            "observedGeneration": self.observed_generation,
            "replicas": len(pods),
            "readyReplicas": ready,
            "currentReplicas": sum(1 for p in pods if current is not None and p.revision == current.hash),
            "updatedReplicas": updated,
            "availableReplicas": ready,
            "currentRevision": current_rev,
            "updateRevision": update.name if update else "",
            "collisionCount": self.collision_count,
        }
        self.status = status

    def _rolled_out(self) -> bool:
        """kubectl's StatefulSetStatusViewer: ready, then updated at and above the partition; an
        OnDelete set has no rollout to wait for."""
        kind, partition = self._update_strategy()
        if kind != "RollingUpdate":
            return True
        s = self.status
        replicas = self.replicas()
        return bool(s.get("readyReplicas", 0) >= replicas and s.get("updatedReplicas", 0) >= replicas - partition)
