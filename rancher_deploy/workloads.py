"""The Rancher 2.x backend: workloads through the v3 API (2.0-2.5) or the Kubernetes API Rancher proxies (2.6+).

Both views hold the same Kubernetes object, so one backend serves them through two small adapters
(`v3`, `kube`, seam in `workload_view`): what differs is how the object is read (v3 flattens it and
hides `metadata.generation`), how the image is changed (v3: PUT of the whole object, arrays
replaced whole; Kubernetes: a strategic merge patch naming only the containers), and how a
rollback is asked for (v3's `rollback` action with a ReplicaSet id; on Kubernetes the previous
template put back, as `kubectl rollout undo` does on the client side). Rollout completion is
kubectl's rule, one viewer per kind (`rollout`).
"""

from __future__ import annotations

import re
from typing import Callable

from rancher_deploy.backend import Stream, StreamLost
from rancher_deploy.errors import ConfigError, ExitCode, RancherAPIError, RefusedError
from rancher_deploy.http import JSON, RancherSession
from rancher_deploy.kube import KubeWorkloads
from rancher_deploy.creation import WORKLOAD_SELECTOR, Creation
from rancher_deploy.envlabels import change_cause
from rancher_deploy.fleet import CONTAINER, INIT, Candidate, Container, Survey
from rancher_deploy.images import display_image
from rancher_deploy.plan import Plan, WorkloadUpdate, plan_creation, plan_workload_update
from rancher_deploy.rollout import WorkloadStatus
from rancher_deploy.settings import Settings, Target, WorkloadTarget
from rancher_deploy.projects import CLUSTER_ID, find_cluster, find_projects
from rancher_deploy.snapshot import Goal, Phase, Restore, Snapshot, TargetRef, Verdict
from rancher_deploy.v3 import V3Workloads
from rancher_deploy.workload_view import (
    NO_EARLIER,
    BodyStream,
    OutsideProjects,
    WorkloadAPI,
    WorkloadView,
    identity_of,
    int_or_none,
)


# A Rancher release as major, minor, patch: all that decides which API or body shape it has. Compared
# as numbers, as semver would for these three (a pre-release or build suffix decides nothing here),
# without importing semver into every 2.x run: only a version policy needs it (`images`).
Release = tuple[int, int, int]

# Rancher 2.6 removed v3's environment mapper: from then on v3 containers carry Kubernetes' `env`
# (rancher commit 3eb274ff13; rancher-api.md §5.2).
ENV_LISTS_FROM: Release = (2, 6, 0)


def at_least(version: str, floor: Release) -> bool:
    """Whether a Rancher version (`v2.8.5`, as `/rancherversion` gives it) is `floor` or later; a
    development build (`master-head`) counts as current."""
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", version)
    if not match:
        return True
    major, minor, patch = (int(part or 0) for part in match.groups())
    return (major, minor, patch) >= floor


