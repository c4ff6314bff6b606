"""Environment variables and labels that merge: the edits a run asks for, their checks, and the one way
they are applied to what Rancher holds, keeping every key the run does not name; pure.

Other deploy tools replaced the whole map (one `--label` wiped every label, scheduling rules
included), so here an edit names keys: set KEY to VALUE, or remove KEY, and nothing else moves.
The same functions serve the plan (which keys change, for the log: never the values, which are
often secrets) and the write (applied to the object read just before it), so the two agree.
Values are compared, never shown: a set to the value a key already has changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Collection, Iterable, Mapping, Sequence

from rancher_deploy.inputs import Origin

# The workload annotation `kubectl rollout history` lists as CHANGE-CAUSE (kubectl
# pkg/polymorphichelpers/history.go reads it from each revision, where the controllers copy it).
CHANGE_CAUSE = "kubernetes.io/change-cause"
# Its Rancher 1.x counterpart, a launch-config label: 1.x keeps no revision history to annotate.
RECORD_LABEL = "rancher-deploy.change-cause"

# Environment variable names every Kubernetes and Docker takes: apimachinery's IsEnvVarName
# (k8s.io/apimachinery pkg/util/validation/validation.go) before 1.30 relaxed it to any printable
# character but `=`; the older rule is the one that works on every cluster and in a shell. These patterns
# are compiled at first use (`re` caches them): only a run that sets env or labels checks a key.
_ENV_NAME = r"[-._a-zA-Z][-._a-zA-Z0-9]*\Z"
# Label keys and values (validation.go: IsQualifiedName, IsDNS1123Subdomain, IsValidLabelValue).
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?\Z"
_DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z"
_NAME_MAX, _PREFIX_MAX, _VALUE_MAX = 63, 253, 63


@dataclass(frozen=True)
class KeyEdits:
    """Keys to set (key, value) and keys to remove, for one map: a container's environment or labels."""

    set: tuple[tuple[str, str], ...] = ()
    unset: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.set or self.unset)

    @property
    def keys(self) -> tuple[str, ...]:
        return (*(key for key, _ in self.set), *self.unset)

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(value for _, value in self.set)


@dataclass(frozen=True)
class Edits:
    """What a run asks besides the image: environment edits (for the containers it changes) and label
    edits (a 1.x service's launch config, a 2.x workload's pod template)."""

    env: KeyEdits = KeyEdits()
    labels: KeyEdits = KeyEdits()

    def __bool__(self) -> bool:
        return bool(self.env or self.labels)


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class KeyDiff:
    """Which keys of one map an edit adds, changes and removes; never their values.

    `scope` names the map (`web env`, `labels`); `unsourced` are keys set that came from a reference
    (a secret or config map) and become plain values.
    """

    scope: str
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    unsourced: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)

    def describe(self) -> str:
        """`web env: added A, B; changed C; removed D` (keys only)."""
        parts = [f"{word} {', '.join(keys)}" for word, keys in
                 (("added", self.added), ("changed", self.changed), ("removed", self.removed)) if keys]
        return f"{self.scope}: {'; '.join(parts) or 'no change'}"


# -- reading the settings ----------------------------------------------------------------------------


def parse_pair(item: str) -> tuple[str, str]:
    """`KEY=VALUE` as (key, value), split at the first `=`; ValueError worded to follow the setting's
    name, and never quoting the item, which may hold a value (`PASSWORD:hunter2`)."""
    key, equals, value = item.partition("=")
    key = key.strip()
    if not equals:
        raise ValueError("needs KEY=VALUE, but an item has no '=' (not shown: it may hold a value)")
    _check_key(key)
    if any(ord(character) < 32 and character != "\t" for character in value):
        raise ValueError(f"the value of {key} contains control characters (value not shown)")
    return key, value


def parse_key(item: str) -> str:
    """A key to remove; ValueError for one with `=` (a value) or spaces."""
    if "=" in item:
        raise ValueError("takes keys only, but an item has '=' (not shown: it may hold a value)")
    _check_key(item.strip())
    return item.strip()


