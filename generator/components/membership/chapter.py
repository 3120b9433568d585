"""The membership chapter, in the order a joining or a leaving master needs."""

from __future__ import annotations

from collections.abc import Sequence

from generator import daemons, day2
from generator.artifacts import Artifact
from generator.components import planned, rollout
from generator.components.load_balancer.service import enabled as load_balancer_enabled
from generator.components.membership import join, leave
from generator.components.membership.common import (
    ID,
    changed,
    load_balancer_step,
    members_step,
    plan_step,
    rolling_step,
)
from generator.context import RenderContext
from generator.model import Cluster
from generator.steps import Chapter, Step
from generator.text import Texts

TEXT = Texts.of_component(__file__)

NUMBER = 13


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []  # the per-node diffs come from generator/render.py, which renders the cluster as it runs now


def chapter(cluster: Cluster, build: Sequence[Chapter]) -> Chapter | None:
    if day2.planned(cluster) != ID:
        return None
    node = changed(cluster)
    joins = node in day2.joining(cluster)
    etcd = daemons.ETCD.runs_on(cluster, node)
    lb = load_balancer_enabled(cluster)
    before, after = len(cluster.masters) + (-1 if joins else 1), len(cluster.masters)
    first: list[Step] = [plan_step(cluster), rollout.request_loop_start(cluster, ID, ID),
                         planned.snapshot_step(cluster, ID, f"{'join' if joins else 'leave'}-{node.name}")]
    if joins:
        steps = [join.prepare_step(cluster, build, node), *(s for _, s in join.distribute_steps(cluster, build, node))]
        steps += [join.etcd_add_step(cluster, node), join.etcd_start_step(cluster, node)] if etcd else []
        steps += [join.control_plane_step(cluster, node), rolling_step(cluster)]
        steps += [join.load_balancer_start_step(cluster, node)] if lb else []
        steps += [members_step(cluster)] if etcd else []
        steps += [load_balancer_step(cluster)] if lb else []
        steps += [join.election_step(cluster, node)]
        intro = TEXT("membership", "intro-join", node=node, after=after)
    else:
        steps = [leave.load_balancer_step(cluster, node)] if lb else []
        steps += [leave.control_plane_step(cluster, node), rolling_step(cluster)]
        steps += [leave.etcd_remove_step(cluster, node), members_step(cluster)] if etcd else []
        steps += [load_balancer_step(cluster)] if lb else []
        intro = TEXT("membership", "intro-leave", node=node, before=before, after=after)
    return Chapter(
        **TEXT.chapter(ID, node=node, verb=TEXT(ID, "verb-join" if joins else "verb-leave")),
        number=NUMBER,
        intro=intro,
        steps=(*first, *steps, rollout.request_loop_stop(cluster, ID, ID)),
    )
