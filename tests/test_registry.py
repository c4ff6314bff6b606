"""registry.py against a real registry (Debian's docker-registry, tests/distribution.py): tags listed
anonymously, with htpasswd basic auth and with bearer tokens, page by page; credentials read from
Docker's config.json (and its credential helpers) as Docker reads them; every failure one line
naming the setting to fix, with no secret in it."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import trustme

from rancher_deploy.errors import ConfigError, ExitCode
from rancher_deploy.images import ImageRef
from rancher_deploy.registry import (HUB_API_HOST, HUB_CONFIG_KEY, RegistryAccess, RegistryError, Repository,
                                     list_tags, login_for)
from tests.distribution import Registry, TokenIssuer, basic_auth, docker_config, free_port

PASSWORD = "registry-pass-recognisable-42"
TAGS = ("1.0.0", "1.2.0", "1.10.0", "2.0.0-rc.1", "latest")


def access(config: Path, *, ca_file: str | None = None, plain: tuple[str, ...] = ()) -> RegistryAccess:
    from requests.utils import DEFAULT_CA_BUNDLE_PATH

    return RegistryAccess(verify=ca_file or DEFAULT_CA_BUNDLE_PATH, timeout=5.0, docker_config=config,
                          plain_http=frozenset(plain))


def image(registry: Registry, name: str = "shop/web") -> ImageRef:
    return ImageRef.parse(f"{registry.host}/{name}")


@pytest.fixture
def basic(tmp_path: Path, ca: trustme.CA) -> Registry:
    with Registry(tmp_path / "basic", ca=ca, users={"alice": PASSWORD}) as registry:
        registry.push_tags("shop/web", *TAGS)
        yield registry


@pytest.fixture
def issuer(tmp_path: Path, ca: trustme.CA) -> TokenIssuer:
    server = TokenIssuer(ca, tmp_path, users={"bob": PASSWORD})
    yield server
    server.close()


@pytest.fixture
def token(tmp_path: Path, ca: trustme.CA, issuer: TokenIssuer) -> Registry:
    with Registry(tmp_path / "token", ca=ca, issuer=issuer) as registry:
        registry.push_tags("shop/web", *TAGS)
        yield registry


def test_anonymous_over_plain_http_for_a_registry_listed_as_such(tmp_path: Path) -> None:
    with Registry(tmp_path / "anon") as registry:
        registry.push_tags("shop/web", *TAGS)
        tags = list_tags(image(registry), access(tmp_path / "none", plain=(registry.host,)))
    assert sorted(tags) == sorted(TAGS)


def test_anonymous_over_https_trusting_the_registry_ca(tmp_path: Path, ca: trustme.CA) -> None:
    with Registry(tmp_path / "anon", ca=ca) as registry:
        registry.push_tags("team/api", "3.1")
        assert list_tags(image(registry, "team/api"), access(tmp_path / "none", ca_file=registry.ca_file)) == ["3.1"]


def test_tags_are_paged_by_the_link_header(tmp_path: Path, basic: Registry) -> None:
    config = docker_config(tmp_path / "docker", {basic.host: basic_auth("alice", PASSWORD)})
    # Two a page: without following `Link: <...?last=...&n=2>; rel="next"` only two would come back.
    tags = list_tags(image(basic), access(config, ca_file=basic.ca_file), page_size=2)
    assert sorted(tags) == sorted(TAGS)


def test_htpasswd_basic_auth_with_username_and_password_under_a_url_key(tmp_path: Path, basic: Registry) -> None:
    # Docker's older config files key entries by URL; docker/cli's ConvertToHostname matches them.
    config = docker_config(tmp_path / "docker", {f"https://{basic.host}/v1/": {"username": "alice",
                                                                               "password": PASSWORD}})
    assert sorted(list_tags(image(basic), access(config, ca_file=basic.ca_file))) == sorted(TAGS)


def test_bearer_token_flow_asks_the_realm_for_a_pull_scope(tmp_path: Path, token: Registry,
                                                            issuer: TokenIssuer) -> None:
    config = docker_config(tmp_path / "docker", {token.host: basic_auth("bob", PASSWORD)})
    tags = list_tags(image(token), access(config, ca_file=token.ca_file), page_size=2)
    assert sorted(tags) == sorted(TAGS)
    assert issuer.requests[0] == {"user": "bob", "service": "registry.test", "scope": ["repository:shop/web:pull"]}


def test_a_token_that_expires_in_the_middle_of_a_listing_is_renewed_and_the_listing_goes_on(
        tmp_path: Path, ca: trustme.CA, issuer: TokenIssuer) -> None:
    # Tokens live minutes (the issuer's `expires_in`), and a long listing of pages can outlast one. Two
    # things the real registry here (Debian's docker-registry 2.8.2) does not do are done by a TLS front:
    # it pages the tag list as distribution 3.x and hosted registries do (`n`, `last` and a `Link:
    # <...>; rel="next"` header, distribution docs/spec/api.md "Pagination"; 2.8 answers every tag at
    # once), and it swaps the client's token for an expired one on the way to the second page, so no
    # test waits out a lifetime. The registry itself refuses that token (401 and its Bearer challenge,
    # registry/auth/token/token.go: exp plus 60 s leeway), the client asks the issuer for a new one and
    # the listing goes on from that page.
    from urllib.parse import parse_qs, urlsplit

    from tests.conftest import server_cert
    from tests.tls_proxy import TlsProxy

    expired = issuer.token("bob", ["repository:shop/web:pull"], lifetime=-120)
    later_pages: list[str] = []

    def expire_on_the_second_page(method: str, path: str, headers: dict[str, str]) -> None:
        if "/tags/list" in path and "last=" in path:   # a page after the first: the Link header's
            later_pages.append(path)
            if len(later_pages) == 1:
                headers["Authorization"] = f"Bearer {expired}"

    def page(method: str, path: str, status: int, headers: dict[str, str], body: bytes
             ) -> tuple[int, dict[str, str], bytes]:
        if status != 200 or "/tags/list" not in path:
            return status, headers, body
        query = parse_qs(urlsplit(path).query)
        document = json.loads(body)
        tags = sorted(document["tags"])
        after = [tag for tag in tags if "last" not in query or tag > query["last"][0]]
        size = int(query.get("n", [len(tags)])[0])
        document["tags"] = after[:size]
        headers = {name: value for name, value in headers.items() if name.lower() != "link"}
        if len(after) > size:
            headers["Link"] = f'</v2/shop/web/tags/list?n={size}&last={after[size - 1]}>; rel="next"'
        return status, headers, json.dumps(document).encode()

    with Registry(tmp_path / "behind", issuer=issuer) as registry:
        registry.push_tags("shop/web", *TAGS)
        cert, key = server_cert(ca, tmp_path, "front")
        with TlsProxy(registry.url, cert, key, rewrite=expire_on_the_second_page, reshape=page) as front:
            host = front.url.removeprefix("https://")
            config = docker_config(tmp_path / "docker", {host: basic_auth("bob", PASSWORD)})
            ca_file = str(tmp_path / "front-ca.pem")
            ca.cert_pem.write_to_path(ca_file)
            tags = list_tags(ImageRef.parse(f"{host}/shop/web"), access(config, ca_file=ca_file), page_size=2)
    assert tags == sorted(TAGS)
    # Pages 2 and 3 (of 2, 2 and 1 tags); the second asked again with the new token.
    assert len(later_pages) == 3 and later_pages[0] == later_pages[1]
    assert [request["user"] for request in issuer.requests] == ["bob", "bob"]   # a token, then a fresh one


def test_anonymous_token_where_the_issuer_allows_anonymous_pulls(tmp_path: Path, ca: trustme.CA,
                                                                  issuer: TokenIssuer) -> None:
    issuer.anonymous_pull = True
    with Registry(tmp_path / "public", ca=ca, issuer=issuer) as registry:
        registry.push_tags("library/app", "1.0", user="bob")
        assert list_tags(image(registry, "library/app"), access(tmp_path / "none", ca_file=registry.ca_file)) == ["1.0"]
    assert issuer.requests[-1]["user"] is None


@pytest.mark.parametrize("kind", ["basic", "token"])
def test_wrong_credentials_are_one_line_naming_docker_config(tmp_path: Path, kind: str,
                                                             request: pytest.FixtureRequest) -> None:
    registry: Registry = request.getfixturevalue(kind)
    user = "alice" if kind == "basic" else "bob"
    config = docker_config(tmp_path / "docker", {registry.host: basic_auth(user, "wrong-" + PASSWORD)})
    with pytest.raises(ConfigError) as raised:
        list_tags(image(registry), access(config, ca_file=registry.ca_file))
    message = str(raised.value)
    assert message.startswith("DOCKER_CONFIG: listing the tags of ")
    assert f'refused the credentials of auths["{registry.host}"] in {config / "config.json"}' in message
    assert "\n" not in message and PASSWORD not in message
    assert raised.value.exit_code is ExitCode.USAGE


def test_no_credentials_for_a_registry_that_wants_them_says_docker_login(tmp_path: Path, basic: Registry) -> None:
    with pytest.raises(ConfigError) as raised:
        list_tags(image(basic), access(tmp_path / "none", ca_file=basic.ca_file))
    assert f"has none for {basic.host} (docker login {basic.host})" in str(raised.value)


def test_credentials_are_never_sent_over_plain_http(tmp_path: Path) -> None:
    with Registry(tmp_path / "plain", users={"alice": PASSWORD}) as registry:
        config = docker_config(tmp_path / "docker", {registry.host: basic_auth("alice", PASSWORD)})
        with pytest.raises(ConfigError) as raised:
            list_tags(image(registry), access(config, plain=(registry.host,)))
    assert str(raised.value).startswith("RANCHER_REGISTRY_HTTP: ")
    assert "never sent over plain HTTP" in str(raised.value)


def test_an_untrusted_certificate_names_the_registry_ca_setting(tmp_path: Path, basic: Registry) -> None:
    config = docker_config(tmp_path / "docker", {basic.host: basic_auth("alice", PASSWORD)})
    with pytest.raises(ConfigError) as raised:
        list_tags(image(basic), access(config))  # the public CAs only: the test CA signed it
    assert str(raised.value).startswith("RANCHER_REGISTRY_CA_BUNDLE: ")
    assert raised.value.exit_code is ExitCode.USAGE


def test_a_plain_http_registry_asked_over_https_names_the_plain_http_setting(tmp_path: Path) -> None:
    with Registry(tmp_path / "plain") as registry:
        with pytest.raises(ConfigError) as raised:
            list_tags(image(registry), access(tmp_path))
    assert str(raised.value).startswith("RANCHER_REGISTRY_HTTP: ")
    assert "if it serves plain HTTP, list it here" in str(raised.value)


def test_a_registry_that_cannot_be_reached_exits_3(tmp_path: Path) -> None:
    host = f"127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError) as raised:
        list_tags(ImageRef.parse(f"{host}/shop/web"), access(tmp_path, plain=(host,)))
    assert raised.value.exit_code is ExitCode.RANCHER_UNAVAILABLE
    assert "could not be reached" in str(raised.value)


def test_an_unknown_repository_exits_2(tmp_path: Path, basic: Registry) -> None:
    config = docker_config(tmp_path / "docker", {basic.host: basic_auth("alice", PASSWORD)})
    with pytest.raises(RegistryError) as raised:
        list_tags(image(basic, "shop/nothing"), access(config, ca_file=basic.ca_file))
    assert raised.value.exit_code is ExitCode.USAGE
    assert "has no repository shop/nothing (HTTP 404)" in str(raised.value)


def _helper(directory: Path, name: str, script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A docker-credential-NAME program on PATH, as `docker login` with a credential store uses."""
    directory.mkdir(parents=True, exist_ok=True)
    program = directory / f"docker-credential-{name}"
    program.write_text("#!/bin/sh\n" + script)
    program.chmod(program.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{directory}{os.pathsep}{os.environ['PATH']}")


def test_a_cred_helper_gives_the_credentials(tmp_path: Path, basic: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    # docker-credential-helpers' protocol: `get` reads the server on stdin, answers JSON.
    _helper(tmp_path / "bin", "test",
            f'read server\n[ "$server" = "{basic.host}" ] || exit 1\n'
            f'printf \'{{"ServerURL":"%s","Username":"alice","Secret":"{PASSWORD}"}}\' "$server"\n', monkeypatch)
    config = docker_config(tmp_path / "docker", {}, credHelpers={basic.host: "test"})
    assert sorted(list_tags(image(basic), access(config, ca_file=basic.ca_file))) == sorted(TAGS)


def test_a_creds_store_without_an_entry_means_anonymous(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _helper(tmp_path / "bin", "store", 'echo "credentials not found in native keychain"; exit 1\n', monkeypatch)
    config = docker_config(tmp_path / "docker", {}, credsStore="store")
    assert login_for(Repository("reg.example.com", "a/b"), access(config)) is None


def test_a_missing_helper_is_one_line_naming_docker_config(tmp_path: Path) -> None:
    config = docker_config(tmp_path / "docker", {}, credHelpers={"reg.example.com": "nowhere-to-be-found"})
    with pytest.raises(ConfigError, match=r"^DOCKER_CONFIG: .*docker-credential-nowhere-to-be-found, which is not on PATH"):
        login_for(Repository("reg.example.com", "a/b"), access(config))


def test_an_identity_token_is_refused_clearly(tmp_path: Path) -> None:
    config = docker_config(tmp_path / "docker", {"reg.example.com": {"identitytoken": "refresh-" + PASSWORD}})
    with pytest.raises(ConfigError) as raised:
        login_for(Repository("reg.example.com", "a/b"), access(config))
    assert "identity token" in str(raised.value) and PASSWORD not in str(raised.value)


def test_a_config_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ConfigError, match=r"^DOCKER_CONFIG: .*config.json could not be read as JSON"):
        login_for(Repository("reg.example.com", "a/b"), access(tmp_path))


@pytest.mark.parametrize(("text", "host", "path"), [
    ("nginx", HUB_API_HOST, "library/nginx"),
    ("docker.io/nginx:1.25", HUB_API_HOST, "library/nginx"),
    ("index.docker.io/library/nginx", HUB_API_HOST, "library/nginx"),
    ("bitnami/redis", HUB_API_HOST, "bitnami/redis"),
    ("registry.example.com:5000/shop/web:2.1", "registry.example.com:5000", "shop/web"),
    ("localhost:5000/app", "localhost:5000", "app"),
])
def test_docker_hub_naming(text: str, host: str, path: str) -> None:
    repository = Repository.of(ImageRef.parse(text))
    assert (repository.host, repository.path) == (host, path)
    assert repository.config_key == (HUB_CONFIG_KEY if host == HUB_API_HOST else host)


def test_docker_hub_credentials_are_found_under_docker_logins_key(tmp_path: Path) -> None:
    config = docker_config(tmp_path, {HUB_CONFIG_KEY: basic_auth("me", PASSWORD)})
    login = login_for(Repository.of(ImageRef.parse("me/app")), access(config))
    assert login is not None and (login.username, login.password) == ("me", PASSWORD)
    assert PASSWORD not in repr(login)


def test_without_the_binary_the_tests_skip_except_where_ci_requires_them(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.distribution import REQUIRED, registry_binary

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(REQUIRED, raising=False)
    with pytest.raises(pytest.skip.Exception):
        registry_binary()
    monkeypatch.setenv(REQUIRED, "1")   # what .ci/run sets
    with pytest.raises(pytest.fail.Exception, match="must not skip"):
        registry_binary()


def test_the_registry_notifies_a_push_to_the_configured_endpoint(tmp_path: Path) -> None:
    # The path `rancher-deploy serve`'s end-to-end test takes (tests/distribution.py docstring): the
    # registry's `notifications:` endpoint receives the distribution envelope for each push.
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[dict[str, str], dict[str, object]]] = []
    pushed = threading.Event()

    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((dict(self.headers), body))
            if any(event.get("action") == "push" and event["target"].get("tag") == "1.0" for event in body["events"]):
                pushed.set()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/webhooks/distribution"
    try:
        with Registry(tmp_path / "notify", notify=url, notify_headers={"Authorization": ["Bearer hook-token"]}) as reg:
            reg.push_image("shop/web", "1.0")
            assert pushed.wait(10), f"no push notification arrived: {reg.log()}"
    finally:
        server.shutdown()
        server.server_close()
    headers, body = next((h, b) for h, b in received
                         if any(e["target"].get("tag") == "1.0" for e in b["events"]))  # type: ignore[union-attr,index]
    assert headers["Authorization"] == "Bearer hook-token"
    assert headers["Content-Type"].startswith("application/vnd.docker.distribution.events.v1+json")
    # docs/fleet.md names the media type this registry really sends.
    assert "application/vnd.docker.distribution.events.v1+json" in (Path(__file__).resolve().parent.parent / "docs" / "fleet.md").read_text()
    event = next(e for e in body["events"] if e["target"].get("tag") == "1.0")  # type: ignore[union-attr,index]
    assert event["action"] == "push" and event["target"]["repository"] == "shop/web"


def test_without_the_poll_extra_polling_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "dxf", None)  # what `import dxf` meets where python-dxf is not installed
    with pytest.raises(RegistryError, match=r"pip install 'rancher-deploy\[poll\]'") as raised:
        list_tags(ImageRef.parse("registry.example.com/shop/web"), access(tmp_path))
    assert raised.value.exit_code is ExitCode.USAGE