class WorkloadsBackend:
    """Backend protocol implementation for Rancher 2.x; `api` decides v3 or Kubernetes."""

    def __init__(self, api: WorkloadAPI, where: str, warn: Callable[[str], None] = lambda text: None) -> None:
        self._api = api
        self._where = where
        self._warn = warn
        self._baseline: dict[str, int | None] = {}
        self._before: dict[str, WorkloadView] = {}
        # The workload as last read, per target id, until a write is sent: the write starts from the
        # read that decided it (`actions.Actions.send`) rather than reading again.
        self._seen: dict[str, WorkloadView] = {}
        # The workload as `resolve` found it, until the first read (the preflight) takes it: the lookup
        # read the whole object, so reading it again at once would learn nothing.
        self._located: dict[str, JSON] = {}
        # The workload as the write answered it, until the wait's first look takes it (no read, or the
        # watch starts from it); any other read drops it.
        self._answered: dict[str, JSON] = {}
        self._releasing: set[str] = set()  # statefulsets rolled back whose stuck pods are still to be deleted

    @property
    def flavour(self) -> str:
        return self._api.flavour

    @property
    def where(self) -> str:
        return self._where

    @property
    def needs_finish(self) -> bool:
        return False

    @property
    def reports_stalls(self) -> bool:
        return True  # a Deployment's progressDeadlineSeconds, read by its viewer (rollout.py)

    @property
    def applied_goal(self) -> Goal:
        return Goal.ROLLED_OUT

    @property
    def restored_goal(self) -> Goal:
        return Goal.ROLLED_OUT

    def resolve(self, target: Target) -> TargetRef:
        if not isinstance(target, WorkloadTarget):
            raise ConfigError("RANCHER_SERVICE", "names a Rancher 1.x service, but this is Rancher 2.x; "
                                                 "set RANCHER_WORKLOAD (and RANCHER_NAMESPACE)")
        try:
            found = self._api.locate(target)
        except OutsideProjects as moved:
            # The namespace is in no Rancher project: v3 cannot see it, the Kubernetes API can.
            self._warn(moved.message)
            self._api = moved.api
            self._where = f"{self._where.split(',')[0]}, Kubernetes API through Rancher"
            found = self._api.locate(target)
        self._located[found.ref.id] = found.body
        return found.ref

    def survey(self, settings: Settings) -> Survey:
        if settings.environments is not None:
            raise ConfigError("RANCHER_ENVIRONMENTS", "chooses Rancher 1.x environments, but this is Rancher 2.x: "
                                                      "choose namespaces with RANCHER_NAMESPACES")
        listing = self._api.survey(settings.namespaces, settings.select_labels)
        candidates = []
        for ref, body in listing.found:
            view = self._api.parse(ref, body, None)
            _, name, namespace = identity_of(body)
            containers = (*(Container(str(c.get("name")), display_image(str(c.get("image"))), CONTAINER)
                            for c in view.containers),
                          *(Container(str(c.get("name")), display_image(str(c.get("image"))), INIT)
                            for c in view.init_containers))
            candidates.append(Candidate(ref, WorkloadTarget(view.kind, name, namespace), namespace,
                                        {str(key): str(value) for key, value in view.own_labels.items()},
                                        containers, _snapshot(view)))
        return Survey("namespace", "RANCHER_NAMESPACES", listing.searched, listing.passed, tuple(candidates),
                      listing.unlisted)

    def _view(self, ref: TargetRef) -> WorkloadView:
        """One read of the workload, or the lookup's when nothing read it since."""
        self._answered.pop(ref.id, None)
        located = self._located.pop(ref.id, None)
        baseline = self._baseline.get(ref.id)
        view = self._api.parse(ref, located, baseline) if located is not None else self._api.read(ref, baseline)
        self._seen[ref.id] = view
        return view

    def _last_view(self, ref: TargetRef) -> WorkloadView:
        """The workload as last read, taken once (no write was sent since), else read now."""
        view = self._seen.pop(ref.id, None) or self._view(ref)
        self._seen.pop(ref.id, None)
        self._answered.pop(ref.id, None)
        return view

    def fetch(self, ref: TargetRef) -> Snapshot:
        return _snapshot(self._view(ref))

    def observe(self, ref: TargetRef) -> Snapshot:
        # The rollout status carries its own counts; the first look after a write is its answer.
        answered = self._answered.pop(ref.id, None)
        if answered is None:
            return self._observed(ref, self._view(ref))
        return self._observed(ref, self._api.parse(ref, answered, self._baseline.get(ref.id)))

    def watch(self, ref: TargetRef) -> Stream | None:
        bodies = self._api.watch(ref, self._answered.pop(ref.id, None))
        return _WorkloadStream(self, ref, bodies) if bodies is not None else None

    def _observed(self, ref: TargetRef, view: WorkloadView) -> Snapshot:
        """The snapshot of a view read for a wait (polled or pushed)."""
        if ref.id in self._releasing and view.rollout.observed:
            self._release(ref, view)
        return _snapshot(view)

    def plan(self, ref: TargetRef, snapshot: Snapshot, settings: Settings) -> Plan:
        if settings.image is None and not settings.edits:
            raise ConfigError("RANCHER_IMAGE", "is required for a Rancher 2.x workload")
        view = self._api.parse(ref, dict(snapshot.raw), self._baseline.get(ref.id))  # the snapshot was just read
        return plan_workload_update(view.containers, view.init_containers, target=ref.name, target_id=ref.id,
                                    image=settings.image, names=settings.containers,
                                    include_init=settings.init_containers, force=settings.force,
                                    edits=settings.edits, labels=view.labels, selector=view.selector,
                                    env_lists=self._api.env_lists, record=settings.record.on(rancher_2=True),
                                    origin=settings.origin)

    def apply(self, ref: TargetRef, plan: Plan) -> None:
        if not isinstance(plan.request, WorkloadUpdate):
            raise TypeError(f"a Rancher 2.x workload cannot apply {type(plan.request).__name__}")
        view = self._last_view(ref)
        self._before[ref.id] = view
        written = self._api.write(ref, view, plan.request)
        self._baseline[ref.id] = written.baseline
        if written.answer is not None:
            self._answered[ref.id] = written.answer

    def finish(self, ref: TargetRef) -> None:
        raise RefusedError(f"{ref.name} is a Rancher 2.x workload: its rollout finishes on its own")

    def rollback(self, ref: TargetRef) -> None:
        view = self._last_view(ref)
        self._baseline[ref.id] = self._api.restore(ref, view, self._before.get(ref.id))
        if view.kind == "statefulset":
            self._releasing.add(ref.id)

    def rollback_to(self, ref: TargetRef, snapshot: Snapshot) -> Restore:
        view = self._api.parse(ref, dict(snapshot.raw), self._baseline.get(ref.id))  # the snapshot was just read
        if view.paused:
            # A paused rollout would not move to the restored template (kubectl refuses too).
            raise RefusedError(f"{ref.name} is {snapshot.state}, which a rollback does not start from: "
                               f"{self.next_steps(snapshot)}; nothing was changed")
        earlier = self._api.earlier(ref, view)
        if earlier is None:
            return Restore(nothing=NO_EARLIER.format(name=ref.name))
        return Restore(tuple((str(c.get("name")), str(c.get("image"))) for c in earlier.containers))

    def _release(self, ref: TargetRef, view: WorkloadView) -> None:
        """Once the StatefulSet has taken the restored template, delete the pods it would wait for
        forever (see `KubeWorkloads.release`), and say so; done once per rollback."""
        try:
            deleted = self._api.release(ref, view)
        except RancherAPIError as error:
            if error.exit_code is ExitCode.RANCHER_UNAVAILABLE:
                return  # may pass: tried again at the next look
            self._releasing.discard(ref.id)
            self._warn(f"{ref.name}: could not look for pods left on the failed revision ({error}); a StatefulSet "
                       "waits for them forever: delete those that are not ready if the rollback stalls")
            return
        if deleted is None:
            return  # the controller has not taken the restored template yet
        self._releasing.discard(ref.id)
        if deleted:
            self._warn(f"{ref.name}: deleted pod {', '.join(deleted)}, which ran the failed revision and was not "
                       "ready: a StatefulSet does not replace such a pod by itself, even after a rollback "
                       "(Kubernetes' forced rollback, kubernetes/kubernetes#67250); it is made again from the "
                       "restored revision")

    # -- creating (RANCHER_CREATE) ----------------------------------------------------------------

    def plan_creation(self, target: Target, settings: Settings) -> Plan:
        if not isinstance(target, WorkloadTarget) or settings.image is None:
            raise ConfigError("RANCHER_CREATE", f"cannot create {target}: it needs an image")  # settings check first
        if target.kind not in (None, "deployment"):
            raise ConfigError("RANCHER_CREATE", f"makes deployments only, and {target} does not exist; create the "
                                                f"{target.kind} in Rancher, or name a deployment")
        if len(settings.containers) > 1:
            raise ConfigError("RANCHER_CONTAINER", f"names several containers, but {target} does not exist and "
                                                   "RANCHER_CREATE makes one; name one (its name) or none")
        blueprint = settings.blueprint
        if any(key == WORKLOAD_SELECTOR for key, _ in blueprint.labels):
            raise ConfigError("RANCHER_CREATE", f"sets the label {WORKLOAD_SELECTOR}, which Rancher selects the "
                                                "workload's pods by; it is set on creation, leave it out")
        made = WorkloadTarget("deployment", target.name, target.namespace)
        warnings = [f"{made}: RANCHER_PORT {port} publishes no port on Rancher 2.x: the container gets containerPort "
                    f"{port.private} and no Service is created" for port in blueprint.ports if port.public is not None]
        container = settings.containers[0] if settings.containers else target.name
        cause = (change_cause(((container, str(settings.image)),), settings.origin)
                 if settings.record.on(rancher_2=True) else None)
        creation = Creation(made, "deployment", container, settings.image, blueprint, cause=cause)
        return plan_creation(creation, target_id=f"deployment:{target.namespace}:{target.name}", warnings=warnings)

    def create(self, plan: Plan) -> TargetRef:
        if not isinstance(plan.request, Creation):
            raise TypeError(f"a Rancher 2.x workload cannot be created from {type(plan.request).__name__}")
        return self._api.create(plan.request)

    def remove(self, ref: TargetRef) -> None:
        self._api.remove(ref)

    def next_steps(self, snapshot: Snapshot | None) -> str:
        # A rollout has no finish step (`finish` refuses a workload), so a failed or stopped one is
        # undone to the previous revision, or replaced by upgrading to another image.
        if snapshot is None:
            return "check it with `rancher-deploy status`"
        if snapshot.phase is Phase.BLOCKED:
            # Paused: no new ReplicaSet until resumed, which is the owner's call (v3 `resume`,
            # Steve/kubectl `spec.paused: false`); named the way a 2.x user does it.
            kind, name, namespace = identity_of(dict(snapshot.raw))
            return (f"resume its rollout with `kubectl rollout resume {kind}/{name} -n {namespace}` or Resume "
                    "on the workload in Rancher's UI, then upgrade it again")
        if snapshot.can_roll_back:
            return ("restore the previous revision with `rancher-deploy rollback`, or upgrade it to another image "
                    "with `rancher-deploy upgrade`")
        return "upgrade it to another image with `rancher-deploy upgrade`"


