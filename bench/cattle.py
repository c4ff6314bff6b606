"""The Rancher 1.6 scenarios: one upgrade against an ideal client, lookup at scale, several services.

Both tools run against the same simulator, one after the other, in alternating order from round
to round (ours first, then the peer first, ...) so that neither always runs on a warmer machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bench import ideal, peer, procs, tally
from bench.context import ACCESS, REPOSITORY, SECRET, Tools, say
from rancher_deploy.simulator import Simulator, Timing
from rancher_deploy.simulator.cattle.subscribe import next_beat, publish_seconds

TOOLS = ("rancher-deploy", "rancher-gitlab-deploy")


def alternate(round_number: int) -> tuple[str, str]:
    return TOOLS if round_number % 2 == 0 else (TOOLS[1], TOOLS[0])


def seed_services(sim: Simulator, stack: str, count: int, *, name: str = "s{n}", scale: int = 1) -> tuple[str, list[str]]:
    """Add ``count`` services already running ``REPOSITORY:1`` to the stack named ``stack`` (made when
    there is none), named after ``name`` (``{n}`` counts from 1), after any it holds: through the
    simulator's bulk seed, which settles once for all of them (one by one, each seed settles every
    service: minutes for 10,000). Answers the stack's id and the services' ids in order."""
    made = sim.seed_bulk({"services": count, "launchConfig": {"imageUuid": f"docker:{REPOSITORY}:1"},
                          "scale": scale, "names": {"service": name, "stack": stack}})
    return str(made["stacks"][0]), [str(service) for service in made["services"]]


def ours_environment(tools: Tools, sim: Simulator, services: str, image: str, **settings: str) -> dict[str, str]:
    """rancher-deploy's settings for a 1.6 upgrade, as a CI job sets them: variables only."""
    env = procs.base_environment(tools.scratch)
    env.update(CATTLE_URL=sim.url, CATTLE_ACCESS_KEY=ACCESS, CATTLE_SECRET_KEY=SECRET,
               RANCHER_SERVICE=services, RANCHER_IMAGE=image, **settings)
    return env


def run_tool(tool: str, tools: Tools, sim: Simulator, service: str, image: str, batch_interval: int,
             **settings: str) -> procs.Finished:
    """One upgrade of ``shop/<service>`` by one tool, as a whole process."""
    if tool == "rancher-deploy":
        env = ours_environment(tools, sim, f"shop/{service}", image,
                               RANCHER_BATCH_INTERVAL=str(batch_interval), **settings)
        return procs.run([str(tools.ours)], env, tools.scratch)
    argv = peer.upgrade_argv(tools.peer, sim.url, ACCESS, SECRET, "shop", service, image, batch_interval)
    return procs.run(argv, procs.base_environment(tools.scratch), tools.scratch)


# --------------------------------------------------------------------------------------------------
# One upgrade, against the ideal client


@dataclass(frozen=True)
class UpgradeRun(ideal.AgainstIdeal):
    """One tool's upgrade of one scale-2 service, next to the ideal client's upgrade of its twin.

    ``convergence``: the ideal client's seconds from the upgrade accepted to ``active`` (acting at
    once on ``upgraded``). The watcher splits the time added: ``before`` (spawn to the service seen
    ``upgrading``: start-up, lookup, reads), ``noticing_upgraded`` (``upgraded`` seen to
    ``finishing-upgrade`` seen), ``noticing_active`` (``active`` seen to exit); each +-10 ms.
    ``publication``: of ``noticing_upgraded``, the wait from ``upgraded`` to cattle's next publication,
    which no client riding the stream notices sooner (+-20 ms: the watcher's look and the stream's;
    None for a tool that polls, and for runs recorded before it was measured).
    ``waiting_requests``: the requests after the upgrade action.
    """

    before: float | None
    noticing_upgraded: float | None
    noticing_active: float | None
    publication: float | None = None


