"""The fixed choices of the settings, as enums whose values are the words users write.

Apart from the settings table (settings.py), which re-exports every name here: the values a run
chooses between are a smaller thing than the table and the validation that reads them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Choice(enum.Enum):
    """A fixed choice whose value is the word users write; shown as that word in messages."""

    def __str__(self) -> str:
        return str(self.value)


class Command(Choice):
    """The deploy commands (`upgrade` is the default when none is given), and `serve`, the webhook
    server that runs upgrades when told an image was published (`rancher_deploy.serve`)."""

    UPGRADE = "upgrade"
    ROLLBACK = "rollback"
    FINISH = "finish"
    STATUS = "status"
    SERVE = "serve"


# The commands a CI step runs (RANCHER_COMMAND, the CI inputs' choice). `serve` is no CI step: it runs
# until stopped, and is started as `rancher-deploy serve`.
COMMANDS = tuple(command.value for command in Command if command is not Command.SERVE)
UPGRADE = Command.UPGRADE


class Flavour(Choice):
    """Which Rancher API to talk to; AUTO detects it from the URL and the server (discovery.py)."""

    AUTO = "auto"
    RANCHER_1 = "rancher-1.x"
    V3 = "v3"
    K8S = "k8s"


class OnInterrupt(Choice):
    """What a SIGTERM/SIGINT during an upgrade's wait does: roll it back, or leave it and report."""

    ROLLBACK = "rollback"
    REPORT = "report"


class OnUpgraded(Choice):
    """What to do first with an upgrade an earlier run left `upgraded`."""

    FINISH = "finish"
    ROLLBACK = "rollback"


class Output(Choice):
    """TEXT: the log only; JSON: also the result object on stdout."""

    TEXT = "text"
    JSON = "json"


class Record(Choice):
    """RANCHER_RECORD: whether a change is written down where Rancher shows it (the deploy record).

    AUTO: on for Rancher 2.x (the `kubernetes.io/change-cause` annotation `kubectl rollout history`
    lists), off for 1.x, where the record is a launch-config label no Rancher screen lists by itself.
    """

    AUTO = "auto"
    TRUE = "true"
    FALSE = "false"

    def on(self, *, rancher_2: bool) -> bool:
        """Whether a run records its change, on Rancher 2.x (`rancher_2`) or 1.x."""
        return self is Record.TRUE or (self is Record.AUTO and rancher_2)


class PolicyKind(Choice):
    """The rule a version policy applies to the new tag against the running one (`policy.decide`).

    ANY and NEWER are this tool's own (NEWER is the seed's table, done right); ALL, MAJOR, MINOR,
    PATCH, FORCE, GLOB and REGEXP are Keel's policies by the same names (keel-hq/keel
    internal/policy/policy.go, `GetPolicy`), GLOB and REGEXP written `glob:PATTERN`, `regexp:PATTERN`.
    """

    ANY = "any"          # deploy whatever image is given; the same one again only with --force
    NEWER = "newer"      # the seed's table: a higher version, or latest (again, as a redeploy)
    ALL = "all"          # Keel: any higher version
    MAJOR = "major"      # Keel: any higher version (the same as all)
    MINOR = "minor"      # Keel: a higher version of the same major
    PATCH = "patch"      # Keel: a higher version of the same major.minor
    FORCE = "force"      # Keel: any image, the same tag again too (a redeploy that pulls it)
    GLOB = "glob"        # Keel: a new tag matching the glob
    REGEXP = "regexp"    # Keel: a new tag matching the regular expression


# The kinds written KIND:PATTERN.
PATTERN_KINDS = frozenset({PolicyKind.GLOB, PolicyKind.REGEXP})
POLICY_WORDS = ", ".join(f"{kind}:PATTERN" if kind in PATTERN_KINDS else str(kind) for kind in PolicyKind)


@dataclass(frozen=True)
class VersionPolicy:
    """A version policy parsed (RANCHER_VERSION_POLICY, or a target's `autoupdate.policy` label): a kind,
    and the pattern of the kinds that carry one (`glob:1.*`, `regexp:^v?1\\.`), kept as written."""

    kind: PolicyKind
    pattern: str | None = None

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        """`any`, `newer`, `all`, `major`, `minor`, `patch`, `force` (case-insensitive), `glob:PATTERN` or
        `regexp:PATTERN` (the pattern case-sensitive, as tags are); raises ValueError with the message for
        the user, which never repeats more of the text than the word or the pattern it could not read.

        Whitespace around the word and the pattern is dropped (`glob: 1.*` is `glob:1.*`): no tag holds
        any (Docker's tag grammar, `[\\w][\\w.-]{0,127}`), so a pattern kept with it would match nothing,
        silently."""
        word, colon, pattern = text.strip().partition(":")
        pattern = pattern.strip()
        try:
            kind = PolicyKind(word.strip().lower())
        except ValueError:
            raise ValueError(f"must be one of {POLICY_WORDS}, got {text.strip()!r}") from None
        if kind not in PATTERN_KINDS:
            if colon:
                raise ValueError(f"{kind} takes no pattern, got {text.strip()!r}")
            return cls(kind)
        if not pattern:
            raise ValueError(f"{kind} needs a pattern after the colon, e.g. {kind}:{_EXAMPLES[kind]}")
        if kind is PolicyKind.REGEXP:
            try:
                re.compile(pattern)
            except re.error as error:
                raise ValueError(f"regexp:{pattern} is not a regular expression: {error}") from None
        return cls(kind, pattern)

    def __str__(self) -> str:
        return str(self.kind) if self.pattern is None else f"{self.kind}:{self.pattern}"


_EXAMPLES = {PolicyKind.GLOB: "1.*", PolicyKind.REGEXP: r"^v?1\.[0-9]+$"}


def words(choice: type[Choice]) -> tuple[str, ...]:
    """The words a user may write for `choice`, in declaration order (argparse's `choices`, messages)."""
    return tuple(str(member.value) for member in choice)
