"""What the Rancher 2.x backend reads of a workload, whichever API served it, and the seam to those APIs.

v3 (`v3.py`) flattens the Kubernetes object and hides `metadata.generation`; the Kubernetes API
Rancher proxies (`kube.py`) serves it as it is. Both are read into a `WorkloadView` here, with the
status fields kubectl's rollout status reads under the names each kind gives them.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Collection, Protocol

from rancher_deploy.creation import Creation
from rancher_deploy.errors import ConfigError
from rancher_deploy.fleet_options import Patterns
from rancher_deploy.http import JSON
from rancher_deploy.plan import WorkloadUpdate
from rancher_deploy.rollout import Rollout
from rancher_deploy.settings import WorkloadTarget
from rancher_deploy.snapshot import TargetRef
from rancher_deploy.streams import StreamLost
from rancher_deploy.targets import WORKLOAD_KINDS

REVISION = "deployment.kubernetes.io/revision"
TIMESTAMP = "cattle.io/timestamp"
UNDO_UNSUPPORTED = ("{name}: a {kind} keeps no earlier revisions to roll back to; nothing was changed. "
                    "Upgrade it to the previous image instead")
NO_EARLIER = "{name} has no earlier revision to roll back to"
# The kinds whose revisions are ControllerRevisions (kubectl's StatefulSetRollbacker, DaemonSetRollbacker).
CONTROLLER_REVISION_KINDS = {"statefulset": "StatefulSet", "daemonset": "DaemonSet"}
# Each kind's resource name in the Kubernetes API (apps/v1 deployments, statefulsets, daemonsets; batch
# cronjobs, in the version kube.py discovers) and in v3's messages: the lower-case plural of the kind,
# derived from the one list of kinds.
PLURALS = {kind: f"{kind}s" for kind in WORKLOAD_KINDS}


@dataclass(frozen=True)
class WorkloadView:
    """The parts of a workload the pipeline needs, whichever API it came through.

    `revision` is the deployment.kubernetes.io/revision annotation (what `kubectl rollout history`
    numbers); `timestamp` the pod template's cattle.io/timestamp (what a redeploy changes). `labels`
    are the pod template's, `selector` the label keys the workload's selector uses, `cause` its own
    kubernetes.io/change-cause annotation (the deploy record); `state` Rancher's own word for it
    where the API gives one (v3's `state`), else None. `own_labels` and `own_annotations` are the
    workload's own metadata (where its per-target settings are read, `Snapshot.labels`).
    """

    kind: str
    name: str
    containers: tuple[JSON, ...]
    init_containers: tuple[JSON, ...]
    rollout: Rollout
    paused: bool
    revision: str | None
    timestamp: str | None
    raw: JSON = field(repr=False)
    labels: dict[str, Any] = field(default_factory=dict)
    selector: tuple[str, ...] = ()
    cause: str | None = None
    state: str | None = None
    own_labels: dict[str, str] = field(default_factory=dict)
    own_annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Listing:
    """A fleet listing through one API (`WorkloadAPI.survey`): the namespaces searched and those the
    patterns (or the project setting) left out, each workload found with its ref and body as that
    API served it, and what the server left out of the lists (a labelSelector), if anything."""

    searched: tuple[str, ...]
    passed: tuple[str, ...]
    found: tuple[tuple[TargetRef, JSON], ...]
    unlisted: str | None = None


@dataclass(frozen=True)
class Located:
    """A workload `WorkloadAPI.locate` found: its ref, and its body as that lookup read it (the whole
    object, as a GET of it answers), which stands for the first read of it."""

    ref: TargetRef
    body: JSON = field(repr=False)


@dataclass(frozen=True)
class Written:
    """What a write left: `baseline`, the observedGeneration to wait past (v3, which hides the
    generation; None where it tells), and `answer`, the workload as the write's answer shows it in
    this API's form (None where that answer is empty or another API's), which stands for the first
    look after the write."""

    baseline: int | None
    answer: JSON | None = field(default=None, repr=False)


class BodyStream(Protocol):
    """Workload bodies pushed by Rancher (`kubewatch.KubeWatch`): the first is the workload as it is now."""

    def next(self, timeout: float) -> JSON | None:
        ...

    def silent(self, why: str) -> StreamLost:
        ...

    def close(self) -> None:
        ...


class WorkloadAPI(Protocol):
    """One way of reaching workloads: v3 or the Kubernetes proxy.

    `baseline` is the observedGeneration seen before this run's last write, for an API that hides
    metadata.generation (v3): the rollout counts as observed only once it has passed it. Errors are
    the `errors` family (TargetNotFound, ConfigError, RefusedError, RancherAPIError, transient ones).
    """

    flavour: str   # "v3" or "k8s": the JSON result's flavour
    env_lists: bool  # whether a container without environment takes Kubernetes' `env` (`envlabels.edit_v3_env`)

    def locate(self, target: WorkloadTarget) -> Located:
        """Find the workload (a bare name across kinds) and read it; TargetNotFound lists what the
        namespace has."""
        ...

    def survey(self, namespaces: Patterns | None, labels: tuple[str, ...]) -> Listing:
        """Every workload of fleet mode's namespaces (those `namespaces` fully match; all when None),
        page by page: requests in proportion to the pages of the lists, never one per workload.
        `labels` are the opt-in label names, which an API that can asks the server to filter by."""
        ...

    def read(self, ref: TargetRef, baseline: int | None) -> WorkloadView:
        """One GET of the workload, parsed."""
        ...

    def parse(self, ref: TargetRef, body: JSON, baseline: int | None) -> WorkloadView:
        """The view of a body this API returned (no request)."""
        ...

    def write(self, ref: TargetRef, view: WorkloadView, update: WorkloadUpdate) -> Written:
        """Make the update in one write: the named containers to their images with their environment
        edits, the pod template's label edits, the deploy record on the workload's own metadata (so it
        starts no rollout by itself), or a redeploy (same images, new pod-template timestamp);
        returns the baseline to wait past and what the write answered."""
        ...

    def watch(self, ref: TargetRef, last: JSON | None = None) -> BodyStream | None:
        """A stream of the workload's bodies (`parse` reads them), or None where this API offers
        none; StreamLost when it cannot be opened. `last` is the workload as a write just answered
        it: the stream starts from it rather than from a read."""
        ...

    def earlier(self, ref: TargetRef, view: WorkloadView) -> WorkloadView | None:
        """The revision a rollback would restore, `kubectl rollout undo`'s choice (kubectl
        pkg/polymorphichelpers/rollback.go): a Deployment's ReplicaSet of the revision before its
        own, a StatefulSet's or DaemonSet's ControllerRevision before the newest; None when there
        is none. Reads Rancher (one listing) except where the revision number says there is none.
        RefusedError, before any change, for a kind that keeps no revisions (a CronJob) or where no
        API this key reaches holds them. The one place that decides what a rollback restores."""
        ...

    def restore(self, ref: TargetRef, view: WorkloadView, previous: WorkloadView | None) -> int | None:
        """Put back the template of `previous` (this run's before-image) or else the `earlier`
        revision; returns the baseline as `write` does. RefusedError when there is none."""
        ...

    def release(self, ref: TargetRef, view: WorkloadView) -> list[str] | None:
        """After a restore, delete the pods a StatefulSet leaves stuck on the failed revision
        (kubernetes/kubernetes#67250); the names deleted, or None where nothing needs it."""
        ...

    def create(self, creation: Creation) -> TargetRef:
        """POST the deployment `creation` describes (once); its ref. Errors are the session's."""
        ...

    def remove(self, ref: TargetRef) -> None:
        """DELETE a workload this run created (once); errors are the session's."""
        ...


class OutsideProjects(Exception):
    """v3 found the target's namespace in no Rancher project, where v3 cannot see it; `api` (the
    Kubernetes API Rancher proxies) can. Caught by the backend, which switches to it for the run."""

    def __init__(self, api: WorkloadAPI, message: str) -> None:
        super().__init__(message)
        self.api = api
        self.message = message


def choose_kind(target: WorkloadTarget, kinds: Collection[str]) -> str | None:
    """The kind a bare workload name means, given the kinds that have a workload of that name.

    The one kind that has it; None when no kind has it. Raises ConfigError naming the matches when
    several kinds share the name: guessing (even "the deployment, as before") could upgrade the
    wrong workload, and `kind:name` says it exactly.
    """
    if len(kinds) <= 1:
        return next(iter(kinds), None)
    matches = ", ".join(f"{kind}:{target.name}" for kind in WORKLOAD_KINDS if kind in kinds)
    raise ConfigError("RANCHER_WORKLOAD", f"{target.name!r} names several workloads in namespace "
                                          f"{target.namespace!r} ({matches}); write the one you mean as kind:name")


def rollout_of(kind: str, name: str, replicas: int, status: JSON, *, generation: int | None,
               baseline: int | None, strategy: Any = None, partition: Any = None) -> Rollout:
    """Read the status fields kubectl reads, under the names each workload kind gives them
    (`strategy`/`partition`: a StatefulSet's or DaemonSet's update strategy, as the API shows it)."""
    desired = int(status.get("desiredNumberScheduled") or 0) if kind == "daemonset" else replicas
    return Rollout(
        kind=kind,
        name=name,
        generation=generation,
        # A cronjob has no rollout to observe; its change is done once accepted.
        observed_generation=int_or_none(status.get("observedGeneration")) if kind != "cronjob" else 0,
        baseline_generation=baseline,
        desired=desired,
        replicas=int_or_none(status.get("replicas") or status.get("currentNumberScheduled")) or 0,
        updated=int_or_none(status.get("updatedReplicas") or status.get("updatedNumberScheduled")) or 0,
        ready=int_or_none(status.get("readyReplicas") or status.get("numberReady")) or 0,
        available=int_or_none(status.get("availableReplicas") or status.get("numberAvailable")) or 0,
        deadline_exceeded=_deadline_exceeded(status.get("conditions")),
        current_revision=status.get("currentRevision"),
        update_revision=status.get("updateRevision"),
        strategy=str(strategy) if strategy else None,
        partition=int_or_none(partition) if kind == "statefulset" else None,
    )


def identity_of(body: JSON) -> tuple[str, str, str]:
    """(kind, name, namespace) of a workload as either API shows it (Kubernetes metadata, or v3's
    flattened `type`/`name`/`namespaceId`)."""
    metadata = body.get("metadata") or {}
    kind = str(body.get("kind") or body.get("type") or "deployment").lower()
    name = str(metadata.get("name") or body.get("name") or "")
    namespace = str(metadata.get("namespace") or body.get("namespaceId") or "")
    return kind, name, namespace


_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def timestamp_now(current: str | None = None) -> str:
    """The pod-template timestamp a redeploy sets (RFC 3339 UTC, as v3's `redeploy` writes it:
    rancher pkg/api/norman/customization/workload/workload.go, updateTimestamp).

    Always different from `current`, the value the template has: the format has whole seconds, and
    a redeploy within the same second (a retry, two pipelines) would otherwise change nothing, start
    no rollout, and wait for one until the timeout. So it is one second past `current` when the
    clock has not passed it yet.
    """
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    try:
        earlier = datetime.datetime.strptime(current or "", _TIMESTAMP_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        earlier = None
    if earlier is not None and now <= earlier:
        now = earlier + datetime.timedelta(seconds=1)
    return now.strftime(_TIMESTAMP_FORMAT)


def selector_keys(selector: Any) -> tuple[str, ...]:
    """The label keys a selector (`matchLabels` and `matchExpressions`) uses."""
    selector = selector or {}
    expressions = selector.get("matchExpressions") or []
    return tuple(dict.fromkeys([*(selector.get("matchLabels") or {}),
                                *(str(expression.get("key")) for expression in expressions)]))


def selector_of(body: JSON) -> str:
    """The workload's label selector as a `labelSelector` parameter (`matchLabels` only, which is
    all Rancher sets), from a Kubernetes object's `spec.selector` or v3's flattened `selector`."""
    selector = (body.get("spec") or {}).get("selector") or body.get("selector") or {}
    return ",".join(f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items()))


def template_of(body: JSON) -> JSON:
    spec = body.get("spec") or {}
    if "jobTemplate" in spec:
        spec = ((spec.get("jobTemplate") or {}).get("spec")) or {}
    return dict(spec.get("template") or {})


def pod_spec_of(body: JSON) -> JSON:
    return dict(template_of(body).get("spec") or {})


def _deadline_exceeded(conditions: Any) -> str | None:
    for condition in conditions or []:
        if condition.get("type") == "Progressing" and condition.get("reason") == "ProgressDeadlineExceeded":
            return str(condition.get("message") or "ProgressDeadlineExceeded")
    return None


def int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def previous_revision(revision: str | None) -> str | None:
    number = int_or_none(revision)
    return str(number - 1) if number is not None and number > 1 else None
