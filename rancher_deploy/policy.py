"""The version policy: whether a target may move from the image it runs to a new one, and which of a
repository's tags a registry poll would move it to; pure, the one place such a decision is made.

Policies (`choices.PolicyKind`) are this tool's `any` and `newer`, and Keel's `all`, `major`, `minor`,
`patch`, `force`, `glob:PATTERN` and `regexp:PATTERN` (keel-hq/keel internal/policy: semver.go,
force.go, glob.go, regexp.go), with these rules, each written down in docs/fleet.md:

- **Versions** are tags `version_of` reads (`1.2`, `v1.2.3`, `2024.01.15`, `1.2.3-rc.1`), compared by
  semver precedence, numbers as numbers, so 9.0 -> 10.0 is an upgrade (the seed compared strings).
- **Pre-releases keep to their track** (Keel's rule, docs "Pre-release tags": `0.5.0` is not updated by
  `0.6.0-rc1`, `0.5.0-dev` only by a later `-dev`): a new pre-release replaces only a pre-release of the
  same track, the pre-release with its numbers taken out (`rc.1` and `rc.2` are track `rc.N`), and
  within a track the numbers compare as numbers (`rc9` < `rc10`, which semver orders as text). Keel
  compares the whole pre-release text (so its `rc.1` never takes `rc.2`) and lets `all` ignore tracks;
  here every version policy keeps to them. A release replaces a pre-release of the same or a lower
  version (`2.1.0-rc.1` -> `2.1.0`), as semver orders them; Keel's code refuses that too, its docs
  do not say. A pre-release is a suffix of a pre-release word and numbers (`rc.1`, `beta2`: `_PRE_RELEASE`).
- **A variant keeps to itself**: any other suffix (`1.25-alpine`, `3.12-slim`, `17-jdk-bookworm`) names
  a build of the version for another base, compared as text, both ways: `1.25-alpine` -> `1.26-alpine`
  only, never onto `1.26` (another base image), nor `1.25` onto `1.26-alpine`. Keel refuses both too:
  its semver policies (`matchPreRelease`, on by default) skip a tag whose pre-release text differs from
  the running one's (keel-hq/keel internal/policy/semver.go `shouldUpdate`, util/version/version.go
  `NewAvailable`).
- **A `git describe` build** (`1.2.3-4-gabc1234`: 4 commits after tag 1.2.3) is a track of its own: no
  version policy moves a target onto one (builds of two branches can share a count), and a release
  replaces one only when it is above the tag it was described from (`1.2.4`, not `1.2.3`, which is 4
  commits older).
- **Tags that are not versions** (`latest`, `dev`, a commit, a digest) are not ordered: the version
  policies skip them, except `latest` under `newer` (the seed's table: anything -> latest yes, latest
  -> latest yes as a redeploy that pulls, latest -> a version no). Keel's semver policies move
  `latest` onto any version (semver.go `shouldUpdate`); here they skip it, as the seed's table does.
- `force` takes any image, the same tag again too; `any` any other image; `glob:`/`regexp:` match the
  new tag (Python's `fnmatch` glob, where Keel's go-glob knows only `*`; `re.search`, unanchored, as
  Go's `MatchString`).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from rancher_deploy.choices import PolicyKind, VersionPolicy
from rancher_deploy.images import ImageRef, parse_image_uuid, same_image, version_of

if TYPE_CHECKING:
    import semver

LATEST = "latest"
# The label (1.x launch config) or annotation/label (2.x workload) that sets a target's own policy.
POLICY_LABEL = "autoupdate.policy"

# The policies that order versions: they skip what they cannot order, and keep pre-release tracks.
_ORDERING = frozenset({PolicyKind.NEWER, PolicyKind.ALL, PolicyKind.MAJOR, PolicyKind.MINOR, PolicyKind.PATCH})


@dataclass(frozen=True, eq=False)   # not compared: see docs/architecture.md, Start-up
class Decision:
    """Whether a target may move from the image it runs to the new one, and why, in words a log line
    continues (`skipped by the version policy: <reason>`). Allowed for the same image means a redeploy
    of that tag (`force`; `newer` on latest)."""

    allowed: bool
    reason: str


def decide(policy: VersionPolicy, running_image: str, new_image: str) -> Decision:
    """The policy's answer for one container: `running_image` as Rancher shows it (`docker:` prefix
    optional), `new_image` the image asked for. Raises nothing: what cannot be read is not allowed."""
    kind = policy.kind
    same = same_image(running_image, new_image)
    if kind is PolicyKind.FORCE:
        return Decision(True, "force deploys any image" + (", the same tag again too" if same else ""))
    if kind is PolicyKind.ANY:
        return (Decision(False, f"it already runs {new_image}; any redeploys it only with --force") if same else
                Decision(True, "any deploys whatever image is given"))
    before, after = parse_image_uuid(running_image), parse_image_uuid(new_image)
    if after is None:
        # `1.2.3+build.7` lands here: `+` is no tag character (distribution/reference's tag grammar).
        return Decision(False, f"{_unreadable(new_image)} (a tag holds letters, digits, "
                               f"_ . - only), so {policy} cannot read it")
    new_tag = tag_of(after)
    if kind in (PolicyKind.GLOB, PolicyKind.REGEXP):
        return _pattern(policy, new_tag, same, new_image)
    if before is None:
        return Decision(False, f"{_unreadable(running_image)}, so {kind} cannot compare its tag")
    if not before.same_repository(after):
        return Decision(False, f"{new_image} is not of the repository it runs ({running_image}); {kind} compares "
                               "versions of one repository")
    old_tag = tag_of(before)
    if kind is PolicyKind.NEWER and new_tag == LATEST:
        return Decision(True, "newer takes latest over any other tag" if old_tag != LATEST else
                        "newer takes latest again: a redeploy that pulls the tag (the seed's table)")
    if kind is PolicyKind.NEWER and old_tag == LATEST:
        return Decision(False, f"newer does not move a target off latest onto {new_tag or 'a digest'} (the seed's "
                               "table: latest -> a version: no); any, force, glob: or regexp: do")
    old, new = _Tag.read(old_tag), _Tag.read(new_tag)
    if old is None or new is None:
        unread = old_tag if old is None else new_tag
        shown = f"tag {unread}" if unread else "an image named by digest alone"
        allowed = "versions and latest" if kind is PolicyKind.NEWER else "versions"
        return Decision(False, f"{shown} is not a version, and {kind} orders {allowed} only; any, force, glob: or "
                               "regexp: take such tags")
    if new.described:
        return Decision(False, f"{new_tag} is a git describe build, a track of its own, so no {kind} moves a "
                               "target onto it; any, force, glob: or regexp: take such tags")
    if new.variant != old.variant:
        return Decision(False, f"{new_tag} {_suffix(new)}, and {old_tag} {_suffix(old)}; a version policy "
                               "keeps the variant a target runs (write the suffix in a glob: or regexp: to change it)")
    if new.track is not None and new.track != old.track:
        return Decision(False, f"{new_tag} {_suffix(new)}, and {old_tag} {_suffix(old)}; a pre-release replaces "
                               "only its own track")
    if not new.above(old):
        return Decision(False, f"{new_tag} is not newer than {old_tag}")
    if kind in (PolicyKind.MINOR, PolicyKind.PATCH) and new.version.major != old.version.major:
        return Decision(False, f"{new_tag} is another major version than {old_tag}; {kind} stays within it")
    if kind is PolicyKind.PATCH and new.version.minor != old.version.minor:
        return Decision(False, f"{new_tag} is another minor version than {old_tag}; patch stays within it")
    return Decision(True, f"{new_tag} is newer than {old_tag}" + ("" if kind is PolicyKind.NEWER else
                                                                    f", which {kind} allows"))


@dataclass(frozen=True)
class TargetPolicy:
    """The policy a target follows, and where it comes from (`RANCHER_VERSION_POLICY`, `label
    autoupdate.policy`, `annotation autoupdate.policy`), as log lines name it."""

    policy: VersionPolicy
    source: str

    def __str__(self) -> str:
        return f"{self.policy} ({self.source})"


class PolicyLabelError(ValueError):
    """A target's own policy cannot be read; `where` says where it was found ("label", "annotation")."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(problem)
        self.where = where


