"""Notifications of a run's end: a Slack (or Mattermost) incoming webhook, and a generic JSON webhook.

`send` is called once per run, after its Outcome is final (the CLI; `serve`, per run it starts). It
posts only for a run that changed something or did not end 0: Watchtower's reports went quiet for
runs where nothing happened after its users found them noise (containrrr/watchtower#1010, #1627), and
a fleet push that matches nothing, or a CI re-run on the same image, would otherwise post every time.

A notification is never part of the deploy: one that fails (refused, an error status, no answer in
time, a bad address, a TLS handshake that fails, worded by cause as `tls.problem` words it) is
one warning line, and the run's result
and exit code stand. Nothing secret leaves: every text in a payload passes the run's Redactor (the
webhook URLs are themselves secrets, `settings.Settings.secrets`), and a failure names the webhook
by its host, never its URL. TLS is verified (requests' CA bundle, or REQUESTS_CA_BUNDLE), whatever
RANCHER_INSECURE says about Rancher; redirects are not followed (the body would go elsewhere).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

from rancher_deploy import __version__, tls
from rancher_deploy.errors import DeployError, ExitCode
from rancher_deploy.events import Event, Level, Outcome, Result, Step, exit_code
from rancher_deploy.redact import Redactor
from rancher_deploy.report import result_object
from rancher_deploy.settings import Command, Settings

# The longest a notification may hold up the end of a run, in seconds; RANCHER_REQUEST_TIMEOUT when shorter.
TIMEOUT_CAP = 10.0
SOURCE = "rancher-deploy"

# Results after which the target is not where it was: a run with one of them is worth telling.
_CHANGED = frozenset({Result.UPGRADED, Result.UPGRADED_UNFINISHED, Result.CREATED, Result.FINISHED,
                      Result.REVERTED, Result.ROLLED_BACK, Result.FAILED, Result.INTERRUPTED})
# Slack truncates a message's `text` past 40,000 characters, for incoming webhooks too
# (https://api.slack.com/changelog/2018-04-truncating-really-long-messages): a fleet run of thousands of
# targets would lose its end, the error that stopped it among it. The text is cut before that, by whole
# targets, and says how many were left out.
SLACK_TEXT_LIMIT = 40_000
# The longest one line may be (a target's message, the error): a single line past it, e.g. an echoed
# answer, would crowd out every other target. 4,000 is what Slack asked a message to stay under before
# it set the limit above (same changelog).
SLACK_LINE_LIMIT = 4_000
# The targets a reader must see first (a cut keeps them): those that failed or need attention, worst first.
_FAILURES = (Result.FAILED.value, Result.INTERRUPTED.value, Result.ROLLED_BACK.value, Result.NOT_UPGRADED.value)


def send(outcome: Outcome | None, settings: Settings, log: Callable[[Event], None], *,
         error: DeployError | None = None, code: ExitCode | None = None, redactor: Redactor | None = None,
         api_calls: int = 0, warnings: Sequence[str] = ()) -> tuple[str, ...]:
    """Post the run's summary to each webhook the settings name, when the run is worth telling
    (`worth_telling`). `outcome` and `error` are how the run ended (`error`: the one that stopped it,
    with `outcome` what it knew of the targets then); `code` its exit code (derived when None);
    `warnings` the run's own warning lines (the webhook's `warnings`, Slack's `warning:` lines; they
    do not make a run worth telling: RANCHER_INSECURE's would post every run that changed nothing);
    `redactor` the run's own (else one from `settings.secrets`). Raises nothing: each failure is a
    warning line through `log`, and the run's result stands; returns those lines' text (empty when
    every notification due was delivered), for the run's `warnings` in its result and /status."""
    undelivered: list[str] = []

    def noting(event: Event) -> None:
        if isinstance(event, Step) and event.level is Level.WARNING:
            undelivered.append(event.message)
        log(event)

    if settings.notify_slack_url or settings.notify_webhook_url:
        _send(outcome, settings, noting, error, code, redactor, api_calls, warnings)
    return tuple(undelivered)


