"""A workload's state, transitioning flag and message as each Rancher release summarises it.

Rancher names a workload's state with rancher/wrangler's summary (pkg/summary/summarizers.go), whose
rules changed over the releases (releases.Summary), and the two APIs apply it differently:

- v3 (norman): the status mapper runs after norman's typeMapper has set the object's `type` to
  `/v3/project/schemas/<kind>` (norman types/mapper.go FromInternal), and wrangler's checkStandard
  skips kstatus for such a `type` ("a hack to not call the standard summarizers on norman mapped
  objects"), so only the condition rules apply; then rancher's transform store
  (pkg/api/norman/store/workload/transform_store.go setTransitioning) turns a workload whose
  ready replicas differ from its replicas into `updating` / "upgrading workload", unless the
  summary already says `yes` or `error`.
- Steve: the same condition rules, then kstatus (sigs.k8s.io/cli-utils pkg/kstatus/status core.go,
  generic.go) when they named no state: `in-progress` "Updated: 1/3", `failed` "Progress deadline
  exceeded", ...

Rancher 2.0-2.4 keep the summary rancher-api.md §5.2 describes (LEGACY).
"""

from __future__ import annotations

from typing import Any

from rancher_deploy.simulator.rancher2.releases import Summary, summary_of
from rancher_deploy.simulator.rancher2.workloads.objects import JSON

State = tuple[str, str, str]  # (state, transitioning: "yes" | "no" | "error", message)


def v3_state(obj: JSON, version: str) -> State:
    """What v3 shows of the Kubernetes object ``obj`` on Rancher ``version``."""
    era = summary_of(version)
    if era is Summary.LEGACY:
        return _legacy(obj)
    state, error, transitioning, messages = _conditions(obj, era)
    flag = "error" if error else "yes" if transitioning else "no"
    state = state or "active"
    if flag == "no":
        # transform_store.go setTransitioning: replicas against ready ones, per kind.
        desired, ready = _replica_fields(obj)
        status = obj.get("status") or {}
        if desired and status.get(desired) is not None and status.get(ready) is not None and \
                status.get(desired) != status.get(ready):
            return "updating", "yes", "upgrading workload"
    return state, flag, "; ".join(messages)


def steve_state(obj: JSON, version: str) -> State:
    """What Steve's `metadata.state` shows of ``obj`` on Rancher ``version`` (2.5+)."""
    era = summary_of(version)
    if era is Summary.LEGACY:
        return _legacy(obj)
    state, error, transitioning, messages = _conditions(obj, era)
    if not state:
        state, kstatus_error, kstatus_transitioning, message = _kstatus(obj)
        error, transitioning = error or kstatus_error, transitioning or kstatus_transitioning
        messages.append(message)
    flag = "error" if error else "yes" if transitioning else "no"
    return state or "active", flag, "; ".join(dict.fromkeys(m for m in messages if m))


# --------------------------------------------------------------------------------------------------
# wrangler's condition rules (checkErrors, checkTransitioning) per era