def for_target(default: VersionPolicy, labels: Mapping[str, str], annotations: Mapping[str, str]) -> TargetPolicy:
    """The target's own policy (`policy_label`), else `default` (RANCHER_VERSION_POLICY's). Raises
    PolicyLabelError when the target's own cannot be read (`VersionPolicy.parse`'s words)."""
    found = policy_label(labels, annotations)
    if found is None:
        return TargetPolicy(default, "RANCHER_VERSION_POLICY")
    text, where = found
    try:
        return TargetPolicy(VersionPolicy.parse(text), f"{where} {POLICY_LABEL}")
    except ValueError as error:
        raise PolicyLabelError(where, str(error)) from None


def policy_label(labels: Mapping[str, str], annotations: Mapping[str, str]) -> tuple[str, str] | None:
    """A target's own policy as written, and where (`annotation` or `label`), or None where it sets none.

    The annotation first, then the label, as Keel reads `keel.sh/policy` (policy.go
    `GetPolicyFromLabelsOrAnnotations`): a Kubernetes label value cannot hold `glob:1.*` or a regexp
    (at most 63 letters, digits, `-_.`), an annotation can. A 1.x service has labels only, which hold any
    text. An empty value sets none, as an empty setting does.
    """
    for where, found in (("annotation", annotations), ("label", labels)):
        text = found.get(POLICY_LABEL, "").strip()
        if text:
            return text, where
    return None


