"""A repository's tags from its registry (the HTTP API v2), with the credentials Docker would use.

Registry polling (`poll.py`) is the only reader. The HTTP side is python-dxf (the `poll` extra,
imported on the first call, never by a CI run's start-up): it follows the `WWW-Authenticate`
challenge of the distribution spec, Basic or Bearer (`realm`, `service`, `scope`; anonymous tokens
too, as Docker Hub hands out), re-authenticates when a token expires, and pages through
`/v2/<name>/tags/list?n=` by the `Link` header. What it does not do, this module does: Docker's
naming rules (Docker Hub is `registry-1.docker.io`, one-part names live under `library/`), Docker's
`config.json` credentials, and turning every failure into one line of the `errors` family that names
the setting to fix and never shows a secret.

Credentials follow docker/cli (`cli/config/configfile/file.go` GetCredentialsStore,
`cli/config/credentials/file_store.go`): a `credHelpers` entry for the registry, else `credsStore`,
runs `docker-credential-<name> get` with the registry on stdin, as Docker does; otherwise the
`auths` entry whose key is the registry (or a URL of it), with a base64 `auth` or
`username`/`password`. Docker Hub's key is `https://index.docker.io/v1/`. An `identitytoken` (OAuth
refresh token) is refused with a clear error: python-dxf cannot exchange one.
"""

from __future__ import annotations

import base64
import binascii
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator
from urllib.parse import urlsplit

from rancher_deploy import __version__
from rancher_deploy.errors import ConfigError, DeployError, ExitCode, RETRYABLE_STATUSES
from rancher_deploy.images import DEFAULT_REGISTRY, ImageRef

if TYPE_CHECKING:
    import dxf

# Docker Hub: what `docker.io` means for the API and for config.json (docker/docker registry/config.go:
# IndexServer, DefaultRegistryHost "registry-1.docker.io").
HUB_API_HOST = "registry-1.docker.io"
HUB_CONFIG_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = frozenset({DEFAULT_REGISTRY, "index.docker.io", HUB_API_HOST})
PAGE_SIZE = 100        # tags asked for per page (`n`); the registry may send fewer, and a Link for more
MAX_TAGS = 100_000     # a registry whose Link never ends is not followed for ever
HELPER_TIMEOUT = 30.0  # seconds a docker-credential helper may take


