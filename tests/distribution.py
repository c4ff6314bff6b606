"""A real container registry for tests: Debian's `docker-registry` (the CNCF distribution registry,
github.com/distribution/distribution) started on loopback with a generated config, and a small token
issuer for its bearer-token auth.

Three kinds of access, as registries in the wild offer them:
- anonymous (`Registry(tmp_path)`): plain HTTP, or HTTPS with `ca=` given;
- htpasswd basic auth (`users={"name": "password"}`): a bcrypt htpasswd file made here, HTTPS;
- bearer tokens (`issuer=TokenIssuer(...)`): the registry's `auth: token:` config answers 401 with
  `WWW-Authenticate: Bearer realm=...,service=...,scope=...`, and the issuer below hands out JWTs
  signed with a key made at test time, whose self-signed certificate is the registry's
  `rootcertbundle` (distribution `registry/auth/token/token.go`: a token names its key by `x5c`,
  verified against that bundle; `iss` must be the configured issuer, `aud` the service).

Images are pushed over the registry's HTTP API v2 (`push_image`): a config blob, one tiny layer and
a Docker schema 2 manifest under a tag, the way `docker push` uploads them (monolithic blob uploads,
distribution `docs/spec/api.md`). No Docker engine is needed.

**Registry notifications** (for tests of `rancher-deploy serve`'s `POST /webhooks/...`): start the
server first, then the registry with `notify="http://127.0.0.1:PORT/webhooks/registry/TOKEN"`
(and `notify_headers={"Authorization": ["Bearer ..."]}` for header auth): every push then sends the
distribution registry's notification envelope (`{"events": [{"action": "push", "target": {...}}]}`,
media type `application/vnd.docker.distribution.events.v1+json`) to that URL, as the registry's
`notifications: endpoints:` config does in production. The registry sends from a queue of its own,
so a test waits for the delivery (the server's /status, or a receiver's event), never sleeps.

The binary is found on PATH (`docker-registry`, installed by `.ci/run` with apt-get). Without it,
tests that need it are skipped, except where `REGISTRY_TESTS_REQUIRED=1` (set by `.ci/run`): there a
missing binary fails them, so CI never passes by skipping the real-registry path.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
import trustme
import yaml

from tests.conftest import server_cert

BINARY = "docker-registry"
REQUIRED = "REGISTRY_TESTS_REQUIRED"
SERVICE = "registry.test"
ISSUER = "rancher-deploy-tests"
MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
START_TIMEOUT = 15.0


def registry_binary() -> str:
    """The `docker-registry` binary's path; skips the test when it is missing, or fails it where
    `.ci/run` said the real registry is required."""
    found = shutil.which(BINARY)
    if found:
        return found
    message = f"{BINARY} is not installed (apt-get install docker-registry): the real-registry tests need it"
    if os.environ.get(REQUIRED) == "1":
        pytest.fail(f"{message}; {REQUIRED}=1 says this run must not skip them")
    pytest.skip(message)


def free_port() -> int:
    """A port nothing listens on now; the registry binds it a moment later (it cannot take port 0
    and tell us, as our own servers do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def htpasswd_line(user: str, password: str) -> str:
    """One line of an htpasswd file in the only format the registry reads: bcrypt (`$2y$`)."""
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{user}:{hashed}\n"


@dataclass
class TokenIssuer:
    """A token server for the registry's bearer-token flow (the protocol of distribution's
    `docs/spec/auth/token.md`): `GET /token?service=...&scope=repository:NAME:pull` with Basic auth
    of a known user (or none, when `anonymous_pull`) answers `{"token": JWT, "access_token": JWT}`.

    Serves HTTPS with `ca`'s certificate. `requests` records each query (scopes, service, user) so a
    test can check what the client asked for; `refused` counts requests turned away with 401.
    """

    ca: trustme.CA
    directory: Path
    users: dict[str, str] = field(default_factory=dict)
    anonymous_pull: bool = False
    lifetime: int = 300
    requests: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0

    def __post_init__(self) -> None:
        from cryptography.hazmat.primitives import serialization

        # The signing key: its self-signed certificate is the registry's rootcertbundle.
        self._signer = trustme.CA()
        self.bundle = self.directory / "token-signer.pem"
        self._signer.cert_pem.write_to_path(str(self.bundle))
        certificate = self._signer.cert_pem.bytes()
        der = ssl.PEM_cert_to_DER_cert(certificate.decode())
        self._x5c = [base64.b64encode(der).decode()]
        self._key = serialization.load_pem_private_key(self._signer.private_key_pem.bytes(), password=None)
        self._lock = threading.Lock()
        cert, key = server_cert(self.ca, self.directory, "token-issuer")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server = _IssuerServer(self, context)
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-issuer", daemon=True)
        self._thread.start()

    @property
    def realm(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}/token"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def token(self, user: str | None, scopes: list[str], *, lifetime: int | None = None) -> str:
        """A JWT granting `scopes` (`repository:NAME:ACTIONS`) to `user` (None: anonymous), valid for
        `lifetime` seconds (default the issuer's; past the registry's 60 s leeway below zero: expired)."""
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec

        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [action for action in actions.split(",") if action]
            allowed = wanted if user is not None else [action for action in wanted if action == "pull"]
            access.append({"type": kind, "name": name, "actions": allowed})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user or "", "aud": SERVICE, "exp": now + (self.lifetime if lifetime is None else lifetime), "nbf": now - 1,
                  "iat": now, "jti": secrets.token_hex(8), "access": access}
        algorithm = "ES256" if isinstance(self._key, ec.EllipticCurvePrivateKey) else "RS256"
        return jwt.encode(claims, self._key, algorithm=algorithm, headers={"x5c": self._x5c})  # type: ignore[arg-type]

    def answer(self, query: dict[str, list[str]], authorization: str | None) -> tuple[int, dict[str, Any]]:
        """What the issuer answers one request: (status, JSON body)."""
        user: str | None = None
        if authorization and authorization.startswith("Basic "):
            name, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            if self.users.get(name) != password:
                with self._lock:
                    self.refused += 1
                return 401, {"details": "incorrect username or password"}
            user = name
        elif not self.anonymous_pull:
            with self._lock:
                self.refused += 1
            return 401, {"details": "authentication required"}
        with self._lock:
            self.requests.append({"user": user, "service": query.get("service", [""])[0],
                                  "scope": query.get("scope", [])})
        token = self.token(user, query.get("scope", []))
        return 200, {"token": token, "access_token": token, "expires_in": self.lifetime}


