"""The version policy, one row per rule: the seed's table done right, and each of Keel's policies."""

from __future__ import annotations

import pytest

from rancher_deploy.choices import PolicyKind, VersionPolicy
from rancher_deploy.policy import decide, newest

REPO = "registry.example.com:5000/shop/web"


def allowed(policy: str, running: str, new: str) -> bool:
    return decide(VersionPolicy.parse(policy), f"{REPO}:{running}", f"{REPO}:{new}").allowed


# The seed's table (rancher-service-updater's README, "Determining if update is required"), done right:
# its strings compared 10.0 below 9.0; versions compare as numbers here.
@pytest.mark.parametrize(("running", "new", "update"), [
    ("1.0", "2.0", True),
    ("2.0", "1.3", False),
    ("1.0", "latest", True),
    ("latest", "latest", True),      # a redeploy that pulls the tag again
    ("latest", "1.0", False),
    ("9.0", "10.0", True),
])
def test_newer_is_the_seeds_table_done_right(running: str, new: str, update: bool) -> None:
    assert allowed("newer", running, new) is update


@pytest.mark.parametrize(("running", "new", "update"), [
    ("v1.2", "1.3", True),           # leniency: a v prefix, and two parts
    ("1.2", "v1.2.1", True),
    ("v2.1", "2.0.9", False),
    ("1.2", "1.2.0", False),          # the same version, written two ways
    ("2024.01.15", "2024.02.01", True),   # CalVer with leading zeros
    ("24.04", "24.10", True),
    ("1.2.3+build.1", "1.2.3+build.2", False),   # `+` is no tag character: no image, so no version
    ("2.0", "dev", False),            # a tag that is not a version is not ordered
    ("dev", "2.0", False),
    ("dev", "dev", False),
    ("2.0", "4f2a9c1", False),
])
def test_newer_reads_versions_leniently_and_does_not_order_other_tags(running: str, new: str, update: bool) -> None:
    assert allowed("newer", running, new) is update


@pytest.mark.parametrize(("running", "new", "update"), [
    ("1.0.0", "1.1.0-rc.1", False),          # Keel's docs: 0.5.0 is not updated by 0.6.0-rc1
    ("0.5.0-dev", "0.6.0-dev", True),        # ... 0.5.0-dev is updated by 0.6.0-dev
    ("0.5.0-dev", "0.5.0-prod", False),      # ... and not by 0.5.0-prod
    ("1.2.3-rc.1", "1.2.3-rc.2", True),      # the same track (rc.N): Keel's text comparison would refuse
    ("1.2.3-rc9", "1.2.3-rc10", True),       # numbers as numbers, where semver orders rc9 after rc10
    ("1.2.3-rc10", "1.2.3-rc9", False),
    ("1.2.3-rc.9", "1.2.3-beta.10", False),  # another track
    ("2.1.0-rc.1", "2.1.0", True),           # a release ends its pre-releases (semver's order)
    ("2.1.0-rc.1", "2.0.9", False),
    ("1.2.3-RC1", "1.2.3-RC2", True),        # the words in any case
    ("1.2.3-SNAPSHOT", "1.2.4-SNAPSHOT", True),
])
def test_a_pre_release_replaces_only_its_own_track(running: str, new: str, update: bool) -> None:
    for policy in ("newer", "all", "major"):
        assert allowed(policy, running, new) is update, policy


# A suffix that is no pre-release word names a variant (another base image): it must match both ways, as
# Keel's matchPreRelease has it (keel-hq/keel internal/policy/semver.go, util/version/version.go).
@pytest.mark.parametrize(("running", "new", "update"), [
    ("1.25-alpine", "1.26-alpine", True),
    ("1.25-alpine", "1.25", False),           # the same version on another base (Alpine -> Debian)
    ("1.25-alpine", "1.26", False),
    ("1.25.3-alpine", "1.25.4", False),
    ("1.25", "1.26-alpine", False),
    ("3.12-slim", "3.13", False),
    ("3.12-slim", "3.13-slim-bookworm", False),   # compared as text: another variant
    ("17.0-jdk", "17.1-jdk", True),
    ("1.2-jdk17", "1.3-jdk21", False),         # a number in a variant is part of its name, not a version
    ("2.0-windowsservercore", "2.1-windowsservercore", True),
    ("0.5.0-dev", "0.5.1-prod", False),         # a pre-release track to a variant
])
def test_a_variant_suffix_must_match_both_ways(running: str, new: str, update: bool) -> None:
    for policy in ("newer", "all", "minor"):
        assert allowed(policy, running, new) is update, policy


