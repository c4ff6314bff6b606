"""What a run acts on: Rancher 1.x services and Rancher 2.x workloads, as the user names them.

Parsed here from the settings' text, so an unusable name fails as a ConfigError before any request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rancher_deploy.errors import ConfigError

# The Rancher 2.x workload kinds this tool acts on, named as `kind:name` takes them: the one list.
# Each has a resource name (workload_view.PLURALS, derived from it) and a kubectl status viewer
# (rollout.VIEWERS); tests/test_rollout.py checks that those tables cover exactly these kinds.
WORKLOAD_KINDS = ("deployment", "statefulset", "daemonset", "cronjob")

# Rancher 1.x names (stack, service, sidekick): what its API accepts, as `name` or `stack/name`.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")
# Kubernetes object names (RFC 1123 subdomain; a namespace is also at most 63 characters); compiled at
# first use (`re` caches it), by a 2.x run alone.
_K8S_NAME = r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\Z"


@dataclass(frozen=True)
class ServiceTarget:
    """One service to act on, as the user named it."""

    name: str
    stack: str | None

    def __str__(self) -> str:
        return f"{self.stack}/{self.name}" if self.stack else self.name


@dataclass(frozen=True)
class WorkloadTarget:
    """One Rancher 2.x workload to act on; `kind` None for a bare name, whose kind is looked up."""

    kind: str | None
    name: str
    namespace: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.kind}:{self.name}" if self.kind else f"{self.namespace}/{self.name}"


Target = ServiceTarget | WorkloadTarget


def alone(target: Target) -> str:
    """The setting that names `target` and no other, as messages write settings (`RANCHER_SERVICE=shop/web`,
    `RANCHER_WORKLOAD=deployment:api`; the run's speller rewrites it the way the user sets it).

    In a run of several targets the same command with the run's own settings acts on all of them,
    so advice for one of them adds this; every other setting (stack, namespace, ...) stays as it was.
    """
    if isinstance(target, ServiceTarget):
        return f"RANCHER_SERVICE={target}"
    return f"RANCHER_WORKLOAD={target.kind}:{target.name}" if target.kind else f"RANCHER_WORKLOAD={target.name}"


def parse_services(items: tuple[str, ...] | None, stack: str | None, *, setting: str,
                   stack_setting: str, workload_setting: str = "RANCHER_WORKLOAD") -> tuple[ServiceTarget, ...]:
    """`name` or `stack/name` items (the stack defaults to `stack`); raises ConfigError naming `setting`.

    The `*_setting` arguments are how messages name those settings (settings.py passes `Inputs.name`).
    """
    if stack is not None and not NAME.match(stack):
        raise ConfigError(stack_setting, f"is not a valid stack name: {stack!r}")
    if not items:
        raise ConfigError(setting, "is required: the service to upgrade, as name or stack/name "
                                   f"(or {workload_setting} for a Rancher 2.x workload)")
    targets: list[ServiceTarget] = []
    for item in items:
        stack_part, slash, name = item.rpartition("/")
        target_stack = stack_part if slash else stack
        if not NAME.match(name) or (slash and not NAME.match(stack_part)):
            raise ConfigError(setting, f"{item!r} is not a service name or stack/name")
        target = ServiceTarget(name=name, stack=target_stack)
        if target in targets:
            raise ConfigError(setting, f"names {target} twice")
        targets.append(target)
    named = sorted({target.stack for target in targets if target.stack is not None})
    if stack is not None and stack not in named and all("/" in item for item in items):
        # The stack setting fills in bare names only: with none, it would be ignored, and a stack it
        # names that no service is in says that one of the two is stale (which one, only the user knows).
        raise ConfigError(setting, f"names the stack of every service ({', '.join(named)}), and {stack_setting} "
                                   f"names another ({stack}); leave out {stack_setting}, or the stack in {setting}")
    return tuple(targets)


def parse_workloads(items: tuple[str, ...] | None, namespace: str, *, setting: str,
                    namespace_setting: str) -> tuple[WorkloadTarget, ...]:
    """`name` (kind looked up in Rancher) or `type:name` items in `namespace`; raises ConfigError naming `setting`."""
    if not re.match(_K8S_NAME, namespace) or len(namespace) > 63:
        raise ConfigError(namespace_setting, f"{namespace!r} is not a Kubernetes namespace name")
    targets: list[WorkloadTarget] = []
    for item in items or ():
        given, colon, name = item.rpartition(":")
        kind = given.lower() if colon else None
        if kind is not None and kind not in WORKLOAD_KINDS:
            raise ConfigError(setting, f"{item!r} has an unknown type {kind!r} (one of {', '.join(WORKLOAD_KINDS)})")
        if not re.match(_K8S_NAME, name):
            raise ConfigError(setting, f"{item!r} is not a workload name or type:name")
        target = WorkloadTarget(kind=kind, name=name, namespace=namespace)
        if target in targets:
            raise ConfigError(setting, f"names {target} twice")
        targets.append(target)
    return tuple(targets)
