"""The CI integration files agree with the settings table, the result outputs and each other.

action.yml, the GitLab template and the GitLab component are static files that users read and CI
systems parse; these tests are what stops them drifting from rancher_deploy/settings.py.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from rancher_deploy import __version__, ci
from rancher_deploy.events import Result
from rancher_deploy.cli import COMMAND
from rancher_deploy.options import show_default
from rancher_deploy.settings import COMMANDS, OPTIONS_BY_NAME, SETTINGS, Kind

ROOT = Path(__file__).resolve().parent.parent
TOOL_IMAGE = f"ghcr.io/rancher-deploy/rancher-deploy:{__version__}"
DOTENV_FILE = "rancher-deploy.env"
NOT_SETTINGS = {"command"}                       # chosen by argv, not a setting
# What a CI step can set: every row but those `rancher-deploy serve` alone reads (serve_options.py).
CI_SETTINGS = tuple(option for option in SETTINGS if not option.serve_only)
COMPONENT_ONLY = {"stage", "job-name", "command"}
# The component fixes the dotenv report's file, which its `artifacts:` must name.
COMPONENT_FIXED = {"dotenv-report"}


def load(relative: str) -> Any:
    return yaml.safe_load((ROOT / relative).read_text(encoding="utf-8"))


def load_component() -> tuple[dict[str, Any], dict[str, Any]]:
    """The component's two YAML documents: the `spec:` header and the jobs."""
    header, jobs = yaml.safe_load_all((ROOT / "templates/rancher-deploy.yml").read_text(encoding="utf-8"))
    return header, jobs


def help_sentence(option_help: str) -> str:
    return option_help[0].upper() + option_help[1:]


def sample_document() -> dict[str, Any]:
    return {"command": "upgrade", "result": "upgraded", "exit_code": 0, "meaning": "done", "targets": [],
            "error": None, "duration_seconds": 1.0}


def test_the_dotenv_report_is_a_setting() -> None:
    """The GitLab files and action.yml pass RANCHER_DOTENV_REPORT / dotenv-report to the settings table."""
    assert "dotenv_report" in OPTIONS_BY_NAME, "add the dotenv_report row to SETTINGS (docs/ci.md)"
    assert OPTIONS_BY_NAME["dotenv_report"].env == ("RANCHER_DOTENV_REPORT",)
    assert OPTIONS_BY_NAME["dotenv_report"].kind is Kind.TEXT


# GitHub: action.yml


def test_action_has_one_input_per_setting() -> None:
    inputs = load("action.yml")["inputs"]
    assert set(inputs) - NOT_SETTINGS == {option.input_id for option in CI_SETTINGS}


def test_action_inputs_describe_the_setting_and_set_no_default() -> None:
    inputs = load("action.yml")["inputs"]
    for option in CI_SETTINGS:
        spec = inputs[option.input_id]
        assert spec["description"].startswith(help_sentence(option.help)), option.name
        assert option.env[0] in spec["description"], option.name
        # A default would be sent as INPUT_* and beat the job's `env:` (CI input > environment).
        assert "default" not in spec, option.name
        assert spec.get("required") is False, option.name


def test_action_command_input_is_read_like_every_other_input() -> None:
    action = load("action.yml")
    command = action["inputs"]["command"]
    # No default and no `args:`: the tool reads INPUT_COMMAND itself, and an empty one falls back to
    # RANCHER_COMMAND from the job's env, then to upgrade, as every other input falls back.
    assert "default" not in command and command.get("required") is False
    assert COMMAND.help[0].upper() + COMMAND.help[1:] in command["description"]
    assert "env RANCHER_COMMAND" in command["description"] and COMMAND.env == ("RANCHER_COMMAND",)
    assert action["runs"] == {"using": "docker", "image": f"docker://{TOOL_IMAGE}"}


# Every value the overall `result` takes: a target's result, or one of the two the run adds
# (report._overall): `mixed` (targets ended in different states) and `error`.
RESULT_VALUES = {result.value for result in Result} | {"mixed", "error"}


