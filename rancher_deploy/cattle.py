"""The Rancher 1.x (Cattle) backend: find the environment, stack and service; upgrade, finish, roll back.

It follows Rancher's own clients: resources are found with server-side filters, and actions are
invoked through the URLs in each resource's `actions` map, which only lists what the current state
allows (rancher-api.md §2.3), so "not offered" is known before asking. `/v2-beta` is preferred
because `/v1` hides newer launchConfig fields (secrets, ...) and sending a v1 launchConfig back
would drop them (josmo/drone-rancher#27).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit, urlunsplit

from rancher_deploy.errors import (
    LISTED_NAMES,
    ConfigError,
    NotCattle,
    NotFound,
    DeployError,
    PermissionDenied,
    RancherAPIError,
    RefusedError,
    TargetMissing,
    TargetNotFound,
    TransientRancherError,
    listed,
)
from rancher_deploy.backend import Stream
from rancher_deploy.creation import Creation, service_body
from rancher_deploy.envlabels import change_cause
from rancher_deploy.http import JSON, RancherSession
from rancher_deploy.images import launch_image
from rancher_deploy.links import service_page
from rancher_deploy.plan import Plan, ServiceUpgrade, Strategy, plan_creation, plan_service_upgrade
from rancher_deploy.settings import ServiceTarget, Settings, Target
from rancher_deploy.snapshot import Goal, Health, Phase, Restore, Snapshot, TargetRef, Verdict, texts
from rancher_deploy.subscribe import CattleEvents
from rancher_deploy.status import (
    BUSY_STATES,
    PENDING_STATES,
    READY_STATES,
    REMOVED_STATES,
    ServiceStatus,
    Transitioning,
    count_health,
)

if TYPE_CHECKING:  # fleet mode's alone: a run naming its targets never loads `fleet`
    from rancher_deploy.fleet import Container, Survey

_API_PATH = re.compile(r"^(?P<prefix>.*?)/(?P<version>v1|v2-beta)(?:/projects/(?P<project>[^/]+))?/?$")
_PROJECT_ID = re.compile(r"1a\d+\Z")
# Services per page of a fleet listing: the most Rancher 1.x's API documentation promises (1000; the
# code caps at 3000), rancher-api.md §1.3.
SURVEY_PAGE = 1000
# Kinds of 1.x service that run no container, so have no image to move (cattle schema/base/dnsService.json,
# externalService.json). Load balancers, network and storage drivers run containers and upgrade like a
# service; their own fields (lbConfig, ...) are not part of the launch config and stay as they are.
NO_CONTAINERS = {"dnsService": "a DNS (alias) service", "externalService": "an external service"}
# `?include=instances` embeds a service's containers in its answer through a join whose rows are
# limited like a page (100 by default: cattle's MultiTableMapper drops the rest): an answer with that
# many may miss some, so they are read from the `instances` link instead, page after page.
INCLUDE_LIMIT = 100


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class ApiDialect:
    """Where the two 1.x API versions name things differently (rancher-api.md §1.1)."""

    version: str
    stacks: str          # collection name of stacks
    stack_field: str     # the service's reference to its stack


V2_BETA = ApiDialect("v2-beta", "stacks", "stackId")
V1 = ApiDialect("v1", "environments", "environmentId")


class CattleBackend:
    """Rancher 1.x services over `/v2-beta` (or `/v1` where that is all there is)."""

    @property
    def flavour(self) -> str:
        return "rancher-1.x"

    def __init__(self, session: RancherSession, project: JSON, project_url: str, dialect: ApiDialect,
                 warn: Callable[[str], None], environments: list[JSON] | None = None) -> None:
        """`environments`: those a fleet run may search (`survey`), every one the key sees when no
        environment is named; else `project`, the one environment the run works in."""
        self._session = session
        self._project = project
        self._environments = environments or [project]
        self._base = project_url
        self._dialect = dialect
        self._warn = warn
        self._stack_names: dict[str, str] = {}
        # Lookups within a run: each stack is read once however many of its services are named.
        self._stacks: dict[str, JSON] = {}
        # The service as resolve's listing returned it, until the first fetch (the preflight) takes it:
        # the listing carries the whole resource, so reading it again at once would learn nothing.
        self._listed: dict[str, JSON] = {}
        # The service as last read, per target id, until an action is sent: the action takes its link
        # from the read that just decided it (`actions.Actions.send`) rather than reading again.
        self._seen: dict[str, JSON] = {}
        self._made: dict[str, str] = {}          # service id -> stack id, of each service this run created
        self._made_stacks: dict[str, str] = {}   # stack id -> self link, of each stack this run created
        # One subscription per environment, shared by every wait of the run, hung up with the session.
        self._events = CattleEvents(session)
        session.on_close(self._events.close)
        self._homes: dict[str, str] = {}  # service id -> its environment's API address (fleet picks span several)

    @property
    def needs_finish(self) -> bool:
        return True

    @property
    def reports_stalls(self) -> bool:
        return False  # new containers that never become healthy are waited for for ever (rancher-api.md §2.2)

    @property
    def applied_goal(self) -> Goal:
        return Goal.UPGRADED

    @property
    def restored_goal(self) -> Goal:
        return Goal.ACTIVE

    @property
    def where(self) -> str:
        if len(self._environments) > 1:
            return f"Rancher 1.x, API {self._dialect.version}, {len(self._environments)} environments"
        return (f"Rancher 1.x, API {self._dialect.version}, environment "
                f"{self._project.get('name')} ({self._project.get('id')})")

    # -- fleet mode ------------------------------------------------------------------------------

    def survey(self, settings: Settings) -> Survey:
        """Per environment searched, one paged list of its stacks (to name the services) and one of its
        services: Cattle filters neither by image nor by label (rancher-api.md §1.3), so every service is
        read, SURVEY_PAGE at a time, and judged here. Each candidate's snapshot is its pick's first read
        (the pipeline's preflight takes it: `deploy.Pipeline._preflight`); it is not kept for `fetch`, so
        that a real upgrade reads the service again right before it writes."""
        from rancher_deploy.fleet import Candidate, Survey, places   # fleet mode's alone (see the imports)
        if settings.namespaces is not None:
            raise ConfigError("RANCHER_NAMESPACES", "chooses Rancher 2.x namespaces, but this is Rancher 1.x: "
                                                    "choose environments with RANCHER_ENVIRONMENTS")
        searched, passed = places([str(project.get("name")) for project in self._environments], settings.environments)
        candidates: list[Candidate] = []
        api = self._base.rsplit("/projects/", 1)[0]
        page = {"limit": str(SURVEY_PAGE)}
        for project in self._environments:
            place = str(project.get("name"))
            if place not in searched:
                continue
            base = f"{api}/projects/{project['id']}"
            stacks = {str(stack.get("id")): str(stack.get("name")) for stack in self._session.get_all(
                f"{base}/{self._dialect.stacks}", params=page, what=f"Listing the stacks of {place}")}
            for service in self._session.get_all(f"{base}/services", params=page,
                                                 what=f"Listing the services of {place}"):
                if service.get("state") in REMOVED_STATES:
                    continue
                stack = stacks.get(str(service.get(self._dialect.stack_field))) or self._stack_name(
                    str(service.get(self._dialect.stack_field)), base)
                target = ServiceTarget(str(service.get("name")), stack)
                ref = self._ref(f"{place}/{target}", service)
                snapshot = self._snapshot(service, health=None)   # its labels: the launch config's
                candidates.append(Candidate(ref, target, place, snapshot.labels, _containers(service), snapshot))
        return Survey("environment", "RANCHER_ENVIRONMENTS", searched, passed, tuple(candidates))

    # -- resolving -------------------------------------------------------------------------------

    def resolve(self, target: Target) -> TargetRef:
        if not isinstance(target, ServiceTarget):
            raise ConfigError("RANCHER_WORKLOAD", "names a Rancher 2.x workload, but this is Rancher 1.x; "
                                                  "set RANCHER_SERVICE (and RANCHER_STACK)")
        filters: dict[str, str] = {"name": target.name}
        stack_name = target.stack
        if target.stack is not None:
            stack = self._find_stack(target.stack)
            filters[self._dialect.stack_field] = str(stack["id"])
        found = self._list("services", filters, what=f"Looking up service {target}")
        found = [service for service in found if service.get("state") not in REMOVED_STATES]
        if not found:
            raise TargetMissing(self._not_found_message(target))
        if len(found) > 1:
            stacks = ", ".join(sorted(self._stack_name(str(s.get(self._dialect.stack_field))) for s in found))
            raise ConfigError("RANCHER_SERVICE",
                              f"{target.name!r} exists in several stacks ({stacks}); write stack/{target.name} "
                              "or set RANCHER_STACK")
        service = found[0]
        self._listed[str(service["id"])] = service
        if stack_name is None:
            stack_name = self._stack_name(str(service.get(self._dialect.stack_field)))
        return self._ref(f"{stack_name}/{service['name']}", service)

    def _ref(self, name: str, service: JSON) -> TargetRef:
        """A service's ref, with its page in Rancher's UI at the configured address (`links.service_page`)."""
        project = str(service.get("accountId") or self._project.get("id"))
        self._homes[str(service["id"])] = f"{self._base.rsplit('/projects/', 1)[0]}/projects/{project}"
        page = service_page(self._base, project, service.get(self._dialect.stack_field), str(service["id"]))
        return TargetRef(name=name, id=str(service["id"]), url=str(service["links"]["self"]), ui_url=page)

    def _find_stack(self, name: str) -> JSON:
        stack = self._stack_named(name)
        if stack is None:
            existing = self._names(self._dialect.stacks, {})
            raise TargetMissing(f"stack {name!r} not found in environment {self._project.get('name')}; "
                                f"stacks there: {existing}")
        return stack

    def _stack_named(self, name: str) -> JSON | None:
        if name in self._stacks:
            return self._stacks[name]
        stacks = self._list(self._dialect.stacks, {"name": name}, what=f"Looking up stack {name}")
        stacks = [stack for stack in stacks if stack.get("state") not in REMOVED_STATES]
        if not stacks:
            return None
        self._stack_names[str(stacks[0]["id"])] = name
        self._stacks[name] = stacks[0]  # only a found one: a stack this run may create is looked up again
        return stacks[0]

    def _stack_name(self, stack_id: str, base: str | None = None) -> str:
        if stack_id not in self._stack_names:  # a stack of the environment at `base`, by default the run's
            url = f"{base or self._base}/{self._dialect.stacks}/{stack_id}"
            stack = self._session.get(url, what="Reading the stack")
            self._stack_names[stack_id] = str(stack.get("name"))
        return self._stack_names[stack_id]

    def _not_found_message(self, target: ServiceTarget) -> str:
        where = f"stack {target.stack!r}" if target.stack else f"environment {self._project.get('name')}"
        filters = {}
        if target.stack:
            filters[self._dialect.stack_field] = str(self._find_stack(target.stack)["id"])
        return f"service {target.name!r} not found in {where}; services there: {self._names('services', filters)}"

    def _names(self, collection: str, filters: dict[str, str]) -> str:
        # A message names a few: one page of one more than it shows is enough to know "...".
        page = self._session.get(f"{self._base}/{collection}", params={**filters, "limit": str(LISTED_NAMES + 1)},
                                 what=f"Listing {collection}")
        items = [item for item in page.get("data") or [] if isinstance(item, dict)]
        return listed(str(item.get("name")) for item in items if item.get("state") not in REMOVED_STATES)

    def _list(self, collection: str, filters: dict[str, str], *, what: str) -> list[JSON]:
        return self._session.get_all(f"{self._base}/{collection}", params=filters, what=what)

    # -- reading ---------------------------------------------------------------------------------

    def fetch(self, ref: TargetRef) -> Snapshot:
        listed = self._listed.pop(ref.id, None)
        if listed is not None:
            self._seen[ref.id] = listed
            return self._snapshot(listed, health=None)
        return self._snapshot(self._read(ref), health=None)

    def observe(self, ref: TargetRef) -> Snapshot:
        return self._counted(ref, *self._read_counted(ref))

    def watch(self, ref: TargetRef) -> Stream | None:
        """A view of the service kept by its environment's one subscription (`subscribe.CattleEvents`,
        in the service's own environment: a fleet pick may be elsewhere); None once a stream was lost."""
        return self._events.watch(self._homes.get(ref.id, self._base), ref, lambda: self._read_counted(ref),
                                  lambda service, instances: self._counted(ref, service, instances))

    def _counted(self, ref: TargetRef, service: JSON, instances: list[JSON]) -> Snapshot:
        """The snapshot of a service with its containers counted; the read that decides an action."""
        self._seen[ref.id] = service
        health = count_health(service, instances) if (service.get("links") or {}).get("instances") else None
        return self._snapshot(service, health=health)

    def _read_counted(self, ref: TargetRef) -> tuple[JSON, list[JSON]]:
        """The service and its containers, in one request where Rancher embeds them (`include`)."""
        service = self._session.get(ref.url, params={"include": "instances"}, what=f"Reading service {ref.name}")
        embedded = service.pop("instances", None)
        link = (service.get("links") or {}).get("instances")
        if isinstance(embedded, list) and len(embedded) < INCLUDE_LIMIT:
            instances = [instance for instance in embedded if isinstance(instance, dict)]
        elif link:
            # Every page: a service of more than 50 containers has more than 100 during an upgrade.
            instances = self._session.get_all(str(link), what=f"Reading the containers of {service.get('name')}")
        else:
            instances = []
        return service, instances

    def _read(self, ref: TargetRef) -> JSON:
        service = self._session.get(ref.url, what=f"Reading service {ref.name}")
        self._seen[ref.id] = service
        return service

    def _snapshot(self, service: JSON, *, health: Health | None) -> Snapshot:
        state = str(service.get("state"))
        transitioning = Transitioning.parse(service.get("transitioning"))
        message = service.get("transitioningMessage")
        message = str(message) if message else None
        actions = service.get("actions") or {}
        return Snapshot(
            state=state,
            phase=_phase(state, transitioning),
            images=service_images(service),
            status=ServiceStatus(state, transitioning, message, health),
            message=message,
            health=health,
            can_finish="finishupgrade" in actions,
            # Rancher offers rollback only while an upgrade is pending (upgrading, upgraded, canceled).
            can_roll_back="rollback" in actions,
            restores=rollback_images(service) if "rollback" in actions else (),
            labels=texts((service.get("launchConfig") or {}).get("labels")),
            raw=service,
        )

    # -- changing --------------------------------------------------------------------------------

    def plan(self, ref: TargetRef, snapshot: Snapshot, settings: Settings) -> Plan:
        kind = str(snapshot.raw.get("kind") or snapshot.raw.get("type") or "service")
        if kind in NO_CONTAINERS:
            raise RefusedError(f"{ref.name} is {NO_CONTAINERS[kind]} ({kind}): it runs no container, so it has no "
                               "image to upgrade; nothing was changed")
        strategy = Strategy(settings.batch_size, settings.batch_interval_seconds, settings.start_first)
        if settings.start_first and snapshot.raw.get("retainIp"):
            # Rancher refuses this combination with a 422 (jenkinsci/rancher-plugin#28); say so first.
            raise ConfigError("RANCHER_START_FIRST",
                              f"cannot be used for {ref.name}: the service has retainIp set")
        return plan_service_upgrade(snapshot.raw, target=ref.name, image=settings.image,
                                    sidekicks=settings.sidekicks, update_sidekicks=settings.update_sidekicks,
                                    force=settings.force, strategy=strategy, edits=settings.edits,
                                    record=settings.record.on(rancher_2=False), origin=settings.origin)

    def apply(self, ref: TargetRef, plan: Plan) -> None:
        if not isinstance(plan.request, ServiceUpgrade):
            raise TypeError(f"a Rancher 1.x service cannot apply {type(plan.request).__name__}")
        self._act(ref, "upgrade", plan.request.body())

    def finish(self, ref: TargetRef) -> None:
        self._act(ref, "finishupgrade", {})

    def rollback_to(self, ref: TargetRef, snapshot: Snapshot) -> Restore:
        # Rancher offers rollback only while an upgrade is pending (upgrading, upgraded, canceled).
        if not snapshot.can_roll_back:
            return Restore(nothing=f"{ref.name} is {snapshot.state}: there is no pending upgrade to roll back")
        return Restore(snapshot.restores)

    def rollback(self, ref: TargetRef) -> None:
        self._act(ref, "rollback", {})

    def next_steps(self, snapshot: Snapshot | None) -> str:
        # Each command named here is one whose action Rancher offers in that state (rancher-api.md
        # §2.3): finishupgrade only from `upgraded`; rollback from upgrading, upgraded, canceled-upgrade.
        if snapshot is None:
            return "check it with `rancher-deploy status`"
        failed = snapshot.judge(Goal.SETTLED)
        if failed.verdict is Verdict.FAILED and not failed.gone and not (snapshot.can_finish or snapshot.can_roll_back):
            # A process stuck with `transitioning: error` offers neither (rancher/rancher#7786).
            return "Rancher reports an error on it that needs a person: look at it in Rancher's UI"
        if snapshot.can_finish:
            return "finish it with `rancher-deploy finish` or restore it with `rancher-deploy rollback`"
        if snapshot.can_roll_back:
            return "restore it with `rancher-deploy rollback`"
        if snapshot.phase is Phase.BUSY:
            return f"Rancher is still working on it ({snapshot.state}): follow it with `rancher-deploy status`"
        if snapshot.phase is Phase.READY:
            return "upgrade it again with `rancher-deploy upgrade` and the image it should run"
        if snapshot.phase is Phase.GONE:
            return "it was removed from Rancher: there is nothing left to run on it"
        return "activate it in Rancher, then upgrade it again"

    # -- creating (RANCHER_CREATE) ----------------------------------------------------------------

    def plan_creation(self, target: Target, settings: Settings) -> Plan:
        if not isinstance(target, ServiceTarget) or target.stack is None or settings.image is None:
            # Settings refuses RANCHER_CREATE without an image or a stack before any request.
            raise ConfigError("RANCHER_CREATE", f"cannot create {target}: it needs an image and a stack")
        if settings.sidekicks:
            raise ConfigError("RANCHER_SIDEKICK", f"names sidekicks, but {target} does not exist and RANCHER_CREATE "
                                                  "makes the service's own container only; run without sidekicks "
                                                  "to create it")
        new_stack = self._stack_named(target.stack) is None
        cause = (change_cause(((target.name, str(settings.image)),), settings.origin)
                 if settings.record.on(rancher_2=False) else None)
        return plan_creation(Creation(target, "service", target.name, settings.image, settings.blueprint,
                                      new_parent=new_stack, cause=cause))

    def create(self, plan: Plan) -> TargetRef:
        creation = plan.request
        if not isinstance(creation, Creation):
            raise TypeError(f"a Rancher 1.x service cannot be created from {type(creation).__name__}")
        stack = self._stack_named(creation.parent)
        made = stack is None
        if stack is None:
            stack = self._make_stack(creation.parent)
        stack_id = str(stack["id"])
        if made:
            self._made_stacks[stack_id] = str(stack["links"]["self"])
        try:
            service = self._session.post(f"{self._base}/services",
                                         service_body(creation, stack_id, self._dialect.stack_field),
                                         what=f"Creating service {creation.name}")
        except (TransientRancherError, RancherAPIError) as error:
            # A refusal made nothing; a lost answer or a 5xx may hide a service Rancher made, which the
            # caller looks up (`create._send`): it is noted here as this run's, so that its removal takes
            # the new stack too. Otherwise the new stack goes again, so that "nothing was changed" holds.
            unanswered = not isinstance(error, RancherAPIError) or error.status >= 500
            found = self._list("services", {"name": creation.target.name, self._dialect.stack_field: stack_id},
                               what=f"Looking up service {creation.name}") if unanswered else []
            if found:
                self._made[str(found[0]["id"])] = stack_id
            elif made:
                self._remove_stack(self._made_stacks.pop(stack_id), creation.name)
            raise
        ref = self._ref(creation.name, service)
        self._made[ref.id] = stack_id
        return ref

    def _make_stack(self, name: str) -> JSON:
        """POST a stack, active once made (startOnCreate); a lost answer is looked up, not resent."""
        try:
            return self._session.post(f"{self._base}/{self._dialect.stacks}", {"name": name, "startOnCreate": True},
                                      what=f"Creating stack {name}")
        except TransientRancherError:
            stack = self._stack_named(name)
            if stack is None:
                raise
            return stack

    def remove(self, ref: TargetRef) -> None:
        self._session.delete(ref.url, what=f"Removing service {ref.name}")
        stack_id = self._made.pop(ref.id, None)
        if stack_id in self._made_stacks and stack_id not in self._made.values():
            self._remove_stack(self._made_stacks.pop(stack_id), ref.name)

    def _remove_stack(self, url: str, made_for: str) -> None:
        """Remove a stack this run created for `made_for`; one left behind is said, not raised: the
        service, which the run is about, is what its result names."""
        try:
            self._session.delete(url, what=f"Removing the stack created for {made_for}")
        except DeployError as error:
            self._warn(f"The stack created for {made_for} was left in Rancher ({error}); it holds nothing of this "
                       "run: remove it in Rancher's UI")

    def _act(self, ref: TargetRef, action: str, body: JSON) -> None:
        # The read that decided this action (the caller's, see `actions`) was the last one since any
        # action: nothing this run sent could have changed the service in between. Taken once, so a
        # second action (a resend) uses the read that decided it.
        service = self._seen.pop(ref.id, None) or self._read(ref)
        self._seen.pop(ref.id, None)
        url = (service.get("actions") or {}).get(action)
        if not url:
            raise RefusedError(f"Rancher does not offer {action} for {ref.name} in state {service.get('state')} (offered: "
                               f"{', '.join(sorted(service.get('actions') or {}))})", state=str(service.get("state")))
        with self._events.acting(ref, action, service) as answered:   # a watched service's view takes the answer
            answered.append(self._session.post(str(url), body, what=f"{action} of {ref.name}"))


def _containers(service: JSON) -> tuple[Container, ...]:
    """A service's containers as fleet mode weighs them: its own (none for a kind that runs no
    container), then each sidekick."""
    from rancher_deploy.fleet import PRIMARY, SIDEKICK, Container   # fleet mode's alone, as `survey`'s
    runs = str(service.get("kind") or service.get("type") or "service") not in NO_CONTAINERS
    return tuple(Container(name, image, SIDEKICK if index else PRIMARY)
                 for index, (name, image) in enumerate(service_images(service)) if index or runs)


def service_images(service: JSON) -> tuple[tuple[str, str], ...]:
    """(container, image) of the primary launch config (named as the service) and each sidekick."""
    pairs = [(str(service.get("name")), launch_image(service.get("launchConfig")))]
    for config in service.get("secondaryLaunchConfigs") or []:
        pairs.append((str(config.get("name")), launch_image(config)))
    return tuple(pairs)


def rollback_images(service: JSON) -> tuple[tuple[str, str], ...]:
    """(container, image) a rollback would restore: the pending upgrade's previous launch configs.

    Rancher keeps them in `upgrade.inServiceStrategy` (previousLaunchConfig and
    previousSecondaryLaunchConfigs) and its rollback copies them back (rancher-api.md §3.2, §3.5).
    """
    strategy = (service.get("upgrade") or {}).get("inServiceStrategy") or {}
    previous = strategy.get("previousLaunchConfig")
    if not previous:
        return ()
    pairs = [(str(service.get("name")), launch_image(previous))]
    for config in strategy.get("previousSecondaryLaunchConfigs") or []:
        pairs.append((str(config.get("name")), launch_image(config)))
    return tuple(pairs)


def _phase(state: str, transitioning: Transitioning) -> Phase:
    if state in REMOVED_STATES:
        return Phase.GONE
    if state in READY_STATES and transitioning is not Transitioning.YES:
        return Phase.READY
    if state in PENDING_STATES:
        return Phase.PENDING_FINISH
    if state in BUSY_STATES:
        return Phase.BUSY
    return Phase.BLOCKED


def connect(session: RancherSession, url: str, environment: str | None,
            warn: Callable[[str], None], *, server: str | None = None, fleet: bool = False) -> CattleBackend:
    """Find the 1.x API behind the URL as the user wrote it, and the environment to work in; for a
    `fleet` run with no environment named (in the URL or RANCHER_ENVIRONMENT), every one the key sees.

    `server` is the release a Rancher 1.x already named in its `X-Rancher-Version` header (while
    discovery asked which Rancher this is): it settles the API version without asking again.
    Raises NotCattle when no Rancher 1.x API answers there.
    """
    parts = urlsplit(url)
    match = _API_PATH.match(parts.path)
    prefix = match.group("prefix") if match else parts.path.rstrip("/")
    root = urlunsplit((parts.scheme, parts.netloc, prefix, "", ""))
    scoped_project = match.group("project") if match else None

    dialect = _discover(session, root, server, warn)
    api = f"{root}/{dialect.version}"
    if scoped_project is not None:
        project = _get_project(session, api, scoped_project, "CATTLE_URL")
        if environment and environment not in (project.get("id"), project.get("name")):
            raise ConfigError("RANCHER_ENVIRONMENT",
                              f"names {environment!r} but CATTLE_URL is scoped to environment "
                              f"{project.get('name')} ({project.get('id')})")
        return CattleBackend(session, project, f"{api}/projects/{project['id']}", dialect, warn)
    if fleet and not environment:
        listing = session.get_all(f"{api}/projects", what="Listing environments")
        every = [dict(project) for project in listing if project.get("state") not in REMOVED_STATES]
        if not every:
            raise TargetNotFound("this key sees no environment; check the key's permissions")
        return CattleBackend(session, every[0], f"{api}/projects/{every[0]['id']}", dialect, warn, every)
    project = _choose_project(session, api, environment)
    return CattleBackend(session, project, f"{api}/projects/{project['id']}", dialect, warn)


def api_version_of(server: str) -> str:
    """The API a Rancher 1.x of this release serves upgrades through: `v2-beta` from 1.2 on (Rancher's
    v1.2 API docs, rancher.com/docs/rancher/v1.2/en/api/v2-beta/, are the first with it), `v1` before;
    a release that does not read as `v1.<minor>` counts as current."""
    match = re.match(r"v?1\.(\d+)", server)
    return "v1" if match and int(match.group(1)) < 2 else V2_BETA.version


def _discover(session: RancherSession, root: str, server: str | None, warn: Callable[[str], None]) -> ApiDialect:
    """The API to use: `/v2-beta` where the release serves it (as `server` names it, else as one probe
    of that root finds: its API root, or cattle's header on a 404 from a release without it), else
    `/v1`, with a warning. NotCattle when no Rancher 1.x answered there."""
    if server is None:
        probe = session.probe(f"{root}/v2-beta", what="Connecting to Rancher")
        if is_version_root(probe.body):
            return V2_BETA
        if probe.cattle is None or api_version_of(probe.cattle) != V1.version:
            # No Rancher 1.x here, or one that serves /v2-beta elsewhere than where this URL leads.
            raise NotCattle(f"no Rancher 1.x API (/v2-beta or /v1) found at {root}; check CATTLE_URL")
    elif api_version_of(server) == V2_BETA.version:
        return V2_BETA
    warn("This Rancher serves only the /v1 API, which hides some launchConfig fields; "
         "upgrading through it may drop them (Rancher 1.2+ serves /v2-beta)")
    return V1


def answers(session: RancherSession, root: str) -> bool:
    """Whether a Rancher 1.x answers at `root`: its `/v2-beta` root, or cattle's header on that answer (one probe)."""
    probe = session.probe(f"{root}/v2-beta", what="Connecting to Rancher")
    return is_version_root(probe.body) or probe.cattle is not None


def is_version_root(body: JSON | None) -> bool:
    """Whether an answer is a 1.x API's own root (`/v2-beta`, `/v1`)."""
    return body is not None and body.get("type") == "apiVersion"


def _get_project(session: RancherSession, api: str, project_id: str, setting: str) -> JSON:
    try:
        return session.get(f"{api}/projects/{project_id}", what=f"Reading environment {project_id}")
    except (NotFound, PermissionDenied) as error:
        raise ConfigError(setting, f"environment {project_id} does not exist or this key may not use it "
                                   f"({error.code or error.status})") from error   # discovery reads the 404


def _choose_project(session: RancherSession, api: str, environment: str | None) -> JSON:
    if environment and _PROJECT_ID.match(environment):
        return _get_project(session, api, environment, "RANCHER_ENVIRONMENT")
    params = {"name": environment} if environment else {}
    listing = session.get_all(f"{api}/projects", params=params, what="Listing environments")
    projects = [p for p in listing if p.get("state") not in REMOVED_STATES]
    if environment:
        if len(projects) == 1:
            return dict(projects[0])
        everything = session.get_all(f"{api}/projects", what="Listing environments")
        names = ", ".join(sorted(str(p.get("name")) for p in everything)) or "none"
        if not projects:
            raise TargetNotFound(f"environment {environment!r} not found; this key sees: {names}")
        raise ConfigError("RANCHER_ENVIRONMENT", f"{environment!r} names several environments; use its id")
    if len(projects) == 1:
        return dict(projects[0])
    if not projects:
        raise TargetNotFound("this key sees no environment; check the key's permissions")
    names = ", ".join(f"{p.get('name')} ({p.get('id')})" for p in projects)
    raise ConfigError("RANCHER_ENVIRONMENT",
                      f"is required: this account key sees several environments: {names}")

