"""The raw inputs of one run, each read once: flags, a snapshot of the environment, the `.env` file.

Looked up by the settings table's precedence (flag > CI input > environment > `.env` > fallback
variables), recording where each value came from; converting and validating is settings.py's job.
Messages name a setting through `Inputs.name`, the way this run's user set it.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Protocol, Sequence

from rancher_deploy.errors import ConfigError
from rancher_deploy.options import show_default


class Spelled(Protocol):
    """What the lookup needs of a settings-table row: its spellings in each source."""

    @property
    def name(self) -> str: ...
    @property
    def flag(self) -> str: ...
    @property
    def input_id(self) -> str: ...
    @property
    def ci_variables(self) -> tuple[str, ...]: ...
    @property
    def env(self) -> tuple[str, ...]: ...
    @property
    def fallback(self) -> tuple[str, ...]: ...
    @property
    def switch(self) -> bool: ...
    @property
    def separator(self) -> str: ...
    @property
    def default(self) -> Any: ...


class Layer(enum.Enum):
    """Where a value was found, in precedence order; the value is the label `Found.source` shows."""

    FLAG = "flag"
    CI_INPUT = "CI input"
    ENVIRONMENT = "environment"
    DOTENV = ".env"


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class Found:
    """One option's text and where it came from: the layer, and the flag or variable in it."""

    text: str = dataclasses.field(repr=False)   # a secret key's too: no repr shows it
    layer: Layer
    variable: str             # `--timeout`, `INPUT_TIMEOUT`, `PLUGIN_DRY-RUN`, `RANCHER_STACK`
    fallback: bool = False    # from an Option.fallback variable

    @property
    def source(self) -> str:
        """`flag --timeout`, `CI input INPUT_TIMEOUT`, `environment RANCHER_URL`, `.env RANCHER_STACK`."""
        return f"{self.layer.value} {self.variable}"


@dataclass(frozen=True)
class Origin:
    """Where a change comes from, as the CI running us says it: the pipeline's URL and the commit
    (None where the CI does not say, or no CI runs us). Named in the deploy record."""

    pipeline: str | None = None
    commit: str | None = None


