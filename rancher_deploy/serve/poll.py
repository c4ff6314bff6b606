"""The server's registry polling (RANCHER_SERVE_POLL): a thread that, every interval, queues a polling
run per repository of RANCHER_SERVE_POLL_IMAGES, as a webhook queues a run per pushed image. Without
that list, the repositories are those the opted-in targets run, found again each round by one fleet
listing (`runner.opted_in_repositories`), as Keel polls what its opted-in workloads run: a target
that opts in, or moves to another repository, is polled from the next round on.

The runs go through the scheduler, so a poll and a push of the same repository never run at once
(a poll waiting is not queued again; a poll and a push queue in turn), and SIGTERM treats them like
any run. Each is a fleet run with RANCHER_POLL on (`runs.settings_for`): every opted-in target running the repository moves to the
newest tag its version policy allows (`rancher_deploy.poll`).
"""

from __future__ import annotations

import threading
from typing import Callable, Sequence

from rancher_deploy.errors import DeployError
from rancher_deploy.events import Emit, Level, Step
from rancher_deploy.images import ImageRef
from rancher_deploy.poll import poll_loop
from rancher_deploy.runner import opted_in_repositories
from rancher_deploy.serve.payloads import Trigger
from rancher_deploy.serve.scheduler import QueueFull, Scheduler, Stopping
from rancher_deploy.settings import Settings

SOURCE = "poll"


def start_polling(settings: Settings, scheduler: Scheduler, log: Emit) -> threading.Event | None:
    """Start the polling thread when RANCHER_SERVE_POLL is set; returns the event that stops it (set it
    on shutdown: the thread then queues nothing more and ends without waiting out its interval), or
    None when the server does not poll."""
    interval, images = settings.serve_poll_seconds, settings.serve_poll_images
    if interval is None:
        return None
    stop = threading.Event()

    def discovered() -> tuple[ImageRef, ...]:
        try:
            found = opted_in_repositories(settings, log)
        except DeployError as error:   # this round polls nothing; the next one asks again
            log(Step(f"poll: the opted-in targets could not be listed ({error}); trying again in {interval:g}s",
                     Level.WARNING))
            return ()
        log(Step(f"poll: the opted-in targets run {', '.join(image.name for image in found) or 'no repository'}"))
        return found

    def submit(run_settings: Settings, emit: Emit) -> None:
        assert run_settings.image is not None  # poll_once names the repository
        try:
            scheduler.submit((Trigger(run_settings.image, SOURCE, poll=True),))
        except (QueueFull, Stopping) as refused:
            why = "the queue is full" if isinstance(refused, QueueFull) else "the server is stopping"
            emit(Step(f"poll: {run_settings.image.name} not queued: {why}", Level.WARNING))

    given = images
    repositories: Callable[[], Sequence[ImageRef]] = discovered if given is None else (lambda: given)
    thread = threading.Thread(target=poll_loop, args=(settings, log, submit, interval, stop),
                              kwargs={"repositories": repositories}, name="registry-poll", daemon=True)
    thread.start()
    what = ("the repositories the opted-in targets run" if given is None
            else ", ".join(image.name for image in given))
    log(Step(f"polling {what} every {interval:g}s (RANCHER_SERVE_POLL)"))
    return stop
