"""Controllers that replace pods one at a time, oldest revision first (StatefulSet, DaemonSet)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rancher_deploy.simulator.rancher2.workloads.base import Workload
from rancher_deploy.simulator.rancher2.workloads.objects import Environment, Pod, Revision


@dataclass
class ReplacingWorkload(Workload):
    """A workload whose pods have fixed slots (ordinals); an update replaces them one by one.

    A StatefulSet (OrderedReady, the default) waits for every pod to be ready before it replaces
    the next one, so a pod of a broken revision blocks even a rollback until it is deleted
    (Kubernetes' "forced rollback", kubernetes/kubernetes#67250); a DaemonSet replaces an
    out-of-date pod that is not available at once (``replaces_unavailable``).
    """

    replaces_unavailable: ClassVar[bool] = False

    def _sync(self, t: float, env: Environment, bump: Callable[[], int]) -> None:
        self._sync_replacing(t, env, bump)

    def _update_strategy(self) -> tuple[str, int]:
        """(type, partition): RollingUpdate or OnDelete, and the lowest ordinal a rolling update
        replaces (StatefulSet ``rollingUpdate.partition``; 0 for every other case)."""
        strategy = self.spec.get("updateStrategy") or {}
        kind = str(strategy.get("type") or "RollingUpdate")
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0)
        return kind, partition if kind == "RollingUpdate" else 0

    def _sync_replacing(self, t: float, env: Environment, bump: Callable[[], int]) -> None:
        """stateful_set_control.go updateStatefulSet (and the DaemonSet's one-node equivalent).

        A missing pod is created at the update revision, except below a RollingUpdate's partition,
        where it comes back at the current one (newVersionedStatefulSetPod). RollingUpdate then
        deletes the highest-ordinal stale pod at or above the partition once every pod is ready;
        OnDelete never deletes one: a pod takes the new template only when someone deletes it.
        The current revision moves to the update revision when every pod runs it (a rolling
        update's completeRollingUpdate; OnDelete never moves it).
        """
        update = self._revision_for_current_template(t, bump, create=True)
        assert update is not None
        if not self.current_revision:
            self.current_revision = update.name
        current = next((r for r in self.revisions if r.name == self.current_revision), update)
        kind, partition = self._update_strategy()
        rolling = kind == "RollingUpdate"
        replicas = self.replicas()
        for _ in range(1000):
            pods = self.pods()
            changed = False
            names = {p.name for p in pods}
            for ordinal in range(replicas):
                name = self._ordinal_name(ordinal)
                if name not in names:
                    self._new_pod(current if rolling and ordinal < partition else update, t, env, name)
                    changed = True
            for rev in self.revisions:
                keep = [p for p in rev.pods if self._ordinal_of(p.name) < replicas]
                if len(keep) != len(rev.pods):
                    rev.pods = keep
                    changed = True
            if not changed:
                pods = self.pods()
                stale = [p for p in pods if p.revision != update.hash]
                replaceable = [p for p in stale if self._ordinal_of(p.name) >= partition] if rolling else []
                broken = [p for p in replaceable if not p.ready(t)]
                if broken and self.replaces_unavailable:
                    # DaemonSet rolling update: an out-of-date pod that is not available is replaced at
                    # once (pkg/controller/daemon/update.go, rollingUpdate: "allowing replacement").
                    for pod in broken:
                        self._drop_pod(pod)
                    changed = True
                elif replaceable and all(p.ready(t) for p in pods):
                    # maxUnavailable 1: delete the highest-ordinal stale pod; it is recreated from
                    # the update revision on the next pass.
                    victim = max(replaceable, key=lambda p: self._ordinal_of(p.name))
                    self._drop_pod(victim)
                    changed = True
                elif rolling and not stale and all(p.ready(t) for p in pods):
                    self.current_revision = update.name
            if not changed:
                break

    def _drop_pod(self, victim: Pod) -> None:
        for rev in self.revisions:
            rev.pods = [p for p in rev.pods if p is not victim]

    def _ordinal_name(self, ordinal: int) -> str:
        raise NotImplementedError

    def _counts(self, t: float) -> tuple[Revision | None, list[Pod], int, int]:
        """What the status is built from: the update revision, the pods, how many are ready, and
        how many run the update revision."""
        update = self.newest()
        pods = self.pods()
        ready = sum(1 for p in pods if p.ready(t))
        updated = sum(1 for p in pods if update is not None and p.revision == update.hash)
        return update, pods, ready, updated

    def _ordinal_of(self, pod_name: str) -> int:
        for ordinal in range(max(self.replicas(), 1) + 64):
            if self._ordinal_name(ordinal) == pod_name:
                return ordinal
        return 1 << 30
