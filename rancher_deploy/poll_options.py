"""The rows of the settings table that registry polling reads (`--poll`, and `serve`'s rounds): the
switch, and how registries are reached (their CA, the ones spoken to over plain HTTP, Docker's
config.json), with the check that spans them.

Apart from `settings`, which puts them in its one table (SETTINGS) where the README and docs/ci.md
list them: the table's module stays within its size, and polling's rows change together.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from rancher_deploy.choices import Command
from rancher_deploy.errors import ConfigError
from rancher_deploy.options import Kind, Option, ca_location

_POLL = (Command.UPGRADE,)

POLL_OPTIONS: tuple[Option, ...] = (
    Option("poll", ("RANCHER_POLL",), Kind.BOOL,
           "registry polling, once: the image setting names a repository (no tag), and each target moves to the "
           "newest tag of it in the registry that its version policy allows (Keel's poll trigger)",
           default=False, commands=_POLL),
    Option("registry_ca_bundle", ("RANCHER_REGISTRY_CA_BUNDLE",), Kind.TEXT,
           "PEM file of the CA that signed the registries' certificates, for polling; default: the public CAs "
           "requests ships (the ca-bundle setting is Rancher's alone)", commands=_POLL, metavar="FILE",
           parse=ca_location),
    Option("registry_http", ("RANCHER_REGISTRY_HTTP",), Kind.LIST,
           "registries (host:port) polled over plain HTTP, as Docker's insecure-registries; no credentials are "
           "sent to them", commands=_POLL, metavar="HOST"),
    Option("docker_config", ("RANCHER_DOCKER_CONFIG", "DOCKER_CONFIG"), Kind.TEXT,
           "directory of the Docker config.json whose credentials polling sends to registries (auths, credHelpers, "
           "credsStore); default: ~/.docker", commands=_POLL, metavar="DIR"),
)


def validate_poll(values: Mapping[str, Any], name: Callable[[str], str]) -> None:
    """RANCHER_POLL chooses each target's tag: the image names only the repository, and a target the
    run would create has no running version to choose from."""
    image = values["image"]
    if image is None:
        raise ConfigError(name("poll"), f"needs {name('image')}: the repository whose tags are polled")
    if image.tag is not None or image.digest is not None:
        raise ConfigError(name("image"), f"names a tag or digest, but {name('poll')} chooses the tag; "
                                         f"give the repository alone ({image.name})")
    if values["create"]:
        raise ConfigError(name("poll"), f"cannot be combined with {name('create')}: a new target runs no version "
                                        "to choose the next one from")
