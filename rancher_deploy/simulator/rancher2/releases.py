"""The Rancher 2.x releases the simulator plays, and what each offers (Steve from 2.5, Prime from 2.7)."""

from __future__ import annotations

import hashlib

# The release each simulated minor version reports (GET /rancherversion, X-Rancher-Version-ish).
RELEASES: dict[str, str] = {
    "2.4": "v2.4.18",
    "2.5": "v2.5.17",
    "2.6": "v2.6.14",
    "2.7": "v2.7.15",
    "2.8": "v2.8.5",
    "2.9": "v2.9.3",
}
GIT_COMMITS: dict[str, str] = {v: hashlib.sha1(r.encode()).hexdigest()[:9] for v, r in RELEASES.items()}


def has_steve(version: str) -> bool:
    """Steve serves /v1 from Rancher 2.5 on (§7); before that /v1 is nothing."""
    major, minor = (int(x) for x in version.split(".")[:2])
    return (major, minor) >= (2, 5)


def reports_prime(version: str) -> bool:
    major, minor = (int(x) for x in version.split(".")[:2])
    return (major, minor) >= (2, 7)
