"""The 1.x store's core: ids, keys and who is asking, simulated time, projects; what every family builds on."""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass

from rancher_deploy.simulator.cattle import lifecycle
from rancher_deploy.simulator.cattle.errors import forbidden, not_found
from rancher_deploy.simulator.cattle.models.instance import Instance
from rancher_deploy.simulator.cattle.models.project import Project
from rancher_deploy.simulator.cattle.models.service import Service
from rancher_deploy.simulator.cattle.models.stack import Stack
from rancher_deploy.simulator.clock import Timeline, Timing
from rancher_deploy.simulator.faults import Faults

DEFAULT_PROJECT_ID = "1a5"  # a fresh 1.x install's "Default" environment (§1.1)
ADMIN_ACCOUNT_ID = "1a1"
FIRST_NEW_PROJECT = 7

_ID = re.compile(r"^1([a-z]+)(\d+)$")


def parse_id(text: str) -> int | None:
    """Cattle's parseId: the letters after the leading 1 do not matter, the number does (§1.1)."""
    match = _ID.match(text)
    return int(match.group(2)) if match else None


@dataclass(frozen=True)
class ApiKey:
    access: str
    secret: str
    project_id: str | None  # None: an account (admin) key that sees every project


@dataclass(frozen=True)
class Principal:
    """Who is asking: the key, and the account the key belongs to."""

    key: ApiKey

    @property
    def account_id(self) -> str:
        return self.key.project_id or ADMIN_ACCOUNT_ID

    @property
    def is_environment_key(self) -> bool:
        return self.key.project_id is not None