def _send(outcome: Outcome | None, settings: Settings, log: Callable[[Event], None], error: DeployError | None,
          code: ExitCode | None, redactor: Redactor | None, api_calls: int, warnings: Sequence[str]) -> None:
    try:
        code = code if code is not None else exit_code(outcome, error)
        if not worth_telling(settings.command, outcome, code):
            return
        scrub = _scrubber(settings, redactor)
        document = result_object(outcome, error, exit_code=code, command=settings.command.value, api_calls=api_calls,
                                 warnings=warnings)
        if settings.notify_slack_url:
            _post("Slack webhook", settings.notify_slack_url, slack_payload(document, settings, scrub), settings, log)
        if settings.notify_webhook_url:
            _post("webhook", settings.notify_webhook_url, webhook_payload(document, settings, scrub), settings, log)
    except Exception as bug:  # noqa: BLE001 - a notification must never change how the run ends
        log(Step(f"notifications were not sent: internal error {type(bug).__name__}; the run's result stands",
                 Level.WARNING))


def worth_telling(command: Command, outcome: Outcome | None, code: ExitCode) -> bool:
    """Whether a run is notified: one that did not end 0, or changed a target; never `status`."""
    if command is Command.STATUS:
        return False
    if code is not ExitCode.OK:
        return True
    return outcome is not None and any(target.result in _CHANGED for target in outcome.targets)


def webhook_payload(document: dict[str, Any], settings: Settings, scrub: Callable[[str], str]) -> dict[str, Any]:
    """The generic webhook's JSON: the run's result object (`--output json`'s, each target with its
    `ui_url`), with `source`, `version` and `rancher_url` (the configured address, no credentials)."""
    payload: dict[str, Any] = _scrubbed({"source": SOURCE, "version": __version__, "rancher_url": settings.url,
                                         **document}, scrub)
    return payload


def slack_payload(document: dict[str, Any], settings: Settings, scrub: Callable[[str], str]) -> dict[str, Any]:
    """A Slack incoming-webhook message (`text`, and `username` when RANCHER_NOTIFY_SLACK_NAME is set),
    which Mattermost takes as it is (it translates Slack's `<url|text>` links; docs "Slack
    compatibility"). One line for the run, one per target (linked to its page in Rancher's UI where
    known; failures first, then the rest in the run's order), and the error that stopped it; no bold,
    which the two write differently. `text` holds at most SLACK_TEXT_LIMIT characters: past it, the
    last targets give way to a line counting them ("... and 1,234 more targets")."""
    where = urlsplit(settings.url).netloc

    def line(text: str) -> str:
        escaped = _escape(scrub(text))
        return escaped if len(escaped) <= SLACK_LINE_LIMIT else escaped[:SLACK_LINE_LIMIT - 3] + "..."

    head = line(f"{SOURCE} {document['command']} on {where}: {document['result']}, exit {document['exit_code']} "
                f"({document['meaning']})")
    targets = sorted(document["targets"], key=lambda target: target["result"] not in _FAILURES)
    blocks = []
    for target in targets:
        # Under its line, what the log warned of for the target (a redeploy that will not pull, ...): a
        # reader of the channel needs it as much as one of the log ("latest -> latest" restarted from a
        # cached copy is no update).
        blocks.append([line(_target_line(target)),
                       *(line(f"  warning: {warning}") for warning in target.get("warnings", ()))])
    tail = [*(line(f"warning: {warning}") for warning in document.get("warnings", ())),
            *([line(f"error: {document['error']}")] if document.get("error") else [])]
    payload: dict[str, Any] = {"text": _bounded(head, blocks, tail, SLACK_TEXT_LIMIT)}
    if settings.notify_slack_name:
        payload["username"] = scrub(settings.notify_slack_name)
    return payload


def _bounded(head: str, blocks: list[list[str]], tail: list[str], limit: int) -> str:
    """`head`, the blocks (each a target's lines) and `tail` (the error) joined by newlines, in at most
    `limit` characters (lines of at most a tenth of it, as `slack_payload` makes them): whole blocks are
    left out from the end, and a line says how many."""
    text = "\n".join([head, *("\n".join(block) for block in blocks), *tail])
    if len(text) <= limit:
        return text
    # Room for the blocks: the limit less the head, the tail and the count's line (newlines included).
    room = limit - len("\n".join([head, *tail])) - len(f"\n... and {len(blocks):,} more targets")
    kept: list[str] = []
    for block in blocks:
        joined = "\n".join(block)
        if len(joined) + 1 > room:
            break
        kept.append(joined)
        room -= len(joined) + 1
    left = len(blocks) - len(kept)
    return "\n".join([head, *kept, f"... and {left:,} more target{'' if left == 1 else 's'}", *tail])


