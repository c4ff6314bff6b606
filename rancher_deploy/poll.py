"""Registry polling (Keel's `poll` trigger): each target's next tag, chosen from its repository's tags.

A polling run is an ordinary upgrade run (the same pipeline, results and exit codes) whose image
names a repository without a tag: the pipeline asks `TagChooser` for each target's image, and the
chooser lists the repository's tags in the registry once (`registry.list_tags`), then picks the
newest one the target's version policy allows over the tag it runs. Nothing newer allowed is the
result `skipped`, with that reason. `rancher-deploy upgrade --poll` runs it once (from a scheduled
pipeline, or cron); `rancher-deploy serve` runs `poll_once` every RANCHER_SERVE_POLL seconds.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from rancher_deploy.errors import ConfigError, DeployError
from rancher_deploy.events import Emit, Level, Step
from rancher_deploy.fleet import counted
from rancher_deploy.images import ImageRef, parse_image_uuid
from rancher_deploy.policy import TargetPolicy, newest
from rancher_deploy.registry import RegistryAccess, list_tags
from rancher_deploy.settings import OPTIONS_BY_NAME, Option, Settings
from rancher_deploy.snapshot import Snapshot


def access_for(settings: Settings, name: Callable[[Option], str] = lambda option: option.setting) -> RegistryAccess:
    """How this run reaches registries, from its settings; `name` spells a setting for messages the
    way the user set it (`Inputs.name`), by default its first variable. Docker's own DOCKER_CONFIG
    is one of the docker_config setting's variables; without either, `~/.docker`, as docker/cli's
    `config.Dir()` has it."""
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    config = Path(settings.docker_config) if settings.docker_config else Path.home() / ".docker"
    return RegistryAccess(verify=settings.registry_ca_bundle or DEFAULT_CA_BUNDLE_PATH,
                          timeout=settings.request_timeout_seconds, docker_config=config,
                          plain_http=frozenset(settings.registry_http or ()),
                          config_setting=name(OPTIONS_BY_NAME["docker_config"]),
                          ca_setting=name(OPTIONS_BY_NAME["registry_ca_bundle"]),
                          http_setting=name(OPTIONS_BY_NAME["registry_http"]))


class TagChooser:
    """Chooses each target's tag of `settings.image`'s repository; the pipeline calls it per target.

    The repository's tags are listed on the first call (during the checks before any change, so a
    registry that refuses the credentials stops the run with nothing changed) and kept for the run;
    targets run in threads, so the listing is guarded by a lock.
    """

    def __init__(self, settings: Settings, access: RegistryAccess, emit: Emit, *,
                 tags: Callable[[ImageRef, RegistryAccess], list[str]] = list_tags) -> None:
        if settings.image is None:
            raise ValueError("polling needs the repository (settings.image)")
        self._settings = settings
        self._repository = settings.image
        self._access = access
        self._emit = emit
        self._list = tags
        self._tags: list[str] | None = None
        self._failed: DeployError | None = None
        self._announced: set[str] = set()
        self._lock = threading.Lock()

    def tags(self) -> list[str]:
        """The repository's tags, listed once per run; a listing that failed fails again, unasked (the
        report's look at a target that stopped the run must not ask the registry a second time)."""
        with self._lock:
            if self._failed is not None:
                raise self._failed
            if self._tags is None:
                try:
                    self._tags = self._list(self._repository, self._access)
                except DeployError as error:
                    self._failed = error
                    raise
                self._emit(Step(f"Registry: {counted(len(self._tags), 'tag')} of {self._repository.name}"))
            return self._tags

    def __call__(self, target: str, snapshot: Snapshot, chosen: TargetPolicy) -> tuple[ImageRef, str | None]:
        """The image `target` (as `snapshot` shows it) moves to under its version policy (`chosen`:
        its own label's, else RANCHER_VERSION_POLICY's), and None; or the image it runs and why it
        stays (the pipeline's `Choose`). `policy.newest` decides. Raises ConfigError when the target
        runs no container of the repository (a named target that is not this repository's), and what
        `list_tags` raises."""
        running = self._running(snapshot)
        if running is None:
            raise ConfigError(OPTIONS_BY_NAME["image"].setting,
                              f"{target} runs no container of {self._repository.name}, the repository polled; "
                              "name a target that runs it")
        tag = newest(chosen.policy, str(running), self.tags())
        if tag is None:
            return running, (f"skipped by the version policy {chosen}: no tag of {self._repository.name} in the "
                             f"registry is allowed over {running.tag or 'latest'}")
        with self._lock:
            # The pipeline plans a target more than once (to act, and for its report's changes); the
            # choice is the same each time, and is said once.
            first = target not in self._announced
            self._announced.add(target)
        if first:
            self._emit(Step(f"Registry: {tag} is the newest tag the version policy {chosen} allows over "
                            f"{running.tag or 'latest'}", target=target))
        return replace(self._repository, tag=tag, digest=None), None

    def _running(self, snapshot: Snapshot) -> ImageRef | None:
        for _, image in snapshot.images:
            parsed = parse_image_uuid(image)
            if parsed is not None and parsed.same_repository(self._repository):
                return parsed
        return None


Result = TypeVar("Result")
Run = Callable[[Settings, Emit], Result]


def poll_once(settings: Settings, log: Emit, run: Run[Result], *,
              repositories: Sequence[ImageRef] | None = None) -> list[Result]:
    """One round of polling for `rancher-deploy serve`: a fleet run (`Settings.selecting`) with
    RANCHER_POLL on per repository (`repositories`, default the settings' image), started by `run`,
    the run function every caller uses (`runner.run`, which returns a `Ran` and never raises). A `run`
    that raises a DeployError is logged as a warning line and the round goes on with the next
    repository; the results of the runs that returned are returned in order."""
    results: list[Result] = []
    for repository in repositories if repositories is not None else (settings.image,) if settings.image else ():
        image = replace(repository, tag=None, digest=None)
        try:
            results.append(run(settings.selecting(image, poll=True), log))
        except DeployError as error:
            log(Step(f"Polling {image.name} failed: {error}", Level.WARNING))
    return results


def poll_loop(settings: Settings, log: Emit, run: Run[Result], interval: float, stop: threading.Event, *,
              repositories: Callable[[], Sequence[ImageRef]] | None = None) -> None:
    """`poll_once` every `interval` seconds until `stop` is set (serve's SIGTERM); the first round at
    once. Meant for a thread of its own; `stop` cuts the wait short, so shutdown never waits out an
    interval."""
    while not stop.is_set():
        poll_once(settings, log, run, repositories=repositories() if repositories else None)
        stop.wait(interval)
