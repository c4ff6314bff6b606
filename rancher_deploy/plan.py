"""Plan: what an upgrade will change, computed without I/O, so `--dry-run` and the real run agree.

Rancher 1.x replaces a launch config wholesale on upgrade (rancher-api.md §3.2: a partial
`launchConfig` wipes every key it omits), so the plan carries each changed launch config whole,
deep-copied from the service, with only `imageUuid` replaced and the environment and label edits
merged in (`envlabels`). A 2.x plan carries the edits themselves, applied by the write to the
workload it reads just before (`WorkloadUpdate`). Either way the plan lists the keys that change,
never their values.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from rancher_deploy.creation import Creation
from rancher_deploy.envlabels import (CHANGE_CAUSE, RECORD_LABEL, Edits, KeyDiff, KeyEdits, change_cause, edit_map,
                                      edit_v3_env, selector_conflicts)
from rancher_deploy.errors import ConfigError
from rancher_deploy.events import ImageChange
from rancher_deploy.images import ImageRef, launch_image, parse_image_uuid, same_image
from rancher_deploy.inputs import Origin

# Rancher 1.x pulls an image again on upgrade only with this label (rancher-api.md §1.4, launchConfig labels).
PULL_LABEL = "io.rancher.container.pull_image"


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class Strategy:
    """Rancher's inServiceStrategy knobs; defaults are those of Rancher's UI."""

    batch_size: int = 1
    interval_seconds: float = 2.0
    start_first: bool = False

    def describe(self) -> str:
        order = "start new first" if self.start_first else "stop old first"
        return f"batch size {self.batch_size}, {self.interval_seconds:g}s between batches, {order}"


@dataclass(frozen=True, eq=False)
class ServiceUpgrade:
    """The input of a Rancher 1.x service's `upgrade` action: launch configs sent whole, strategy knobs.

    `launch_config` is None when the primary container keeps its image (only sidekicks move);
    `secondary_launch_configs` holds only the sidekicks that change.
    """

    strategy: Strategy
    launch_config: Mapping[str, Any] | None = None
    secondary_launch_configs: tuple[Mapping[str, Any], ...] = ()

    def body(self) -> dict[str, Any]:
        """The JSON Rancher expects (rancher-api.md §3.2: serviceUpgrade with an inServiceStrategy)."""
        strategy: dict[str, Any] = {
            "type": "inServiceUpgradeStrategy",
            "batchSize": self.strategy.batch_size,
            "intervalMillis": int(round(self.strategy.interval_seconds * 1000)),
            "startFirst": self.strategy.start_first,
        }
        if self.launch_config is not None:
            strategy["launchConfig"] = dict(self.launch_config)
        if self.secondary_launch_configs:
            strategy["secondaryLaunchConfigs"] = [dict(config) for config in self.secondary_launch_configs]
        return {"inServiceStrategy": strategy, "toServiceStrategy": None}


@dataclass(frozen=True)
class WorkloadUpdate:
    """A Rancher 2.x workload change: container name -> new image (the one it runs, for a container
    whose environment alone changes), the environment edits of those containers, the label edits of
    the pod template, and the deploy record (`cause`, the workload's own change-cause annotation).

    `redeploy` is --force with nothing that changes: the rollout is forced by a new pod-template
    annotation instead (what Rancher's own redeploy does).
    """

    images: Mapping[str, str]
    redeploy: bool = False
    env: KeyEdits = KeyEdits()
    labels: KeyEdits = KeyEdits()
    cause: str | None = None

    @property
    def edits_anything(self) -> bool:
        """Whether the write holds more than images (then a redeploy goes with it rather than alone)."""
        return bool(self.env or self.labels or self.cause)


# A Creation is RANCHER_CREATE's request for a target that does not exist (`creation`, `Backend.create`).
Request = ServiceUpgrade | WorkloadUpdate | Creation


@dataclass(frozen=True, eq=False)
class Plan:
    """Old -> new image per container, and the typed request that makes it so."""

    target: str
    target_id: str
    changes: tuple[ImageChange, ...]
    request: Request
    forced: bool = False
    warnings: tuple[str, ...] = ()  # what the run does that the user may not expect; logged, never fatal
    keys: tuple[KeyDiff, ...] = ()  # the environment and label keys the change adds, changes, removes
    cause: str | None = None        # the deploy record the change writes
    cause_where: str = ""           # where: "annotation kubernetes.io/change-cause", "label ..."
    forced_by: str = "--force"      # what asked for a redeploy of the same image (a version policy may)
    # Containers a redeploy restarts from a cached copy of their tag: what follows "<forced_by> restarts".
    unpulled: tuple[str, ...] = ()

    @property
    def redeploy_warnings(self) -> tuple[str, ...]:
        """The warnings of a redeploy that will not pull its tag again, naming what asked for it."""
        return tuple(f"{self.target}: {self.forced_by} restarts {text}" for text in self.unpulled)

    @property
    def strategy(self) -> Strategy | None:
        """The 1.x upgrade's batch knobs, read from its request; None for a 2.x workload, which rolls
        out by its own strategy."""
        return self.request.strategy if isinstance(self.request, ServiceUpgrade) else None

    @property
    def moves_images(self) -> bool:
        """Whether any container goes to another image (not only its environment, labels or a redeploy)."""
        return any(not same_image(c.previous_image, c.new_image) for c in self.changes)

    @property
    def changes_anything(self) -> bool:
        return self.forced or self.moves_images or any(self.keys)

    def describe(self) -> list[str]:
        """The lines `--dry-run` prints (and the real run logs before acting); the first names the target."""
        if isinstance(self.request, Creation):
            return self.request.describe()
        lines = [f"Plan for {self.target} ({self.target_id})"
                 + (f": {self.strategy.describe()}" if self.strategy else ": the workload's own rollout strategy")]
        for change in self.changes:
            if same_image(change.previous_image, change.new_image):
                note = (f" (same image, redeployed: {self.forced_by})" if self.forced else
                        " (same image)" if any(self.keys) else " (unchanged)")
                lines.append(f"  {change.container}: {change.new_image}{note}")
            else:
                lines.append(f"  {change.container}: {change.previous_image} -> {change.new_image}")
        lines.extend(f"  {diff.describe()} (values not shown)" for diff in self.keys if diff)
        if self.cause and self.changes_anything:
            lines.append(f"  record: {self.cause_where} = {self.cause}")
        return lines


def plan_service_upgrade(
    service: Mapping[str, Any],
    *,
    target: str,
    image: ImageRef | None,
    sidekicks: Sequence[tuple[str, ImageRef]],
    update_sidekicks: bool,
    force: bool,
    strategy: Strategy,
    edits: Edits = Edits(),
    record: bool = False,
    origin: Origin = Origin(),
) -> Plan:
    """Build the upgrade of a Rancher 1.x service from its whole current configuration.

    Environment edits go to the launch configs whose image the run changes: the primary (also when no
    image is given and no sidekick named: a run of edits alone) and the sidekicks it moves; label
    edits to the primary's. With `record`, every launch config the upgrade sends carries the label
    RECORD_LABEL naming the change, part of the same upgrade.
    """
    primary = service.get("launchConfig") or {}
    secondaries: list[Mapping[str, Any]] = list(service.get("secondaryLaunchConfigs") or [])
    service_name = str(service.get("name") or target)

    wanted: dict[str | None, ImageRef | None] = {}
    if image is not None or not sidekicks:
        wanted[None] = image
    by_name = {str(config.get("name")): config for config in secondaries}
    for name, sidekick_image in sidekicks:
        if name not in by_name:
            known = ", ".join(sorted(by_name)) or "none"
            raise ConfigError("RANCHER_SIDEKICK", f"service {target} has no sidekick {name!r} (sidekicks: {known})")
        wanted[name] = sidekick_image
    if update_sidekicks and image is not None:
        for name, config in by_name.items():
            current = parse_image_uuid(str(config.get("imageUuid") or ""))
            if current is not None and current.same_repository(image) and name not in wanted:
                wanted[name] = image

    changes: list[ImageChange] = []
    keys: list[KeyDiff] = []
    configs: dict[str | None, Mapping[str, Any]] = {None: primary}
    configs.update((str(config.get("name")), config) for config in secondaries if str(config.get("name")) in wanted)
    edited: dict[str | None, dict[str, Any]] = {}
    pulls: dict[str, Any] = {}
    for which, config in configs.items():   # None: the primary launch config
        shown = service_name if which is None else which
        moved = which in wanted
        new_image = wanted.get(which)
        new_config, changed = _edited(config, new_image, edits.env if moved else KeyEdits(),
                                      edits.labels if which is None else KeyEdits(), shown)
        keys.extend(changed)
        previous = launch_image(config)
        after = str(new_image) if new_image is not None else previous
        if (moved and force) or not same_image(previous, after) or any(changed):
            edited[which] = new_config
        if moved or which in edited:
            changes.append(ImageChange(shown, previous, after))
            pulls[shown] = (config.get("labels") or {}).get(PULL_LABEL)
    cause = None
    if record and edited:
        cause = change_cause(((change.container, change.new_image) for change in changes), origin,
                             also=_edited_parts(keys))
        for config in edited.values():
            config["labels"] = {**(config.get("labels") or {}), RECORD_LABEL: cause}
    else:
        # A record an earlier run wrote names what this upgrade replaces; the label is ours to drop.
        for config in edited.values():
            if RECORD_LABEL in (config.get("labels") or {}):
                config["labels"] = {key: value for key, value in config["labels"].items() if key != RECORD_LABEL}
    launch_config = edited.pop(None, None)
    unpulled = [change for change in changes if force and _cached_ok(change) and pulls[change.container] != "always"]
    return Plan(
        target=target,
        target_id=str(service.get("id")),
        changes=tuple(changes),
        request=ServiceUpgrade(strategy, launch_config, tuple(edited.values())),
        forced=force,
        warnings=(*_repository_warnings(target, changes, ["RANCHER_SERVICE" if index == 0 and None in wanted
                                                          else "RANCHER_SIDEKICK" for index in range(len(changes))]),),
        unpulled=tuple(f"{change.container} on {change.new_image}, but without the label {PULL_LABEL}=always Rancher "
                       "starts it from the image the host has cached; add the label to pull the tag again"
                       for change in unpulled),
        keys=tuple(keys),
        cause=cause,
        cause_where=f"label {RECORD_LABEL}",
    )


def _edited(config: Mapping[str, Any], image: ImageRef | None, env: KeyEdits, labels: KeyEdits,
            name: str) -> tuple[dict[str, Any], list[KeyDiff]]:
    """A 1.x launch config, deep-copied, with its new image (if any) and the edits merged in, and the
    diffs of its environment and labels (those edited)."""
    new = _with_image(config, image) if image is not None else copy.deepcopy(dict(config))
    diffs = []
    if env:
        new["environment"], diff = edit_map(config.get("environment"), env, f"{name} env")
        diffs.append(diff)
    if labels:
        new["labels"], diff = edit_map(config.get("labels"), labels, "labels")
        diffs.append(diff)
    return new, diffs


def _edited_parts(keys: Sequence[KeyDiff]) -> tuple[str, ...]:
    """What the deploy record says changed besides images: `env`, `labels`, as far as keys change."""
    labels = {diff.scope.endswith("labels") for diff in keys if diff}
    return tuple(word for word, is_labels in (("env", False), ("labels", True)) if is_labels in labels)


def _with_image(launch_config: Mapping[str, Any], image: ImageRef) -> dict[str, Any]:
    config = copy.deepcopy(dict(launch_config))
    config["imageUuid"] = image.image_uuid
    return config


def plan_workload_update(
    containers: Sequence[Mapping[str, Any]],
    init_containers: Sequence[Mapping[str, Any]],
    *,
    target: str,
    target_id: str,
    image: ImageRef | None,
    names: Sequence[str],
    include_init: bool,
    force: bool,
    edits: Edits = Edits(),
    labels: Mapping[str, Any] | None = None,
    selector: Sequence[str] = (),
    env_lists: bool = True,
    record: bool = False,
    origin: Origin = Origin(),
) -> Plan:
    """Choose the container(s) of a Rancher 2.x workload to move to `image` (or, with no image, whose
    environment alone changes), and list what the edits change.

    Default choice: the only container, else the one(s) running the image's repository, because a
    pod usually has one application container beside sidecars from other repositories. `labels` are
    the pod template's, `selector` the keys the workload's selector uses (editing one is refused: the
    ReplicaSets and pods would no longer match it), `env_lists` whether a v3 container without
    environment takes Kubernetes' `env` (Rancher 2.6+; `envlabels.edit_v3_env`). With `record`, the
    change writes its deploy record (the change-cause annotation) too.
    """
    candidates = [*containers, *(init_containers if include_init else ())]
    by_name = {str(container.get("name")): container for container in candidates}
    if names:
        missing = [name for name in names if name not in by_name]
        if missing:
            raise ConfigError("RANCHER_CONTAINER", f"{target} has no container {', '.join(map(repr, missing))} "
                                                   f"(containers: {', '.join(by_name) or 'none'})")
        chosen = [by_name[name] for name in names]
    elif len(candidates) == 1:
        chosen = candidates
    elif image is None:
        raise ConfigError("RANCHER_CONTAINER", f"is required: {target} has several containers "
                                               f"({', '.join(by_name)}) and no image says which one to change")
    else:
        chosen = [container for container in candidates
                  if (current := parse_image_uuid(str(container.get("image") or ""))) is not None
                  and current.same_repository(image)]
        if not chosen:
            listing = ", ".join(f"{name}={container.get('image')}" for name, container in by_name.items())
            raise ConfigError("RANCHER_CONTAINER", f"is required: no container of {target} runs {image.name} "
                                                   f"(containers: {listing})")
    for key in selector_conflicts(edits.labels, selector):
        raise ConfigError("RANCHER_SET_LABEL" if key in dict(edits.labels.set) else "RANCHER_UNSET_LABEL",
                          f"names {key}, which the selector of {target} uses: changing it would leave the workload's "
                          "ReplicaSets and pods outside its selector; nothing was changed")
    changes = tuple(ImageChange(str(container.get("name")), launch_image({"imageUuid": container.get("image")}),
                                str(image) if image else launch_image({"imageUuid": container.get("image")}))
                    for container in chosen)
    keys = [edit_v3_env(container, edits.env, f"{change.container} env", lists=env_lists)[1]
            for container, change in zip(chosen, changes) if edits.env]
    if edits.labels:
        keys.append(edit_map(labels, edits.labels, "pod labels")[1])
    same = all(same_image(change.previous_image, change.new_image) for change in changes)
    redeploy = force and same and not any(keys)
    cause = change_cause(((change.container, change.new_image) for change in changes), origin,
                         also=_edited_parts(keys)) if record else None
    warnings = list(_repository_warnings(target, changes, ["RANCHER_CONTAINER"] * len(changes)))
    warnings += [f"{target}: {', '.join(diff.unsourced)} in {diff.scope.removesuffix(' env')} came from a secret or "
                 "config map reference and becomes a plain value" for diff in keys if diff.unsourced]
    unpulled = []
    for container, change in zip(chosen, changes):
        # The policy the container holds, not the one its new image would get: Kubernetes stores the
        # default when a container is first written (SetDefaults_Container) and keeps it through later
        # image changes, so a workload created on `app:1` and moved to `app:latest` keeps IfNotPresent.
        # Both APIs show the stored field; one read without it is taken as Kubernetes would default it.
        policy = container.get("imagePullPolicy")
        effective = str(policy) if policy else pull_policy_default(change.previous_image)
        if force and _cached_ok(change) and effective != "Always":
            why = f"imagePullPolicy is {effective}" + (
                "" if policy else " (unset: the default for a tag other than latest)")
            unpulled.append(f"{change.container} on {change.new_image}, but its {why}, so a node that has this tag "
                            "cached starts the old copy; set imagePullPolicy: Always on the container to pull the tag "
                            "again")
    images = {change.container: str(image) if image else str(container.get("image"))
              for container, change in zip(chosen, changes)}
    return Plan(
        target=target,
        target_id=target_id,
        changes=changes,
        request=WorkloadUpdate(images, redeploy, edits.env, edits.labels, cause),
        forced=force,
        warnings=tuple(warnings),
        unpulled=tuple(unpulled),
        keys=tuple(keys),
        cause=cause,
        cause_where=f"annotation {CHANGE_CAUSE}",
    )


def pull_policy_default(image: str) -> str:
    """The imagePullPolicy Kubernetes gives a container that sets none: Always for the tag `latest`, which
    a reference with neither tag nor digest means, else IfNotPresent (SetDefaults_Container, kubernetes
    pkg/apis/core/v1/defaults.go, with pkg/util/parsers ParseImageName)."""
    parsed = parse_image_uuid(image)
    if parsed is not None and (parsed.tag == "latest" or (parsed.tag is None and parsed.digest is None)):
        return "Always"
    return "IfNotPresent"


def _cached_ok(change: ImageChange) -> bool:
    """A same-tag redeploy that a cached copy could serve: the same image, named by tag, not by digest
    (a digest names one content, so a cached copy is the right one)."""
    parsed = parse_image_uuid(change.new_image)
    return same_image(change.previous_image, change.new_image) and (parsed is None or parsed.digest is None)


def _repository_warnings(target: str, changes: Sequence[ImageChange], settings: Sequence[str]) -> tuple[str, ...]:
    """A container chosen for the new image that runs another repository today: say so, since the
    default choices (a 1.x service's own image, a 2.x pod's only container) take any image.
    `settings[i]` is the setting that chose `changes[i]`, named in the warning."""
    warnings = []
    for change, setting in zip(changes, settings):
        before, after = parse_image_uuid(change.previous_image), parse_image_uuid(change.new_image)
        if before is not None and after is not None and not before.same_repository(after):
            warnings.append(f"{target}: {change.container} runs {before.name}, and the new image is from another "
                            f"repository, {after.name}; check RANCHER_IMAGE and {setting} if that is not meant")
    return tuple(warnings)


def plan_creation(creation: Creation, *, target_id: str = "", warnings: Sequence[str] = ()) -> Plan:
    """The plan of a target RANCHER_CREATE makes: its one container from nothing to the image.
    `target_id` is Rancher's id where it is known before the target exists (2.x), else empty (1.x)."""
    return Plan(target=creation.name, target_id=target_id, changes=creation.changes, request=creation,
                warnings=tuple(warnings))
