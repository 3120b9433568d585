"""A master leaves: out of the load balancer and the elections first, the other masters updated, then out of etcd
(`etcdctl member remove`, which cannot be undone), its services disabled."""

from __future__ import annotations

import shlex

from generator import daemons
from generator.components.etcd.checks import etcdctl, runner
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.load_balancer.service import ID as LOAD_BALANCER
from generator.components.membership.common import ID
from generator.components.membership.join import control_plane
from generator.model import Cluster, Node
from generator.steps import Step, Text, on, sudo

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
        id=f"{ID}.retire-load-balancer",
        title=Text(zh="离开的 master 退出负载均衡", en="Take the leaving master out of the load balancer"),
        explain=Text(
            zh=(f"先停 {node.name} 的 keepalived：它正常停止时发出优先级 0 的通告，VIP 若在它上面，会在一秒左右移到"
                "优先级最高的其他 master；再停它的 haproxy。两者都 `disable`，开机也不再启动。其他 master 的 haproxy "
                "还列着它的 apiserver，下一步处理。"),
            en=(f"Stop {node.name}'s keepalived first: a clean stop sends a priority-0 advert, so the VIP, if it is "
                "there, moves within about a second to the other master with the highest priority; then its "
                "haproxy. Both are `disable`d, so a reboot does not start them again. The other masters' haproxy "
                "still list its apiserver; the next steps take care of that."),
        ),
        per_node=((node, (on(cluster, node, stop(cluster, load_balancer(cluster, node)), expect=STOPPED,
                             example="still active: 0"),)),),
    )


def control_plane_step(cluster: Cluster, node: Node) -> Step:
    order = list(reversed(control_plane(cluster, node)))
    return Step(
        id=f"{ID}.retire-control-plane",
        title=Text(zh="停止离开的 master 的控制平面", en="Stop the leaving master's control plane"),
        explain=Text(
            zh=("按调度器、控制器管理器、kube-apiserver 的顺序停止并 `disable`。若它是某个锁的 leader，锁交给其他 "
                "master（调度器停止时交还，控制器管理器的锁要等过期）；kube-apiserver 停止时先让 `/readyz` 失败，"
                "其他 master 的 haproxy 几秒内把它标成 DOWN，不再转发请求给它。"),
            en=("Stop and `disable` the scheduler, the controller manager, then kube-apiserver. A lock it leads "
                "goes to another master (the scheduler gives it back on stop, the controller manager's expires "
                "first); a stopping kube-apiserver fails `/readyz` first, and within seconds the other masters' "
                "haproxy mark it DOWN and stop sending it requests."),
        ),
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
        id=f"{ID}.etcd-remove",
        title=Text(zh="etcdctl member remove：离开的 master 退出 etcd", en="etcdctl member remove: the leaving master "
                   "leaves etcd"),
        explain=Text(
            zh=(f"在 {member.name} 上按名字查到 {node.name} 的成员 ID，执行 `member remove`；已经不是成员就什么也不做。"
                f"被移除的成员会自己停止；再在 {node.name} 上停止并 `disable` etcd。之后集群有 {n} 个成员，多数是 "
                f"{n // 2 + 1}。它的数据目录留在原处，机器下线时再删除。"),
            en=(f"On {member.name}, find {node.name}'s member id by its name and `member remove` it; if it is no "
                f"member any more, nothing happens. A removed member stops by itself; then etcd is stopped and "
                f"`disable`d on {node.name}. The cluster then has {n} members, majority {n // 2 + 1}. Its data "
                "directory stays where it is until the machine is decommissioned."),
        ),
        destructive=Text(
            zh=(f"`member remove` 不可撤销：{node.name} 的 etcd 再也不能用它的数据目录重新加入；要让它回来，必须清空"
                "数据目录，作为新成员重新 `member add`。"),
            en=(f"`member remove` cannot be undone: {node.name}'s etcd can never rejoin with its data directory; to "
                "bring it back, empty the directory and add it as a new member with `member add`."),
        ),
        per_node=(
            (member, (on(cluster, member, remove, expect=r"(Member \S+ removed from cluster|is not a member)",
                         example="Member 8e9e05c52164694d removed from cluster 3f2d4a6b7c8d9e0f"),)),
            (node, (on(cluster, node, stop(cluster, [daemons.ETCD.unit]), expect=STOPPED,
                       example="still active: 0"),)),
        ),
        serial=True,
    )
