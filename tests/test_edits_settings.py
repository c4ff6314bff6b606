"""The environment, label and record settings through every entry point, and their checks before any request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rancher_deploy.envlabels import Edits, KeyEdits
from rancher_deploy.errors import ConfigError
from rancher_deploy.inputs import Inputs, Origin
from rancher_deploy.redact import sent_forms
from rancher_deploy.settings import Command, Record, ServiceTarget, Settings, secrets_in

from .test_settings import BASE

WORKLOAD = {**{k: v for k, v in BASE.items() if k != "RANCHER_SERVICE"}, "RANCHER_WORKLOAD": "deployment:web"}
SECRET = "db-password-recognisable-4e1"


def load(environ: dict[str, str], flags: dict[str, Any] | None = None, ci: str = "plain") -> Settings:
    return Settings.from_inputs(Command.UPGRADE, Inputs(flags or {}, environ, {}, ci=ci))


def refused(environ: dict[str, str], flags: dict[str, Any] | None = None, ci: str = "plain") -> str:
    with pytest.raises(ConfigError) as caught:
        load(environ, flags, ci)
    message = str(caught.value)
    assert SECRET not in message
    return message


@pytest.mark.parametrize(("source", "ci"), [
    ({"flags": {"set_env": ["A=1", f"DB={SECRET}", "LIST=a,b"]}}, "plain"),          # a flag per pair
    ({"environ": {"RANCHER_SET_ENV": f"A=1\nDB={SECRET}\nLIST=a,b\n"}}, "plain"),       # one per line
    ({"environ": {"INPUT_SET-ENV": f"A=1\n\nDB={SECRET}\r\nLIST=a,b"}}, "github"),      # a `|` block input
    ({"environ": {"PLUGIN_SET_ENV": f"A=1\nDB={SECRET}\nLIST=a,b"}}, "woodpecker"),
    ({"environ": {"PLUGIN_SET-ENV": f"A=1\nDB={SECRET}\nLIST=a,b"}}, "drone"),
    ({"environ": {"PLUGIN_SET_ENV": f"A=1\nDB={SECRET}\nLIST=a,b"}}, "gitlab"),        # the component's input
])
def test_set_env_comes_from_every_entry_point_one_pair_per_line_or_flag(source: dict[str, Any], ci: str) -> None:
    settings = load({**BASE, **source.get("environ", {})}, source.get("flags"), ci)
    assert settings.edits.env == KeyEdits((("A", "1"), ("DB", SECRET), ("LIST", "a,b")))


def test_on_one_line_pairs_are_comma_separated_as_drone_joins_a_list() -> None:
    settings = load({**BASE, "PLUGIN_SET_ENV": "A=1,B=2", "PLUGIN_UNSET_ENV": "C,D",
                     "PLUGIN_SET_LABEL": "tier=web", "PLUGIN_UNSET_LABEL": "old"}, ci="drone")
    assert settings.edits == Edits(KeyEdits((("A", "1"), ("B", "2")), ("C", "D")),
                                   KeyEdits((("tier", "web"),), ("old",)))


def test_a_value_with_a_comma_on_one_line_is_refused_with_the_way_out() -> None:
    message = refused({**BASE, "PLUGIN_SET_ENV": f"A=1,LIST=a,{SECRET}"}, ci="drone")
    assert message.startswith("setting set_env: needs KEY=VALUE, but an item has no '='")


@pytest.mark.parametrize(("change", "message"), [
    ({"RANCHER_SET_ENV": f"NOEQUALS{SECRET}"},
     "RANCHER_SET_ENV: needs KEY=VALUE, but an item has no '=' (not shown: it may hold a value)"),
    ({"RANCHER_SET_ENV": f"1ST={SECRET}"}, "RANCHER_SET_ENV: '1ST' is not a valid environment variable name"),
    ({"RANCHER_UNSET_ENV": f"A={SECRET}"}, "RANCHER_UNSET_ENV: takes keys only, but an item has '='"),
    ({"RANCHER_SET_ENV": f"A=1\nA={SECRET}"}, "RANCHER_SET_ENV: sets A twice"),
    ({"RANCHER_SET_ENV": f"A={SECRET}", "RANCHER_UNSET_ENV": "A"},
     "RANCHER_SET_ENV: sets A, which RANCHER_UNSET_ENV removes; set or remove a key, not both"),
    ({"RANCHER_SET_LABEL": f"my label={SECRET}"}, "RANCHER_SET_LABEL: key 'my label' contains whitespace"),
    ({"RANCHER_SET_LABEL": "a=1", "RANCHER_UNSET_LABEL": "a"},
     "RANCHER_SET_LABEL: sets a, which RANCHER_UNSET_LABEL removes"),
    ({"RANCHER_RECORD": "yes-please"}, "RANCHER_RECORD: must be one of auto, true, false"),
])
def test_bad_edits_are_refused_before_any_request_naming_the_setting(change: dict[str, str], message: str) -> None:
    assert refused({**BASE, **change}).startswith(message)


def test_kubernetes_rules_apply_to_labels_of_2x_workloads_only() -> None:
    scheduling = "io.rancher.scheduler.affinity:host_label=tier=web"
    assert load({**BASE, "RANCHER_SET_LABEL": scheduling}).edits.labels.set == (
        ("io.rancher.scheduler.affinity:host_label", "tier=web"),)
    assert refused({**WORKLOAD, "RANCHER_SET_LABEL": scheduling}).startswith(
        "RANCHER_SET_LABEL: 'io.rancher.scheduler.affinity:host_label' is not a valid Kubernetes label key")
    assert refused({**WORKLOAD, "RANCHER_UNSET_LABEL": "Bad.Prefix/x"}).startswith(
        "RANCHER_UNSET_LABEL: 'Bad.Prefix/x' is not a valid Kubernetes label key: its prefix")
    message = refused({**WORKLOAD, "RANCHER_SET_LABEL": f"release={SECRET}!"})
    assert message.startswith("RANCHER_SET_LABEL: the value of release is not a valid Kubernetes label value")
    assert message.endswith("(value not shown)")


def test_a_1x_run_that_records_leaves_the_record_label_to_the_record() -> None:
    assert load({**BASE, "RANCHER_SET_LABEL": "rancher-deploy.change-cause=mine"}).edits.labels
    assert refused({**BASE, "RANCHER_SET_LABEL": "rancher-deploy.change-cause=mine", "RANCHER_RECORD": "true"}) == (
        "RANCHER_SET_LABEL: names rancher-deploy.change-cause, the label RANCHER_RECORD writes; leave it to the record")


def test_the_image_may_be_left_out_when_the_run_only_edits() -> None:
    without = {key: value for key, value in BASE.items() if key != "RANCHER_IMAGE"}
    assert refused(without).startswith("RANCHER_IMAGE: is required: the new image")
    assert load({**without, "RANCHER_UNSET_LABEL": "old"}).image is None
    assert load({**without, "RANCHER_SET_ENV": "A=1"}).edits.env


def test_record_is_auto_by_default_and_takes_true_and_false() -> None:
    assert load(BASE).record is Record.AUTO
    assert load({**BASE, "INPUT_RECORD": "False"}, ci="github").record is Record.FALSE
    assert load(BASE, {"record": "true"}).record is Record.TRUE
    assert Record.AUTO.on(rancher_2=True) and not Record.AUTO.on(rancher_2=False)
    assert Record.TRUE.on(rancher_2=False) and not Record.FALSE.on(rancher_2=True)


@pytest.mark.parametrize(("ci", "environ", "origin"), [
    ("github", {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "o/r", "GITHUB_RUN_ID": "42",
                "GITHUB_SHA": "0a1b"}, Origin("https://github.com/o/r/actions/runs/42", "0a1b")),
    ("gitlab", {"CI_PIPELINE_URL": "https://gitlab.example.com/o/r/-/pipelines/7", "CI_COMMIT_SHA": "c0ffee"},
     Origin("https://gitlab.example.com/o/r/-/pipelines/7", "c0ffee")),
    ("drone", {"DRONE_BUILD_LINK": "https://drone.example.com/o/r/3", "DRONE_COMMIT_SHA": "d00d"},
     Origin("https://drone.example.com/o/r/3", "d00d")),
    ("woodpecker", {"CI_PIPELINE_URL": "https://ci.example.com/repos/1/pipeline/9", "CI_COMMIT_SHA": "beef",
                    "DRONE_BUILD_LINK": "https://wrong.example.com"},
     Origin("https://ci.example.com/repos/1/pipeline/9", "beef")),
    ("woodpecker", {"CI_BUILD_LINK": "https://ci.example.com/o/r/build/9", "CI_COMMIT_SHA": "beef"},
     Origin("https://ci.example.com/o/r/build/9", "beef")),
    ("github", {"GITHUB_SHA": "0a1b"}, Origin(None, "0a1b")),
    ("plain", {"GITHUB_SHA": "0a1b", "CI_COMMIT_SHA": "c0ffee"}, Origin()),
])
def test_the_origin_is_what_the_running_ci_says(ci: str, environ: dict[str, str], origin: Origin) -> None:
    assert load({**BASE, **environ}, ci=ci).origin == origin


def test_values_set_are_masked_from_eight_characters_before_and_after_validation() -> None:
    environ = {**BASE, "INPUT_SET-ENV": f"SHORT=on\nDB={SECRET}", "RANCHER_SET_ENV": "X=other-long-value"}
    assert SECRET in secrets_in(environ) and "other-long-value" in secrets_in(environ)
    assert "on" not in secrets_in(environ)
    basic = sent_forms(BASE["CATTLE_ACCESS_KEY"], "SK-secret-value", None)   # the key pair as the Basic header sends it
    assert secrets_in({**BASE, "PLUGIN_SET_ENV": f"A=1,DB={SECRET}"}) == ("SK-secret-value", SECRET, *basic)
    assert SECRET in load(environ, ci="github").secrets
    # A label's value is no secret: masking `web` or `2.1` would hide the target and the image.
    assert "release-2.1-long" not in load({**BASE, "RANCHER_SET_LABEL": "release=release-2.1-long"}).secrets


# -- Drone and Woodpecker pass a YAML map, and a list holding maps, as JSON (docs/ci-conventions.md §4, §5)


@pytest.mark.parametrize(("ci", "variable"), [("drone", "PLUGIN_SET-ENV"), ("woodpecker", "PLUGIN_SET_ENV")])
def test_a_map_setting_arrives_as_a_json_object_and_is_its_pairs(ci: str, variable: str) -> None:
    # `set_env: {DB_PASSWORD: ..., MODE: prod, REPLICAS: 3, DEBUG: false, EMPTY:}` in the step's settings
    environ = {**BASE, variable: json.dumps({"DB_PASSWORD": SECRET, "MODE": "prod", "REPLICAS": 3,
                                             "DEBUG": False, "EMPTY": None, "LIST": "a,b"})}
    assert load(environ, ci=ci).edits.env == KeyEdits((("DB_PASSWORD", SECRET), ("MODE", "prod"), ("REPLICAS", "3"),
                                                      ("DEBUG", "false"), ("EMPTY", ""), ("LIST", "a,b")))
    assert SECRET in secrets_in(environ), "masked before validation, as the lines form is"


def test_every_key_value_list_setting_takes_a_map_and_a_list_of_maps() -> None:
    settings = load({**BASE, "PLUGIN_SET_LABEL": '{"tier": "web"}',
                     "PLUGIN_SIDEKICK": '{"proxy": "registry.example.com/proxy:2"}',
                     "PLUGIN_SET_ENV": '[{"A": "1"}, "B=2", {"C": "3"}]',      # `- {A: 1}`, `- B=2`, `- {C: 3}`
                     "PLUGIN_UNSET_ENV": '["OLD"]'}, ci="woodpecker")
    assert settings.edits == Edits(KeyEdits((("A", "1"), ("B", "2"), ("C", "3")), ("OLD",)), KeyEdits((("tier", "web"),)))
    assert [(name, str(image)) for name, image in settings.sidekicks] == [("proxy", "registry.example.com/proxy:2")]
    # Woodpecker's from_secret inside a list makes that list JSON too: a JSON array of text is its items.
    assert load({**BASE, "PLUGIN_SERVICE": '["shop/web", "shop/api"]'}, ci="woodpecker").services == (
        ServiceTarget("web", "shop"), ServiceTarget("api", "shop"))


@pytest.mark.parametrize(("text", "message"), [
    ('{"DB": ' + f'"{SECRET}"', "setting set_env: starts like a JSON object (a Drone/Woodpecker map) but is not one"),
    ('{"DB": {"nested": ' + f'"{SECRET}"' + '}}', "setting set_env: the value of DB is a map or a list, not text"),
    (f'{{"A=B": "{SECRET}"}}', "setting set_env: has a key with '=' in it, 'A=B'"),
    (f'{{"DB": "1", "DB": "{SECRET}"}}', "setting set_env: sets DB twice"),
    (f'{{"1ST": "{SECRET}"}}', "setting set_env: '1ST' is not a valid environment variable name"),
])
def test_a_map_that_cannot_be_its_pairs_is_refused_without_its_values(text: str, message: str) -> None:
    assert refused({**BASE, "PLUGIN_SET_ENV": text}, ci="woodpecker").startswith(message)


def test_text_that_only_starts_like_json_is_read_the_plain_way() -> None:
    # An IPv6 registry is no JSON array; a bracket in a value is no JSON object.
    settings = load({**BASE, "RANCHER_REGISTRY_HTTP": "[::1]:5000,[fd00::1]:5000", "RANCHER_POLL": "false",
                     "RANCHER_SET_ENV": "A={not json}"})
    assert settings.registry_http == ("[::1]:5000", "[fd00::1]:5000")
    assert settings.edits.env == KeyEdits((("A", "{not json}"),))