@dataclass(frozen=True, eq=False)
class Inputs:
    """The raw inputs of one run, each read once: the flags, a snapshot of the environment, `.env`.

    CI detection, secret masking, Settings and the report of a failed load all read this one
    snapshot, so they cannot disagree about what was set. `ci` is the name of the CI dialect that
    runs us (`github`, `gitlab`, `drone`, `woodpecker`, `plain`), which decides how a message names
    a setting nobody set; `dotenv_path` is the `.env` file read, if one was.
    """

    # The values stay out of the repr (the environment and `.env` hold the secret key and tokens, a
    # flag may too): a traceback's locals or a debugger's `repr` must not show them.
    flags: Mapping[str, Any] = dataclasses.field(repr=False)
    environ: Mapping[str, str] = dataclasses.field(repr=False)
    dotenv: Mapping[str, str | None] = dataclasses.field(default_factory=dict, repr=False)
    ci: str = "plain"
    dotenv_path: str | None = None

    @classmethod
    def snapshot(cls, flags: Mapping[str, Any], environ: Mapping[str, str], *, ci: str = "plain") -> Inputs:
        """Copy the flags and environment (a later change to os.environ does not reach the run)."""
        return cls(dict(flags), dict(environ), ci=ci)

    def with_dotenv(self, path: str | None) -> Inputs:
        """These inputs plus the `.env` file at `path` (none when `path` is None or missing)."""
        values = read_dotenv(path) if path else {}
        return dataclasses.replace(self, dotenv=values, dotenv_path=os.path.abspath(path) if values and path else None)

    def with_flags(self, flags: Mapping[str, Any]) -> Inputs:
        """These inputs with the command line's flags (parsed once the command is known)."""
        return dataclasses.replace(self, flags=dict(flags))

    def origin(self) -> Origin:
        """The pipeline URL and commit this run's CI sets (docs/ci-conventions.md: GitHub
        GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID and GITHUB_SHA; GitLab
        CI_PIPELINE_URL and CI_COMMIT_SHA; Drone DRONE_BUILD_LINK and DRONE_COMMIT_SHA; Woodpecker
        CI_PIPELINE_URL, in older versions CI_BUILD_LINK, and CI_COMMIT_SHA); nothing outside a CI."""
        def get(*names: str) -> str | None:
            hit = _first_set(self.environ, names)
            return hit[1].strip() if hit else None

        if self.ci == "github":
            server, repository, run = get("GITHUB_SERVER_URL"), get("GITHUB_REPOSITORY"), get("GITHUB_RUN_ID")
            complete = server and repository and run
            pipeline = f"{str(server).rstrip('/')}/{repository}/actions/runs/{run}" if complete else None
            return Origin(pipeline, get("GITHUB_SHA"))
        if self.ci == "gitlab":
            return Origin(get("CI_PIPELINE_URL"), get("CI_COMMIT_SHA"))
        if self.ci == "drone":
            return Origin(get("DRONE_BUILD_LINK"), get("DRONE_COMMIT_SHA"))
        if self.ci == "woodpecker":
            return Origin(get("CI_PIPELINE_URL", "CI_BUILD_LINK"), get("CI_COMMIT_SHA"))
        return Origin()

    def find(self, option: Spelled) -> Found | None:
        """The option's text from the first source that sets it, by precedence; None when none does."""
        flag = self.flags.get(option.name)
        if isinstance(flag, bool):
            return Found("true" if flag else "false", Layer.FLAG, option.flag)
        if flag not in (None, [], ""):
            text = option.separator.join(flag) if isinstance(flag, list) else str(flag)
            return Found(text, Layer.FLAG, option.flag)
        for names, layer in ((option.ci_variables, Layer.CI_INPUT), (option.env, Layer.ENVIRONMENT)):
            hit = _first_set(self.environ, names)
            if hit is not None and not (layer is Layer.CI_INPUT and self._component_default(option, hit[1])):
                return Found(hit[1], layer, hit[0])
        hit = _first_set(self.dotenv, option.env)
        if hit is not None:
            return Found(hit[1], Layer.DOTENV, hit[0])
        hit = _first_set(self.environ, option.fallback)
        if hit is not None:  # the first set, even one naming no file: settings.py reports that
            return Found(hit[1], Layer.ENVIRONMENT, hit[0], fallback=True)
        return None

    def _component_default(self, option: Spelled, text: str) -> bool:
        """Whether `text` is a GitLab component's typed input left at its default, which counts as not
        given, so the setting's CI/CD variable (or the default itself) applies as for an empty input.

        GitLab gives a `number` or `boolean` input no empty default (its default must be of its type,
        gitlab lib/gitlab/ci/config/interpolation/inputs/base_input.rb), so the component
        (templates/rancher-deploy.yml) passes each as PLUGIN_* with the settings table's default:
        600, false (plus a space that keeps the variable a string). An input given that very value
        counts as not given too, which it cannot be told apart from, and which changes nothing unless
        a CI/CD variable sets the setting.
        """
        default = option.default
        if self.ci != "gitlab" or not isinstance(default, (bool, int, float)):
            return False
        return text.strip() == show_default(default)

    def text(self, option: Spelled) -> str | None:
        """One option's unvalidated text, stripped, for reporting after Settings failed to load."""
        found = self.find(option)
        return (found.text.strip() or None) if found else None

    def name(self, option: Spelled) -> str:
        """How a message names `option`: the way this run's user set it, else the way a user of this CI would.

        Set: `--timeout`; `input timeout` (a GitHub input, or a GitLab component input, which the
        component passes as PLUGIN_*); `setting dry-run` (a Drone/Woodpecker setting, with the key's
        hyphens or underscores as the variable kept them); `RANCHER_TIMEOUT` (the environment);
        `RANCHER_TIMEOUT in .env`. Not set (a required value is missing): `input service` on GitHub,
        `setting service` on Drone and Woodpecker (the snake_case keys docs/ci.md shows), else the
        first environment variable, which GitLab's CI/CD variables and a shell both use.
        """
        found = self.find(option)
        if found is None:
            if self.ci == "github":
                return f"input {option.input_id}"
            if self.ci in _PLUGIN_CIS:
                return f"setting {option.name}"
            return option.env[0]
        if found.layer is Layer.CI_INPUT:
            prefix, _, key = found.variable.partition("_")
            if prefix == "INPUT" and self.ci == "github":
                return f"input {key.lower()}"
            if prefix == "PLUGIN" and self.ci in _PLUGIN_CIS:
                return f"setting {key.lower()}"
            if prefix == "PLUGIN" and self.ci == "gitlab":
                return f"input {option.input_id}"
        if found.layer is Layer.DOTENV:
            return f"{found.variable} in .env"
        return found.variable

    def speller(self, options: Iterable[Spelled], commands: Iterable[str] = ()) -> Callable[[str], str]:
        """A rewrite of message text, so that what it tells a person to set or run reads the way this
        run's user sets settings and runs commands.

        Messages are written the way that works everywhere: a setting by its environment variable
        (`RANCHER_TIMEOUT`) or a value as `` `RANCHER_SERVICE=shop/web` ``; a switch by its flag
        (`--no-rollback`, `--force`); a command as `` `rancher-deploy rollback` ``. Each becomes what
        the user wrote (`--timeout`, input `rollback: false`, setting `service: shop/web`,
        `RANCHER_FORCE=true`), else what a user of this CI writes, and a command the way this CI runs
        one (`commands` are the words rewritten). Only whole names are rewritten; a plain terminal
        keeps flags and commands as they are.
        """
        by_variable: dict[str, Spelled] = {}
        by_flag: dict[str, tuple[Spelled, str | None]] = {}
        for option in options:
            by_variable.update((variable, option) for variable in option.env)
            by_flag[option.flag] = (option, "true" if option.switch else None)
            if option.switch:
                by_flag["--no-" + option.flag.removeprefix("--")] = (option, "false")
        variables = "|".join(sorted(map(re.escape, by_variable), key=len, reverse=True)) or "(?!)"
        words = "|".join(map(re.escape, commands)) or "(?!)"
        pattern = re.compile(
            rf"`(?P<assigned>{variables})=(?P<value>[^`]*)`"
            rf"|(?<![\w-])(?P<flag>--[a-z][a-z0-9-]*)(?![\w-])"
            rf"|(?<![A-Za-z0-9_])(?P<variable>{variables})(?![A-Za-z0-9_])"
            rf"|`rancher-deploy (?P<command>{words})`")

        def spell(match: re.Match[str]) -> str:
            if match.group("assigned"):
                return self._setting(by_variable[match.group("assigned")], match.group("value"), quoted=True)
            if match.group("flag"):
                known = by_flag.get(match.group("flag"))
                if known is None or (self.find(known[0]) is None and self.ci not in _SETTING_CIS):
                    return match.group(0)   # not a setting's flag (--help), or a terminal's own way
                return self._setting(known[0], known[1], quoted=False)
            if match.group("variable"):
                option = by_variable[match.group("variable")]
                return self.name(option).removesuffix(" in .env")  # in running text, the variable is its name
            return _COMMAND_FORMS.get(self.ci, "`rancher-deploy {}`").format(match.group("command"))

        return lambda text: pattern.sub(spell, text)

    def _setting(self, option: Spelled, value: str | None, *, quoted: bool) -> str:
        """`option` set to `value` (None: only named), the way this run's user set it: `--no-rollback`,
        `--service shop/web`, input `rollback: false` (GitHub; a GitLab component's input), setting
        `rollback: false` (Drone, Woodpecker), `RANCHER_ROLLBACK=false` (a variable, in `.env` too).
        Unset: the way a user of this CI sets it. `quoted`: flags and variables in backticks."""
        found = self.find(option)
        named = self.name(option).removesuffix(" in .env")
        if found is not None and found.layer is Layer.FLAG:
            if option.switch and value == "false":
                text = "--no-" + option.flag.removeprefix("--")
            else:
                text = option.flag if option.switch or value is None else f"{option.flag} {value}"
        elif named.startswith(("input ", "setting ")):
            kind, _, key = named.partition(" ")
            return f"{kind} `{key}`" if value is None else f"{kind} `{key}: {value}`"
        else:
            text = named if value is None else f"{named}={value}"
        return f"`{text}`" if quoted else text

    def from_dotenv(self, options: Iterable[Spelled]) -> list[str]:
        """The variables `.env` supplied for these options (those no other source set), in table order."""
        supplied = []
        for option in options:
            found = self.find(option)
            if found is not None and found.layer is Layer.DOTENV:
                supplied.append(found.variable)
        return supplied