def test_action_result_output_lists_every_result_value() -> None:
    description = load("action.yml")["outputs"]["result"]["description"]
    listed = re.sub(r"\([^)]*\)", "", description.split(": ", 1)[1])
    values = {word for word in re.findall(r"[a-z]+(?:-[a-z]+)*", listed) if word != "or"}
    assert values == RESULT_VALUES


def test_readme_lists_every_result_value() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    sentence = readme.split("`result` is one of", 1)[1].split("\n\n", 1)[0]
    values = set(re.findall(r"`([a-z-]+)`", re.sub(r"\([^)]*\)", "", sentence)))
    assert values == RESULT_VALUES


def test_action_outputs_are_what_the_github_dialect_writes() -> None:
    outputs = load("action.yml")["outputs"]
    assert set(outputs) == set(ci.outputs(sample_document())) | {"json"}
    assert all(spec["description"] for spec in outputs.values())


def test_action_branding_uses_values_the_marketplace_accepts() -> None:
    branding = load("action.yml")["branding"]
    assert branding["color"] in {"white", "black", "yellow", "blue", "green", "orange", "red", "purple", "gray-dark"}
    assert re.fullmatch(r"[a-z0-9-]+", branding["icon"])


# GitLab: template and component


def test_template_is_a_hidden_job_that_runs_the_command_in_a_shell() -> None:
    job = load(".gitlab-ci-template.yml")[".rancher-deploy"]
    assert job["image"] == {"name": TOOL_IMAGE, "entrypoint": [""]}
    assert job["script"] == ["rancher-deploy"]
    assert job["artifacts"] == {"when": "always", "reports": {"dotenv": DOTENV_FILE}}


def test_template_declares_only_real_settings_and_none_of_the_users() -> None:
    variables = load(".gitlab-ci-template.yml")[".rancher-deploy"]["variables"]
    known = {name for option in CI_SETTINGS for name in option.env}
    assert set(variables) <= known
    # Anything else declared here would shadow the including pipeline's top-level variables.
    assert variables == {"RANCHER_DOTENV_REPORT": DOTENV_FILE}


# The component's typed inputs, by the setting's kind (GitLab: string, number, boolean, array).
COMPONENT_TYPES = {Kind.BOOL: "boolean", Kind.SECONDS: "number", Kind.COUNT: "number"}


def test_component_has_one_input_per_non_secret_setting() -> None:
    inputs = load_component()[0]["spec"]["inputs"]
    settings = {option.input_id for option in CI_SETTINGS if option.kind is not Kind.SECRET}
    assert set(inputs) - COMPONENT_ONLY == settings - COMPONENT_FIXED
    for option in CI_SETTINGS:
        if option.input_id in inputs:
            spec = inputs[option.input_id]
            if option.kind in COMPONENT_TYPES:
                # Typed, so that `timeout: 300` is taken as written: the default must be of the type
                # and is the table's, which the tool takes for "not given" (Inputs.find).
                assert spec["type"] == COMPONENT_TYPES[option.kind], option.name
                assert spec["default"] == option.default and str(spec["default"]).lower() == show_default(
                    option.default), option.name
            else:
                assert "type" not in spec and spec["default"] == "", option.name
            assert spec["description"].startswith(help_sentence(option.help)), option.name


def test_component_passes_each_input_as_a_ci_input_the_settings_read() -> None:
    header, jobs = load_component()
    inputs = header["spec"]["inputs"]
    job = jobs["$[[ inputs.job-name ]]"]
    variables = job["variables"]
    for option in CI_SETTINGS:
        if option.input_id not in inputs:
            continue
        name = f"PLUGIN_{option.name.upper()}"
        assert name in option.ci_variables
        # A typed input is followed by a space, which keeps the variable a string (the tool strips it).
        space = " " if option.kind in COMPONENT_TYPES else ""
        assert variables[name] == f"$[[ inputs.{option.input_id} ]]{space}"
    assert set(variables) == {f"PLUGIN_{option.name.upper()}" for option in CI_SETTINGS
                              if option.input_id in inputs} | {"PLUGIN_DOTENV_REPORT"}
    assert variables["PLUGIN_DOTENV_REPORT"] == DOTENV_FILE
    assert job["artifacts"]["reports"]["dotenv"] == DOTENV_FILE


