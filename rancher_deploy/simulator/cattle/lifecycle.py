"""How service processes run: planning each process as steps, and settling them to a simulated time.

Rancher's upgrade loop (UpgradeManagerImpl, rancher-api.md §3.3) works in batches of deployment
units: stop the old containers, start the replacements, wait for them to be healthy, sleep
``intervalMillis``, next batch. Planning turns that into a flat list of ``Step``s at the moment the
action is accepted; settling walks the list. A step is complete when its containers' timers say so,
so the same simulated time always yields the same state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rancher_deploy.simulator.cattle.models.instance import Instance, InstanceState
from rancher_deploy.simulator.cattle.models.process import (
    NewInstance,
    Process,
    Step,
    StepKind,
    Unit,
    done_state,
    transitioning_state,
)
from rancher_deploy.simulator.cattle.models.service import (
    Service,
    has_health_check,
    version_of,
)
from rancher_deploy.simulator.clock import Timing


@dataclass(frozen=True)
class Context:
    """What settling a service needs from the outside world."""

    timing: Timing
    stack_name: str
    next_instance_num: Callable[[], int]
    unhealthy: Callable[[Instance], bool]
    hung: bool = False
    # A container of this imageUuid exits as soon as it starts (the failing_image fault).
    crashing: Callable[[str], bool] = lambda image_uuid: False


# --------------------------------------------------------------------------------------------------
# Starting processes


def start_process(
    svc: Service, action: str, at: float, steps: list[Step], then: str | None = None
) -> Process:
    """Move the service into the action's transitioning state and attach the planned steps."""
    trans = transitioning_state(action, svc.state)
    svc.state = trans
    svc.transitioning_error = None
    svc.transitioning_message = None
    svc.process = Process(
        action=action,
        transitioning=trans,
        done=done_state(action, trans),
        steps=steps,
        step_started=at,
        then=then,
    )
    return svc.process


