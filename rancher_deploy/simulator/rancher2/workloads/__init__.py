"""Kubernetes workloads of the simulated cluster, one controller per kind, and the kind registry.

A workload (Deployment, StatefulSet, DaemonSet, CronJob) owns its revisions (ReplicaSets for a
Deployment, ControllerRevisions for the others) and their pods. Nothing moves by itself: ``settle``
replays the controller event by event up to the time it is given; see docs/simulator.md for what
is simplified.
"""

from __future__ import annotations

from rancher_deploy.simulator.rancher2.workloads.base import Workload
from rancher_deploy.simulator.rancher2.workloads.cronjob import CronJob
from rancher_deploy.simulator.rancher2.workloads.daemonset import DaemonSet
from rancher_deploy.simulator.rancher2.workloads.deployment import Deployment
from rancher_deploy.simulator.rancher2.workloads.statefulset import StatefulSet

__all__ = ["WORKLOAD_TYPES", "Workload"]

WORKLOAD_TYPES: dict[str, type[Workload]] = {
    "deployment": Deployment,
    "statefulset": StatefulSet,
    "daemonset": DaemonSet,
    "cronjob": CronJob,
}
