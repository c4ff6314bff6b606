"""Runs the image .ci/image built the way each CI runs it, against the Rancher simulator on the host.

Usage (from .ci/image, with the project installed in the active Python environment):

    python .ci/image_checks.py --image NAME --base NAME -- buildah --root DIR --runroot DIR --storage-driver D

There is no Docker engine here, so each CI's `docker run` is rebuilt from what it is documented to
do (docs/ci-conventions.md, which cites the runners' sources):
- GitHub, a Docker container action: the image's ENTRYPOINT (read from the image's config, since
  `buildah run` does not apply it), `--workdir /github/workspace`, the checkout, HOME and the file
  commands mounted, every input of action.yml as INPUT_<ID> with hyphens kept, run as root.
- GitLab, a job image: the template's `entrypoint: [""]`, so its script runs in `sh`, as a uid
  that is not root, from the project directory, where the dotenv report must appear.
- A stop (Woodpecker, GitLab's `docker stop`) or GitHub's cancel: SIGTERM or SIGINT to the
  entrypoint (tini) running as PID 1 of its own PID namespace, while the run waits, and a SIGTERM at
  once after the start, while Python starts up. `buildah run` does not forward signals, so the
  image's root file system is mounted and entered with `unshare --pid --fork` and `chroot` instead.
- What the image holds: its base plus the package and the pins of requirements/ (each needed by the
  package), no Debian package but tini and nothing in /tmp, /root or /var/cache beyond the base's; and, file
  by file (.ci/image_files.py), every path of the base unchanged (kind, mode, owner, bytes), every
  path it adds listed by the RECORD of one of those distributions in the image's site-packages with
  the RECORD's sha256 and size, or by tini's dpkg file list with its md5, or dpkg's and apt's records,
  or /app/entrypoint.py (no build stage's sources or wheels, no chmod or
  edit after pip, no copy of a distribution elsewhere), the base's own CA bundle (not the host's,
  bound into the build's RUN steps).
Each check that fails ends the run with exit 1 and one line that says what was expected.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from image_files import file_list_problems, normalized

ROOT = Path(__file__).resolve().parent.parent
ACCESS, SECRET = "image-access-key", "image-secret-key-0123456789"
OLD = "registry.example.com/shop/web:1.0"
NEW = "registry.example.com/shop/web:1.1"
BAD = "registry.example.com/shop/web:bad"   # never healthy (the simulator's unhealthy_image fault)
# Without a health check Rancher 1.x counts a running container as healthy, so the fault needs one.
HEALTH_CHECK = {"type": "instanceHealthCheck", "port": 80, "interval": 2000, "healthyThreshold": 2,
                "unhealthyThreshold": 3, "responseTimeout": 2000, "initializingTimeout": 60000}
# Fast enough for CI, slow enough to be a real wait: batches 0.1 s apart, a look every 0.2 s.
QUICK = {"batch-interval": "0.1", "poll-interval": "0.2"}
# What the image carries of the package: its [project] dependencies and these extras (docs/ci.md, "The
# published image"), each pinned in requirements/<name>.txt (runtime.txt for the dependencies); each .in
# file there is the pyproject.toml list unchanged (tests/test_integrations.py).
IMAGE_EXTRAS = ("serve", "poll")
# Where a build leaves things behind (copied requirement files, wheels, pip's or apt's cache): in the
# image each must hold what it holds in the base, nothing more.
LEFTOVER_DIRECTORIES = ("/tmp", "/root", "/var/cache")
# What the Dockerfile adds beside the installed distributions' files (their RECORDs list those): the
# entrypoint and the directory that holds it.
OWN_PATHS = frozenset({"/app", "/app/entrypoint.py"})
# The ENTRYPOINT: tini as PID 1, Python its child (the Dockerfile says why).
ENTRYPOINT = ["tini", "--", "python", "/app/entrypoint.py"]
# The Debian packages the Dockerfile adds to its base (by name), and what dpkg and apt write beside
# their files when they install one: the status database and its backup, the logs, apt's record of
# what was installed on request; and the lock and partial/ of /var/lib/apt/lists, which the stand-in
# has and `rm -rf /var/lib/apt/lists/*` (hadolint DL3009) removes. Each may be added, rewritten or
# dropped; nothing else of the base may change.
DEBIAN_PACKAGES = frozenset({"tini"})
DPKG_BOOKKEEPING = frozenset({
    "/var/lib/dpkg/status", "/var/lib/dpkg/status-old", "/var/lib/dpkg/lock", "/var/lib/dpkg/lock-frontend",
    "/var/lib/dpkg/triggers/Lock", "/var/lib/dpkg/triggers/Unincorp", "/var/log/dpkg.log",
    "/var/log/apt/history.log", "/var/log/apt/term.log", "/var/log/apt/eipp.log.xz",
    "/var/lib/apt/extended_states", "/var/cache/debconf/config.dat", "/var/cache/debconf/config.dat-old",
    "/var/cache/debconf/templates.dat", "/var/cache/debconf/templates.dat-old",
    "/var/cache/ldconfig/aux-cache", "/var/lib/apt/lists/lock", "/var/lib/apt/lists/partial"})
# The mount points a build engine makes for its RUN steps' bind mounts when the base lacks them (the
# stand-in has no /etc/hosts; buildah leaves it behind empty): allowed as empty files only.
RUN_MOUNT_POINTS = frozenset({"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"})
# The Debian CA bundle, which .ci/image may bind from the host into the RUN steps: the image must hold
# the base's (a bound file left behind would be the host's, its proxy's CA included).
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# Which distributions `rancher-deploy[extras]` needs, by their Requires-Dist and its markers, as pip
# resolves them; run inside an image with the pip it ships (every python image has one), so the image
# itself needs no `packaging`. Prints {"needed": [names], "missing": [names]}.
NEEDED = r"""
import importlib.metadata, json, sys
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name
dists = {canonicalize_name(dist.metadata["Name"]): dist for dist in importlib.metadata.distributions()}
todo, seen, missing = [("rancher-deploy", frozenset(sys.argv[1:]))], {}, set()
while todo:
    name, extras = todo.pop()
    if name not in dists:
        missing.add(name)
        continue
    if name in seen and extras <= seen[name]:
        continue
    seen[name] = seen.get(name, frozenset()) | extras
    for text in dists[name].requires or []:
        requirement = Requirement(text)
        if requirement.marker is None or any(requirement.marker.evaluate({"extra": extra})
                                             for extra in ("", *seen[name])):
            todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