# `git describe` builds: each a track of its own; a release replaces one only above the tag it describes.
@pytest.mark.parametrize(("running", "new", "update"), [
    ("1.2.3-4-g1111111", "1.2.3-5-g2222222", False),   # hashes of digits alone
    ("1.2.3-4-gabc1234", "1.2.3-5-gabc9999", False),   # hashes that share their letters
    ("1.2.3", "1.2.3-4-gabc1234", False),
    ("1.2.3-4-gabc1234", "1.2.3", False),              # 4 commits older
    ("1.2.3-4-gabc1234", "1.2.4", True),
    ("1.2.3-4-gabc1234", "1.3.0-rc.1", False),
])
def test_a_git_describe_build_is_a_track_of_its_own(running: str, new: str, update: bool) -> None:
    for policy in ("newer", "all", "patch"):
        assert allowed(policy, running, new) is update, policy


# Keel's policies (keel-hq/keel internal/policy; docs "Policies").
@pytest.mark.parametrize(("policy", "running", "new", "update"), [
    ("all", "1.0.0", "2.0.0", True),
    ("all", "1.2.0", "1.1.0", False),
    ("all", "1.2.0", "1.2.0", False),
    ("all", "1.0", "latest", False),         # latest is no version: only newer takes it
    ("all", "latest", "1.0", False),         # Keel moves latest onto a version; the seed's table says no
    ("major", "1.9.9", "2.0.0", True),
    ("major", "2.0.0", "1.9.9", False),
    ("minor", "1.2.3", "1.3.0", True),
    ("minor", "1.2.3", "1.2.4", True),
    ("minor", "1.2.3", "2.0.0", False),
    ("minor", "1.2.3", "1.2.2", False),
    ("patch", "1.2.3", "1.2.4", True),
    ("patch", "1.2.3", "1.3.0", False),
    ("patch", "1.2.3", "2.0.0", False),
    ("patch", "v1.2", "1.2.1", True),
    ("force", "1.0", "0.9", True),
    ("force", "latest", "latest", True),     # the same tag again: a redeploy that pulls it
    ("force", "dev", "main", True),
    ("any", "2.0", "1.0", True),
    ("any", "latest", "latest", False),      # the same image: only --force redeploys it
    ("glob:1.*", "1.0", "1.5", True),
    ("glob:1.*", "1.0", "2.0", False),
    ("glob:1.*", "2.0", "1.0", True),        # a pattern does not order
    ("glob:release-*", "release-1", "release-2", True),
    ("glob:release-*", "release-1", "release-1", False),
    ("glob:1.*", "1.0", "1.x-RC", True),
    ("regexp:^v?1\\.[0-9]+$", "1.0", "v1.12", True),
    ("regexp:^v?1\\.[0-9]+$", "1.0", "1.12-rc", False),
    ("regexp:rc", "1.0", "1.1-rc", True),    # unanchored, as Go's MatchString
    ("regexp:^RC$", "1.0", "rc", False),     # case-sensitive, as tags are
])
def test_keels_policies(policy: str, running: str, new: str, update: bool) -> None:
    assert allowed(policy, running, new) is update


def test_version_policies_compare_one_repository_and_pattern_policies_any() -> None:
    newer = VersionPolicy(PolicyKind.NEWER)
    decision = decide(newer, "docker:nginx:1.0", "httpd:2.0")
    assert not decision.allowed and "not of the repository it runs" in decision.reason
    assert decide(newer, "docker:nginx:1.0", "docker.io/library/nginx:1.1").allowed
    assert decide(VersionPolicy.parse("glob:2.*"), "docker:nginx:1.0", "httpd:2.0").allowed


def test_an_image_named_by_digest_alone_is_no_version_and_matches_no_tag() -> None:
    digest = "sha256:" + "a" * 64
    newer = decide(VersionPolicy(PolicyKind.NEWER), f"{REPO}:1.0", f"{REPO}@{digest}")
    assert not newer.allowed and "an image named by digest alone is not a version" in newer.reason
    assert not decide(VersionPolicy.parse("glob:*"), f"{REPO}:1.0", f"{REPO}@{digest}").allowed
    assert decide(VersionPolicy(PolicyKind.FORCE), f"{REPO}:1.0", f"{REPO}@{digest}").allowed
    assert decide(VersionPolicy(PolicyKind.NEWER), f"{REPO}@{digest}", f"{REPO}:latest").allowed


