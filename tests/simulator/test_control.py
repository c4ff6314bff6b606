"""The control API's bulk seed and the request log's timestamps, over real HTTP: what benchmarks build on."""

from __future__ import annotations

import time

import pytest
import requests

from rancher_deploy.simulator import Simulator

from .conftest import ACCESS_KEY, K8S_SECRET, K8S_TOKEN, SECRET_KEY

IMAGE = {"imageUuid": "docker:registry.example.com/shop/app:1"}


def test_a_bulk_seed_spreads_services_over_stacks_and_environments(sim: Simulator) -> None:
    made = requests.post(f"{sim.url}/_sim/seed/bulk", json={"services": 6, "stacks": 3, "environments": 2,
                                                            "launchConfig": IMAGE, "scale": 2}, timeout=10)
    assert made.status_code == 201, made.text
    ids = made.json()
    assert ids["environments"][0] == "1a5" and len(ids["environments"]) == 2 and len(ids["stacks"]) == 3
    api = requests.Session()
    api.auth = (ACCESS_KEY, SECRET_KEY)
    where = {}
    for number, service_id in enumerate(ids["services"], start=1):
        service = sim.service(service_id)
        assert (service["name"], service["state"], service["scale"]) == (f"s{number}", "active", 2)
        assert service["launchConfig"]["imageUuid"] == IMAGE["imageUuid"]
        assert len(sim.instances(service_id)) == 2
        where[service["name"]] = service["stackId"]
    # In order, in equal runs: s1 s2 in stack1, s3 s4 in stack2, s5 s6 in stack3 (the second environment's).
    assert list(where.values()) == [ids["stacks"][0]] * 2 + [ids["stacks"][1]] * 2 + [ids["stacks"][2]] * 2
    second = api.get(f"{sim.url}/v2-beta/projects/{ids['environments'][1]}/stacks", timeout=10).json()["data"]
    assert [(stack["name"], stack["id"]) for stack in second] == [("stack3", ids["stacks"][2])]
    assert api.get(f"{sim.url}/v2-beta/projects/{ids['environments'][1]}", timeout=10).json()["name"] == "env2"


def test_a_bulk_seed_fills_a_stack_that_exists_and_ten_thousand_take_seconds(sim: Simulator) -> None:
    shop = sim.add_stack("shop")
    started = time.monotonic()
    ids = sim.seed_bulk({"services": 10_000, "launchConfig": IMAGE, "names": {"service": "filler{n}", "stack": "shop"}})
    # One by one, each seed settles every service (minutes at this size); at once, the store settles once.
    assert time.monotonic() - started < 20
    assert ids["stacks"] == [shop] and len(ids["services"]) == 10_000
    last = sim.add_service(shop, "web", dict(IMAGE))
    listed = requests.get(f"{sim.url}/v2-beta/projects/1a5/services", params={"name": "filler10000"},
                          auth=(ACCESS_KEY, SECRET_KEY), timeout=10).json()["data"]
    assert [service["stackId"] for service in listed] == [shop] and last not in ids["services"]


@pytest.mark.parametrize("body, message", [
    ({"services": 2, "launchConfig": IMAGE, "names": {"service": "web"}}, "the name 'web' needs {n} for 2 of them"),
    ({"services": 2, "stacks": 3, "launchConfig": IMAGE}, "stacks must be from 1 to 2"),
    ({"services": 0, "launchConfig": IMAGE}, "services must be from 1"),
    ({"services": 1}, "launchConfig"),
], ids=["one-name-for-two", "more-stacks-than-services", "none", "no-launch-config"])
def test_a_bulk_seed_that_cannot_be_made_is_refused_whole(sim: Simulator, body: dict[str, object], message: str) -> None:
    refused = requests.post(f"{sim.url}/_sim/seed/bulk", json=body, timeout=10)
    assert refused.status_code == 400 and message in refused.json()["message"]
    assert requests.get(f"{sim.url}/_sim/state", timeout=10).json()["services"] == []


