"""What each sender's request body says was published, read into Triggers; pure.

Four formats, each from its sender's own documentation or source:
- the seed's `POST /upgrade` (rancher-service-updater, main.go `UpdateCommand`): `docker_image`, `confirm`,
  `start_first`, `timeout` (default 30 s);
- Docker Hub's repository webhook (docs.docker.com/docker-hub/repos/manage/webhooks): `push_data.tag` and
  `repository.repo_name`; Docker Hub sends pushes only;
- Harbor's webhook (goharbor/harbor src/pkg/notifier/model/event.go `Payload`, and the CloudEvents form of
  goharbor/website docs/working-with-projects/project-configuration/configure-webhooks.md): `type`
  `PUSH_ARTIFACT` (Harbor 1.x: `pushImage`; CloudEvents: `harbor.artifact.pushed`) with
  `event_data.resources[].tag` and `resource_url`;
- the distribution registry's notification envelope (distribution/distribution notifications/event.go,
  docs/content/about/notifications.md): `events[]`, of which only a `push` of a manifest with a tag names
  a new image; pulls, blob pushes and pushes by digest are ignored. Its Content-Type is the envelope's
  media type, `application/vnd.docker.distribution.events.v1+json` in distribution 2.x (Debian's
  docker-registry 2.8.2) and `...events.v2+json` in 3.x (event.go `EventsMediaType`): every body is read
  as JSON whatever its Content-Type says, so both are accepted.

A body that is not what its sender sends is a PayloadError (the server's 400, one line). An event that
is well formed but names no new image (a pull, a scan, a push by digest) is ignored with its reason:
registries resend what is not answered 2xx, and an envelope mixes events (notifications.md, "Responses").
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from rancher_deploy.images import ImageRef, ImageReferenceError

# The seed's default for `timeout` (main.go: `UpdateCommand{Timeout: 30}` before decoding the body).
SEED_TIMEOUT_SECONDS = 30.0

# Manifests, as the registry names them in an event's target (distribution's manifest packages
# schema2, manifestlist and ocischema register these; schema1 is the signed v1 form).
MANIFEST_TYPES = frozenset({
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
})

# Harbor's event type of a push: 2.x default format, 1.x, and the CloudEvents format.
HARBOR_PUSHES = frozenset({"PUSH_ARTIFACT", "pushImage", "harbor.artifact.pushed"})


class PayloadError(ValueError):
    """The body is not what its sender sends; the message says what is wrong, in one line."""


@dataclass(frozen=True)
class Trigger:
    """One image that was published, and how the run it starts should differ from the server's settings.

    `None` keeps the server's setting: only the seed's payload carries `confirm` (RANCHER_FINISH),
    `start_first` (RANCHER_START_FIRST) and `timeout` (RANCHER_TIMEOUT, seconds). `poll`: the server's
    registry polling queued it (`serve/poll.py`); `image` is then a repository whose tag each target's
    run chooses from the registry (RANCHER_POLL).
    """

    image: ImageRef
    source: str                          # the sender: upgrade, dockerhub, harbor, registry
    finish: bool | None = None
    start_first: bool | None = None
    timeout_seconds: float | None = None
    poll: bool = False

    @property
    def key(self) -> str:
        """What runs are queued by: the image's repository, fully qualified (`docker.io/library/nginx`)."""
        return self.image.canonical_name()


@dataclass(frozen=True)
class Parsed:
    """What a body asked for: the images to upgrade to, and why each other event was ignored."""

    triggers: tuple[Trigger, ...]
    ignored: tuple[str, ...] = ()


