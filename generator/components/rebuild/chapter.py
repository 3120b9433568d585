"""The rebuild chapter: a master whose disk is gone comes back as the same master, from build/<cluster>/ alone.

Its etcd member (when it has one) is removed from the cluster and added back as a new member, since it lost its data;
everything else is the build chapters' own commands for this one node — binaries, the very same certificates,
kubeconfigs, units and configs — then its services start in order and the node serves again, timed from the first
destructive step."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import replace

from generator import daemons, day2
from generator.artifacts import Artifact
from generator.components import recovery
from generator.components.etcd.checks import etcdctl
from generator.components.etcd.facts import facts
from generator.components.etcd.files import client_url, peer_url
from generator.components.load_balancer.service import enabled as load_balancer_enabled
from generator.components.membership import join
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, for_each, on, remote, ssh_prefix
from generator.text import Texts

ID = day2.REBUILD
NUMBER = 17
TEXT = Texts.of_component(__file__)


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []


def rebuilt(cluster: Cluster) -> Node:
    return cluster.node(cluster.spec.rebuild.node)


def helper(cluster: Cluster) -> Node:
    """An etcd member that kept running: where etcdctl changes the membership."""
    node = rebuilt(cluster)
    return next(n for n in cluster.etcd_members if n != node)


def check_step(cluster: Cluster) -> Step:
    node, other = rebuilt(cluster), helper(cluster)
    f = facts(cluster.spec.components.etcd.version)
    others = tuple(n for n in cluster.etcd_members if n != node)
    health = etcdctl(cluster, f, "--command-timeout=3s", "endpoint", "health", members=others)
    script = "\n".join([
        f"{ssh_prefix(cluster, node)} hostname || {{ echo 'no ssh to {node.name}: install it, authorise the "
        "workstation key, and update known_hosts with its new host key'; exit 1; }",
        f"{remote(cluster, other, health)} 2>&1",
    ])
    every = "".join(rf"(?=[\s\S]*^{re.escape(client_url(n))} is healthy)" for n in others)
    return Step(
        **TEXT.step(f"{ID}.check", node=node.name, others=", ".join(n.name for n in others)),
        local=(Command(script, expect=rf"\A(?=[\s\S]*^{re.escape(node.name)}$){every}",
                       example="\n".join([node.name, *(f"{client_url(n)} is healthy: successfully committed "
                                                      "proposal: took = 2.1ms" for n in others)])),),
    )


def remove_step(cluster: Cluster) -> Step:
    node, other = rebuilt(cluster), helper(cluster)
    f = facts(cluster.spec.components.etcd.version)
    own = etcdctl(cluster, f, "--command-timeout=3s", "endpoint", "health", members=(node,))
    listing = etcdctl(cluster, f, "member", "list")
    script = "\n".join([
        *recovery.note_start(cluster, ID),
        f"if {remote(cluster, other, own)} >/dev/null 2>&1; then",
        f"  echo '{node.name} is a healthy member already: nothing to remove'",
        "else",
        f"  id=$({remote(cluster, other, listing)} | "
        f"awk -F', ' -v u={shlex.quote(peer_url(node))} '$4 == u {{ print $1 }}')",
        f'  if [ -n "$id" ]; then {ssh_prefix(cluster, other)} "{etcdctl(cluster, f, "member", "remove")} $id"; '
        f"else echo 'no member {node.name} to remove'; fi",
        "fi",
        f"{remote(cluster, other, listing)}",
    ])
    return Step(
        **TEXT.step(f"{ID}.etcd-remove", node=node.name, helper=other.name),
        local=(Command(script, expect=(rf"^({re.escape(node.name)} is a healthy member already|"
                                       rf"Member +[0-9a-f]+ removed from cluster|"
                                       rf"no member {re.escape(node.name)} to remove)"),
                       example=f"Member 8e9e05c52164694d removed from cluster ad0686389c80c4f7\n"
                               f"166cb32f4eb251d0, started, {other.name}, {peer_url(other)}, {client_url(other)}, "
                               "false"),),
    )


def renamed(step: Step, key: str, step_id: str | None = None, **values: object) -> Step:
    """A membership step's commands under this chapter's id (or `step_id`) and words."""
    return replace(step, **TEXT.step(f"{ID}.{key}", step_id=step_id, **values), warnings=())


def chapter(cluster: Cluster, build: Sequence[Chapter]) -> Chapter | None:
    if day2.planned(cluster) != ID:
        return None
    node = rebuilt(cluster)
    etcd = daemons.ETCD.runs_on(cluster, node)
    steps = [check_step(cluster)]
    steps += [remove_step(cluster)] if etcd else []
    steps += [renamed(join.prepare_step(cluster, build, node), "prepare", node=node.name)]
    steps += [renamed(step, "distribute" if i == 0 else "distribute-more", step_id=f"{ID}.distribute-{component}",
                      node=node.name, component=component)
              for i, (component, step) in enumerate(join.distribute_steps(cluster, build, node))]
    if etcd:
        steps += [renamed(join.etcd_add_step(cluster, node), "etcd-add", node=node.name, helper=helper(cluster).name),
                  renamed(join.etcd_start_step(cluster, node), "etcd-start", node=node.name)]
    steps += [renamed(join.control_plane_step(cluster, node), "control-plane", node=node.name)]
    if load_balancer_enabled(cluster):
        steps += [renamed(join.load_balancer_start_step(cluster, node), "load-balancer", node=node.name)]
    steps += [services_step(cluster), recovery.verify_step(cluster, ID)]
    return Chapter(**TEXT.chapter(ID, node=node.name), number=NUMBER, steps=tuple(steps))


def services_step(cluster: Cluster) -> Step:
    node = rebuilt(cluster)
    units = [s.unit for s in daemons.on_node(cluster, node)]
    return Step(
        **TEXT.step(f"{ID}.services", node=node.name),
        per_node=for_each((node,), lambda n: [
            on(cluster, n, f"systemctl {verb} {' '.join(units)} | xargs", expect=rf"^{' '.join([state] * len(units))}$",
               example=" ".join([state] * len(units)))
            for verb, state in (("is-enabled", "enabled"), ("is-active", "active"))]),
    )
