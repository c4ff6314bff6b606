"""What RANCHER_CREATE makes of a target that does not exist, and the bodies each API takes for it; pure.

The settings give a `Blueprint` (image, scale, ports, and the env and labels RANCHER_SET_ENV and
RANCHER_SET_LABEL set); a backend that finds no target turns it into a `Creation` (which container,
in which stack or namespace, with which deploy record), and builds the request body from it here:
Rancher 1.x's service with `startOnCreate` (rancher-api.md §3.7), a v3 workload, or an apps/v1
Deployment for the Kubernetes API Rancher proxies. The env takes the form each API holds, by the
same rules as an upgrade's edits (`envlabels`). Kept apart from the upgrade plan (`plan`), whose
rules (keep the whole existing object) do not apply to something new.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rancher_deploy.envlabels import CHANGE_CAUSE, RECORD_LABEL, KeyEdits, edit_env_list, edit_v3_env
from rancher_deploy.events import ImageChange
from rancher_deploy.images import ImageRef
from rancher_deploy.targets import ServiceTarget, Target

# Rancher's port form, `[public:]private[/protocol]`, tcp or udp (cattle PortSpec, code/iaas/model/src/
# main/java/io/cattle/platform/core/util/PortSpec.java); a bind address is not taken here.
# Compiled at first use (`re` caches it): a run without --port never needs it, and each pattern compiled at
# import is start-up every CI step pays (docs/performance.md).
_PORT = r"(?:(?P<public>[0-9]+):)?(?P<private>[0-9]+)(?:/(?P<protocol>[a-z]+))?\Z"
_PROTOCOLS = ("tcp", "udp")
# The label Rancher's own tools select a 2.x workload's pods by: v3 sets it on create as
# `deployment-<ns>-<name>` (rancher/rancher pkg/api/norman/store/workload/workload_store.go, setSelector);
# Steve clients write `apps.deployment-<ns>-<name>` (rancher/rancher tests/framework/extensions/
# deployments, CreateDeployment), which is what the Kubernetes path here does.
WORKLOAD_SELECTOR = "workload.user.cattle.io/workloadselector"


@dataclass(frozen=True)
class Port:
    """One `--port`: Rancher 1.x publishes `public` on the host; on 2.x only `private` is used, as the
    container's `containerPort` (no Service is created)."""

    private: int
    public: int | None = None
    protocol: str = "tcp"

    @classmethod
    def parse(cls, text: str) -> Port:
        """`8080:80/tcp`, `80/udp` or `80`; raises ValueError worded to follow the setting's name."""
        match = re.match(_PORT, text.strip().lower())
        if not match:
            raise ValueError(f"{text!r} must be [PUBLIC:]PRIVATE[/tcp|udp], e.g. 8080:80/tcp")
        protocol = match.group("protocol") or "tcp"
        if protocol not in _PROTOCOLS:
            raise ValueError(f"{text!r} has protocol {protocol!r}; Rancher takes tcp or udp")
        numbers = [int(part) for part in (match.group("private"), match.group("public")) if part is not None]
        if any(not 0 < number <= 65535 for number in numbers):
            raise ValueError(f"{text!r} has a port outside 1-65535")
        public = match.group("public")
        return cls(int(match.group("private")), int(public) if public is not None else None, protocol)

    def __str__(self) -> str:
        """Rancher 1.x's form, as a launch config's `ports` holds it."""
        return (f"{self.public}:" if self.public is not None else "") + f"{self.private}/{self.protocol}"

    def container_port(self) -> dict[str, Any]:
        """The Kubernetes ContainerPort (v3 takes the same two fields and names the port itself)."""
        return {"containerPort": self.private, "protocol": self.protocol.upper()}


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class Blueprint:
    """What the settings say a created target is made of: its image, its scale (containers on 1.x,
    replicas on 2.x) and ports, and the KEY=VALUE pairs of its env and labels."""

    image: ImageRef | None
    scale: int = 1
    ports: tuple[Port, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, eq=False)
