"""Artifacts in memory, where they live under build/<cluster>/, and which of them may be published."""

from __future__ import annotations

import fnmatch
import os
import stat
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath

from generator.errors import RunbookError
from generator.model import BUILD_DIR, Cluster, Node

PHASES = ("ca", "cert", "kubeconfig", "config", "unit")
TEMP_SUFFIX = ".partial"  # `.<name>.<random>.partial` beside its target: how a leftover temp file is recognised
DIR_MODE, SECRET_DIR_MODE = 0o755, 0o700
# The only artifacts docs/ (and so site/) may receive, besides being non-secret and free of key material: what the
# pages show. A new kind of public file is added here on purpose, never published by accident.
PUBLIC = ("*.pem", "*-csr.json", "*ca-config.json", "environment.sh", "*.service", "*.timer", "haproxy.cfg",
          "keepalived.conf", "kube-scheduler.yaml", "*.diff", "etcd-backup", "audit-policy.yaml",
          "kube-bench-config.yaml", "kwok-stages.yaml", "kwok-rbac.yaml", "rehearsal-node.yaml",
          "rehearsal-workload.yaml", "*.sh")
NEVER_PUBLIC = ("*-key.pem", "*.kubeconfig")
KEY_MARKERS = (b"PRIVATE KEY", b"client-key-data", b"secret:")


class Outside(RunbookError):
    """A path that would leave its directory (`..`, a symlink) or is not a plain file where one is expected."""


@dataclass(frozen=True)
class Artifact:
    """One file. `path` is relative to build/<cluster>/; secrets are written 0600 and never published. `private`: a
    file root alone reads on a node (0600, as the CIS benchmark wants units), which the site may still show."""

    path: str
    content: bytes
    component: str
    phase: str
    secret: bool = False
    private: bool = False

    @property
    def mode(self) -> int:
        return 0o600 if self.secret or self.private else 0o644

    @cached_property  # a page asks once per step that shows files: tens of thousands of times per cluster
    def public(self) -> bool:
        name = PurePosixPath(self.path).name
        return (not self.secret and any(fnmatch.fnmatchcase(name, p) for p in PUBLIC)
                and not any(fnmatch.fnmatchcase(name, p) for p in NEVER_PUBLIC)
                and not any(marker in self.content for marker in KEY_MARKERS))


def build_dir(cluster: Cluster) -> Path:
    return BUILD_DIR / cluster.name


def rel_build(cluster: Cluster) -> str:
    """build/<cluster> as written in commands, relative to the repository root where commands run."""
    return f"build/{cluster.name}"


def on_node(node: Node, absolute: str) -> str:
    """Where a file destined for `absolute` on `node` lives in the build tree."""
    return f"nodes/{node.name}{absolute}"


def dir_modes(artifacts: list[Artifact]) -> dict[str, int]:
    """The mode of every directory under build/<cluster>/ that holds artifacts, by relative path ("" is the root):
    0700 where a secret lies directly in it, and for the root (it also holds the lock and downloads), 0755 elsewhere.
    Set explicitly, so they never depend on the user's umask."""
    modes = {"": SECRET_DIR_MODE}
    for artifact in artifacts:
        parents = PurePosixPath(artifact.path).parents
        for parent in list(parents)[:-1]:
            modes.setdefault(str(parent), DIR_MODE)
        if artifact.secret and str(parents[0]) != ".":
            modes[str(parents[0])] = SECRET_DIR_MODE
    return modes


def make_dir(path: Path, mode: int) -> None:
    """mkdir with exactly `mode`: os.mkdir's mode is cut by the umask."""
    path.mkdir(mode=mode)
    os.chmod(path, mode)


def what_is(path: Path, info: os.stat_result) -> str:
    if stat.S_ISLNK(info.st_mode):
        return f"a symlink (to {os.readlink(path)})"
    return "a file" if stat.S_ISREG(info.st_mode) else "not a directory"


