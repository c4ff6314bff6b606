"""Notifications, received by a real HTTP server on loopback: Slack/Mattermost and the generic JSON webhook,
receivers that fail (an error status, refused, no answer in time, a certificate that does not verify,
a redirect) and only warn, and no secret in any payload."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
import trustme

from rancher_deploy.choices import Command
from rancher_deploy.errors import ExitCode
from rancher_deploy.events import ImageChange, Outcome, Result, TargetOutcome
from rancher_deploy.notify import slack_payload, webhook_payload, worth_telling
from rancher_deploy.redact import Redactor
from rancher_deploy.report import result_object
from rancher_deploy.settings import Settings
from rancher_deploy.simulator import Simulator, Timing

from .conftest import NEW_IMAGE, OLD_IMAGE, SECRET_KEY, RunCli, invoke_cli

# The path of an incoming webhook is its credential (Slack: /services/T.../B.../<secret>).
HOOK_SECRET = "hook-secret-4b1d0c9e7a"
ENV_SECRET = "db-password-3e8f1a2b"


@dataclass
class Receiver:
    """A webhook receiver: records each POST, answers `status` (a `location` with 3xx), or holds the
    answer until released (`hang`)."""

    status: int = 200
    hang: bool = False
    tls: ssl.SSLContext | None = None
    posts: list[dict[str, Any]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append({"path": self.path, "type": self.headers.get("Content-Type"),
                                       "agent": self.headers.get("User-Agent"), "body": json.loads(body)})
                if receiver.hang:
                    receiver.release.wait(10)
                self.send_response(receiver.status)
                if 300 <= receiver.status < 400:
                    self.send_header("Location", f"{receiver.base}/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A client that gave up (the hang) or refused the certificate is what these tests ask for.
        self.server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        if self.tls is not None:
            self.server.socket = self.tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def base(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"{self.base}/services/T0001/B0001/{HOOK_SECRET}"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [post["body"] for post in self.posts]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    started.start()
    yield started
    started.stop()


def refused_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks/{HOOK_SECRET}"


def no_hook_secret(result: Any) -> None:
    assert HOOK_SECRET not in result.output, "a webhook URL leaked into the output"


def test_slack_gets_one_message_per_run_naming_each_target_and_its_page(
        sim: Simulator, web: str, run_cli: RunCli, receiver: Receiver) -> None:
    result = run_cli(RANCHER_NOTIFY_SLACK_URL=receiver.url, RANCHER_NOTIFY_SLACK_NAME="deploy-bot")
    assert result.code == 0, result.stderr
    (post,) = receiver.posts
    assert post["path"] == f"/services/T0001/B0001/{HOOK_SECRET}" and post["type"] == "application/json"
    assert post["agent"].startswith("rancher-deploy/")
    body = post["body"]
    assert body["username"] == "deploy-bot" and set(body) == {"text", "username"}
    first, line = body["text"].splitlines()
    port = sim.url.rsplit(":", 1)[1]
    assert first.startswith(f"rancher-deploy upgrade on 127.0.0.1:{port}: upgraded, exit 0 (done")
    page = f"{sim.url}/env/1a5/apps/stacks/1st1/services/{web}/containers"
    assert line.startswith(f"• <{page}|shop/web>: upgraded, web {OLD_IMAGE} → {NEW_IMAGE} (")
    assert "Sent the run's summary to the Slack webhook at 127.0.0.1" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("rancher-deploy: exit 0")
    no_hook_secret(result)


def test_the_seeds_own_variables_name_the_slack_webhook_and_its_bot(
        sim: Simulator, web: str, run_cli: RunCli, receiver: Receiver) -> None:
    result = run_cli(AUTOUPDATE_SLACK_WEBHOOK_URL=receiver.url, AUTOUPDATE_SLACK_BOT_NAME="rancher-updater")
    assert result.code == 0, result.stderr
    assert [body["username"] for body in receiver.bodies] == ["rancher-updater"]


def test_the_generic_webhook_gets_the_result_object(sim: Simulator, web: str, run_cli: RunCli,
                                                    receiver: Receiver) -> None:
    result = run_cli("--output", "json", RANCHER_NOTIFY_WEBHOOK_URL=receiver.url)
    assert result.code == 0, result.stderr
    (body,) = receiver.bodies
    assert body["source"] == "rancher-deploy" and body["rancher_url"] == sim.url and body["version"]
    printed = result.json
    assert {key: body[key] for key in printed} == printed
    (target,) = body["targets"]
    assert (target["target"], target["result"], target["previous_image"], target["image"]) == (
        "shop/web", "upgraded", OLD_IMAGE, NEW_IMAGE)
    assert target["ui_url"] == f"{sim.url}/env/1a5/apps/stacks/1st1/services/{web}/containers"
    assert target["duration_seconds"] > 0


def test_the_runs_own_warnings_reach_the_webhook_and_slack(sim: Simulator, web: str, run_cli: RunCli,
                                                         receiver: Receiver) -> None:
    result = run_cli("--output", "json", RANCHER_INSECURE="true", RANCHER_NOTIFY_WEBHOOK_URL=receiver.url,
                     RANCHER_NOTIFY_SLACK_URL=receiver.url)
    assert result.code == 0, result.stderr
    warning = "TLS verification is off (RANCHER_INSECURE); prefer RANCHER_CA_BUNDLE"
    assert result.json["warnings"] == [warning]
    webhook, slack = sorted(receiver.bodies, key=lambda body: "text" in body)
    assert webhook["warnings"] == [warning]
    assert f"warning: {warning}" in slack["text"].splitlines()


def test_a_run_that_changed_nothing_is_not_notified(sim: Simulator, web: str, run_cli: RunCli,
                                                    receiver: Receiver) -> None:
    hooks = {"RANCHER_NOTIFY_SLACK_URL": receiver.url, "RANCHER_NOTIFY_WEBHOOK_URL": receiver.url}
    assert run_cli(RANCHER_IMAGE=OLD_IMAGE, **hooks).code == 0                       # unchanged
    assert run_cli(RANCHER_IMAGE=OLD_IMAGE.replace("2.0", "1.0"), RANCHER_VERSION_POLICY="newer",
                   **hooks).code == 0                                                # skipped
    assert run_cli("--dry-run", **hooks).code == 0                                   # planned
    assert run_cli("status", **hooks).code == 0
    assert receiver.posts == []


def test_a_failed_run_and_an_error_are_notified(sim: Simulator, web: str, run_cli: RunCli,
                                                receiver: Receiver) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    failed = run_cli(RANCHER_PROGRESS_DEADLINE="0.3", RANCHER_NOTIFY_WEBHOOK_URL=receiver.url)
    assert failed.code == 1, failed.stderr
    missing = run_cli(RANCHER_SERVICE="nope", RANCHER_NOTIFY_WEBHOOK_URL=receiver.url)
    assert missing.code == 2
    rolled_back, error = receiver.bodies
    assert rolled_back["result"] == "rolled-back" and rolled_back["exit_code"] == 1
    assert error["result"] == "error" and error["exit_code"] == 2 and "nope" in error["error"]


@pytest.mark.parametrize("failure", ["500", "refused", "hang", "redirect", "tls", "tls name", "no tls", "port 0"])
def test_a_notification_that_fails_is_a_warning_and_the_run_stands(
        sim: Simulator, web: str, run_cli: RunCli, ca: trustme.CA, ca_file: str, failure: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    receiver = Receiver(status={"500": 500, "redirect": 302}.get(failure, 200), hang=failure == "hang")
    if failure == "tls":   # a certificate from a CA nobody trusts
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
        receiver.tls = context
    if failure == "tls name":   # a trusted CA, a certificate for another name
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("hooks.example.org").configure_cert(context)
        receiver.tls = context
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)   # requests reads the process's environment
    receiver.start()
    try:
        url = refused_url() if failure == "refused" else receiver.url
        if failure == "port 0":   # an address nothing can listen at
            url = f"http://127.0.0.1:0/hooks/{HOOK_SECRET}"
        if failure == "no tls":   # https:// for a server that answers plain HTTP: no handshake at all
            url = url.replace("http://", "https://")
        result = run_cli("--output", "json", RANCHER_NOTIFY_SLACK_URL=url, RANCHER_REQUEST_TIMEOUT="0.5")
    finally:
        receiver.stop()
    assert result.code == 0, result.stderr
    assert result.json["result"] == "upgraded"
    why = {"500": "it answered HTTP 500", "refused": "it could not be reached", "hang": "no answer within 0.5s",
           "redirect": "it answered HTTP 302 (redirects are not followed)",
           "tls": "its TLS certificate could not be verified (", "port 0": "it could not be reached",
           "tls name": "its TLS certificate is not valid for that address (",
           "no tls": "it did not answer in TLS ("}[failure]
    warning = next(line for line in result.stderr.splitlines() if "notification" in line)
    assert warning.startswith("warning: the Slack webhook notification to 127.0.0.1 was not delivered: " + why), warning
    assert warning.endswith("; the run's result stands")
    # In the JSON result too (second review of #16: it reached only the log), with the run's own warnings.
    assert result.json["warnings"] == [warning.removeprefix("warning: ")]
    assert result.stderr.splitlines()[-1] == "rancher-deploy: exit 0 (done: every target upgraded (or created) " \
                                             "and finished, or nothing to do)"
    assert [post["path"] for post in receiver.posts if post["path"].endswith("/elsewhere")] == []
    no_hook_secret(result)


def test_no_secret_reaches_a_payload(sim: Simulator, web: str, run_cli: RunCli, receiver: Receiver) -> None:
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli(RANCHER_PROGRESS_DEADLINE="0.3", RANCHER_SET_ENV=f"DB_PASSWORD={ENV_SECRET}",
                     RANCHER_NOTIFY_SLACK_URL=receiver.url, RANCHER_NOTIFY_WEBHOOK_URL=receiver.url + "/json")
    assert result.code == 1, result.stderr
    assert len(receiver.posts) == 2
    sent = json.dumps(receiver.bodies)
    for secret in (SECRET_KEY, ENV_SECRET, HOOK_SECRET, receiver.url):
        assert secret not in sent
    no_hook_secret(result)


def test_payloads_pass_every_text_through_the_redactor() -> None:
    # A secret in a message (an echoed error) is masked in both payloads, also where JSON would escape it.
    secret = 'quote"and\\slash-secret'
    outcome = Outcome("upgrade", (TargetOutcome("shop/web", "1s1", Result.ROLLED_BACK, "active",
                                                (ImageChange("web", "app:1", "app:2"),),
                                                f"failed: Rancher said {secret} & <more>"),))
    document = result_object(outcome, None, exit_code=ExitCode.ROLLED_BACK, command="upgrade", api_calls=3)
    settings = _settings(RANCHER_NOTIFY_SLACK_NAME=f"bot {secret}")
    scrub = Redactor(secret)
    slack = json.dumps(slack_payload(document, settings, scrub))
    webhook = json.dumps(webhook_payload(document, settings, scrub))
    for sent in (slack, webhook):
        assert "slash-secret" not in sent and "***" in sent
    # Slack's control characters are escaped, so `<more>` is no link.
    assert "&amp; &lt;more&gt;" in slack_payload(document, settings, scrub)["text"]


def test_only_runs_that_changed_something_or_failed_are_worth_telling() -> None:
    def outcome(*results: Result) -> Outcome:
        return Outcome("upgrade", tuple(TargetOutcome(f"s/{i}", str(i), r, "active") for i, r in enumerate(results)))

    ok = ExitCode.OK
    assert worth_telling(Command.UPGRADE, outcome(Result.UPGRADED, Result.UNCHANGED), ok)
    assert worth_telling(Command.ROLLBACK, outcome(Result.REVERTED), ok)
    assert not worth_telling(Command.UPGRADE, outcome(Result.UNCHANGED, Result.SKIPPED, Result.PLANNED), ok)
    assert worth_telling(Command.UPGRADE, None, ExitCode.USAGE)
    assert not worth_telling(Command.STATUS, outcome(Result.STATUS), ExitCode.NEEDS_ATTENTION)


def test_a_webhook_url_that_is_no_url_is_exit_2_without_showing_it(run_cli: RunCli) -> None:
    result = run_cli(RANCHER_NOTIFY_WEBHOOK_URL=f"hooks.example.com/{HOOK_SECRET}")
    assert result.code == 2
    assert ("RANCHER_NOTIFY_WEBHOOK_URL: must be an https:// (or http://) URL with a host (value not shown)"
            in result.stderr)
    no_hook_secret(result)


# Rancher 2.x: each workload's page, through v3 (2.0-2.5's cluster manager) and the dashboard (2.6+).

TOKEN_ID = "token-abcde"
TOKEN_SECRET = "tokensecret-recognisable-91c"


@pytest.mark.parametrize("version", ["2.4", "2.8"])
def test_a_workloads_page_is_linked(version: str, receiver: Receiver) -> None:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version=version, timing=Timing.fast()) as sim:
        sim.add_workload("default", "web", [{"name": "web", "image": OLD_IMAGE}])
        environ = {"CATTLE_URL": sim.url, "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}", "RANCHER_WORKLOAD": "web",
                   "RANCHER_IMAGE": NEW_IMAGE, "RANCHER_POLL_INTERVAL": "0.005", "RANCHER_TIMEOUT": "30"}
        result = invoke_cli(("--output", "json"), environ, {"RANCHER_NOTIFY_WEBHOOK_URL": receiver.url}, TOKEN_SECRET)
        assert result.code == 0, result.stderr
        page = result.json["targets"][0]["ui_url"]
        assert receiver.bodies[0]["targets"][0]["ui_url"] == page
        if version == "2.4":
            assert page.startswith(f"{sim.url}/p/local:p-") and page.endswith("/workload/deployment:default:web")
        else:
            assert page == f"{sim.url}/dashboard/c/local/explorer/apps.deployment/default/web"


def _settings(**environ: str) -> Settings:
    base = {"CATTLE_URL": "https://rancher.example.com", "CATTLE_ACCESS_KEY": "AK", "CATTLE_SECRET_KEY": SECRET_KEY,
            "RANCHER_SERVICE": "shop/web", "RANCHER_IMAGE": NEW_IMAGE}
    return Settings.load(Command.UPGRADE, {}, {**base, **environ})


def test_a_fleet_run_posts_once_with_each_pick(sim: Simulator, run_cli: RunCli, receiver: Receiver) -> None:
    from .conftest import LAUNCH_CONFIG

    prod = sim.add_project("prod")
    opted = {**LAUNCH_CONFIG, "labels": {**LAUNCH_CONFIG["labels"], "autoupdate.enable": "true"}}
    sim.add_service(sim.add_stack("shop"), "web", dict(opted))
    sim.add_service(sim.add_stack("shop", prod), "web", dict(opted))
    result = run_cli(RANCHER_STACK=None, RANCHER_SERVICE=None, RANCHER_SELECT_IMAGE="true",
                     AUTOUPDATE_SLACK_WEBHOOK_URL=receiver.url)
    assert result.code == 0, result.stderr
    (body,) = receiver.bodies
    lines = body["text"].splitlines()
    assert len(lines) == 3 and lines[0].split(": ", 1)[1].startswith("upgraded, exit 0")
    assert {line.split("|")[1].split(">")[0] for line in lines[1:]} == {"Default/shop/web", "prod/shop/web"}
    assert all("/env/1a" in line and "/containers|" in line for line in lines[1:])
    assert len({line.split("/env/")[1].split("/")[0] for line in lines[1:]}) == 2   # each in its own environment


def test_a_redeploy_that_will_not_pull_is_warned_in_the_result_and_both_payloads(
        sim: Simulator, run_cli: RunCli, receiver: Receiver) -> None:
    # 1.x latest -> latest restarts from the host's cached copy without io.rancher.container.pull_image=always:
    # the log's warning reaches the JSON result, the webhook and Slack too.
    from .conftest import LAUNCH_CONFIG

    repo = "registry.example.com:5000/shop/web"
    labels = {key: value for key, value in LAUNCH_CONFIG["labels"].items() if key != "io.rancher.container.pull_image"}
    sim.add_service(sim.add_stack("shop"), "web", {**LAUNCH_CONFIG, "imageUuid": f"docker:{repo}:latest",
                                                   "labels": labels})
    result = run_cli("--output", "json", RANCHER_VERSION_POLICY="newer", RANCHER_IMAGE=f"{repo}:latest",
                     RANCHER_NOTIFY_SLACK_URL=receiver.url, RANCHER_NOTIFY_WEBHOOK_URL=receiver.url + "/json")
    assert result.code == 0, result.stderr
    (warning,) = result.json["targets"][0]["warnings"]
    assert warning.startswith("shop/web: the version policy newer (RANCHER_VERSION_POLICY) restarts web on "
                              f"{repo}:latest, but without the label io.rancher.container.pull_image=always")
    assert f"warning: {warning}" in result.stderr
    slack, webhook = sorted(receiver.bodies, key=lambda body: "text" not in body)
    assert webhook["targets"][0]["warnings"] == [warning]
    lines = slack["text"].splitlines()
    assert lines[2] == f"  warning: {warning}" and lines[1].startswith("• <")


def test_a_target_without_warnings_has_an_empty_list(sim: Simulator, web: str, run_cli: RunCli) -> None:
    result = run_cli("--output", "json")
    assert result.code == 0, result.stderr
    assert result.json["targets"][0]["warnings"] == []


def test_slack_lists_failures_first_and_a_skipped_target_as_staying(
        sim: Simulator, run_cli: RunCli, receiver: Receiver) -> None:
    from .conftest import LAUNCH_CONFIG

    quiet = {key: value for key, value in LAUNCH_CONFIG.items() if key != "healthCheck"}   # never unhealthy
    newer = NEW_IMAGE.rsplit(":", 1)[0] + ":9.0"

    def opted(base: dict[str, Any], image: str) -> dict[str, Any]:
        return {**base, "imageUuid": f"docker:{image}", "labels": {**base["labels"], "autoupdate.enable": "true"}}

    shop = sim.add_stack("shop")
    sim.add_service(shop, "good", opted(quiet, OLD_IMAGE))
    sim.add_service(shop, "ahead", opted(quiet, newer))                  # newer: the policy skips it
    sim.add_service(shop, "bad", opted(LAUNCH_CONFIG, OLD_IMAGE))        # health-checked: rolled back
    sim.faults.unhealthy_image(NEW_IMAGE)
    result = run_cli(RANCHER_STACK=None, RANCHER_SERVICE=None, RANCHER_SELECT_IMAGE="true",
                     RANCHER_PROGRESS_DEADLINE="0.3", RANCHER_NOTIFY_SLACK_URL=receiver.url)
    assert result.code == 4, result.stderr
    (body,) = receiver.bodies
    lines = body["text"].splitlines()[1:]
    assert [line.split("|")[1].split(">")[0] for line in lines] == [
        "Default/shop/bad", "Default/shop/good", "Default/shop/ahead"]
    assert f"rolled-back, bad stays on {OLD_IMAGE}, not {NEW_IMAGE} (" in lines[0]
    assert f"upgraded, good {OLD_IMAGE} → {NEW_IMAGE} (" in lines[1]
    assert f"skipped, ahead stays on {newer}, not {NEW_IMAGE} (" in lines[2] and "→" not in lines[2]
    assert "skipped by the version policy newer" in lines[2]


def test_slack_text_stays_under_slacks_limit_and_counts_what_it_leaves_out() -> None:
    from rancher_deploy.notify import SLACK_TEXT_LIMIT

    change = (ImageChange("web", "app:1", "app:2"),)
    targets = [TargetOutcome(f"env/shop/web{number}", f"1s{number}", Result.UPGRADED, "active", change,
                             "upgraded", 1.0, f"https://rancher.example.com/env/1a5/services/1s{number}")
               for number in range(10_000)]
    targets.insert(7_000, TargetOutcome("env/shop/broken", "1s99999", Result.FAILED, "unknown", change,
                                        "could not be restored"))
    outcome = Outcome("upgrade", tuple(targets))
    document = result_object(outcome, None, exit_code=ExitCode.NEEDS_ATTENTION, command="upgrade", api_calls=3)
    document["error"] = "x" * 50_000   # an error line longer than any limit is cut, never the whole text
    text = slack_payload(document, _settings(), Redactor())["text"]
    assert len(text) <= SLACK_TEXT_LIMIT
    lines = text.splitlines()
    assert "env/shop/broken" in lines[1]                              # the failure first, whatever its place
    kept = sum(1 for line in lines if line.startswith("• "))
    assert lines[-2] == f"... and {10_001 - kept:,} more targets" and 100 < kept < 10_001
    assert lines[-1].startswith("error: xxx") and lines[-1].endswith("...")
    small = result_object(Outcome("upgrade", tuple(targets[:3])), None, exit_code=ExitCode.OK, command="upgrade",
                          api_calls=3)
    assert "more target" not in slack_payload(small, _settings(), Redactor())["text"]
