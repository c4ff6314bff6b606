"""The image's files against its base's, both root file systems mounted (.ci/image_checks.py mounts them).

What holds for a good image (docs/ci.md, "Checking the integrations"):
- every path of the base that the image still has is the same: the same kind, mode, owner and group,
  for a file the same bytes, for a link the same target (a directory's mtime may differ: adding a
  file to it changes it);
- every path the image adds is a file that a RECORD of the distributions it installs lists, a
  directory above one, or one of the Dockerfile's own paths (or an empty mount point a build engine
  left); it is owned by root, writable by root alone and readable by every uid (GitLab runs the image
  as any uid); only the RECORDs in the image's site-packages count (a copy of a distribution with
  its .dist-info elsewhere, /opt/dup say, adds paths no counted RECORD names);
- every file those RECORDs list is there, with the size and sha256 the RECORD gives (PEP 376, PEP 627:
  `path,sha256=<urlsafe base64 without padding>,size`); rows without a hash are allowed only for the
  RECORD itself and for the `.pyc` files pip compiles after it has hashed the wheel's files (pip 23
  lists them as `__pycache__/<module>.cpython-XY.pyc,,`), each beside a hashed `<module>.py`; a `.pyc`
  that no RECORD lists is an added path like any other;
- a path of the base the image drops is a file of a distribution it replaces (by that distribution's
  RECORD in the base's site-packages);
- the Debian packages it adds (tini) are held to their dpkg database the same way: every path one adds
  is listed in its `/var/lib/dpkg/info/<package>.list` (a listed path may be absent: dpkg keeps the
  paths a `path-exclude` left out in the list), every file it lists that is there has the md5 its
  `.md5sums` gives, and beside them only dpkg's and apt's own records (`bookkeeping`: the status
  database, the logs, apt's lock and the index directory `rm -rf /var/lib/apt/lists/*` empties) may be
  added (with apt's own modes: its term.log is 0640), rewritten (with the base's mode and owner) or
  dropped.
Files of the base are compared byte for byte only when kind, mode, owner and size already agree, and
files the RECORDs hash are read once; the rest of the image is never read.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


def normalized(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Node:
    """One path of a root file system, links not followed: kind ("dir", "file", "link", "special"),
    permission bits, owner and group; a file's size in bytes, a link's target, a device's number."""

    kind: str
    mode: int
    uid: int
    gid: int
    size: int = 0
    target: str = ""
    device: int = 0