@pytest.mark.parametrize(("policy", "running", "new", "reason"), [
    ("newer", "2.0", "1.3", "1.3 is not newer than 2.0"),
    ("newer", "latest", "1.0", "newer does not move a target off latest onto 1.0 (the seed's table: latest -> a "
                               "version: no)"),
    ("newer", "latest", "dev", "newer does not move a target off latest onto dev"),
    ("patch", "9.0", "10.0", "10.0 is another major version than 9.0; patch stays within it"),
    ("patch", "1.9.0", "2.9.0", "2.9.0 is another major version than 1.9.0; patch stays within it"),
    ("minor", "9.0", "10.0", "10.0 is another major version than 9.0; minor stays within it"),
    ("major", "9.0", "10.0", "10.0 is newer than 9.0, which major allows"),
    ("patch", "1.2.3", "1.2.4", "1.2.4 is newer than 1.2.3, which patch allows"),
    ("newer", "1.0", "1.1", "1.1 is newer than 1.0"),
    ("any", "1.0", "1.0", "it already runs"),
    ("force", "1.0", "1.0", "force deploys any image, the same tag again too"),
    ("glob:1.*", "1.0", "1.1", "tag 1.1 matches glob:1.*"),
    ("regexp:^1\\.", "1.0", "2.0", "tag 2.0 does not match regexp:^1\\."),
    ("minor", "1.2.3", "2.0.0", "2.0.0 is another major version than 1.2.3; minor stays within it"),
    ("patch", "1.2.3", "1.3.0", "1.3.0 is another minor version than 1.2.3; patch stays within it"),
    ("all", "1.0.0", "1.1.0-rc.1", "1.1.0-rc.1 is a pre-release of track rc.N, and 1.0.0 is a release"),
    ("all", "1.0.0-rc.1", "1.1.0-beta.1", "1.1.0-beta.1 is a pre-release of track beta.N, and 1.0.0-rc.1 is a "
                                          "pre-release of track rc.N; a pre-release replaces only its own track"),
    ("newer", "1.25-alpine", "1.26", "1.26 is a release, and 1.25-alpine has the variant suffix alpine; a version "
                                     "policy keeps the variant a target runs"),
    ("newer", "1.2.3", "1.2.4-5-gabc1234", "1.2.4-5-gabc1234 is a git describe build, a track of its own"),
    ("newer", "1.2.3+build.1", "1.2.3+build.2", "has an invalid tag '1.2.3+build.2' (a tag holds letters, digits, "
                                                "_ . - only), so newer cannot read it"),
    ("glob:1.*", "1.0", "2.0", "tag 2.0 does not match glob:1.*"),
    ("minor", "1.2.3", "1.3.0", "1.3.0 is newer than 1.2.3, which minor allows"),
])
def test_each_decision_says_why(policy: str, running: str, new: str, reason: str) -> None:
    assert reason in decide(VersionPolicy.parse(policy), f"{REPO}:{running}", f"{REPO}:{new}").reason


TAGS = ["latest", "1.0.0", "1.1.0", "1.2.0-rc.1", "1.10.0", "2.0.0", "2.1.0-rc.1", "v2.0.1", "dev", "sha-4f2a9c1"]


@pytest.mark.parametrize(("policy", "running", "expected"), [
    ("all", "1.0.0", "v2.0.1"),
    ("major", "1.0.0", "v2.0.1"),
    ("newer", "1.0.0", "v2.0.1"),            # never latest: a poll follows versions
    ("any", "1.0.0", "v2.0.1"),              # a poll only moves forward: any polls as all
    ("minor", "1.0.0", "1.10.0"),            # 1.10 above 1.2, as numbers
    ("patch", "1.1.0", None),
    ("patch", "1.0.0", None),
    ("all", "v2.0.1", None),                 # already the newest
    ("all", "2.1.0-rc.0", "2.1.0-rc.1"),     # its own track
    ("all", "latest", None),                 # latest follows its digest, not the tag list
    ("newer", "latest", None),
    ("force", "1.0.0", None),                # force follows its own tag's digest
    ("glob:1.*", "1.0.0", "1.10.0"),
    ("glob:1.*", "latest", "1.10.0"),        # what runs does not match: the highest that does
    ("glob:1.1*", "1.10.0", None),           # 1.10.0 is above 1.1.0
    ("regexp:^sha-", "latest", "sha-4f2a9c1"),
    ("glob:d*", "latest", "dev"),
])
def test_newest_picks_the_highest_tag_the_policy_allows_above_the_running_one(
        policy: str, running: str, expected: str | None) -> None:
    assert newest(VersionPolicy.parse(policy), f"{REPO}:{running}", TAGS) == expected


def test_newest_orders_tags_that_are_not_versions_by_their_numbers_or_keels_compare_group() -> None:
    builds = ["build-9", "build-10", "build-8", "other"]
    assert newest(VersionPolicy.parse("glob:build-*"), f"{REPO}:build-8", builds) == "build-10"
    assert newest(VersionPolicy.parse("glob:build-*"), f"{REPO}:build-10", builds) is None
    dated = ["main-20240105-b2", "main-20240201-a1", "main-20231231-z9"]
    policy = VersionPolicy.parse(r"regexp:^main-(?P<compare>\d{8})-")
    assert newest(policy, f"{REPO}:main-20240105-b2", dated) == "main-20240201-a1"
    assert newest(policy, f"{REPO}:main-20240201-a1", dated) is None