class Creation:
    """A target to create: `target` as the settings name it, `kind` what it becomes ("service" on 1.x,
    "deployment" on 2.x), `container` the name of its one container, `new_parent` whether its stack
    (1.x) is created first, the blueprint it is made from (whose image is set), and `cause`, the deploy
    record it carries where RANCHER_RECORD is on (1.x: a launch config label; 2.x: the workload's
    change-cause annotation)."""

    target: Target
    kind: str
    container: str
    image: ImageRef
    blueprint: Blueprint
    new_parent: bool = False
    cause: str | None = None

    @property
    def cause_where(self) -> str:
        """Where the deploy record goes, as the plan names it."""
        return f"label {RECORD_LABEL}" if isinstance(self.target, ServiceTarget) else f"annotation {CHANGE_CAUSE}"

    @property
    def name(self) -> str:
        """How the log names it: "shop/web" (1.x), "default/deployment:web" (2.x)."""
        return str(self.target)

    @property
    def parent(self) -> str:
        """Its stack (1.x) or namespace (2.x)."""
        return str(self.target.stack) if isinstance(self.target, ServiceTarget) else self.target.namespace

    @property
    def changes(self) -> tuple[ImageChange, ...]:
        """Its one container, from nothing (an empty previous image) to the image."""
        return (ImageChange(self.container, "", str(self.image)),)

    def describe(self) -> list[str]:
        """The plan's lines: what is made, and the keys of its env and labels, never their values
        (they are often secrets)."""
        where = "stack" if isinstance(self.target, ServiceTarget) else "namespace"
        blueprint = self.blueprint
        lines = [f"Plan for {self.name}: create {self.kind} {self.target.name} in {where} {self.parent}"
                 + (f" (a new {where})" if self.new_parent else "") + f", scale {blueprint.scale}",
                 f"  {self.container}: {self.image}"]
        if blueprint.ports:
            lines.append(f"  ports: {', '.join(str(port) for port in blueprint.ports)}")
        for what, pairs in (("env", blueprint.env), ("labels", blueprint.labels)):
            if pairs:
                lines.append(f"  {what}: sets {', '.join(key for key, _ in pairs)} (values not shown)")
        if self.cause:
            lines.append(f"  record: {self.cause_where} = {self.cause}")
        return lines


def service_body(creation: Creation, stack_id: str, stack_field: str) -> dict[str, Any]:
    """The 1.x `POST .../services` body: `startOnCreate` makes Rancher activate it once created (ServiceCreate,
    rancher-api.md §2.1); the launch config holds only what the settings give, Rancher fills in the rest."""
    blueprint = creation.blueprint
    launch_config: dict[str, Any] = {"imageUuid": creation.image.image_uuid}
    if blueprint.env:
        launch_config["environment"] = dict(blueprint.env)
    labels = {**dict(blueprint.labels), **({RECORD_LABEL: creation.cause} if creation.cause else {})}
    if labels:
        launch_config["labels"] = labels
    if blueprint.ports:
        launch_config["ports"] = [str(port) for port in blueprint.ports]
    return {"type": "service", "name": creation.target.name, stack_field: stack_id, "scale": blueprint.scale,
            "startOnCreate": True, "launchConfig": launch_config}


def v3_body(creation: Creation, *, env_lists: bool) -> dict[str, Any]:
    """The 2.x v3 `POST /v3/project/<id>/workloads` body of a deployment: `name`, `namespaceId` and
    `containers` are what norman requires (`scale` is sent too, else Kubernetes' default of 1 applies);
    `labels` are the pod template's, and Rancher adds its own selector label; `workloadAnnotations`
    the Deployment's own (the record). `env_lists`: this Rancher (2.6+) takes the env in Kubernetes'
    form, not the `environment` map it refuses (`envlabels.edit_v3_env`, rancher-api.md §5.2)."""
    blueprint = creation.blueprint
    container: dict[str, Any] = {"name": creation.container, "image": str(creation.image)}
    if blueprint.ports:
        container["ports"] = [port.container_port() for port in blueprint.ports]
    if blueprint.env:
        container, _ = edit_v3_env(container, KeyEdits(blueprint.env), f"{creation.container} env", lists=env_lists)
    body: dict[str, Any] = {"type": "deployment", "name": creation.target.name, "namespaceId": creation.parent,
                            "scale": blueprint.scale, "containers": [container]}
    if blueprint.labels:
        body["labels"] = dict(blueprint.labels)
    if creation.cause:
        body["workloadAnnotations"] = {CHANGE_CAUSE: creation.cause}
    return body


def deployment_body(creation: Creation) -> dict[str, Any]:
    """The apps/v1 Deployment the Kubernetes API takes, selected by Rancher's workload selector label
    so that Rancher's UI shows it as it shows the deployments it makes."""
    blueprint = creation.blueprint
    name, namespace = creation.target.name, creation.parent
    selector = {WORKLOAD_SELECTOR: f"apps.deployment-{namespace}-{name}"}
    container: dict[str, Any] = {"name": creation.container, "image": str(creation.image)}
    if blueprint.ports:
        container["ports"] = [port.container_port() for port in blueprint.ports]
    if blueprint.env:
        container["env"], _ = edit_env_list((), KeyEdits(blueprint.env), f"{creation.container} env")
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(selector)}
    if creation.cause:
        # On the Deployment's own metadata, as an upgrade's record is: what `kubectl rollout history` lists.
        metadata["annotations"] = {CHANGE_CAUSE: creation.cause}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": blueprint.scale,
            "selector": {"matchLabels": dict(selector)},
            "template": {"metadata": {"labels": {**dict(blueprint.labels), **selector}},
                         "spec": {"containers": [container]}},
        },
    }