def _batches(items: list[Unit], size: int) -> list[list[Unit]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _new(svc: Service, ctx: Context, unit: Unit, name: str | None) -> NewInstance:
    return NewInstance(ctx.next_instance_num(), unit.index, unit.uuid, name)


def ensure_units(svc: Service) -> None:
    """Grow the unit list to the scale (scale-down is handled by plan_scale)."""
    while len(svc.units) < svc.scale:
        next_index = max((u.index for u in svc.units), default=0) + 1
        svc.units.append(Unit(next_index))


def plan_activate(svc: Service, ctx: Context) -> list[Step]:
    """Start every unit's current containers, creating the missing ones, and wait for health."""
    ensure_units(svc)
    starts: list[str] = []
    creates: list[NewInstance] = []
    for unit in svc.units[: svc.scale]:
        for name in svc.config_names():
            inst = svc.latest(unit, name)
            if inst is not None and inst.version == version_of(svc.config(name)):
                starts.append(inst.id)
            else:
                creates.append(_new(svc, ctx, unit, name))
    t = ctx.timing
    waits = tuple(starts) + tuple(f"1i{c.num}" for c in creates)
    return [
        Step(StepKind.START, tuple(starts), tuple(creates), t.container_start),
        Step(StepKind.AWAIT_HEALTHY, waits),
    ]


def plan_deactivate(svc: Service, ctx: Context) -> list[Step]:
    return [Step(StepKind.STOP, tuple(i.id for i in svc.live()), seconds=ctx.timing.container_stop)]


def plan_remove(svc: Service, ctx: Context) -> list[Step]:
    ids = tuple(i.id for i in svc.live())
    return [
        Step(StepKind.STOP, ids, seconds=ctx.timing.container_stop),
        Step(StepKind.REMOVE, ids, seconds=ctx.timing.finish_cleanup),
    ]


def plan_scale(svc: Service, ctx: Context, running: bool) -> list[Step]:
    """An update that changed the scale: add units (started if the service runs) or drop the extra."""
    steps: list[Step] = []
    extra = [u for u in svc.units if u.index > 0][svc.scale :]
    if extra:
        gone = tuple(i.id for u in extra for i in svc.live() if i.unit_uuid == u.uuid)
        svc.units = svc.units[: svc.scale]
        steps += [
            Step(StepKind.STOP, gone, seconds=ctx.timing.container_stop),
            Step(StepKind.REMOVE, gone, seconds=ctx.timing.finish_cleanup),
        ]
    before = len(svc.units)
    ensure_units(svc)
    if running and len(svc.units) > before:
        creates = tuple(_new(svc, ctx, u, n) for u in svc.units[before:] for n in svc.config_names())
        steps += [
            Step(StepKind.START, (), creates, ctx.timing.container_start),
            Step(StepKind.AWAIT_HEALTHY, tuple(f"1i{c.num}" for c in creates)),
        ]
    return steps or [Step(StepKind.SLEEP, seconds=ctx.timing.registering)]


def plan_upgrade(
    svc: Service,
    ctx: Context,
    names: list[str | None],
    batch_size: int,
    interval_seconds: float,
    start_first: bool,
) -> list[Step]:
    """The in-service upgrade loop over the units whose named configs are not at the new version."""
    t = ctx.timing
    ensure_units(svc)
    pending = [
        u
        for u in svc.units[: svc.scale]
        if any(_outdated(svc, u, n) for n in names)
    ]
    steps: list[Step] = []
    for n, batch in enumerate(_batches(pending, batch_size)):
        if n:
            steps.append(Step(StepKind.SLEEP, seconds=interval_seconds))
        olds: list[str] = []
        creates: list[NewInstance] = []
        for unit in batch:
            for name in names:
                if not _outdated(svc, unit, name):
                    continue
                old = svc.latest(unit, name)
                if old is not None:
                    olds.append(old.id)
                creates.append(_new(svc, ctx, unit, name))
        new_ids = tuple(f"1i{c.num}" for c in creates)
        stop = Step(StepKind.STOP, tuple(olds), seconds=t.container_stop)
        start = Step(StepKind.START, (), tuple(creates), t.container_start)
        wait = Step(StepKind.AWAIT_HEALTHY, new_ids)
        steps += [start, wait, stop] if start_first else [stop, start, wait]
    return steps


def _outdated(svc: Service, unit: Unit, name: str | None) -> bool:
    inst = svc.latest(unit, name)
    return inst is None or inst.version != version_of(svc.config(name))


def plan_rollback(svc: Service, ctx: Context, batch_size: int, interval_seconds: float) -> list[Step]:
    """Reverse loop without health waits: restart the old containers, stop the new, then reconcile.

    Called after the launch configs were restored, so "current version" is the previous one.
    Cattle's ServiceRollback runs UpgradeManagerImpl.rollback (the upgrade loop towards the restored
    version: each unit that has a new container gets its old ones marked managed again, which the
    reconcile starts, same ids) and then finishUpgrade(service, true): cleanupUpgradedInstances
    stops and removes every container still marked for the upgrade, and deploymentMgr.activate
    reconciles the service to its scale (rancher/cattle, code/iaas/service-discovery/server/.../
    servicediscovery/process/ServiceRollback.java, upgrade/impl/UpgradeManagerImpl.java). A unit
    whose old container the upgrade had begun stopping before any new one was made is never marked
    back (ServiceExposeMapDaoImpl.getInstancesToUpgrade lists managed containers only): that old
    container goes with the cleanup, and the reconcile makes the unit a new one from the restored
    config. So a rollback never leaves the service below its scale.
    """
    t = ctx.timing
    steps: list[Step] = []
    all_new: list[str] = []
    orphans: list[str] = []
    refills: list[NewInstance] = []
    for n, batch in enumerate(_batches(list(svc.units), batch_size)):
        starts: list[str] = []
        creates: list[NewInstance] = []
        stops: list[str] = []
        for unit in batch:
            for name in svc.config_names():
                want = version_of(svc.config(name))
                mine = [i for i in svc.live() if i.unit_uuid == unit.uuid and i.config_name == name]
                newer = [i.id for i in mine if i.version != want]
                if not newer:
                    stopped = mine[-1] if mine else None
                    if stopped is not None and unit in svc.units[: svc.scale] and not stopped.start_once and \
                            stopped.state in (InstanceState.STOPPING, InstanceState.STOPPED):
                        orphans.append(stopped.id)
                        refills.append(_new(svc, ctx, unit, name))
                    continue
                older = [i for i in mine if i.version == want]
                if older:
                    starts.append(older[-1].id)
                else:
                    creates.append(_new(svc, ctx, unit, name))
                stops += newer
        if not (starts or creates or stops):
            continue
        if steps:
            steps.append(Step(StepKind.SLEEP, seconds=interval_seconds))
        steps += [
            Step(StepKind.START, tuple(starts), tuple(creates), t.container_start),
            Step(StepKind.STOP, tuple(stops), seconds=t.container_stop),
        ]
        all_new += stops
    if orphans:
        steps += [Step(StepKind.CLEANUP, tuple(orphans)), Step(StepKind.START, (), tuple(refills), t.container_start)]
    if all_new:
        steps.append(Step(StepKind.REMOVE, tuple(all_new), seconds=t.finish_cleanup))
    return steps or [Step(StepKind.SLEEP, seconds=t.cancel_tick)]


def plan_finish(svc: Service, ctx: Context) -> list[Step]:
    """Schedule the removal of the containers the upgrade replaced, reconcile, and be done.

    Cattle 1.6 does not wait for the old containers to go: UpgradeManagerImpl.finishUpgrade calls
    cleanupUpgradedInstances, which only schedules each one's remove (a stop chained to remove for
    one restarted by hand) with scheduleProcessInstanceAsync, then reconciles (deploymentMgr.activate)
    and the service goes `active` while they are still `removing` (rancher/cattle v0.183.x,
    code/iaas/service-discovery/.../servicediscovery/upgrade/impl/UpgradeManagerImpl.java, package
    io.cattle.platform.servicediscovery.upgrade.impl; older cattle waited for `removed` with
    resourceMntr.waitFor).
    """
    old = tuple(i.id for i in svc.live() if i.version != version_of(svc.config(i.config_name)))
    return [
        Step(StepKind.CLEANUP, old),
        Step(StepKind.SLEEP, seconds=ctx.timing.finish_reconcile),
    ]


def plan_restart(svc: Service, ctx: Context, batch_size: int, interval_seconds: float) -> list[Step]:
    t = ctx.timing
    steps: list[Step] = []
    for n, batch in enumerate(_batches(list(svc.units), batch_size)):
        ids = tuple(i.id for u in batch for i in svc.live() if i.unit_uuid == u.uuid)
        if n:
            steps.append(Step(StepKind.SLEEP, seconds=interval_seconds))
        steps += [
            Step(StepKind.STOP, ids, seconds=t.container_stop),
            Step(StepKind.START, ids, seconds=t.container_start),
        ]
    return steps


def plan_cancel(ctx: Context) -> list[Step]:
    """There is no cancel handler: the running loop notices within its 1 s tick and stops (§3.6)."""
    return [Step(StepKind.SLEEP, seconds=ctx.timing.cancel_tick)]


def plan_create(ctx: Context) -> list[Step]:
    return [Step(StepKind.SLEEP, seconds=ctx.timing.registering)]


# --------------------------------------------------------------------------------------------------
# Settling


def _begin(svc: Service, step: Step, at: float, ctx: Context) -> None:
    t = ctx.timing
    if step.kind is StepKind.START:
        for inst_id in step.instance_ids:
            inst = svc.instance(inst_id)
            if inst is not None:
                inst.begin(InstanceState.RUNNING, at, step.seconds, t)
        for spec in step.creates:
            _create_instance(svc, spec, at, step.seconds, ctx)
    elif step.kind is StepKind.STOP:
        for inst_id in step.instance_ids:
            inst = svc.instance(inst_id)
            if inst is not None:
                inst.begin(InstanceState.STOPPED, at, step.seconds, t)
    elif step.kind is StepKind.REMOVE:
        for inst_id in step.instance_ids:
            inst = svc.instance(inst_id)
            if inst is not None:
                inst.begin(InstanceState.REMOVED, at, step.seconds, t)
    elif step.kind is StepKind.CLEANUP:
        for inst_id in step.instance_ids:
            inst = svc.instance(inst_id)
            if inst is not None:
                inst.remove(at, t)


def _create_instance(svc: Service, spec: NewInstance, at: float, seconds: float, ctx: Context) -> Instance:
    config = svc.config(spec.config_name) or {}
    base = f"{ctx.stack_name}-{svc.name}"
    name = f"{base}-{spec.config_name}-{spec.unit_index}" if spec.config_name else f"{base}-{spec.unit_index}"
    checked = has_health_check(config)
    inst = Instance(
        num=spec.num,
        service_id=svc.id,
        stack_id=svc.stack_id,
        project_id=svc.project_id,
        unit_uuid=spec.unit_uuid,
        unit_index=spec.unit_index,
        config_name=spec.config_name,
        name=name,
        image_uuid=str(config.get("imageUuid", "")),
        version=version_of(config) or "0",
        health_checked=checked,
        created=at,
        state=InstanceState.STARTING,
        state_until=at + seconds,
        healthy_at=at + seconds + ctx.timing.health_check if checked else None,
        start_count=1,
        start_once=str((config.get("labels") or {}).get("io.rancher.container.start_once", "")).lower() == "true",
        crashes=ctx.crashing(str(config.get("imageUuid", ""))),
    )
    svc.instances.append(inst)
    return inst


def create_running_instances(svc: Service, ctx: Context, at: float) -> None:
    """Seed helper: the service's units already running (and healthy) at ``at``."""
    ensure_units(svc)
    for unit in svc.units[: svc.scale]:
        for name in svc.config_names():
            inst = _create_instance(svc, NewInstance(ctx.next_instance_num(), unit.index, unit.uuid, name), at, 0.0, ctx)
            inst.state = InstanceState.STOPPED if inst.start_once else InstanceState.RUNNING
            inst.healthy_at = at if inst.health_checked else None


def create_stopped_instances(svc: Service, ctx: Context, at: float) -> None:
    create_running_instances(svc, ctx, at)
    for inst in svc.instances:
        inst.state = InstanceState.STOPPED


def _waited(svc: Service, step: Step, proc: Process) -> list[Instance]:
    """The containers a step waits on, each followed to the one that replaced it, if any."""
    found: list[Instance] = []
    for inst_id in list(step.instance_ids) + [f"1i{c.num}" for c in step.creates]:
        while inst_id in proc.replaced:
            inst_id = proc.replaced[inst_id]
        inst = svc.instance(inst_id)
        if inst is not None:
            found.append(inst)
    return found


def _step_done_at(svc: Service, step: Step, proc: Process, ctx: Context) -> float:
    if step.kind is StepKind.SLEEP:
        return proc.step_started + step.seconds
    if step.kind is StepKind.CLEANUP:
        return proc.step_started  # scheduled, not waited for: the containers go on their own
    insts = _waited(svc, step, proc)
    if step.kind is StepKind.AWAIT_HEALTHY:
        ready = [i.ready_at(ctx.unhealthy(i)) for i in insts]
    else:
        ready = [i.done_at() for i in insts]
    return max([proc.step_started] + ready)


def _initializing_timeout(svc: Service, inst: Instance) -> float | None:
    """Seconds a container may stay initializing before HealthcheckCleanupMonitorImpl removes it.

    Only with a health check whose strategy is not ``none`` and that sets ``initializingTimeout``
    (milliseconds); cattle's needToRemove measures it from the last health update, which for a
    container that never turned healthy is the moment it started running.
    """
    check = (svc.config(inst.config_name) or {}).get("healthCheck")
    if not isinstance(check, dict) or check.get("strategy") == "none":
        return None
    timeout = check.get("initializingTimeout")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        return None
    return float(timeout) / 1000.0


def _recreate_stuck(svc: Service, step: Step, proc: Process, now: float, ctx: Context) -> None:
    """Replay, up to ``now``, the health-check cleanup of containers stuck initializing.

    HealthcheckCleanupMonitorImpl removes a container that is still initializing after its
    ``initializingTimeout``; the retried upgrade (process retry, ``Timing.retry_delay`` later)
    reconciles the service, which creates a new container in the same deployment unit: the wait
    then goes on with a new container id (rancher-api.md §2.2).
    """
    t = ctx.timing
    while True:
        events: list[tuple[float, Instance]] = []
        for inst in _waited(svc, step, proc):
            inst.settle(now)  # timers say when each change happened; settling to now loses none
            timeout = _initializing_timeout(svc, inst)
            if inst.state is InstanceState.RUNNING and timeout is not None and inst.ready_at(ctx.unhealthy(inst)) > now:
                events.append((inst.state_until + timeout, inst))
            elif inst.state is InstanceState.REMOVED and inst.removed_at is not None:
                events.append((inst.removed_at + t.retry_delay, inst))
        due = sorted((e for e in events if e[0] <= now), key=lambda e: (e[0], e[1].num))
        if not due:
            return
        at, inst = due[0]
        if inst.state is InstanceState.RUNNING:
            inst.begin(InstanceState.REMOVED, at, t.container_stop, t)
            inst.settle(now)
            continue
        spec = NewInstance(ctx.next_instance_num(), inst.unit_index, inst.unit_uuid, inst.config_name)
        created = _create_instance(svc, spec, at, t.container_start, ctx)
        proc.replaced[inst.id] = created.id
        created.settle(now)


def _waiting_message(svc: Service, step: Step, proc: Process, now: float, ctx: Context) -> str | None:
    """What the service says once a health wait has timed out: not an error (ActivityLogImpl)."""
    if now < proc.step_started + ctx.timing.health_wait_limit:
        return None
    # UpgradeManagerImpl.waitForHealthyState waits on one container at a time, so the timeout
    # (ResourceMonitorImpl: "Waiting: healthy [container:1i<n>]") names the first not healthy.
    for inst in _waited(svc, step, proc):
        if inst.ready_at(ctx.unhealthy(inst)) > now:
            return f"Waiting: healthy [container:{inst.id}]"
    return None


def _crashed(svc: Service, step: Step, proc: Process) -> Instance | None:
    """A container this step started that exited instead of running (waitForStartImpl fails)."""
    if step.kind not in (StepKind.START, StepKind.AWAIT_HEALTHY):
        return None
    for inst in _waited(svc, step, proc):
        if inst.crashes and inst.state is InstanceState.STOPPED:
            return inst
    return None


def settle(svc: Service, now: float, ctx: Context) -> None:
    """Run the service's process forward to ``now`` (a no-op while the service is hung)."""
    if ctx.hung:
        return
    while svc.process is not None and svc.process.failed is None:
        proc = svc.process
        if proc.index >= len(proc.steps):
            _finish(svc, proc, ctx)
            continue
        step = proc.steps[proc.index]
        if not proc.step_begun:
            _begin(svc, step, proc.step_started, ctx)
            proc.step_begun = True
        if step.kind is StepKind.AWAIT_HEALTHY:
            _recreate_stuck(svc, step, proc, now, ctx)
        done = _step_done_at(svc, step, proc, ctx)
        if done > now:
            for inst in _waited(svc, step, proc):
                inst.settle(now)
            crashed = _crashed(svc, step, proc)
            if crashed is not None:
                # DefaultDeploymentUnitInstance.waitForStartImpl throws an InstanceException, which
                # ActivityLogImpl records as failed: the one case that sets transitioning "error".
                proc.failed = ("Container should have been running but is in stopped state. "
                               "Check logs for more information.")
                svc.transitioning_error = proc.failed
                break
            if step.kind is StepKind.AWAIT_HEALTHY:
                svc.transitioning_message = _waiting_message(svc, step, proc, now, ctx)
            break
        for inst in svc.instances:
            inst.settle(done)
        svc.transitioning_message = None
        proc.index += 1
        proc.step_started = done
        proc.step_begun = False
    for inst in svc.instances:
        inst.settle(now)


def _finish(svc: Service, proc: Process, ctx: Context) -> None:
    at = proc.step_started
    svc.state = proc.done
    svc.process = None
    svc.transitioning_error = None
    svc.transitioning_message = None
    if svc.state == "removed":
        svc.removed_at = at
    if proc.then == "activate" and svc.state == "inactive":
        start_process(svc, "activate", at, plan_activate(svc, ctx))