def test_newest_keeps_the_variant_and_the_track_it_runs() -> None:
    tags = ["1.25.3-alpine", "1.25.4-alpine", "1.25.4", "1.25.5", "1.25.6-slim", "1.25.7-4-gabc1234"]
    assert newest(VersionPolicy.parse("patch"), "nginx:1.25.3-alpine", tags) == "1.25.4-alpine"
    assert newest(VersionPolicy.parse("newer"), "nginx:1.25.3", tags) == "1.25.5"
    assert newest(VersionPolicy.parse("all"), "nginx:1.25.4-alpine", tags) is None


def test_newest_ignores_what_is_no_tag_and_repeats() -> None:
    assert newest(VersionPolicy(PolicyKind.ALL), f"{REPO}:1.0", ["1.1", "1.1", "bad tag", "", "-x"]) == "1.1"
    assert newest(VersionPolicy(PolicyKind.ALL), "not an image", ["1.1"]) is None


@pytest.mark.parametrize(("text", "problem"), [
    ("mjaor", "must be one of any, newer, all, major, minor, patch, force, glob:PATTERN, regexp:PATTERN, got 'mjaor'"),
    ("glob:", "glob needs a pattern after the colon, e.g. glob:1.*"),
    ("regexp:(", "regexp:( is not a regular expression: missing ), unterminated subpattern"),
    ("minor:1", "minor takes no pattern, got 'minor:1'"),
])
def test_a_policy_that_cannot_be_read_says_why(text: str, problem: str) -> None:
    with pytest.raises(ValueError) as raised:
        VersionPolicy.parse(text)
    assert problem in str(raised.value)


def test_policies_read_case_insensitively_and_keep_their_pattern_as_written() -> None:
    assert VersionPolicy.parse(" Minor ") == VersionPolicy(PolicyKind.MINOR)
    assert VersionPolicy.parse("GLOB:Release-*") == VersionPolicy(PolicyKind.GLOB, "Release-*")
    assert str(VersionPolicy.parse("regexp:^v1:x$")) == "regexp:^v1:x$"


def test_whitespace_around_a_policys_word_and_pattern_is_dropped() -> None:
    # No tag holds whitespace: `glob: 1.*` kept as written would match nothing, silently.
    assert VersionPolicy.parse("glob: 1.*") == VersionPolicy(PolicyKind.GLOB, "1.*")
    assert VersionPolicy.parse(" regexp : ^v1\\. ") == VersionPolicy(PolicyKind.REGEXP, "^v1\\.")
    with pytest.raises(ValueError, match="glob needs a pattern after the colon"):
        VersionPolicy.parse("glob:   ")


def test_a_targets_own_policy_is_its_annotation_then_its_label_else_the_setting() -> None:
    from rancher_deploy.policy import PolicyLabelError, TargetPolicy, for_target

    default = VersionPolicy(PolicyKind.NEWER)
    assert for_target(default, {}, {}) == TargetPolicy(default, "RANCHER_VERSION_POLICY")
    assert str(for_target(default, {"autoupdate.policy": "minor"}, {})) == "minor (label autoupdate.policy)"
    both = for_target(default, {"autoupdate.policy": "minor"}, {"autoupdate.policy": "glob:1.*"})
    assert str(both) == "glob:1.* (annotation autoupdate.policy)"
    assert for_target(default, {"autoupdate.policy": " "}, {}).policy == default   # empty: not set
    with pytest.raises(PolicyLabelError) as raised:
        for_target(default, {}, {"autoupdate.policy": "sometimes"})
    assert raised.value.where == "annotation" and "got 'sometimes'" in str(raised.value)


@pytest.mark.parametrize("kind", ["all", "major", "minor", "patch"])
def test_the_semver_policies_never_take_latest_and_read_no_four_part_or_word_tags(kind: str) -> None:
    # docs/fleet.md: under `newer` one push of latest moves a fleet onto it for good; these never do.
    repository = "registry.example.com/shop/web"
    for running, new in [("1.0", "latest"), ("1.2.3.3", "1.2.3.4"), ("1.2.3", "1.2.3.4"), ("2.0", "2.1.RELEASE")]:
        assert not decide(VersionPolicy.parse(kind), f"{repository}:{running}", f"{repository}:{new}").allowed
    assert decide(VersionPolicy.parse("newer"), f"{repository}:1.0", f"{repository}:latest").allowed
    assert not decide(VersionPolicy.parse("newer"), f"{repository}:latest", f"{repository}:1.0").allowed
