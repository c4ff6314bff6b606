"""Each run the server starts is announced as a CLI run is (notify.send): the seed's Slack webhook
(`AUTOUPDATE_SLACK_WEBHOOK_URL`, its bot name) and the JSON webhook get the run's summary; a receiver
that fails only warns in the run's lines, and the run's result stands."""

from __future__ import annotations

from rancher_deploy.simulator import Simulator

from ..conftest import NEW_IMAGE, OLD_IMAGE
from ..test_notify import HOOK_SECRET, Receiver, refused_url
from .conftest import Serve


def test_a_servers_run_is_notified_to_the_seeds_slack_webhook_and_the_json_one(
        serve: Serve, sim: Simulator, web: str, receiver: Receiver) -> None:
    served = serve(AUTOUPDATE_SLACK_WEBHOOK_URL=receiver.url, AUTOUPDATE_SLACK_BOT_NAME="rancher-updater",
                   RANCHER_NOTIFY_WEBHOOK_URL=receiver.url + "/json")
    served.upgrade()
    assert served.wait_until_done(1)["result"] == "upgraded"
    receiver.posts.sort(key=lambda post: post["path"])
    slack, webhook = receiver.bodies
    assert slack["username"] == "rancher-updater" and "Default/shop/web" in str(slack)
    (target,) = webhook["targets"]
    assert (target["target"], target["result"], target["previous_image"], target["image"]) == (
        "Default/shop/web", "upgraded", OLD_IMAGE, NEW_IMAGE)
    assert HOOK_SECRET not in served.log.getvalue() and HOOK_SECRET not in str(served.status())


def test_a_notification_that_fails_only_warns(serve: Serve, sim: Simulator, web: str) -> None:
    served = serve(RANCHER_NOTIFY_WEBHOOK_URL=refused_url())
    served.upgrade()
    run = served.wait_until_done(1)
    assert (run["result"], run["exit_code"]) == ("upgraded", 0)
    assert "[run 1] warning: " in served.log.getvalue()
    assert HOOK_SECRET not in served.log.getvalue()
    # /status says so too (second review of #16: only the log did).
    (warning,) = served.run(1)["warnings"]
    assert warning.startswith("the webhook notification to 127.0.0.1 was not delivered: it could not be reached"), warning