def test_a_typed_component_input_at_its_default_counts_as_not_given() -> None:
    """A number or boolean input cannot be empty, so the component passes its default: that must not
    hide the setting's CI/CD variable (a manual pipeline's RANCHER_DRY_RUN=true), nor ask for what
    the default means (atomic: true is refused in fleet mode)."""
    from rancher_deploy.inputs import Inputs
    from rancher_deploy.settings import Command, Settings

    inputs = load_component()[0]["spec"]["inputs"]
    # What the job's variables hold when the include gives none of the typed inputs.
    left_out = {f"PLUGIN_{option.name.upper()}": f"{show_default(option.default)} " for option in CI_SETTINGS
                if option.kind in COMPONENT_TYPES and option.input_id in inputs}
    base = {**left_out, "CATTLE_URL": "https://rancher.example.com", "CATTLE_ACCESS_KEY": "key",
            "CATTLE_SECRET_KEY": "secret", "RANCHER_SERVICE": "shop/web", "RANCHER_IMAGE": "app:2"}

    def settings(ci: str = "gitlab", **environ: str) -> Settings:
        merged = {key: value for key, value in {**base, **environ}.items() if value}
        return Settings.from_inputs(Command.UPGRADE, Inputs.snapshot({}, merged, ci=ci))

    assert settings().timeout_seconds == 600 and not settings().dry_run
    variables = settings(RANCHER_TIMEOUT="900", RANCHER_DRY_RUN="true", RANCHER_ROLLBACK="false")
    assert (variables.timeout_seconds, variables.dry_run, variables.rollback) == (900, True, False)
    given = settings(PLUGIN_TIMEOUT="300 ", PLUGIN_DRY_RUN="true ", RANCHER_TIMEOUT="900", RANCHER_DRY_RUN="false")
    assert (given.timeout_seconds, given.dry_run) == (300, True)
    fleet = settings(PLUGIN_SELECT_IMAGE="true ", RANCHER_SERVICE="")
    assert fleet.select_image and not fleet.atomic
    # Only GitLab's component: a Drone or Woodpecker setting given is given, whatever its value.
    assert settings("drone", PLUGIN_TIMEOUT="600", RANCHER_TIMEOUT="900").timeout_seconds == 600


def test_component_job_uses_its_stage_name_and_command_inputs() -> None:
    header, jobs = load_component()
    inputs = header["spec"]["inputs"]
    assert inputs["command"]["options"] == list(COMMANDS)
    assert inputs["command"]["default"] == "upgrade"
    job = jobs["$[[ inputs.job-name ]]"]
    assert job["stage"] == "$[[ inputs.stage ]]"
    assert job["script"] == ["rancher-deploy $[[ inputs.command ]]"]
    assert job["image"] == {"name": TOOL_IMAGE, "entrypoint": [""]}


