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


def tracked_texts() -> list[tuple[str, str]]:
    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    # docs/ci-conventions.md explains the CIs with made-up versions (1.2.3).
    return [(name, (ROOT / name).read_text(encoding="utf-8", errors="replace")) for name in listing.split()
            if (ROOT / name).is_file() and name != "docs/ci-conventions.md"]


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
# GitHub a git tag `v1.2.3` or the moving `v1` (docs/ci-conventions.md, "Versions"); GitLab's catalog
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
    action_forms = {f"v{__version__}", f"v{MAJOR}", "v<version>", "v<major>"}
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
    # `@v<version>` or its moving major tag `@v<major>`: every mention in README, docs, examples, templates.
    assert [line for name, text in tracked_texts() for line in wrong_references(name, text)] == []


@pytest.mark.parametrize("text", [
    "  - component: $CI_SERVER_FQDN/rancher-deploy/rancher-deploy/rancher-deploy@v0",   # `v`: not a catalog version
    f"  - component: $CI_SERVER_FQDN/rancher-deploy/rancher-deploy/rancher-deploy@v{__version__}",
    "  - component: $CI_SERVER_FQDN/rancher-deploy/rancher-deploy/rancher-deploy@0.0.9",
    f"  uses: rancher-deploy/rancher-deploy@{__version__}",   # no `v`: no such git tag
    f"  uses: rancher-deploy/rancher-deploy@{MAJOR}",
    "  uses: rancher-deploy/rancher-deploy@v99",
    f"  uses: rancher-deploy/rancher-deploy/rancher-deploy@v{MAJOR}",   # a component's path as an action
    f"see rancher-deploy/rancher-deploy@{__version__}",                 # neither form
    "    ref: v0.1.0\n".replace("    ref", "  - project: rancher-deploy/rancher-deploy\n    ref"),
])
def test_a_reference_in_the_wrong_form_is_found(text: str) -> None:
    assert wrong_references("README.md", text)


@pytest.mark.parametrize("text", [
    f"  uses: rancher-deploy/rancher-deploy@v{MAJOR}", f"  uses: my-fork/rancher-deploy@v{__version__}",
    f"  - component: $CI_SERVER_FQDN/rancher-deploy/rancher-deploy/rancher-deploy@{__version__}",
    "  - component: gitlab.com/shop/rancher-deploy/rancher-deploy@~latest",
    "`uses: <owner>/rancher-deploy@v<major>`",
])
def test_a_reference_in_a_right_form_passes(text: str) -> None:
    assert wrong_references("README.md", text) == []


def test_the_version_checks_find_what_they_look_for() -> None:
    # Guards the test above against patterns that match nothing.
    texts = dict(tracked_texts())
    assert f"{REPOSITORY}:{__version__}" in texts["README.md"]
    assert f"rancher-deploy/rancher-deploy@v{MAJOR}" in texts["README.md"]
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
        "type=semver,pattern={{major}},enable=${{ steps.line.outputs.newest-major }}",
        "type=raw,value=latest,enable=${{ steps.line.outputs.newest }}"]
    jobs = workflow()["jobs"]
    assert jobs["image"]["outputs"] == {"newest-major": "${{ steps.line.outputs.newest-major }}",
                                        "newest": "${{ steps.line.outputs.newest }}"}
    [move] = [step for step in steps("release") if "git push --force" in step.get("run", "")]
    assert move["if"] == "needs.image.outputs.newest-major == 'true'"
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


def line_outputs(tmp_path: Path, tag: str, tags: list[str]) -> dict[str, str]:
    """Runs the release's `line` step as the runner would (bash -e, GITHUB_OUTPUT), with a `git` that
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
    # `shell: bash` on a Linux runner is `bash --noprofile --norc -eo pipefail {0}` (GitHub's docs).
    subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], env=env, check=True,
                   capture_output=True, text=True)
    return dict(line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines())


RELEASED = ["v0.9.0", "v0.9.1", "v1.2.4", "v1.2.5", "v1.3.0", "v0", "v1", "not-a-release"]


@pytest.mark.parametrize(("tag", "tags", "newest_minor", "newest_major", "newest"), [
    ("v1.3.0", RELEASED, "true", "true", "true"),      # the newest release
    ("v1.2.5", RELEASED, "true", "false", "false"),    # a patch of an older minor line: only 1.2 moves
    ("v0.9.1", RELEASED, "true", "true", "false"),     # a patch of an older major line: 0.9 and v0, not latest
    ("v1.2.4", RELEASED, "false", "false", "false"),   # re-run for an old patch: nothing moves
    ("v1.10.0", ["v1.9.0", "v1.10.0"], "true", "true", "true"),   # a version sort, not a text sort
])
def test_the_line_step_finds_whether_the_tag_is_the_newest(tmp_path: Path, tag: str, tags: list[str],
                                                           newest_minor: str, newest_major: str, newest: str) -> None:
    assert line_outputs(tmp_path, tag, tags) == {"newest-minor": newest_minor, "newest-major": newest_major,
                                                 "newest": newest}


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
