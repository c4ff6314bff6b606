"""The server's registry polling (RANCHER_SERVE_POLL): a thread that, every interval, queues a polling
run per repository of RANCHER_SERVE_POLL_IMAGES, as a webhook queues a run per pushed image.

The runs go through the scheduler, so a poll and a push of the same repository never run at once
(one supersedes the other while waiting), and SIGTERM treats them like any run. Each is a fleet run
with RANCHER_POLL on (`runs.settings_for`): every opted-in target running the repository moves to the
newest tag its version policy allows (`rancher_deploy.poll`).
"""

from __future__ import annotations

import threading

from rancher_deploy.events import Emit, Level, Step
from rancher_deploy.poll import poll_loop
from rancher_deploy.serve.payloads import Trigger
from rancher_deploy.serve.scheduler import QueueFull, Scheduler, Stopping
from rancher_deploy.settings import Settings

SOURCE = "poll"


def start_polling(settings: Settings, scheduler: Scheduler, log: Emit) -> threading.Event | None:
    """Start the polling thread when RANCHER_SERVE_POLL is set; returns the event that stops it (set it
    on shutdown: the thread then queues nothing more and ends without waiting out its interval), or
    None when the server does not poll."""
    interval, images = settings.serve_poll_seconds, settings.serve_poll_images or ()
    if interval is None or not images:
        return None
    stop = threading.Event()

    def submit(run_settings: Settings, emit: Emit) -> None:
        assert run_settings.image is not None  # poll_once names the repository
        try:
            scheduler.submit((Trigger(run_settings.image, SOURCE, poll=True),))
        except (QueueFull, Stopping) as refused:
            why = "the queue is full" if isinstance(refused, QueueFull) else "the server is stopping"
            emit(Step(f"poll: {run_settings.image.name} not queued: {why}", Level.WARNING))

    thread = threading.Thread(target=poll_loop, args=(settings, log, submit, interval, stop),
                              kwargs={"repositories": lambda: images}, name="registry-poll", daemon=True)
    thread.start()
    log(Step(f"polling {', '.join(image.name for image in images)} every {interval:g}s (RANCHER_SERVE_POLL)"))
    return stop
