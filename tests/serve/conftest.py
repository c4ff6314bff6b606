"""The server's harness: `rancher-deploy serve` started in this process on a free loopback port, against
the simulator, driven over real sockets with requests; stopped as SIGTERM stops it.

Every answer and every log line is kept, and after each test checked for the secrets (the serve token,
the HMAC secret, Rancher's secret key): none may ever show.
"""

from __future__ import annotations

import copy
import io
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from rancher_deploy.errors import ExitCode
from rancher_deploy.inputs import Inputs
from rancher_deploy.redact import Redactor
from rancher_deploy.report import HumanLog, Pipe
from rancher_deploy.serve import auth, command
from rancher_deploy.serve.runs import Lines
from rancher_deploy.settings import Command, Settings, secrets_in
from rancher_deploy.simulator import Simulator

from ..conftest import LAUNCH_CONFIG, NEW_IMAGE, SECRET_KEY
from ..test_notify import receiver  # noqa: F401 - the webhook receiver fixture, for test_notify here

TOKEN = "serve-token-recognisable-0451"
HMAC_SECRET = "hmac-secret-recognisable-9273"
SECRETS = (TOKEN, HMAC_SECRET, SECRET_KEY)
DEADLINE_SECONDS = 20.0


@dataclass
class Served:
    """A running server: its URL, its log and stdout so far, and every answer it gave."""

    service: command.Service
    url: str
    log: io.StringIO
    out: io.StringIO
    answers: list[str] = field(default_factory=list)
    code: ExitCode | None = None

    def request(self, method: str, path: str, *, token: str | None = TOKEN, body: bytes | None = None,
                json: Any = None, headers: dict[str, str] | None = None) -> requests.Response:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        response = requests.request(method, self.url + path, data=body, json=json, headers=sent, timeout=10)
        self.answers.append(response.text)
        return response

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json=json, **kwargs)

    def upgrade(self, image: str = NEW_IMAGE, **fields: Any) -> requests.Response:
        """The seed's POST /upgrade, confirmed."""
        return self.post("/upgrade", {"docker_image": image, "confirm": True, **fields})

    def status(self) -> dict[str, Any]:
        """/status, asked with the server's token, else signed with its HMAC secret."""
        if self.service.settings.serve_token is None and self.service.settings.serve_hmac_secret is not None:
            response = self.request("GET", "/status", token=None, headers=signed_now(b""))
        else:
            response = self.request("GET", "/status")
        assert response.status_code == 200, response.text
        document: dict[str, Any] = response.json()
        return document

    def run(self, number: int) -> dict[str, Any]:
        return next(run for run in self.status()["runs"] if run["run"] == number)

    def wait(self, what: str, condition: Callable[[], bool]) -> None:
        """Poll `condition` (a look at /status or the log) until it holds; fail after the deadline."""
        deadline = time.monotonic() + DEADLINE_SECONDS
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {DEADLINE_SECONDS:g}s; the server said:\n{self.log.getvalue()}")
            time.sleep(0.01)

    def wait_for_line(self, marker: str) -> None:
        self.wait(repr(marker), lambda: marker in self.log.getvalue())

    def wait_until_done(self, number: int) -> dict[str, Any]:
        self.wait(f"end of run {number}", lambda: self.run(number)["state"] == "done")
        return self.run(number)

    def stop(self, number: int = signal.SIGTERM, signals: Callable[[], int] = lambda: 1) -> ExitCode:
        if self.code is None:
            self.code = self.service.stop(number, signals)
        return self.code


Serve = Callable[..., Served]


@pytest.fixture
def web(sim: Simulator) -> str:
    """The usual target (tests/conftest.py), opted in to fleet mode as the seed's users label it:
    `autoupdate.enable=true`. Each server's run picks it for an image of its repository."""
    config = copy.deepcopy(LAUNCH_CONFIG)
    config["labels"]["autoupdate.enable"] = "true"
    return sim.add_service(sim.add_stack("shop"), "web", config, scale=2)


def held_run(serve: Serve, sim: Simulator, web: str, **environment: str | None) -> Served:
    """A server whose run 1 is upgrading shop/web to NEW_IMAGE, held there (the simulator's hang fault)
    until the test clears the faults."""
    served = serve(**environment)
    sim.faults.hang(web)
    assert served.upgrade().status_code == 202
    served.wait_for_line("[run 1] Upgrade of Default/shop/web requested")
    return served


def server_environment(sim: Simulator, **overrides: str | None) -> dict[str, str]:
    """What a server's deployment sets: Rancher, a loopback port, the token; `None` unsets a variable.
    Its runs pick their targets: opted in, running the pushed image's repository (fleet mode)."""
    environ = {
        "CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": "AK-test-access", "CATTLE_SECRET_KEY": SECRET_KEY,
        "RANCHER_POLL_INTERVAL": "0.005", "RANCHER_BATCH_INTERVAL": "0.1", "RANCHER_TIMEOUT": "30",
        "RANCHER_REQUEST_TIMEOUT": "5",
        "RANCHER_SERVE_HOST": "127.0.0.1", "RANCHER_SERVE_PORT": "0", "RANCHER_SERVE_TOKEN": TOKEN,
        "RANCHER_SERVE_GRACE": "5",
    }
    for name, value in overrides.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value
    return environ


@pytest.fixture
def serve(sim: Simulator) -> Iterator[Serve]:
    """serve(**environment overrides) -> Served: a server started as `rancher-deploy serve` starts it."""
    started: list[Served] = []

    def start(**overrides: str | None) -> Served:
        environ = server_environment(sim, **overrides)
        inputs = Inputs({}, environ)
        settings = Settings.from_inputs(Command.SERVE, inputs)
        redactor = Redactor(*secrets_in(environ), *settings.secrets)
        log, out = io.StringIO(), io.StringIO()
        lines = Lines(Pipe(log), threading.Lock())
        service = command.start(settings, inputs, redactor, HumanLog(Pipe(lines), redactor), lines, Pipe(out))
        served = Served(service, f"http://127.0.0.1:{service.port}", log, out)
        started.append(served)
        return served

    yield start
    sim.faults.clear()   # a run a test left held may end, so that the stop does not wait out the grace
    for served in started:
        served.stop()
        shown = "\n".join([served.log.getvalue(), served.out.getvalue(), *served.answers])
        assert [secret for secret in SECRETS if secret in shown] == [], "a secret reached the log or an answer"
        assert "Traceback" not in shown


def signed(body: bytes, secret: str = HMAC_SECRET) -> dict[str, str]:
    """The headers of a body signed as GitHub signs it."""
    return {auth.SIGNATURE_HEADER: auth.signature(secret, body), "Content-Type": "application/json"}


def signed_now(body: bytes, secret: str = HMAC_SECRET, *, age_seconds: float = 0) -> dict[str, str]:
    """The headers of a body signed with a timestamp `age_seconds` old (what a signed GET needs)."""
    return auth.stamped_signature(secret, int(time.time() - age_seconds), body)
