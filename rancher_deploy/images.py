"""Image references: parsing what users type into what Rancher stores, and comparing repositories.

Rancher 1.x keeps an image as `imageUuid: "docker:<reference>"` and refuses an upgrade whose
reference lacks the prefix (422 InvalidReference), so references are parsed once here and
rendered with or without the prefix by the caller's need. The grammar follows Docker's reference
grammar (distribution/reference): a registry is recognised only by a dot, a port or `localhost` in
the first component, which is why `registry:5000/app:1.2` is a registry with a port and a tag, not a
repository `registry` with tag `5000/app:1.2`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import semver

DOCKER_PREFIX = "docker:"
DEFAULT_REGISTRY = "docker.io"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_REGISTRY = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
    r"|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?\Z"
)
# ASCII only: Python's \w would accept letters Docker refuses in a tag.
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}\Z")
_MAX_NAME_LENGTH = 255


class ImageReferenceError(ValueError):
    """The text is not an image reference; the message says which part is wrong."""


@dataclass(frozen=True)
class ImageRef:
    """A parsed image reference; `str()` gives the canonical form without the `docker:` prefix."""

    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """Parse `[docker:][registry[:port]/]path[:tag][@digest]`, raising ImageReferenceError."""
        reference = text.strip()
        if reference.startswith(DOCKER_PREFIX):
            reference = reference[len(DOCKER_PREFIX):]
        if not reference:
            raise ImageReferenceError("is empty")
        if any(character.isspace() for character in reference):
            raise ImageReferenceError(f"{text.strip()!r} contains whitespace")

        remainder, _, digest = reference.partition("@")
        if "@" in reference and not _DIGEST.match(digest):
            raise ImageReferenceError(
                f"{reference!r} has an invalid digest {digest!r} (expected e.g. sha256:<64 hex digits>)"
            )
        name, tag = _split_tag(remainder)
        if tag is not None and not _TAG.match(tag):
            raise ImageReferenceError(f"{reference!r} has an invalid tag {tag!r}")
        registry, path = _split_registry(name)
        if registry is not None and not _REGISTRY.match(registry):
            raise ImageReferenceError(f"{reference!r} has an invalid registry {registry!r}")
        if not path:
            raise ImageReferenceError(f"{reference!r} has no repository name")
        for component in path.split("/"):
            if not _COMPONENT.match(component):
                raise ImageReferenceError(
                    f"{reference!r} has an invalid repository part {component!r} "
                    "(lower-case letters, digits and . _ - separators)"
                )
        if len(name) > _MAX_NAME_LENGTH:
            raise ImageReferenceError(f"{reference!r} has a name longer than {_MAX_NAME_LENGTH} characters")
        return cls(registry=registry, repository=path, tag=tag, digest=digest or None)

    @property
    def name(self) -> str:
        """Registry and repository, without tag or digest, exactly as the user wrote them."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    @property
    def image_uuid(self) -> str:
        """The form Rancher 1.x stores in `launchConfig.imageUuid`."""
        return DOCKER_PREFIX + str(self)

    def canonical_name(self) -> str:
        """The fully qualified repository, so `nginx` and `docker.io/library/nginx` compare equal, and
        `REGISTRY.EXAMPLE.COM/shop/web` and `registry.example.com/shop/web` too: the reference grammar
        lets a domain have capitals (distribution/reference regexp.go, domain-component
        `[a-zA-Z0-9]...`) and a host name is case-insensitive (RFC 4343), while the path is lower-case
        by that grammar already. The host is written lower-case."""
        registry = (self.registry or DEFAULT_REGISTRY).lower()
        if registry in ("index.docker.io", "registry-1.docker.io"):
            registry = DEFAULT_REGISTRY
        repository = self.repository
        if registry == DEFAULT_REGISTRY and "/" not in repository:
            repository = f"library/{repository}"
        return f"{registry}/{repository}"

    def same_repository(self, other: ImageRef) -> bool:
        """True when both name the same repository, whatever their tags."""
        return self.canonical_name() == other.canonical_name()

    def same_image(self, other: ImageRef) -> bool:
        """True when both name the same image: `nginx:1.25` is `docker.io/library/nginx:1.25`,
        and a reference without tag or digest means `latest`, as Docker reads it."""
        def version(image: ImageRef) -> tuple[str | None, str | None]:
            tag = image.tag if image.tag is not None or image.digest is not None else "latest"
            return tag, image.digest

        return self.same_repository(other) and version(self) == version(other)

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def parse_image_uuid(image_uuid: str) -> ImageRef | None:
    """Read Rancher's `imageUuid`; None when it is not a docker image (e.g. `rancher/none` sidekicks)."""
    try:
        return ImageRef.parse(image_uuid)
    except ImageReferenceError:
        return None


def display_image(image_uuid: str) -> str:
    """Rancher's `imageUuid` (or a 2.x container's image) as users write it: no `docker:` prefix,
    canonical where it parses, as stored where it does not."""
    parsed = parse_image_uuid(image_uuid)
    return str(parsed) if parsed is not None else image_uuid.removeprefix(DOCKER_PREFIX)


def launch_image(launch_config: Any) -> str:
    """The image of a 1.x launch config (`{"imageUuid": "docker:..."}`, or None) as `display_image` shows it."""
    return display_image(str((launch_config or {}).get("imageUuid") or ""))


def same_image(first: str, second: str) -> bool:
    """Compare two references as text users or Rancher wrote them (`docker:` prefix optional)."""
    left, right = parse_image_uuid(first), parse_image_uuid(second)
    if left is None or right is None:
        return first.removeprefix(DOCKER_PREFIX) == second.removeprefix(DOCKER_PREFIX)
    return left.same_image(right)


def version_of(tag: str | None) -> semver.Version | None:
    """A tag read as a semantic version: `2.1`, `v2.1.3`, `2.1.3-rc.1`; None when it is not one."""
    if not tag:
        return None
    text = tag[1:] if tag[:1] in ("v", "V") else tag
    match = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?([-+].*)?", text)
    if not match:
        return None
    major, minor, patch, rest = match.groups()
    import semver  # here, not at the top: `--help` reads this module, and only a version policy compares

    try:
        # int(): CalVer tags such as 2024.01.15 carry leading zeros, which semver refuses.
        return semver.Version.parse(f"{int(major)}.{int(minor or 0)}.{int(patch or 0)}{rest or ''}")
    except ValueError:
        return None


def _split_tag(name: str) -> tuple[str, str | None]:
    """Split `name:tag`, where the colon must come after the last slash (else it is a port)."""
    last_slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > last_slash:
        return name[:colon], name[colon + 1:]
    return name, None


def _split_registry(name: str) -> tuple[str | None, str]:
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        return first, rest
    return None, name
