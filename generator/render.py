"""The render phase: cluster → artifacts in memory → build/<cluster>/ (atomically, only what changed)."""

from __future__ import annotations

from dataclasses import dataclass

from generator import catalog
from generator.artifacts import PHASES, Artifact, Existing, build_dir, write_all
from generator.context import RenderContext
from generator.model import Cluster


@dataclass(frozen=True)
class RenderResult:
    files: list[tuple[str, str]]
    notes: list[str]


def make_artifacts(cluster: Cluster, component: str | None = None, phase: str | None = None) -> tuple[
        list[Artifact], list[str]]:
    """All artifacts of the cluster (or one component/phase of it), computed without writing anything.

    The CA always comes along: a leaf signed by a CA that was never written would be useless.
    """
    if component is not None and component not in catalog.chapter_ids():
        raise ValueError(f"unknown component {component!r}; components: {', '.join(catalog.chapter_ids())}")
    if phase is not None and phase not in PHASES:
        raise ValueError(f"unknown phase {phase!r}; phases: {', '.join(PHASES)}")
    ctx = RenderContext(cluster, Existing(build_dir(cluster)))
    chosen = []
    for module in catalog.COMPONENTS:
        for artifact in module.artifacts(ctx):
            wanted = (component in (None, artifact.component) and phase in (None, artifact.phase))
            if wanted or artifact.phase == "ca":
                chosen.append(artifact)
    return chosen, ctx.notes


def render(cluster: Cluster, component: str | None = None, phase: str | None = None) -> RenderResult:
    artifacts, notes = make_artifacts(cluster, component, phase)
    return RenderResult(write_all(build_dir(cluster), artifacts), notes)
