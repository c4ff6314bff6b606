"""How many requests a run makes, from the simulator's request log: each object is read once per decision.

A poller's count grows with the upgrade's length, so these pin what does not: the requests that
tell which Rancher answers (one, whatever the URL), the requests before the upgrade is sent, between
the read that found it healthy and the finish, before and after a 2.x write, and the lookups of
environments, stacks, projects, clusters and namespaces (once per run however many targets).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from rancher_deploy import discovery
from rancher_deploy.http import Credentials, RancherSession
from rancher_deploy.settings import Command, Settings
from rancher_deploy.simulator import Simulator, Timing
from rancher_deploy.simulator.request_log import RequestRecord

from .conftest import ACCESS_KEY, LAUNCH_CONFIG, NEW_IMAGE, OLD_IMAGE, SECRET_KEY, RunCli, invoke_cli
from .test_workloads import NEW, TOKEN_ID, TOKEN_SECRET, WEB, run as run2, sim2  # noqa: F401 - sim2 is a fixture


def _index(records: list[RequestRecord], method: str, query: str = "") -> int:
    return next(i for i, r in enumerate(records) if r.method == method and query in r.query)


# -- which Rancher: one request per URL form ---------------------------------------------------------

SETTING = "/v3/settings/server-version"
# Every path a run has asked (or asks) to tell which Rancher answers, whatever it does next.
PROBES = ("/v2-beta", "/v1", "/rancherversion", SETTING, "/v3")


@dataclass(frozen=True)
class Form:
    """One URL form a user pastes, on one server: what the run asks to tell which Rancher this is,
    and how it ends (2: refused before anything is looked up)."""

    path: str
    rancher: str
    probes: tuple[str, ...]
    code: int = 0

    def __str__(self) -> str:
        return f"{self.path or '(root)'} on {self.rancher}"


FORMS = [
    # The server root and a bare /v1 (Rancher 1.x's API, or Steve from 2.5 on) leave everything open.
    Form("", "1.6", (SETTING,)), Form("", "2.4", (SETTING,)), Form("", "2.8", (SETTING,)),
    Form("/v1", "1.6", (SETTING,)), Form("/v1", "2.5", (SETTING,)), Form("/v1", "2.8", (SETTING,)),
    # A 1.x path: its API root; on 2.x one more request names the release it is refused with.
    Form("/v2-beta", "1.6", ("/v2-beta",)), Form("/v2-beta", "2.8", ("/v2-beta", SETTING), code=2),
    Form("/v2-beta/projects/1a5", "1.6", ("/v2-beta",)),
    # A Rancher 1.1 serves /v1 alone; its 404 for /v2-beta names its release.
    Form("/v1/projects/1a5", "1.1", ("/v2-beta",)),
    # A 2.x path: the release (2.0-2.6 have no /rancherversion); on 1.x the same request says 1.x.
    Form("/v3", "2.4", (SETTING,)), Form("/v3", "1.6", (SETTING,), code=2),
    Form("/v3/project/<project>", "2.4", (SETTING,)),
    Form("/v3/clusters/local", "2.4", (SETTING,)),
    Form("/k8s/clusters/local", "2.5", (SETTING,)), Form("/k8s/clusters/local", "1.6", (SETTING,), code=2),
]


def _asked_to_tell(form: Form) -> tuple[int, tuple[str, ...], str]:
    """Run a dry run against `form`'s server at its URL: its exit code, the probes it sent, its log."""
    if form.rancher.startswith("1."):
        with Simulator(ACCESS_KEY, SECRET_KEY, timing=Timing.fast()) as sim:
            sim.add_service(sim.add_stack("shop"), "web", dict(LAUNCH_CONFIG))
            if form.rancher == "1.1":
                sim.faults.fail_next("/v2-beta", status=404, method="GET", headers={"X-Rancher-Version": "v1.1.4"})
            result = invoke_cli(("--dry-run",), {"CATTLE_URL": sim.url + form.path, "CATTLE_ACCESS_KEY": ACCESS_KEY,
                                                 "CATTLE_SECRET_KEY": SECRET_KEY, "RANCHER_SERVICE": "shop/web",
                                                 "RANCHER_IMAGE": NEW_IMAGE}, {}, SECRET_KEY)
            return result.code, tuple(r.path for r in sim.requests if r.path in PROBES), result.stderr
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version=form.rancher, timing=Timing.fast()) as sim:
        sim.add_workload("default", "web", [dict(WEB)])
        result = run2(sim, "--dry-run", CATTLE_URL=sim.url + form.path.replace("<project>", sim.default_project_id))
        return result.code, tuple(r.path for r in sim.requests if r.path in PROBES), result.stderr