def _split(watch: ideal.Watcher[str], finished: procs.Finished) -> tuple[float | None, float | None, float | None]:
    accepted = watch.first("upgrading", after=finished.started)
    upgraded = watch.first("upgraded", after=accepted) if accepted else None
    finishing = watch.first("finishing-upgrade", after=upgraded) if upgraded else None
    active = watch.first("active", after=finishing) if finishing else None
    return (accepted - finished.started if accepted else None,
            finishing - upgraded if finishing and upgraded else None,
            finished.ended - active if active else None)


def place_beat(sim: Simulator, number: int, rounds: int) -> float:
    """Put cattle's publication beat, for round ``number`` (from 0) of ``rounds``, at the middle of
    that round's slice of a period from now (just before the tool's spawn), so that the rounds sample
    a streamed wait's delay evenly, as clients meet cattle's beat wherever it falls (its task has run
    since cattle started; `Simulator.publish_beat_at`). Left to the simulator's own beat, every round
    would meet it at the point its timing after the simulator's start gives. Returns the beat placed
    (`time.monotonic()` seconds), which `publication_wait` counts from."""
    beat = time.monotonic() + (number + 0.5) / rounds * publish_seconds(sim.timing)
    sim.publish_beat_at(beat)
    return beat


def publication_wait(upgraded: float | None, beat: float, period: float) -> float | None:
    """Seconds from ``upgraded`` (when the service turned so, `time.monotonic()`) to the first of
    cattle's publications after it, on the beat placed at ``beat`` every ``period`` seconds: the
    part of noticing ``upgraded`` that is cattle's once-a-second publication rather than the tool's
    (docs/simulator.md, "Cattle's subscribe")."""
    return None if upgraded is None else next_beat(beat, period, upgraded) - upgraded


def upgrade_once(tool: str, tools: Tools, sim: Simulator, web: str, twin: str, batch_interval: int,
                 beat: float) -> UpgradeRun:
    image = tools.next_image()
    http = ideal.session(auth=(ACCESS, SECRET))
    twin_url = f"{sim.url}/v2-beta/projects/{sim.default_project_id}/services/{twin}"
    sim.reset_log()
    with ideal.Watcher(lambda: str(sim.service(web)["state"])) as watch, ThreadPoolExecutor(1) as pool:
        converging = pool.submit(ideal.cattle_upgrade, http, twin_url, image, batch_interval)
        finished = run_tool(tool, tools, sim, "web", image, batch_interval)
        converged = converging.result()
    records = tally.without(sim.requests, twin)
    before, noticing_upgraded, noticing_active = _split(watch, finished)
    streamed = tool == TOOLS[0]   # the peer polls: cattle's publication is not what it waits for
    upgraded = watch.first("upgraded", after=finished.started)
    return UpgradeRun(tool, finished.wall, converged.seconds, tally.kinds(records),
                      len(tally.after_first_write(records, web)), finished.max_rss_mib,
                      None if finished.code == 0 else finished.last_line(),
                      before, noticing_upgraded, noticing_active,
                      publication_wait(upgraded, beat, publish_seconds(sim.timing)) if streamed else None)


def upgrade_scenario(tools: Tools, rounds: int, batch_interval: int) -> list[UpgradeRun]:
    """``rounds`` upgrades per tool of a scale-2 service at realistic timing (batch size 1,
    ``batch_interval`` s between batches), each next to the ideal client on a twin service."""
    runs: list[UpgradeRun] = []
    with Simulator(ACCESS, SECRET, timing=Timing.realistic()) as sim:
        _, (web,) = seed_services(sim, "shop", 1, name="web", scale=2)
        _, (twin,) = seed_services(sim, "ideal", 1, name="web", scale=2)
        for number in range(rounds):
            for tool in alternate(number):
                say(f"1.6 upgrade, round {number + 1}/{rounds}: {tool}")
                beat = place_beat(sim, number, rounds)
                runs.append(upgrade_once(tool, tools, sim, web, twin, batch_interval, beat))
    return runs