# The CIs whose settings reach us as PLUGIN_<KEY> (docs/ci-conventions.md, sections 4 and 5).
_PLUGIN_CIS = frozenset({"drone", "woodpecker"})
# The CIs where nobody types a command line: settings are inputs (GitHub), plugin settings (Drone,
# Woodpecker) or variables (GitLab), so a flag in a message is shown as one of those even when unset.
_SETTING_CIS = frozenset({"github", "gitlab"}) | _PLUGIN_CIS
# How each CI runs one command of ours (README "In CI"; docs/ci.md): GitHub a step of the action with
# its `command` input, Drone and Woodpecker the plugin's `command` setting, GitLab a job of the
# template with RANCHER_COMMAND. A terminal (plain) keeps the command line.
_COMMAND_FORMS = {
    "github": "a step with `command: {}`",
    "drone": "`command: {}` in the step's settings",
    "woodpecker": "`command: {}` in the step's settings",
    "gitlab": "a job with `RANCHER_COMMAND: {}`",
}


def read_dotenv(path: str) -> dict[str, str | None]:
    """The `.env` file's values, or nothing when there is no such file (python-dotenv parses it).

    Raises ConfigError (exit 2) naming the file and the line, never its text (a line may hold a
    secret), for a file that is not UTF-8 (python-dotenv's encoding; a byte-order mark is allowed) and
    for lines python-dotenv cannot parse. Those it would skip, logging its own unprefixed warning
    before our first line, and the run would go on without a setting its user wrote down: refused
    rather than warned, as any other setting that cannot be read is.
    """
    if not os.path.isfile(path):
        return {}
    import io

    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    where = f".env file {os.path.abspath(path)}"
    with open(path, "rb") as file:
        data = file.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise ConfigError(where, f"line {line} is not UTF-8 text, the encoding python-dotenv reads (the line is "
                                 "not shown); save the file as UTF-8") from None
    # parse_stream is what dotenv_values runs, binding by binding; `error` marks a line it skips.
    unread = [binding.original.line for binding in parse_stream(io.StringIO(text)) if binding.error]
    if unread:
        lines = ", ".join(map(str, unread))
        raise ConfigError(where, f"line{'s' if len(unread) > 1 else ''} {lines} cannot be read as KEY=VALUE by "
                                 "python-dotenv (not shown: a line may hold a secret); fix or remove "
                                 f"{'them' if len(unread) > 1 else 'it'}")
    return dict(dotenv_values(stream=io.StringIO(text)))


def _first_set(mapping: Mapping[str, str | None], names: Sequence[str]) -> tuple[str, str] | None:
    for name in names:
        value = mapping.get(name)
        if value is not None and value.strip() != "":
            return name, value
    return None
