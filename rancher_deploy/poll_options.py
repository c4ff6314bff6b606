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
from rancher_deploy.images import ImageRef
from rancher_deploy.options import WEEK, Kind, Option, ca_location

_POLL = (Command.UPGRADE,)   # `serve` reads them too (Option.applies_to): its polling runs are upgrades
_SERVE = (Command.SERVE,)

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

# The server's polling: apart, since the table keeps `serve`'s own rows last (after SERVE_OPTIONS).
SERVE_POLL_OPTIONS: tuple[Option, ...] = (
    Option("serve_poll", ("RANCHER_SERVE_POLL",), Kind.SECONDS,
           "serve: seconds between two polls of the repositories RANCHER_SERVE_POLL_IMAGES names, else of those the "
           "opted-in targets run, found again each poll (Keel's poll trigger); the first at start; default: no polling",
           minimum=1, maximum=WEEK, commands=_SERVE, metavar="SECONDS",
           field="serve_poll_seconds"),
    Option("serve_poll_images", ("RANCHER_SERVE_POLL_IMAGES",), Kind.LIST,
           "serve: the repositories each poll lists the tags of (registry/name, no tag; comma separated): every "
           "opted-in target running one moves to the newest tag its version policy allows; default: the "
           "repositories the opted-in targets run", commands=_SERVE,
           metavar="REPOSITORY", parse=ImageRef.parse),
)


def validate_polling(values: Mapping[str, Any], name: Callable[[str], str], *, serving: bool = False) -> None:
    """The checks that span polling's settings (`name` spells a setting as the user set it; `serving`:
    for `rancher-deploy serve`); raises ConfigError naming the one to fix."""
    if values["poll"] and serving:
        # Refused, not ignored: a server set up with it expects polling that would never happen, and
        # its webhook runs deploy the pushed tag, never a polled one (serve/runs.settings_for).
        raise ConfigError(name("poll"), f"is for one polling run (rancher-deploy upgrade); the server polls every "
                                        f"{name('serve_poll')} seconds the repositories of {name('serve_poll_images')}")
    if values["poll"]:
        _validate_poll(values, name)
    _validate_serve_poll(values, name)


def _validate_poll(values: Mapping[str, Any], name: Callable[[str], str]) -> None:
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


def _validate_serve_poll(values: Mapping[str, Any], name: Callable[[str], str]) -> None:
    """The server polls the repositories it is given (else those the opted-in targets run), each named
    without a tag (polling chooses it)."""
    images: tuple[ImageRef, ...] = values["serve_poll_images"] or ()
    for image in images:
        if image.tag is not None or image.digest is not None:
            raise ConfigError(name("serve_poll_images"), f"names a tag or digest ({image}), but polling chooses the "
                                                         f"tag; give the repository alone ({image.name})")