def walk(root: Path) -> dict[str, Node]:
    """Every path below the mounted root file system `root`, `/` included, as {"/path": Node}."""
    def node(path: str) -> Node:
        info = os.lstat(path)
        owner = (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
        if stat.S_ISDIR(info.st_mode):
            return Node("dir", *owner)
        if stat.S_ISLNK(info.st_mode):
            return Node("link", *owner, target=os.readlink(path))
        if stat.S_ISREG(info.st_mode):
            return Node("file", *owner, size=info.st_size)
        return Node("special", *owner, device=info.st_rdev)

    tree = {"/": node(str(root))}
    for directory, subdirectories, files in os.walk(root):
        for name in (*subdirectories, *files):
            path = os.path.join(directory, name)
            tree["/" + os.path.relpath(path, root)] = node(path)
    return tree


def shown(node: Node) -> str:
    """A node as `ls -l` would summarize it: "dir 0755 0:0", "link -> target"."""
    if node.kind == "link":
        return f"link -> {node.target}"
    return f"{node.kind} {node.mode:04o} {node.uid}:{node.gid}" + (f" {node.size} bytes" if node.kind == "file" else "")


def for_everyone(node: Node, owner: tuple[int, int]) -> bool:
    """Owned by `owner` (uid, gid), writable by it alone, readable (a directory: searchable) by every uid."""
    if node.kind == "link":
        return (node.uid, node.gid) == owner
    readable = 0o555 if node.kind == "dir" else 0o444
    return (node.uid, node.gid) == owner and not node.mode & 0o022 and node.mode & readable == readable


def same_bytes(one: Path, other: Path) -> bool:
    with one.open("rb") as first, other.open("rb") as second:
        while True:
            chunk = first.read(1 << 20)
            if chunk != second.read(1 << 20):
                return False
            if not chunk:
                return True


@dataclass(frozen=True)
class Row:
    """One RECORD row: the absolute path inside the image, its sha256 as RECORD spells it (None when
    the row has no hash) and its size in bytes (None when not given)."""

    path: str
    sha256: str | None
    size: int | None


def records(root: Path, tree: dict[str, Node], site_packages: Iterable[str],
            names: set[str]) -> dict[str, list[Row]]:
    """The rows of each `<name>-<version>.dist-info/RECORD` directly in one of `site_packages` whose
    distribution is one of `names` (normalized), as {"/path/of/RECORD": rows}. A row's path is
    relative to the site-packages directory (console scripts are `../../../bin/<name>`)."""
    found: dict[str, list[Row]] = {}
    for directory in site_packages:
        for path, node in tree.items():
            parent = PurePosixPath(path).parent
            if node.kind != "file" or not path.endswith(".dist-info/RECORD") or str(parent.parent) != directory:
                continue
            if normalized(parent.name.removesuffix(".dist-info").rsplit("-", 1)[0]) not in names:
                continue
            text = (root / path.lstrip("/")).read_text(encoding="utf-8")
            rows = []
            for fields in csv.reader(text.splitlines()):
                if not fields:
                    continue
                inside = os.path.normpath(os.path.join(directory, fields[0]))
                digest = fields[1] if len(fields) > 1 and fields[1] else None
                size = int(fields[2]) if len(fields) > 2 and fields[2] else None
                rows.append(Row(inside, digest, size))
            found[path] = rows
    return found


def unhashed_allowed(record: str, row: Row, hashed: set[str]) -> bool:
    """Whether a RECORD row may lack a hash: the RECORD itself, or a `.pyc` pip compiled into the
    `__pycache__` beside a hashed source (pip hashes the wheel's files before it compiles them)."""
    if row.path == record:
        return True
    pyc = PurePosixPath(row.path)
    if pyc.suffix != ".pyc" or pyc.parent.name != "__pycache__":
        return False
    return str(pyc.parent.parent / (pyc.name.split(".", 1)[0] + ".py")) in hashed


def record_problems(root: Path, tree: dict[str, Node], rows_of: dict[str, list[Row]]) -> list[str]:
    """What in the image differs from its RECORDs: a listed file missing or not a file, a size or a
    sha256 that is not the RECORD's, a row without a hash that unhashed_allowed does not excuse."""
    problems = []
    for record, rows in rows_of.items():
        hashed = {row.path for row in rows if row.sha256}
        for row in rows:
            node = tree.get(row.path)
            if node is None or node.kind != "file":
                problems.append(f"{record} lists {row.path}, which the image has {'not' if node is None else 'as a ' + node.kind}")
                continue
            if not row.sha256:
                if not unhashed_allowed(record, row, hashed):
                    problems.append(f"{record} lists {row.path} without a hash")
                continue
            algorithm, _, expected = row.sha256.partition("=")
            if algorithm != "sha256":
                problems.append(f"{record} hashes {row.path} with {algorithm}, not sha256")
                continue
            data = (root / row.path.lstrip("/")).read_bytes()
            actual = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            if actual != expected or (row.size is not None and row.size != len(data)):
                problems.append(f"{row.path} is not the file {record} lists (sha256 {actual}, "
                                f"{len(data)} bytes; RECORD: {expected}, {row.size} bytes)")
    return problems


def dpkg_files(root: Path, tree: dict[str, Node], packages: Iterable[str]) -> tuple[set[str], list[str]]:
    """The paths the Debian `packages` (names, `:arch` allowed) own by dpkg's database in the image at
    `root`, their `.list` and `.md5sums` included, and what differs from it: a package without a list,
    a listed file whose md5 is not the one its `.md5sums` gives (`md5  relative/path` lines)."""
    owned: set[str] = set()
    problems: list[str] = []
    for package in sorted(packages):
        info = [f"/var/lib/dpkg/info/{name}.{kind}" for name in dict.fromkeys((package, package.split(":")[0]))
                for kind in ("list", "md5sums")]
        listing = next((path for path in info[::2] if tree.get(path, Node("", 0, 0, 0)).kind == "file"), None)
        if listing is None:
            problems.append(f"no dpkg file list of {package} (/var/lib/dpkg/info/{package}.list)")
            continue
        owned |= {path for path in info if path in tree}
        owned |= {line for line in (root / listing.lstrip("/")).read_text(encoding="utf-8").splitlines()
                  if line and line != "/."}
        for sums in (path for path in info[1::2] if path in tree):
            for line in (root / sums.lstrip("/")).read_text(encoding="utf-8").splitlines():
                expected, _, relative = line.partition("  ")
                node = tree.get("/" + relative)
                if node is None or node.kind != "file":
                    continue   # left out by a path-exclude
                actual = hashlib.md5((root / relative).read_bytes(), usedforsecurity=False).hexdigest()
                if actual != expected:
                    problems.append(f"/{relative} is not the file {sums} lists (md5 {actual}; listed: {expected})")
    return owned, problems


def file_list_problems(base_root: Path, image_root: Path, site_packages: Iterable[str], distributions: set[str],
                       own_paths: frozenset[str], run_mount_points: frozenset[str],
                       owner: tuple[int, int] = (0, 0), debs: frozenset[str] = frozenset(),
                       bookkeeping: frozenset[str] = frozenset()) -> list[str]:
    """Every way the image at `image_root` differs from its base at `base_root` beyond installing
    `distributions` (normalized names) into `site_packages` (absolute directories inside the image)
    and adding `own_paths`, each owned by `owner` (uid, gid: root's in an image); `run_mount_points`
    may appear as empty files (a build engine's mount points for its RUN steps); the Debian packages
    `debs` may add what dpkg's database lists for them, and dpkg and apt may add, rewrite or drop the
    paths `bookkeeping` names. One line per problem; none for a good image (the module's docstring says what
    that is)."""
    site_packages = list(site_packages)
    base, image = walk(base_root), walk(image_root)
    rows_of = records(image_root, image, site_packages, distributions)
    named = {normalized(PurePosixPath(record).parent.name.removesuffix(".dist-info").rsplit("-", 1)[0])
             for record in rows_of}
    problems = [f"no RECORD of {name} in {' or '.join(site_packages)}" for name in sorted(distributions - named)]
    problems += record_problems(image_root, image, rows_of)
    owned, deb_problems = dpkg_files(image_root, image, debs)
    problems += deb_problems

    listed = {row.path for rows in rows_of.values() for row in rows}
    verified = {row.path for rows in rows_of.values() for row in rows if row.sha256}
    own_paths = own_paths | owned | (bookkeeping & image.keys())
    allowed = set(own_paths) | {str(parent) for path in listed | own_paths for parent in PurePosixPath(path).parents}
    allowed |= listed
    allowed |= {path for path in run_mount_points if image.get(path, Node("", 0, 0, 0)).kind == "file"
                and image[path].size == 0}
    added = sorted(image.keys() - base.keys())
    problems += [f"the image adds {path}, which no RECORD of those distributions in {', '.join(site_packages)} lists"
                 for path in added if path not in allowed]
    problems += [f"the image adds {path} as {shown(image[path])}, expected {owner[0]}:{owner[1]}'s, writable by it "
                 f"alone and readable by every uid (GitLab runs the image as any uid)"
                 for path in added if path in allowed and path not in bookkeeping and not for_everyone(image[path], owner)]

    for path in sorted(base.keys() & image.keys()):
        was, now = base[path], image[path]
        if (was.kind, was.mode, was.uid, was.gid, was.target, was.device) != \
                (now.kind, now.mode, now.uid, now.gid, now.target, now.device):
            problems.append(f"the image changes {path} of its base: {shown(was)} -> {shown(now)}")
        elif now.kind == "file" and path not in verified | bookkeeping and (
                was.size != now.size or not same_bytes(base_root / path.lstrip("/"), image_root / path.lstrip("/"))):
            problems.append(f"the image changes the content of {path} of its base")

    # A replaced distribution's files, and the directories that held only them (its old .dist-info).
    replaced = {row.path for rows in records(base_root, base, site_packages, distributions).values() for row in rows}
    replaced |= {str(parent) for path in replaced for parent in PurePosixPath(path).parents
                 if any(str(parent).startswith(directory + "/") for directory in site_packages)}
    problems += [f"the image drops {path} of its base" for path in sorted(base.keys() - image.keys())
                 if path not in replaced | bookkeeping]
    return problems