class _WorkloadStream:
    """`Backend.watch` on 2.x: the API's workload bodies, judged as `observe` judges a read."""

    def __init__(self, backend: WorkloadsBackend, ref: TargetRef, bodies: BodyStream) -> None:
        self._backend = backend
        self._ref = ref
        self._bodies = bodies

    def next(self, timeout: float) -> Snapshot | None:
        body = self._bodies.next(timeout)
        if body is None:
            return None
        backend, ref = self._backend, self._ref
        return backend._observed(ref, backend._api.parse(ref, body, backend._baseline.get(ref.id)))

    def silent(self, why: str) -> StreamLost:
        return self._bodies.silent(why)

    def close(self) -> None:
        self._bodies.close()


def _snapshot(view: WorkloadView) -> Snapshot:
    """A workload in the pipeline's terms.

    The phase is this tool's judgement (kubectl's rule), whatever Rancher calls the workload. The state
    word is Rancher's own where the API gives one (v3's `state`, which each release words its own way:
    `in-progress`, `updating`, `error`, ...); the Kubernetes API gives none, so the words Rancher's UI
    shows stand in. A paused rollout is called `paused`: Rancher's summary has no word for it.
    """
    status = WorkloadStatus(view.rollout)
    judgement = status.judge(Goal.ROLLED_OUT)
    if view.paused:
        state, phase = "paused", Phase.BLOCKED
    elif judgement.verdict is Verdict.WAITING:
        state, phase = view.state or "updating", Phase.BUSY
    elif judgement.verdict is Verdict.FAILED:
        # A stalled rollout (progress deadline exceeded): kstatus calls it `failed` (Rancher 2.6+ UI);
        # it is a resting state a new image (or a rollback) may fix.
        state, phase = view.state or "failed", Phase.READY
    else:
        state, phase = view.state or "active", Phase.READY
    revision = int_or_none(view.revision)
    return Snapshot(
        state=state,
        phase=phase,
        images=tuple((str(c.get("name")), str(c.get("image"))) for c in view.containers),
        status=status,
        message=judgement.message,
        health=view.rollout.health,
        # Deployments number their revisions; other kinds are checked when rolling back (statefulsets
        # and daemonsets keep ControllerRevisions; a cronjob's refusal says it keeps none). A paused
        # rollout would not move to the restored template, so nothing is offered until it is resumed.
        can_roll_back=not view.paused and (view.kind != "deployment" or (revision is not None and revision > 1)),
        raw=view.raw,
        generation=_generation(view),
        labels=view.own_labels,
        annotations=view.own_annotations,
    )


