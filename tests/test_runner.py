"""`runner.run`: one run from a Settings, as `serve` and registry polling start it, over real HTTP."""

from __future__ import annotations

import dataclasses

import pytest

from rancher_deploy import runner
from rancher_deploy.events import Event, Step
from rancher_deploy.settings import Command, Settings
from rancher_deploy.simulator import Simulator

from .conftest import NEW_IMAGE, SECRET_KEY


def settings_of(env: dict[str, str]) -> Settings:
    return Settings.load(Command.UPGRADE, {}, env)


def test_a_run_from_settings_answers_its_outcome_exit_code_and_result(sim: Simulator, web: str,
                                                                      base_env: dict[str, str]) -> None:
    events: list[Event] = []
    ran = runner.run(settings_of(base_env), events.append)
    assert ran.error is None and ran.outcome is not None
    assert int(ran.exit_code) == 0
    document = ran.document()
    assert document["result"] == "upgraded" and document["targets"][0]["image"] == NEW_IMAGE
    assert document["api_calls"] == ran.api_calls > 0
    lines = [event.message for event in events if isinstance(event, Step)]
    assert lines[0].startswith("rancher-deploy ") and any(line.startswith("Connected: ") for line in lines)
    assert not any(SECRET_KEY in line for line in lines)


def test_a_run_that_fails_answers_its_error_rather_than_raising(sim: Simulator, web: str,
                                                                base_env: dict[str, str]) -> None:
    # Settings built by a caller (the server overrides the image a webhook named).
    settings = dataclasses.replace(settings_of(base_env), services=(dataclasses.replace(
        settings_of(base_env).services[0], name="nope"),))
    ran = runner.run(settings, lambda event: None)
    assert ran.error is not None and int(ran.exit_code) == 2
    assert ran.document()["result"] == "error" and "nope" in ran.document()["error"]


def test_a_bug_in_a_run_is_exit_4_naming_it(sim: Simulator, web: str, base_env: dict[str, str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from rancher_deploy import deploy

    def broken(self: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(deploy.Pipeline, "run", broken)
    ran = runner.run(settings_of(base_env), lambda event: None)
    assert int(ran.exit_code) == 4
    assert "internal error ZeroDivisionError" in str(ran.error) and ran.api_calls > 0


def test_settings_of_another_command_become_a_fleet_upgrade_of_an_image(sim: Simulator, web: str,
                                                                      base_env: dict[str, str]) -> None:
    # What `serve` does when told an image was pushed: its own settings, turned into a fleet upgrade.
    from rancher_deploy.images import ImageRef

    sim.add_service(sim.add_stack("other"), "web", {"imageUuid": f"docker:{NEW_IMAGE.replace('2.1', '1.0')}",
                                                    "labels": {"autoupdate.enable": "true"}})
    base = Settings.load(Command.STATUS, {}, base_env)
    settings = base.selecting(ImageRef.parse(NEW_IMAGE), timeout_seconds=30.0)
    assert settings.command is Command.UPGRADE and settings.select_image and not settings.atomic
    ran = runner.run(settings, lambda event: None)
    assert int(ran.exit_code) == 0, ran.error
    document = ran.document()
    assert [target["target"] for target in document["targets"]] == ["Default/other/web"]
    assert [entry["target"] for entry in document["selection"]["skipped"]] == ["Default/shop/web"]