def ensure_root(root: Path) -> None:
    """build/ (0755) and build/<cluster>/ (0700), whatever the umask. build/<cluster>/ must be a real directory: a
    symlink there would have a render write every file, CA keys included, wherever it points."""
    for path, mode in ((root.parent, DIR_MODE), (root, SECRET_DIR_MODE)):
        if not path.is_dir():
            try:
                make_dir(path, mode)
            except FileExistsError:
                # Runs before the cluster's lock (the lock file lives inside): another render made it meanwhile,
                # with the same mode. Anything other than a directory is still an error.
                if not path.is_dir():
                    raise Outside(f"{path}: {what_is(path, path.lstat())} where the build directory goes; move it "
                                  "away") from None
    check_root(root)


def check_root(root: Path) -> os.stat_result:
    """build/<cluster>/'s own entry, if it is a real directory; Outside (one line) otherwise."""
    info = root.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise Outside(f"{root}: {what_is(root, info)}, not a directory: everything of this cluster is written into a "
                      f"real {root.parent.name}/{root.name}/ only; move it away")
    return info


def relative_parts(rel: str) -> tuple[str, ...]:
    parts = PurePosixPath(rel).parts
    if not parts or rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in rel:
        raise Outside(f"{rel!r}: not a plain relative path; refusing to write it")
    return parts


class Confined:
    """Paths under `root`, each proven to lie inside it: `..` is refused, every directory on the way is a real
    directory (never a symlink), and the resolved parent is compared with the resolved root (both resolved once
    per instance: a render asks for ~170 paths in ~30 directories)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.device = check_root(root).st_dev
        self.real_root = root.resolve(strict=True)
        self.real_dirs: set[Path] = set()

    def path(self, rel: str, modes: dict[str, int] | None = None, created: list[Path] | None = None) -> Path:
        """root/rel. With `modes`, missing directories are made (with their mode from `modes`, noted in `created`);
        without, nothing is made."""
        parts = relative_parts(rel)
        here = self.root
        for i, part in enumerate(parts[:-1]):
            here = here / part
            try:
                info = here.lstat()
            except FileNotFoundError:
                if modes is None:
                    return here / PurePosixPath(*parts[i + 1:])  # nothing there to read; nothing made
                make_dir(here, modes.get("/".join(parts[:i + 1]), DIR_MODE))
                if created is not None:
                    created.append(here)
                continue
            if not stat.S_ISDIR(info.st_mode):
                found = "a symlink" if stat.S_ISLNK(info.st_mode) else "a file"
                raise Outside(f"{here}: expected a directory, found {found}; move it away and render again")
            if info.st_dev != self.device:  # a mount point: writes would land on another file system
                raise Outside(f"{here}: another file system is mounted here; everything is written on "
                              f"{self.root}'s own: unmount it and render again")
        target = here / parts[-1]
        if target.parent not in self.real_dirs:
            if not target.parent.resolve(strict=True).is_relative_to(self.real_root):
                raise Outside(f"{target} resolves outside {self.root}; refusing to touch it")
            self.real_dirs.add(target.parent)
        try:
            info = target.lstat()
        except FileNotFoundError:
            return target
        if not stat.S_ISREG(info.st_mode) or info.st_dev != self.device:
            raise Outside(f"{target}: expected a plain file (not a symlink, directory, FIFO or mount); move it away "
                          "and render again")
        return target


class Existing:
    """Read-only view of what an earlier render left, so keys and certificates are reused."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tree = Confined(root) if root.is_dir() or root.is_symlink() else None

    def read(self, rel: str) -> bytes | None:
        if self.tree is None:
            return None
        try:
            fd = os.open(self.tree.path(rel), os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as stream:
            return stream.read()


def write_temp(target: Path, content: bytes, mode: int) -> Path:
    """`content` in a new temp file beside `target`, with `mode` (not the umask's), on disk."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=TEMP_SUFFIX)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomic(target: Path, content: bytes, mode: int) -> None:
    """Write beside the target, then rename: a reader sees the old file or the new one, never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = write_temp(target, content, mode)
    try:
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