class _IssuerServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, issuer: TokenIssuer, context: ssl.SSLContext) -> None:
        self.issuer = issuer
        self.context = context
        super().__init__(("127.0.0.1", 0), _IssuerHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


class _IssuerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _IssuerServer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        parts = urlsplit(self.path)
        if parts.path != "/token":
            status, body = 404, {"details": "not found"}
        else:
            status, body = self.server.issuer.answer(parse_qs(parts.query), self.headers.get("Authorization"))
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Registry:
    """One `docker-registry` process on 127.0.0.1, its storage and config in `directory`.

    `users` turns on htpasswd basic auth, `issuer` bearer tokens (the two exclude each other, as in
    the registry's config); `ca` serves HTTPS with a certificate it signs, else plain HTTP (where
    clients should send no credentials: a test may check that they do not).
    `notify` and `notify_headers` set one notification endpoint (see the module docstring).
    Use as a context manager, or call `close()`.
    """

    def __init__(self, directory: Path, *, ca: trustme.CA | None = None, users: dict[str, str] | None = None,
                 issuer: TokenIssuer | None = None, notify: str | None = None,
                 notify_headers: dict[str, list[str]] | None = None) -> None:
        binary = registry_binary()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.users = dict(users or {})
        self.issuer = issuer
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.scheme = "https" if ca is not None else "http"
        self.ca_file: str | None = None
        config: dict[str, Any] = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(directory / "storage")}, "delete": {"enabled": True},
                        "maintenance": {"uploadpurging": {"enabled": False}}},
            "http": {"addr": self.host, "secret": secrets.token_hex(16)},
            "health": {"storagedriver": {"enabled": False}},
        }
        if ca is not None:
            cert, key = server_cert(ca, directory, "registry")
            config["http"]["tls"] = {"certificate": cert, "key": key}
            self.ca_file = str(directory / "registry-ca.pem")
            ca.cert_pem.write_to_path(self.ca_file)
        if users:
            htpasswd = directory / "htpasswd"
            htpasswd.write_text("".join(htpasswd_line(user, password) for user, password in users.items()))
            config["auth"] = {"htpasswd": {"realm": "test-registry", "path": str(htpasswd)}}
        elif issuer is not None:
            config["auth"] = {"token": {"realm": issuer.realm, "service": SERVICE, "issuer": ISSUER,
                                        "rootcertbundle": str(issuer.bundle)}}
        if notify is not None:
            # threshold/backoff: the registry retries a failed delivery after `backoff`; short here.
            config["notifications"] = {"endpoints": [{
                "name": "rancher-deploy", "url": notify, "headers": notify_headers or {},
                "timeout": "5s", "threshold": 1, "backoff": "100ms"}]}
        self.config = directory / "config.yml"
        self.config.write_text(yaml.safe_dump(config))
        self._log = (directory / "registry.log").open("wb")
        self._process = subprocess.Popen([binary, "serve", str(self.config)], stdout=self._log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_ready()

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def _wait_ready(self) -> None:
        """Until the registry accepts connections (it answers /v2/ at once when it does); fails with
        its log when it exits or does not listen within START_TIMEOUT."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                threading.Event().wait(0.02)  # the subprocess is starting; a short bounded poll
        self.close()
        raise RuntimeError(f"docker-registry did not start: {self.log()}")

    def log(self) -> str:
        self._log.flush()
        return (self.directory / "registry.log").read_text(errors="replace")[-4000:]

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- pushing, as `docker push` does over the HTTP API v2 --

    def session(self, user: str | None = None, *, repository: str = "") -> requests.Session:
        """A requests session that may push to `repository`: Basic auth for htpasswd, a push token
        from the issuer for token auth (asked for directly: the test owns the issuer)."""
        http = requests.Session()
        http.trust_env = False  # REQUESTS_CA_BUNDLE from the environment would replace `verify`
        http.verify = self.ca_file or True
        if self.users:
            name = user or next(iter(self.users))
            http.auth = (name, self.users[name])
        elif self.issuer is not None:
            name = user or next(iter(self.issuer.users))
            token = self.issuer.token(name, [f"repository:{repository}:pull,push"])
            http.headers["Authorization"] = f"Bearer {token}"
        return http

    def push_image(self, repository: str, tag: str, *, user: str | None = None) -> str:
        """Push a minimal image (config blob, one empty layer, Docker schema 2 manifest) as
        `repository:tag`; returns the manifest's digest. Each tag gets its own config, so its own digest."""
        with self.session(user, repository=repository) as http:
            config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Labels": {"tag": tag}},
                                 "rootfs": {"type": "layers", "diff_ids": [_EMPTY_TAR_DIGEST]}}).encode()
            layer = _EMPTY_TAR_GZ
            config_digest = self._upload(http, repository, config)
            layer_digest = self._upload(http, repository, layer)
            manifest = json.dumps({
                "schemaVersion": 2, "mediaType": MANIFEST_V2,
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(config),
                           "digest": config_digest},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(layer),
                            "digest": layer_digest}],
            }).encode()
            answer = http.put(f"{self.url}/v2/{repository}/manifests/{tag}", data=manifest,
                              headers={"Content-Type": MANIFEST_V2}, timeout=10)
            answer.raise_for_status()
            return _digest(manifest)

    def push_tags(self, repository: str, *tags: str, user: str | None = None) -> None:
        for tag in tags:
            self.push_image(repository, tag, user=user)

    def _upload(self, http: requests.Session, repository: str, blob: bytes) -> str:
        """A monolithic blob upload: POST starts it (202, Location), PUT ?digest= ends it (201)."""
        digest = _digest(blob)
        started = http.post(f"{self.url}/v2/{repository}/blobs/uploads/", timeout=10)
        started.raise_for_status()
        location = urljoin(self.url, started.headers["Location"])
        separator = "&" if "?" in location else "?"
        done = http.put(f"{location}{separator}digest={digest}", data=blob,
                        headers={"Content-Type": "application/octet-stream"}, timeout=10)
        done.raise_for_status()
        return digest


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _empty_tar_gz() -> tuple[bytes, str]:
    """An empty tar archive gzipped (the layer) and the digest of the uncompressed tar (its diff_id)."""
    import gzip
    import io
    import tarfile

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w"):
        pass
    tar = raw.getvalue()
    return gzip.compress(tar, mtime=0), _digest(tar)


_EMPTY_TAR_GZ, _EMPTY_TAR_DIGEST = _empty_tar_gz()


def docker_config(directory: Path, auths: dict[str, dict[str, str]], **extra: Any) -> Path:
    """Write `directory/config.json` as `docker login` leaves it (`auths` entries with base64 `auth`,
    or `username`/`password`); returns the directory, the value DOCKER_CONFIG takes."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps({"auths": auths, **extra}))
    return directory


def basic_auth(user: str, password: str) -> dict[str, str]:
    """A config.json `auths` entry as `docker login` writes it."""
    return {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
