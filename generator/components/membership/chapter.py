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
from generator.steps import Chapter, Step, Text

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
        steps = [join.prepare_step(cluster, build, node), join.distribute_step(cluster, build, node)]
        steps += [join.etcd_add_step(cluster, node), join.etcd_start_step(cluster, node)] if etcd else []
        steps += [join.control_plane_step(cluster, node), rolling_step(cluster)]
        steps += [join.load_balancer_start_step(cluster, node)] if lb else []
        steps += [members_step(cluster)] if etcd else []
        steps += [load_balancer_step(cluster)] if lb else []
        steps += [join.election_step(cluster, node)]
        intro = Text(
            zh=(f"{node.name}（{node.ip}）作为第 {after} 台 master 加入正在运行的集群，集群一直可用：先准备它、推送它的"
                "文件；etcd 先 `member add` 再启动它的成员；启动它的控制平面；再一次一台更新其他 master（新证书、etcd "
                "地址、haproxy 后端、keepalived 对端）；最后启动它的负载均衡，确认 etcd 成员与每台 haproxy 的后端，"
                "并让它赢一次选主。全程在后台经 VIP 发请求计数。完成后删除集群文件的 `membership` 一节。"),
            en=(f"{node.name} ({node.ip}) joins the running cluster as master number {after} while it stays "
                "available: prepare it and push its files; `member add` it to etcd before its member starts; start "
                "its control plane; update the other masters one at a time (new certificates, etcd servers, haproxy "
                "backends, keepalived peers); start its load balancer last, check etcd's members and every "
                "haproxy's backends, and have it win an election. Requests through the VIP are counted in the "
                "background throughout. Afterwards delete the cluster file's `membership` section."),
        )
    else:
        steps = [leave.load_balancer_step(cluster, node)] if lb else []
        steps += [leave.control_plane_step(cluster, node), rolling_step(cluster)]
        steps += [leave.etcd_remove_step(cluster, node), members_step(cluster)] if etcd else []
        steps += [load_balancer_step(cluster)] if lb else []
        intro = Text(
            zh=(f"{node.name}（{node.ip}）离开集群，master 从 {before} 台变成 {after} 台，集群一直可用："
                "它先退出负载均衡与选主，停止它的控制平面；其他 master 一次一台更新（新证书、etcd 地址、haproxy "
                "后端、keepalived 对端）；然后 `member remove` 让它退出 etcd（不可撤销，要加 `--allow-destructive`）"
                "，最后确认 etcd 成员与每台 haproxy 的后端。全程在后台经 VIP 发请求计数。完成后删除集群文件的 "
                "`membership` 一节。"),
            en=(f"{node.name} ({node.ip}) leaves; the masters go from {before} to {after} while the cluster stays "
                "available: it leaves the load balancer and the elections and its control plane stops; the other "
                "masters are updated one at a time (new certificates, etcd servers, haproxy backends, keepalived "
                "peers); then `member remove` takes it out of etcd (cannot be undone: needs "
                "`--allow-destructive`), and etcd's members and every haproxy's backends are checked. Requests "
                "through the VIP are counted in the background throughout. Afterwards delete the cluster file's "
                "`membership` section."),
        )
    return Chapter(
        id=ID,
        number=NUMBER,
        title=Text(zh=f"成员变更：{node.name} {'加入' if joins else '离开'}",
                   en=f"Membership: {node.name} {'joins' if joins else 'leaves'}"),
        notebook_title=Text(zh="成员变更：一台 master 加入或离开", en="Membership: a master joins or leaves"),
        intro=intro,
        steps=(*first, *steps, rollout.request_loop_stop(cluster, ID, ID)),
    )
