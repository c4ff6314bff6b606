"""The seam between the flavour-neutral pipeline (`deploy`) and each Rancher flavour's API.

`deploy` only ever sees this Protocol and the values of `snapshot`, so Rancher 1.x services and
Rancher 2.x workloads share one pipeline: resolve, look, plan, apply, wait, finish or roll back.
Each flavour reads its targets into a `Snapshot` and brings its own judge (kubectl's
`StatusViewerFor(kind)`: one rule per kind of target, pkg/polymorphichelpers/rollout_status.go).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from rancher_deploy.plan import Plan
from rancher_deploy.settings import Settings, Target
from rancher_deploy.snapshot import Goal, Restore, Snapshot, TargetRef
from rancher_deploy.streams import StreamLost

if TYPE_CHECKING:  # fleet mode's alone: a run naming its targets never loads `fleet`
    from rancher_deploy.fleet import Survey

__all__ = ["Backend", "Stream", "StreamLost"]


class Stream(Protocol):
    """Observations of one target pushed by Rancher (1.x subscribe, v3 subscribe, a Kubernetes watch).

    The first `next` answers the target as it is now (1.x: as the environment's subscription has kept
    it since the target's first wait, `subscribe.ServiceEvents`); later ones answer it after each change.
    """

    def next(self, timeout: float) -> Snapshot | None:
        """The next snapshot, or None when nothing changed within `timeout` seconds (real time; kept
        short by the wait so that a signal is noticed promptly). Raises StreamLost when the stream
        broke, `NotFound` when the target was removed, and what `fetch` raises for a re-read."""
        ...

    def silent(self, why: str) -> StreamLost:
        """Take the stream for one that went silent (`why`: a read showed what it did not send):
        closed, and this flavour's stream lost for the rest of the run (later waits poll rather than
        open another through the same proxy). Returns the StreamLost to report; raises nothing."""
        ...

    def close(self) -> None:
        """Close the connection; raises nothing."""
        ...


class Backend(Protocol):
    """What each flavour implements (`cattle.CattleBackend`, `workloads.WorkloadsBackend`).

    Every method that sends a request may raise what `http.RancherSession` raises: a
    `RancherAPIError` subclass for Rancher's own error answer (`AuthenticationFailed` 401,
    `PermissionDenied` 403, `NotFound` 404, other statuses; 409/429/5xx to a write exit 3),
    `TransientRancherError` when a read kept failing in a way that may pass (connection reset,
    5xx, 409, `RequestTimedOut`), `RancherUnreachable` when no answer came, `NotRancher` for an
    answer that is not Rancher's API (a redirect, no JSON), `TLSFailed`/`CertificateNotTrusted`.
    Each method below lists what it raises besides those, as implemented.
    """

    @property
    def flavour(self) -> str:
        """"rancher-1.x", "v3" or "k8s": which API the run speaks (the JSON result's `flavour`)."""
        ...

    @property
    def where(self) -> str:
        """The "Connected: ..." line: version, API and environment/cluster."""
        ...

    @property
    def needs_finish(self) -> bool:
        """Rancher 1.x upgrades end `upgraded` and need finishupgrade; 2.x rollouts end on their own."""
        ...

    @property
    def reports_stalls(self) -> bool:
        """Whether Rancher itself says when a change stopped making progress (2.x: Kubernetes' progress
        deadline, which the judge reads). Where it does not (1.x waits for ever for new containers
        that never become healthy, rancher-api.md §2.2), a wait on a change under way is held to
        RANCHER_PROGRESS_DEADLINE (`steps.TargetSteps.wait`)."""
        ...

    @property
    def applied_goal(self) -> Goal:
        """The goal a requested change is waited for (1.x UPGRADED, 2.x ROLLED_OUT)."""
        ...

    @property
    def restored_goal(self) -> Goal:
        """The goal a finish or rollback is waited for, and a target this run created (1.x ACTIVE, 2.x
        ROLLED_OUT): where a target rests, healthy, when no upgrade of it is pending."""
        ...

    def resolve(self, target: Target) -> TargetRef:
        """Find the named target (a few GETs); no change.

        Raises TargetNotFound listing what exists instead (the stack, service, namespace or workload
        missing), as its subclass TargetMissing where only the target itself is missing and
        RANCHER_CREATE could make it (1.x: the service, or its stack too; 2.x: the workload, in a
        namespace that exists); ConfigError for a target of the other line (a workload on 1.x, a
        service on 2.x), a service name in several stacks, a bare workload name several kinds share,
        or, on 2.x, a namespace outside the project the settings name.
        """
        ...

    def survey(self, settings: Settings) -> Survey:
        """Every candidate of a fleet run (`--select-image`): each service (1.x) or workload (2.x) of
        the environments (RANCHER_ENVIRONMENTS) or namespaces (RANCHER_NAMESPACES) whose names the
        patterns fully match, read page by page, so that the requests grow with the pages of the lists,
        never with the targets; `fleet.select` then decides. No change.

        Raises ConfigError for the other line's setting (RANCHER_NAMESPACES on 1.x, RANCHER_ENVIRONMENTS
        on 2.x).
        """
        ...

    def plan_creation(self, target: Target, settings: Settings) -> Plan:
        """What RANCHER_CREATE makes of `target`, which `resolve` found missing: a Plan whose request is a
        `creation.Creation` (one container, from the settings' `blueprint`) and whose target_id is
        Rancher's id where it is known before the target exists (2.x), else "". 1.x reads whether the
        stack exists (one GET); no change.

        Raises ConfigError where it cannot be made: a 2.x kind other than a deployment, several
        containers named, sidekicks (1.x) or a label Rancher selects a 2.x workload's pods by.
        """
        ...

    def create(self, plan: Plan) -> TargetRef:
        """Create the target of a `plan_creation` plan and return its ref; each POST sent once, never
        repeated here. 1.x: the stack first when it is missing, then the service with `startOnCreate`,
        which Rancher activates by itself (201, `registering`); 2.x: the deployment (v3 POST of a
        workload, or an apps/v1 Deployment through the Kubernetes API; 201).

        Raises TypeError for a plan that is not a creation; what the session raises for the POST (a
        refusal, 4xx: nothing was made, a stack this call made for it is removed again; a lost answer
        or 5xx: the caller looks with `resolve` whether it was made).
        """
        ...

    def remove(self, ref: TargetRef) -> None:
        """Delete a target this run created, as Rancher's UI does (one DELETE, never repeated here):
        1.x the service, then the stack when this run created it and made nothing else in it that is
        still there; 2.x the deployment. Once Rancher has removed it, `observe` shows it gone (1.x:
        state `removed`) or raises NotFound (2.x).

        Raises what the session raises for the DELETE; a stack left behind is warned about, not raised.
        """
        ...

    def fetch(self, ref: TargetRef) -> Snapshot:
        """One read of the target (one request); `health` may be None where counting costs more.

        The first fetch of a target after `resolve` may answer from what resolve's listing returned
        (no request): nothing happened in between that a second read could learn of.

        Raises only what the session raises (`NotFound` when the target was removed meanwhile).
        """
        ...

    def observe(self, ref: TargetRef) -> Snapshot:
        """A read for a wait: like `fetch`, with `health` counted (1.x reads the containers too).

        Raises only what the session raises. On 2.x, once a StatefulSet's rollback is taken it also
        deletes the pods left not ready on the failed revision; Rancher refusing that is warned
        about, not raised.
        """
        ...

    def watch(self, ref: TargetRef) -> Stream | None:
        """Open a stream of snapshots of the target for a wait, or None where this flavour offers
        none. Its snapshots are those `observe` would read (health counted), for the same judge.

        Raises StreamLost when Rancher refuses or breaks the stream (the wait then polls), and what
        the session raises for the reads that start it.
        """
        ...

    def plan(self, ref: TargetRef, snapshot: Snapshot, settings: Settings) -> Plan:
        """The change the settings ask for, from the snapshot just read; no request.

        Raises ConfigError when it cannot be made: no image (2.x), a sidekick or container the
        target does not have, no container running the image's repository among several, start-first
        on a service with retainIp (1.x, which Rancher would refuse with a 422).
        """
        ...

    def apply(self, ref: TargetRef, plan: Plan) -> None:
        """Send the plan's request once (never repeated here: see `actions`); 1.x takes its `upgrade`
        action link from the service as last read, 2.x keeps the workload as last read for what it
        restores, reading first only when an action was sent since (or it was never read).

        Raises TypeError for a plan made by another flavour (a programming error, not a setting);
        RefusedError (1.x) when Rancher does not offer `upgrade` in the service's state.
        """
        ...

    def finish(self, ref: TargetRef) -> None:
        """Send finishupgrade (1.x, after one read for its action link).

        Raises RefusedError where Rancher does not offer it in the service's state, and always on
        2.x, whose rollouts have no finish step (no request is sent).
        """
        ...

    def rollback_to(self, ref: TargetRef, snapshot: Snapshot) -> Restore:
        """What a rollback of the target, read as `snapshot`, would restore, or why there is nothing to
        roll back to (1.x: no pending upgrade, no request; 2.x: no earlier revision, one listing of
        the revisions unless the revision number already says so). No change.

        The one place that decides this, so the `rollback` command skips, refuses or goes on by the
        same rule for every flavour and kind, before it says "Rolling back". Raises RefusedError
        where the target cannot be rolled back at all: a kind that keeps no revisions (a cronjob), a
        StatefulSet/DaemonSet whose revisions no API this key reaches holds, a paused rollout.
        """
        ...

    def rollback(self, ref: TargetRef) -> None:
        """Ask Rancher to restore the previous configuration (1.x: the `rollback` action; 2.x: this
        run's before-image, else the revision `rollback_to` names, as `kubectl rollout undo` does).

        Raises RefusedError, with nothing changed, where it cannot: 1.x not offering rollback in
        that state; a 2.x workload with no earlier revision, a cronjob (which keeps none), or a
        StatefulSet/DaemonSet whose revisions the key cannot read through the Kubernetes API.
        """
        ...

    def next_steps(self, snapshot: Snapshot | None) -> str:
        """What a person can run next on a target left as `snapshot` shows it (None: unknown).

        The one place advice comes from, so that every `rancher-deploy ...` it names is a command
        that works for this flavour in that state ("finish it with `rancher-deploy finish` ...").
        No request; raises nothing.
        """
        ...
