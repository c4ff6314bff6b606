""".ci/image_files.py, the check of the image's files against its base's, on two small root file systems
made here: what .ci/image runs on the real image, proven on each way an image could go wrong.

.ci/image runs the same function on the mounted image and its base (docs/ci.md, "Checking the
integrations"); these trees are what a pip install into a venv at /usr/local leaves: a distribution's
files, its .dist-info with a RECORD of sha256 rows, a console script at ../../../bin, a .pyc pip
compiled (no hash).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE = "/usr/local/lib/python3.12/site-packages"
OWN = frozenset({"/app", "/app/entrypoint.py"})
MOUNT_POINTS = frozenset({"/etc/hosts"})


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_files", ROOT / ".ci" / "image_files.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["image_files"] = module   # dataclasses looks its module up by name
    spec.loader.exec_module(module)
    return module


image_files = load()


def put(root: Path, inside: str, data: bytes = b"", mode: int = 0o644) -> None:
    path = root / inside.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)


def record_row(inside: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{os.path.relpath(inside, SITE)},sha256={digest},{len(data)}"


def install(root: Path, name: str, files: dict[str, bytes], unhashed: tuple[str, ...] = ()) -> None:
    """`name` 1.0 as pip installs it: its files, then its RECORD (the RECORD itself and `unhashed`
    without a hash)."""
    rows = []
    for inside, data in files.items():
        put(root, inside, data, 0o755 if "/bin/" in inside else 0o644)
        rows.append(record_row(inside, data))
    for inside in unhashed:
        put(root, inside, b"\x00compiled")
        rows.append(f"{os.path.relpath(inside, SITE)},,")
    record = f"{SITE}/{name}-1.0.dist-info/RECORD"
    rows.append(f"{os.path.relpath(record, SITE)},,")
    put(root, record, ("\n".join(rows) + "\n").encode())


TOOL = {f"{SITE}/tool/__init__.py": b"", f"{SITE}/tool/cli.py": b"def main():\n    return 0\n",
        "/usr/local/bin/tool": b"#!/usr/local/bin/python\nfrom tool.cli import main\n"}
PYC = f"{SITE}/tool/__pycache__/cli.cpython-312.pyc"


@pytest.fixture()
def roots(tmp_path: Path) -> tuple[Path, Path]:
    """(base, image): a base with /etc, /usr/local/bin and an old `oldlib` 0.9, and the image that
    adds `tool` (with a compiled .pyc), replaces `oldlib` by `oldlib` 1.0 and adds /app/entrypoint.py."""
    base, image = tmp_path / "base", tmp_path / "image"
    put(base, "/etc/os-release", b"PRETTY_NAME=Debian\n")
    put(base, "/etc/ssl/certs/ca-certificates.crt", b"-----BEGIN CERTIFICATE-----\n")
    put(base, f"{SITE}/oldlib/__init__.py", b"OLD = 1\n")
    put(base, f"{SITE}/oldlib-0.9.dist-info/RECORD", b"oldlib/__init__.py,,\noldlib-0.9.dist-info/RECORD,,\n")
    for directory in ("/etc", "/usr/local/bin", SITE):
        (base / directory.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for path in [base, *base.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.copytree(base, image, symlinks=True)
    image.chmod(0o755)
    shutil.rmtree(image / SITE.lstrip("/") / "oldlib-0.9.dist-info")
    install(image, "tool", TOOL, unhashed=(PYC,))
    install(image, "oldlib", {f"{SITE}/oldlib/__init__.py": b"NEW = 1\n"})
    put(image, "/app/entrypoint.py", b"import tool\n")
    for path in [*image.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    return base, image


def problems(base: Path, image: Path) -> list[str]:
    found: list[str] = image_files.file_list_problems(base, image, [SITE], {"tool", "oldlib"}, OWN, MOUNT_POINTS,
                                                      owner=(os.getuid(), os.getgid()))
    return found


def test_an_image_that_adds_only_its_distributions_passes(roots: tuple[Path, Path]) -> None:
    base, image = roots
    put(image, "/etc/hosts")   # an empty mount point a build engine left behind
    assert problems(base, image) == []


def test_a_chmod_of_a_directory_of_the_base_fails(roots: tuple[Path, Path]) -> None:
    # A parent of every console script: its mode must still be the base's, not only its content.
    base, image = roots
    (image / "usr/local/bin").chmod(0o777)
    owner = f"{os.getuid()}:{os.getgid()}"
    assert problems(base, image) == [f"the image changes /usr/local/bin of its base: dir 0755 {owner} -> dir 0777 {owner}"]


def test_a_line_appended_to_an_installed_module_fails(roots: tuple[Path, Path]) -> None:
    base, image = roots
    with (image / SITE.lstrip("/") / "tool/cli.py").open("ab") as module:
        module.write(b"import os\n")
    [problem] = problems(base, image)
    assert problem.startswith(f"{SITE}/tool/cli.py is not the file {SITE}/tool-1.0.dist-info/RECORD lists")


def test_a_module_changed_to_the_same_size_and_time_fails(roots: tuple[Path, Path]) -> None:
    base, image = roots
    module = image / SITE.lstrip("/") / "tool/cli.py"
    times = module.stat()
    module.write_bytes(module.read_bytes().replace(b"0", b"1"))
    os.utime(module, ns=(times.st_atime_ns, times.st_mtime_ns))
    assert len(problems(base, image)) == 1


def test_a_second_copy_of_a_distribution_elsewhere_fails(roots: tuple[Path, Path]) -> None:
    # Its own RECORD lists its paths, even in a directory named site-packages, but only the RECORDs in
    # the image's site-packages (what its Python imports from) count.
    base, image = roots
    for name in ("tool", "tool-1.0.dist-info"):
        shutil.copytree(image / SITE.lstrip("/") / name, image / "opt/dup/site-packages" / name)
    found = problems(base, image)
    assert found and all(problem.startswith("the image adds /opt") for problem in found)


def test_a_file_of_the_base_changed_in_place_fails(roots: tuple[Path, Path]) -> None:
    base, image = roots
    put(image, "/etc/os-release", b"PRETTY_NAME=Debiax\n")
    assert problems(base, image) == ["the image changes the content of /etc/os-release of its base"]


def test_a_host_ca_bundle_left_in_the_image_fails(roots: tuple[Path, Path]) -> None:
    base, image = roots
    put(image, "/etc/ssl/certs/ca-certificates.crt", b"-----BEGIN CERTIFICATE-----\nHOST\n")
    assert problems(base, image) == ["the image changes the content of /etc/ssl/certs/ca-certificates.crt of its base"]


@pytest.mark.parametrize("change", [
    lambda image: put(image, f"{SITE}/tool/__pycache__/__init__.cpython-312.pyc", b"\x00"),   # no RECORD lists it
    lambda image: put(image, f"{SITE}/zz-leftover.pth", b"import os\n"),
    lambda image: put(image, "/src/pyproject.toml", b"[project]\n"),                       # a build stage's sources
    lambda image: put(image, "/etc/hosts", b"127.0.0.1 localhost\n"),                       # a mount point not empty
    lambda image: (image / SITE.lstrip("/") / "tool/cli.py").chmod(0o600),                  # unreadable to uid 1000
    lambda image: (image / SITE.lstrip("/") / "tool").chmod(0o777),
    lambda image: (image / SITE.lstrip("/") / "tool/cli.py").unlink(),                     # RECORD lists it
    lambda image: (image / "etc/os-release").unlink(),                                      # no RECORD had it
])
def test_an_added_changed_or_dropped_path_fails(roots: tuple[Path, Path], change: Callable[[Path], object]) -> None:
    base, image = roots
    change(image)
    assert problems(base, image)


def test_a_row_without_a_hash_passes_only_for_a_compiled_module_and_the_record(roots: tuple[Path, Path]) -> None:
    base, image = roots
    record = image / SITE.lstrip("/") / "tool-1.0.dist-info/RECORD"
    record.write_text(record.read_text().replace(record_row(f"{SITE}/tool/cli.py", TOOL[f"{SITE}/tool/cli.py"]),
                                                 "tool/cli.py,,"))
    assert problems(base, image) == [f"{SITE}/tool-1.0.dist-info/RECORD lists {SITE}/tool/cli.py without a hash",
                                     f"{SITE}/tool-1.0.dist-info/RECORD lists {PYC} without a hash"]


def test_a_distribution_without_a_record_in_site_packages_fails(roots: tuple[Path, Path]) -> None:
    base, image = roots
    found: list[str] = image_files.file_list_problems(base, image, [SITE], {"tool", "oldlib", "ghost"}, OWN,
                                                      MOUNT_POINTS, owner=(os.getuid(), os.getgid()))
    assert found == [f"no RECORD of ghost in {SITE}"]


def debian_install(root: Path, name: str, files: dict[str, bytes]) -> None:
    """`name` as dpkg installs it: its files, its /var/lib/dpkg/info list and md5sums, the status rewritten."""
    for inside, data in files.items():
        put(root, inside, data, 0o755)
    parents = sorted({str(parent) for inside in files for parent in Path(inside).parents if str(parent) != "/"})
    put(root, f"/var/lib/dpkg/info/{name}.list", "\n".join(["/.", *parents, *files]).encode() + b"\n")
    put(root, f"/var/lib/dpkg/info/{name}.md5sums", b"".join(
        f"{hashlib.md5(data).hexdigest()}  {inside.lstrip('/')}\n".encode() for inside, data in files.items()))
    put(root, "/var/lib/dpkg/status", b"Package: base-files\n\nPackage: " + name.encode() + b"\n")
    put(root, "/var/log/apt/term.log", b"Log started\n", 0o640)


DPKG = frozenset({"/var/lib/dpkg/status", "/var/log/apt/term.log", "/var/log/apt"})


def deb_problems(base: Path, image: Path) -> list[str]:
    found: list[str] = image_files.file_list_problems(base, image, [SITE], {"tool", "oldlib"}, OWN, MOUNT_POINTS,
                                                      owner=(os.getuid(), os.getgid()), debs=frozenset({"tini"}),
                                                      bookkeeping=DPKG)
    return found


@pytest.fixture()
def with_tini(roots: tuple[Path, Path]) -> tuple[Path, Path]:
    """(base, image) of `roots`, the base with a dpkg status, the image with tini installed by dpkg."""
    base, image = roots
    for root in (base, image):
        put(root, "/var/lib/dpkg/status", b"Package: base-files\n")
        (root / "var/lib/dpkg/info").mkdir(parents=True, exist_ok=True)
        for directory in (root / "var", root / "var/lib", root / "var/lib/dpkg", root / "var/lib/dpkg/info"):
            directory.chmod(0o755)
    debian_install(image, "tini", {"/usr/bin/tini": b"\x7fELF tini"})
    return base, image


def test_a_debian_package_by_its_dpkg_list_and_md5sums_passes(with_tini: tuple[Path, Path]) -> None:
    # The status rewritten and apt's 0640 log are dpkg's and apt's records, allowed as they are.
    assert deb_problems(*with_tini) == []


def test_a_debian_package_file_changed_after_dpkg_fails(with_tini: tuple[Path, Path]) -> None:
    base, image = with_tini
    put(image, "/usr/bin/tini", b"\x7fELF tinx", 0o755)
    [problem] = deb_problems(base, image)
    assert problem.startswith("/usr/bin/tini is not the file /var/lib/dpkg/info/tini.md5sums lists")


@pytest.mark.parametrize("change", [
    lambda image: put(image, "/usr/bin/tini-extra", b"x", 0o755),      # no dpkg list names it
    lambda image: put(image, "/etc/os-release", b"PRETTY_NAME=Debiax\n"),  # not dpkg's or apt's record
    lambda image: (image / "var/lib/dpkg/info/tini.list").unlink(),   # a package dpkg does not know
])
def test_beside_a_debian_package_nothing_else_changes(with_tini: tuple[Path, Path],
                                                       change: Callable[[Path], object]) -> None:
    base, image = with_tini
    change(image)
    assert deb_problems(base, image)


def test_without_the_package_named_its_files_fail(with_tini: tuple[Path, Path]) -> None:
    base, image = with_tini
    found: list[str] = image_files.file_list_problems(base, image, [SITE], {"tool", "oldlib"}, OWN, MOUNT_POINTS,
                                                      owner=(os.getuid(), os.getgid()), bookkeeping=DPKG)
    assert "the image adds /usr/bin/tini, which no RECORD of those distributions in " + SITE + " lists" in found
