"""Artifacts in memory, and their atomic, idempotent writing under build/<cluster>/."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from generator.model import REPO, Cluster, Node

BUILD_DIR = REPO / "build"
PHASES = ("ca", "cert", "kubeconfig", "config", "unit")


@dataclass(frozen=True)
class Artifact:
    """One file. `path` is relative to build/<cluster>/; secrets are written 0600 and never published."""

    path: str
    content: bytes
    component: str
    phase: str
    secret: bool = False

    @property
    def mode(self) -> int:
        return 0o600 if self.secret else 0o644


def build_dir(cluster: Cluster) -> Path:
    return BUILD_DIR / cluster.name


def rel_build(cluster: Cluster) -> str:
    """build/<cluster> as written in commands, relative to the repository root where commands run."""
    return f"build/{cluster.name}"


def on_node(node: Node, absolute: str) -> str:
    """Where a file destined for `absolute` on `node` lives in the build tree."""
    return f"nodes/{node.name}{absolute}"


class Existing:
    """Read-only view of what an earlier render left, so keys and certificates are reused."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def read(self, rel: str) -> bytes | None:
        try:
            return (self.root / rel).read_bytes()
        except FileNotFoundError:
            return None


def write_all(root: Path, artifacts: list[Artifact]) -> list[tuple[str, str]]:
    """Write every artifact that differs; return (path, what happened) for each one."""
    report = []
    for artifact in artifacts:
        target = root / artifact.path
        status = "unchanged"
        if not target.exists():
            status = "created"
        elif target.read_bytes() != artifact.content:
            status = "updated"
        if status != "unchanged":
            write_atomic(target, artifact.content, artifact.mode)
        elif target.stat().st_mode & 0o777 != artifact.mode:
            os.chmod(target, artifact.mode)
            status = "mode fixed"
        report.append((artifact.path, status))
    return report


def write_atomic(target: Path, content: bytes, mode: int) -> None:
    """Write beside the target, then rename: a reader sees the old file or the new one, never half."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
