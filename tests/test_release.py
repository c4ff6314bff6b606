"""The release: one version everywhere, the image pinned, the workflows that publish it well formed.

A release is `v<version>` on GitHub (.github/workflows/release.yml pushes the image action.yml runs)
and `<version>` on GitLab (.gitlab-ci.yml releases the component to the CI/CD catalog). Neither can
run here; these tests and .ci/lint (actionlint, the schemas) are what checks them (docs/release.md).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rancher_deploy import __version__

ROOT = Path(__file__).resolve().parent.parent
REPOSITORY = "ghcr.io/rancher-deploy/rancher-deploy"
TOOL_IMAGE = f"{REPOSITORY}:{__version__}"
MAJOR = __version__.split(".", 1)[0]
# The action's moving tag for this version: `v<major>`, or `v0.<minor>` while the major is 0, where
# SemVer lets every minor release break (semver.org, item 4; docs/release.md, "Which tags move").
ACTION_LINE = "v" + (MAJOR if MAJOR != "0" else __version__.rsplit(".", 1)[0])


def load(relative: str) -> Any:
    return yaml.safe_load((ROOT / relative).read_text(encoding="utf-8"))


def workflow() -> dict[str, Any]:
    document: dict[str, Any] = load(".github/workflows/release.yml")
    # YAML 1.1 reads the key `on` as True.
    document["on"] = document.pop(True, document.get("on"))
    return document


def steps(job: str) -> list[dict[str, Any]]:
    return list(workflow()["jobs"][job]["steps"])


def steps_using(job: str, action: str) -> list[dict[str, Any]]:
    return [step for step in steps(job) if str(step.get("uses", "")).startswith(action + "@")]


def step_using(job: str, action: str) -> dict[str, Any]:
    [step] = steps_using(job, action)
    return step


def pushing_build() -> dict[str, Any]:
    [build] = [step for step in steps_using("image", "docker/build-push-action") if step["with"].get("push") is True]
    return build


# -- one version everywhere ---------------------------------------------------------------------------


# Quoted in full, what a tracked file may say at another version, and why; each is blanked out before the
# checks (and must still be there: a quote the file no longer holds fails). Nothing else is excused.
EXAMPLES = {
    # How GitHub versions any action and GitLab includes any component, with the made-up 1.2.3 the notes
    # use throughout: not references users copy (README and docs/ci.md give those).
    "docs/ci-conventions.md": ["`uses: owner/rancher-deploy@v1`",
                               "`component: $CI_SERVER_FQDN/<group>/rancher-deploy/rancher-deploy@1.2.3`"],
}


def tracked_texts() -> list[tuple[str, str]]:
    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    texts = []
    for name in listing.split():
        if not (ROOT / name).is_file():
            continue
        text = (ROOT / name).read_text(encoding="utf-8", errors="replace")
        for example in EXAMPLES.get(name, []):
            assert example in text, f"{name} no longer says {example!r}: drop it from EXAMPLES"
            text = text.replace(example, " " * len(example))   # the same length: line numbers stay right
        texts.append((name, text))
    return texts


def test_action_runs_the_published_image_of_this_version() -> None:
    assert load("action.yml")["runs"] == {"using": "docker", "image": f"docker://{TOOL_IMAGE}"}


def test_the_image_label_is_the_package_version() -> None:
    labels = re.findall(r'org\.opencontainers\.image\.version="([^"]*)"', (ROOT / "Dockerfile").read_text())
    assert labels == [__version__]


def test_the_gitlab_template_and_component_run_the_image_of_this_version() -> None:
    template = load(".gitlab-ci-template.yml")[".rancher-deploy"]
    _, jobs = yaml.safe_load_all((ROOT / "templates/rancher-deploy.yml").read_text(encoding="utf-8"))
    assert template["image"]["name"] == TOOL_IMAGE
    assert jobs["$[[ inputs.job-name ]]"]["image"]["name"] == TOOL_IMAGE


# Every reference to the action or the component, in a form each platform resolves (docs/release.md):
# GitHub a git tag `v1.2.3` or the moving line tag `v1` (`v0.1` for 0.x); GitLab's catalog
# a release tag without `v` (`1.2.3`) or `~latest` (docs.gitlab.com, ci/components "Component
# versions"). `<...>` are the docs' placeholders for those forms.
ANY_REF = re.compile(r"rancher-deploy@[^\s`'\",)]*")
ACTION_REF = re.compile(r"uses:\s*[\w<>.-]+/rancher-deploy@([^\s`'\",)]*)")
COMPONENT_REF = re.compile(r"component:?\s+\S+/rancher-deploy@([^\s`'\",)]*)")
# Code that builds references (the test harnesses, these tests) is not what users copy.
CODE = ("tests/", ".ci/")


def wrong_references(name: str, text: str) -> list[str]:
    """What in `text` names the image, the action, the component or the template at another version or
    in a form its platform does not resolve, as "name: what" lines."""
    wrong = [f"{name}: image tag {tag}" for tag in re.findall(rf"{re.escape(REPOSITORY)}:([\w.-]+)", text)
             if tag != __version__]
    action_forms = {f"v{__version__}", ACTION_LINE, "v<version>", "v<major>", "v0.<minor>"}
    # $CI_COMMIT_TAG: the GitLab release job's own tag, which it checks is the version (.gitlab-ci.yml).
    component_forms = {__version__, "~latest", "<version>", "$CI_COMMIT_TAG"}
    known: set[int] = set()
    if name.startswith(CODE):
        return wrong
    for pattern, forms, kind in ((ACTION_REF, action_forms, "action"), (COMPONENT_REF, component_forms, "component")):
        for match in pattern.finditer(text):
            known.add(match.end())
            ref = match.group(1).rstrip(".;:")   # the end of a sentence
            if ref not in forms:
                wrong.append(f"{name}: {kind} ref @{ref} (expected one of {sorted(forms)})")
    # Any other `rancher-deploy@ref` is neither `uses: owner/rancher-deploy@` nor `component: .../rancher-deploy@`.
    wrong += [f"{name}: {match.group()} is neither an action nor a component reference"
              for match in ANY_REF.finditer(text) if match.end() not in known]
    wrong += [f"{name}: ref {ref}" for ref in re.findall(r"project: rancher-deploy/rancher-deploy\n\s+ref: (\S+)", text)
              if ref != __version__]
    return wrong


def test_every_file_names_this_version_of_the_image_action_and_component() -> None:
    # The image by tag, the component by `@version`, the template by `ref: version`, the action by
    # `@v<version>` or its moving line tag (`@v<major>`, `@v0.<minor>` for 0.x): every mention in README,
    # docs, examples, templates.
    assert [line for name, text in tracked_texts() for line in wrong_references(name, text)] == []


@pytest.mark.parametrize("text", [
    "  - component: $CI_SERVER_FQDN/rancher-deploy/rancher-deploy/rancher-deploy@v0",   # `v`: not a catalog version
    f"  - component: $CI_SERVER_FQDN/rancher-deploy/rancher-deploy/rancher-deploy@v{__version__}",
    "  - component: $CI_SERVER_FQDN/rancher-deploy/rancher-deploy/rancher-deploy@0.0.9",
    f"  uses: rancher-deploy/rancher-deploy@{__version__}",   # no `v`: no such git tag
    f"  uses: rancher-deploy/rancher-deploy@{MAJOR}",
    "  uses: rancher-deploy/rancher-deploy@v99",
    "  uses: rancher-deploy/rancher-deploy@v0",   # all of 0.x, whose minors may break
    "  uses: rancher-deploy/rancher-deploy@v0.99",
    f"  uses: rancher-deploy/rancher-deploy/rancher-deploy@v{MAJOR}",   # a component's path as an action
    f"see rancher-deploy/rancher-deploy@{__version__}",                 # neither form
    "    ref: v0.1.0\n".replace("    ref", "  - project: rancher-deploy/rancher-deploy\n    ref"),
])
def test_a_reference_in_the_wrong_form_is_found(text: str) -> None:
    assert wrong_references("README.md", text)


@pytest.mark.parametrize("text", [
    f"  uses: rancher-deploy/rancher-deploy@{ACTION_LINE}", f"  uses: my-fork/rancher-deploy@v{__version__}",
    f"  - component: $CI_SERVER_FQDN/rancher-deploy/rancher-deploy/rancher-deploy@{__version__}",
    "  - component: gitlab.com/shop/rancher-deploy/rancher-deploy@~latest",
    "`uses: <owner>/rancher-deploy@v<major>`", "`uses: <owner>/rancher-deploy@v0.<minor>`",
])
def test_a_reference_in_a_right_form_passes(text: str) -> None:
    assert wrong_references("README.md", text) == []


# Every form a release version takes in the tracked files, its version as group `v`: each match must be
# this version (a bump that misses one fails), and each occurrence of this version must be inside one
# (a new place that names it must be added here, and is then checked at the next bump).
VERSION = r"(?P<v>\d+\.\d+\.\d+)"
VERSION_FORMS = {
    "the package's version": rf'^__version__ = "{VERSION}"$',
    "the image's label": rf'org\.opencontainers\.image\.version="{VERSION}"',
    "an image tag": rf"{re.escape(REPOSITORY)}:{VERSION}(?![\w.-])",
    "a component or action ref": rf"/rancher-deploy@v?{VERSION}(?![\w.-])",
    "a template's ref": rf"^\s*ref: {VERSION}$",
    # What the program prints (`--version`, the first line of a run), shown as sample output.
    "the program's own line": rf"^rancher-deploy {VERSION}(?=[:\s]|$)",
}
# Historical mentions, which name the version they were made with and do not move with a release:
# the benchmark's record of what it measured (docs/performance.md and .json).
HISTORICAL = rf"rancher-deploy {VERSION} \(commit [0-9a-f]+"
# Another package's version, which only happens to be the same digits: a requirement of any name with a
# PEP 440 comparison (`rancher-client-python-3p==0.2.0`, PEP 440 "Version specifiers"), or a package
# this project requires, by name, right before it (docs/rancher-api.md: "`rancher-client-python-3p`
# 0.2.0"). Never `rancher-deploy` itself (`pip install rancher-deploy==0.1.0` is ours).
PINNED_BEFORE = re.compile(r"([A-Za-z0-9][\w.-]*)(?:\[[\w,.-]*\])?\s*(?:===|==|~=|!=|<=|>=|<|>)\s*$")
NAMED_BEFORE = re.compile(r"([A-Za-z0-9][\w.-]*)`?\s+$")


def required_packages() -> set[str]:
    """The normalized names of every package pyproject.toml or requirements/ requires (a dependency,
    an extra's, a test's or a lint tool's), rancher-deploy excluded."""
    texts = [(ROOT / "pyproject.toml").read_text(encoding="utf-8"),
             *(path.read_text(encoding="utf-8") for path in sorted((ROOT / "requirements").glob("*.*")))]
    names = {re.sub(r"[-_.]+", "-", name).lower() for text in texts
             for name in re.findall(r'^\s*"?([A-Za-z0-9][\w.-]*)\s*(?:\[[^\]]*\])?\s*(?:===|==|~=|!=|<=|>=|<|>|;|"|$)',
                                    text, re.MULTILINE)}
    return names - {"rancher-deploy"}


def another_packages_version(text: str, offset: int) -> bool:
    """Whether the version at `offset` of `text` belongs to another package (PINNED_BEFORE, NAMED_BEFORE)."""
    before = text[text.rfind("\n", 0, offset) + 1:offset]
    pinned = PINNED_BEFORE.search(before)
    if pinned:
        return re.sub(r"[-_.]+", "-", pinned.group(1)).lower() != "rancher-deploy"
    named = NAMED_BEFORE.search(before)
    return bool(named) and re.sub(r"[-_.]+", "-", named.group(1)).lower() in required_packages()


def version_mentions(name: str, text: str) -> list[str]:
    """What in `text` names a release version that is not this one, or names this version outside
    every VERSION_FORMS (a place the test would not check at the next bump), as "name:line: what"."""
    wrong: list[str] = []
    covered: set[int] = set()

    def line_of(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    for match in re.finditer(HISTORICAL, text):
        covered.update(range(match.start("v"), match.end("v")))
    for form, pattern in VERSION_FORMS.items():
        for match in re.finditer(pattern, text, re.MULTILINE):
            if match.start("v") in covered:
                continue
            covered.update(range(match.start("v"), match.end("v")))
            if match.group("v") != __version__:
                wrong.append(f"{name}:{line_of(match.start())}: {form} {match.group()!r} is not {__version__}")
    wrong += [f"{name}:{line_of(match.start())}: {__version__} in a form no check knows: "
              f"{text.splitlines()[line_of(match.start()) - 1].strip()!r}"
              for match in re.finditer(rf"(?<![\d.]){re.escape(__version__)}(?![\w]|\.\d)", text)
              if match.start() not in covered and not another_packages_version(text, match.start())]
    return wrong


def test_every_mention_of_the_version_is_a_known_form_of_this_version() -> None:
    # README.md's sample output (`rancher-deploy 0.1.0: upgrade ...`) and every other place at once.
    assert [line for name, text in tracked_texts() if not name.startswith(CODE)
            for line in version_mentions(name, text)] == []


@pytest.mark.parametrize("text", [
    "rancher-deploy 0.0.9: upgrade shop/web at https://rancher.example.com",   # a stale sample line
    f"  image: {REPOSITORY}:0.0.9",
    '      org.opencontainers.image.version="0.0.9" \\',
    f"The current release is {__version__}.",                                  # a place no form covers
    f"pip install rancher-deploy=={__version__}",
    f"pip install rancher_deploy[serve]>={__version__}",
    f"requires {__version__}",                                                 # a word, not a package we require
])
def test_a_stale_or_unknown_mention_of_the_version_is_found(text: str) -> None:
    assert version_mentions("README.md", text)


@pytest.mark.parametrize("text", [
    f"rancher-deploy {__version__}: upgrade shop/web at https://rancher.example.com",
    f"  image: ghcr.io/rancher-deploy/rancher-deploy:{__version__}",
    f'    "rancher-client-python-3p=={__version__}",',                 # another package's pin
    f"- PyPI `rancher-client-python-3p` {__version__} (`rancher.py`)",   # a package we require, by name
    f"gdapi-python>={__version__}",
    '"ours": "rancher-deploy 0.0.1 (commit bb89bf0; its wheel)"',   # a benchmark's record
    "  uses: actions/checkout@v7 with python 3.12.13",
])
def test_a_current_or_historical_mention_passes(text: str) -> None:
    assert version_mentions("README.md", text) == []


def test_a_bump_to_0_2_0_does_not_flag_another_package_s_version(monkeypatch: pytest.MonkeyPatch) -> None:
    # pyproject.toml pins rancher-client-python-3p==0.2.0 (a test dependency) and docs/rancher-api.md
    # names it: neither is this project's version, which the check must not refuse at the bump to 0.2.0.
    monkeypatch.setattr(sys.modules[__name__], "__version__", "0.2.0")
    texts = {name: (ROOT / name).read_text(encoding="utf-8") for name in ("pyproject.toml", "docs/rancher-api.md")}
    assert all("0.2.0" in text for text in texts.values())
    assert [line for name, text in texts.items() for line in version_mentions(name, text)] == []


def test_the_ci_conventions_are_checked_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the quoted EXAMPLES are excused: a stale image tag anywhere else in the notes is found.
    conventions = (ROOT / "docs/ci-conventions.md").read_text(encoding="utf-8")
    stale = conventions + f"\n  image: {REPOSITORY}:0.0.9\n"
    real_read_text = Path.read_text

    def read_text(path: Path, *args: Any, **kwargs: Any) -> str:
        return stale if path == ROOT / "docs/ci-conventions.md" else real_read_text(path, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", read_text)
    [(name, text)] = [(name, text) for name, text in tracked_texts() if name == "docs/ci-conventions.md"]
    assert wrong_references(name, text) == ["docs/ci-conventions.md: image tag 0.0.9"]
    assert [line.split(": ", 1)[1] for line in version_mentions(name, text)] == [
        f"an image tag '{REPOSITORY}:0.0.9' is not {__version__}"]


def test_the_version_checks_find_what_they_look_for() -> None:
    # Guards the test above against patterns that match nothing.
    texts = dict(tracked_texts())
    assert f"{REPOSITORY}:{__version__}" in texts["README.md"]
    assert f"rancher-deploy/rancher-deploy@{ACTION_LINE}" in texts["README.md"]
    assert f"rancher-deploy/rancher-deploy/rancher-deploy@{__version__}" in texts["docs/ci.md"]
    assert f"ref: {__version__}" in texts["docs/examples/gitlab-ci.yml"]


# -- the Dockerfile's base ---------------------------------------------------------------------------


def test_the_base_is_a_build_argument_pinned_by_tag_and_digest() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    [default] = re.findall(r"^ARG BASE_IMAGE=(\S+)$", text, re.MULTILINE)
    assert re.fullmatch(r"python:3\.12\.\d+-slim-[a-z]+@sha256:[0-9a-f]{64}", default), default
    assert text.index("ARG BASE_IMAGE=") < text.index("FROM ")
    froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert froms == ["${BASE_IMAGE}", "${BASE_IMAGE}"]


def test_the_release_docs_say_which_python_and_platform_each_build_runs() -> None:
    # The CI build's stand-in (.ci/image's suite) and the release's base differ in Debian and Python, and
    # arm64 is never run: docs/release.md says so, with the names these files use today.
    suite = re.findall(r"^suite=(\w+)$", (ROOT / ".ci/image").read_text(encoding="utf-8"), re.MULTILINE)
    [base] = re.findall(r"^ARG BASE_IMAGE=([^@\s]+)", (ROOT / "Dockerfile").read_text(encoding="utf-8"), re.MULTILINE)
    table = (ROOT / "docs/release.md").read_text(encoding="utf-8").split("**Which image runs where.**", 1)[1]
    table = table.split("\n## ", 1)[0]
    assert suite and f"`{suite[0]}`" in table and f"`{base}`" in table
    python = re.match(r"python:(\d+\.\d+)", base)
    assert python and f"| {python.group(1)} |" in table
    assert "arm64 image is built" in table and "never run" in table


def test_the_image_has_no_healthcheck() -> None:
    # A HEALTHCHECK would run in every CI step that uses the image; `serve` is probed by its orchestrator.
    assert not re.search(r"^\s*HEALTHCHECK\b", (ROOT / "Dockerfile").read_text(encoding="utf-8"),
                         re.MULTILINE | re.IGNORECASE)


# -- the GitHub release workflow ----------------------------------------------------------------------


def test_release_runs_on_version_tags_only() -> None:
    assert workflow()["on"] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}


def test_release_pushes_the_repository_action_yml_names() -> None:
    assert workflow()["env"]["IMAGE"] == REPOSITORY
    assert step_using("image", "docker/metadata-action")["with"]["images"] == "${{ env.IMAGE }}"
    assert step_using("image", "docker/login-action")["with"]["registry"] == "ghcr.io"


def test_release_builds_both_platforms_with_provenance_and_sbom_and_pushes() -> None:
    build = pushing_build()["with"]
    assert build["platforms"] == "linux/amd64,linux/arm64"
    assert build["push"] is True and build["sbom"] is True and build["provenance"] == "mode=max"
    assert build["tags"] == "${{ steps.meta.outputs.tags }}"
    uses = [step.get("uses", "").split("@")[0] for step in steps("image")]
    # QEMU and Buildx are set up before the build that needs them; the login before the push.
    assert uses.index("docker/setup-qemu-action") < uses.index("docker/setup-buildx-action") \
        < uses.index("docker/build-push-action")
    assert uses.index("docker/login-action") < uses.index("docker/build-push-action")


def test_release_runs_the_amd64_image_before_pushing_anything() -> None:
    # Built for amd64 into the runner's Docker (load), run (--version, the demo), and only then the
    # multi-platform build that pushes.
    image_steps = steps("image")
    builds = steps_using("image", "docker/build-push-action")
    assert len(builds) == 2
    smoke, push = builds
    assert smoke["with"]["platforms"] == "linux/amd64" and smoke["with"]["load"] is True
    assert smoke["with"]["push"] is False and push == pushing_build()
    tag = smoke["with"]["tags"]
    [run] = [step for step in image_steps[image_steps.index(smoke):image_steps.index(push)] if "run" in step]
    assert f"docker run --rm {tag} --version" in run["run"] and '"rancher-deploy ${TAG#v}"' in run["run"]
    assert f"docker run --rm {tag} demo" in run["run"]


def test_release_annotates_the_index_and_the_manifests() -> None:
    # metadata-action annotates the platform manifests only unless told (docs.docker.com,
    # build/ci/github-actions/annotations, "Configure annotation level").
    meta = step_using("image", "docker/metadata-action")
    assert meta["env"]["DOCKER_METADATA_ANNOTATIONS_LEVELS"] == "manifest,index"
    assert pushing_build()["with"]["annotations"] == "${{ steps.meta.outputs.annotations }}"


def test_release_moves_the_moving_tags_only_for_the_newest_of_their_line() -> None:
    # metadata-action's default flavor latest=auto tags every semver release `latest`; a patch of an
    # older line would move `latest` (and `<major>`) backwards.
    meta = step_using("image", "docker/metadata-action")["with"]
    assert meta["flavor"] == "latest=false"
    assert meta["tags"].split("\n")[:4] == [
        "type=semver,pattern={{version}}",
        "type=semver,pattern={{major}}.{{minor}},enable=${{ steps.line.outputs.newest-minor }}",
        "type=semver,pattern={{major}},enable=${{ steps.line.outputs.major-tag }}",
        "type=raw,value=latest,enable=${{ steps.line.outputs.newest }}"]
    jobs = workflow()["jobs"]
    assert jobs["image"]["outputs"] == {
        "action-tag": "${{ steps.line.outputs.action-tag }}",
        "newest-of-action-line": "${{ steps.line.outputs.newest-of-action-line }}",
        "newest": "${{ steps.line.outputs.newest }}"}
    [move] = [step for step in steps("release") if "git push --force" in step.get("run", "")]
    assert move["if"] == "needs.image.outputs.newest-of-action-line == 'true'"
    assert move["env"]["ACTION_TAG"] == "${{ needs.image.outputs.action-tag }}"
    assert 'git push --force origin "refs/tags/$ACTION_TAG"' in move["run"]
    [create] = [step for step in steps("release") if "gh release create" in step.get("run", "")]
    assert '--latest="$NEWEST"' in create["run"] and create["env"]["NEWEST"] == "${{ needs.image.outputs.newest }}"


def test_the_docs_name_the_image_tags_the_workflow_pushes() -> None:
    # docs/release.md's table and docs/ci.md's "The published image" against metadata-action's tags.
    placeholders = {"{{version}}": "<version>", "{{major}}.{{minor}}": "<major>.<minor>", "{{major}}": "<major>"}
    pushed = []
    for line in step_using("image", "docker/metadata-action")["with"]["tags"].splitlines():
        fields = dict(field.split("=", 1) for field in line.split(","))
        pushed.append(placeholders[fields["pattern"]] if fields["type"] == "semver" else fields["value"])
    release = (ROOT / "docs/release.md").read_text(encoding="utf-8")
    assert re.findall(r"^\| `([^`]+)`[^|]*\| image \|", release, re.MULTILINE) == pushed
    published = (ROOT / "docs/ci.md").read_text(encoding="utf-8").split("## The published image", 1)[1]
    assert all(f"`{REPOSITORY}:{tag}`" in published or f"`:{tag}`" in published for tag in pushed), pushed


# How a Linux runner runs a `run:` script for each `shell:` (docs.github.com, workflow syntax,
# jobs.<job_id>.steps[*].shell): no shell anywhere is `bash -e {0}`, `shell: bash` adds pipefail.
SHELLS = {None: ["bash", "-e"], "bash": ["bash", "--noprofile", "--norc", "-eo", "pipefail"],
          "sh": ["sh", "-e"]}


def shell_of(job: str, step: dict[str, Any]) -> list[str]:
    """The command line (without the script) GitHub runs `step` of `job` with: its own `shell:`, else
    the job's `defaults.run.shell`, else the workflow's (the most specific wins)."""
    document = workflow()
    candidates = (step.get("shell"), document["jobs"][job].get("defaults", {}).get("run", {}).get("shell"),
                  document.get("defaults", {}).get("run", {}).get("shell"))
    return SHELLS[next((shell for shell in candidates if shell), None)]


def test_the_release_runs_every_step_with_pipefail() -> None:
    # A failing `git ls-remote` in a pipe must fail the step, not leave newest-* empty.
    assert workflow()["defaults"] == {"run": {"shell": "bash"}}
    assert all(shell_of(job, step) == SHELLS["bash"] for job in workflow()["jobs"] for step in steps(job)
               if "run" in step)


def line_outputs(tmp_path: Path, tag: str, tags: list[str]) -> dict[str, str]:
    """Runs the release's `line` step as the runner would (its shell, GITHUB_OUTPUT), with a `git` that
    answers `ls-remote --tags --refs origin` with `tags`; returns what it wrote to GITHUB_OUTPUT."""
    [line] = [step for step in steps("image") if step.get("id") == "line"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    listing = "".join(f"{index:040x}\trefs/tags/{name}\n" for index, name in enumerate(tags))
    (tmp_path / "ls-remote").write_text(listing, encoding="utf-8")
    fake_git = bin_dir / "git"
    fake_git.write_text(f'#!/bin/sh\n[ "$*" = "ls-remote --tags --refs origin" ] || exit 9\ncat {tmp_path}/ls-remote\n',
                        encoding="utf-8")
    fake_git.chmod(0o755)
    output = tmp_path / "output"
    script = tmp_path / "line.sh"
    script.write_text(line["run"], encoding="utf-8")
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "TAG": tag, "GITHUB_OUTPUT": str(output)}
    subprocess.run([*shell_of("image", line), str(script)], env=env, check=True, capture_output=True, text=True)
    return dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())


RELEASED = ["v0.8.3", "v0.9.0", "v0.9.1", "v1.2.4", "v1.2.5", "v1.3.0", "v0.9", "v1", "not-a-release"]


@pytest.mark.parametrize(("tag", "tags", "newest_minor", "major_tag", "newest", "action_tag", "move_it"), [
    ("v1.3.0", RELEASED, "true", "true", "true", "v1", "true"),        # the newest release
    ("v1.2.5", RELEASED, "true", "false", "false", "v1", "false"),     # an older minor line's patch: only 1.2
    ("v0.9.1", RELEASED, "true", "false", "false", "v0.9", "true"),    # newest 0.x: 0.9 and v0.9, never `0`
    ("v0.8.3", RELEASED, "true", "false", "false", "v0.8", "true"),    # 0.x: each minor is its own action line
    ("v1.2.4", RELEASED, "false", "false", "false", "v1", "false"),    # re-run for an old patch: nothing moves
    ("v1.10.0", ["v1.9.0", "v1.10.0"], "true", "true", "true", "v1", "true"),   # a version sort, not a text sort
])
def test_the_line_step_finds_whether_the_tag_is_the_newest(
        tmp_path: Path, tag: str, tags: list[str], newest_minor: str, major_tag: str, newest: str,
        action_tag: str, move_it: str) -> None:
    assert line_outputs(tmp_path, tag, tags) == {"newest-minor": newest_minor, "major-tag": major_tag,
                                                 "newest": newest, "action-tag": action_tag,
                                                 "newest-of-action-line": move_it}


def pushed_image_tags(outputs: dict[str, str], version: str) -> list[str]:
    """The image tags metadata-action makes from the workflow's `tags:` for `version` (no `v`), its
    `enable=` expressions filled in from the line step's `outputs`: {{major}} renders the major even
    when it is 0 (metadata-action's src/meta.ts, procSemver, has no case for major zero; its README,
    "Major version zero", leaves disabling it to the workflow)."""
    major, minor, _ = version.split(".")
    values = {"{{version}}": version, "{{major}}.{{minor}}": f"{major}.{minor}", "{{major}}": major}
    pushed = []
    for line in step_using("image", "docker/metadata-action")["with"]["tags"].splitlines():
        fields = dict(field.split("=", 1) for field in line.split(","))
        enable = re.sub(r"\$\{\{ steps\.line\.outputs\.([\w-]+) \}\}", lambda m: outputs[m.group(1)],
                        fields.get("enable", "true"))
        # metadata-action accepts only `true` or `false` (src/meta.ts, getVersion): anything else here
        # is an expression this test does not evaluate.
        assert enable in ("true", "false"), line
        if enable == "true":
            pushed.append(values[fields["pattern"]] if fields["type"] == "semver" else fields["value"])
    return pushed


@pytest.mark.parametrize(("tag", "tags", "pushed"), [
    ("v0.9.1", RELEASED, ["0.9.1", "0.9"]),                    # the newest 0.x: never `0` (docs/release.md)
    ("v0.9.1", ["v0.9.1"], ["0.9.1", "0.9", "latest"]),        # the first release of all
    ("v1.3.0", RELEASED, ["1.3.0", "1.3", "1", "latest"]),
])
def test_a_0x_release_pushes_no_image_tag_0(tmp_path: Path, tag: str, tags: list[str], pushed: list[str]) -> None:
    # A `0` following every 0.x minor would carry its users into breaking changes (semver.org, item 4).
    assert pushed_image_tags(line_outputs(tmp_path, tag, tags), tag[1:]) == pushed


def test_release_creates_the_github_release_after_the_image_is_pushed() -> None:
    jobs = workflow()["jobs"]
    assert jobs["release"]["needs"] == "image"
    assert jobs["release"]["permissions"] == {"contents": "write"}
    assert jobs["image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert any("gh release create" in step.get("run", "") for step in steps("release"))


def test_release_checks_the_tag_against_the_version_before_building() -> None:
    check = steps("image")[1]
    assert "rancher_deploy/__init__.py" in check["run"] and '"v$version"' in check["run"]
    assert "image: docker://$IMAGE:$version" in check["run"]


def test_release_pins_every_action_by_major_version() -> None:
    uses = [step["uses"] for job in workflow()["jobs"].values() for step in job["steps"] if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w-]+/[\w-]+@v\d+", use) for use in uses), uses


# -- the GitLab catalog release ------------------------------------------------------------------------


def test_gitlab_release_job_releases_a_semver_tag_with_the_release_keyword() -> None:
    job = load(".gitlab-ci.yml")["create-release"]
    assert job["rules"] == [{"if": r"$CI_COMMIT_TAG =~ /^\d+\.\d+\.\d+$/"}]
    assert job["release"]["tag_name"] == "$CI_COMMIT_TAG"
    assert job["release"]["description"]
    script = "\n".join(job["script"])
    assert "rancher_deploy/__init__.py" in script and "templates/rancher-deploy.yml" in script


def test_gitlab_release_job_pins_its_glab_image_by_version() -> None:
    # `:latest` would let a new glab change a release unseen; the release keyword needs glab >= 1.58.0.
    image = load(".gitlab-ci.yml")["create-release"]["image"]
    match = re.fullmatch(r"registry\.gitlab\.com/gitlab-org/cli:v(\d+)\.(\d+)\.(\d+)", image)
    assert match, image
    assert tuple(int(part) for part in match.groups()) >= (1, 58, 0), image


def test_gitlab_release_values_have_nothing_the_shell_would_run() -> None:
    # GitLab runs the release keyword as `glab release create ... "<value>"` in a shell without escaping
    # (docs.gitlab.com, ci/yaml/#release): a backtick, `$(`, `"` or `\\` in a value would run a command or
    # end the quoting. Only plain $VARIABLE / ${VARIABLE} expansions are meant.
    release = load(".gitlab-ci.yml")["create-release"]["release"]
    for key, value in release.items():
        shown = re.sub(r"\$(?:[A-Za-z_]\w*|\{[A-Za-z_]\w*\})", "", str(value))
        assert not re.search(r"[`\"\\$]", shown), f"release.{key} has shell-active characters: {value!r}"


def test_the_component_is_what_the_catalog_publishes() -> None:
    # The catalog takes templates/<name>.yml with a `spec:` header and the project's README.
    assert (ROOT / "README.md").is_file()
    header, jobs = yaml.safe_load_all((ROOT / "templates/rancher-deploy.yml").read_text(encoding="utf-8"))
    assert header["spec"]["inputs"] and jobs


@pytest.mark.parametrize("path", [".gitlab-ci.yml", ".github/workflows/release.yml"])
def test_the_release_pipelines_pass_their_ci_schema(path: str) -> None:
    # GitLab's and GitHub's JSON schemas, as check-jsonschema vendors them (no network).
    schema = "vendor.gitlab-ci" if path == ".gitlab-ci.yml" else "vendor.github-workflows"
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(ROOT / path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_gitlab_schema_refuses_a_release_job_without_a_tag(tmp_path: Path) -> None:
    # The schema check above is not vacuous: the release keyword needs tag_name.
    document = load(".gitlab-ci.yml")
    del document["create-release"]["release"]["tag_name"]
    broken = tmp_path / "gitlab-ci.yml"
    broken.write_text(yaml.safe_dump(document), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.gitlab-ci",
                             str(broken)], capture_output=True, text=True, check=False)
    assert result.returncode == 1, result.stdout


def test_the_docs_say_where_the_action_runs_where_they_introduce_it() -> None:
    # A Docker container action runs only on Linux runners with Docker (docs.github.com, "About custom
    # actions", "Types of actions"): said before the first example in README and in docs/ci.md.
    readme = (ROOT / "README.md").read_text(encoding="utf-8").split("## In CI", 1)[1]
    ci = (ROOT / "docs/ci.md").read_text(encoding="utf-8").split("## GitHub Actions", 1)[1]
    for name, section in (("README.md", readme), ("docs/ci.md", ci)):
        before_example = section.split("```yaml", 1)[0]
        assert "Docker container action" in before_example and "Linux runner" in before_example, name
        assert "macOS" in before_example and "Windows" in before_example, name