def _check_key(key: str) -> None:
    """What no key anywhere may be: empty, or holding whitespace or control characters (Rancher 1.x
    takes any other label key; the stricter rules are checked per line: `env_key_problem`,
    `label_key_problem`)."""
    if not key:
        raise ValueError("has an item with an empty key")
    if any(character.isspace() or ord(character) < 32 for character in key):
        raise ValueError(f"key {key!r} contains whitespace or control characters")


def env_key_problem(key: str) -> str | None:
    """Why `key` is no environment variable name every Kubernetes and Docker takes, or None."""
    if re.match(_ENV_NAME, key):
        return None
    return (f"{key!r} is not a valid environment variable name (letters, digits, '-', '.', '_', not starting "
            "with a digit)")


def label_key_problem(key: str) -> str | None:
    """Why `key` is no Kubernetes label key (a qualified name: an optional DNS-subdomain prefix and `/`,
    then a name of at most 63 characters, alphanumeric at both ends, `-`, `_`, `.` inside), or None."""
    prefix, slash, name = key.rpartition("/")
    if slash and (not prefix or len(prefix) > _PREFIX_MAX or not re.match(_DNS_SUBDOMAIN, prefix)):
        return (f"{key!r} is not a valid Kubernetes label key: its prefix must be a DNS subdomain "
                "(lower-case letters, digits, '-' and '.', at most 253 characters)")
    if len(name) > _NAME_MAX or not re.match(_LABEL_NAME, name):
        return (f"{key!r} is not a valid Kubernetes label key: the name must be at most 63 characters, "
                "letters or digits at both ends, with '-', '_' or '.' inside (and at most one '/')")
    return None


def label_value_valid(value: str) -> bool:
    """A Kubernetes label value: empty, or at most 63 characters, alphanumeric at both ends, `-_.` inside."""
    return value == "" or (len(value) <= _VALUE_MAX and bool(re.match(_LABEL_NAME, value)))


def edit_conflicts(edits: KeyEdits, unsetter: str) -> str | None:
    """Why the edits contradict themselves (a key set twice, or set and removed by `unsetter`, the
    setting that removes keys), or None."""
    seen: set[str] = set()
    for key, _ in edits.set:
        if key in seen:
            return f"sets {key} twice"
        seen.add(key)
    both = [key for key in dict.fromkeys(edits.unset) if key in seen]
    if both:
        return f"sets {', '.join(both)}, which {unsetter} removes; set or remove a key, not both"
    return None


# -- applying them -----------------------------------------------------------------------------------


def edit_map(current: Mapping[str, Any] | None, edits: KeyEdits, scope: str) -> tuple[dict[str, Any], KeyDiff]:
    """A map (1.x environment or labels, v3 labels) with the edits applied, new keys last, and its diff."""
    result = dict(current or {})
    added: list[str] = []
    changed: list[str] = []
    removed: list[str] = []
    for key, value in edits.set:
        if key not in result:
            added.append(key)
        elif result[key] != value:
            changed.append(key)
        result[key] = value
    for key in edits.unset:
        if key in result:
            removed.append(key)
            del result[key]
    return result, KeyDiff(scope, tuple(added), tuple(changed), tuple(removed))


def edit_env_list(entries: Sequence[Mapping[str, Any]] | None, edits: KeyEdits,
                  scope: str) -> tuple[list[dict[str, Any]], KeyDiff]:
    """A Kubernetes `env` list with the edits applied, and its diff.

    Entries keep their order (a later one may refer to an earlier one as `$(NAME)`); a key set anew
    is appended. A set replaces the entry of that name in place, a `valueFrom` one included (it
    becomes a plain value: `unsourced`); entries of other names, `valueFrom` ones too, stay as they are.
    """
    result = [dict(entry) for entry in entries or ()]
    added: list[str] = []
    changed: list[str] = []
    removed: list[str] = []
    unsourced: list[str] = []
    for key, value in edits.set:
        places = [index for index, entry in enumerate(result) if entry.get("name") == key]
        if not places:
            result.append({"name": key, "value": value})
            added.append(key)
            continue
        first = result[places[0]]
        if "valueFrom" in first:
            unsourced.append(key)
        if "valueFrom" in first or first.get("value", "") != value or len(places) > 1:
            changed.append(key)
        result[places[0]] = {"name": key, "value": value}
        result = [entry for index, entry in enumerate(result) if index not in places[1:]]
    for key in edits.unset:
        if any(entry.get("name") == key for entry in result):
            removed.append(key)
            result = [entry for entry in result if entry.get("name") != key]
    return result, KeyDiff(scope, tuple(added), tuple(changed), tuple(removed), tuple(unsourced))


