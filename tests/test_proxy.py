"""Rancher behind a TLS-terminating proxy that passes Host but not X-Forwarded-Proto.

Rancher then builds its links on http:// (cattle's DefaultApiRequestParser, rancher/rancher#4697):
the run must follow them on the configured https:// address (and under the proxy's path prefix),
and never send a request, with its credentials, anywhere else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from rancher_deploy.errors import NotRancher
from rancher_deploy.http import Credentials, RancherSession
from rancher_deploy.simulator import Simulator, Timing

from .conftest import ACCESS_KEY, NEW_IMAGE, SECRET_KEY, RunCli, server_cert
from .tls_proxy import TlsProxy

MakeProxy = Callable[..., TlsProxy]


@pytest.fixture
def proxy(sim: Simulator, ca: trustme.CA, tmp_path: Path) -> Iterator[MakeProxy]:
    """proxy(prefix="", **headers) -> a started TlsProxy in front of the simulator."""
    cert, key = server_cert(ca, tmp_path, "proxy")
    started: list[TlsProxy] = []

    def make(prefix: str = "", **headers: str) -> TlsProxy:
        front = TlsProxy(sim.url, cert, key, prefix=prefix,
                         add_headers={name.replace("_", "-"): value for name, value in headers.items()})
        started.append(front.__enter__())
        return front

    yield make
    for front in started:
        front.__exit__(None, None, None)


def test_the_proxy_really_makes_rancher_answer_http_links(proxy: MakeProxy, ca_file: str, web: str) -> None:
    import requests

    front = proxy()
    answer = requests.get(f"{front.url}/v2-beta", auth=(ACCESS_KEY, SECRET_KEY), verify=ca_file, timeout=5)
    assert answer.json()["links"]["self"] == front.url.replace("https://", "http://") + "/v2-beta"


@pytest.mark.parametrize("prefix", ["", "/rancher"])
def test_an_upgrade_behind_the_proxy_follows_every_link_on_https(
        proxy: MakeProxy, sim: Simulator, web: str, run_cli: RunCli, ca_file: str, prefix: str) -> None:
    front = proxy(prefix)
    result = run_cli("--output", "json", CATTLE_URL=front.url, RANCHER_CA_BUNDLE=ca_file, RANCHER_VERBOSE="true")
    assert result.code == 0, result.stderr
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
    plain = front.url.replace("https://", "http://").removesuffix(prefix)
    assert f"Rancher builds its links on {plain}, not on {front.url}" in result.stderr
    assert "X-Forwarded-Proto" in result.stderr
    requested = [line for line in result.stderr.splitlines() if re.match(r"debug: (GET|POST|PUT) ", line)]
    assert requested and all(f" {front.url}/" in line for line in requested), "every request went to CATTLE_URL"
    assert front.plain_connections == 0, "a request went to the proxy in clear text"
    assert ("POST", f"/v2-beta/projects/1a5/services/{web}/") in [(m, p.split("?")[0]) for m, p in front.forwarded]


def test_a_proxy_under_a_prefix_that_passes_the_scheme_works(proxy: MakeProxy, sim: Simulator, web: str,
                                                              run_cli: RunCli, ca_file: str) -> None:
    """The nginx setup users are told to write: X-Forwarded-Proto set, the /rancher prefix not passed.
    Rancher's links then lack only the prefix; the run rebases each once (never /rancher/rancher)."""
    front = proxy("/rancher", X_Forwarded_Proto="https")
    result = run_cli(CATTLE_URL=front.url, RANCHER_CA_BUNDLE=ca_file)
    assert result.code == 0, result.stderr
    assert sim.service(web)["launchConfig"]["imageUuid"] == f"docker:{NEW_IMAGE}"
    assert not [path for _, path in front.forwarded if path.startswith("/rancher")], "a prefix reached Rancher"


def test_a_link_elsewhere_is_refused_before_anything_is_sent(proxy: MakeProxy, sim: Simulator, web: str,
                                                              ca_file: str) -> None:
    front = proxy()
    session = RancherSession(Credentials(ACCESS_KEY, SECRET_KEY), verify=ca_file, home=front.url)
    assert session.get(f"{front.url}/v2-beta", what="Connecting to Rancher")["type"] == "apiVersion"
    sim.reset_log()
    # A link with nothing learnt about it (another host): refused, and nothing sent anywhere.
    with pytest.raises(NotRancher) as refused:
        session.get("http://10.0.0.7:8080/v2-beta/services", what="Reading the services")
    assert "Rancher sent a link to http://10.0.0.7:8080, not to" in str(refused.value)
    assert "X-Forwarded-Proto" in str(refused.value)
    assert (front.plain_connections, sim.count()) == (0, 0)


@pytest.fixture
def rancher_2(ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[Simulator, TlsProxy]]:
    """Rancher 2.4 (the v3 API) behind the same kind of proxy."""
    from .test_workloads import TOKEN_ID, TOKEN_SECRET, WEB

    cert, key = server_cert(ca, tmp_path, "proxy")
    with Simulator(TOKEN_ID, TOKEN_SECRET, rancher_version="2.4", timing=Timing.fast()) as simulator:
        simulator.add_workload("default", "web", [dict(WEB)], replicas=2)
        with TlsProxy(simulator.url, cert, key, prefix="/rancher") as front:
            yield simulator, front


def test_a_v3_upgrade_behind_the_proxy_follows_every_link_on_https(rancher_2: tuple[Simulator, TlsProxy],
                                                                    ca_file: str) -> None:
    from .test_workloads import NEW, containers, run

    sim2, front = rancher_2
    result = run(sim2, CATTLE_URL=front.url, RANCHER_CA_BUNDLE=ca_file, RANCHER_VERBOSE="true")
    assert result.code == 0, result.stderr
    assert containers(sim2)["web"]["image"] == NEW
    requested = [line for line in result.stderr.splitlines() if re.match(r"debug: (GET|POST|PUT|PATCH) ", line)]
    assert requested and all(f" {front.url}/" in line for line in requested), "every request went to CATTLE_URL"
    assert front.plain_connections == 0
    assert "Rancher builds its links on http://127.0.0.1:" in result.stderr  # norman's urlbuilder, no X-Forwarded-Proto
