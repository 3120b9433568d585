"""A master leaves: out of the load balancer and the elections first, the other masters updated, then out of etcd
(`etcdctl member remove`, which cannot be undone), its services disabled."""

from __future__ import annotations

import shlex

from generator import daemons
from generator.components.etcd.checks import etcdctl, runner
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.load_balancer.service import ID as LOAD_BALANCER
from generator.components.membership.join import control_plane
from generator.model import Cluster, Node
from generator.steps import Step, on, sudo
from generator.text import Texts

TEXT = Texts.of_component(__file__)

STOPPED = r"^still active: 0$"  # the stand-in systemctl of the lab may print warnings too


def stop(cluster: Cluster, units: list[str]) -> str:
    """Stop and disable `units` in this order; then count those still active (none may be)."""
    s = sudo(cluster)
    names = " ".join(units)
    return (f"for u in {names}; do {s}systemctl stop $u && {s}systemctl disable $u || exit 1; done; "
            f'echo "still active: $(systemctl is-active {names} | grep -cx active)"')


def load_balancer(cluster: Cluster, node: Node) -> list[str]:
    """The node's load-balancer services in the order they stop: keepalived (and the VIP) before the haproxy it
    tracks."""
    return [s.unit for s in reversed(daemons.start_order(daemons.on_node(cluster, node)))
            if s.component == LOAD_BALANCER]


def load_balancer_step(cluster: Cluster, node: Node) -> Step:
    return Step(
        **TEXT.step("membership.retire-load-balancer", node=node),
        per_node=((node, (on(cluster, node, stop(cluster, load_balancer(cluster, node)), expect=STOPPED,
                             example="still active: 0"),)),),
    )


def control_plane_step(cluster: Cluster, node: Node) -> Step:
    order = list(reversed(control_plane(cluster, node)))
    return Step(
        **TEXT.step("membership.retire-control-plane"),
        per_node=((node, (on(cluster, node, stop(cluster, order), expect=STOPPED,
                             example="still active: 0"),)),),
        needs_kube_binaries=True,
    )


def etcd_remove_step(cluster: Cluster, node: Node) -> Step:
    f = etcd_facts(cluster.spec.components.etcd.version)
    member = runner(cluster)
    find = f"{etcdctl(cluster, f, 'member', 'list')} | awk -F ', ' -v n={shlex.quote(node.name)} '$3 == n {{print $1}}'"
    remove = (f'id=$({find}); if [ -z "$id" ]; then echo "{node.name} is not a member (removed already)"; '
              f'else {etcdctl(cluster, f)} member remove "$id"; fi')
    n = len(cluster.etcd_members)
    return Step(
        **TEXT.step("membership.etcd-remove", member=member, node=node, n=n, majority=n // 2 + 1),
        per_node=(
            (member, (on(cluster, member, remove, expect=r"(Member +[0-9a-f]+ removed from cluster|is not a member)",
                         example="Member 8e9e05c52164694d removed from cluster 3f2d4a6b7c8d9e0f"),)),
            (node, (on(cluster, node, stop(cluster, [daemons.ETCD.unit]), expect=STOPPED,
                       example="still active: 0"),)),
        ),
        serial=True,
    )
