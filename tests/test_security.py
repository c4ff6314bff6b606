"""No secret ever reaches a sink: every fault scenario is run again with debug output on, and the
secret key, the token and a password written into the URL are looked for in stdout, stderr, the
JSON result, the GitHub output and summary files, the GitLab dotenv report and exception text.

The scenarios are the fault matrix's (tests/faults/), staged the same way; here each runs in both
CI dialects that write files, with RANCHER_VERBOSE=true so every request is logged.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import json
import socketserver
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from rancher_deploy import cli
from rancher_deploy.errors import DeployError
from rancher_deploy.http import Credentials, RancherSession
from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, LAUNCH_CONFIG, NEW_IMAGE, SECRET_KEY, ci_sinks
from .faults.conftest import Watcher

TOKEN = "token-sec7q:TOKEN-recognisable-bearer-4d2c1"
TOKEN_SECRET = TOKEN.split(":", 1)[1]
URL_PASSWORD = "URLPW-recognisable+pass/word"
SECRETS = (SECRET_KEY, TOKEN, TOKEN_SECRET, URL_PASSWORD, quote(URL_PASSWORD, safe=""))

Triggers = list[tuple[str, Callable[[], object]]]
Stage = Callable[[Simulator, str], Triggers]


def path(web: str) -> str:
    return f"/services/{web}/"


@dataclass(frozen=True)
class Scenario:
    name: str
    stage: Stage
    codes: tuple[int, ...]
    env: tuple[tuple[str, str], ...] = ()


# A new image that never gets healthy ends on the progress deadline (Rancher 1.x sets no error):
# 0.3 s of real time is 300 simulated seconds here, ages for a fast simulator.
STALLS = (("RANCHER_PROGRESS_DEADLINE", "0.3"),)


def _none(sim: Simulator, web: str) -> Triggers:
    return []


def _unhealthy(sim: Simulator, web: str) -> Triggers:
    sim.faults.unhealthy_image(NEW_IMAGE)
    return []


def _rollback_fails(sim: Simulator, web: str) -> Triggers:
    sim.faults.unhealthy_image(NEW_IMAGE)
    sim.faults.fail_action(web, "rollback")
    return []


def _read_5xx(sim: Simulator, web: str) -> Triggers:
    return [("Upgrade of shop/web requested", lambda: sim.faults.fail_next(f"/services/{web}", count=2, status=503,
                                                                           method="GET"))]


def _read_resets(sim: Simulator, web: str) -> Triggers:
    return [("Upgrade of shop/web requested", lambda: sim.faults.fail_next(f"/services/{web}", count=2, drop=True,
                                                                           method="GET"))]


def _action_5xx(sim: Simulator, web: str) -> Triggers:
    sim.faults.fail_next(path(web), status=503, method="POST")
    return []


def _action_lost(sim: Simulator, web: str) -> Triggers:
    sim.faults.fail_next(path(web), drop=True, method="POST")
    return []


def _finish_5xx(sim: Simulator, web: str) -> Triggers:
    return [("finishing the upgrade", lambda: sim.faults.fail_next(path(web), status=503, method="POST"))]


def _rollback_lost(sim: Simulator, web: str) -> Triggers:
    sim.faults.unhealthy_image(NEW_IMAGE)
    return [("Rolling back", lambda: sim.faults.fail_next(path(web), drop=True, method="POST"))]


def _slow(sim: Simulator, web: str) -> Triggers:
    return [("Upgrade of shop/web requested", lambda: sim.faults.latency(0.4, "include=instances")),
            ("did not answer within", sim.faults.clear)]


def _unreachable(sim: Simulator, web: str) -> Triggers:
    return [("Upgrade of shop/web requested", lambda: sim.faults.refuse_connections(0.2))]


def _status(status: int, method: str, where: str) -> Stage:
    def stage(sim: Simulator, web: str) -> Triggers:
        if where == "lookup":
            sim.faults.fail_next("/services", status=status, method="GET")
            return []
        if where == "wait":
            sim.faults.hang(web)
            return [("Upgrade of shop/web requested", lambda: sim.faults.fail_next(f"/services/{web}", status=status,
                                                                                   method="GET")),
                    ("Rolling back", sim.faults.clear)]
        sim.faults.fail_next(path(web), status=status, method=method)
        return []
    return stage


def _removed(sim: Simulator, web: str) -> Triggers:
    from .faults.conftest import remove

    sim.faults.hang(web)
    return [("Upgrade of shop/web requested", lambda: remove(sim, web))]


def _environment_key(sim: Simulator, web: str) -> Triggers:
    return []  # staged through the environment below: another environment's URL


SCENARIOS = [
    Scenario("upgrade", _none, (0,)),
    Scenario("never healthy", _unhealthy, (1,), STALLS),
    Scenario("rollback fails", _rollback_fails, (4,), STALLS),
    Scenario("5xx on reads", _read_5xx, (0,)),
    Scenario("resets on reads", _read_resets, (0,)),
    Scenario("5xx on the upgrade", _action_5xx, (3,)),
    Scenario("upgrade answer lost", _action_lost, (0,)),
    Scenario("5xx on the finish", _finish_5xx, (4,)),  # RANCHER_RETRIES=0 below: not sent again
    Scenario("rollback answer lost", _rollback_lost, (1,), STALLS),
    Scenario("slow reads", _slow, (0,)),
    Scenario("unreachable mid-wait", _unreachable, (0,)),
    *(Scenario(f"{status} at lookup", _status(status, "GET", "lookup"), (2,)) for status in (401, 403, 404, 422)),
    *(Scenario(f"{status} on the upgrade", _status(status, "POST", "upgrade"), (2,)) for status in (401, 403, 422)),
    *(Scenario(f"{status} mid-wait", _status(status, "GET", "wait"), (1,)) for status in (401, 403, 404, 422)),
    Scenario("service removed", _removed, (4,)),
]


def assert_clean(text: str, where: str) -> None:
    # `::add-mask::VALUE` is GitHub's own instruction to hide VALUE; it must name it, and GitHub never shows it.
    shown = "\n".join(line for line in text.splitlines() if not line.startswith("::add-mask::"))
    for secret in SECRETS:
        assert secret not in shown, f"a secret ({secret[:6]}...) leaked into {where}"


# Each scenario runs in one of the two dialects that write files, alternating, to keep the suite fast.
RUNS = [(scenario, ("github", "gitlab")[n % 2]) for n, scenario in enumerate(SCENARIOS)]


@pytest.mark.parametrize("scenario, dialect", RUNS, ids=[f"{scenario.name}-{dialect}" for scenario, dialect in RUNS])
def test_no_secret_reaches_any_sink(sim: Simulator, web: str, base_env: dict[str, str], tmp_path: Path,
                                    scenario: Scenario, dialect: str) -> None:
    triggers = scenario.stage(sim, web)
    ci, files = ci_sinks(tmp_path, dialect)
    environ = {**base_env, **ci, "RANCHER_VERBOSE": "true", "RANCHER_OUTPUT": "json", "RANCHER_RETRIES": "0",
               "RANCHER_REQUEST_TIMEOUT": "0.2",
               # The secret key arrives in the URL too, URL-encoded, as users paste it.
               "CATTLE_URL": base_env["CATTLE_URL"].replace("://", f"://{ACCESS_KEY}:{quote(URL_PASSWORD, safe='')}@"),
               "CATTLE_SECRET_KEY": SECRET_KEY, **dict(scenario.env)}
    stdout, stderr = io.StringIO(), Watcher(triggers)
    code = cli.main([], environ=environ, dotenv_path=None, stdout=stdout, stderr=stderr)

    assert code in scenario.codes, stderr.getvalue()
    assert not stderr.pending
    assert "debug: GET" in stderr.getvalue(), "the scenario must run with every request logged"
    assert_clean(stderr.getvalue(), "stderr")
    assert_clean(stdout.getvalue(), "stdout")
    document = json.loads(stdout.getvalue().strip().splitlines()[-1])
    assert_clean(json.dumps(document, ensure_ascii=False), "the JSON result")
    written = [file for file in files if file.exists()]
    assert written, "the CI dialect wrote no file: the check below would prove nothing"
    for file in written:
        assert_clean(file.read_text(encoding="utf-8"), file.name)


@pytest.mark.parametrize("scenario", SCENARIOS[:3], ids=[scenario.name for scenario in SCENARIOS[:3]])
def test_a_token_is_never_shown(sim: Simulator, web: str, base_env: dict[str, str], scenario: Scenario) -> None:
    """A token is refused by this Rancher 1.x (401), which is the path where it could be echoed."""
    scenario.stage(sim, web)
    environ = {key: value for key, value in base_env.items() if key not in ("CATTLE_ACCESS_KEY", "CATTLE_SECRET_KEY")}
    stdout, stderr = io.StringIO(), io.StringIO()
    code = cli.main(["--output", "json"], environ={**environ, "RANCHER_TOKEN": TOKEN, "RANCHER_VERBOSE": "true"},
                    dotenv_path=None, stdout=stdout, stderr=stderr)
    assert code == 2, stderr.getvalue()
    assert_clean(stdout.getvalue() + stderr.getvalue(), "the output of a token run")


def test_a_github_run_masks_the_secrets_before_anything_else(sim: Simulator, web: str, base_env: dict[str, str],
                                                             tmp_path: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    cli.main([], environ={**base_env, "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "o")},
             dotenv_path=None, stdout=stdout, stderr=stderr)
    every = stdout.getvalue() + stderr.getvalue()
    masks = [line for line in every.splitlines() if line.startswith("::add-mask::")]
    assert f"::add-mask::{SECRET_KEY}" in masks
    first_other = next(n for n, line in enumerate(every.splitlines()) if not line.startswith("::add-mask::"))
    assert all(n < first_other for n, line in enumerate(every.splitlines()) if line.startswith("::add-mask::"))


def test_exception_text_of_a_failed_request_never_carries_the_url_password() -> None:
    session = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY), request_timeout=0.2, read_attempts=1)
    url = f"http://{ACCESS_KEY}:{quote(URL_PASSWORD, safe='')}@127.0.0.1:9/v2-beta"
    with pytest.raises(DeployError) as caught:
        session.get(url, what="Connecting to Rancher")
    error = caught.value
    texts = [str(error), repr(error), str(error.__cause__ or ""), str(error.__context__ or "")]
    assert_clean(" ".join(texts), "the exception")
    assert error.__suppress_context__, "the library's exception (with the URL in it) must not be chained"


def test_the_repr_of_credentials_and_settings_shows_no_secret(base_env: dict[str, str]) -> None:
    """What a debugger, a traceback's locals or an f-string `{x!r}` would print."""
    from rancher_deploy.settings import Command, Settings

    from rancher_deploy.inputs import Inputs
    from rancher_deploy.serve.auth import Keys, Presented
    from rancher_deploy.settings import OPTIONS_BY_NAME

    environ = {**base_env, "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_TOKEN": "token-abc:s3cr3tvalue"}
    inputs = Inputs.snapshot({"secret_key": SECRET_KEY}, environ)
    settings = Settings.load(Command.UPGRADE, {}, {**base_env, "RANCHER_IMAGE": NEW_IMAGE})
    shown = " ".join(repr(thing) for thing in (
        Credentials(ACCESS_KEY, SECRET_KEY), Credentials(token="token-abc:s3cr3tvalue"), settings, inputs,
        inputs.with_dotenv(None), inputs.find(OPTIONS_BY_NAME["secret_key"]),
        Keys("s3cr3tvalue", "s3cr3tvalue"), Presented("Bearer s3cr3tvalue", None, "s3cr3tvalue")))
    assert SECRET_KEY not in shown and "s3cr3tvalue" not in shown
    assert ACCESS_KEY in shown   # the access key names the key, as Rancher's UI shows it