def test_a_bulk_seed_refuses_a_name_its_stack_holds() -> None:
    with Simulator(ACCESS_KEY, SECRET_KEY) as sim:
        sim.add_service(sim.add_stack("stack1"), "s1", dict(IMAGE))
        refused = requests.post(f"{sim.url}/_sim/seed/bulk", json={"services": 1, "launchConfig": IMAGE}, timeout=10)
        assert refused.status_code == 400 and "already has a service 's1'" in refused.json()["message"]


def test_a_bulk_seed_of_rancher_2_spreads_workloads_over_namespaces() -> None:
    with Simulator(K8S_TOKEN, K8S_SECRET, rancher_version="2.8") as sim:
        made = requests.post(f"{sim.url}/_sim/seed/bulk", timeout=10, json={
            "workloads": 4, "namespaces": 2, "replicas": 2, "containers": [{"name": "app", "image": "app:1"}]})
        assert made.status_code == 201, made.text
        assert made.json() == {"namespaces": ["ns1", "ns2"], "workloads": [
            "deployment:ns1:w1", "deployment:ns1:w2", "deployment:ns2:w3", "deployment:ns2:w4"]}
        deployment = sim.workload("deployment", "ns2", "w4")
        assert deployment["status"]["availableReplicas"] == 2
        assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "app:1"
        # A namespace that exists is used; the new ones are in the Default project, as v3 shows them.
        more = sim.seed_bulk({"workloads": 1, "containers": [{"name": "app", "image": "app:1"}],
                              "names": {"namespace": "default", "workload": "web"}})
        assert more == {"namespaces": ["default"], "workloads": ["deployment:default:web"]}
        listed = requests.get(f"{sim.url}/v3/project/{sim.default_project_id}/workloads", params={"name": "w1"},
                              auth=(K8S_TOKEN, K8S_SECRET), timeout=10).json()["data"]
        assert [workload["namespaceId"] for workload in listed] == ["ns1"]


@pytest.mark.parametrize("body, message", [
    ({"workloads": 2, "names": {"namespace": "default", "workload": "w{n}"}}, "namespace default already has a "
                                                                              "deployment 'w2'"),
    ({"workloads": 2, "projectId": "local:p-nope"}, 'projects.management.cattle.io \\"p-nope\\" not found'),
    ({"workloads": 1, "kind": "job"}, "unknown workload kind 'job'"),
], ids=["name-held", "no-such-project", "unknown-kind"])
def test_a_bulk_seed_of_rancher_2_that_cannot_be_made_changes_nothing(body: dict[str, object], message: str) -> None:
    with Simulator(K8S_TOKEN, K8S_SECRET, rancher_version="2.8") as sim:
        sim.add_workload("default", "w2", [{"name": "app", "image": "app:1"}])
        before = requests.get(f"{sim.url}/_sim/state", timeout=10).json()
        refused = requests.post(f"{sim.url}/_sim/seed/bulk", timeout=10,
                                json={**body, "containers": [{"name": "app", "image": "app:1"}]})
        assert refused.status_code == 400 and message in refused.text, refused.text
        after = requests.get(f"{sim.url}/_sim/state", timeout=10).json()
        assert (after["namespaces"], after["workloads"]) == (before["namespaces"], before["workloads"])