# --------------------------------------------------------------------------------------------------
# Lookup among many services


@dataclass(frozen=True)
class LookupRun:
    """Finding one service among ``services`` in its stack (fast timing: the upgrade itself is instant).

    rancher-deploy: a dry run (finds, reads, plans, changes nothing), ``seconds`` its wall time and
    ``requests`` all it sent. The peer has no dry run: ``seconds`` is spawn to its upgrade action
    answered, ``requests`` those sent before that action; ``failure`` its last line if it failed.
    """

    tool: str
    services: int
    seconds: float | None
    requests: int
    failure: str | None


def _lookup_ours(tools: Tools, sim: Simulator, services: int) -> LookupRun:
    sim.reset_log()
    env = ours_environment(tools, sim, "shop/web", tools.next_image(), RANCHER_DRY_RUN="true")
    finished = procs.run([str(tools.ours)], env, tools.scratch)
    failure = None if finished.code == 0 else finished.last_line()
    return LookupRun("rancher-deploy", services, finished.wall, len(sim.requests), failure)


def _lookup_peer(tools: Tools, sim: Simulator, services: int) -> LookupRun:
    sim.reset_log()
    finished = run_tool("rancher-gitlab-deploy", tools, sim, "web", tools.next_image(), 2)
    records = sim.requests
    # The log's `answered` is the simulator's time.monotonic(), the clock `finished` is stamped with.
    asked = next((r.answered for r in records if r.method == "POST" and "action=upgrade" in r.query), None)
    before = next((i for i, r in enumerate(records) if r.method == "POST"), len(records))
    failure = None if finished.code == 0 else finished.last_line()
    return LookupRun("rancher-gitlab-deploy", services, asked - finished.started if asked else None, before, failure)


def simulator_floor(sim: Simulator, stack: str, samples: int = 3) -> float:
    """The simulator's own cost of one lookup: the median time of one filtered list
    (``GET /v2-beta/projects/<p>/services?name=web&stackId=<s>``) from a client already connected."""
    http = ideal.session(auth=(ACCESS, SECRET))
    url = f"{sim.url}/v2-beta/projects/{sim.default_project_id}/services"
    times = []
    for _ in range(samples):
        started = time.monotonic()
        http.get(url, params={"name": "web", "stackId": stack}, timeout=60).raise_for_status()
        times.append(time.monotonic() - started)
    return statistics.median(times)


def lookup_scenario(tools: Tools, sizes: Sequence[int], rounds: int) -> tuple[list[LookupRun], dict[int, float]]:
    """For each size N: a stack of N services whose last one is the target ``web`` (the peer reads
    one page of 1000, so past 1000 it cannot see it). Answers the runs and the simulator floor per N."""
    runs: list[LookupRun] = []
    floors: dict[int, float] = {}
    for size in sizes:
        with Simulator(ACCESS, SECRET, timing=Timing.fast()) as sim:
            if size > 1:
                seed_services(sim, "shop", size - 1, name="filler{n}")
            stack, _ = seed_services(sim, "shop", 1, name="web")  # the target comes last
            floors[size] = simulator_floor(sim, stack)
            for number in range(rounds):
                for tool in alternate(number):
                    say(f"lookup among {size} services, round {number + 1}/{rounds}: {tool}")
                    look: Callable[[Tools, Simulator, int], LookupRun] = (
                        _lookup_ours if tool == "rancher-deploy" else _lookup_peer)
                    runs.append(look(tools, sim, size))
    return runs, floors


# --------------------------------------------------------------------------------------------------
# Several services in one run


@dataclass(frozen=True)
class ManyRun:
    """``services`` scale-2 services moved to a new image. rancher-deploy: one process with
    ``RANCHER_SERVICE=shop/s1,...`` (atomic, its default); the peer: one process per service, one
    after another, as a pipeline would run them (``wall`` is the sum of their wall times, seconds).
    ``max_rss_mib``: rancher-deploy's peak resident set (None for the peer's many processes, and in
    runs recorded before it was kept)."""

    tool: str
    services: int
    wall: float
    requests: int
    failures: list[str] = field(default_factory=list)
    max_rss_mib: float | None = None


