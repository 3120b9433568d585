"""Every component, in deployment order. The one place that lists them."""

from __future__ import annotations

from types import ModuleType

from generator.components import (
    admin,
    ca,
    etcd,
    kube_apiserver,
    kube_controller_manager,
    kube_scheduler,
    load_balancer,
    prerequisites,
    troubleshooting,
    verification,
)
from generator.model import Cluster
from generator.steps import Chapter, Step

COMPONENTS: tuple[ModuleType, ...] = (
    prerequisites, ca, load_balancer, admin, etcd, kube_apiserver, kube_controller_manager, kube_scheduler,
    verification, troubleshooting,
)


def chapters(cluster: Cluster) -> list[Chapter]:
    return sorted((c.chapter(cluster) for c in COMPONENTS), key=lambda ch: ch.number)


def chapter_ids() -> list[str]:
    return [c.ID for c in COMPONENTS]


def find_step(cluster: Cluster, step_id: str) -> Step:
    for chapter in chapters(cluster):
        for step in chapter.steps:
            if step.id == step_id:
                return step
    known = ", ".join(s.id for ch in chapters(cluster) for s in ch.steps)
    raise KeyError(f"no step {step_id!r}; steps: {known}")