print(json.dumps({"needed": sorted(seen), "missing": sorted(missing)}))
"""


class CheckFailed(Exception):
    """One expectation about the image that does not hold; the message says which."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Buildah:
    """The buildah command with this run's private storage; every call has a time limit."""

    def __init__(self, command: list[str]) -> None:
        self.command = command

    def __call__(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.command, *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=check)

    def config(self, image: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self("inspect", "--type", "image", image).stdout)
        return document

    def container(self, image: str) -> str:
        return self("from", "--pull=never", image).stdout.strip().splitlines()[-1]

    def run(self, container: str, argv: list[str], env: dict[str, str], workdir: str = "/",
            mounts: dict[Path, str] | None = None, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """`buildah run` as a CI's `docker run`: chroot isolation, the host's network (the simulator
        listens on the host's loopback), only the image's and the given environment."""
        options = ["--isolation", "chroot", "--network", "host", "--workingdir", workdir]
        for host, inside in (mounts or {}).items():
            options += ["--volume", f"{host}:{inside}"]
        for name, value in env.items():
            options += ["--env", f"{name}={value}"]
        if user:
            options += ["--user", user]
        return self("run", *options, container, "--", *argv, timeout=120, check=False)


class HostSimulator:
    """`rancher-deploy simulate` (Rancher 1.6, fast timing) as a process on the host's loopback."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            ["rancher-deploy", "simulate", "--port", "0", "--access-key", ACCESS, "--secret-key", SECRET,
             "--timing", "fast"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", first)
        if not match:
            self.stop()
            raise CheckFailed(f"`rancher-deploy simulate` did not start: {first.strip()!r}")
        self.url = match.group(1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _call(self, method: str, path: str, body: Any = None, auth: bool = False) -> Any:
        request = urllib.request.Request(self.url + path, method=method,
                                         data=None if body is None else json.dumps(body).encode())
        request.add_header("Content-Type", "application/json")
        if auth:
            request.add_header("Authorization", "Basic " + base64.b64encode(f"{ACCESS}:{SECRET}".encode()).decode())
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")

    def upgrade_requests(self, service_id: str) -> list[dict[str, Any]]:
        """The upgrade requests the simulator received for a service (its request log)."""
        log = self._call("GET", "/_sim/requests")["requests"]
        return [r for r in log if r["method"] == "POST" and "action=upgrade" in r["query"] and service_id in r["path"]]

    def seed_service(self, stack: str) -> str:
        """Stack `stack` with service `web` (scale 2, health-checked) on OLD; returns its id."""
        answer = self._call("POST", "/_sim/seed", {"stacks": [{"name": stack}], "services": [
            {"stack": stack, "name": "web", "scale": 2,
             "launchConfig": {"imageUuid": f"docker:{OLD}", "healthCheck": HEALTH_CHECK}}]})
        return str(answer["services"][0])

    def unhealthy(self, image: str) -> None:
        self._call("POST", "/_sim/faults", {"kind": "unhealthy_image", "image": image})

    def service(self, service_id: str) -> tuple[str, str]:
        """(state, image) of a service, read through the API as a user would."""
        service = self._call("GET", f"/v2-beta/services/{service_id}", auth=True)
        return str(service["state"]), str(service["launchConfig"]["imageUuid"]).removeprefix("docker:")


def no_secret_shown(text: str, where: str) -> None:
    # On GitHub the `::add-mask::` lines are how the runner learns a secret; it shows no such line.
    shown = [line for line in text.splitlines() if SECRET in line and not line.startswith("::add-mask::")]
    check(not shown, f"{where}: the secret key appears in the output: {shown[0] if shown else ''}")


def github_outputs(text: str) -> dict[str, str]:
    """name=value lines and name<<DELIMITER blocks of a GITHUB_OUTPUT file."""
    outputs: dict[str, str] = {}
    lines = iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            outputs[name] = "\n".join(iter(lambda: next(lines), delimiter))
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


def as_github_action(buildah: Buildah, image: str, scratch: Path, inputs: dict[str, str]) -> tuple[
        subprocess.CompletedProcess[str], dict[str, str], str]:
    """One step `uses: <this action>` with `with: inputs`, as actions/runner's ContainerActionHandler
    runs it; returns the process, the outputs it wrote and the step summary."""
    action: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    workspace, home, commands = scratch / "workspace", scratch / "home", scratch / "file_commands"
    for directory in (workspace, home, commands):
        directory.mkdir(parents=True)
    step = uuid.uuid4()
    env = {"GITHUB_ACTIONS": "true", "CI": "true", "HOME": "/github/home", "GITHUB_WORKSPACE": "/github/workspace",
           "GITHUB_OUTPUT": f"/github/file_commands/set_output_{step}",
           "GITHUB_STEP_SUMMARY": f"/github/file_commands/step_summary_{step}",
           "GITHUB_REPOSITORY": "shop/app", "GITHUB_SHA": "0123456789abcdef", "RUNNER_OS": "Linux"}
    # Every declared input is set, '' without a default; the name keeps its hyphens (Handler.cs).
    values = {input_id: str(spec.get("default", "")) for input_id, spec in action["inputs"].items()}
    unknown = set(inputs) - set(values)
    check(not unknown, f"action.yml declares no input {sorted(unknown)}")
    values.update(inputs)
    env.update({"INPUT_" + input_id.replace(" ", "_").upper(): value for input_id, value in values.items()})

    def substituted(text: str) -> str:
        return re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda match: values[match.group(1)], text)

    runs = action["runs"]
    env.update({name: substituted(str(value)) for name, value in runs.get("env", {}).items()})
    entrypoint = runs.get("entrypoint") or buildah.config(image)["OCIv1"]["config"]["Entrypoint"]
    argv = [*([entrypoint] if isinstance(entrypoint, str) else entrypoint),
            *(substituted(str(arg)) for arg in runs.get("args", []))]
    container = buildah.container(image)
    try:
        result = buildah.run(container, argv, env, workdir="/github/workspace",
                             mounts={workspace: "/github/workspace", home: "/github/home",
                                     commands: "/github/file_commands"})
    finally:
        buildah("rm", container, check=False)
    output_file, summary_file = commands / f"set_output_{step}", commands / f"step_summary_{step}"
    outputs = github_outputs(output_file.read_text(encoding="utf-8")) if output_file.exists() else {}
    summary = summary_file.read_text(encoding="utf-8") if summary_file.exists() else ""
    return result, outputs, summary


def check_github(buildah: Buildah, image: str, sim: HostSimulator, scratch: Path) -> None:
    credentials = {"url": sim.url, "access-key": ACCESS, "secret-key": SECRET}

    service = sim.seed_service("gh")
    result, outputs, summary = as_github_action(
        buildah, image, scratch / "upgrade", {**credentials, **QUICK, "service": "gh/web", "image": NEW})
    log = result.stdout + result.stderr
    check(result.returncode == 0, f"GitHub action, upgrade: exit {result.returncode}, expected 0:\n{log}")
    check(sim.service(service) == ("active", NEW), f"GitHub action, upgrade: gh/web is {sim.service(service)}")
    expected = {"result": "upgraded", "exit-code": "0", "target": "gh/web", "previous-image": OLD, "image": NEW}
    wrong = {name: outputs.get(name) for name, value in expected.items() if outputs.get(name) != value}
    check(not wrong, f"GitHub action, upgrade: outputs {wrong}, expected {expected}")
    check("gh/web" in summary and NEW in summary, f"GitHub action, upgrade: no step summary naming gh/web: {summary!r}")
    no_secret_shown(log, "GitHub action, upgrade")
    print(f"image: GitHub action: upgrade exited 0, outputs {expected}")

    service = sim.seed_service("ghbad")
    sim.unhealthy(BAD)
    result, outputs, summary = as_github_action(
        buildah, image, scratch / "unhealthy",
        {**credentials, **QUICK, "service": "ghbad/web", "image": BAD, "progress-deadline": "3"})
    log = result.stdout + result.stderr
    check(result.returncode == 1, f"GitHub action, unhealthy image: exit {result.returncode}, expected 1:\n{log}")
    check(sim.service(service) == ("active", OLD),
          f"GitHub action, unhealthy image: ghbad/web is {sim.service(service)}, expected rolled back to {OLD}")
    check(outputs.get("result") == "rolled-back" and outputs.get("exit-code") == "1",
          f"GitHub action, unhealthy image: outputs {outputs}, expected result=rolled-back, exit-code=1")
    check("rolled" in summary.lower(), f"GitHub action, unhealthy image: the summary says nothing of it: {summary!r}")
    no_secret_shown(log, "GitHub action, unhealthy image")
    print("image: GitHub action: an unhealthy image exited 1, rolled back, outputs written")


def check_gitlab(buildah: Buildah, image: str, sim: HostSimulator, scratch: Path) -> None:
    """A job that `extends: .rancher-deploy`, its script run by `sh` as uid 1000 in the project dir."""
    template = yaml.safe_load((ROOT / ".gitlab-ci-template.yml").read_text(encoding="utf-8"))[".rancher-deploy"]
    check(template["image"].get("entrypoint") == [""], "the GitLab template must set entrypoint: ['']")
    service = sim.seed_service("gl")
    project = scratch / "builds"
    project.mkdir(parents=True)
    os.chown(project, 1000, 1000)
    env = {"GITLAB_CI": "true", "CI": "true", "CI_PROJECT_DIR": "/builds/shop/app", "CI_JOB_ID": "42",
           "CATTLE_URL": sim.url, "CATTLE_ACCESS_KEY": ACCESS, "CATTLE_SECRET_KEY": SECRET,
           "RANCHER_SERVICE": "gl/web", "RANCHER_IMAGE": NEW, "RANCHER_BATCH_INTERVAL": "0.1",
           "RANCHER_POLL_INTERVAL": "0.2", **{name: str(value) for name, value in template["variables"].items()}}
    script = "\n".join(template["script"])
    container = buildah.container(image)
    try:
        who = buildah.run(container, ["sh", "-c", "id -u; command -v rancher-deploy"], {}, user="1000:1000")
        result = buildah.run(container, ["sh", "-e", "-c", script], env, workdir="/builds/shop/app",
                             mounts={project: "/builds/shop/app"}, user="1000:1000")
    finally:
        buildah("rm", container, check=False)
    check(who.stdout.split() == ["1000", "/usr/local/bin/rancher-deploy"],
          f"GitLab job: expected uid 1000 and rancher-deploy on PATH, got {who.stdout!r} {who.stderr!r}")
    log = result.stdout + result.stderr
    check(result.returncode == 0, f"GitLab job: `{script}` exited {result.returncode}, expected 0:\n{log}")
    check(sim.service(service) == ("active", NEW), f"GitLab job: gl/web is {sim.service(service)}")
    report = project / template["variables"]["RANCHER_DOTENV_REPORT"]
    check(report.is_file(), f"GitLab job: no dotenv report {report.name} in the project directory")
    check(report.stat().st_uid == 1000, f"GitLab job: {report.name} belongs to uid {report.stat().st_uid}, not 1000")
    lines = report.read_text(encoding="utf-8").splitlines()
    check("RANCHER_DEPLOY_RESULT=upgraded" in lines and f"RANCHER_DEPLOY_IMAGE={NEW}" in lines,
          f"GitLab job: the dotenv report holds {lines}")
    no_secret_shown(log + "\n".join(lines), "GitLab job")
    print(f"image: GitLab job: `{script}` as uid 1000 exited 0 and wrote {report.name}")


class AsPid1:
    """The image's entrypoint as PID 1 of its own PID namespace, as `docker run` starts it with no init
    of Docker's in front (GitHub, Drone, Woodpecker). `buildah run` does not forward signals, so the
    image's root file system is mounted and entered with `unshare --pid --fork` and `chroot`, which
    execs the entrypoint as PID 1 there (--mount-proc: its own /proc; --kill-child: it ends should the
    check give up on it). Its output is read line by line on a thread."""

    def __init__(self, buildah: Buildah, image: str, env: dict[str, str]) -> None:
        self.buildah = buildah
        self.log: list[str] = []
        self.entrypoint: list[str] = buildah.config(image)["OCIv1"]["config"]["Entrypoint"]
        self.container = buildah.container(image)
        rootfs = buildah("mount", self.container).stdout.strip()
        self.process = subprocess.Popen(
            ["unshare", "--pid", "--fork", "--kill-child", f"--mount-proc={rootfs}/proc", "chroot", rootfs,
             *self.entrypoint], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout or []:
            self.lines.put(line)

    def init_with_child(self, deadline: float) -> tuple[int, int]:
        """The host's pids of the namespace's PID 1 and its one child, once PID 1 runs the init
        (ENTRYPOINT[0], by its /proc comm) and has started it: tini sets its signal mask before it
        forks, so from then on a signal to it is kept and passed on, not dropped by the kernel. Polled
        without a pause: that is within a millisecond or two of tini's exec."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        while True:
            check(time.monotonic() < deadline and self.process.poll() is None,
                  f"PID 1 never became {ENTRYPOINT[0]} with a child (Python as PID 1 drops a SIGTERM sent "
                  f"during its own start-up):\n{self.text()}")
            with contextlib.suppress(OSError, ValueError):
                [pid] = [int(word) for word in children.read_text().split()]
                if comm(pid) == ENTRYPOINT[0]:
                    [child] = [int(word) for word in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
                    return pid, child

    def wait_for(self, text: str, deadline: float) -> None:
        while not any(text in line for line in self.log):
            check(time.monotonic() < deadline and self.process.poll() is None,
                  f"no line with {text!r}:\n{self.text()}")
            with contextlib.suppress(queue.Empty):
                self.log.append(self.lines.get(timeout=1))

    def finish(self, timeout: float) -> int:
        """The exit code, once the process and its output have ended."""
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"the entrypoint as PID 1 was still running {timeout:.0f} s after the signal:\n"
                              f"{self.text()}") from None
        self.reader.join(timeout=5)   # the pipe is at its end once the process has exited
        while not self.lines.empty():
            self.log.append(self.lines.get())
        return code

    def text(self) -> str:
        return "".join(self.log)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.buildah("umount", self.container, check=False)
        self.buildah("rm", self.container, check=False)


def comm(pid: int) -> str:
    """A process's command name (/proc/PID/comm: its program's file name, set at each exec)."""
    return Path(f"/proc/{pid}/comm").read_text().strip()


def woodpecker_step(image_env: list[str], sim: HostSimulator, service: str, image: str) -> dict[str, str]:
    """A Woodpecker plugin step's environment (settings as PLUGIN_*), which `docker stop` stops with SIGTERM."""
    env = dict(item.split("=", 1) for item in image_env)
    env.update({"CI": "woodpecker", "CI_SYSTEM_NAME": "woodpecker", "PLUGIN_URL": sim.url,
                "PLUGIN_ACCESS_KEY": ACCESS, "PLUGIN_SECRET_KEY": SECRET, "PLUGIN_SERVICE": service,
                "PLUGIN_IMAGE": image, "PLUGIN_TIMEOUT": "300", "PLUGIN_PROGRESS_DEADLINE": "300",
                "PLUGIN_BATCH_INTERVAL": "0.1", "PLUGIN_POLL_INTERVAL": "0.2"})
    return env


def check_sigterm_at_start(buildah: Buildah, image: str, sim: HostSimulator) -> None:
    """SIGTERM to PID 1 at once after the container starts, while Python starts up, before its handlers
    exist: as PID 1 itself Python would never get it (the kernel drops a signal PID 1 has no handler for)
    and the upgrade would run to its end; under tini it ends by the default action, before any request."""
    service = sim.seed_service("sig0")
    env = woodpecker_step(buildah.config(image)["OCIv1"]["config"].get("Env", []), sim, "sig0/web", NEW)
    run = AsPid1(buildah, image, env)
    try:
        # Python reaches its handlers 20-60 ms after its exec, which follows the fork at once.
        pid, _ = run.init_with_child(time.monotonic() + 30)
        os.kill(pid, signal.SIGTERM)
        code = run.finish(15)
    finally:
        run.close()
    check(code == 143, f"SIGTERM at start: exit {code}, expected 143:\n{run.text()}")
    upgrades = sim.upgrade_requests(service)
    check(not upgrades and sim.service(service) == ("active", OLD),
          f"SIGTERM at start: {len(upgrades)} upgrade requests, sig0/web is {sim.service(service)}:\n{run.text()}")
    print("image: SIGTERM to PID 1 at once after the start (during Python's start-up): exit 143, no upgrade request")


def check_signal_mid_wait(buildah: Buildah, image: str, sim: HostSimulator, number: signal.Signals) -> None:
    """SIGTERM (`docker stop`) or SIGINT (GitHub's cancel, which `docker run` passes to PID 1) to PID 1,
    tini, while the run waits for an image that never gets healthy: tini passes it to Python, whose
    handlers roll back and exit 143 / 130 within a CI's stop timeout; tini exits with Python's code."""
    name = number.name
    stack = f"sig{number.value}"
    service = sim.seed_service(stack)
    sim.unhealthy(BAD)
    env = woodpecker_step(buildah.config(image)["OCIv1"]["config"].get("Env", []), sim, f"{stack}/web", BAD)
    run = AsPid1(buildah, image, env)
    try:
        run.wait_for("upgrading (", time.monotonic() + 60)
        pid, child = run.init_with_child(time.monotonic() + 5)
        check(comm(child) == ENTRYPOINT[2], f"{name}: PID 1's child is {comm(child)}, expected {ENTRYPOINT[2]}")
        os.kill(pid, number)
        signalled = time.monotonic()
        code = run.finish(15)
        took = time.monotonic() - signalled
    finally:
        run.close()
    text = run.text()
    check(code == 128 + number.value, f"{name}: exit {code}, expected {128 + number.value}:\n{text}")
    # Every CI kills the container a few seconds after its stop signal (docs/ci-conventions.md, §6).
    check(took < 5, f"{name}: the entrypoint took {took:.1f} s to exit; a CI kills it after 2.5-10 s")
    check(sim.service(service) == ("active", OLD),
          f"{name}: {stack}/web is {sim.service(service)}, expected rolled back to {OLD}:\n{text}")
    no_secret_shown(text, name)
    print(f"image: {name} to PID 1 (tini) mid-wait: rolled back, exit {code}, {took:.1f} s after the signal")


def in_image(buildah: Buildah, image: str, argv: list[str], what: str) -> str:
    """The standard output of `argv` run in a container of `image` (as root, no extra environment)."""
    container = buildah.container(image)
    try:
        result = buildah.run(container, argv, {})
    finally:
        buildah("rm", container, check=False)
    check(result.returncode == 0, f"{what} in {image}: exit {result.returncode}: {result.stderr.strip()}")
    return result.stdout


def installed(buildah: Buildah, image: str) -> dict[str, str]:
    """The Python distributions of an image, {normalized name: version}."""
    listing = in_image(buildah, image, ["python", "-c", "import importlib.metadata as m, json; print(json.dumps("
                                        "{d.metadata['Name']: d.version for d in m.distributions()}))"],
                       "listing the Python packages")
    return {normalized(name): version for name, version in json.loads(listing).items()}


def pinned(path: Path) -> dict[str, str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return {normalized(name): version for name, version in (line.split("==", 1) for line in lines if line)}


def debian_packages(buildah: Buildah, image: str) -> set[str]:
    """The image's Debian packages as `name:arch=version` (dpkg's database, as `dpkg-query -W` lists it)."""
    listing = in_image(buildah, image, ["dpkg-query", "-W", "-f", "${binary:Package}=${Version}\\n"],
                       "dpkg-query -W")
    return set(listing.split())


def leftovers(buildah: Buildah, image: str) -> set[str]:
    """Every path below LEFTOVER_DIRECTORIES in the image, with its size for a file."""
    listing = in_image(buildah, image, ["sh", "-c", 'for d in "$@"; do [ ! -e "$d" ] || find "$d" -mindepth 1 '
                                        "-printf '%p %y %s\\n'; done", "sh", *LEFTOVER_DIRECTORIES],
                       "listing " + " ".join(LEFTOVER_DIRECTORIES))
    return set(listing.splitlines())


@contextlib.contextmanager
def mounted(buildah: Buildah, image: str) -> Iterator[Path]:
    """The root file system of a new container of `image`, mounted on the host while in the block."""
    container = buildah.container(image)
    try:
        yield Path(buildah("mount", container).stdout.strip())
    finally:
        buildah("umount", container, check=False)
        buildah("rm", container, check=False)


def check_file_list(buildah: Buildah, image: str, base: str, distributions: set[str]) -> None:
    """The image's whole file list against its base's (.ci/image_files.py says what must hold): every
    path it adds is a file of `distributions` by their RECORDs in the image's site-packages, with the
    RECORD's sha256, or in OWN_PATHS; every path of the base is unchanged (mode, owner, bytes) or a
    replaced distribution's; so neither a build stage's /src or /wheels, nor the host's CA bundle bound
    into the build, nor a chmod or an edit after pip, nor a copy of a distribution elsewhere passes."""
    site_packages = json.loads(in_image(buildah, image, [
        "python", "-c", "import json, sysconfig; print(json.dumps(sorted({sysconfig.get_path('purelib'), "
        "sysconfig.get_path('platlib')})))"], "asking Python for its site-packages"))
    with mounted(buildah, base) as base_root, mounted(buildah, image) as image_root:
        problems = file_list_problems(base_root, image_root, site_packages, distributions, OWN_PATHS,
                                      RUN_MOUNT_POINTS, debs=DEBIAN_PACKAGES, bookkeeping=DPKG_BOOKKEEPING)
    hint = f" ({CA_BUNDLE}: the host's, bound into the build, left behind?)" if any(
        CA_BUNDLE in problem for problem in problems) else ""
    check(not problems, f"the image's files are not its base's plus {len(distributions)} distributions by their "
                        f"RECORDs and {sorted(OWN_PATHS)}: {len(problems)} problems{hint}: {problems[:6]}")
    print(f"image: every path of its base unchanged (mode, owner, bytes), every path it adds in the RECORDs of "
          f"{len(distributions)} distributions in {', '.join(site_packages)} (each file's sha256 checked), in the dpkg "
          f"lists of {', '.join(sorted(DEBIAN_PACKAGES))} (each file's md5 checked), dpkg's and apt's records, or "
          f"{sorted(OWN_PATHS)}")


def check_contents(buildah: Buildah, image: str, base: str) -> None:
    """The base plus tini, the package and its pinned run-time dependencies, nothing else: no other
    Debian package the base lacks (compilers, build tools), no Python distribution that neither the requirement pins
    nor the package's own dependencies name, nothing left in /tmp, /root or /var/cache."""
    from rancher_deploy import __version__

    config = buildah.config(image)["OCIv1"]["config"]
    check(config.get("Entrypoint") == ENTRYPOINT, f"ENTRYPOINT is {config.get('Entrypoint')}, expected {ENTRYPOINT}")
    check(not config.get("User") or config["User"] in ("0", "root"), f"the image sets USER {config.get('User')}")
    check(config.get("Labels", {}).get("org.opencontainers.image.version") == __version__,
          f"label org.opencontainers.image.version is not {__version__}")
    check("Healthcheck" not in buildah.config(image).get("Docker", {}).get("config", {}),
          "the image has a HEALTHCHECK, which would run in every CI step")

    added_debs = debian_packages(buildah, image) - debian_packages(buildah, base)
    check({entry.split("=")[0].split(":")[0] for entry in added_debs} == DEBIAN_PACKAGES,
          f"the image adds Debian packages {sorted(added_debs)} to its base, expected {sorted(DEBIAN_PACKAGES)} alone")
    left = leftovers(buildah, image) - leftovers(buildah, base)
    check(not left, f"the build left {len(left)} paths in {', '.join(LEFTOVER_DIRECTORIES)} that the base does not "
                    f"have: {sorted(left)[:5]}")

    base_packages, packages = installed(buildah, base), installed(buildah, image)
    added = {name: version for name, version in packages.items() if base_packages.get(name) != version}
    expected = {"rancher-deploy": __version__}
    for requirements in ("runtime", *IMAGE_EXTRAS):
        expected.update(pinned(ROOT / "requirements" / f"{requirements}.txt"))
    extra = sorted((name, version) for name, version in added.items() if expected.get(name) != version)
    lacking = sorted((name, version) for name, version in expected.items() if added.get(name) != version)
    check(not extra and not lacking, f"the image's Python distributions beyond its base are not exactly the package "
                                     f"and the pins of requirements/{{runtime,{','.join(IMAGE_EXTRAS)}}}.txt: it adds "
                                     f"{extra} besides them and lacks {lacking}")
    # A pin nothing requires (a stray line in a requirements file) is installed and pinned alike: only
    # the package's own metadata says what it needs.
    needed = json.loads(in_image(buildah, image, ["python", "-c", NEEDED, *IMAGE_EXTRAS],
                                 "resolving rancher-deploy's requirements"))
    check(not needed["missing"], f"rancher-deploy[{','.join(IMAGE_EXTRAS)}] needs {needed['missing']}, "
                                 f"which the image lacks")
    unneeded = set(added) - set(needed["needed"])
    check(not unneeded, f"the image holds {sorted(unneeded)}, which rancher-deploy[{','.join(IMAGE_EXTRAS)}] "
                        f"does not need (a stray pin in requirements/?)")

    check_file_list(buildah, image, base, set(added))

    served = in_image(buildah, image, ["rancher-deploy", "serve", "--help"], "`rancher-deploy serve --help`")
    check("usage:" in served, f"`rancher-deploy serve --help` in the image printed {served!r}")
    # The release workflow's test of the image before it pushes it (.github/workflows/release.yml): an
    # upgrade against the bundled simulator, exit 0 (in_image checks it).
    in_image(buildah, image, [*config["Entrypoint"], "demo", "--fast"], "`demo --fast` (the entrypoint)")
    print(f"image: adds to its base {len(expected)} Python distributions, exactly the package and the pins of "
          f"requirements/ ({', '.join(sorted(expected))}), each needed by rancher-deploy[{','.join(IMAGE_EXTRAS)}]; "
          f"no Debian package but {', '.join(sorted(DEBIAN_PACKAGES))} and nothing in {', '.join(LEFTOVER_DIRECTORIES)} beyond the base's; "
          f"`serve --help` and `demo --fast` work")

    sizes = {name: buildah("images", "--format", "{{.Size}}", name).stdout.strip() for name in (image, base)}
    layers = json.loads(buildah.config(image)["Manifest"])["layers"]
    base_layers = json.loads(buildah.config(base)["Manifest"])["layers"]
    own = sum(layer["size"] for layer in layers[len(base_layers):])
    print(f"image: size {sizes[image]} (stand-in base {sizes[base]}; the layers of this Dockerfile "
          f"{own / 1e6:.1f} MB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", required=True, help="the image built from the Dockerfile")
    parser.add_argument("--base", required=True, help="the base it was built on")
    parser.add_argument("buildah", nargs=argparse.REMAINDER, help="-- buildah and its storage options")
    arguments = parser.parse_args()
    buildah = Buildah([word for word in arguments.buildah if word != "--"])
    sim = HostSimulator()
    try:
        with tempfile.TemporaryDirectory(prefix="rancher-deploy-image-") as scratch:
            check_contents(buildah, arguments.image, arguments.base)
            check_github(buildah, arguments.image, sim, Path(scratch) / "github")
            check_gitlab(buildah, arguments.image, sim, Path(scratch) / "gitlab")
            check_sigterm_at_start(buildah, arguments.image, sim)
            for number in (signal.SIGTERM, signal.SIGINT):
                check_signal_mid_wait(buildah, arguments.image, sim, number)
    except CheckFailed as failure:
        print(f".ci/image: FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        sim.stop()
    print("image: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
