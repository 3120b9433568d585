"""The renewal chapter's steps: render, request loop, one rolling round over etcd members and masters, ledger check.

Renewal keeps every key and every CA: only leaf certificates (and the kubeconfigs that embed them) get a new serial
and validity. A render already re-issues each leaf within `certificates.renew_before_days` of expiry (and any whose
subject or SANs changed); `invoke render --renew-all` re-issues every leaf at once. What this chapter pushes is
whatever differs from the nodes, so running it again after it succeeded changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from generator import daemons, day2
from generator.artifacts import Artifact
from generator.components import planned, rollout
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Chapter, Step, Text, find_step

ID = "renewal"
NUMBER = 11
CERTIFICATE_FILES = (".pem", ".kubeconfig")  # certificates, their keys, kubeconfigs embedding them


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []  # it pushes what the other components render


def chapter(cluster: Cluster, build: Sequence[Chapter]) -> Chapter | None:
    if day2.planned(cluster) is not None:
        return None  # one change at a time: an upgrade or a membership change renders new certificates itself
    renew = cluster.spec.certificates.renew_before_days
    return Chapter(
        id=ID,
        number=NUMBER,
        title=Text(zh="证书续期", en="Certificate renewal"),
        intro=Text(
            zh=(f"叶子证书的有效期是 {cluster.spec.certificates.leaf_days} 天（`certificates.leaf_days`）。证书过期时"
                "集群会整体停摆：apiserver 连不上 etcd，控制器管理器和调度器连不上 apiserver。本章在它们到期之前"
                f"续期：渲染重新签发 {renew} 天内到期的证书（私钥与 CA 都不变），在后台经 VIP 持续发请求并计数，"
                "然后一次一台节点推送变化了的证书与 kubeconfig，依次重启读取它们的服务，每个服务之后都要通过健康门槛，"
                "最后确认节点上的每个文件都与台账一致。集群全程可用；成功后再执行一次不会改变任何东西。"),
            en=(f"Leaf certificates are valid for {cluster.spec.certificates.leaf_days} days "
                "(`certificates.leaf_days`). When they expire the whole control plane stops: the apiservers cannot "
                "reach etcd, the controller managers and schedulers cannot reach an apiserver. This chapter renews "
                f"them before that: a render re-issues those expiring within {renew} days (keys and CAs stay), "
                "requests through the VIP are counted in the background, then one node at a time the certificates "
                "and kubeconfigs that changed are pushed and the services that read them restarted in turn, each "
                "passing the health gate, and finally every file on the nodes must match the ledger. The cluster "
                "stays available throughout; running the chapter again after it succeeded changes nothing."),
        ),
        steps=(
            render_step(cluster),
            rollout.request_loop_start(cluster, ID, ID),
            restart_step(cluster),
            rollout.request_loop_stop(cluster, ID, ID),
            replace(find_step(build, "verification.certificates"), id=f"{ID}.certificates"),
        ),
    )


def render_step(cluster: Cluster) -> Step:
    renew = cluster.spec.certificates.renew_before_days
    return Step(
        id=f"{ID}.render",
        title=Text(zh="重新签发到期的证书", en="Re-issue the certificates that expire"),
        explain=Text(
            zh=(f"渲染时，剩余有效期不到 {renew} 天（`certificates.renew_before_days`）的叶子证书用原来的私钥重新"
                "签发：新的序列号与有效期，主题与 SAN 不变；嵌有它们的 kubeconfig 也随之更新。输出的 `note:` "
                "行逐个说明重新签发了哪张、为什么（`near expiry`）。CA 与私钥从不在这里重新生成。\n\n"
                f"要立即续期全部叶子证书（例如为了统一到期日），先执行一次 `invoke render --cluster {cluster.ref} "
                "--renew-all`，再执行本章：这一步不会再改变什么，后面的步骤推送全部新证书。CA 本身快到期或泄露"
                "时需要轮换 CA，续期解决不了。"),
            en=(f"The render re-issues, with the same key, each leaf certificate with less than {renew} days left "
                "(`certificates.renew_before_days`): a new serial and validity, the same subject and SANs; the "
                "kubeconfigs that embed one change with it. Its `note:` lines say which were re-issued and why "
                "(`near expiry`). CAs and keys are never made again here.\n\n"
                "To renew every leaf now (to give them one expiry date, say), run "
                f"`invoke render --cluster {cluster.ref} --renew-all` once, then this chapter: this step then "
                "changes nothing more and the next ones push every new certificate. A CA that nearly expires or "
                "leaked needs a CA rotation, which renewal does not do."),
        ),
        # The day-2 chapters' own render command; its sample shows what a renewal's render says.
        local=(replace(planned.render_all(cluster),
                       example=f"  note: kube-scheduler: certificate issued (near expiry)\n"
                               f"rendered {cluster.name} ({cluster.release}) into build/{cluster.name}/: "
                               "7 updated, 159 unchanged"),),
    )


def changes(cluster: Cluster, node: Node) -> list[rollout.Change]:
    """Per service on `node` that has certificates, in start order (etcd before the apiserver it serves): its
    certificates, keys and kubeconfigs (not its units or configs: renewal changes none, and pushing them here would
    mix in another change)."""
    found = []
    for service in daemons.start_order(daemons.on_node(cluster, node)):
        files = tuple(f for f in service.files(cluster, node) if f.endswith(CERTIFICATE_FILES))
        if files:
            found.append(rollout.Change(service.unit, rollout.RESTART, files))
    return found


def restart_step(cluster: Cluster) -> Step:
    return rollout.rolling_step(
        cluster, f"{ID}.restart",
        Text(zh="逐台推送证书并重启", en="Push and restart, one node at a time"),
        Text(
            zh=("一次一台节点，按 etcd、kube-apiserver、控制器管理器、调度器的顺序：比较这个服务在节点上读取的证书、"
                "私钥与 kubeconfig 是否与 build 目录里的逐字节相同，不同才推送（tar 管道）并重启这个服务，然后等它"
                "通过健康门槛，再处理下一个。重启的 kube-apiserver 先让 `/readyz` 失败，haproxy 把请求转给其他 "
                "apiserver；重启的 etcd 成员在一两秒内重新加入；正在当 leader 的调度器交还锁，控制器管理器的锁要等"
                "它过期。文件都相同的节点只检查健康，不重启任何东西。"),
            en=("One node at a time, in the order etcd, kube-apiserver, controller manager, scheduler: compare the "
                "certificates, keys and kubeconfigs that service reads on the node with those in the build "
                "directory byte for byte, push them (tar pipe) and restart the service only if they differ, and "
                "wait until it passes the health gate before the next one. A restarting kube-apiserver fails "
                "`/readyz` first and haproxy sends requests to the others; a restarted etcd member rejoins within "
                "a second or two; a leading scheduler gives its lock back, the controller manager's lock must "
                "expire first. A node whose files are all equal is only checked, nothing restarts."),
        ),
        cluster.control_plane, lambda node: changes(cluster, node), ID,
    )