def _target_line(target: dict[str, Any]) -> str:
    name = str(target["target"])
    # Slack's link syntax; the page is built from the configured address and Rancher's ids.
    shown = f"<{target['ui_url']}|{name}>" if target.get("ui_url") else name
    images = ", ".join(_container_text(target["result"], container) for container in target["containers"])
    line = f"• {shown}: {target['result']}" + (f", {images}" if images else "")
    line += f" ({target['duration_seconds']:.1f}s)"
    if target["result"] not in (Result.UPGRADED.value, Result.CREATED.value):
        line += f": {target['message']}"
    return line


def _container_text(result: str, container: dict[str, Any]) -> str:
    """One container as the line shows it: moved (`2.0 → 2.1`) only where the run moved it (or, on a dry
    run, would); a target skipped, unchanged, not upgraded or rolled back `stays on` what it ran."""
    name, before, asked, now = (container["name"], container["previous_image"], container["requested_image"],
                                container["image"])
    if before is None or before == asked:
        return f"{name} {asked}"
    if now == asked or result == Result.PLANNED.value:
        return f"{name} {before} → {asked}"
    if now is None:
        return f"{name} {before} → {asked}, where it is now unknown"
    return f"{name} stays on {now}, not {asked}"


def _escape(text: str) -> str:
    """Slack's three control characters as entities (api.slack.com "Escaping text"); a link we made
    (`<https://...|name>`) is kept whole."""
    out, rest = [], text
    while rest:
        start = rest.find("<http")
        end = rest.find(">", start) if start >= 0 else -1
        if start < 0 or end < 0:
            out.append(_entities(rest))
            break
        out.append(_entities(rest[:start]) + rest[start:end + 1])
        rest = rest[end + 1:]
    return "".join(out)


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _scrubber(settings: Settings, redactor: Redactor | None) -> Callable[[str], str]:
    """The run's Redactor, with every secret the settings hold (the webhook URLs among them) added."""
    scrub = redactor if redactor is not None else Redactor()
    for secret in settings.secrets:
        scrub.add(secret)
    return scrub


def _scrubbed(value: Any, scrub: Callable[[str], str]) -> Any:
    """Every string of a JSON value through `scrub`, before it is serialised: a secret JSON would escape
    (a quote, a backslash) could not be found in the text afterwards."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: _scrubbed(item, scrub) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrubbed(item, scrub) for item in value]
    return value


def _post(what: str, url: str, payload: dict[str, Any], settings: Settings, log: Callable[[Event], None]) -> None:
    """POST `payload` as JSON to `url` once; a 2xx answer is delivery, anything else one warning."""
    import requests  # here: a run without notifications never loads it for this

    host = urlsplit(url).hostname or "?"
    timeout = min(settings.request_timeout_seconds, TIMEOUT_CAP)
    try:
        with requests.Session() as session:
            answer = session.post(url, json=payload, timeout=timeout, allow_redirects=False,
                                  headers={"User-Agent": f"{SOURCE}/{__version__}"})
    except requests.exceptions.SSLError as error:
        why = tls.problem(error)   # by cause, as Rancher's own TLS failures are told apart (`http`)
    except requests.exceptions.Timeout:
        why = f"no answer within {timeout:g}s"
    except requests.exceptions.ConnectionError:
        why = "it could not be reached (connection refused, reset or no such host)"
    except (requests.exceptions.RequestException, ValueError):  # never the library's text: it holds the URL
        why = "the request could not be made"
    else:
        if 200 <= answer.status_code < 300:
            log(Step(f"Sent the run's summary to the {what} at {host}"))
            return
        why = f"it answered HTTP {answer.status_code}" + (" (redirects are not followed)"
                                                           if 300 <= answer.status_code < 400 else "")
    log(Step(f"the {what} notification to {host} was not delivered: {why}; the run's result stands",
             Level.WARNING))