class RegistryError(DeployError):
    """A registry refused or failed a tags listing; nothing was changed. Exit 2 when the settings or
    the registry's answer must change (credentials, trust, a repository that does not exist), 3 when
    it could not be reached or failed in a way that may pass (connection, timeout, 429, 5xx)."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.exit_code = ExitCode.RANCHER_UNAVAILABLE if retryable else ExitCode.USAGE


@dataclass(frozen=True)
class Repository:
    """Where a repository's tags are listed: the API host (`host[:port]`) and path, and the key
    Docker files its credentials under."""

    host: str
    path: str

    @classmethod
    def of(cls, image: ImageRef) -> Repository:
        """`nginx` -> registry-1.docker.io library/nginx; `reg.example.com:5000/a/b` as written."""
        registry = image.registry or DEFAULT_REGISTRY
        if registry in _HUB_NAMES:
            path = image.repository if "/" in image.repository else f"library/{image.repository}"
            return cls(HUB_API_HOST, path)
        return cls(registry, image.repository)

    @property
    def hub(self) -> bool:
        return self.host == HUB_API_HOST

    @property
    def config_key(self) -> str:
        """The server address Docker looks credentials up by (`docker login` writes it)."""
        return HUB_CONFIG_KEY if self.hub else self.host

    def __str__(self) -> str:
        return f"{self.host}/{self.path}"


@dataclass(frozen=True)
class Login:
    """A user name and password (or token) for one registry, and where it came from (never the value)."""

    username: str
    password: str = field(repr=False)
    source: str


@dataclass(frozen=True)
class RegistryAccess:
    """How registries are reached: trust, timeouts, plain-HTTP registries and Docker's config.

    `verify` is the CA file requests takes (RANCHER_REGISTRY_CA_BUNDLE, else the public CAs
    requests ships); `plain_http` holds the `host[:port]` names reached over HTTP (credentials are
    never sent to them); `docker_config` is the directory of `config.json` (DOCKER_CONFIG, default
    `~/.docker`). The `*_setting` fields are the names messages use for those settings.
    """

    verify: str
    timeout: float
    docker_config: Path
    plain_http: frozenset[str] = frozenset()
    config_setting: str = "DOCKER_CONFIG"
    ca_setting: str = "RANCHER_REGISTRY_CA_BUNDLE"
    http_setting: str = "RANCHER_REGISTRY_HTTP"

    @property
    def config_file(self) -> Path:
        return self.docker_config / "config.json"


def login_for(repository: Repository, access: RegistryAccess) -> Login | None:
    """The credentials Docker would send to `repository`'s registry; None for anonymous access.

    Raises ConfigError naming DOCKER_CONFIG for a config.json that cannot be read, an entry that
    cannot be decoded, an identity token, or a credential helper that is missing or fails.
    """
    path = access.config_file
    if not path.is_file():
        return None
    setting = access.config_setting
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as problem:
        raise ConfigError(setting, f"{path} could not be read as JSON ({type(problem).__name__})") from None
    if not isinstance(config, dict):
        raise ConfigError(setting, f"{path} is not a JSON object")
    key = repository.config_key
    helpers = config.get("credHelpers") or {}
    helper = helpers.get(key) if isinstance(helpers, dict) else None
    helper = helper or config.get("credsStore")
    if isinstance(helper, str) and helper:
        return _from_helper(helper, key, f"{path} ({'credHelpers' if key in helpers else 'credsStore'})", setting)
    auths = config.get("auths") or {}
    if not isinstance(auths, dict):
        raise ConfigError(setting, f"{path}: auths is not an object")
    entry, name = auths.get(key), key
    if entry is None:
        for candidate, value in auths.items():
            if _hostname(candidate) == _hostname(key):
                entry, name = value, candidate
                break
    if not isinstance(entry, dict):
        return None
    source = f'auths["{name}"] in {path}'
    if entry.get("identitytoken"):
        raise ConfigError(setting, f"{source} holds an identity token, which registry polling cannot use; "
                                   "log in with a user name and password or access token instead")
    if entry.get("auth"):
        try:
            user, colon, password = base64.b64decode(str(entry["auth"]), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise ConfigError(setting, f"{source}: auth is not base64 of user:password (value not shown)") from None
        if not colon or not user:
            raise ConfigError(setting, f"{source}: auth is not base64 of user:password (value not shown)")
        return Login(user, password.strip("\x00"), source)
    if entry.get("username") and entry.get("password"):
        return Login(str(entry["username"]), str(entry["password"]), source)
    return None


def _hostname(key: str) -> str:
    """docker/cli's ConvertToHostname: `https://host:5000/v1/` and `host:5000/x` are `host:5000`."""
    if "://" in key:
        parts = urlsplit(key)
        if parts.hostname:
            return parts.netloc.rpartition("@")[2]
    return key.partition("/")[0]


