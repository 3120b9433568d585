"""Every component, in deployment order. The one place that lists them."""

from __future__ import annotations

from types import ModuleType

from generator.components import (
    admin,
    ca,
    ca_rotation,
    etcd,
    kube_apiserver,
    kube_controller_manager,
    kube_scheduler,
    load_balancer,
    membership,
    prerequisites,
    renewal,
    troubleshooting,
    upgrade,
    verification,
)
from generator.model import Cluster
from generator.steps import Chapter, Step

# The chapters that build a cluster, then the day-2 ones, which run steps of the first ones again for one node or
# one master at a time: renewal while no change is planned, the others only where the cluster file plans one
# (generator/day2.py).
BUILD: tuple[ModuleType, ...] = (
    prerequisites, ca, load_balancer, admin, etcd, kube_apiserver, kube_controller_manager, kube_scheduler,
    verification, troubleshooting,
)
DAY2: tuple[ModuleType, ...] = (renewal, upgrade, membership, ca_rotation)
COMPONENTS = BUILD + DAY2


def build_chapters(cluster: Cluster) -> list[Chapter]:
    return sorted((c.chapter(cluster) for c in BUILD), key=lambda ch: ch.number)


def chapters(cluster: Cluster) -> list[Chapter]:
    day2 = [chapter for c in DAY2 if (chapter := c.chapter(cluster)) is not None]
    return build_chapters(cluster) + sorted(day2, key=lambda ch: ch.number)


def chapter_ids() -> list[str]:
    return [c.ID for c in COMPONENTS]


def find_step(cluster: Cluster, step_id: str) -> Step:
    for chapter in chapters(cluster):
        for step in chapter.steps:
            if step.id == step_id:
                return step
    known = ", ".join(s.id for ch in chapters(cluster) for s in ch.steps)
    raise KeyError(f"no step {step_id!r}; steps: {known}")
