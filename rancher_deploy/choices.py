"""The fixed choices of the settings, as enums whose values are the words users write.

Apart from the settings table (settings.py), which re-exports every name here: the values a run
chooses between are a smaller thing than the table and the validation that reads them.
"""

from __future__ import annotations

import enum
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
    """The rule a version policy applies to the new tag against the running one."""

    ANY = "any"        # deploy whatever image is given
    NEWER = "newer"    # only a higher version than the running one


@dataclass(frozen=True)
class VersionPolicy:
    """RANCHER_VERSION_POLICY parsed: a kind, and the pattern of kinds that carry one.

    Kept a value rather than a bare enum so that policies written `KIND:PATTERN` (`glob:1.*`) can be
    added as kinds without changing what the pipeline reads; today no kind takes a pattern.
    """

    kind: PolicyKind
    pattern: str | None = None

    @classmethod
    def parse(cls, text: str) -> VersionPolicy:
        """`any` or `newer` (case-insensitive); raises ValueError with the message for the user."""
        word = text.strip().lower()
        try:
            return cls(PolicyKind(word))
        except ValueError:
            raise ValueError(f"must be one of {', '.join(words(PolicyKind))}, got {text!r}") from None

    def __str__(self) -> str:
        return str(self.kind) if self.pattern is None else f"{self.kind}:{self.pattern}"


def words(choice: type[Choice]) -> tuple[str, ...]:
    """The words a user may write for `choice`, in declaration order (argparse's `choices`, messages)."""
    return tuple(str(member.value) for member in choice)