def _from_helper(helper: str, server: str, source: str, setting: str) -> Login | None:
    """`docker-credential-<helper> get` with the server on stdin, as docker-credential-helpers'
    client.Get does: JSON {ServerURL, Username, Secret} on success; "credentials not found" means
    anonymous. Its output is never shown: it may hold the secret."""
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        raise ConfigError(setting, f"{source} names the credential helper docker-credential-{helper}, "
                                   "which is not on PATH")
    try:
        done = subprocess.run([program, "get"], input=server, capture_output=True, text=True,
                              timeout=HELPER_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as problem:
        raise ConfigError(setting, f"docker-credential-{helper} get failed ({type(problem).__name__})") from None
    if done.returncode != 0:
        if "credentials not found" in done.stdout.lower():
            return None
        raise ConfigError(setting, f"docker-credential-{helper} get exited {done.returncode} for {server}")
    try:
        answer = json.loads(done.stdout)
        user, secret = str(answer["Username"]), str(answer["Secret"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError(setting, f"docker-credential-{helper} get answered no JSON with Username and Secret") \
            from None
    if user == "<token>":
        raise ConfigError(setting, f"docker-credential-{helper} holds an identity token for {server}, which registry "
                                   "polling cannot use; log in with a user name and password or access token instead")
    return Login(user, secret, f"docker-credential-{helper}")


def list_tags(image: ImageRef, access: RegistryAccess, *, page_size: int = PAGE_SIZE) -> list[str]:
    """Every tag of `image`'s repository (its tag and digest are ignored), in the registry's order.

    Pages of `page_size` tags, following the `Link` header. Raises RegistryError (exit 2 or 3, see
    there) or ConfigError (credentials, trust, plain HTTP; naming the setting). Secrets never appear
    in a message: they are built here, never from the library's text.
    """
    repository = Repository.of(image)
    login = login_for(repository, access)
    try:
        import dxf  # noqa: F401 - the poll extra; a plain install has the rest of the tool without it
    except ImportError:
        raise RegistryError("registry polling needs python-dxf, which this installation lacks: "
                            "pip install 'rancher-deploy[poll]'", retryable=False) from None
    try:
        return list(_tags(repository, login, access, page_size))
    except DeployError:
        raise
    except Exception as error:  # noqa: BLE001 - python-dxf and requests raise many kinds; each is mapped
        raise _explain(error, repository, login, access) from None


def _tags(repository: Repository, login: Login | None, access: RegistryAccess, page_size: int) -> Iterator[str]:
    import dxf

    def authenticate(client: dxf.DXFBase, response: Any) -> None:
        client.authenticate(login.username if login else None, login.password if login else None,
                            response=response, user_agent=f"rancher-deploy/{__version__}")

    insecure = repository.host in access.plain_http
    client = dxf.DXF(repository.host, repository.path, auth=authenticate, insecure=insecure,
                     tlsverify=access.verify, timeout=access.timeout)
    with client:
        for count, tag in enumerate(client.list_aliases(batch_size=page_size, iterate=True)):
            if count >= MAX_TAGS:
                break
            if isinstance(tag, str):
                yield tag


def _explain(error: Exception, repository: Repository, login: Login | None, access: RegistryAccess) -> DeployError:
    """One line for what went wrong, naming the setting to change; never the library's own text."""
    import requests
    from dxf import exceptions as dxf_errors

    where = f"listing the tags of {repository}"
    if isinstance(error, dxf_errors.DXFAuthInsecureError):
        return ConfigError(access.http_setting, f"{repository.host} asks for authentication, and credentials are "
                                                "never sent over plain HTTP; reach it over HTTPS (remove it here)")
    if isinstance(error, dxf_errors.DXFUnauthorizedError) or _status(error) == 401:
        if login is None:
            return ConfigError(access.config_setting, f"{where}: {repository.host} wants credentials and "
                                                      f"{access.config_file} has none for {repository.config_key} "
                                                      f"(docker login {repository.config_key})")
        return ConfigError(access.config_setting, f"{where}: {repository.host} refused the credentials of "
                                                  f"{login.source} (HTTP 401); fix them or run docker login")
    if isinstance(error, requests.exceptions.SSLError):
        if "CERTIFICATE_VERIFY_FAILED" in str(error):
            return ConfigError(access.ca_setting, f"{where}: the TLS certificate of {repository.host} could not be "
                                                  "verified; set this to the PEM file of the CA that signed it")
        # Most often an HTTPS request to a registry that serves plain HTTP (OpenSSL: "wrong version number").
        return ConfigError(access.http_setting, f"{where}: no TLS session could be set up with {repository.host}; "
                                                "if it serves plain HTTP, list it here")
    if isinstance(error, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
        return RegistryError(f"{where}: {repository.host} could not be reached ({type(error).__name__})",
                             retryable=True)
    status = _status(error)
    if status == 403:
        source = login.source if login else "anonymous access"
        return ConfigError(access.config_setting, f"{where}: {repository.host} denied access with {source} "
                                                  "(HTTP 403)")
    if status == 404:
        return RegistryError(f"{where}: {repository.host} has no repository {repository.path} (HTTP 404)",
                             retryable=False)
    if status is not None:
        return RegistryError(f"{where}: {repository.host} answered HTTP {status}", retryable=status in RETRYABLE_STATUSES)
    return RegistryError(f"{where}: {repository.host} did not answer as a registry ({type(error).__name__})",
                         retryable=False)


def _status(error: Exception) -> int | None:
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None