def test_component_uses_no_input_it_does_not_declare() -> None:
    text = (ROOT / "templates/rancher-deploy.yml").read_text(encoding="utf-8")
    used = set(re.findall(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]", text.split("\n---\n", 1)[1]))
    assert used == set(load_component()[0]["spec"]["inputs"])


# The image


def test_dockerfile_runs_entrypoint_py_under_tini_in_exec_form_without_user_or_shell() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [line.split(None, 1) for line in text.splitlines() if line and not line[0].isspace()
                    and not line.startswith("#")]
    keywords = [parts[0] for parts in instructions]
    assert "USER" not in keywords            # GitHub needs root to write GITHUB_OUTPUT
    # tini as PID 1, Python its child: as PID 1 Python lost a SIGTERM sent during its own start-up.
    assert instructions[-1] == ["ENTRYPOINT", '["tini", "--", "python", "/app/entrypoint.py"]']
    # Debian's package, pinned (hadolint DL3008) for the base's Debian; .ci/image passes its stand-in's.
    assert re.search(r'^ARG TINI_VERSION=\S+$', text, re.MULTILINE)
    assert 'apt-get install -y --no-install-recommends "tini=${TINI_VERSION}"' in text   # DL3008, DL3015
    assert "rm -rf /var/lib/apt/lists/*" in text
    assert re.search(r'--build-arg "TINI_VERSION=\$tini_version"', (ROOT / ".ci/image").read_text(encoding="utf-8"))
    assert "COPY entrypoint.py /app/entrypoint.py" in text
    assert f'org.opencontainers.image.version="{__version__}"' in text
    # Both stages start from the BASE_IMAGE argument, the official image (tests/test_release.py).
    assert re.search(r"^ARG BASE_IMAGE=python:3\.12\.\d+-slim", text, re.MULTILINE)


@pytest.mark.parametrize("path", [".gitlab-ci-template.yml", "templates/rancher-deploy.yml", "docs/ci.md"])
def test_every_file_names_the_image_of_this_version(path: str) -> None:
    text = (ROOT / path).read_text(encoding="utf-8")
    images = set(re.findall(r"ghcr\.io/rancher-deploy/rancher-deploy:[\w.-]+", text))
    assert images == {TOOL_IMAGE}


def _project() -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10, which the README supports: the same parser, from the test extra
        import tomli as tomllib

    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project


@pytest.mark.parametrize("requirements_file, declared", [
    ("runtime", lambda project: project["dependencies"]),
    ("serve", lambda project: project["optional-dependencies"]["serve"]),   # the image installs all three
    ("poll", lambda project: project["optional-dependencies"]["poll"]),
])
def test_requirements_are_the_package_dependencies_pinned(requirements_file: str, declared: Any) -> None:
    def requirements(name: str) -> list[str]:
        lines = (ROOT / "requirements" / name).read_text(encoding="utf-8").splitlines()
        return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]

    dependencies = declared(_project())
    assert requirements(f"{requirements_file}.in") == dependencies
    pinned = dict(line.split("==", 1) for line in requirements(f"{requirements_file}.txt"))
    for requirement in dependencies:
        name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
        assert name in pinned, name
    assert f"requirements/{requirements_file}.txt" in (ROOT / "Dockerfile").read_text(encoding="utf-8")


def test_the_tests_install_the_serve_extra() -> None:
    # tests/serve runs the server: the test extra brings the serve extra's HTTP server with it.
    assert "rancher-deploy[serve]" in _project()["optional-dependencies"]["test"]


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies() -> None:
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
               if line.startswith("!")]
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = set()
    for line in dockerfile.splitlines():
        if line.startswith("COPY ") and "--from=" not in line:
            copied.update(part.removeprefix("./").rstrip("/") for part in line.split()[1:-1])
    assert set(allowed) == copied


# docs/ci.md


def test_docs_show_each_example_file_verbatim() -> None:
    text = (ROOT / "docs/ci.md").read_text(encoding="utf-8")
    examples = sorted((ROOT / "docs/examples").glob("*.yml"))
    assert {path.name for path in examples} >= {"github-workflow.yml", "gitlab-ci.yml", "gitlab-ci-component.yml",
                                                 "drone.yml", "woodpecker.yml"}
    for path in examples:
        assert f"```yaml\n{path.read_text(encoding='utf-8')}```\n" in text, path.name


def test_docs_settings_table_has_every_spelling_of_every_setting() -> None:
    text = (ROOT / "docs/ci.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    expected = [f"| `{option.input_id}` | {', '.join(f'`{name}`' for name in option.env)} | `{option.name}` "
                f"| {option.help} |" for option in CI_SETTINGS]
    assert rows == expected


def test_docs_exit_code_table_matches_the_exit_codes() -> None:
    from rancher_deploy.errors import ExitCode

    text = (ROOT / "docs/ci.md").read_text(encoding="utf-8")
    table = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    for code in ExitCode:
        if code in (ExitCode.INTERRUPTED, ExitCode.TERMINATED):
            continue
        assert f"| {int(code)} | {code.meaning} |" in table
    assert "| 130 / 143 | interrupted (SIGINT / SIGTERM) after the tool restored or reported the service's state |" in table