def newest(policy: VersionPolicy, running_image: str, tags: Iterable[str]) -> str | None:
    """The tag a registry poll moves a target running `running_image` to: the highest of `tags` (a
    repository's tag list) that the policy allows and that is above the running tag; None when there is
    none. Never the running tag itself, and never `latest`: a push to the same tag is a change of digest,
    which a tag list cannot show (the poller compares digests, as Keel's does for `force`).

    Order: versions by their precedence (pre-release tracks and variants kept, as `decide`); for `glob:`/`regexp:`,
    where tags need not be versions, the same when every candidate is one, else the text with its digit
    runs as numbers (`build-9` < `build-10`), of the regexp's `compare` group where it has one (Keel's
    regexp.go). `force` follows its own tag (None); `any` moves only forward, so it polls as `all`.
    """
    running = parse_image_uuid(running_image)
    if running is None or policy.kind is PolicyKind.FORCE:
        return None
    rule = VersionPolicy(PolicyKind.ALL) if policy.kind is PolicyKind.ANY else policy
    current = tag_of(running)
    name = running.name
    allowed = [tag for tag in dict.fromkeys(tags)
               if tag != current and tag != LATEST and _valid_tag(tag)
               and decide(rule, running_image, f"{name}:{tag}").allowed]
    if not allowed:
        return None
    if rule.kind in _ORDERING:
        return max(allowed, key=_version_key)
    # glob:/regexp: the pattern allows; the order decides what is newest, and what is above the running tag.
    ranked = [*allowed, *([current] if current and _matches(rule, current) else [])]
    key: Callable[[str], Any] = (_version_key if all(_Tag.read(tag) is not None for tag in ranked)
                                 else _text_key(rule))
    best = max(allowed, key=key)
    if current in ranked and key(best) <= key(current):
        return None
    return best


def tag_of(image: ImageRef) -> str | None:
    """The tag Docker reads in a reference: its own, `latest` when it names neither tag nor digest, None
    when it names a digest alone (`app@sha256:...`, which no tag describes)."""
    if image.tag is not None:
        return image.tag
    return None if image.digest is not None else LATEST


# A suffix that makes a version a pre-release: one of these words, then numbers (`rc.1`, `beta2`, `SNAPSHOT`,
# `dev`), in any case. The words are those of semver.org's examples and of Maven, npm and PEP 440 usage.
# Both patterns are compiled at first use (`re` caches them): only a policy that orders versions reads a tag.
_PRE_RELEASE = r"(?i)(?:alpha|beta|rc|pre|preview|dev|snapshot|canary|nightly|milestone|ea)(?:[.-]?\d+)*"
# `git describe --tags`: commits since the tag, `g` and the abbreviated commit (git's core.abbrev: 4 to 40
# hex digits; git-scm.com/docs/git-describe).
_DESCRIBE = r"\d+-g[0-9a-f]{4,40}"


