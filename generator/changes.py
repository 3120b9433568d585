"""What a planned change does to every file: two renders of one cluster compared, file by file, per node.

A day-2 chapter (upgrade, membership) shows the exact difference between the cluster as it runs and as the file
describes it. Both are rendered in memory from one RenderContext (context.sibling), so they share the CA, every
secret and each certificate whose spec did not change; a difference is then a real one. The result is public:
- a unit, config or CSR shows as a unified diff;
- a certificate shows what its spec changed (SANs added or removed, ...), never base64;
- a file holding a secret shows its public twin's diff (haproxy.cfg's copy with the password masked) or only
  that it changed.
Written as `<chapter>/<node>/changes.diff` per node and `<chapter>/workstation.diff`, shown on the chapter's page.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import PurePosixPath

from generator import pki
from generator.artifacts import Artifact

NODES = "nodes/"
WORKSTATION = "workstation"
CERTIFICATE = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True)
class Side:
    """One render: its artifacts by path, and the spec of each certificate it issued, by PEM."""

    files: dict[str, Artifact]
    specs: dict[bytes, pki.CertSpec]
    label: str  # e.g. the release, shown in the diff headers

    @staticmethod
    def of(artifacts: list[Artifact], specs: dict[bytes, pki.CertSpec], label: str) -> Side:
        return Side({a.path: a for a in artifacts}, specs, label)


def owner(path: str) -> str | None:
    """The node a file is pushed to, WORKSTATION for the workstation's own files, None for pages-only views."""
    if path.startswith(NODES):
        return path[len(NODES):].split("/", 1)[0]
    return WORKSTATION if path.startswith("pki/") or "/" not in path else None


def on_target(path: str) -> str:
    """A node file by its path on the node; a workstation file by its path under build/<cluster>/."""
    return "/" + path[len(NODES):].split("/", 1)[1] if path.startswith(NODES) else path


def public_view(side: Side, artifact: Artifact, node: str) -> bytes | None:
    """What may be shown of a file: itself if public, else the public twin a component renders for the pages
    (`<component>/<node>/<name>`, e.g. haproxy.cfg with the password masked), else nothing."""
    if artifact.public:
        return artifact.content
    twin = side.files.get(f"{artifact.component}/{node}/{PurePosixPath(artifact.path).name}")
    return twin.content if twin is not None and twin.public else None


def spec_change(old: pki.CertSpec, new: pki.CertSpec) -> str:
    """What a re-issued certificate says differently, e.g. `SANs +IP:10.0.0.4 +DNS:m4`."""
    parts = []
    for label, before, after in (("CN", old.cn, new.cn), ("O", old.org, new.org), ("usage", old.usage, new.usage)):
        if before != after:
            parts.append(f"{label} {before} -> {after}")
    sans = [("IP", old.ips, new.ips), ("DNS", old.dns, new.dns)]
    added = [f"+{kind}:{name}" for kind, before, after in sans for name in after if name not in before]
    removed = [f"-{kind}:{name}" for kind, before, after in sans for name in before if name not in after]
    if added or removed:
        parts.append("SANs " + " ".join(added + removed))
    return "; ".join(parts) or "re-issued"


def describe(path: str, node: str, before: Side, after: Side) -> list[str]:
    """The lines of one file's difference (empty when it does not change)."""
    old, new = before.files.get(path), after.files.get(path)
    shown = on_target(path)
    if old is not None and new is not None and old.content == new.content:
        return []
    if old is None or new is None:
        return [f"# {'added' if old is None else 'removed'}: {shown}"]
    if new.content.startswith(CERTIFICATE):
        old_spec, new_spec = before.specs.get(old.content), after.specs.get(new.content)
        change = spec_change(old_spec, new_spec) if old_spec and new_spec else "re-issued"
        return [f"# certificate re-issued: {shown}: {change}"]
    old_view, new_view = public_view(before, old, node), public_view(after, new, node)
    if old_view is None or new_view is None:
        return [f"# changed, not shown (it holds a secret): {shown}"]
    if old_view == new_view:  # only the secret part changed (e.g. an embedded certificate)
        return [f"# changed, not shown (it holds a secret): {shown}"]
    return list(difflib.unified_diff(
        old_view.decode().splitlines(), new_view.decode().splitlines(), lineterm="",
        fromfile=f"{shown} ({before.label})", tofile=f"{shown} ({after.label})"))


def by_owner(before: Side, after: Side) -> dict[str, list[str]]:
    """Every node of either render, and the workstation, with the lines of its changed files (in path order)."""
    paths = sorted(set(before.files) | set(after.files))
    owners = sorted({o for o in map(owner, paths) if o is not None and o != WORKSTATION})
    result: dict[str, list[str]] = {name: [] for name in [*owners, WORKSTATION]}
    for path in paths:
        name = owner(path)
        if name is not None:
            result[name] += describe(path, name, before, after)
    return result


def diff_text(lines: list[str]) -> bytes:
    return ("\n".join(lines or ["# no change"]) + "\n").encode()


def node_diff_path(chapter: str, node: str) -> str:
    return f"{chapter}/{node}/changes.diff"


def workstation_diff_path(chapter: str) -> str:
    return f"{chapter}/{WORKSTATION}.diff"


def artifacts(chapter: str, before: Side, after: Side) -> list[Artifact]:
    """The diff files a day-2 chapter shows: one per node, one for the workstation."""
    files = []
    for name, lines in by_owner(before, after).items():
        path = workstation_diff_path(chapter) if name == WORKSTATION else node_diff_path(chapter, name)
        files.append(Artifact(path, diff_text(lines), chapter, "config"))
    return files