def test_each_logged_request_says_when_it_arrived_and_was_answered(sim: Simulator) -> None:
    sim.faults.latency(0.05, "/v2-beta/projects")
    before = time.monotonic()
    requests.get(f"{sim.url}/v2-beta", auth=(ACCESS_KEY, SECRET_KEY), timeout=10)
    requests.get(f"{sim.url}/v2-beta/projects", auth=(ACCESS_KEY, SECRET_KEY), timeout=10)
    after = time.monotonic()
    logged = requests.get(f"{sim.url}/_sim/requests", timeout=10).json()["requests"]
    assert [entry["path"] for entry in logged] == ["/v2-beta", "/v2-beta/projects"]
    # The simulator's time.monotonic(): the same clock as this process's, in order, latency included.
    assert before <= logged[0]["received"] <= logged[0]["answered"] <= logged[1]["received"]
    assert logged[1]["answered"] - logged[1]["received"] >= 0.05
    assert logged[1]["answered"] <= after
    assert [(r.received, r.answered) for r in sim.requests] == [(e["received"], e["answered"]) for e in logged]


def _seed(sim: Simulator, document: dict[str, object]) -> requests.Response:
    return requests.post(f"{sim.url}/_sim/seed", json=document, timeout=10)


def test_a_seeded_service_lives_in_the_project_of_the_stack_its_seed_names(sim: Simulator) -> None:
    # Two stacks named shop, in 1a5 and in prod: a service's projectId says which one its `stack` means.
    made = _seed(sim, {"projects": [{"name": "prod"}], "stacks": [{"name": "shop"}]})
    prod = made.json()["projects"][0]
    other = _seed(sim, {"stacks": [{"name": "shop", "projectId": prod}]}).json()["stacks"][0]
    seeded = _seed(sim, {"services": [{"stack": "shop", "projectId": "1a5", "name": "web", "launchConfig": IMAGE},
                                      {"stack": "shop", "projectId": prod, "name": "api", "launchConfig": IMAGE}]})
    assert seeded.status_code == 201, seeded.text
    web, api = (sim.service(service_id) for service_id in seeded.json()["services"])
    assert (web["accountId"], api["accountId"], api["stackId"]) == ("1a5", prod, other)
    # A stackId of one project with the projectId of another: refused, as Rancher refuses the reference.
    refused = _seed(sim, {"services": [{"stackId": other, "projectId": "1a5", "name": "db", "launchConfig": IMAGE}]})
    assert refused.status_code == 422
    body = refused.json()
    assert (body["type"], body["status"], body["code"], body["fieldName"]) == ("error", 422, "InvalidReference",
                                                                               "stackId")


def test_a_seeded_service_naming_a_stack_without_a_project_goes_to_defaults_never_the_last_made(sim: Simulator) -> None:
    made = _seed(sim, {"projects": [{"name": "prod"}, {"name": "qa"}], "stacks": [{"name": "shop"}]})
    prod, qa = made.json()["projects"]
    _seed(sim, {"stacks": [{"name": "shop", "projectId": prod}, {"name": "cart", "projectId": prod},
                           {"name": "cart", "projectId": qa}]})
    seeded = _seed(sim, {"services": [{"stack": "shop", "name": "web", "launchConfig": IMAGE}]})
    assert seeded.status_code == 201, seeded.text
    assert sim.service(seeded.json()["services"][0])["accountId"] == "1a5"   # was prod, the last made
    ambiguous = _seed(sim, {"services": [{"stack": "cart", "name": "api", "launchConfig": IMAGE}]})
    assert ambiguous.status_code == 400
    assert "give the service a projectId" in ambiguous.text


def test_a_seed_refuses_a_name_its_stack_holds_as_rancher_does(sim: Simulator) -> None:
    shop = sim.add_stack("shop")
    sim.add_service(shop, "web", dict(IMAGE), secondary_launch_configs=[{**IMAGE, "name": "log"}])
    for name, sidekicks in (("web", []), ("WEB", []), ("log", []), ("api", [{**IMAGE, "name": "Web"}])):
        refused = _seed(sim, {"services": [{"stackId": shop, "name": name, "launchConfig": IMAGE,
                                            "secondaryLaunchConfigs": sidekicks}]})
        assert refused.status_code == 422, (name, refused.text)
        body = refused.json()
        assert (body["type"], body["code"], body["fieldName"], body["message"]) == ("error", "NotUnique", "name", None)
    other = sim.add_stack("other")
    assert _seed(sim, {"services": [{"stackId": other, "name": "web", "launchConfig": IMAGE}]}).status_code == 201
    api = requests.Session()
    api.auth = (ACCESS_KEY, SECRET_KEY)
    created = api.post(f"{sim.url}/v2-beta/services", json={"stackId": shop, "name": "Web", "launchConfig": IMAGE},
                       timeout=10)
    assert (created.status_code, created.json()["code"]) == (422, "NotUnique")   # the API's create: the same rule


