"""Starting `rancher-deploy serve`: its options, and the starts that must fail with one line and exit 2
(no credential to check, one that could be guessed, a port in use), before anything listens."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rancher_deploy.errors import ConfigError
from rancher_deploy.serve import command
from rancher_deploy.settings import SETTINGS, Command
from rancher_deploy.simulator import Simulator

from ..conftest import NEW_IMAGE, SECRET_KEY
from .conftest import TOKEN, Serve, server_environment


def test_help_lists_the_servers_options_and_the_upgrade_options_its_runs_read(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert command.main(["--help"], {}, dotenv_path=None) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: rancher-deploy serve [options]")
    for option in SETTINGS:
        assert (option.flag in text) == option.applies_to(Command.SERVE), option.name
    for flag in ("--serve-token", "--serve-grace", "--image", "--timeout", "--finish", "--version-policy"):
        assert flag in text
    assert "RANCHER_SERVE_PORT, AUTOUPDATE_HTTP_PORT; default: 8080" in text


def start_with(sim: Simulator, **overrides: str | None) -> tuple[int, str]:
    """`rancher-deploy serve` as the program runs it, for a start that must fail; (exit code, log)."""
    stderr = io.StringIO()
    code = command.main([], server_environment(sim, **overrides), dotenv_path=None, stderr=stderr,
                        stdout=io.StringIO())
    return code, stderr.getvalue()


def test_without_a_credential_the_server_refuses_to_start(sim: Simulator) -> None:
    code, log = start_with(sim, RANCHER_SERVE_TOKEN=None)
    assert code == 2
    first = log.splitlines()[0]
    assert first.startswith("rancher-deploy: error: RANCHER_SERVE_TOKEN: is required, or RANCHER_SERVE_HMAC_SECRET")
    assert "RANCHER_SERVE_ALLOW_UNAUTHENTICATED=true" in first
    assert log.splitlines()[1].startswith("rancher-deploy: exit 2")


@pytest.mark.parametrize("variable, value", [("RANCHER_SERVE_TOKEN", "short-token"),
                                             ("RANCHER_SERVE_TOKEN", "has/a-slash-in-it-1234"),
                                             ("RANCHER_SERVE_HMAC_SECRET", "too-short")])
def test_a_guessable_or_unusable_credential_is_refused_without_showing_it(
        sim: Simulator, variable: str, value: str) -> None:
    code, log = start_with(sim, **{variable: value})
    assert code == 2
    assert log.startswith(f"rancher-deploy: error: {variable}: must be at least") and "(value not shown)" in log
    assert value not in log


def test_a_port_in_use_is_one_line_and_exit_2(sim: Simulator) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, log = start_with(sim, RANCHER_SERVE_PORT=str(port))
    assert code == 2
    assert log.startswith(f"rancher-deploy: error: RANCHER_SERVE_PORT: cannot listen on 127.0.0.1:{port}")
    assert SECRET_KEY not in log and TOKEN not in log


@pytest.mark.parametrize("variable", ["RANCHER_SERVICE", "RANCHER_WORKLOAD"])
def test_a_server_names_no_targets_it_picks_them(sim: Simulator, variable: str) -> None:
    code, log = start_with(sim, **{variable: "shop/web" if variable == "RANCHER_SERVICE" else "deployment:web"})
    assert code == 2
    assert log.startswith(f"rancher-deploy: error: {variable}: names targets, but `rancher-deploy serve` picks them")


def test_one_polling_run_is_no_setting_of_the_server(sim: Simulator) -> None:
    # Its webhook runs would otherwise ask for the newest tag in the registry, not the one pushed.
    code, log = start_with(sim, RANCHER_POLL="true")
    assert code == 2
    assert log.splitlines()[0] == ("rancher-deploy: error: RANCHER_POLL: is for one polling run (rancher-deploy "
                                   "upgrade); the server polls every RANCHER_SERVE_POLL seconds the repositories "
                                   "of RANCHER_SERVE_POLL_IMAGES")


def test_an_ipv6_address_is_bracketed_in_the_start_up_url(serve: Serve) -> None:
    try:
        served = serve(RANCHER_SERVE_HOST="::1")
    except ConfigError as error:   # a host without IPv6 loopback
        pytest.skip(str(error))
    assert f"serving on http://[::1]:{served.service.port} (" in served.log.getvalue()


@pytest.mark.parametrize("argv", [["serve"], ["serve", "--help"]])
def test_serve_without_its_extra_says_how_to_install_it_and_exits_2(argv: list[str]) -> None:
    # A fresh interpreter where cheroot cannot be imported, as without the `serve` extra: None in
    # sys.modules makes `import cheroot` raise ModuleNotFoundError(name="cheroot") as a missing one does.
    program = ("import runpy, sys; sys.modules['cheroot'] = None; sys.argv = ['rancher-deploy', *sys.argv[1:]]; "
               "runpy.run_module('rancher_deploy', run_name='__main__', alter_sys=True)")
    result = subprocess.run([sys.executable, "-c", program, *argv], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])})
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == "rancher-deploy serve needs its extra: pip install 'rancher-deploy[serve]'\n"


def test_a_token_beside_the_keys_is_said_once_as_the_server_starts_not_per_run(serve: Serve) -> None:
    from rancher_deploy.images import ImageRef

    served = serve(RANCHER_TOKEN="token-abc12:tokensecretpart")
    said = "warning: RANCHER_TOKEN is sent, not CATTLE_ACCESS_KEY and CATTLE_SECRET_KEY"
    assert served.log.getvalue().count(said) == 1
    assert served.service.settings.selecting(ImageRef.parse(NEW_IMAGE)).warnings == (), "each run's own log"