def _conditions(obj: JSON, era: Summary) -> tuple[str, bool, bool, list[str]]:
    """(state or "", error, transitioning, messages) from the conditions, as checkErrors and
    checkTransitioning of the era's wrangler decide for a workload."""
    conditions = [c for c in (obj.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]
    kind = str(obj.get("kind") or "")
    state, error, transitioning, messages = "", False, False, []
    for c in conditions:
        failed = False
        if era is Summary.V0_7:
            failed = c.get("type") == "Progressing" and c.get("status") == "False"  # ErrorFalse
        elif era is Summary.V3_2 and kind == "Deployment":
            failed = (c.get("type"), c.get("status")) in (("Progressing", "False"), ("ReplicaFailure", "True"))
        if failed or c.get("reason") == "Error":
            error = True
            messages.append(str(c.get("message") or ""))
            state = state or "error"
            if era is Summary.V0_7:
                break
    if not error and era is not Summary.V3_2:
        for c in conditions:  # ErrorTrue: an error flag without a state
            if c.get("type") == "ReplicaFailure" and c.get("status") == "True":
                error = True
                messages.append(str(c.get("message") or ""))
    for c in conditions:  # TransitioningFalse: Available=False is `updating`
        if state:
            break
        if c.get("type") == "Available" and c.get("status") == "False":
            state, transitioning = "updating", True
            messages.append(str(c.get("message") or ""))
    return state, error, transitioning, messages


def _replica_fields(obj: JSON) -> tuple[str, str]:
    """The status fields transform_store.go compares per kind (CronJobs: none)."""
    return {"Deployment": ("replicas", "readyReplicas"), "StatefulSet": ("replicas", "readyReplicas"),
            "DaemonSet": ("desiredNumberScheduled", "numberReady")}.get(str(obj.get("kind") or ""), ("", ""))


# --------------------------------------------------------------------------------------------------
# kstatus (cli-utils pkg/kstatus/status), for the kinds the simulator serves


def _int(obj: JSON, *path: str, default: int = 0) -> int:
    node: Any = obj
    for part in path:
        node = node.get(part) if isinstance(node, dict) else None
    try:
        return int(node) if node is not None else default
    except (TypeError, ValueError):
        return default


def _kstatus(obj: JSON) -> tuple[str, bool, bool, str]:
    """(state, error, transitioning, message): Current is `active`, InProgress `in-progress`, Failed
    `failed` (wrangler checkStandard)."""
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    if meta.get("deletionTimestamp"):
        return "removing", False, True, "Resource scheduled for deletion"
    if "observedGeneration" in status and meta.get("generation") is not None and \
            _int(obj, "status", "observedGeneration") != _int(obj, "metadata", "generation"):
        return ("in-progress", False, True, f"{obj.get('kind')} generation is {_int(obj, 'metadata', 'generation')}, "
                f"but latest observed generation is {_int(obj, 'status', 'observedGeneration')}")
    rule = {"Deployment": _deployment, "StatefulSet": _statefulset, "DaemonSet": _daemonset}.get(str(obj.get("kind")))
    if rule is None:
        return "active", False, False, "Resource is current"
    failed, message = rule(obj)
    if failed is None:
        return "active", False, False, message
    return ("failed", True, False, message) if failed else ("in-progress", False, True, message)


Verdict = tuple[bool | None, str]  # (None: current, False: in progress, True: failed; message)


def _deployment(obj: JSON) -> Verdict:
    progressing = _int(obj, "spec", "progressDeadlineSeconds", default=2**31 - 1) == 2**31 - 1
    available = False
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Progressing":
            if c.get("reason") == "ProgressDeadlineExceeded":
                return True, "Progress deadline exceeded"
            if c.get("status") == "True" and c.get("reason") == "NewReplicaSetAvailable":
                progressing = True
        elif c.get("type") == "Available" and c.get("status") == "True":
            available = True
    spec, replicas = _int(obj, "spec", "replicas", default=1), _int(obj, "status", "replicas")
    updated, ready = _int(obj, "status", "updatedReplicas"), _int(obj, "status", "readyReplicas")
    available_count = _int(obj, "status", "availableReplicas")
    for waiting, message in ((spec > replicas, f"Replicas: {replicas}/{spec}"),
                             (spec > updated, f"Updated: {updated}/{spec}"),
                             (replicas > spec, f"Pending termination: {replicas - spec}"),
                             (updated > available_count, f"Available: {available_count}/{updated}"),
                             (spec > ready, f"Ready: {ready}/{spec}"),
                             (not progressing, "ReplicaSet not Available"),
                             (not available, "Deployment not Available")):
        if waiting:
            return False, message
    return None, f"Deployment is available. Replicas: {replicas}"


def _statefulset(obj: JSON) -> Verdict:
    if ((obj.get("spec") or {}).get("updateStrategy") or {}).get("type") == "OnDelete":
        return None, "StatefulSet is using the ondelete update strategy"
    spec, replicas = _int(obj, "spec", "replicas", default=1), _int(obj, "status", "replicas")
    ready, current = _int(obj, "status", "readyReplicas"), _int(obj, "status", "currentReplicas")
    updated = _int(obj, "status", "updatedReplicas")
    partition = _int(obj, "spec", "updateStrategy", "rollingUpdate", "partition", default=-1)
    for waiting, message in ((spec > replicas, f"Replicas: {replicas}/{spec}"),
                             (spec > ready, f"Ready: {ready}/{spec}"),
                             (replicas > spec, f"Pending termination: {replicas - spec}")):
        if waiting:
            return False, message
    if partition != -1:
        if updated < spec - partition:
            return False, f"updated: {updated}/{spec - partition}"
        return None, f"Partition rollout complete. updated: {updated}"
    if spec > current:
        return False, f"current: {current}/{spec}"
    status = obj.get("status") or {}
    if status.get("currentRevision", "") != status.get("updateRevision", ""):
        return False, "Waiting for updated revision to match current"
    return None, f"All replicas scheduled as expected. Replicas: {replicas}"


def _daemonset(obj: JSON) -> Verdict:
    desired = _int(obj, "status", "desiredNumberScheduled", default=-1)
    if desired == -1:
        return False, "Missing .status.desiredNumberScheduled"
    for field, label in (("currentNumberScheduled", "Current"), ("updatedNumberScheduled", "Updated"),
                         ("numberAvailable", "Available"), ("numberReady", "Ready")):
        if desired > _int(obj, "status", field):
            return False, f"{label}: {_int(obj, 'status', field)}/{desired}"
    return None, f"All replicas scheduled as expected. Replicas: {desired}"


# --------------------------------------------------------------------------------------------------
# Rancher 2.0-2.4


def _legacy(obj: JSON) -> State:
    """rancher-api.md §5.2: Progressing=False -> error with its message; Available=False ->
    `updating`; a generation not yet observed -> `in-progress`; then ready replicas against replicas
    -> `updating` "upgrading workload"."""
    if obj.get("kind") == "CronJob":
        return "active", "no", ""
    status = obj.get("status") or {}
    conditions = {c.get("type"): c for c in status.get("conditions") or [] if isinstance(c, dict)}
    progressing, available = conditions.get("Progressing"), conditions.get("Available")
    state, transitioning, message = "active", "no", ""
    if progressing is not None and progressing.get("status") == "False":
        state, transitioning, message = "updating", "error", str(progressing.get("message") or "")
    elif available is not None and available.get("status") == "False":
        state, transitioning, message = "updating", "yes", str(available.get("message") or "")
    elif _int(obj, "status", "observedGeneration") != _int(obj, "metadata", "generation"):
        state, transitioning = "in-progress", "yes"
    if transitioning == "no":
        desired, ready = _replica_fields(obj)
        if status.get(desired, 0) != status.get(ready, 0):
            state, transitioning, message = "updating", "yes", "upgrading workload"
    return state, transitioning, message
