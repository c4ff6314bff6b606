"""The rows of the settings table that notifications read (`notify.send`): the Slack (or Mattermost)
incoming webhook and the name it posts under, and the generic JSON webhook; with the seed's variables
(rancher-service-updater's AUTOUPDATE_SLACK_*) as aliases.

Apart from `settings`, which puts them in its one table (SETTINGS) where the README and docs/ci.md
list them: the table's module stays within its size, and the notification rows change together. The
two URLs are secrets (Kind.SECRET): a webhook's path is its credential, so masks and the redactor
cover them like the Rancher keys.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from rancher_deploy.options import Kind, Option


def _webhook_url(text: str) -> str:
    """A notification URL: http(s) with a host. The message never repeats it: the URL is the secret."""
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError("is not a valid URL (value not shown)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an https:// (or http://) URL with a host (value not shown)")
    return text


NOTIFY_OPTIONS: tuple[Option, ...] = (
    Option("notify_slack_url", ("RANCHER_NOTIFY_SLACK_URL", "AUTOUPDATE_SLACK_WEBHOOK_URL"), Kind.SECRET,
           "Slack (or Mattermost) incoming webhook that each run which changed something or failed posts its summary "
           "to; a failed post is a warning, never a failed run; never printed", metavar="URL",
           parse=_webhook_url),
    Option("notify_slack_name", ("RANCHER_NOTIFY_SLACK_NAME", "AUTOUPDATE_SLACK_BOT_NAME"), Kind.TEXT,
           "the name that Slack notification is posted under, where the webhook lets it choose", metavar="NAME"),
    Option("notify_webhook_url", ("RANCHER_NOTIFY_WEBHOOK_URL",), Kind.SECRET,
           "URL that each run which changed something or failed POSTs its summary to as JSON (the result object); a "
           "failed post is a warning, never a failed run; never printed", metavar="URL",
           parse=_webhook_url),
)
