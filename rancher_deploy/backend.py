"""The seam between the flavour-neutral pipeline (`deploy`) and each Rancher flavour's API.

`deploy` only ever sees this Protocol and the values of `snapshot`, so Rancher 1.x services and
Rancher 2.x workloads share one pipeline: resolve, look, plan, apply, wait, finish or roll back.
Each flavour reads its targets into a `Snapshot` and brings its own judge (kubectl's
`StatusViewerFor(kind)`: one rule per kind of target, pkg/polymorphichelpers/rollout_status.go).
"""

from __future__ import annotations

from typing import Protocol

from rancher_deploy.plan import Plan
from rancher_deploy.settings import Settings, Target
from rancher_deploy.snapshot import Goal, Restore, Snapshot, TargetRef


class Backend(Protocol):
    """What each flavour implements.

    Every method may raise the `errors` family: `TransientRancherError` when Rancher could not be
    read in a way that may pass (connection, timeout, 5xx), `RancherAPIError` subclasses for
    Rancher's own error answers, `TargetNotFound`/`ConfigError`/`RefusedError` before any change.
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
    def applied_goal(self) -> Goal:
        """The goal a requested change is waited for (1.x UPGRADED, 2.x ROLLED_OUT)."""
        ...

    @property
    def restored_goal(self) -> Goal:
        """The goal a finish or rollback is waited for (1.x ACTIVE, 2.x ROLLED_OUT)."""
        ...

    def resolve(self, target: Target) -> TargetRef:
        """Find the named target; TargetNotFound lists what exists instead."""
        ...

    def fetch(self, ref: TargetRef) -> Snapshot:
        """One read of the target (one request); `health` may be None where counting costs more."""
        ...

    def observe(self, ref: TargetRef) -> Snapshot:
        """A read for a wait: like `fetch`, with `health` counted (1.x reads the containers too)."""
        ...

    def plan(self, ref: TargetRef, snapshot: Snapshot, settings: Settings) -> Plan:
        """The change the settings ask for, from the snapshot just read; no request. ConfigError if impossible."""
        ...

    def apply(self, ref: TargetRef, plan: Plan) -> None:
        """Send the plan's request once (never repeated here: see `actions`)."""
        ...

    def finish(self, ref: TargetRef) -> None:
        """Send finishupgrade (1.x); RefusedError where there is nothing to finish or no such step."""
        ...

    def rollback_to(self, ref: TargetRef, snapshot: Snapshot) -> Restore:
        """What a rollback of the target, read as `snapshot`, would restore, or why there is nothing to
        roll back to (1.x: no pending upgrade; 2.x: no earlier revision). May read Rancher (2.x lists
        the revisions). RefusedError, before any change, where it cannot be rolled back at all (a
        kind that keeps no revisions, no API this key reaches that holds them, a paused rollout).

        The one place that decides this, so the `rollback` command skips, refuses or goes on by the
        same rule for every flavour and kind, before it says "Rolling back".
        """
        ...

    def rollback(self, ref: TargetRef) -> None:
        """Ask Rancher to restore the previous configuration (what `rollback_to` names, or this run's
        before-image); RefusedError where it cannot."""
        ...

    def next_steps(self, snapshot: Snapshot | None) -> str:
        """What a person can run next on a target left as `snapshot` shows it (None: unknown).

        The one place advice comes from, so that every `rancher-deploy ...` it names is a command
        that works for this flavour in that state ("finish it with `rancher-deploy finish` ...").
        """
        ...
