"""Environment and label edits that merge, as pure functions: set or remove keys, keep the rest."""

from __future__ import annotations

from typing import Any

import pytest

from rancher_deploy.envlabels import (KeyDiff, KeyEdits, change_cause, edit_conflicts, edit_env_list, edit_map,
                                      edit_v3_env, env_key_problem, env_patch, label_key_problem, label_value_valid,
                                      parse_key, parse_pair, selector_conflicts)
from rancher_deploy.inputs import Origin

SECRET = "s3cr3t-value-never-shown"
FROM_SECRET: dict[str, Any] = {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
ENV: list[dict[str, Any]] = [{"name": "A", "value": "1"}, FROM_SECRET, {"name": "URL", "value": "http://x/$(A)"}]


@pytest.mark.parametrize(("current", "edits", "expected", "diff"), [
    ({"A": "1", "B": "2"}, KeyEdits((("C", "3"),)), {"A": "1", "B": "2", "C": "3"}, ((("C",), (), ()))),
    ({"A": "1", "B": "2"}, KeyEdits((("A", "9"),)), {"A": "9", "B": "2"}, ((), ("A",), ())),
    ({"A": "1", "B": "2"}, KeyEdits((("A", "1"),)), {"A": "1", "B": "2"}, ((), (), ())),
    ({"A": "1", "B": "2"}, KeyEdits(unset=("B", "Z")), {"A": "1"}, ((), (), ("B",))),
    (None, KeyEdits((("A", "1"),)), {"A": "1"}, (("A",), (), ())),
])
def test_a_map_edit_names_keys_and_keeps_the_rest(current: dict[str, str] | None, edits: KeyEdits,
                                                  expected: dict[str, str], diff: tuple[Any, ...]) -> None:
    result, changed = edit_map(current, edits, "labels")
    assert result == expected
    assert (changed.added, changed.changed, changed.removed) == diff
    assert bool(changed) == any(diff)


def test_new_keys_come_last_and_scheduling_labels_stay() -> None:
    labels = {"io.rancher.scheduler.affinity:host_label": "tier=web,zone=eu", "team": "shop"}
    result, _ = edit_map(labels, KeyEdits((("release", "2.1"),), ("team",)), "labels")
    assert list(result.items()) == [("io.rancher.scheduler.affinity:host_label", "tier=web,zone=eu"),
                                    ("release", "2.1")]


@pytest.mark.parametrize(("edits", "names", "diff"), [
    (KeyEdits((("NEW", "x"),)), ["A", "DB_PASSWORD", "URL", "NEW"], (("NEW",), (), (), ())),
    (KeyEdits((("A", "2"),)), ["A", "DB_PASSWORD", "URL"], ((), ("A",), (), ())),
    (KeyEdits(unset=("A",)), ["DB_PASSWORD", "URL"], ((), (), ("A",), ())),
    (KeyEdits((("DB_PASSWORD", SECRET),)), ["A", "DB_PASSWORD", "URL"], ((), ("DB_PASSWORD",), (), ("DB_PASSWORD",))),
    (KeyEdits((("A", "1"),), ("MISSING",)), ["A", "DB_PASSWORD", "URL"], ((), (), (), ())),
])
def test_an_env_list_keeps_order_and_value_from_entries(edits: KeyEdits, names: list[str],
                                                        diff: tuple[Any, ...]) -> None:
    result, changed = edit_env_list(ENV, edits, "web env")
    assert [entry["name"] for entry in result] == names
    assert (changed.added, changed.changed, changed.removed, changed.unsourced) == diff
    if "DB_PASSWORD" not in edits.keys:
        assert FROM_SECRET in result
    assert ENV[1] == FROM_SECRET, "the list read must not be modified"


def test_an_env_list_set_replaces_a_reference_by_a_plain_value_and_duplicates_by_one() -> None:
    entries = [*ENV, {"name": "A", "value": "later"}]
    result, _ = edit_env_list(entries, KeyEdits((("A", "2"), ("DB_PASSWORD", SECRET))), "web env")
    assert result == [{"name": "A", "value": "2"}, {"name": "DB_PASSWORD", "value": SECRET}, ENV[2]]


def test_the_env_patch_names_only_what_changes_the_way_kubectl_set_env_does() -> None:
    edits = KeyEdits((("A", "1"), ("URL", "http://y"), ("DB_PASSWORD", SECRET), ("NEW", "n")), ("GONE", "A_GONE"))
    entries = [*ENV, {"name": "GONE", "value": "g"}]
    assert env_patch(entries, edits) == [
        {"name": "URL", "value": "http://y"},
        {"name": "DB_PASSWORD", "value": SECRET, "valueFrom": None},
        {"name": "NEW", "value": "n"},
        {"name": "GONE", "$patch": "delete"},
    ]


def test_a_v3_container_of_rancher_2_5_edits_environment_and_environment_from() -> None:
    container = {"name": "web", "environment": {"A": "1", "B": "2"},
                 "environmentFrom": [{"source": "secret", "sourceName": "db", "sourceKey": "password",
                                      "targetKey": "DB_PASSWORD"},
                                     {"source": "configMap", "sourceName": "cm", "sourceKey": "TOKEN"},
                                     {"source": "secret", "sourceName": "all", "prefix": "X_"}]}
    edits = KeyEdits((("DB_PASSWORD", SECRET), ("C", "3")), ("TOKEN", "B"))
    result, diff = edit_v3_env(container, edits, "web env", lists=False)
    assert result["environment"] == {"A": "1", "DB_PASSWORD": SECRET, "C": "3"}
    assert result["environmentFrom"] == [{"source": "secret", "sourceName": "all", "prefix": "X_"}]
    assert (diff.added, diff.changed, diff.removed, diff.unsourced) == (("C",), ("DB_PASSWORD",), ("B", "TOKEN"),
                                                                        ("DB_PASSWORD",))


@pytest.mark.parametrize(("container", "lists", "field"), [
    ({"name": "web", "env": [{"name": "A", "value": "1"}]}, False, "env"),       # 2.6+ shows env: kept
    ({"name": "web", "environment": {"A": "1"}}, True, "environment"),           # 2.5 shows environment: kept
    ({"name": "web"}, True, "env"),                                                # nothing shown: by version
    ({"name": "web"}, False, "environment"),
])
def test_a_v3_container_keeps_the_form_its_rancher_shows(container: dict[str, Any], lists: bool, field: str) -> None:
    result, _ = edit_v3_env(container, KeyEdits((("B", "2"),)), "web env", lists=lists)
    assert field in result and ({"env", "environment"} - {field}).isdisjoint(result)


@pytest.mark.parametrize(("item", "expected"), [
    ("KEY=VALUE", ("KEY", "VALUE")),
    ("LIST=a,b=c", ("LIST", "a,b=c")),
    (" KEY = spaced", ("KEY", " spaced")),
    ("EMPTY=", ("EMPTY", "")),
])
def test_pairs_split_at_the_first_equals(item: str, expected: tuple[str, str]) -> None:
    assert parse_pair(item) == expected


@pytest.mark.parametrize(("item", "problem"), [
    (f"PASSWORD:{SECRET}", "has no '='"),
    (f"=value-{SECRET}", "empty key"),
    (f"MY KEY={SECRET}", "whitespace"),
    (f"KEY=a\x00{SECRET}", "control characters (value not shown)"),
])
def test_a_bad_pair_is_refused_without_showing_its_value(item: str, problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_pair(item)
    assert problem in str(refused.value) and SECRET not in str(refused.value)


def test_a_key_to_remove_has_no_value() -> None:
    assert parse_key(" OLD ") == "OLD"
    with pytest.raises(ValueError, match="keys only") as refused:
        parse_key(f"OLD={SECRET}")
    assert SECRET not in str(refused.value)


@pytest.mark.parametrize(("key", "valid"), [
    ("DATABASE_URL", True), ("_x", True), ("a.b-c", True), ("1ST", False), ("A B", False), ("A$", False),
])
def test_environment_names(key: str, valid: bool) -> None:
    assert (env_key_problem(key) is None) is valid


@pytest.mark.parametrize(("key", "valid"), [
    ("app", True), ("app.kubernetes.io/name", True), ("example.com/tier", True), ("a" * 63, True),
    ("a" * 64, False), ("-app", False), ("app-", False), ("Example.com/x", False), ("/x", False),
    ("a/b/c", False), ("io.rancher.scheduler.affinity:host_label", False), ("x/" + "a" * 63, True),
])
def test_kubernetes_label_keys(key: str, valid: bool) -> None:
    assert (label_key_problem(key) is None) is valid


@pytest.mark.parametrize(("value", "valid"), [("", True), ("2.1", True), ("a_b-c", True), ("-x", False),
                                               ("a" * 64, False), ("tier=web", False)])
def test_kubernetes_label_values(value: str, valid: bool) -> None:
    assert label_value_valid(value) is valid


def test_contradicting_edits_are_named() -> None:
    assert edit_conflicts(KeyEdits((("A", "1"), ("B", "2")), ("C",)), "RANCHER_UNSET_ENV") is None
    assert edit_conflicts(KeyEdits((("A", "1"), ("A", "2"))), "RANCHER_UNSET_ENV") == "sets A twice"
    assert "sets A, which RANCHER_UNSET_ENV removes" in str(edit_conflicts(KeyEdits((("A", "1"),), ("A",)), "RANCHER_UNSET_ENV"))


def test_selector_keys_are_found_among_sets_and_unsets() -> None:
    edits = KeyEdits((("tier", "web"), ("release", "2")), ("workload.user.cattle.io/workloadselector",))
    assert selector_conflicts(edits, ("workload.user.cattle.io/workloadselector", "app")) == (
        "workload.user.cattle.io/workloadselector",)


def test_a_diff_describes_keys_only() -> None:
    assert KeyDiff("web env", ("A",), ("B", "C"), ("D",)).describe() == "web env: added A; changed B, C; removed D"
    assert KeyDiff("labels").describe() == "labels: no change"


def test_the_change_cause_names_images_what_else_changed_and_the_origin() -> None:
    origin = Origin("https://ci.example.com/p/1", "0a1b2c3")
    assert change_cause([("web", "registry/app:2.1")], origin, also=("env", "labels")) == (
        "rancher-deploy: web=registry/app:2.1 (env and labels changed); commit 0a1b2c3; "
        "pipeline https://ci.example.com/p/1")
    assert change_cause([("web", "a:1"), ("proxy", "b:2")], Origin()) == "rancher-deploy: web=a:1, proxy=b:2"