@pytest.mark.parametrize("url", [
    "https://AK:{pw}@rancher.example.com/v2-beta",
    "https://{pw}@rancher.example.com",
])
def test_urls_with_credentials_are_redacted_in_usage_errors(sim: Simulator, base_env: dict[str, str],
                                                            url: str) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    bad = url.format(pw=quote(URL_PASSWORD, safe="")) + "?oops"
    code = cli.main([], environ={**base_env, "CATTLE_URL": bad, "RANCHER_VERBOSE": "true"}, dotenv_path=None,
                    stdout=stdout, stderr=stderr)
    assert code == 2
    assert_clean(stdout.getvalue() + stderr.getvalue(), "a usage error")


class _EchoingProxy(http.server.BaseHTTPRequestHandler):
    """A proxy in front of Rancher that refuses some requests with an error body echoing every request
    header (as WAFs and debugging proxies do), so the Authorization the tool sent comes back as text
    from outside: websocket upgrades and Kubernetes watches ("stream"), or every request ("all")."""

    protocol_version = "HTTP/1.1"
    upstream = ""
    refuse = "stream"

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if self.refuse == "all" or self.headers.get("Upgrade") or "watch=1" in self.path:
            text = json.dumps({"type": "error", "status": 400, "code": "BadRequest", "message": "refused: "
                               + " ".join(f"{key}={value}" for key, value in self.headers.items())}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)
            return
        headers = {key: value for key, value in self.headers.items()
                   if key.lower() not in ("host", "connection", "content-length")}
        answer = requests.request(self.command, self.upstream + self.path, headers=headers, data=body,
                                  allow_redirects=False, timeout=10)
        self.send_response(answer.status_code)
        for key, value in answer.headers.items():
            if key.lower() not in ("transfer-encoding", "connection", "content-length", "content-encoding"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PUT = do_PATCH = _any

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def echoing_proxy(upstream: str, refuse: str) -> Iterator[str]:
    handler = type("Handler", (_EchoingProxy,), {"upstream": upstream, "refuse": refuse})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _every_form(user: str, password: str) -> list[str]:
    basic = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [password, quote(password, safe=""), basic, basic.rstrip("=")]


@pytest.mark.parametrize("refuse", ["stream", "all"])
@pytest.mark.parametrize("verbose", ["false", "true"])
@pytest.mark.parametrize("flavour", ["1.6", "2.8"])
def test_credentials_a_refusal_echoes_back_never_reach_any_sink(flavour: str, verbose: str, refuse: str,
                                                                tmp_path: Path) -> None:
    """The Basic header (1.x, base64 of key:secret) and the Bearer token (2.x) echoed in a refusal's
    body are masked in stderr, the JSON result and the GitHub files, and GitHub was told to mask them."""
    token_id, token_secret = TOKEN.split(":", 1)
    user, password = (ACCESS_KEY, SECRET_KEY) if flavour == "1.6" else (token_id, token_secret)
    with Simulator(user, password, rancher_version=flavour, timing=Timing.fast()) as sim:
        if flavour == "1.6":
            sim.add_service(sim.add_stack("shop"), "web", dict(LAUNCH_CONFIG))
            target = {"RANCHER_STACK": "shop", "RANCHER_SERVICE": "web", "CATTLE_ACCESS_KEY": ACCESS_KEY,
                      "CATTLE_SECRET_KEY": SECRET_KEY}
        else:
            sim.add_workload("default", "web", [{"name": "web", "image": "nginx:1.24"}], replicas=1)
            target = {"RANCHER_WORKLOAD": "web", "RANCHER_TOKEN": TOKEN}
        ci, files = ci_sinks(tmp_path, "github")
        with echoing_proxy(sim.url, refuse) as url:
            stdout, stderr = io.StringIO(), io.StringIO()
            code = cli.main(["--output", "json"], environ={
                **target, **ci, "CATTLE_URL": url, "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_VERBOSE": verbose,
                "RANCHER_POLL_INTERVAL": "0.05", "RANCHER_TIMEOUT": "30"}, dotenv_path=None, stdout=stdout,
                stderr=stderr)
    echoed = "refused: " in stderr.getvalue() + stdout.getvalue()
    assert echoed and code == (0 if refuse == "stream" else 2), stderr.getvalue()
    lines = (stdout.getvalue() + stderr.getvalue()).splitlines()
    masks = {line.removeprefix("::add-mask::") for line in lines if line.startswith("::add-mask::")}
    sinks = {"output": "\n".join(line for line in lines if not line.startswith("::add-mask::")),
             **{file.name: file.read_text(encoding="utf-8") for file in files if file.exists()}}
    for form in _every_form(user, password):
        assert form in masks, f"GitHub was not told to mask {form[:6]}..."
        for where, text in sinks.items():
            assert form not in text, f"{form[:6]}... leaked into {where}"
