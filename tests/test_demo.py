"""`rancher-deploy demo` is the README's "run the main job": it must work and tell the truth."""

from __future__ import annotations

import json

import pytest

from rancher_deploy.__main__ import main


def test_demo_upgrades_through_the_real_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fast", "--output", "json"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["result"] == "upgraded"
    assert document["targets"][0]["image"] == "registry.example.com:5000/shop/web:2.1"
    assert "shop/web active on registry.example.com:5000/shop/web:2.1" in captured.err
    assert "CHANGED" not in captured.err


def test_demo_unhealthy_scenario_rolls_back_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fast", "--scenario", "unhealthy"]) == 1
    err = capsys.readouterr().err
    assert "Rolling back shop/web" in err
    assert "shop/web active on registry.example.com:5000/shop/web:2.0" in err


@pytest.mark.parametrize("version", ["2.4", "2.8"])
def test_demo_on_rancher_2(version: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fast", "--rancher-version", version]) == 0
    err = capsys.readouterr().err
    assert "shop/web on registry.example.com:5000/shop/web:2.1, 3/3 available" in err
    assert "container fields kept unchanged: name, ports, env, resources, readinessProbe, imagePullPolicy" in err


def test_demo_on_rancher_2_unhealthy_rolls_back(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--fast", "--rancher-version", "2.8", "--scenario", "unhealthy"]) == 1
    assert "shop/web on registry.example.com:5000/shop/web:2.0, 3/3 available" in capsys.readouterr().err
