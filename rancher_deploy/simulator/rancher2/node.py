"""The image side of the cluster's one node: a registry whose tags can move, and the node's image cache.

A tag is a name for whatever digest was pushed last; the kubelet keeps what it pulled and, by the
container's ``imagePullPolicy``, pulls again or not (pkg/kubelet/images/image_manager.go
EnsureImageExists / shouldPullImage). Unset, the policy is ``Always`` for ``:latest`` or no tag and
``IfNotPresent`` otherwise (pkg/apis/core/v1/defaults.go SetDefaults_Container), so redeploying a
moved tag with ``IfNotPresent`` starts new pods on the old digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

ALWAYS, IF_NOT_PRESENT, NEVER = "Always", "IfNotPresent", "Never"
NEVER_PULL_REASON = "ErrImageNeverPull"  # kubelet's waiting reason when Never meets an absent image


def split_reference(image: str) -> tuple[str, str | None, str | None]:
    """``repo:tag@sha256:…`` -> (repository, tag or None, digest or None)."""
    name, _, digest = image.partition("@")
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:], digest or None
    return name, None, digest or None


def pull_policy(container: dict[str, Any]) -> str:
    """The container's imagePullPolicy, defaulted as the apiserver does when it is unset."""
    policy = container.get("imagePullPolicy")
    if policy in (ALWAYS, IF_NOT_PRESENT, NEVER):
        return str(policy)
    _, tag, digest = split_reference(str(container.get("image", "")))
    return ALWAYS if not digest and tag in (None, "latest") else IF_NOT_PRESENT


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