def test_woodpecker_plugin_page_has_the_front_matter_docs_ci_shows() -> None:
    page = (ROOT / "docs/woodpecker/docs.md").read_text(encoding="utf-8")
    front = page.split("---\n")[1]
    metadata = yaml.safe_load(front)
    assert {"name", "description", "author", "tags", "containerImage", "url"} <= set(metadata)
    assert metadata["containerImage"] == yaml.safe_load((ROOT / "docs/examples/woodpecker.yml").read_text())[
        "steps"][0]["image"]
    assert "---\n" + front + "---" in (ROOT / "docs/ci.md").read_text(encoding="utf-8")


def test_woodpecker_plugin_page_links_work_from_the_plugin_index_and_says_what_the_table_says() -> None:
    # The index shows the page on its own site: a relative link (`../ci.md`) leads nowhere there.
    page = (ROOT / "docs/woodpecker/docs.md").read_text(encoding="utf-8")
    repository = yaml.safe_load(page.split("---\n")[1])["url"]
    links = re.findall(r"\]\(([^)]+)\)", page)
    assert links and all(link.startswith(f"{repository}/") for link in links), links
    # A bare workload name is looked up among every kind (settings table), not taken for a deployment.
    workload = next(line for line in page.splitlines() if line.startswith("| `workload`"))
    assert "default type deployment" not in workload
    assert "or a bare name" in OPTIONS_BY_NAME["workload"].help and "or a bare name" in workload
    assert "exit 2 when several kinds share it or none has it" in workload


def test_docs_name_the_component_inputs_the_component_declares() -> None:
    text = (ROOT / "docs/ci.md").read_text(encoding="utf-8")
    section = " ".join(text.split("## GitLab CI: the component", 1)[1].split("\n## ", 1)[0].split())
    sentence = section.split("Its inputs are", 1)[1].split(".", 1)[0]
    extra, _, rest = sentence.partition(" and every setting in the table above")
    excluded = rest.split("except", 1)[1]
    table = {option.input_id for option in CI_SETTINGS}
    documented = set(re.findall(r"`([a-z-]+)`", extra)) | (table - set(re.findall(r"`([a-z-]+)`", excluded)))
    assert documented == set(load_component()[0]["spec"]["inputs"])
    # And every input an example or the README passes to the component exists.
    for path in ("docs/examples/gitlab-ci-component.yml", "README.md"):
        blocks = re.findall(r"component: .*?\n    inputs:\n((?:      .*\n)+)", (ROOT / path).read_text(encoding="utf-8"))
        assert blocks, path
        for block in blocks:
            used = set(re.findall(r"^      ([a-z-]+):", block, re.MULTILINE))
            assert used <= documented, (path, used - documented)


# How each example names the command (docs/ci.md "Commands"): every command reachable from every CI.
COMMAND_SPELLING = {
    "docs/examples/github-workflow.yml": "command: ${{ inputs.command }}",
    "docs/examples/gitlab-ci.yml": "RANCHER_COMMAND: rollback",
    "docs/examples/gitlab-ci-component.yml": "command: upgrade",
    "docs/examples/drone.yml": "command: finish",
    "docs/examples/woodpecker.yml": "command: rollback",
    "docs/woodpecker/docs.md": "| `command` |",
}


@pytest.mark.parametrize("path", sorted(COMMAND_SPELLING))
def test_each_ci_example_shows_how_to_name_the_command(path: str) -> None:
    assert COMMAND_SPELLING[path] in (ROOT / path).read_text(encoding="utf-8")


def test_docs_say_how_each_ci_names_the_command() -> None:
    text = (ROOT / "docs/ci.md").read_text(encoding="utf-8")
    section = text.split("\n## Commands\n", 1)[1].split("\n## ", 1)[0]
    rows = dict(re.findall(r"^\| ([^|`]+?) \| (.+) \|$", section, re.MULTILINE))
    assert rows["GitHub Actions"] == "input `command: rollback` (`with:`)"
    assert "`RANCHER_COMMAND: rollback`" in rows["GitLab CI, template"]
    assert rows["GitLab CI, component"] == "input `command: rollback`"
    assert rows["Drone"] == rows["Woodpecker"] == "setting `command: rollback`"
    assert load("action.yml")["inputs"]["command"]
    assert list(load_component()[0]["spec"]["inputs"]["command"]["options"]) == list(COMMANDS)