def _object(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise PayloadError("the body is not JSON") from None
    except RecursionError:
        # json's decoder recurses once per nesting level; no sender nests more than a few levels deep.
        raise PayloadError("the body nests too deeply to be a sender's JSON") from None
    if not isinstance(document, dict):
        raise PayloadError("the body is not a JSON object")
    return document


def _member(document: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = document.get(name)
    if not isinstance(value, dict):
        raise PayloadError(f"{where}{name} is missing or not an object")
    return value


def _text(document: dict[str, Any], name: str, where: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(f"{where}{name} is missing or not a string")
    return value.strip()


def _seconds(value: object) -> float:
    """The seed's `timeout`, seconds; PayloadError unless a finite number of at least 1. A JSON integer
    of a few hundred digits is no float (OverflowError in `float()`, not a PayloadError: a bare 500)."""
    try:
        seconds = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds) or seconds < 1:
        shown = json.dumps(value)
        raise PayloadError("timeout must be a number of seconds of at least 1, got "
                           f"{shown if len(shown) <= 40 else shown[:40] + '...'}")
    return seconds


def _image(text: str, field: str) -> ImageRef:
    try:
        image = ImageRef.parse(text)
    except ImageReferenceError as error:
        raise PayloadError(f"{field}: {error}") from None
    if image.tag is None and image.digest is None:
        raise PayloadError(f"{field}: {text!r} names no tag; write repository:tag (e.g. {text}:1.2)")
    return image


def _tagged(name: str, tag: str, field: str) -> ImageRef:
    """`name` (registry and repository) with `tag`, checked as one reference."""
    return _image(f"{name}:{tag}", field)


def _flag(document: dict[str, Any], name: str) -> bool | None:
    value = document.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise PayloadError(f"{name} must be true or false, got {json.dumps(value)}")
    return value


def upgrade(body: bytes) -> Parsed:
    """The seed's `POST /upgrade` body: `{"docker_image": "[docker:]repo:tag", "confirm": true,
    "start_first": false, "timeout": 30}`.

    `confirm` maps to RANCHER_FINISH and `start_first` to RANCHER_START_FIRST (left out: the server's
    settings); `timeout` to RANCHER_TIMEOUT, 30 s when left out, as the seed's default. Other members
    are ignored, as the seed's JSON decoder ignores them.
    """
    document = _object(body)
    image = _image(_text(document, "docker_image", ""), "docker_image")
    timeout = document.get("timeout")
    if timeout is None:
        seconds = SEED_TIMEOUT_SECONDS
    else:
        seconds = _seconds(timeout)
    return Parsed((Trigger(image, "upgrade", finish=_flag(document, "confirm"),
                           start_first=_flag(document, "start_first"), timeout_seconds=seconds),))


def dockerhub(body: bytes) -> Parsed:
    """Docker Hub's webhook: `repository.repo_name` (`namespace/name`) pushed with `push_data.tag`.

    Docker Hub sends a webhook for pushes only, with no event type to check.
    """
    document = _object(body)
    tag = _text(_member(document, "push_data", ""), "tag", "push_data.")
    name = _text(_member(document, "repository", ""), "repo_name", "repository.")
    return Parsed((Trigger(_tagged(name, tag, "repository.repo_name and push_data.tag"), "dockerhub"),))


def harbor(body: bytes) -> Parsed:
    """Harbor's webhook, default or CloudEvents format: each resource of a push, by its `resource_url`'s
    registry and repository and its `tag`; other event types, and a resource pushed by digest only
    (Harbor then puts the digest in `tag`), are ignored."""
    document = _object(body)
    kind = _text(document, "type", "")
    cloud = "specversion" in document
    data = _member(document, "data" if cloud else "event_data", "")
    if kind not in HARBOR_PUSHES:
        return Parsed((), (f"{kind}: not a push",))
    resources = data.get("resources")
    if not isinstance(resources, list) or not resources:
        raise PayloadError(f"{'data' if cloud else 'event_data'}.resources is missing or empty")
    triggers: list[Trigger] = []
    ignored: list[str] = []
    for index, resource in enumerate(resources):
        where = f"resources[{index}]."
        if not isinstance(resource, dict):
            raise PayloadError(f"{where[:-1]} is not an object")
        url = _image(_text(resource, "resource_url", where), f"{where}resource_url")
        tag = resource.get("tag")
        if not isinstance(tag, str) or not tag or ":" in tag:
            ignored.append(f"{url.name}: pushed by digest, without a tag")
            continue
        triggers.append(Trigger(_tagged(url.name, tag, f"{where}tag"), "harbor"))
    return Parsed(_unique(triggers), tuple(ignored))


def registry(body: bytes, *, registry_host: str | None = None) -> Parsed:
    """The distribution registry's envelope `{"events": [...]}`: each `push` of a manifest with a tag, as
    `<host>/<repository>:<tag>`; every other event is ignored with its reason.

    The host is `registry_host` when given (the name the targets use for the registry, when it differs
    from the one the pusher used), else the event's `request.host`: the registry's name as the pushing
    client addressed it (notifications/event.go `RequestRecord.Host`).
    """
    if registry_host is not None and not _registry_host(registry_host):
        raise PayloadError(f"?registry= must be a registry host[:port] (port 1-65535) as an image names it "
                           f"(registry.example.com:5000), got {registry_host[:100]!r}")
    document = _object(body)
    events = document.get("events")
    if not isinstance(events, list):
        raise PayloadError("events is missing or not a list")
    triggers: list[Trigger] = []
    ignored: list[str] = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise PayloadError(f"events[{index}] is not an object")
        reason, image = _registry_event(event, index, registry_host)
        if image is None:
            ignored.append(reason)
        else:
            triggers.append(Trigger(image, "registry"))
    return Parsed(_unique(triggers), tuple(ignored))


def _registry_host(host: str) -> bool:
    """Whether `host` is what an image reference reads as its registry (a dot, a port of 1-65535 or
    localhost; no path): `h/path` would otherwise make `h/path/shop/web`, a registry `h` nobody runs."""
    try:
        if ImageRef.parse(f"{host}/x").registry != host:
            return False
    except ValueError:
        return False
    # A port is a TCP port, 1-65535 (RFC 793's 16 bits; 0 is reserved): `host:99999` names no registry.
    _, colon, port = host.rpartition(":")
    return not colon or "]" in port or (port.isdigit() and 1 <= int(port) <= 65535)


def _registry_event(event: dict[str, Any], index: int, registry_host: str | None) -> tuple[str, ImageRef | None]:
    """The image one event names, or why it names none."""
    action = event.get("action")
    target = event.get("target")
    if not isinstance(target, dict):
        return f"events[{index}]: no target", None
    repository = target.get("repository")
    what = f"{action} of {repository}" if isinstance(repository, str) else f"events[{index}] ({action})"
    if action != "push":
        return f"{what}: not a push", None
    media_type = target.get("mediaType")
    url = target.get("url")
    if media_type not in MANIFEST_TYPES and not (isinstance(url, str) and "/manifests/" in url):
        return f"{what}: a blob, not a manifest", None
    tag = target.get("tag")
    if not isinstance(tag, str) or not tag:
        return f"{what}: a manifest pushed by digest, without a tag", None
    if not isinstance(repository, str) or not repository:
        raise PayloadError(f"events[{index}].target.repository is missing")
    request = event.get("request")
    host = registry_host or (request.get("host") if isinstance(request, dict) else None)
    if not isinstance(host, str) or not host:
        raise PayloadError(f"events[{index}].request.host is missing (or name the registry: ?registry=HOST)")
    return "", _tagged(f"{host}/{repository}", tag, f"events[{index}].target")


def _unique(triggers: list[Trigger]) -> tuple[Trigger, ...]:
    """Each image once, in the order first named: an envelope may repeat an event (delivery is
    at-least-once) and Harbor lists one resource per tag."""
    first: dict[str, Trigger] = {}
    for trigger in triggers:
        first.setdefault(str(trigger.image), trigger)
    return tuple(first.values())
