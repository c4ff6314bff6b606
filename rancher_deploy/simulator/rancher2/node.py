"""The image side of the cluster's one node: a registry whose tags can move, and the node's image cache.

A tag is a name for whatever digest was pushed last; the kubelet keeps what it pulled and, by the
container's ``imagePullPolicy``, pulls again or not (pkg/kubelet/images/image_manager.go
EnsureImageExists / shouldPullImage). The apiserver stored the policy when the container was written
(``Always`` for ``:latest`` or no tag, else ``IfNotPresent``: defaults.py), so redeploying a moved tag
with ``IfNotPresent`` starts new pods on the old digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from rancher_deploy.simulator.rancher2.defaults import ALWAYS, IF_NOT_PRESENT, default_pull_policy, split_reference

NEVER = "Never"
NEVER_PULL_REASON = "ErrImageNeverPull"  # kubelet's waiting reason when Never meets an absent image


def pull_policy(container: dict[str, Any]) -> str:
    """The policy the kubelet pulls a container's image by: its ``imagePullPolicy``, which the
    apiserver stores on every write (defaults.py); the same default for a container that reached
    the node without one."""
    policy = container.get("imagePullPolicy")
    if policy in (ALWAYS, IF_NOT_PRESENT, NEVER):
        return str(policy)
    return default_pull_policy(str(container.get("image", "")))


@dataclass
class Node:
    """The registry's current digest per reference and what the node has pulled."""

    pushes: dict[str, int] = field(default_factory=dict)   # reference -> pushes after the first
    cache: dict[str, str] = field(default_factory=dict)    # reference -> digest on the node

    def reset(self) -> None:
        self.pushes.clear()
        self.cache.clear()

    def registry_digest(self, image: str) -> str:
        """The digest the registry serves for ``image`` now (a digest reference is itself)."""
        _, _, digest = split_reference(image)
        if digest:
            return digest
        pushes = self.pushes.get(image, 0)
        return "sha256:" + hashlib.sha256(f"{image}#{pushes}".encode("utf-8")).hexdigest()

    def push(self, image: str) -> str:
        """Publish a new build under the same tag (what CI does); answers the new digest."""
        self.pushes[image] = self.pushes.get(image, 0) + 1
        return self.registry_digest(image)

    def pull(self, container: dict[str, Any]) -> str | None:
        """The imageID a new container of this spec runs (``repo@sha256:…``), pulling as its policy
        says; None when the policy is Never and the node lacks the image."""
        image = str(container.get("image", ""))
        policy = pull_policy(container)
        present = image in self.cache
        if policy == ALWAYS or (policy == IF_NOT_PRESENT and not present):
            self.cache[image] = self.registry_digest(image)
        elif not present:
            return None
        repository, _, _ = split_reference(image)
        return f"{repository}@{self.cache[image]}"
