"""The upgrade chapter's steps: plan and skew, request loop, snapshot, new binaries, two rolling rounds, versions."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import replace

from generator import daemons, day2
from generator.artifacts import Artifact
from generator.components import planned, rollout
from generator.components.load_balancer.service import enabled as load_balancer_enabled
from generator.components.prerequisites.binaries import installed_check, kube_download_step
from generator.components.prerequisites.facts import facts as download_facts
from generator.components.upgrade.skew import facts_table, rules
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, Text, pki_file
from generator.versions import Release

ID = day2.UPGRADE
NUMBER = 12
KUBECTL = "kubectl"  # no service: the binary alone is pushed


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []  # the per-node diffs come from generator/render.py, which renders the cluster as it runs now


def chapter(cluster: Cluster, build: Sequence[Chapter]) -> Chapter | None:
    if day2.planned(cluster) != ID:
        return None
    old, new = day2.current_release(cluster), cluster.release
    n = len(cluster.masters)
    return Chapter(
        id=ID,
        number=NUMBER,
        title=Text(zh=f"升级：{old} → {new}", en=f"Upgrade: {old} → {new}"),
        notebook_title=Text(zh="升级到下一个次版本", en="Upgrade to the next minor release"),
        intro=Text(
            zh=(f"本章把 {n} 台 master 从 Kubernetes {old}（集群文件的 `upgrade.from`）升级到 {new}，集群一直可用："
                f"先渲染 {new} 的全部文件并逐个节点列出与现在的差别，确认每台 master 现在的版本，在后台经 VIP "
                "持续发请求并计数，保存 etcd 快照；然后分两轮、一次一台 master：先是 kube-apiserver，"
                "再是控制器管理器与调度器，每台之后都要通过健康门槛。执行完后删除集群文件里的 `upgrade` 一节："
                f"其余都已是 {new}，不会再有变化。"),
            en=(f"This chapter moves the {n} masters from Kubernetes {old} (the cluster file's `upgrade.from`) to "
                f"{new} while the cluster stays available: render every file of {new} and list per node how it "
                "differs from today's, confirm the release each master runs, count requests through the VIP in the "
                "background, save an etcd snapshot; then two rounds, one master at a time: kube-apiserver first, "
                "then the controller manager and the scheduler, each master passing the health gate before the "
                f"next. Afterwards delete the cluster file's `upgrade` section: everything else already says {new}, "
                "so nothing changes."),
        ),
        steps=(
            plan_step(cluster, old),
            skew_step(cluster, old),
            rollout.request_loop_start(cluster, ID, ID),
            planned.snapshot_step(cluster, ID, f"{ID}-to-{new.tag}"),
            binaries_step(cluster),
            apiservers_step(cluster),
            controllers_step(cluster),
            versions_step(cluster),
            rollout.request_loop_stop(cluster, ID, ID),
        ),
    )


def plan_step(cluster: Cluster, old: Release) -> Step:
    new = cluster.release
    table, skew = facts_table(old, new), rules(cluster, old)
    return planned.plan_step(
        cluster, ID,
        Text(zh="计划：两个版本的差别与版本偏差规则", en="Plan: what differs, and the version-skew rules"),
        Text(
            zh=(f"集群文件描述升级之后的集群（`kubernetes_version: {new}`），`upgrade.from: {old}` 说明现在运行的版本。"
                f"渲染生成 {new} 的全部文件；{old} 的文件只在内存里渲染，用来比较。生成器记录的版本事实里，"
                f"两个版本之间变化的有：\n\n{table.zh}\n\n{skew.zh}"),
            en=(f"The cluster file describes the cluster after the upgrade (`kubernetes_version: {new}`); "
                f"`upgrade.from: {old}` says what runs now. The render writes every file of {new}; those of {old} "
                "are rendered in memory only, to compare. Of the version facts the generator keeps, these differ "
                f"between the two releases:\n\n{table.en}\n\n{skew.en}"),
        ),
    )


def version_check(cluster: Cluster, node: Node, expect: str, example: str) -> Command:
    """The release this master's running kube-apiserver reports (/version is open to anonymous clients)."""
    url = f"https://{node.host}:{cluster.spec.api_server.secure_port}/version"
    return Command(shlex.join(["curl", "-sS", "--fail", "--cacert", pki_file(cluster, "ca.pem"), url])
                   + " | grep gitVersion", expect=expect, example=example)


def skew_step(cluster: Cluster, old: Release) -> Step:
    new = cluster.release
    either = rf'"gitVersion": "({re.escape(old.tag)}|{re.escape(new.tag)})"'
    return Step(
        id=f"{ID}.skew",
        title=Text(zh="确认每台 master 现在的版本", en="Confirm the release each master runs"),
        explain=Text(
            zh=(f"每台 master 上正在运行的 kube-apiserver 报告的版本（匿名可读的 `/version`）必须是 {old.tag} 或 "
                f"{new.tag}（中断后重新执行时，有的已经升级）。其他版本说明集群并不在集群文件所说的起点：停下，"
                "先修正 `upgrade.from`。"),
            en=(f"The kube-apiserver running on every master must report {old.tag} or {new.tag} on `/version` "
                "(open to anonymous clients; after an interrupted run some are upgraded already). Any other release "
                "means the cluster is not where the cluster file says it starts: stop and correct `upgrade.from` "
                "first."),
        ),
        per_node=tuple((node, (version_check(cluster, node, either, f'  "gitVersion": "{old.tag}",'),))
                       for node in cluster.masters),
        needs_kube_binaries=True,
    )


