"""The settings table, and the one frozen Settings built from flags, CI inputs, environment and `.env`.

Every option is declared once in SETTINGS; argparse flags, `--help`, the `INPUT_*`/`PLUGIN_*`
spellings, the conversion to a typed value and the Settings field it lands in are read from that
row (`action.yml`, the GitLab template and the README table are tested against it). Precedence is
flag > CI input > environment > `.env` > default; an empty value is unset (CI sets every declared input,
usually to `''`). Validation happens here, before any request; each error is one line naming the setting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Collection, Literal, Mapping
from urllib.parse import unquote, urlsplit

from rancher_deploy.choices import (COMMANDS, UPGRADE, Command, Flavour, OnInterrupt, OnUpgraded, Output,
                                     PolicyKind, Record, VersionPolicy, words)
from rancher_deploy.envlabels import (RECORD_LABEL, Edits, KeyEdits, edit_conflicts, env_key_problem,
                                      label_key_problem, label_value_valid, parse_key, parse_pair)
from rancher_deploy.creation import Blueprint, Port
from rancher_deploy import credentials
from rancher_deploy.credentials import masked_values, pair_texts, secret_parts
from rancher_deploy.errors import ConfigError
from rancher_deploy.images import ImageRef, ImageReferenceError
from rancher_deploy.inputs import Found, Inputs, Origin, read_dotenv
from rancher_deploy.notify_options import NOTIFY_OPTIONS
from rancher_deploy.fleet_options import SELECT_LABELS, Patterns, select_label, validate_fleet
from rancher_deploy.options import DAY, FALSE_WORDS, HOUR, TRUE_WORDS, Kind, Option, ca_location, convert
from rancher_deploy.redact import sent_forms
from rancher_deploy.poll_options import POLL_OPTIONS, SERVE_POLL_OPTIONS, validate_polling
from rancher_deploy.serve_options import SERVE_OPTIONS
from rancher_deploy.targets import (NAME, WORKLOAD_KINDS, ServiceTarget, Target, WorkloadTarget, parse_services,
                                     parse_workloads)

__all__ = [
    "COMMANDS", "Command", "Edits", "Flavour", "Inputs", "Kind", "OPTIONS_BY_NAME", "OnInterrupt", "OnUpgraded",
    "Option", "Origin", "Output", "PolicyKind", "Record", "SETTINGS", "ServiceTarget", "Settings", "Target",
    "VersionPolicy", "WorkloadTarget",
    "Patterns", "SELECT_LABELS", "read_dotenv", "secret_parts", "secrets_in", "TRUE_WORDS", "FALSE_WORDS",
]

def _sidekick(item: str) -> tuple[str, ImageRef]:
    name, equals, image = item.partition("=")
    if not equals or not NAME.match(name.strip()):
        raise ValueError(f"{item!r} must be NAME=IMAGE")
    try:
        return name.strip(), ImageRef.parse(image)
    except ImageReferenceError as error:
        raise ValueError(f"{name.strip()}: image {error}") from None


SETTINGS: tuple[Option, ...] = (
    Option("url", ("CATTLE_URL", "RANCHER_URL"), Kind.TEXT,
           "Rancher URL: the server root, or an API URL: Rancher 1.x /v2-beta, /v2-beta/projects/<id> or /v1; "
           "Rancher 2.x /v3, /v3/project/<cluster>:<project>, /v3/clusters/<id> or /k8s/clusters/<id>",
           metavar="URL"),
    Option("access_key", ("CATTLE_ACCESS_KEY", "RANCHER_ACCESS_KEY"), Kind.TEXT,
           "API access key (an environment key, or an account key with the environment setting)", metavar="KEY"),
    Option("secret_key", ("CATTLE_SECRET_KEY", "RANCHER_SECRET_KEY"), Kind.SECRET,
           "API secret key; never printed", metavar="SECRET"),
    Option("token", ("RANCHER_TOKEN",), Kind.SECRET,
           "Rancher 2.x API token `token-xxxxx:secret`, instead of the two keys; never printed",
           metavar="TOKEN"),
    Option("environment", ("RANCHER_ENVIRONMENT",), Kind.TEXT,
           "Rancher 1.x environment name or id (1a5); needed with an account key that sees several",
           metavar="NAME"),
    Option("stack", ("RANCHER_STACK",), Kind.TEXT, "stack of the service(s)", metavar="NAME", field=None),
    Option("service", ("RANCHER_SERVICE",), Kind.LIST,
           "service name or stack/name; several comma separated", metavar="NAME", field="services"),
    Option("cluster", ("RANCHER_CLUSTER",), Kind.TEXT,
           "Rancher 2.x cluster id or name; default: from the project or the URL, else the only cluster",
           metavar="CLUSTER"),
    Option("project", ("RANCHER_PROJECT",), Kind.TEXT,
           "Rancher 2.x project, c-xxxxx:p-xxxxx or its name, which must hold the namespace; default: the namespace's "
           "project", metavar="PROJECT"),
    Option("namespace", ("RANCHER_NAMESPACE",), Kind.TEXT,
           "Rancher 2.x namespace of the workload(s)", default="default", metavar="NAMESPACE", field=None),
    Option("workload", ("RANCHER_WORKLOAD",), Kind.LIST,
           f"Rancher 2.x workload: type:name ({', '.join(WORKLOAD_KINDS)}), or a bare name: the "
           f"one {', '.join(WORKLOAD_KINDS[:-1])} or {WORKLOAD_KINDS[-1]} of that name (exit 2 when several kinds share it or "
           "none has it); several comma separated", metavar="TYPE:NAME", field="workloads"),
    Option("container", ("RANCHER_CONTAINER",), Kind.LIST,
           "Rancher 2.x container(s) to change; default: the only one, else the one running the image's repository",
           commands=(UPGRADE,), metavar="NAME", field="containers"),
    Option("init_containers", ("RANCHER_INIT_CONTAINERS",), Kind.BOOL,
           "also consider init containers when choosing the container(s) to change", default=False,
           commands=(UPGRADE,)),
    Option("flavour", ("RANCHER_FLAVOUR",), Kind.CHOICE,
           "which Rancher API to use; auto detects it from the URL and the server", default=Flavour.AUTO,
           choices=words(Flavour), parse=Flavour),
    Option("image", ("RANCHER_IMAGE",), Kind.TEXT,
           "the new image, e.g. registry.example.com:5000/app:2.1 (docker: prefix optional)",
           commands=(UPGRADE,), metavar="IMAGE", parse=ImageRef.parse),
    Option("sidekick", ("RANCHER_SIDEKICK",), Kind.LIST,
           "also move sidekick NAME to IMAGE (NAME=IMAGE; repeat or comma separate)",
           commands=(UPGRADE,), metavar="NAME=IMAGE", field="sidekicks",
           parse=_sidekick, keyed=True),
    Option("update_sidekicks", ("RANCHER_UPDATE_SIDEKICKS",), Kind.BOOL,
           "also move every sidekick that runs the same repository as the service to the new image",
           default=False, commands=(UPGRADE,)),
    Option("select_image", ("RANCHER_SELECT_IMAGE",), Kind.BOOL,
           "fleet mode: instead of naming targets, upgrade every 1.x service or 2.x workload that runs the image's "
           "repository (only those containers change: sidekicks, named and init containers count) and opted in by "
           "the select-label setting; each target on its own (atomic off)", default=False, commands=(UPGRADE,)),
    Option("select_label", ("RANCHER_SELECT_LABEL", "AUTOUPDATE_ENABLE_LABEL"), Kind.TEXT,
           "the label, with value true, by which a target opts in to fleet mode: on a 1.x service's launch config, "
           f"on a 2.x workload's own metadata; default: either of {' and '.join(SELECT_LABELS)}",
           commands=(UPGRADE,), metavar="LABEL", parse=select_label),
    Option("environments", ("RANCHER_ENVIRONMENTS", "AUTOUPDATE_ENVIRONMENT_NAMES"), Kind.TEXT,
           "fleet mode on Rancher 1.x: the environments searched, those whose name fully matches one of these regular "
           "expressions, as a JSON array or comma separated; default: every one the key sees",
           commands=(UPGRADE,), metavar="PATTERNS", parse=Patterns.parse),
    Option("namespaces", ("RANCHER_NAMESPACES",), Kind.TEXT,
           "fleet mode on Rancher 2.x: the namespaces searched, those whose name fully matches one of these regular "
           "expressions, as a JSON array or comma separated; default: every one the key sees",
           commands=(UPGRADE,), metavar="PATTERNS", parse=Patterns.parse),
    Option("timeout", ("RANCHER_TIMEOUT",), Kind.SECONDS,
           "seconds to wait for each phase (upgrade, finish, rollback) before giving up", default=600.0,
           minimum=1, maximum=DAY, metavar="SECONDS", field="timeout_seconds"),
    Option("progress_deadline", ("RANCHER_PROGRESS_DEADLINE",), Kind.SECONDS,
           "Rancher 1.x: seconds an upgrade may go without a further new container becoming healthy before it is "
           "failed and rolled back (Rancher itself waits for ever); keep it above the batch interval",
           default=300.0, minimum=0.1, maximum=DAY, metavar="SECONDS", field="progress_deadline_seconds",
           commands=(UPGRADE, Command.FINISH)),   # finish waits out another process's upgrade by it too (steps.settle)
    Option("poll_interval", ("RANCHER_POLL_INTERVAL",), Kind.SECONDS,
           "the longest wait, in seconds, between two looks at a target while waiting: polls start fast and "
           "back off to it; while Rancher pushes changes (a subscribe websocket, a Kubernetes watch) none are "
           "needed, but a watch silent that long during a rollout is checked by one read (the next after twice "
           "the silence, up to 60 s), as a proxy may hold one",
           default=2.0, minimum=0.001, maximum=HOUR,
           metavar="SECONDS", field="poll_interval_seconds"),
    Option("request_timeout", ("RANCHER_REQUEST_TIMEOUT",), Kind.SECONDS,
           "seconds Rancher may take to answer one request", default=30.0, minimum=0.01, maximum=HOUR,
           metavar="SECONDS", field="request_timeout_seconds"),
    Option("retries", ("RANCHER_RETRIES",), Kind.COUNT,
           "times a failed read (connection error, timeout, HTTP 5xx) is retried, waiting 0.5s, 1s, 2s, ... "
           "between tries; actions are never repeated blindly", default=3, minimum=0, maximum=100, metavar="N"),
    Option("batch_size", ("RANCHER_BATCH_SIZE",), Kind.COUNT,
           "containers replaced at a time", default=1, minimum=1, maximum=10_000, commands=(UPGRADE,), metavar="N"),
    Option("batch_interval", ("RANCHER_BATCH_INTERVAL",), Kind.SECONDS,
           "seconds between two batches (Rancher's minimum is 0.1)", default=2.0, minimum=0.1, maximum=HOUR,
           commands=(UPGRADE,), metavar="SECONDS", field="batch_interval_seconds"),
    Option("start_first", ("RANCHER_START_FIRST",), Kind.BOOL,
           "start the new container before stopping the old one", default=False, commands=(UPGRADE,)),
    Option("finish", ("RANCHER_FINISH",), Kind.BOOL,
           "finish the upgrade once it is healthy (false leaves it `upgraded` for a later `finish` command)",
           default=True, commands=(UPGRADE,)),
    Option("rollback", ("RANCHER_ROLLBACK",), Kind.BOOL,
           "roll back automatically when the upgrade fails or times out", default=True,
           commands=(UPGRADE,)),
    Option("atomic", ("RANCHER_ATOMIC",), Kind.BOOL,
           "with several targets, upgrade all or none: finish only when every one is healthy, and on any "
           "failure roll back every target touched", default=True, commands=(UPGRADE,)),
    Option("parallel", ("RANCHER_PARALLEL",), Kind.COUNT,
           "how many targets of one run are upgraded at once", default=10, minimum=1, maximum=1000, commands=(UPGRADE,),
           metavar="N"),
    Option("fail_fast", ("RANCHER_FAIL_FAST",), Kind.BOOL,
           "with RANCHER_ATOMIC=false, start no further target once one failed", default=False,
           commands=(UPGRADE,)),
    Option("on_interrupt", ("RANCHER_ON_INTERRUPT",), Kind.CHOICE,
           "what to do when SIGTERM/SIGINT arrives while an upgrade is waiting: roll it back, or leave it and "
           "report its state; exits 143/130 either way", default=OnInterrupt.ROLLBACK,
           choices=words(OnInterrupt), parse=OnInterrupt,
           commands=(UPGRADE,)),
    Option("on_upgraded", ("RANCHER_ON_UPGRADED",), Kind.CHOICE,
           "what to do with an upgrade an earlier run left `upgraded`", default=OnUpgraded.FINISH,
           choices=words(OnUpgraded), parse=OnUpgraded, commands=(UPGRADE,)),
    Option("version_policy", ("RANCHER_VERSION_POLICY",), Kind.TEXT,
           "which new image a target takes, else it is skipped (exit 0): any (whatever image is given), newer (a "
           "higher version, or latest; the default in fleet mode), Keel's all, major, minor, patch, force (the same "
           "tag again too), glob:PATTERN or regexp:PATTERN (on the new tag); a label autoupdate.policy overrides it",
           default=VersionPolicy(PolicyKind.ANY), metavar="POLICY", parse=VersionPolicy.parse, commands=(UPGRADE,)),
    Option("force", ("RANCHER_FORCE",), Kind.BOOL,
           "upgrade even when the target already runs the image, restarting it on the same tag; the tag is pulled "
           "again only with imagePullPolicy Always (2.x) or the label io.rancher.container.pull_image=always (1.x), "
           "and the plan warns otherwise",
           default=False, commands=(UPGRADE,)),
    Option("set_env", ("RANCHER_SET_ENV",), Kind.LINES,
           "set environment variable KEY to VALUE in the containers whose image the run changes (a 1.x service and "
           "the sidekicks it moves, the chosen 2.x containers), keeping every other variable; one KEY=VALUE per line "
           "(or per flag), or comma separated on one line when no value holds a comma; values are never printed",
           commands=(UPGRADE,), metavar="KEY=VALUE", field=None, parse=parse_pair, keyed=True),
    Option("unset_env", ("RANCHER_UNSET_ENV",), Kind.LINES,
           "remove environment variable KEY from those containers; one per line (or per flag) or comma separated",
           commands=(UPGRADE,), metavar="KEY", field=None, parse=parse_key),
    Option("set_label", ("RANCHER_SET_LABEL",), Kind.LINES,
           "set label KEY to VALUE on the 1.x service's launch config or the 2.x workload's pod template, keeping "
           "every other label (scheduling labels too); one KEY=VALUE per line (or per flag), or comma separated on "
           "one line when no value holds a comma; a label of a 2.x workload's selector is refused",
           commands=(UPGRADE,), metavar="KEY=VALUE", field=None, parse=parse_pair, keyed=True),
    Option("unset_label", ("RANCHER_UNSET_LABEL",), Kind.LINES,
           "remove label KEY there; one per line (or per flag) or comma separated",
           commands=(UPGRADE,), metavar="KEY", field=None, parse=parse_key),
    Option("record", ("RANCHER_RECORD",), Kind.CHOICE,
           "write down where each change came from (the image, and the pipeline URL and commit the CI gives) in the "
           "same write: the annotation kubernetes.io/change-cause of a 2.x workload, which kubectl rollout history "
           f"lists, or the label {RECORD_LABEL} of a 1.x launch config; auto: on for 2.x, off for 1.x",
           default=Record.AUTO, choices=words(Record), parse=Record, commands=(UPGRADE,)),
    Option("dry_run", ("RANCHER_DRY_RUN",), Kind.BOOL,
           "print the plan and change nothing", default=False, commands=(UPGRADE, Command.ROLLBACK, Command.FINISH)),
    Option("create", ("RANCHER_CREATE",), Kind.BOOL,
           "create a target that does not exist (1.x: the service, and its stack when missing; 2.x: a deployment in "
           "an existing namespace) from the image, scale, ports, env and labels, wait until it is healthy, or remove "
           "it again; without it a missing target is an error (exit 2)", default=False, commands=(UPGRADE,)),
    Option("scale", ("RANCHER_SCALE",), Kind.COUNT,
           "containers (1.x) or replicas (2.x) of a target the create setting makes; an existing target keeps its own",
           default=1, minimum=1, maximum=10_000, commands=(UPGRADE,), metavar="N"),
    Option("port", ("RANCHER_PORT",), Kind.LIST,
           "a port of a target the create setting makes, as [PUBLIC:]PRIVATE[/PROTOCOL] with tcp or udp (8080:80/tcp): "
           "1.x publishes it as Rancher does; 2.x sets the container port only, and creates no Service; repeat or comma "
           "separate",
           commands=(UPGRADE,), metavar="PORT", field="ports", parse=Port.parse),
    *POLL_OPTIONS,   # registry polling (poll_options.py)
    *NOTIFY_OPTIONS,   # notifications (notify_options.py)
    Option("output", ("RANCHER_OUTPUT",), Kind.CHOICE,
           "text: the log only; json: also print the result object on stdout", default=Output.TEXT,
           choices=words(Output), parse=Output),
    Option("ca_bundle", ("RANCHER_CA_BUNDLE",), Kind.TEXT,
           "PEM file of the CA that signed Rancher's certificate; when not given, the first of REQUESTS_CA_BUNDLE, "
           "SSL_CERT_FILE and CURL_CA_BUNDLE that is set (it must name a file), else the public CAs requests "
           "ships", metavar="FILE", parse=ca_location,
           fallback=("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE")),
    Option("insecure", ("RANCHER_INSECURE",), Kind.BOOL,
           "do not verify Rancher's TLS certificate (warns; prefer the ca-bundle setting)", default=False),
    Option("verbose", ("RANCHER_VERBOSE",), Kind.BOOL,
           "log every API request and where each setting came from (secrets stay hidden)", default=False),
    Option("dotenv_report", ("RANCHER_DOTENV_REPORT",), Kind.TEXT,
           "also write the result as RANCHER_DEPLOY_*=value lines to FILE, for a later step or GitLab's "
           "artifacts:reports:dotenv", metavar="FILE"),
    *SERVE_OPTIONS,   # `rancher-deploy serve` (serve_options.py)
    *SERVE_POLL_OPTIONS,   # its registry polling (poll_options.py)
)

OPTIONS_BY_NAME: dict[str, Option] = {option.name: option for option in SETTINGS}

# The source `serve` records for `finish` when the seed's payload set it (`confirm`), so a run's messages
# name that field, not a flag the server was never given (`Settings.unfinished_by`).
PAYLOAD_CONFIRM = "the request's confirm: false"


# No generated repr (it would print the credentials) nor equality (nothing compares two runs' settings,
# so they hash by identity): both are start-up every CI step pays (66 fields).
@dataclass(frozen=True, repr=False, eq=False)
class Settings:
    """Everything one run needs, validated and typed; built by `Settings.load` from the table.

    Durations are in seconds (`*_seconds`). `sources` records, per option name, where its value came
    from (`flag --timeout`, `CI input INPUT_TIMEOUT`, `.env RANCHER_STACK`), never the value itself;
    `unread` the variables set for options this command does not read, which were neither checked
    nor used (`Option.applies_to`); `warnings` the lines a run logs about settings it heeds only in
    part (a token sent, the keys beside it not).
    """

    command: Command
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
    flavour: Flavour
    image: ImageRef | None
    sidekicks: tuple[tuple[str, ImageRef], ...]
    update_sidekicks: bool
    select_image: bool
    select_label: str | None
    environments: Patterns | None
    namespaces: Patterns | None
    timeout_seconds: float
    progress_deadline_seconds: float
    poll_interval_seconds: float
    request_timeout_seconds: float
    retries: int
    batch_size: int
    batch_interval_seconds: float
    start_first: bool
    finish: bool
    rollback: bool
    atomic: bool
    parallel: int
    fail_fast: bool
    on_interrupt: OnInterrupt
    on_upgraded: OnUpgraded
    version_policy: VersionPolicy
    force: bool
    record: Record
    dry_run: bool
    create: bool
    scale: int
    ports: tuple[Port, ...]
    poll: bool
    registry_ca_bundle: str | None
    registry_http: tuple[str, ...] | None
    docker_config: str | None
    notify_slack_url: str | None
    notify_slack_name: str | None
    notify_webhook_url: str | None
    output: Output
    ca_bundle: str | None
    insecure: bool
    verbose: bool
    dotenv_report: str | None
    serve_host: str
    serve_port: int
    serve_token: str | None
    serve_hmac_secret: str | None
    serve_allow_unauthenticated: bool
    serve_queue: int
    serve_grace_seconds: float
    serve_poll_seconds: float | None
    serve_poll_images: tuple[ImageRef, ...] | None
    edits: Edits = Edits()
    origin: Origin = Origin()
    sources: Mapping[str, str] = dataclasses.field(default_factory=dict)
    warnings: tuple[str, ...] = ()   # settings given that settle something silently otherwise (credentials.check)
    unread: tuple[str, ...] = ()     # what set options the command does not read, by the name they were set by

    @property
    def targets(self) -> tuple[Target, ...]:
        """What the run acts on: Rancher 1.x services or Rancher 2.x workloads (never both)."""
        return self.services or self.workloads

    @property
    def select_labels(self) -> tuple[str, ...]:
        """The label names by which a target opts in to fleet mode (any one of them with value true)."""
        return (self.select_label,) if self.select_label else SELECT_LABELS

    def selecting(self, image: ImageRef, **changes: Any) -> Settings:
        """These settings as a fleet upgrade of `image`, what `serve` and registry polling run
        (`runner.run`): the upgrade command, the targets selected rather than named, each on its own;
        `changes` are further fields (`timeout_seconds`, `start_first`, `finish`, ...). Without the
        settings' warnings, which the server logged once as it started."""
        return dataclasses.replace(self, command=Command.UPGRADE, image=image, select_image=True, atomic=False,
                                   services=(), workloads=(), containers=(), sidekicks=(), create=False, warnings=(),
                                   **changes)

    @property
    def unfinished_by(self) -> str:
        """What asked for an upgrade left unfinished, as a message names it: the `serve` request's
        `confirm: false` (`selecting` with finish=False from a payload), else --no-finish."""
        return self.sources.get("finish", "") if self.sources.get("finish") == PAYLOAD_CONFIRM else "--no-finish"

    @property
    def blueprint(self) -> Blueprint:
        """What RANCHER_CREATE makes a missing target from; the one place both flavours read it. The
        env and labels are what RANCHER_SET_ENV and RANCHER_SET_LABEL set (a new target has nothing
        to unset)."""
        return Blueprint(self.image, self.scale, self.ports, env=self.edits.env.set, labels=self.edits.labels.set)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values no sink may ever show (`secret_parts` of each secret), the credentials as the run
        sends them (`redact.sent_forms`: the Basic header value), and the environment values a run
        sets that are long enough to mask (`credentials.masked_values`)."""
        secret = (self.secret_key, self.token, self.notify_slack_url, self.notify_webhook_url, self.serve_token,
                  self.serve_hmac_secret)
        return (*(part for value in secret if value for part in secret_parts(value)),
                *sent_forms(self.access_key, self.secret_key, self.token),
                *masked_values(self.edits.env.values))

    @property
    def verify(self) -> str | Literal[False]:
        """TLS verification as `requests` takes it: False when insecure, else the path of the PEM file to
        trust: the ca_bundle option's (its own variable or flag, else the fallback variables), else the
        bundle requests ships (certifi's, `requests.certs.where()`).

        Never True: given True, requests looks up REQUESTS_CA_BUNDLE and CURL_CA_BUNDLE in the
        environment itself (`Session.merge_environment_settings`, requests/sessions.py) and fails on
        a stale one with an OSError before any request. An explicit path is used as given, so the
        table above is the one reader of those variables.
        """
        if self.insecure:
            return False
        if self.ca_bundle:
            return self.ca_bundle
        # `requests.certs.where()`, as requests computes it once at import; imported only when asked.
        from requests.utils import DEFAULT_CA_BUNDLE_PATH

        return DEFAULT_CA_BUNDLE_PATH

    @classmethod
    def load(cls, command: Command, flags: Mapping[str, Any], environ: Mapping[str, str],
             dotenv: Mapping[str, str | None] | None = None) -> Settings:
        """Merge the sources by precedence, then validate; raises ConfigError naming the setting."""
        return cls.from_inputs(command, Inputs(flags, environ, dotenv or {}))

    @classmethod
    def from_inputs(cls, command: Command, inputs: Inputs) -> Settings:
        """Settings from a run's raw inputs; raises ConfigError naming the first unusable setting.

        An option the command does not read (`Option.applies_to`: `rollback` takes no image) keeps its
        default, whatever a source says: a variable set for a whole pipeline (GitLab's `variables:`, a
        Woodpecker matrix) must not stop the jobs that have no use for it. `unread` names it.
        """
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        unread: list[str] = []
        fallbacks: list[tuple[Option, Found]] = []
        for option in SETTINGS:
            found = inputs.find(option)
            values[option.name] = option.default
            if found is None:
                continue
            if not option.applies_to(command):
                unread.append(inputs.name(option))
                continue
            if found.fallback:
                fallbacks.append((option, found))  # read once RANCHER_INSECURE is known
                continue
            values[option.name] = _convert_found(option, found, inputs)
            sources[option.name] = found.source
        for option, found in fallbacks:
            if values["insecure"]:
                continue  # REQUESTS_CA_BUNDLE and friends were set for other tools: insecure wins over them
            values[option.name] = _convert_found(option, found, inputs)
            sources[option.name] = found.source
        fields = {option.attribute: values[option.name] for option in SETTINGS if option.attribute}
        fields.update(_validate(command, values, lambda name: inputs.name(OPTIONS_BY_NAME[name]), given=set(sources)))
        return cls(command=command, sources=sources, origin=inputs.origin(), unread=tuple(unread), **fields)


def secrets_in(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Secret values as the environment holds them, before validation, so they can be masked first.

    Settings.load may reject a malformed secret; by then nothing must have printed it. Besides every
    spelling of each secret option (`secret_parts` of each) this takes the password of a URL with
    credentials in it. Here rather than in ci.py, which masks them: which values are secret is the
    table's to say, and the CI dialects know only events, the Outcome and the values to mask.
    """
    values: list[str] = []
    given: dict[str, str] = {}   # the first value of each credential option, for `sent_forms`
    for option in SETTINGS:
        for name in option.ci_variables + option.env:
            text = environ.get(name, "").strip()
            if not text:
                continue
            if option.name in ("access_key", "secret_key", "token"):
                given.setdefault(option.name, text)
            if option.secret:
                values.extend(secret_parts(text))
            elif option.name == "set_env":
                values.extend(masked_values(item.partition("=")[2] for item in pair_texts(text)))
            elif option.name == "url":
                try:
                    password = urlsplit(text).password
                except ValueError:
                    password = None
                if password:
                    values.extend((password, unquote(password)))
                    given.setdefault("url_user", unquote(urlsplit(text).username or ""))
                    given.setdefault("url_secret", unquote(password))
    values.extend(sent_forms(given.get("access_key"), given.get("secret_key"), given.get("token")))
    values.extend(sent_forms(given.get("access_key") or given.get("url_user"), given.get("url_secret"), None))
    return tuple(dict.fromkeys(values))


def _validate(command: Command, values: Mapping[str, Any], name: Callable[[str], str], *,
              given: Collection[str] = ()) -> dict[str, Any]:
    """The checks that span options, and the fields built from several: URL credentials, targets.

    `name` turns an option's table name into the words a message uses for it (`Inputs.name`);
    `given` holds the options some source set (not left at their defaults).
    """
    login = credentials.check(values, name)

    flavour: Flavour = values["flavour"]
    workload, service, flavour_name = name("workload"), name("service"), name("flavour")
    workloads = parse_workloads(values["workload"], values["namespace"], setting=workload,
                                namespace_setting=name("namespace"))
    if workloads and values["service"]:
        raise ConfigError(workload, f"names Rancher 2.x workloads but {service} is set too; use one of them")
    if workloads and flavour is Flavour.RANCHER_1:
        raise ConfigError(workload, f"is for Rancher 2.x, but {flavour_name} is rancher-1.x")
    if values["service"] and flavour in (Flavour.V3, Flavour.K8S):
        raise ConfigError(service, f"is for Rancher 1.x, but {flavour_name} is {flavour}")
    fleet = (command is Command.UPGRADE and values["select_image"]) or command is Command.SERVE  # serve: per run
    fleet_fields = validate_fleet(values, name, given, named=bool(workloads or values["service"]),
                                  serving=command is Command.SERVE) if fleet else {}
    if not fleet and command is Command.UPGRADE:
        for option in ("select_label", "environments", "namespaces"):
            if option in given:
                raise ConfigError(name(option), f"chooses targets for fleet mode only; set {name('select_image')}=true "
                                                "or leave it unset")
    services = () if workloads or fleet else parse_services(
        values["service"], values["stack"], setting=service, stack_setting=name("stack"), workload_setting=workload)
    edits = _edits(values, name, rancher_2=bool(workloads),
                   record_label=bool(services) and values["record"] is Record.TRUE)
    if command is Command.UPGRADE and values["image"] is None and not values["sidekick"] and not edits:
        raise ConfigError(name("image"), "is required: the new image, e.g. registry/app:2.1 (unless the run only "
                                         f"changes environment variables or labels: {name('set_env')}, ...)")
    if values["create"] and values["image"] is None:
        raise ConfigError(name("create"), f"needs {name('image')}: the image a missing target is created from")
    if values["create"] and any(target.stack is None for target in services):
        raise ConfigError(name("create"), f"needs the stack of each service, to create it in: write stack/name in "
                                          f"{service} or set {name('stack')}")
    validate_polling(values, name, serving=command is Command.SERVE)
    if values["update_sidekicks"] and values["image"] is None:
        raise ConfigError(name("update_sidekicks"), "needs an image to compare sidekicks with")
    if values["ca_bundle"] is not None and values["insecure"]:
        raise ConfigError(name("insecure"), f"cannot be combined with a CA bundle ({name('ca_bundle')}); choose one")
    pace = _pace_warning(values, name) if command in (Command.UPGRADE, Command.SERVE) and not workloads else ()
    checked = {"url": login.url, "access_key": login.access_key, "secret_key": login.secret_key, "edits": edits,
               "warnings": login.warnings + pace}
    if fleet:
        return {**checked, **fleet_fields}
    return {**checked, "services": services,
            "workloads": workloads, "containers": values["container"] or (), "sidekicks": values["sidekick"] or (),
            "ports": values["port"] or ()}


def _pace_warning(values: Mapping[str, Any], name: Callable[[str], str]) -> tuple[str, ...]:
    """The warning for a 1.x progress deadline not above the batch interval: Rancher waits that long
    after one batch is healthy before it starts the next, so the deadline fails every upgrade of more
    than one batch. Not refused: a service no bigger than one batch never waits between batches, and
    only Rancher knows its scale."""
    deadline, interval = values["progress_deadline"], values["batch_interval"]
    if deadline > interval:
        return ()
    return (f"{name('progress_deadline')} ({deadline:g}s) is not above {name('batch_interval')} ({interval:g}s): "
            f"Rancher 1.x waits that long between two batches, so an upgrade of more than one batch (a scale above "
            f"{name('batch_size')}) will be failed by the deadline and rolled back",)


def _edits(values: Mapping[str, Any], name: Callable[[str], str], *, rancher_2: bool, record_label: bool) -> Edits:
    """The environment and label edits, checked as far as the settings tell: keys set twice or set and
    removed, environment names, and, for 2.x workloads (the targets say which Rancher it is), the
    Kubernetes rules for label keys and values. A 1.x label key may be anything but empty or
    spaced (the converter's check), except the record's own label when RANCHER_RECORD=true writes it."""
    edits = Edits(KeyEdits(values["set_env"] or (), values["unset_env"] or ()),
                  KeyEdits(values["set_label"] or (), values["unset_label"] or ()))
    checks: tuple[tuple[KeyEdits, str, str, Callable[[str], str | None] | None], ...] = (
        (edits.env, "set_env", "unset_env", env_key_problem),
        (edits.labels, "set_label", "unset_label", label_key_problem if rancher_2 else None))
    for part, setter, unsetter, rule in checks:
        problem = edit_conflicts(part, name(unsetter))
        if problem:
            raise ConfigError(name(setter), problem)
        for key in part.keys:
            setting = name(setter if key in dict(part.set) else unsetter)
            problem = rule(key) if rule else None
            if problem:
                raise ConfigError(setting, problem)
            if setter == "set_label" and record_label and key == RECORD_LABEL:
                raise ConfigError(setting, f"names {RECORD_LABEL}, the label {name('record')} writes; "
                                           "leave it to the record")
    if rancher_2:
        for key, value in edits.labels.set:
            if not label_value_valid(value):
                raise ConfigError(name("set_label"), f"the value of {key} is not a valid Kubernetes label value: "
                                                     "at most 63 characters, letters or digits at both ends, '-', "
                                                     "'_' or '.' inside, or empty (value not shown)")
    return edits


def _convert_found(option: Option, found: Found, inputs: Inputs) -> Any:
    """`_convert`, with a ValueError turned into the ConfigError naming the setting as the user set it."""
    try:
        return convert(option, found.text)
    except ValueError as error:
        problem = str(error)
        if found.fallback:
            problem += (f" ({found.variable} is read as {option.flag.lstrip('-')} when that is not given; "
                        "point it at an existing file or unset it)")
        raise ConfigError(inputs.name(option), problem) from None