def _generation(view: WorkloadView) -> str | None:
    """metadata.generation where the API shows it; v3 hides it, but the images and the pod template's
    redeploy timestamp are all a change through this tool can touch."""
    generation = (view.raw.get("metadata") or {}).get("generation")
    return str(generation) if generation is not None else view.timestamp


# -- connecting -------------------------------------------------------------------------------------


def connect(session: RancherSession, root: str, flavour: str, settings: Settings, *,
            url_project: str | None, url_cluster: str | None, version: str | None,
            warn: Callable[[str], None]) -> WorkloadsBackend:
    """Build the 2.x backend for the detected (or forced) flavour.

    What the user names is checked here, before "Connected", one request each and none for what is
    not named: a project (CATTLE_URL's, else RANCHER_PROJECT), a cluster in CATTLE_URL, and for the
    Kubernetes API, which needs one, the cluster. RANCHER_CLUSTER on v3 is checked only when a
    lookup misses, where it costs nothing on a run that works. ConfigError names the wrong setting.
    """
    label = f"Rancher {version}" if version else "Rancher 2.x"
    wanted_cluster, cluster_setting = ((url_cluster, "CATTLE_URL") if url_cluster else
                                       (settings.cluster, "RANCHER_CLUSTER"))
    named = url_project or settings.project
    project_setting = "CATTLE_URL" if url_project else "RANCHER_PROJECT"
    if flavour == "v3":
        by_id = wanted_cluster if wanted_cluster and CLUSTER_ID.match(wanted_cluster) else None
        project = find_projects(session, root, named, project_setting, cluster=by_id) if named else None
        if url_cluster and not url_project:
            find_cluster(session, root, url_cluster, "CATTLE_URL")
        api = V3Workloads(session, root, project, wanted_cluster, cluster_setting=cluster_setting, warn=warn,
                          env_lists=version is not None and at_least(version, ENV_LISTS_FROM))
        return WorkloadsBackend(api, f"{label}, v3 API", warn)
    cluster_doc: JSON | None = None
    if wanted_cluster:
        cluster_doc = find_cluster(session, root, wanted_cluster, cluster_setting)
    project = find_projects(session, root, named, project_setting,
                            cluster=str(cluster_doc["id"]) if cluster_doc else None) if named else None
    if cluster_doc is None and project is not None and len(project.clusters) > 1:
        raise ConfigError("RANCHER_CLUSTER", f"is required: project {project} is in several clusters "
                                             f"({', '.join(project.clusters)})")
    if cluster_doc is None:
        cluster_doc = find_cluster(session, root, project.clusters[0] if project else None, project_setting)
    cluster_id, name = str(cluster_doc.get("id")), str(cluster_doc.get("name") or "")
    if project is not None:
        project = project.in_cluster(cluster_id)
    kube = KubeWorkloads(session, root, cluster_id, project, quiet_seconds=settings.poll_interval_seconds)
    return WorkloadsBackend(kube, f"{label}, Kubernetes API through Rancher, cluster {cluster_id}"
                            + (f" ({name})" if name and name != cluster_id else ""), warn)
