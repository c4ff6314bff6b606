"""The Rancher 2.x releases the simulator plays, and what each offers (Steve from 2.5, Prime from 2.7,
v3 `redeploy` from 2.4, the v3 environment mapper up to 2.5, the wrangler summary of each)."""

from __future__ import annotations

import enum
import hashlib

# The release each simulated minor version reports (GET /rancherversion), its last patch release.
RELEASES: dict[str, str] = {
    "2.0": "v2.0.16",
    "2.1": "v2.1.14",
    "2.2": "v2.2.13",
    "2.3": "v2.3.11",
    "2.4": "v2.4.18",
    "2.5": "v2.5.17",
    "2.6": "v2.6.14",
    "2.7": "v2.7.15",
    "2.8": "v2.8.5",
    "2.9": "v2.9.3",
    "2.10": "v2.10.12",
    "2.11": "v2.11.16",
    "2.12": "v2.12.12",
}
GIT_COMMITS: dict[str, str] = {v: hashlib.sha1(r.encode()).hexdigest()[:9] for v, r in RELEASES.items()}


def minor(version: str) -> tuple[int, int]:
    """(2, 10) for "2.10": releases compare as numbers, not as text."""
    major, number = (int(x) for x in version.split(".")[:2])
    return major, number


def has_steve(version: str) -> bool:
    """Steve serves /v1 from Rancher 2.5 on (§7); before that /v1 is nothing."""
    return minor(version) >= (2, 5)


def reports_prime(version: str) -> bool:
    return minor(version) >= (2, 7)


def has_redeploy(version: str) -> bool:
    """The v3 `redeploy` action exists from 2.4 on (rancher/rancher#23053; v2.3.11's
    pkg/api/customization/workload/workload.go offers only pause, resume and rollback): before, the UI
    set the pod template's `cattle.io/timestamp` itself."""
    return minor(version) >= (2, 4)


def maps_environment(version: str) -> bool:
    """v3 containers show `environment`/`environmentFrom` up to 2.5 (pkg/schemas/mapper/env.go
    EnvironmentMapper); 2.6.0 removed the mapper and refuses the two fields (rancher commit 3eb274ff13,
    pkg/api/norman/customization/workload/validator.go)."""
    return minor(version) <= (2, 5)


class Summary(enum.Enum):
    """Which state summary a release's workloads get (rancher/wrangler pkg/summary, as vendored).

    LEGACY: 2.0-2.4, rancher/types status.Set before wrangler's kstatus (rancher-api.md §5.2).
    V0_7: 2.5 (wrangler v0.7.x): a `Progressing=False` condition is an error (ErrorFalse).
    V0_8: 2.6-2.11 (wrangler v0.8 to v3.2.0): it is not (commit d13846e, "Fix Progressing condition
    type handling"), so only kstatus (Steve) notices a stalled rollout.
    V3_2: 2.12+ (wrangler >= v3.2.1): GVKConditionErrorMapping makes it an error again, `error`.
    """

    LEGACY = "legacy"
    V0_7 = "v0.7"
    V0_8 = "v0.8"
    V3_2 = "v3.2"


def summary_of(version: str) -> Summary:
    """The summary rules `version` vendors (go.mod of each rancher tag: wrangler v0.5.3 in 2.4.0,
    v0.7.2 in 2.5.0, v0.8.6 in 2.6.0, v1.1.1 in 2.8.5, v3.2.0 in 2.11.0, v3.2.2 in 2.12.0)."""
    at = minor(version)
    if at <= (2, 4):
        return Summary.LEGACY
    if at == (2, 5):
        return Summary.V0_7
    if at <= (2, 11):
        return Summary.V0_8
    return Summary.V3_2


# The Kubernetes release each simulated Rancher's `local` cluster runs by default (the RKE/RKE2
# default of its time); `Simulator(kubernetes_version=...)` plays another.
KUBERNETES_VERSIONS: dict[str, str] = {
    "2.0": "v1.10.12", "2.1": "v1.11.10", "2.2": "v1.13.12", "2.3": "v1.16.15", "2.4": "v1.18.20",
    "2.5": "v1.20.15", "2.6": "v1.24.17", "2.7": "v1.26.15", "2.8": "v1.28.15", "2.9": "v1.30.14",
    "2.10": "v1.31.13", "2.11": "v1.32.9", "2.12": "v1.33.5",
}


def kubernetes_release(text: str) -> tuple[int, str]:
    """(minor, gitVersion) of a Kubernetes version written `1.20`, `1.20.15` or `v1.20.15`.

    Raises ValueError for anything else, or a release before 1.9 (no apps/v1 workloads)."""
    parts = text.strip().removeprefix("v").split(".")
    if len(parts) not in (2, 3) or not all(part.isdigit() for part in parts) or parts[0] != "1":
        raise ValueError(f"Kubernetes version {text!r} is not 1.<minor>[.<patch>]")
    number = int(parts[1])
    if number < 9:
        raise ValueError(f"Kubernetes version {text!r}: apps/v1 workloads need 1.9 or later")
    return number, f"v1.{number}.{parts[2] if len(parts) == 3 else 0}"