def _many_ours(tools: Tools, sim: Simulator, names: Sequence[str], **settings: str) -> ManyRun:
    sim.reset_log()
    env = ours_environment(tools, sim, ",".join(f"shop/{n}" for n in names), tools.next_image(), **settings)
    finished = procs.run([str(tools.ours)], env, tools.scratch)
    failures = [] if finished.code == 0 else [finished.last_line()]
    return ManyRun("rancher-deploy", len(names), finished.wall, len(sim.requests), failures, finished.max_rss_mib)


def _many_peer(tools: Tools, sim: Simulator, names: Sequence[str]) -> ManyRun:
    sim.reset_log()
    image = tools.next_image()
    runs = [run_tool("rancher-gitlab-deploy", tools, sim, name, image, 2) for name in names]
    failures = [f"{name}: {r.last_line()}" for name, r in zip(names, runs) if r.code != 0]
    return ManyRun("rancher-gitlab-deploy", len(names), sum(r.wall for r in runs), len(sim.requests), failures)


def many_scenario(tools: Tools, counts: Sequence[int], rounds_for: Callable[[int, str], int]) -> list[ManyRun]:
    """Each tool moves the first ``count`` services of one stack at fast timing (an upgrade takes
    milliseconds: what is left is the tools' own work and sleeps), ``rounds_for(count, tool)`` times,
    alternating while both have rounds left (a figure of one run is one sample, which a busy
    machine can double)."""
    runs: list[ManyRun] = []
    with Simulator(ACCESS, SECRET, timing=Timing.fast()) as sim:
        names = [f"s{n}" for n in range(1, max(counts) + 1)]
        seed_services(sim, "shop", len(names), scale=2)
        for count in counts:
            rounds = max(rounds_for(count, tool) for tool in TOOLS)
            for number in range(rounds):
                for tool in alternate(number):
                    if number >= rounds_for(count, tool):
                        continue
                    say(f"{count} services in one run, round {number + 1}/{rounds_for(count, tool)}: {tool}")
                    move = _many_ours if tool == "rancher-deploy" else _many_peer
                    runs.append(move(tools, sim, names[:count]))
    return runs


# The counts issue 15's target compares ("10 services in one run, wall <= 1.5x one service").
REALISTIC_COUNTS = (1, 10)


def many_realistic_scenario(tools: Tools, rounds: int, batch_interval: int) -> list[ManyRun]:
    """rancher-deploy alone moves 1 and then 10 scale-2 services in one run at the issue's timing
    (realistic, batch size 1, ``batch_interval`` s between batches: about 22 s each at 15 s),
    ``rounds`` times each, alternating which count goes first (1 then 10, then 10 then 1, ...).

    Here the waits dominate, so the ratio of the two walls says whether the targets proceed
    together or one after another. Each run gets a simulator of its own with freshly seeded
    services (``REPOSITORY:1``, scale 2), so every round starts from the same image and shape with
    nothing of an earlier run still settling. The peer is not run: one process per service, about
    24 s each, one after another (its fast-timing figures show that)."""
    runs: list[ManyRun] = []
    settings = {"RANCHER_BATCH_SIZE": "1", "RANCHER_BATCH_INTERVAL": str(batch_interval)}
    for number in range(rounds):
        for count in REALISTIC_COUNTS if number % 2 == 0 else REALISTIC_COUNTS[::-1]:
            say(f"{count} services in one run at realistic timing, round {number + 1}/{rounds}")
            with Simulator(ACCESS, SECRET, timing=Timing.realistic()) as sim:
                seed_services(sim, "shop", count, scale=2)
                place_beat(sim, number, rounds)   # both counts of a round meet it at the same point
                runs.append(_many_ours(tools, sim, [f"s{n}" for n in range(1, count + 1)], **settings))
    return runs