def tracked_texts() -> list[tuple[str, str]]:
    """Every file git tracks (but this one, which names what it looks for), as (path, text)."""
    import subprocess

    listing = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [(name, (ROOT / name).read_text(encoding="utf-8", errors="replace")) for name in listing.split()
            if (ROOT / name).is_file() and name != "tests/test_integrations.py"]


def test_nothing_points_at_files_outside_the_repository() -> None:
    # Notes kept beside the repository (shared/..., ../shared/...) are not there for a user: what the
    # code and docs rely on lives in docs/ (docs/rancher-api.md, docs/ci-conventions.md).
    pattern = re.compile(r"(?<![\w/.-])(?:\.\./)*shared/")
    offenders = [f"{name}:{number}: {line.strip()}" for name, text in tracked_texts()
                 for number, line in enumerate(text.splitlines(), 1) if pattern.search(line)]
    assert offenders == []


# The working notes the code and docs cite by name, and which must therefore be in docs/.
NOTES = ("design.md", "aesthetics.md", "ci-conventions.md", "rancher-api.md", "user-needs.md")


def test_every_note_cited_by_name_is_in_docs() -> None:
    cited = {note for _, text in tracked_texts() for note in NOTES if re.search(rf"(?<![\w-]){re.escape(note)}", text)}
    assert {note for note in cited if not (ROOT / "docs" / note).is_file()} == set()


# Texts that are read in more than one place must be true in each.


def test_help_texts_read_right_as_flags_and_as_ci_inputs() -> None:
    # The table's help is the --help of a flag and the description of a GitHub input, a component
    # input and a Drone setting: a flag name (`--environment`) means nothing to the last three.
    for option in (*SETTINGS, COMMAND):
        assert not re.search(r"(?<![\w-])--[a-z]", option.help), f"{option.name}: {option.help}"


def test_the_url_help_names_every_form_of_url_the_tool_takes() -> None:
    forms = ["/v2-beta", "/v2-beta/projects/<id>", "/v1", "/v3", "/v3/project/<cluster>:<project>",
             "/v3/clusters/<id>", "/k8s/clusters/<id>"]
    help_text = OPTIONS_BY_NAME["url"].help
    assert [form for form in forms if form not in help_text] == []
    readme_row = next(line for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
                      if line.startswith("| `--url` |"))
    assert [form for form in forms if f"`{form}`" not in readme_row] == []


def test_the_target_output_shows_a_target_of_each_rancher_as_the_tool_writes_it() -> None:
    from rancher_deploy.targets import ServiceTarget, WorkloadTarget

    description = load("action.yml")["outputs"]["target"]["description"]
    assert str(ServiceTarget("web", "shop")) in description
    assert str(WorkloadTarget("deployment", "web", "default")) in description


def test_the_command_descriptions_say_what_each_command_does_on_both_lines() -> None:
    assert "2.x workload to its previous revision" in COMMAND.help and "a 2.x rollout needs none" in COMMAND.help
    component = load_component()[0]["spec"]["inputs"]["command"]["description"]
    assert component.startswith(help_sentence(COMMAND.help))


def test_the_component_header_says_which_settings_are_not_inputs() -> None:
    header_text = (ROOT / "templates/rancher-deploy.yml").read_text(encoding="utf-8").split("spec:", 1)[0]
    inputs = load_component()[0]["spec"]["inputs"]
    secrets = [option for option in CI_SETTINGS if option.kind is Kind.SECRET]
    assert "The secrets are deliberately not inputs" in header_text
    assert all(option.env[0] in header_text and option.input_id not in inputs for option in secrets)
    assert "access-key" in inputs and "(access-key)" in header_text
