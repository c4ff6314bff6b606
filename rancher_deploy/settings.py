"""The settings table, and the one frozen Settings built from flags, CI inputs, environment and `.env`.

Every option is declared once in SETTINGS; argparse flags, `--help`, the `INPUT_*`/`PLUGIN_*`
spellings, `action.yml`, the GitLab template and the README table are all read from (and tested
against) it. Precedence is flag > CI input > environment > `.env` > default, and an empty value
counts as unset, because CI systems set every declared input, usually to `''`.
Validation happens here, before any request: one line naming the setting and what was wrong.
"""

from __future__ import annotations

import argparse
import enum
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from rancher_deploy.errors import ConfigError
from rancher_deploy.images import ImageRef, ImageReferenceError

COMMANDS = ("upgrade", "rollback", "finish", "status")
TRUE_WORDS = frozenset({"true", "1", "yes", "on", "y"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", "n"})


class Kind(enum.Enum):
    """How the text of a setting becomes a value."""

    TEXT = "text"
    SECRET = "secret"
    LIST = "list"            # comma separated; a flag may also be repeated
    BOOL = "bool"
    SECONDS = "seconds"      # positive number of seconds
    COUNT = "count"          # positive integer
    CHOICE = "choice"


@dataclass(frozen=True)
class Option:
    """One row of the settings table."""

    name: str
    env: tuple[str, ...]
    kind: Kind
    help: str
    default: Any = None
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    commands: tuple[str, ...] = COMMANDS
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def input_id(self) -> str:
        """The GitHub input / Drone-Woodpecker setting name (`access-key`)."""
        return self.name.replace("_", "-")

    @property
    def ci_variables(self) -> tuple[str, ...]:
        """Both spellings of the CI inputs: GitHub and Drone keep hyphens, Woodpecker turns them into `_`."""
        hyphen = self.input_id.upper()
        underscore = self.name.upper()
        names: list[str] = []
        for prefix in ("INPUT_", "PLUGIN_"):
            for spelling in dict.fromkeys((hyphen, underscore)):
                names.append(prefix + spelling)
        return tuple(names)

    @property
    def secret(self) -> bool:
        return self.kind is Kind.SECRET


SETTINGS: tuple[Option, ...] = (
    Option("url", ("CATTLE_URL", "RANCHER_URL"), Kind.TEXT,
           "Rancher URL: the server root, or an API URL ending in /v1, /v2-beta or /v2-beta/projects/<id>",
           metavar="URL"),
    Option("access_key", ("CATTLE_ACCESS_KEY", "RANCHER_ACCESS_KEY"), Kind.TEXT,
           "API access key (an environment key, or an account key with --environment)", metavar="KEY"),
    Option("secret_key", ("CATTLE_SECRET_KEY", "RANCHER_SECRET_KEY"), Kind.SECRET,
           "API secret key; never printed", metavar="SECRET"),
    Option("token", ("RANCHER_TOKEN",), Kind.SECRET,
           "Rancher 2.x API token `token-xxxxx:secret`, instead of the two keys; never printed",
           metavar="TOKEN"),
    Option("environment", ("RANCHER_ENVIRONMENT",), Kind.TEXT,
           "Rancher 1.x environment name or id (1a5); needed with an account key that sees several",
           metavar="NAME"),
    Option("stack", ("RANCHER_STACK",), Kind.TEXT, "stack of the service(s)", metavar="NAME"),
    Option("service", ("RANCHER_SERVICE",), Kind.LIST,
           "service name or stack/name; several comma separated", metavar="NAME"),
    Option("cluster", ("RANCHER_CLUSTER",), Kind.TEXT,
           "Rancher 2.x cluster id or name; default: from the project or the URL, else the only cluster",
           metavar="CLUSTER"),
    Option("project", ("RANCHER_PROJECT",), Kind.TEXT,
           "Rancher 2.x project, c-xxxxx:p-xxxxx or its name; default: the namespace's project", metavar="PROJECT"),
    Option("namespace", ("RANCHER_NAMESPACE",), Kind.TEXT,
           "Rancher 2.x namespace of the workload(s)", default="default", metavar="NAMESPACE"),
    Option("workload", ("RANCHER_WORKLOAD",), Kind.LIST,
           "Rancher 2.x workload: name or type:name (deployment, statefulset, daemonset, cronjob); "
           "several comma separated", metavar="TYPE:NAME"),
    Option("container", ("RANCHER_CONTAINER",), Kind.LIST,
           "Rancher 2.x container(s) to change; default: the only one, else the one running the image's repository",
           commands=("upgrade",), metavar="NAME"),
    Option("init_containers", ("RANCHER_INIT_CONTAINERS",), Kind.BOOL,
           "also consider init containers when choosing the container(s) to change", default=False,
           commands=("upgrade",)),
    Option("flavour", ("RANCHER_FLAVOUR",), Kind.CHOICE,
           "which Rancher API to use; auto detects it from the URL and the server", default="auto",
           choices=("auto", "rancher-1.x", "v3", "k8s")),
    Option("image", ("RANCHER_IMAGE",), Kind.TEXT,
           "the new image, e.g. registry.example.com:5000/app:2.1 (docker: prefix optional)",
           commands=("upgrade",), metavar="IMAGE"),
    Option("sidekick", ("RANCHER_SIDEKICK",), Kind.LIST,
           "also move sidekick NAME to IMAGE (NAME=IMAGE; repeat or comma separate)",
           commands=("upgrade",), metavar="NAME=IMAGE"),
    Option("update_sidekicks", ("RANCHER_UPDATE_SIDEKICKS",), Kind.BOOL,
           "also move every sidekick that runs the same repository as the service to the new image",
           default=False, commands=("upgrade",)),
    Option("timeout", ("RANCHER_TIMEOUT",), Kind.SECONDS,
           "seconds to wait for each phase (upgrade, finish, rollback) before giving up", default=600.0,
           minimum=1, metavar="SECONDS"),
    Option("poll_interval", ("RANCHER_POLL_INTERVAL",), Kind.SECONDS,
           "seconds between two looks at the service while waiting", default=2.0, minimum=0.001,
           metavar="SECONDS"),
    Option("request_timeout", ("RANCHER_REQUEST_TIMEOUT",), Kind.SECONDS,
           "seconds Rancher may take to answer one request", default=30.0, minimum=0.01,
           metavar="SECONDS"),
    Option("retries", ("RANCHER_RETRIES",), Kind.COUNT,
           "times a failed read (connection error, timeout, HTTP 5xx) is retried, waiting 0.5s, 1s, 2s, ... "
           "between tries; actions are never repeated blindly", default=3, minimum=0, metavar="N"),
    Option("batch_size", ("RANCHER_BATCH_SIZE",), Kind.COUNT,
           "containers replaced at a time", default=1, minimum=1, commands=("upgrade",), metavar="N"),
    Option("batch_interval", ("RANCHER_BATCH_INTERVAL",), Kind.SECONDS,
           "seconds between two batches (Rancher's minimum is 0.1)", default=2.0, minimum=0.1,
           commands=("upgrade",), metavar="SECONDS"),
    Option("start_first", ("RANCHER_START_FIRST",), Kind.BOOL,
           "start the new container before stopping the old one", default=False, commands=("upgrade",)),
    Option("finish", ("RANCHER_FINISH",), Kind.BOOL,
           "finish the upgrade once it is healthy (--no-finish leaves it `upgraded` for a later `finish`)",
           default=True, commands=("upgrade",)),
    Option("rollback", ("RANCHER_ROLLBACK",), Kind.BOOL,
           "roll back automatically when the upgrade fails or times out", default=True,
           commands=("upgrade",)),
    Option("on_interrupt", ("RANCHER_ON_INTERRUPT",), Kind.CHOICE,
           "what to do when SIGTERM/SIGINT arrives while an upgrade is waiting: roll it back, or leave it and "
           "report its state; exits 143/130 either way", default="rollback", choices=("rollback", "report"),
           commands=("upgrade",)),
    Option("on_upgraded", ("RANCHER_ON_UPGRADED",), Kind.CHOICE,
           "what to do with an upgrade an earlier run left `upgraded`", default="finish",
           choices=("finish", "rollback"), commands=("upgrade",)),
    Option("version_policy", ("RANCHER_VERSION_POLICY",), Kind.CHOICE,
           "any: deploy whatever image is given; newer: skip (exit 0) unless the new tag is a higher version "
           "than the running one, so a late pipeline of an older commit cannot downgrade", default="any",
           choices=("any", "newer"), commands=("upgrade",)),
    Option("force", ("RANCHER_FORCE",), Kind.BOOL,
           "upgrade even when the service already runs the image (pulls the same tag again)",
           default=False, commands=("upgrade",)),
    Option("dry_run", ("RANCHER_DRY_RUN",), Kind.BOOL,
           "print the plan and change nothing", default=False, commands=("upgrade", "rollback", "finish")),
    Option("output", ("RANCHER_OUTPUT",), Kind.CHOICE,
           "text: the log only; json: also print the result object on stdout", default="text",
           choices=("text", "json")),
    Option("ca_bundle", ("RANCHER_CA_BUNDLE",), Kind.TEXT,
           "PEM file of the CA that signed Rancher's certificate (REQUESTS_CA_BUNDLE and SSL_CERT_FILE "
           "are honoured too)", metavar="FILE"),
    Option("insecure", ("RANCHER_INSECURE",), Kind.BOOL,
           "do not verify Rancher's TLS certificate (warns; prefer --ca-bundle)", default=False),
    Option("verbose", ("RANCHER_VERBOSE",), Kind.BOOL,
           "log every API request and where each setting came from (secrets stay hidden)", default=False),
    Option("dotenv_report", ("RANCHER_DOTENV_REPORT",), Kind.TEXT,
           "also write the result as RANCHER_DEPLOY_*=value lines to FILE, for a later step or GitLab's "
           "artifacts:reports:dotenv", metavar="FILE"),
)

OPTIONS_BY_NAME: dict[str, Option] = {option.name: option for option in SETTINGS}


@dataclass(frozen=True)
class ServiceTarget:
    """One service to act on, as the user named it."""

    name: str
    stack: str | None

    def __str__(self) -> str:
        return f"{self.stack}/{self.name}" if self.stack else self.name


WORKLOAD_KINDS = ("deployment", "statefulset", "daemonset", "cronjob")


@dataclass(frozen=True)
class WorkloadTarget:
    """One Rancher 2.x workload to act on."""

    kind: str
    name: str
    namespace: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.kind}:{self.name}"


Target = ServiceTarget | WorkloadTarget


@dataclass(frozen=True)
class Settings:
    """Everything one run needs, validated; built by `Settings.load`."""

    command: str
    url: str
    access_key: str | None
    secret_key: str | None
    token: str | None
    environment: str | None
    services: tuple[ServiceTarget, ...]
    workloads: tuple[WorkloadTarget, ...]
    cluster: str | None
    project: str | None
    containers: tuple[str, ...]
    init_containers: bool
    flavour: str
    image: ImageRef | None
    sidekicks: tuple[tuple[str, ImageRef], ...]
    update_sidekicks: bool
    timeout: float
    poll_interval: float
    request_timeout: float
    retries: int
    batch_size: int
    batch_interval: float
    start_first: bool
    finish: bool
    rollback: bool
    on_interrupt: str
    on_upgraded: str
    version_policy: str
    force: bool
    dry_run: bool
    output: str
    ca_bundle: str | None
    insecure: bool
    verbose: bool
    dotenv_report: str | None
    sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def targets(self) -> tuple[Target, ...]:
        """What the run acts on: Rancher 1.x services or Rancher 2.x workloads (never both)."""
        return self.services or self.workloads

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values no sink may ever show."""
        values = [self.secret_key, self.token]
        if self.token and ":" in self.token:
            values.append(self.token.split(":", 1)[1])
        return tuple(value for value in values if value)

    @classmethod
    def load(
        cls,
        command: str,
        flags: Mapping[str, Any],
        environ: Mapping[str, str],
        dotenv: Mapping[str, str | None] | None = None,
    ) -> Settings:
        """Merge the sources by precedence, then validate; raises ConfigError naming the setting."""
        raw, sources = _merge(flags, environ, dotenv or {})
        return _validate(command, raw, sources, environ)


def raw_value(name: str, flags: Mapping[str, Any], environ: Mapping[str, str],
              dotenv: Mapping[str, str | None]) -> Any:
    """One setting's unvalidated value by the usual precedence, for reporting after a failed load."""
    raw, _ = _merge(flags, environ, dotenv)
    return raw.get(name)


def read_dotenv(path: str) -> dict[str, str | None]:
    """The `.env` file's values, or nothing when there is no such file (python-dotenv parses it)."""
    if not os.path.isfile(path):
        return {}
    from dotenv import dotenv_values

    return dict(dotenv_values(path))


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """Flags for every option of the table that applies to `command`, with env names in the help."""
    for option in SETTINGS:
        if command not in option.commands:
            continue
        names = ", ".join(option.env)
        default = "" if option.default is None else f"; default: {_show_default(option.default)}"
        help_text = f"{option.help} (env: {names}{default})"
        if option.kind is Kind.BOOL:
            parser.add_argument(option.flag, dest=option.name, action=argparse.BooleanOptionalAction,
                                default=None, help=help_text)
        elif option.kind is Kind.LIST:
            parser.add_argument(option.flag, dest=option.name, action="append", default=None,
                                metavar=option.metavar, help=help_text)
        elif option.kind is Kind.CHOICE:
            parser.add_argument(option.flag, dest=option.name, choices=option.choices, default=None,
                                help=help_text)
        else:
            parser.add_argument(option.flag, dest=option.name, default=None, metavar=option.metavar,
                                help=help_text)


def _show_default(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _merge(
    flags: Mapping[str, Any], environ: Mapping[str, str], dotenv: Mapping[str, str | None]
) -> tuple[dict[str, Any], dict[str, str]]:
    raw: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for option in SETTINGS:
        flag_value = flags.get(option.name)
        if flag_value not in (None, [], ""):
            raw[option.name] = ",".join(flag_value) if isinstance(flag_value, list) else flag_value
            sources[option.name] = f"flag {option.flag}"
            continue
        for layer, label in ((option.ci_variables, "CI input"), (option.env, "environment")):
            found = _first_set(environ, layer)
            if found is not None:
                raw[option.name] = found[1]
                sources[option.name] = f"{label} {found[0]}"
                break
        else:
            found = _first_set(dotenv, option.env)
            if found is not None:
                raw[option.name] = found[1]
                sources[option.name] = f".env {found[0]}"
    return raw, sources


def _first_set(mapping: Mapping[str, str | None], names: Sequence[str]) -> tuple[str, str] | None:
    for name in names:
        value = mapping.get(name)
        if value is not None and value.strip() != "":
            return name, value
    return None


def _validate(
    command: str, raw: Mapping[str, Any], sources: Mapping[str, str], environ: Mapping[str, str]
) -> Settings:
    values: dict[str, Any] = {}
    for option in SETTINGS:
        text = raw.get(option.name)
        if text is None or isinstance(text, bool):
            values[option.name] = option.default if text is None else text
            continue
        values[option.name] = _CONVERTERS[option.kind](option, str(text))

    url, url_access, url_secret = _validate_url(values["url"], environ)
    access_key = values["access_key"] or url_access
    secret_key = values["secret_key"] or url_secret
    token = values["token"]
    _validate_credentials(access_key, secret_key, token)

    workloads = _parse_workloads(values["workload"], values["namespace"])
    if workloads and values["service"]:
        raise ConfigError(_setting_name("workload"),
                          "names Rancher 2.x workloads but RANCHER_SERVICE is set too; use one of them")
    if workloads and values["flavour"] == "rancher-1.x":
        raise ConfigError(_setting_name("workload"), "is for Rancher 2.x, but RANCHER_FLAVOUR is rancher-1.x")
    if values["service"] and values["flavour"] in ("v3", "k8s"):
        raise ConfigError(_setting_name("service"), f"is for Rancher 1.x, but RANCHER_FLAVOUR is {values['flavour']}")
    services = () if workloads else _parse_services(values["service"], values["stack"])
    image = _parse_image(values["image"], "image") if values["image"] else None
    sidekicks = tuple(_parse_sidekick(item) for item in values["sidekick"] or ())
    if command == "upgrade" and image is None and not sidekicks:
        raise ConfigError(_setting_name("image"), "is required: the new image, e.g. registry/app:2.1")
    if values["update_sidekicks"] and image is None:
        raise ConfigError(_setting_name("update_sidekicks"), "needs an image to compare sidekicks with")

    ca_bundle = values["ca_bundle"]
    if ca_bundle is not None and not os.path.isfile(ca_bundle):
        raise ConfigError(_setting_name("ca_bundle"), f"no such file {ca_bundle!r}")
    if ca_bundle is not None and values["insecure"]:
        raise ConfigError(_setting_name("insecure"), "cannot be combined with a CA bundle; choose one")

    return Settings(
        command=command,
        url=url,
        access_key=access_key,
        secret_key=secret_key,
        token=token,
        environment=values["environment"],
        services=services,
        workloads=workloads,
        cluster=values["cluster"],
        project=values["project"],
        containers=tuple(values["container"] or ()),
        init_containers=values["init_containers"],
        flavour=values["flavour"],
        image=image,
        sidekicks=sidekicks,
        update_sidekicks=values["update_sidekicks"],
        timeout=values["timeout"],
        poll_interval=values["poll_interval"],
        request_timeout=values["request_timeout"],
        retries=values["retries"],
        batch_size=values["batch_size"],
        batch_interval=values["batch_interval"],
        start_first=values["start_first"],
        finish=values["finish"],
        rollback=values["rollback"],
        on_interrupt=values["on_interrupt"],
        on_upgraded=values["on_upgraded"],
        version_policy=values["version_policy"],
        force=values["force"],
        dry_run=values["dry_run"],
        output=values["output"],
        ca_bundle=ca_bundle,
        insecure=values["insecure"],
        verbose=values["verbose"],
        dotenv_report=values["dotenv_report"],
        sources=dict(sources),
    )


def _setting_name(name: str) -> str:
    """How errors name a setting: its first environment variable, which is what most users set."""
    return OPTIONS_BY_NAME[name].env[0]


def _to_text(option: Option, text: str) -> str:
    value = text.strip()
    if any(ord(character) < 32 for character in value):
        hidden = " (value not shown)" if option.secret else ""
        raise ConfigError(_setting_name(option.name), f"contains control characters{hidden}")
    return value


def _to_list(option: Option, text: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in text.split(","))
    if any(item == "" for item in items):
        raise ConfigError(_setting_name(option.name), f"has an empty item in {text.strip()!r}")
    return items


def _to_bool(option: Option, text: str) -> bool:
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ConfigError(_setting_name(option.name), f"must be true or false (or yes/no, 1/0, on/off), got {text!r}")


def _to_seconds(option: Option, text: str) -> float:
    try:
        value = float(text.strip().removesuffix("s"))
    except ValueError:
        raise ConfigError(_setting_name(option.name), f"must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or (option.minimum is not None and value < option.minimum):
        raise ConfigError(_setting_name(option.name), f"must be at least {_show_default(option.minimum)}, got {text!r}")
    return value


def _to_count(option: Option, text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ConfigError(_setting_name(option.name), f"must be a whole number, got {text!r}") from None
    if option.minimum is not None and value < option.minimum:
        raise ConfigError(_setting_name(option.name), f"must be at least {_show_default(option.minimum)}, got {text!r}")
    return value


def _to_choice(option: Option, text: str) -> str:
    value = text.strip().lower()
    if value not in option.choices:
        raise ConfigError(_setting_name(option.name), f"must be one of {', '.join(option.choices)}, got {text!r}")
    return value


_CONVERTERS: dict[Kind, Callable[[Option, str], Any]] = {
    Kind.TEXT: _to_text,
    Kind.SECRET: _to_text,  # the same check; a secret's error says its value is not shown
    Kind.LIST: _to_list,
    Kind.BOOL: _to_bool,
    Kind.SECONDS: _to_seconds,
    Kind.COUNT: _to_count,
    Kind.CHOICE: _to_choice,
}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}\Z")


def _validate_url(url: str | None, environ: Mapping[str, str]) -> tuple[str, str | None, str | None]:
    """Check the URL; credentials written into it are taken out (and never echoed back)."""
    setting = _setting_name("url")
    if not url:
        raise ConfigError(setting, "is required: the Rancher URL, e.g. https://rancher.example.com")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ConfigError(setting, "is not a valid URL (bad host or port)") from None
    del port
    if parts.scheme not in ("http", "https"):
        raise ConfigError(setting, "must start with https:// or http://")
    if not parts.hostname:
        raise ConfigError(setting, "has no host name")
    if parts.query or parts.fragment:
        raise ConfigError(setting, "must not contain a query (?) or fragment (#)")
    access = secret = None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        access, _, secret = userinfo.partition(":")
        from urllib.parse import unquote

        access, secret = unquote(access) or None, unquote(secret) or None
    clean = urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return clean, access, secret


def _validate_credentials(access_key: str | None, secret_key: str | None, token: str | None) -> None:
    if token is not None:
        if not re.fullmatch(r"token-[a-z0-9]+:\S+", token):
            raise ConfigError(_setting_name("token"), "must look like token-xxxxx:secret (value not shown)")
        return
    if not access_key and not secret_key:
        raise ConfigError(
            _setting_name("access_key"),
            "is required (with CATTLE_SECRET_KEY), or set RANCHER_TOKEN",
        )
    if not access_key:
        raise ConfigError(_setting_name("access_key"), "is required when a secret key is set")
    if not secret_key:
        raise ConfigError(_setting_name("secret_key"), "is required when an access key is set")
    if any(character.isspace() or character == ":" for character in access_key):
        raise ConfigError(_setting_name("access_key"), "must not contain spaces or ':'")


def _parse_services(items: tuple[str, ...] | None, stack: str | None) -> tuple[ServiceTarget, ...]:
    setting = _setting_name("service")
    if stack is not None and not _NAME.match(stack):
        raise ConfigError(_setting_name("stack"), f"is not a valid stack name: {stack!r}")
    if not items:
        raise ConfigError(setting, "is required: the service to upgrade, as name or stack/name "
                                   "(or RANCHER_WORKLOAD for a Rancher 2.x workload)")
    targets: list[ServiceTarget] = []
    for item in items:
        stack_part, slash, name = item.rpartition("/")
        target_stack = stack_part if slash else stack
        if not _NAME.match(name) or (slash and not _NAME.match(stack_part)):
            raise ConfigError(setting, f"{item!r} is not a service name or stack/name")
        target = ServiceTarget(name=name, stack=target_stack)
        if target in targets:
            raise ConfigError(setting, f"names {target} twice")
        targets.append(target)
    return tuple(targets)


_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?\Z")


def _parse_workloads(items: tuple[str, ...] | None, namespace: str) -> tuple[WorkloadTarget, ...]:
    setting = _setting_name("workload")
    if not _K8S_NAME.match(namespace) or len(namespace) > 63:
        raise ConfigError(_setting_name("namespace"), f"{namespace!r} is not a Kubernetes namespace name")
    targets: list[WorkloadTarget] = []
    for item in items or ():
        kind, colon, name = item.rpartition(":")
        kind = kind.lower() if colon else "deployment"
        if kind not in WORKLOAD_KINDS:
            raise ConfigError(setting, f"{item!r} has an unknown type {kind!r} (one of {', '.join(WORKLOAD_KINDS)})")
        if not _K8S_NAME.match(name):
            raise ConfigError(setting, f"{item!r} is not a workload name or type:name")
        target = WorkloadTarget(kind=kind, name=name, namespace=namespace)
        if target in targets:
            raise ConfigError(setting, f"names {target} twice")
        targets.append(target)
    return tuple(targets)


def _parse_image(text: str, name: str) -> ImageRef:
    try:
        return ImageRef.parse(text)
    except ImageReferenceError as error:
        raise ConfigError(_setting_name(name), f"{error}") from None


def _parse_sidekick(item: str) -> tuple[str, ImageRef]:
    setting = _setting_name("sidekick")
    name, equals, image = item.partition("=")
    if not equals or not _NAME.match(name.strip()):
        raise ConfigError(setting, f"{item!r} must be NAME=IMAGE")
    try:
        return name.strip(), ImageRef.parse(image)
    except ImageReferenceError as error:
        raise ConfigError(setting, f"{name.strip()}: image {error}") from None