@pytest.mark.parametrize("document, message", [
    ({"service": []}, "unknown key 'service' in the seed document"),
    ({"stacks": [{"name": "shop", "labels": {}}]}, "unknown key 'labels' in stacks[0]"),
    ({"services": [{"stack": "shop", "name": "web", "launchConfig": IMAGE, "scael": 2}]},
     "unknown key 'scael' in services[0]"),
])
def test_a_seed_key_it_does_not_know_is_400_naming_it_and_makes_nothing(
        sim: Simulator, document: dict[str, object], message: str) -> None:
    # Second review of #16: unknown keys were dropped silently, so a test's setup was not what it read.
    before = requests.get(f"{sim.url}/_sim/state", timeout=10).json()
    refused = _seed(sim, {"stacks": [{"name": "shop"}], **document})
    assert refused.status_code == 400 and message in refused.text, refused.text
    assert requests.get(f"{sim.url}/_sim/state", timeout=10).json()["stacks"] == before["stacks"]


@pytest.mark.parametrize("document, message", [
    ({"projects": "x"}, "projects must be a list of objects"),
    ({"stacks": ["shop"]}, "stacks[0] must be an object"),
])
def test_a_seed_section_of_another_type_is_400_naming_it(sim: Simulator, document: dict[str, object],
                                                        message: str) -> None:
    # Third review of #16: `{"projects": "x"}` answered Python's "string indices must be integers".
    refused = _seed(sim, document)
    assert refused.status_code == 400 and message in refused.text, refused.text
    assert "indices" not in refused.text


def test_rancher_2_seed_annotations_and_labels_must_be_objects_of_strings() -> None:
    with Simulator(K8S_TOKEN, K8S_SECRET, rancher_version="2.8") as sim:
        workload = {"namespace": "default", "name": "web", "containers": [{"name": "app", "image": "app:1"}]}
        for key, value in [("annotations", "x"), ("annotations", {"a": 1}), ("labels", ["a"])]:
            refused = _seed(sim, {"workloads": [{**workload, key: value}]})
            assert refused.status_code == 400, refused.text
            assert f"workloads[0].{key} must be an object of strings" in refused.text, refused.text
        assert requests.get(f"{sim.url}/_sim/state", timeout=10).json()["workloads"] == []


def test_a_rancher_2_seed_puts_annotations_on_the_workload_and_refuses_unknown_keys() -> None:
    with Simulator(K8S_TOKEN, K8S_SECRET, rancher_version="2.8") as sim:
        workload = {"namespace": "default", "name": "web", "containers": [{"name": "app", "image": "app:1"}],
                    "annotations": {"autoupdate.policy": "patch"}}
        assert _seed(sim, {"workloads": [workload]}).status_code == 201
        assert sim.workload("deployment", "default", "web")["metadata"]["annotations"]["autoupdate.policy"] == "patch"
        for document, message in [({"workloads": [{**workload, "name": "api", "annotation": {}}]},
                                   "unknown key 'annotation' in workloads[0]"),
                                  ({"deployments": []}, "unknown key 'deployments' in the seed document")]:
            refused = _seed(sim, document)
            assert refused.status_code == 400 and message in refused.text, refused.text
        assert [w["metadata"]["name"] for w in requests.get(f"{sim.url}/_sim/state", timeout=10).json()["workloads"]] \
            == ["web"]