@dataclass(frozen=True)
class _Tag:
    """A version tag read for ordering: its version, its pre-release track (None for anything else)
    and the numbers of its pre-release, in order; its variant suffix (`alpine`; None without one), or
    whether it is a `git describe` build (both compared as text, never ordered)."""

    version: semver.Version
    track: str | None
    numbers: tuple[int, ...] = ()
    variant: str | None = None
    described: bool = False

    @classmethod
    def read(cls, tag: str | None) -> _Tag | None:
        version = version_of(tag)
        if version is None:
            return None
        suffix = version.prerelease
        if not suffix:
            return cls(version, None)
        if re.fullmatch(_DESCRIBE, suffix):
            return cls(version, None, described=True)
        if not re.fullmatch(_PRE_RELEASE, suffix):
            return cls(version, None, variant=suffix)
        return cls(version, re.sub(r"\d+", "N", suffix), tuple(int(number) for number in re.findall(r"\d+", suffix)))

    @property
    def key(self) -> tuple[tuple[int, int, int], int, tuple[int, ...]]:
        """Orders tags of one track or variant: a release above every pre-release of its version (semver),
        and a git describe build above the release it was described from, below the next."""
        release = self.version.finalize_version()
        rank = 2 if self.described else int(self.track is None)
        return (release.major, release.minor, release.patch), rank, self.numbers

    def above(self, other: _Tag) -> bool:
        """Higher than `other`: of the same track (or releases, or a release over a pre-release)."""
        return self.key > other.key


def _suffix(tag: _Tag) -> str:
    """What a version's suffix makes it, in words a reason continues ("1.25 is a release")."""
    if tag.variant is not None:
        return f"has the variant suffix {tag.variant}"
    if tag.track is not None:
        return f"is a pre-release of track {tag.track}"
    return "is a git describe build" if tag.described else "is a release"


def _unreadable(image: str) -> str:
    """Why `image` is no image reference, as `ImageRef.parse` words it."""
    try:
        ImageRef.parse(image)
    except ValueError as error:
        return str(error)
    return f"{image} is not an image reference"


def _version_key(tag: str) -> tuple[tuple[int, int, int], int, tuple[int, ...], str]:
    read = _Tag.read(tag)
    assert read is not None  # callers pass version tags only
    return (*read.key, tag)   # the text last: `1.2` and `1.2.0` are one version; either, but always the same


def _text_key(policy: VersionPolicy) -> Callable[[str], Any]:
    compare = re.compile(policy.pattern or "") if policy.kind is PolicyKind.REGEXP else None

    def key(tag: str) -> tuple[tuple[int, int | str], ...]:
        text = tag
        if compare is not None and "compare" in compare.groupindex:
            found = compare.search(tag)
            text = (found.group("compare") if found else None) or tag
        return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.findall(r"\d+|\D+", text))

    return key


def _pattern(policy: VersionPolicy, tag: str | None, same: bool, new_image: str) -> Decision:
    if tag is None:
        return Decision(False, f"{new_image} names no tag (a digest alone), and {policy} matches tags")
    if not _matches(policy, tag):
        return Decision(False, f"tag {tag} does not match {policy}")
    if same:
        return Decision(False, f"it already runs {new_image}; {policy.kind} redeploys it only with --force")
    return Decision(True, f"tag {tag} matches {policy}")


def _matches(policy: VersionPolicy, tag: str) -> bool:
    pattern = policy.pattern or ""
    if policy.kind is PolicyKind.GLOB:
        return fnmatch.fnmatchcase(tag, pattern)
    return re.search(pattern, tag) is not None


def _valid_tag(tag: str) -> bool:
    """A tag Docker accepts (a registry lists nothing else, but a poll reads what it is sent)."""
    try:
        return ImageRef.parse(f"tag-check:{tag}").tag == tag
    except ValueError:
        return False