@pytest.mark.parametrize("form", FORMS, ids=str)
def test_which_rancher_answers_costs_one_request_whatever_the_url(form: Form) -> None:
    code, probes, log = _asked_to_tell(form)
    assert code == form.code, log
    assert probes == form.probes, log
    assert ("Connected" in log) is (form.code == 0)


# -- Rancher 1.x ------------------------------------------------------------------------------------


def test_a_1x_upgrade_sends_its_upgrade_after_the_lookups_alone(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli().code == 0
    records = sim.requests
    before = records[:_index(records, "POST", "action=upgrade")]
    # Which Rancher this is, the environments, the stack, the service's listing (which carries the
    # whole service): the preflight, the ready check and the action all use that one read.
    assert [(r.path.rsplit("/", 1)[-1], r.query) for r in before] == [
        ("server-version", ""), ("projects", ""), ("stacks", "name=shop"),
        ("services", f"name=web&stackId={before[3].query.split('=')[-1]}")]


def _between(records: list[RequestRecord], first: str, last: str) -> list[tuple[str, str]]:
    """(last path segment, query) of each request after the POST `first` and before the POST `last`."""
    chosen = records[_index(records, "POST", first) + 1:_index(records, "POST", last)]
    return [(r.path.rsplit("/", 1)[-1], r.query) for r in chosen]


def test_a_1x_finish_is_sent_on_what_the_wait_last_saw(sim: Simulator, web: str, run_cli: RunCli) -> None:
    assert run_cli().code == 0
    # The wait subscribes to the environment's events, then reads the service with its containers
    # once (`include=instances`); the events that follow carry the rest, and the finish is sent on the
    # last of them: no read of its own before it.
    assert _between(sim.requests, "action=upgrade", "action=finishupgrade") == [
        ("subscribe", "eventNames=resource.change"), (web, "include=instances")]


def test_a_1x_wait_that_polls_counts_health_from_one_read_per_look(sim: Simulator, web: str,
                                                                    run_cli: RunCli) -> None:
    sim.faults.fail_next("/subscribe", status=404)   # no event stream (a proxy that does not pass it)
    result = run_cli()
    assert result.code == 0, result.stderr
    looks = _between(sim.requests, "action=upgrade", "action=finishupgrade")
    assert looks[0] == ("subscribe", "eventNames=resource.change")
    # Each look is one request: the service with its containers embedded, never their own listing.
    assert looks[1:] and set(looks[1:]) == {(web, "include=instances")}
    assert result.stderr.count("polling instead") == 1, "the finish's wait does not try the stream again"


# Fast enough that the finish is published well before the first read after it would be due (0.1 s).
@pytest.mark.parametrize("timing", [Timing(speed=100.0)])
def test_a_1x_upgrade_costs_eight_requests_however_long_it_takes(sim: Simulator, web: str, run_cli: RunCli) -> None:
    # Scale 2, batch size 1 (issue 15's scenario): 1 s and then 15 s between the batches.
    runs = []
    for interval, image in (("1", NEW_IMAGE), ("15", OLD_IMAGE)):
        sim.reset_log()
        started = sim.now()
        result = run_cli(RANCHER_BATCH_INTERVAL=interval, RANCHER_IMAGE=image)
        assert result.code == 0, result.stderr
        runs.append((len(sim.requests), sim.now() - started))
    (short, short_took), (long, long_took) = runs
    assert long_took > short_took + 10, runs
    # 4 lookups, the upgrade, a subscription and a read; the finish, whose wait goes on with what the
    # same subscription keeps of the service: no subscription and no read of its own.
    assert short == long == 8, [f"{r.method} {r.path}?{r.query}" for r in sim.requests]
    records = sim.requests
    assert records[_index(records, "POST", "action=finishupgrade") + 1:] == [], "nothing after the finish"


def test_the_targets_of_one_environment_share_one_subscription(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    names = ("web", "worker", "api")
    for name in names:
        sim.add_service(stack, name, dict(LAUNCH_CONFIG))
    result = run_cli(RANCHER_SERVICE=",".join(names))
    assert result.code == 0, result.stderr
    records = sim.requests
    assert [r.status for r in records if r.path.endswith("/subscribe")] == [101], "one subscription for the run"
    # Each service is read when its first wait starts on the shared stream; its finish's wait goes on
    # from what the stream kept, with at most two reads (`subscribe.FINISH_READS_SECONDS`), or one
    # where the finish was published before its answer came (here it takes milliseconds).
    reads = [r.path for r in records if "include=instances" in r.query]
    assert len(set(reads)) == 3 and all(reads.count(path) <= 3 for path in reads), reads
    assert "polling instead" not in result.stderr


def test_services_of_one_stack_look_the_stack_up_once(sim: Simulator, run_cli: RunCli) -> None:
    stack = sim.add_stack("shop")
    for name in ("web", "worker", "api"):
        sim.add_service(stack, name, dict(LAUNCH_CONFIG))
    assert run_cli(RANCHER_SERVICE="web,worker,api").code == 0
    assert sim.count("GET", "/stacks") == 1


# -- Rancher 2.x: the workload read once before its write, the write's answer its first look after -----


def _workload_reads(records: list[RequestRecord], name: str = "web") -> list[RequestRecord]:
    """The requests that read (or write) the workload itself, through either API."""
    return [r for r in records if r.path.endswith((f"/deployments/{name}", f"/workloads/deployment:default:{name}"))]


def test_a_2x_upgrade_reads_the_workload_once_before_writing_it(sim2: Simulator) -> None:  # noqa: F811
    # v3 on 2.4 writes through the Kubernetes API where its mapper would rewrite the variables (WEB has
    # some): the object is read there, once, as that write's before-image; never twice through one API.
    sim2.add_workload("default", "web", [dict(WEB)], replicas=2)
    assert run2(sim2).code == 0
    records = sim2.requests
    write = next(i for i, r in enumerate(records) if r.method in ("PUT", "PATCH"))
    before = records[:write]
    listed = [r for r in before if r.path.endswith("/workloads") and "name=web" in r.query]
    reads = [(r.method, r.path) for r in _workload_reads(before)]
    if sim2.rancher_version == "2.4":
        # The v3 lookup lists it in each project (the whole object, every kind at once): the preflight
        # and the plan use that, and no GET of it by id follows.
        assert listed and reads == [("GET", records[write].path)]
    else:
        # The lookup's GET of the deployment is the one read; the other kinds it asked answered 404.
        assert listed == [] and reads == [("GET", records[write].path)]


def test_a_2x_watch_starts_from_the_write_s_answer() -> None:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8", timing=Timing.fast()) as sim:
        sim.add_workload("default", "web", [dict(WEB)], replicas=2)
        # A poll interval the rollout (milliseconds) never reaches: no read checks a silent watch.
        assert run2(sim, RANCHER_POLL_INTERVAL="5").code == 0
        records = sim.requests
        write = next(i for i, r in enumerate(records) if r.method == "PATCH")
        after = records[write + 1:]
        assert [(r.method, r.path) for r in _workload_reads(after)] == [], "read again after the patch answered"
        assert "watch=1" in after[0].query and "resourceVersion=" in after[0].query


@pytest.mark.parametrize("url", ["/v3", "/k8s/clusters/local"])
def test_the_first_look_after_a_2x_write_is_its_answer(url: str) -> None:
    """Polled (v3, or a watch given up): the wait's first look costs no request, the next one does."""
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.8", timing=Timing(speed=0)) as sim:
        sim.add_workload("default", "web", [dict(WEB)], replicas=2)
        settings = Settings.load(Command.UPGRADE, {}, {"CATTLE_URL": sim.url + url, "RANCHER_WORKLOAD": "web",
                                                       "RANCHER_TOKEN": f"{TOKEN_ID}:{TOKEN_SECRET}",
                                                       "RANCHER_IMAGE": NEW})
        backend = discovery.connect(RancherSession(Credentials(token=settings.token)), settings, lambda text: None)
        ref = backend.resolve(settings.workloads[0])
        backend.apply(ref, backend.plan(ref, backend.fetch(ref), settings))
        sent = len(sim.requests)
        first = backend.observe(ref)
        assert len(sim.requests) == sent, "the write's answer is the first look"
        assert first.images == (("web", NEW),) and first.judge(backend.applied_goal).verdict.value == "waiting"
        backend.observe(ref)
        assert len(sim.requests) == sent + 1


# -- lookups: once per run, however many targets ------------------------------------------------------


@pytest.mark.parametrize("rancher, url, project", [("2.4", "", None), ("2.8", "", "Default"),
                                                    ("2.8", "/v3", None)], ids=["v3", "k8s-project", "v3-on-2.8"])
def test_several_workloads_look_projects_clusters_and_namespaces_up_once(rancher: str, url: str,
                                                                         project: str | None) -> None:
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version=rancher, timing=Timing.fast()) as sim:
        for name in ("web", "api", "worker"):
            sim.add_workload("default", name, [dict(WEB, name=name)])
        result = run2(sim, "--dry-run", CATTLE_URL=sim.url + url, RANCHER_WORKLOAD="web,api,worker",
                      RANCHER_PROJECT=project)
        assert result.code == 0, result.stderr
        lookups = [r.path for r in sim.requests
                   if r.path.startswith(("/v3/projects", "/v3/clusters")) or "/api/v1/namespaces/" in r.path]
        assert lookups and len(lookups) == len(set(lookups)), lookups
