"""Placing Rancher's links on the configured URL: pure rules, table-tested."""

from __future__ import annotations

import pytest

from rancher_deploy.links import LinkMap, Rebase, api_base, show_origin

HOME = "https://rancher.example.com/rancher/v2-beta/projects/1a5"


@pytest.mark.parametrize(("url", "base"), [
    ("https://h/rancher/v2-beta/projects/1a5", "https://h/rancher"),
    ("http://h:8080/v3/project/c:p/workloads", "http://h:8080"),
    ("https://h/k8s/clusters/local/apis", "https://h"),
    ("https://h/v1/apps.deployments", "https://h"),
    ("https://h/healthz", None),
])
def test_api_base_is_everything_before_the_api_root(url: str, base: str | None) -> None:
    assert api_base(url) == base


def learnt() -> LinkMap:
    return LinkMap(HOME).learn("https://rancher.example.com/rancher/v2-beta",
                               "http://rancher.example.com/v2-beta")


@pytest.mark.parametrize(("link", "placed"), [
    ("http://rancher.example.com/v2-beta/projects/1a5/services/1s1",
     "https://rancher.example.com/rancher/v2-beta/projects/1a5/services/1s1"),
    ("http://rancher.example.com/v2-beta/services/1s1/?action=upgrade",
     "https://rancher.example.com/rancher/v2-beta/services/1s1/?action=upgrade"),
    ("http://rancher.example.com/v2-beta/services?marker=m100",
     "https://rancher.example.com/rancher/v2-beta/services?marker=m100"),
    ("https://rancher.example.com/rancher/v2-beta/services", "https://rancher.example.com/rancher/v2-beta/services"),
    ("http://rancher.example.com.evil/v2-beta", "http://rancher.example.com.evil/v2-beta"),  # not at a boundary
])
def test_links_are_rebased_onto_home(link: str, placed: str) -> None:
    assert learnt().place(link) == placed


def test_what_is_not_home_stays_refused() -> None:
    links = learnt()
    assert links.at_home(links.place("http://rancher.example.com/v2-beta/stacks"))
    assert not links.at_home("http://rancher.example.com/rancher/v2-beta")       # scheme
    assert not links.at_home("https://rancher.example.com:8443/rancher/v2-beta")  # port
    assert not links.at_home("https://other.example.com/rancher/v2-beta")         # host
    assert links.at_home("https://RANCHER.example.com:443/anything")              # same origin, spelt otherwise
    assert not links.at_home("https://rancher.example.com:notaport/")


def test_nothing_is_learnt_where_the_bases_agree_or_no_api_root_is_shared() -> None:
    home = LinkMap(HOME)
    assert home.learn("https://h/v2-beta/stacks/1e5", "https://h/v2-beta/stacks/1st5") is home
    assert home.learn("https://h/healthz", "http://h/healthz") is home
    assert learnt().learn("https://rancher.example.com/rancher/v2-beta",
                          "http://rancher.example.com/v2-beta").rebases == learnt().rebases


def test_show_origin_drops_path_credentials_and_default_ports() -> None:
    assert show_origin("https://AK:SK@h:443/v2-beta") == "https://h"
    assert show_origin("http://h:8080/v2-beta?x=1") == "http://h:8080"


@pytest.mark.parametrize(("theirs", "ours", "url", "placed"), [
    # A proxy that passes the scheme but not its path prefix: Rancher's links lack /rancher.
    ("https://h", "https://h/rancher", "https://h/v2-beta/services", "https://h/rancher/v2-beta/services"),
    ("https://h", "https://h/rancher", "https://h/rancher/v2-beta/services", "https://h/rancher/v2-beta/services"),
    # Rancher believes it lives under a prefix the run does not use.
    ("https://h/rancher", "https://h", "https://h/rancher/v3/projects", "https://h/v3/projects"),
    ("https://h/rancher", "https://h", "https://h/v3/projects", "https://h/v3/projects"),
])
def test_placing_a_url_twice_changes_nothing(theirs: str, ours: str, url: str, placed: str) -> None:
    rebase = Rebase(theirs, ours)
    assert rebase.apply(url) == placed
    assert rebase.apply(placed) == placed


def test_ui_pages_are_built_on_the_configured_address() -> None:
    from rancher_deploy.links import service_page, workload_page

    base = "https://host/rancher"
    page = service_page(f"{base}/v2-beta/projects/1a5", "1a5", "1st7", "1s12")
    assert page == "https://host/rancher/env/1a5/apps/stacks/1st7/services/1s12/containers"
    assert service_page(f"{base}/v2-beta/projects/1a5", "1a5", None, "1s12") == ""
    assert workload_page(base, flavour="v3", cluster_or_project="c-abc:p-xyz", kind="statefulset", namespace="db",
                         name="pg") == "https://host/rancher/p/c-abc:p-xyz/workload/statefulset:db:pg"
    assert workload_page(base, flavour="k8s", cluster_or_project="c-abc", kind="cronjob", namespace="ops",
                         name="backup") == "https://host/rancher/dashboard/c/c-abc/explorer/batch.cronjob/ops/backup"
