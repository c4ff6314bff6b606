"""The settings table: sources and their precedence, CI spellings, and validation messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rancher_deploy.errors import ConfigError
from rancher_deploy.images import ImageRef
from rancher_deploy.redact import sent_forms
from rancher_deploy.settings import (SETTINGS, Command, Kind, ServiceTarget, Settings, read_dotenv, secret_parts,
                                     secrets_in)

BASE = {
    "CATTLE_URL": "https://rancher.example.com",
    "CATTLE_ACCESS_KEY": "AK",
    "CATTLE_SECRET_KEY": "SK-secret-value",
    "RANCHER_SERVICE": "web",
    "RANCHER_IMAGE": "registry/app:2.1",
}


def load(environ: dict[str, str], flags: dict[str, Any] | None = None, dotenv: dict[str, str | None] | None = None,
         command: Command = Command.UPGRADE) -> Settings:
    return Settings.load(command, flags or {}, environ, dotenv)


def test_defaults_follow_rancher_ui_and_the_documented_values() -> None:
    settings = load(BASE)
    assert settings.timeout_seconds == 600 and settings.poll_interval_seconds == 2 and settings.request_timeout_seconds == 30
    assert settings.retries == 3 and load({**BASE, "RANCHER_RETRIES": "0"}).retries == 0
    assert (settings.batch_size, settings.batch_interval_seconds, settings.start_first) == (1, 2.0, False)
    assert settings.finish and settings.rollback and not settings.force and not settings.dry_run
    assert settings.image == ImageRef.parse("registry/app:2.1")
    assert settings.services == (ServiceTarget("web", None),)


def test_precedence_is_flag_then_ci_input_then_environment_then_dotenv() -> None:
    environ = {**BASE, "RANCHER_TIMEOUT": "30", "INPUT_TIMEOUT": "40"}
    dotenv: dict[str, str | None] = {"RANCHER_TIMEOUT": "50", "RANCHER_STACK": "from-dotenv"}
    assert load(environ, {"timeout": "20"}, dotenv).timeout_seconds == 20
    settings = load(environ, {}, dotenv)
    assert settings.timeout_seconds == 40
    assert settings.sources["timeout"] == "CI input INPUT_TIMEOUT"
    assert settings.services[0].stack == "from-dotenv"
    assert settings.sources["stack"] == ".env RANCHER_STACK"
    assert load({**BASE, "RANCHER_TIMEOUT": "30"}, {}, dotenv).timeout_seconds == 30


def test_dotenv_never_overrides_what_is_set_and_is_read_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("RANCHER_STACK=shop\nRANCHER_SERVICE=ignored\n")
    settings = load(BASE, {}, read_dotenv(str(path)))
    assert settings.services == (ServiceTarget("web", "shop"),)
    assert read_dotenv(str(tmp_path / "missing")) == {}


@pytest.mark.parametrize("name", ["INPUT_ACCESS-KEY", "INPUT_ACCESS_KEY", "PLUGIN_ACCESS-KEY", "PLUGIN_ACCESS_KEY"])
def test_ci_inputs_are_read_in_both_hyphen_and_underscore_spellings(name: str) -> None:
    environ = {key: value for key, value in BASE.items() if key != "CATTLE_ACCESS_KEY"}
    environ[name] = "AK-from-ci"
    assert load(environ).access_key == "AK-from-ci"


def test_empty_values_count_as_unset_because_ci_sets_every_declared_input() -> None:
    settings = load({**BASE, "INPUT_TIMEOUT": "", "INPUT_STACK": "  ", "RANCHER_TIMEOUT": "90"})
    assert settings.timeout_seconds == 90
    assert settings.services[0].stack is None


@pytest.mark.parametrize(("text", "value"), [("true", True), ("YES", True), ("1", True), ("On", True),
                                              ("false", False), ("no", False), ("0", False), ("OFF", False)])
def test_booleans_accept_every_ci_spelling(text: str, value: bool) -> None:
    assert load({**BASE, "RANCHER_DRY_RUN": text}).dry_run is value


def test_services_take_stack_slash_name_and_lists() -> None:
    settings = load({**BASE, "RANCHER_STACK": "shop", "RANCHER_SERVICE": "web, other/worker"})
    assert settings.services == (ServiceTarget("web", "shop"), ServiceTarget("worker", "other"))
    assert load(BASE, {"service": ["a", "b,c"]}).services == tuple(ServiceTarget(n, None) for n in "abc")


def test_credentials_in_the_url_become_the_keys_and_leave_the_url() -> None:
    environ = {key: value for key, value in BASE.items() if not key.endswith("_KEY")}
    environ["CATTLE_URL"] = "https://AK2:s%40cret@rancher.example.com/v2-beta/"
    settings = load(environ)
    assert (settings.access_key, settings.secret_key) == ("AK2", "s@cret")
    assert settings.url == "https://rancher.example.com/v2-beta"


TOKEN_TEXT = "token-abcde:tokensecretpart"


def test_secrets_in_finds_every_spelling_the_token_half_and_url_passwords() -> None:
    environ = {
        "INPUT_SECRET-KEY": " spelled-the-github-way ",
        "PLUGIN_TOKEN": TOKEN_TEXT,
        "CATTLE_SECRET_KEY": "plain-env-secret",
        "RANCHER_URL": "https://key:p%40ssword@rancher.example.com",
        "INPUT_ACCESS-KEY": "not-a-secret-access-key",
    }
    found = secrets_in(environ)
    assert "spelled-the-github-way" in found
    assert TOKEN_TEXT in found and "tokensecretpart" in found
    assert "plain-env-secret" in found
    assert "p%40ssword" in found and "p@ssword" in found
    assert "not-a-secret-access-key" not in found


def test_secrets_lists_every_secret_value() -> None:
    settings = load({**BASE, "RANCHER_TOKEN": "token-abc12:tokensecret"})
    sent = set(sent_forms(settings.access_key, "SK-secret-value", "token-abc12:tokensecret"))
    assert len(sent) >= 2, "the Basic header value of each pair (key pair, token halves)"
    assert set(settings.secrets) == {"SK-secret-value", "token-abc12:tokensecret", "tokensecret", *sent}


def test_the_secret_half_of_a_token_is_found_by_one_rule_before_and_after_validation() -> None:
    assert secret_parts("token-abc12:tokensecret") == ("token-abc12:tokensecret", "tokensecret")
    assert secret_parts("no-colon-here") == ("no-colon-here",) and secret_parts("ends-with:") == ("ends-with:",)
    environ = {**BASE, "RANCHER_TOKEN": "token-abc12:tokensecret"}
    assert set(load(environ).secrets) <= set(secrets_in(environ))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"CATTLE_URL": None}, "CATTLE_URL: is required"),
        ({"CATTLE_URL": "rancher.example.com"}, "CATTLE_URL: must start with https:// or http://"),
        ({"CATTLE_URL": "https://"}, "CATTLE_URL: has no host name"),
        ({"CATTLE_URL": "https://host:99999"}, "CATTLE_URL: is not a valid URL"),
        ({"CATTLE_URL": "https://host/?x=1"}, "CATTLE_URL: must not contain a query"),
        ({"CATTLE_ACCESS_KEY": None, "CATTLE_SECRET_KEY": None}, "CATTLE_ACCESS_KEY: is required"),
        ({"CATTLE_SECRET_KEY": None}, "CATTLE_SECRET_KEY: is required when an access key is set"),
        ({"CATTLE_ACCESS_KEY": None}, "CATTLE_ACCESS_KEY: is required when a secret key is set"),
        ({"RANCHER_TOKEN": "nonsense"}, "RANCHER_TOKEN: must look like token-xxxxx:secret"),
        ({"RANCHER_SERVICE": None}, "RANCHER_SERVICE: is required"),
        ({"RANCHER_SERVICE": "a,,b"}, "RANCHER_SERVICE: has an empty item"),
        ({"RANCHER_SERVICE": "bad name"}, "RANCHER_SERVICE: 'bad name' is not a service name"),
        ({"RANCHER_SERVICE": "web,web"}, "RANCHER_SERVICE: names web twice"),
        ({"RANCHER_STACK": "a/b"}, "RANCHER_STACK: is not a valid stack name"),
        ({"RANCHER_IMAGE": None}, "RANCHER_IMAGE: is required"),
        ({"RANCHER_IMAGE": "App:1"}, "RANCHER_IMAGE: 'App:1' has an invalid repository part"),
        ({"RANCHER_TIMEOUT": "soon"}, "RANCHER_TIMEOUT: must be a number of seconds, got 'soon'"),
        ({"RANCHER_TIMEOUT": "0"}, "RANCHER_TIMEOUT: must be at least 1"),
        ({"RANCHER_TIMEOUT": "nan"}, "RANCHER_TIMEOUT: must be a finite number of seconds, got 'nan'"),
        ({"RANCHER_TIMEOUT": "-inf"}, "RANCHER_TIMEOUT: must be a finite number of seconds, got '-inf'"),
        ({"RANCHER_TIMEOUT": "600000"}, "RANCHER_TIMEOUT: must be at most 86400, got '600000'"),
        ({"RANCHER_REQUEST_TIMEOUT": "1e20"}, "RANCHER_REQUEST_TIMEOUT: must be at most 3600, got '1e20'"),
        ({"RANCHER_RETRIES": "1000"}, "RANCHER_RETRIES: must be at most 100"),
        ({"RANCHER_BATCH_SIZE": "9" * 30}, "RANCHER_BATCH_SIZE: must be at most 10000"),
        ({"RANCHER_STACK": "other", "RANCHER_SERVICE": "shop/web"},
         "RANCHER_SERVICE: names the stack of every service (shop), and RANCHER_STACK names another (other)"),
        ({"RANCHER_BATCH_SIZE": "1.5"}, "RANCHER_BATCH_SIZE: must be a whole number"),
        ({"RANCHER_BATCH_SIZE": "0"}, "RANCHER_BATCH_SIZE: must be at least 1"),
        ({"RANCHER_BATCH_INTERVAL": "0.01"}, "RANCHER_BATCH_INTERVAL: must be at least 0.1"),
        ({"RANCHER_DRY_RUN": "maybe"}, "RANCHER_DRY_RUN: must be true or false"),
        ({"RANCHER_OUTPUT": "yaml"}, "RANCHER_OUTPUT: must be one of text, json"),
        ({"RANCHER_SIDEKICK": "proxy"}, "RANCHER_SIDEKICK: 'proxy' must be NAME=IMAGE"),
        ({"RANCHER_SIDEKICK": "proxy=Bad"}, "RANCHER_SIDEKICK: proxy: image"),
        ({"RANCHER_CA_BUNDLE": "/nonexistent.pem"}, "RANCHER_CA_BUNDLE: no such file"),
    ],
)
def test_invalid_input_is_one_line_naming_the_setting(change: dict[str, str | None], message: str) -> None:
    environ = {**BASE}
    for key, value in change.items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    with pytest.raises(ConfigError) as caught:
        load(environ)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert "SK-secret-value" not in str(caught.value)


def test_secret_values_are_never_echoed_by_validation() -> None:
    with pytest.raises(ConfigError) as caught:
        load({**BASE, "RANCHER_TOKEN": "token-abc:has space"})
    assert "has space" not in str(caught.value)


def test_image_is_optional_for_the_other_commands() -> None:
    environ = {key: value for key, value in BASE.items() if key != "RANCHER_IMAGE"}
    assert load(environ, command=Command.ROLLBACK).image is None


def test_every_option_has_help_and_an_environment_variable() -> None:
    for option in SETTINGS:
        assert option.help and option.env
        assert option.env[0].startswith(("CATTLE_", "RANCHER_"))


def test_the_table_fills_every_settings_field() -> None:
    import dataclasses

    from rancher_deploy.settings import Settings as Typed

    fields = {item.name for item in dataclasses.fields(Typed)}
    filled = {option.attribute for option in SETTINGS if option.attribute}
    # Built from several rows (the edits), or from the CI's own variables (where a change comes from).
    assert fields - filled == {"command", "sources", "edits", "origin", "warnings", "unread"}
    assert filled <= fields


def test_choices_are_typed_values_that_read_as_the_words_users_write() -> None:
    from rancher_deploy.settings import Flavour, OnInterrupt, OnUpgraded, Output, PolicyKind, VersionPolicy

    settings = load({**BASE, "RANCHER_FLAVOUR": "Rancher-1.x", "RANCHER_OUTPUT": "JSON",
                     "RANCHER_ON_INTERRUPT": "report", "RANCHER_VERSION_POLICY": "newer"})
    assert settings.flavour is Flavour.RANCHER_1 and str(settings.flavour) == "rancher-1.x"
    assert settings.output is Output.JSON and settings.on_interrupt is OnInterrupt.REPORT
    assert settings.on_upgraded is OnUpgraded.FINISH
    assert settings.version_policy == VersionPolicy(PolicyKind.NEWER) and str(settings.version_policy) == "newer"
    assert load(BASE).version_policy == VersionPolicy(PolicyKind.ANY)
    with pytest.raises(ConfigError, match="RANCHER_VERSION_POLICY: must be one of any, newer, all, major, minor, patch, "
                                          "force, glob:PATTERN, regexp:PATTERN, got 'older'"):
        load({**BASE, "RANCHER_VERSION_POLICY": "older"})


def test_the_version_policy_takes_keels_policies_with_their_patterns_as_written() -> None:
    from rancher_deploy.settings import PolicyKind, VersionPolicy

    assert load({**BASE, "RANCHER_VERSION_POLICY": "Glob:Release-*"}).version_policy == VersionPolicy(
        PolicyKind.GLOB, "Release-*")
    assert load({**BASE, "RANCHER_VERSION_POLICY": "minor"}).version_policy == VersionPolicy(PolicyKind.MINOR)
    with pytest.raises(ConfigError) as raised:
        load({**BASE, "RANCHER_VERSION_POLICY": "regexp:(v1"})
    assert str(raised.value).startswith("RANCHER_VERSION_POLICY: regexp:(v1 is not a regular expression: ")
    assert "\n" not in str(raised.value)


def test_ca_bundle_falls_back_to_the_variables_other_tools_set(tmp_path: Path) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text("not checked here")
    fallback = load({**BASE, "SSL_CERT_FILE": str(pem)})
    assert fallback.verify == str(pem) and fallback.sources["ca_bundle"] == "environment SSL_CERT_FILE"
    first = load({**BASE, "REQUESTS_CA_BUNDLE": str(pem), "SSL_CERT_FILE": str(tmp_path / "missing.pem")})
    assert first.verify == str(pem), "the first one set is read, as requests reads REQUESTS_CA_BUNDLE first"
    assert load({**BASE, "REQUESTS_CA_BUNDLE": str(tmp_path)}).verify == str(tmp_path), "a c_rehash directory"
    # Set for other tools: insecure wins over them, where it conflicts with RANCHER_CA_BUNDLE.
    insecure = load({**BASE, "SSL_CERT_FILE": str(pem), "RANCHER_INSECURE": "true"})
    assert insecure.verify is False and "ca_bundle" not in insecure.sources
    assert load({**BASE, "RANCHER_CA_BUNDLE": str(pem), "REQUESTS_CA_BUNDLE": "/x"}).verify == str(pem)


def test_verification_is_never_left_to_requests_and_the_environment() -> None:
    # verify=True would let requests read REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE again by itself; with
    # nothing set, the run names the bundle requests ships (certifi's) explicitly.
    import requests.certs

    assert load(BASE).verify == requests.certs.where()  # type: ignore[attr-defined]
    assert load({**BASE, "RANCHER_INSECURE": "true"}).verify is False


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE"])
def test_a_ca_variable_of_other_tools_naming_no_file_is_an_error_naming_it(tmp_path: Path, variable: str) -> None:
    missing = str(tmp_path / "gone.pem")
    with pytest.raises(ConfigError) as caught:
        load({**BASE, variable: missing})
    assert str(caught.value) == (f"{variable}: no such file {missing!r} ({variable} is read as ca-bundle when that "
                                 "is not given; point it at an existing file or unset it)")
    # Set for other tools: insecure and our own option win over it, so it is not read at all then.
    assert load({**BASE, variable: missing, "RANCHER_INSECURE": "true"}).verify is False
    pem = tmp_path / "ca.pem"
    pem.write_text("not checked here")
    assert load({**BASE, variable: missing, "RANCHER_CA_BUNDLE": str(pem)}).verify == str(pem)


def test_inputs_are_a_snapshot_of_the_environment() -> None:
    from rancher_deploy.settings import OPTIONS_BY_NAME, Inputs

    environ = {**BASE, "RANCHER_OUTPUT": " JSON "}
    inputs = Inputs.snapshot({}, environ)
    environ["RANCHER_OUTPUT"] = "text"
    assert inputs.text(OPTIONS_BY_NAME["output"]) == "JSON"
    assert Settings.from_inputs(Command.UPGRADE, inputs).sources["output"] == "environment RANCHER_OUTPUT"


def test_the_progress_deadline_defaults_to_300_and_comes_from_every_spelling() -> None:
    assert load(BASE).progress_deadline_seconds == 300
    assert load(BASE, {"progress_deadline": "120"}).progress_deadline_seconds == 120
    for name in ("RANCHER_PROGRESS_DEADLINE", "INPUT_PROGRESS-DEADLINE", "INPUT_PROGRESS_DEADLINE",
                 "PLUGIN_PROGRESS_DEADLINE"):
        assert load({**BASE, name: "90"}).progress_deadline_seconds == 90


# -- messages name a setting the way the user set it (Inputs.name) ------------------------------------

GITHUB = {"GITHUB_ACTIONS": "true"}
DRONE = {"DRONE": "true"}
WOODPECKER = {"CI": "woodpecker"}
GITLAB = {"GITLAB_CI": "true"}


def refused(environ: dict[str, str], flags: dict[str, Any] | None = None, dotenv: dict[str, str | None] | None = None,
            ci: str = "plain") -> str:
    """The message of the ConfigError these inputs raise, as the CLI shows it."""
    from rancher_deploy.settings import Inputs

    inputs = Inputs(flags or {}, environ, dotenv or {}, ci=ci)
    with pytest.raises(ConfigError) as caught:
        Settings.from_inputs(Command.UPGRADE, inputs)
    return str(caught.value)


@pytest.mark.parametrize(
    ("source", "ci", "named"),
    [
        ({"flags": {"timeout": "soon"}}, "plain", "--timeout"),
        ({"environ": {"INPUT_TIMEOUT": "soon"}}, "github", "input timeout"),
        ({"environ": {"INPUT_POLL-INTERVAL": "soon"}}, "github", "input poll-interval"),
        ({"environ": {"PLUGIN_POLL-INTERVAL": "soon"}}, "drone", "setting poll-interval"),
        ({"environ": {"PLUGIN_POLL_INTERVAL": "soon"}}, "woodpecker", "setting poll_interval"),
        # The GitLab component passes its inputs as PLUGIN_*: the user wrote `poll-interval:` under inputs.
        ({"environ": {"PLUGIN_POLL_INTERVAL": "soon"}}, "gitlab", "input poll-interval"),
        ({"environ": {"RANCHER_POLL_INTERVAL": "soon"}}, "github", "RANCHER_POLL_INTERVAL"),
        ({"dotenv": {"RANCHER_POLL_INTERVAL": "soon"}}, "plain", "RANCHER_POLL_INTERVAL in .env"),
        # A CI's variable set where that CI does not run is named as the variable it is.
        ({"environ": {"PLUGIN_POLL_INTERVAL": "soon"}}, "plain", "PLUGIN_POLL_INTERVAL"),
    ],
)
def test_a_bad_value_is_named_the_way_it_was_set(source: dict[str, Any], ci: str, named: str) -> None:
    environ = {**BASE, **source.get("environ", {})}
    message = refused(environ, source.get("flags"), source.get("dotenv"), ci=ci)
    assert message.startswith(f"{named}: must be a number of seconds, got 'soon'"), message


def test_the_url_is_named_by_the_variable_that_held_it() -> None:
    environ = {key: value for key, value in BASE.items() if key != "CATTLE_URL"}
    assert refused({**environ, "RANCHER_URL": "ftp://rancher"}) == "RANCHER_URL: must start with https:// or http://"


@pytest.mark.parametrize(("ci", "named"), [("github", "input service"), ("drone", "setting service"),
                                           ("woodpecker", "setting service"), ("gitlab", "RANCHER_SERVICE"),
                                           ("plain", "RANCHER_SERVICE")])
def test_a_missing_setting_is_named_the_way_a_user_of_that_ci_sets_it(ci: str, named: str) -> None:
    environ = {key: value for key, value in BASE.items() if key != "RANCHER_SERVICE"}
    assert refused(environ, ci=ci).startswith(f"{named}: is required: the service to upgrade")


def test_a_message_about_two_settings_names_both_the_way_they_were_set() -> None:
    environ = {**BASE, "INPUT_WORKLOAD": "deployment:web"}
    assert refused(environ, ci="github") == (
        "input workload: names Rancher 2.x workloads but RANCHER_SERVICE is set too; use one of them")
    environ = {key: value for key, value in BASE.items() if key not in ("CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY")}
    assert refused(environ, ci="drone") == (
        "setting access_key: is required (with setting secret_key), or setting token instead")


# -- numbers: every duration and count has bounds, named in the error ---------------------------------


def test_every_number_has_a_lower_and_an_upper_bound() -> None:
    # Past the upper one a value is a slip (milliseconds for seconds, 1e20), and Python's own timers
    # refuse it mid-run with an OverflowError (a socket timeout from about 1e10 s).
    numbers = [option for option in SETTINGS if option.kind in (Kind.SECONDS, Kind.COUNT)]
    assert numbers and all(option.minimum is not None and option.maximum is not None for option in numbers)
    for option in numbers:
        assert option.default is None or option.minimum <= option.default <= option.maximum, option.name
        if option.kind is Kind.SECONDS:
            assert option.maximum <= 1e9, f"{option.name}: a socket or a wait takes no more"


# -- credentials: what a header cannot carry, and which of several is sent ----------------------------


@pytest.mark.parametrize(("change", "named"), [
    ({"CATTLE_SECRET_KEY": "S\u00fcper\u20acSecretKey123"}, "CATTLE_SECRET_KEY"),
    ({"CATTLE_SECRET_KEY": "secret\u201dwith-a-smart-quote"}, "CATTLE_SECRET_KEY"),   # pasted from a chat
    ({"CATTLE_SECRET_KEY": "latin\u00fconly"}, "CATTLE_SECRET_KEY"),     # latin-1 fits, but not as Rancher has it
    ({"CATTLE_ACCESS_KEY": "ACCESS\u201c"}, "CATTLE_ACCESS_KEY"),
    ({"INPUT_SECRET-KEY": "nbsp\u00a0inside"}, "input secret-key"),
    ({"RANCHER_TOKEN": "token-abc12:s\u00e9cret"}, "RANCHER_TOKEN"),
    ({"CATTLE_ACCESS_KEY": None, "CATTLE_SECRET_KEY": None,
      "CATTLE_URL": "https://AK:p%E2%82%ACss@rancher.example.com"}, "CATTLE_URL: the secret key written into it"),
])
def test_a_credential_no_http_header_can_carry_is_refused_without_showing_it(
        change: dict[str, str | None], named: str) -> None:
    environ: dict[str, str] = {**BASE}
    for key, value in change.items():
        if value is None:
            environ.pop(key)
        else:
            environ[key] = value
    message = refused(environ, ci="github" if "INPUT_SECRET-KEY" in change else "plain")
    assert message.startswith(named) and "printable ASCII" in message and "value not shown" in message, message
    value = next(text for text in change.values() if text)
    assert value not in message and "position" not in message
    for part in ("S\u00fcper", "\u20ac", "\u201d", "\u00fc", "\u00e9", "p%E2%82%ACss"):
        assert part not in message


def test_a_token_beside_keys_is_what_is_sent_and_one_warning_names_the_keys_left_unsent() -> None:
    settings = load({**BASE, "RANCHER_TOKEN": "token-abc12:tokensecret"})
    assert settings.warnings == ("RANCHER_TOKEN is sent, not CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY: the token takes "
                                 "precedence (leave out one or the other to silence this)",)
    url_keys = {key: value for key, value in BASE.items() if not key.endswith("_KEY")}
    url_keys["CATTLE_URL"] = "https://AK:SK-secret-value@rancher.example.com"
    settings = load({**url_keys, "RANCHER_TOKEN": "token-abc12:tokensecret"})
    assert settings.warnings[0].startswith("RANCHER_TOKEN is sent, not the keys in CATTLE_URL")
    assert "SK-secret-value" not in settings.warnings[0]
    assert load(BASE).warnings == ()


def test_key_settings_beside_other_keys_in_the_url_are_sent_and_one_warning_says_so() -> None:
    url = "https://AK:other-secret@rancher.example.com"
    settings = load({**BASE, "CATTLE_URL": url})
    assert (settings.access_key, settings.secret_key) == ("AK", "SK-secret-value")
    assert settings.warnings == ("CATTLE_SECRET_KEY is sent, not the secret key written into CATTLE_URL: the key "
                                 "settings take precedence (leave out one or the other to silence this)",)
    assert "other-secret" not in settings.warnings[0]
    settings = load({**BASE, "CATTLE_URL": "https://AK2:other-secret@rancher.example.com"})
    assert settings.warnings[0].startswith("CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY are sent, not the keys written")
    # The same keys twice, or the URL's key beside the setting's secret, are one login: nothing to say.
    assert load({**BASE, "CATTLE_URL": "https://AK:SK-secret-value@rancher.example.com"}).warnings == ()
    half = {key: value for key, value in BASE.items() if key != "CATTLE_ACCESS_KEY"}
    settings = load({**half, "CATTLE_URL": "https://AK3@rancher.example.com"})
    assert (settings.access_key, settings.secret_key, settings.warnings) == ("AK3", "SK-secret-value", ())


# -- a command reads its own settings only -----------------------------------------------------------


@pytest.mark.parametrize(("command", "unread"), [
    (Command.ROLLBACK, {"RANCHER_IMAGE": "registry.example.com/shop/web:Feature/X"}),
    (Command.STATUS, {"RANCHER_BATCH_SIZE": "0"}),
    (Command.STATUS, {"RANCHER_SERVE_PORT": "-1"}),
    (Command.STATUS, {"RANCHER_SERVE_TOKEN": "short"}),
    (Command.FINISH, {"RANCHER_SET_ENV": "NO-EQUALS", "RANCHER_PARALLEL": "0", "RANCHER_DRY_RUN": "true"}),
    (Command.UPGRADE, {"RANCHER_SERVE_QUEUE": "0"}),
])
def test_a_setting_the_command_does_not_read_is_neither_checked_nor_used(
        command: Command, unread: dict[str, str]) -> None:
    # A pipeline-wide variable (GitLab `variables:`, built from CI_COMMIT_REF_NAME) must not stop a job
    # that has no use for it; `rollback --help` lists no --image.
    settings = load({**BASE, **unread}, command=command)
    expected = set(unread) - {"RANCHER_DRY_RUN"} | ({"RANCHER_IMAGE"} if command is not Command.UPGRADE else set())
    assert set(settings.unread) == expected
    assert not set(settings.sources) & {"batch_size", "serve_port", "serve_token", "set_env", "parallel", "serve_queue"}
    assert (settings.image is None) is (command is not Command.UPGRADE)


def test_finish_reads_the_progress_deadline_it_waits_out_another_upgrade_by() -> None:
    settings = load({**BASE, "RANCHER_PROGRESS_DEADLINE": "42"}, command=Command.FINISH)
    assert settings.progress_deadline_seconds == 42 and settings.unread == ("RANCHER_IMAGE",)
    assert refused({**BASE, "RANCHER_PROGRESS_DEADLINE": "0"}).startswith("RANCHER_PROGRESS_DEADLINE: must be at least")


def test_a_progress_deadline_not_above_the_batch_interval_is_one_warning_for_1x_upgrades() -> None:
    # Not refused: a service of one batch never waits between batches, and its scale is Rancher's to say.
    slow = {**BASE, "RANCHER_PROGRESS_DEADLINE": "1", "RANCHER_BATCH_INTERVAL": "5"}
    assert load(slow).warnings == (
        "RANCHER_PROGRESS_DEADLINE (1s) is not above RANCHER_BATCH_INTERVAL (5s): Rancher 1.x waits that long "
        "between two batches, so an upgrade of more than one batch (a scale above RANCHER_BATCH_SIZE) will be failed "
        "by the deadline and rolled back",)
    assert load({**BASE, "RANCHER_BATCH_INTERVAL": "600"}).warnings[0].startswith(
        "RANCHER_PROGRESS_DEADLINE (300s) is not above RANCHER_BATCH_INTERVAL (600s)")
    assert load(slow, command=Command.ROLLBACK).warnings == ()   # neither is read
    workload = {**{key: value for key, value in slow.items() if key != "RANCHER_SERVICE"},
                "RANCHER_WORKLOAD": "deployment:web"}
    assert load(workload).warnings == ()   # a 2.x rollout has no batches of ours
    assert load(BASE).warnings == ()


def test_a_stack_setting_is_a_default_for_bare_names_and_may_not_contradict_them() -> None:
    assert load({**BASE, "RANCHER_STACK": "shop", "RANCHER_SERVICE": "shop/web"}).services == (ServiceTarget("web", "shop"),)
    assert load({**BASE, "RANCHER_STACK": "shop", "RANCHER_SERVICE": "other/web, shop/api"}).services == (
        ServiceTarget("web", "other"), ServiceTarget("api", "shop"))
    assert refused({**BASE, "RANCHER_STACK": "other", "RANCHER_SERVICE": "shop/web, shop/api"}) == (
        "RANCHER_SERVICE: names the stack of every service (shop), and RANCHER_STACK names another (other); "
        "leave out RANCHER_STACK, or the stack in RANCHER_SERVICE")


# -- .env: read whole, or refused naming the file and line --------------------------------------------


def test_a_dotenv_file_that_is_not_utf8_is_refused_naming_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes(b"RANCHER_TIMEOUT=30\nRANCHER_STACK=sh\xffop\n")
    with pytest.raises(ConfigError) as caught:
        read_dotenv(str(path))
    assert str(caught.value) == (f".env file {path}: line 2 is not UTF-8 text, the encoding python-dotenv reads "
                                 "(the line is not shown); save the file as UTF-8")


def test_dotenv_lines_python_dotenv_cannot_parse_are_refused_naming_them_not_their_text(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / ".env"
    path.write_text("RANCHER_STACK=shop\nexport hunter2 secret\nRANCHER_SERVICE=web\nnot a line\n")
    with pytest.raises(ConfigError) as caught:
        read_dotenv(str(path))
    assert str(caught.value) == (f".env file {path}: lines 2, 4 cannot be read as KEY=VALUE by python-dotenv (not "
                                 "shown: a line may hold a secret); fix or remove them")
    assert "python-dotenv could not parse" not in capsys.readouterr().err + caplog.text


def test_a_dotenv_file_saved_with_a_byte_order_mark_keeps_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_bytes("\ufeffRANCHER_STACK=shop\n".encode())
    assert read_dotenv(str(path)) == {"RANCHER_STACK": "shop"}
