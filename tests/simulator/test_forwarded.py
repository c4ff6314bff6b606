"""Links built from the request's headers, as Rancher builds them behind a proxy.

1.6: cattle's DefaultApiRequestParser (X-Forwarded-Proto, X-Forwarded-Host or Host,
X-Forwarded-Port; https for port 443). 2.x: norman's urlbuilder (X-API-Host, X-Forwarded-Host,
X-Forwarded-Proto, X-API-URL-Prefix). Then Rancher's own clients, through a TLS-terminating proxy
that passes the right headers, work unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gdapi
import pytest
import requests
import trustme

from rancher_deploy.simulator import Simulator, Timing

from ..conftest import server_cert
from ..tls_proxy import TlsProxy
from .conftest import ACCESS_KEY, SECRET_KEY

TOKEN, TOKEN_SECRET = "token-fwd12", "forwarded-secret"


def self_link(sim: Simulator, path: str, auth: tuple[str, str], **headers: str) -> str:
    answer = requests.get(f"{sim.url}{path}", auth=auth, headers=headers, timeout=5)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["links"]["self"])


@pytest.mark.parametrize(("headers", "base"), [
    ({}, "{sim}"),
    ({"Host": "rancher.example.com"}, "http://rancher.example.com"),
    ({"Host": "rancher.example.com", "X-Forwarded-Proto": "https"}, "https://rancher.example.com"),
    ({"Host": "rancher.example.com:443"}, "https://rancher.example.com:443"),     # an https port, no header
    ({"Host": "rancher.example.com", "X-Forwarded-Port": "443"}, "https://rancher.example.com"),
    ({"Host": "inner:8080", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "rancher.example.com, inner"},
     "https://rancher.example.com"),
    ({"Host": "rancher.example.com:8080", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "8443"},
     "https://rancher.example.com:8443"),
    ({"Host": "rancher.example.com:8443", "X-Forwarded-Proto": "https"}, "https://rancher.example.com:8443"),
    # Without a scheme from the headers, X-Forwarded-Host is not read: the servlet's own URL is used.
    ({"Host": "inner:8080", "X-Forwarded-Host": "rancher.example.com"}, "http://inner:8080"),
])
def test_cattle_builds_links_from_the_forwarded_headers(sim: Simulator, headers: dict[str, str], base: str) -> None:
    expected = base.format(sim=sim.url) + "/v2-beta/projects/1a5"
    assert self_link(sim, "/v2-beta/projects/1a5", (ACCESS_KEY, SECRET_KEY), **headers) == expected


@pytest.fixture
def sim2() -> Iterator[Simulator]:
    with Simulator(TOKEN, TOKEN_SECRET, rancher_version="2.8", timing=Timing.fast()) as simulator:
        yield simulator


@pytest.mark.parametrize(("headers", "base"), [
    ({}, "{sim}"),
    ({"Host": "rancher.example.com"}, "http://rancher.example.com"),
    ({"Host": "rancher.example.com", "X-Forwarded-Proto": "https"}, "https://rancher.example.com"),
    ({"Host": "inner", "X-Forwarded-Proto": "wss", "X-Forwarded-Host": "outer, inner"}, "https://outer"),
    ({"Host": "inner", "X-API-Host": "api.example.com", "X-Forwarded-Host": "outer"}, "http://api.example.com"),
    ({"Host": "rancher.example.com", "X-Forwarded-Proto": "https", "X-API-URL-Prefix": "/rancher"},
     "https://rancher.example.com/rancher"),
])
def test_norman_builds_links_from_the_forwarded_headers(sim2: Simulator, headers: dict[str, str], base: str) -> None:
    assert self_link(sim2, "/v3", (TOKEN, TOKEN_SECRET), **headers) == base.format(sim=sim2.url) + "/v3"


# ---- Rancher's own clients through a TLS-terminating proxy ---------------------------------------

def start_proxy(upstream: str, ca: trustme.CA, tmp_path: Path, **kw: Any) -> TlsProxy:
    return TlsProxy(upstream, *server_cert(ca, tmp_path, "proxy"), **kw)


def test_gdapi_works_through_a_proxy_that_passes_x_forwarded_proto(
        sim: Simulator, ca: trustme.CA, ca_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)  # gdapi's requests session reads it
    sim.add_service(sim.add_stack("shop"), "web", {"imageUuid": "docker:nginx:1.24"})
    with start_proxy(sim.url, ca, tmp_path, add_headers={"X-Forwarded-Proto": "https"}) as front:
        c = gdapi.Client(url=f"{front.url}/v2-beta", access_key=ACCESS_KEY, secret_key=SECRET_KEY)
        svc = c.list_service(name="web").data[0]
        assert svc.links.self.startswith(f"{front.url}/v2-beta/")
        assert c.reload(svc).name == "web"
        assert front.plain_connections == 0
    with start_proxy(sim.url, ca, tmp_path) as front:  # no X-Forwarded-Proto: Rancher says http://
        listed = requests.get(f"{front.url}/v2-beta/services", auth=(ACCESS_KEY, SECRET_KEY), verify=ca_file,
                              timeout=5).json()
        assert listed["data"][0]["links"]["self"].startswith(front.url.replace("https://", "http://"))


def test_the_v3_client_works_under_a_path_prefix_with_x_api_url_prefix(
        sim2: Simulator, ca: trustme.CA, ca_file: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rancher = pytest.importorskip("rancher")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    sim2.add_workload("default", "api", [{"name": "api", "image": "api:1"}])
    headers = {"X-Forwarded-Proto": "https", "X-API-URL-Prefix": "/rancher"}
    with start_proxy(sim2.url, ca, tmp_path, prefix="/rancher", add_headers=headers) as front:
        client = rancher.Client(url=f"{front.url}/v3/project/{sim2.default_project_id}",
                                token=f"{TOKEN}:{TOKEN_SECRET}")
        workload = client.list_workload(name="api").data[0]
        assert workload.links.self.startswith(f"{front.url}/v3/project/")
        assert client.reload(workload).name == "api"
