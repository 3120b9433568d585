"""The render phase: cluster → artifacts in memory → build/<cluster>/ (one transaction, only what changed)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from generator import catalog, changes, day2, ledger, scripts, writer
from generator.artifacts import PHASES, Artifact, Existing, build_dir
from generator.context import RenderContext
from generator.lock import cluster_lock
from generator.model import Cluster


@dataclass(frozen=True)
class RenderResult:
    cluster: Cluster
    files: list[tuple[str, str]]
    notes: list[str]
    # what the render computed (and wrote): the site's pages show these instead of computing them again
    artifacts: list[Artifact]

    def report(self) -> str:
        """What `invoke render` prints: each file that changed, the notes, and a count per status."""
        name = self.cluster.name
        counts: dict[str, int] = {}
        lines = []
        for path, status in self.files:
            counts[status] = counts.get(status, 0) + 1
            if status != "unchanged":
                lines.append(f"  {status:9} build/{name}/{path}")
        lines += [f"  note: {note}" for note in self.notes]
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        return "\n".join([*lines, f"rendered {name} ({self.cluster.release}) into build/{name}/: {summary}"])


def component_artifacts(ctx: RenderContext) -> list[Artifact]:
    return [artifact for module in catalog.COMPONENTS for artifact in module.artifacts(ctx)]


def make_artifacts(cluster: Cluster, renew_all: bool = False) -> tuple[list[Artifact], list[str]]:
    """All artifacts of the cluster, computed without writing anything. With a day-2 change planned, also the
    cluster as it runs now, in memory only, and per node what the change does to each file (generator/changes.py).
    `renew_all`: every leaf certificate is issued again (the renewal chapter pushes them)."""
    ctx = RenderContext(cluster, Existing(build_dir(cluster)), renew_all)
    files = component_artifacts(ctx) + scripts.artifacts(cluster)
    previous = day2.previous(cluster)
    if previous is not None:
        old = ctx.sibling(previous)
        before = changes.Side.of(component_artifacts(old), old.issued_specs(), label(previous))
        after = changes.Side.of(files, ctx.issued_specs(), label(cluster))
        files += changes.artifacts(str(day2.planned(cluster)), before, after)
    return files, ctx.notes


def label(cluster: Cluster) -> str:
    """How a diff header names each side: the release, and the number of masters."""
    return f"{cluster.release}, {len(cluster.masters)} masters"


def check_choice(component: str | None, phase: str | None) -> None:
    if component is not None and component not in catalog.chapter_ids():
        raise ValueError(f"unknown component {component!r}; components: {', '.join(catalog.chapter_ids())}")
    if phase is not None and phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; phases: {', '.join(PHASES)}")


def choose(artifacts: list[Artifact], component: str | None, phase: str | None) -> list[Artifact]:
    """One component's and/or one phase's artifacts. The CA always comes along: a leaf signed by a CA that was
    never written would be useless; so do the named scripts, so that a step never calls an older one."""
    return [a for a in artifacts
            if component in (None, a.component) and phase in (None, a.phase) or a.phase == "ca"
            or a.path.startswith(scripts.DIRECTORY)]


@contextmanager
def build_lock(cluster: Cluster) -> Iterator[list[str]]:
    """What render, deploy and every step that runs hold: the cluster's lock, a build whose interrupted render (if
    any) was finished first, and the named scripts as this cluster file makes them (a step never calls one that an
    older cluster file wrote). Yields notes saying what was repaired or replaced."""
    with cluster_lock(cluster):
        notes = writer.recover(build_dir(cluster))
        written, fixed = writer.write_all(build_dir(cluster), scripts.artifacts(cluster))
        yield notes + fixed + [f"named script {path} {what}" for path, what in written if what == "updated"]


def render(cluster: Cluster, component: str | None = None, phase: str | None = None,
           renew_all: bool = False) -> RenderResult:
    """Under the cluster's lock: finish an interrupted render, then write what differs."""
    check_choice(component, phase)
    root = build_dir(cluster)
    with build_lock(cluster) as notes:
        artifacts, made = make_artifacts(cluster, renew_all)
        chosen = choose(artifacts, component, phase)
        # The build as it will be once written (what is chosen, and the rest as it is on disk): the ledger never lists
        # a certificate this render does not leave, nor one it no longer makes, and goes in the same transaction.
        # A disk that fills at the ledger leaves the build as it was.
        chosen.append(ledger.artifact(cluster, artifacts, chosen))
        notes += writer.sweep(root, artifacts + chosen[-1:])
        files, fixed = writer.write_all(root, chosen)
    return RenderResult(cluster, files, notes + made + fixed, artifacts)