def binaries_step(cluster: Cluster) -> Step:
    """The prerequisites chapter's own step for the target release: fetch, check, unpack, the workstation's kubectl."""
    return replace(kube_download_step(cluster, download_facts(cluster.release)), id=f"{ID}.binaries")


def apiservers_step(cluster: Cluster) -> Step:
    new = cluster.release
    lb = load_balancer_enabled(cluster)

    def changes(node: Node) -> list[rollout.Change]:
        """The release's servers (not its elected clients), then what reloads in front of them."""
        services = daemons.on_node(cluster, node)
        return ([rollout.change(cluster, node, s, rollout.RESTART) for s in services if s.binaries and not s.election]
                + [rollout.change(cluster, node, s, rollout.RELOAD) for s in services if s.reload])

    lb_zh = "；haproxy.cfg 有变化时（例如健康检查路径），`reload` 平滑加载，已有连接不断" if lb else ""
    lb_en = "; when haproxy.cfg changes (its health check path, say), `reload` takes it without dropping connections" \
        if lb else ""
    return rollout.rolling_step(
        cluster, f"{ID}.apiservers",
        Text(zh="第一轮：逐台升级 kube-apiserver", en="Round one: kube-apiserver, one master at a time"),
        Text(
            zh=(f"一次一台 master：比较这台 master 上 kube-apiserver 的二进制与文件（unit、证书、加密配置）和 {new} 的"
                f"是否逐字节相同，不同才推送（tar 管道），然后重启 kube-apiserver{lb_zh}。kube-apiserver 停止时先让 "
                "`/readyz` 失败，haproxy 在几秒内把它标成 DOWN，请求转给其他 apiserver（`--shutdown-delay-duration`）。"
                f"最后确认它报告 {new.tag}。已经是新文件的 master 什么也不做，所以重新执行不会重启任何东西。"),
            en=(f"One master at a time: compare its kube-apiserver binary and files (unit, certificates, encryption "
                f"config) with {new}'s byte for byte, push them only if they differ (tar pipe), then restart "
                f"kube-apiserver{lb_en}. A stopping kube-apiserver fails `/readyz` first, haproxy marks it DOWN "
                "within seconds and sends requests to the others (`--shutdown-delay-duration`). Finally it must "
                f"report {new.tag}. A master that has the new files already is left alone, so running this again "
                "restarts nothing."),
        ),
        cluster.masters, changes, "upgrade_apiserver",
        checks=lambda node: [version_check(cluster, node, rf'"gitVersion": "{re.escape(new.tag)}"',
                                           f'  "gitVersion": "{new.tag}",')],
    )


def controllers_step(cluster: Cluster) -> Step:
    new = cluster.release

    def changes(node: Node) -> list[rollout.Change]:
        """The elected clients of the release, and the master's kubectl."""
        return [*(rollout.change(cluster, node, s, rollout.RESTART) for s in daemons.elected(cluster)),
                rollout.Change(KUBECTL, "", binaries=(KUBECTL,))]

    return rollout.rolling_step(
        cluster, f"{ID}.controllers",
        Text(zh="第二轮：逐台升级控制器管理器与调度器", en="Round two: controller manager and scheduler, one master "
             "at a time"),
        Text(
            zh=("全部 kube-apiserver 都已升级，现在一次一台 master 升级 kube-controller-manager 与 kube-scheduler"
                f"（二进制、unit、调度器配置——它的 apiVersion 可能随版本变化），以及 master 上的 kubectl。"
                "重启一个正在当 leader 的实例时，锁要交给别的 master：调度器停止时交还锁，控制器管理器要等锁过期，"
                f"健康门槛等到两把锁都重新有人持有。最后确认三个服务的二进制都报告 {new.tag}。"),
            en=("Every kube-apiserver runs the new release: now, one master at a time, kube-controller-manager and "
                "kube-scheduler (binaries, units, the scheduler's config, whose apiVersion may change with the "
                "release) and the master's kubectl. Restarting the instance that leads hands its lock to another "
                "master: the scheduler gives it back when it stops, the controller manager's expires first; the "
                "health gate waits until both locks are held again. Finally all three daemons' binaries must "
                f"report {new.tag}."),
        ),
        cluster.masters, changes, "upgrade_controllers",
        checks=lambda node: [installed_check(cluster, node)],
    )


def versions_step(cluster: Cluster) -> Step:
    new = cluster.release
    return Step(
        id=f"{ID}.versions",
        title=Text(zh="确认每台 master 都运行新版本", en="Every master runs the new release"),
        explain=Text(
            zh=(f"两轮都完成后，每台 master 上运行的 kube-apiserver 报告 {new.tag}，三个服务的二进制都是 {new.tag}。"),
            en=(f"With both rounds done, the kube-apiserver running on every master reports {new.tag}, and all "
                f"three daemons' binaries are {new.tag}."),
        ),
        per_node=tuple((node, (version_check(cluster, node, rf'"gitVersion": "{re.escape(new.tag)}"',
                                             f'  "gitVersion": "{new.tag}",'), installed_check(cluster, node)))
                       for node in cluster.masters),
        needs_kube_binaries=True,
    )