class Backend(Timeline):
    """All 1.x state, guarded by one re-entrant lock; the per-family operations extend it."""

    def __init__(self, access_key: str, secret_key: str, timing: Timing, faults: Faults) -> None:
        self.lock = threading.RLock()
        self.timing = timing
        self.faults = faults
        # When this "cattle" started (time.monotonic()): the subscribe streams publish on the beat of
        # a task run from then on (cattle/subscribe.py, `next_beat`).
        self.booted = time.monotonic()
        self._admin = ApiKey(access_key, secret_key, None)
        # What changed, for the subscribe streams (cattle/subscribe.py), so that they render only that:
        # the numbers of the services touched (a write, a seed, or `settle` advancing one), in order.
        # A reader keeps its position in the log; one behind `_log_start` or `_everything_at` (a reset,
        # a fault that changes how resting containers show) looks at every service once instead.
        self._log: list[int] = []
        self._log_start = 0
        self._everything_at = 0
        self._settled_to = 0.0
        # Services and containers rendered (cattle/handlers.py), counted so that tests can hold a
        # request or a stream's look to what it must render, not to how long it took.
        self.rendered = 0
        self.reset()

    def reset(self) -> None:
        """Back to a fresh install: only the Default environment and the account key."""
        with self.lock:
            self.touch_everything()
            self.restart_clock()
            self._settled_to = 0.0
            self.projects: dict[str, Project] = {
                DEFAULT_PROJECT_ID: Project(DEFAULT_PROJECT_ID, "Default", 0.0, uuid="adminProject")
            }
            self.keys: dict[str, ApiKey] = {self._admin.access: self._admin}
            self.stacks: dict[int, Stack] = {}
            self.services: dict[int, Service] = {}
            self._next_project = FIRST_NEW_PROJECT
            self._next_stack = 1
            self._next_service = 1
            self._next_instance = 1

    # ---- time ----------------------------------------------------------------------------------

    def settle(self) -> float:
        """Advance every stack and service to the current simulated time; returns that time.

        Each service this may change is logged as touched (`touch`): one that moves (a process, a
        container starting, stopping or being removed), and one whose container's health check
        passed since the last settle (time alone turns it `healthy`). That is the only state time
        changes, so a stream that renders what the log names misses nothing."""
        with self.lock:
            now = self.clock.now()
            since, self._settled_to = self._settled_to, max(self._settled_to, now)
            for stack in self.stacks.values():
                stack.settle(now)
            for svc in self.services.values():
                # Most services rest: skip them without building a context (at 10,000 services
                # that was most of every request's time).
                if svc.process is not None or any(inst.moving for inst in svc.instances):
                    self.touch(svc)
                    lifecycle.settle(svc, now, self.context(svc))
                elif any(inst.healthy_at is not None and since < inst.healthy_at <= now for inst in svc.instances):
                    self.touch(svc)
            return now

    # ---- what changed (for the subscribe streams) ----------------------------------------------

    LOG_KEPT = 100_000   # entries kept; a reader further behind looks at everything once

    def touch(self, svc: Service) -> None:
        """Log that ``svc`` (or one of its containers) may show otherwise now. Callers hold ``lock``."""
        self._log.append(svc.num)
        if len(self._log) > self.LOG_KEPT:
            dropped = len(self._log) - self.LOG_KEPT // 2
            del self._log[:dropped]
            self._log_start += dropped

    def touch_stack(self, stack_id: str) -> None:
        """Log every service of a stack (its containers carry the stack's name in their labels)."""
        for svc in self.services.values():
            if svc.stack_id == stack_id:
                self.touch(svc)

    def touch_everything(self) -> None:
        """Log that any service may show otherwise (a reset): a reader that has read the log up to
        here (its position at most the entry this adds) looks at every service once."""
        self._log.append(-1)   # no service has this number: it only moves the log's end past every reader
        self._everything_at = self.changes_logged()

    def changes_logged(self) -> int:
        """The log's end: a reader's position when it has read everything so far."""
        return self._log_start + len(self._log)

    def touched_since(self, position: int) -> set[int] | None:
        """The numbers of the services touched since ``position`` (a `changes_logged` value), or None
        when the reader must look at every service (a reset since, or the log no longer reaches back)."""
        if position < self._everything_at or position < self._log_start:
            return None
        return set(self._log[position - self._log_start:])

    def context(self, svc: Service) -> lifecycle.Context:
        stack = self.stacks.get(int(svc.stack_id[3:]))
        return lifecycle.Context(
            timing=self.timing,
            stack_name=stack.name if stack else "stack",
            next_instance_num=self._take_instance_num,
            unhealthy=self.unhealthy,
            hung=self.faults.is_hung(svc.id),
            crashing=self.faults.is_failing,
        )

    def unhealthy(self, inst: Instance) -> bool:
        return self.faults.is_unhealthy(inst.image_uuid)

    def _take_instance_num(self) -> int:
        num = self._next_instance
        self._next_instance += 1
        return num

    # ---- auth and scope ------------------------------------------------------------------------

    def authenticate(self, access: str | None, secret: str | None) -> Principal | None:
        key = self.keys.get(access or "")
        if key is None or key.secret != secret:
            return None
        return Principal(key)

    def project_for(self, who: Principal, requested: str | None) -> str:
        """The project a request acts on; 403 when the key may not see the one asked for (§1.2)."""
        if requested is None:
            return who.key.project_id or DEFAULT_PROJECT_ID
        if requested not in self.projects:
            raise forbidden()
        if who.key.project_id is not None and who.key.project_id != requested:
            raise forbidden()
        return requested

    def visible_projects(self, who: Principal) -> list[Project]:
        return [p for p in self.projects.values() if who.key.project_id in (None, p.id)]

    def get_project(self, who: Principal, project_id: str) -> Project:
        # The project resource itself is not a sub-context: invisible projects are simply not found.
        for project in self.visible_projects(who):
            if project.id == project_id:
                return project
        raise not_found()

    # ---- seeding (facade and control API) ------------------------------------------------------

    def add_project(self, name: str, *, num: int | None = None) -> str:
        with self.lock:
            num = num or self._next_project
            pid = f"1a{num}"
            self._next_project = max(self._next_project, num + 1)
            self.projects[pid] = Project(pid, name, self.now())
            return pid

    def add_key(self, project_id: str | None, access: str | None = None, secret: str | None = None) -> ApiKey:
        with self.lock:
            if project_id is not None and project_id not in self.projects:
                raise KeyError(f"no project {project_id}")
            key = ApiKey(
                access or "ENV" + uuid.uuid4().hex[:16].upper(),
                secret or uuid.uuid4().hex + uuid.uuid4().hex[:8],
                project_id,
            )
            self.keys[key.access] = key
            return key