def env_patch(entries: Sequence[Mapping[str, Any]] | None, edits: KeyEdits) -> list[dict[str, Any]]:
    """The `env` of a strategic merge patch that makes `edits` of these entries, as `kubectl set env`
    sends it: `env` merges by `name` (its patchMergeKey), a new entry is appended, `$patch: delete`
    removes one, and `valueFrom: null` drops the reference a plain value replaces. Only what changes."""
    current = {str(entry.get("name")): entry for entry in reversed(list(entries or ()))}  # the first of a name
    patch: list[dict[str, Any]] = []
    for key, value in edits.set:
        entry = current.get(key)
        if entry is None:
            patch.append({"name": key, "value": value})
        elif "valueFrom" in entry:
            patch.append({"name": key, "value": value, "valueFrom": None})
        elif entry.get("value", "") != value:
            patch.append({"name": key, "value": value})
    patch.extend({"name": key, "$patch": "delete"} for key in edits.unset if key in current)
    return patch


def edit_v3_env(container: Mapping[str, Any], edits: KeyEdits, scope: str, *,
                lists: bool) -> tuple[dict[str, Any], KeyDiff]:
    """A v3 container with the environment edits applied, in the form its Rancher takes, and its diff.

    Rancher 2.6 removed v3's environment mapper: containers carry Kubernetes' `env`/`envFrom`, and a
    non-empty `environment` is refused (rancher-api.md §5.2). Up to 2.5 (rancher/types
    mapper/env.go) plain values are the map `environment` and references the list `environmentFrom`
    (`targetKey`, defaulting to `sourceKey`, names the variable; one with neither imports a whole
    secret or config map and names no key). The container's own fields say which form it is in; one
    with no environment at all takes the form of its Rancher (`lists`: 2.6 or later).
    """
    if "env" in container or "envFrom" in container or (
            lists and "environment" not in container and "environmentFrom" not in container):
        env, diff = edit_env_list(container.get("env"), edits, scope)
        return {**container, "env": env}, diff
    environment, diff = edit_map(container.get("environment"), edits, scope)
    references = [dict(entry) for entry in container.get("environmentFrom") or ()]
    added, changed, removed, unsourced = list(diff.added), list(diff.changed), list(diff.removed), []

    def names(entry: Mapping[str, Any]) -> str | None:
        return str(entry.get("targetKey") or entry.get("sourceKey") or "") or None

    for key in edits.keys:
        if not any(names(entry) == key for entry in references):
            continue
        references = [entry for entry in references if names(entry) != key]
        if key in edits.unset:
            if key not in removed:
                removed.append(key)
        else:
            unsourced.append(key)
            if key in added:
                added.remove(key)
                changed.append(key)
    out = {**container, "environment": environment}
    if "environmentFrom" in container:
        out["environmentFrom"] = references
    return out, KeyDiff(scope, tuple(added), tuple(changed), tuple(removed), tuple(unsourced))


def selector_conflicts(edits: KeyEdits, selector: Collection[str]) -> tuple[str, ...]:
    """The keys the edits name that the workload's selector uses: changing one orphans its ReplicaSets
    and pods (the selector of an apps/v1 workload cannot change, so they would never match again)."""
    return tuple(key for key in dict.fromkeys(edits.keys) if key in selector)


def change_cause(images: Iterable[tuple[str, str]], origin: Origin, *, also: Sequence[str] = ()) -> str:
    """The deploy record: the image(s), what else changed, and where the CI says the change came from.

    `rancher-deploy: web=registry/app:2.1 (env changed); commit 0a1b2c3; pipeline https://...`.
    """
    text = "rancher-deploy: " + ", ".join(f"{container}={image}" for container, image in images)
    if also:
        text += f" ({' and '.join(also)} changed)"
    if origin.commit:
        text += f"; commit {origin.commit}"
    if origin.pipeline:
        text += f"; pipeline {origin.pipeline}"
    return text
