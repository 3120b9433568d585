"""A master joins: its binaries and files, `etcdctl member add` before its etcd starts, its control plane, the
other masters' update, then its load balancer, and an election it must be able to win."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from generator import daemons
from generator.components import leader
from generator.components.etcd.checks import etcdctl, runner
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.etcd.files import Paths as EtcdPaths
from generator.components.etcd.files import peer_url
from generator.components.load_balancer.service import ID as LOAD_BALANCER
from generator.components.load_balancer.shell import on_node_function
from generator.components.membership.common import ID
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, Text, on, pki_file, sudo

# The build chapters' steps this chapter runs for the new node only, in this order (see node_commands).
PREPARE = ("prerequisites.time", "prerequisites.swap", "prerequisites.directories", "prerequisites.kube-binaries",
           "prerequisites.kube-install", "prerequisites.etcd-binaries", "prerequisites.etcd-install")
ELECTION_WAIT = 90  # seconds: a lock not given back on stop (the controller manager's) expires first
POLL = "0.5"


def distribute_ids(cluster: Cluster, node: Node) -> tuple[str, ...]:
    """The distribute step of each component with a service on `node`, then the load balancer's config check."""
    components = dict.fromkeys(s.component for s in daemons.on_node(cluster, node))
    checks = (f"{LOAD_BALANCER}.validate",) if LOAD_BALANCER in components else ()
    return (*(f"{c}.distribute" for c in components), *checks)


def control_plane(cluster: Cluster, node: Node) -> list[str]:
    """The node's services from the Kubernetes release, in start order: what starts once its etcd runs."""
    return [s.unit for s in daemons.start_order(daemons.on_node(cluster, node)) if s.binaries]


def node_commands(build: Sequence[Chapter], node: Node, ids: tuple[str, ...]) -> tuple[tuple[Command, ...],
                                                                                     tuple[Command, ...]]:
    """The workstation's commands and `node`'s commands of these build steps, in order: the same strings the build
    chapters run, for one node."""
    steps = {s.id: s for chapter in build for s in chapter.steps}
    local: list[Command] = []
    remote: list[Command] = []
    for step in (steps[step_id] for step_id in ids):
        local += step.local
        remote += [c for n, commands in step.per_node if n == node for c in commands]
    return tuple(local), tuple(remote)


def prepare_step(cluster: Cluster, build: Sequence[Chapter], node: Node) -> Step:
    local, remote = node_commands(build, node, PREPARE)
    return Step(
        id=f"{ID}.prepare",
        title=Text(zh="准备加入的 master", en="Prepare the joining master"),
        explain=Text(
            zh=(f"与前置准备一章相同的命令，只对 {node.name}：时钟与 swap 检查、安装目录；运维机上的发布包已下载校验过"
                "就只重新解压（幂等），再把 Kubernetes 与 etcd 的二进制推送到它上面，并确认版本。"),
            en=(f"The prerequisites chapter's own commands, for {node.name} only: clock and swap checks, the install "
                "directories; on the workstation the release tarballs, fetched and checked before, are unpacked "
                "again (idempotent); then the Kubernetes and etcd binaries go to the node and their versions are "
                "confirmed."),
        ),
        local=local,
        per_node=((node, remote),),
        needs_kube_binaries=True,
    )


def distribute_step(cluster: Cluster, build: Sequence[Chapter], node: Node) -> Step:
    _, remote = node_commands(build, node, distribute_ids(cluster, node))
    return Step(
        id=f"{ID}.distribute",
        title=Text(zh="把证书、unit 与配置推送到加入的 master", en="Push certificates, units and configs to the "
                   "joining master"),
        explain=Text(
            zh=(f"etcd、kube-apiserver、控制器管理器、调度器与负载均衡各章的分发命令，只对 {node.name}：它自己的证书"
                "（新签发）、kubeconfig、unit 与配置，私钥 0600；再让 haproxy 与 keepalived 在节点上检查配置。"
                "这一步只放文件，什么也不启动。它的 etcd unit 写的是 `--initial-cluster-state=existing`：加入一个已在"
                "运行的集群，而不是新建一个。"),
            en=(f"The distribute commands of the etcd, kube-apiserver, controller-manager, scheduler and "
                f"load-balancer chapters, for {node.name} only: its own (newly issued) certificates, kubeconfigs, "
                "units and configs, keys 0600; then haproxy and keepalived check their configs on the node. Nothing "
                "starts yet. Its etcd unit says `--initial-cluster-state=existing`: it joins a running cluster "
                "instead of making a new one."),
        ),
        per_node=((node, remote),),
    )


def etcd_add_step(cluster: Cluster, node: Node) -> Step:
    f = etcd_facts(cluster.spec.components.etcd.version)
    member = runner(cluster)
    url = peer_url(node)
    add = (f"{etcdctl(cluster, f, 'member', 'list')} | grep -qF {shlex.quote(', ' + url + ',')} || "
           f"{etcdctl(cluster, f, 'member', 'add', node.name, f'--peer-urls={url}')}; "
           f"{etcdctl(cluster, f, 'member', 'list')}")
    n = len(cluster.etcd_members)
    return Step(
        id=f"{ID}.etcd-add",
        title=Text(zh="etcdctl member add：先登记新成员", en="etcdctl member add: register the new member first"),
        explain=Text(
            zh=(f"在 {member.name} 上把 {node.name}（peer 地址 `{url}`）登记为成员，然后才启动它的 etcd：一个没登记的"
                "成员会被其他成员拒绝。已经登记过（地址已在 `member list` 里）就不再登记，所以可以重复执行。登记后"
                f"列表里它是 `unstarted`，集群从 {n - 1} 个成员变成 {n} 个，多数变成 {n // 2 + 1}。"),
            en=(f"On {member.name}, register {node.name} (peer URL `{url}`) as a member before its etcd starts: the "
                "others refuse a member they do not know. A member registered already (its URL in `member list`) "
                f"is not added again, so this can run again. It then shows as `unstarted`; the cluster goes from "
                f"{n - 1} members to {n}, and its majority to {n // 2 + 1}."),
        ),
        warnings=(Text(
            zh=(f"从登记到新成员启动之间，{n} 个成员里只有 {n - 1} 个在运行：这段时间不能再有成员出故障。"
                "所以登记后紧接着启动它，不要停在这里。"),
            en=(f"Between this step and the new member's start, {n - 1} of the {n} members run: the cluster "
                "survives no further failure meanwhile. Start it right after; do not stop here."),
        ),),
        per_node=((member, (on(cluster, member, add, expect=rf", {re.escape(url)}, ",
                               example=f"8e9e05c52164694d, unstarted, , {url}, , false"),)),),
    )


def start(cluster: Cluster, units: list[str]) -> str:
    """Enable and start `units` in order, leaving running ones alone (so a re-run restarts nothing)."""
    s = sudo(cluster)
    names = " ".join(units)
    return (f"{s}systemctl daemon-reload && {s}systemctl enable {names} && for u in {names}; do "
            f"systemctl is-active --quiet $u || {s}systemctl start $u || exit 1; done")


def etcd_start_step(cluster: Cluster, node: Node) -> Step:
    s = sudo(cluster)
    data = EtcdPaths(cluster).data_dir
    etcd = daemons.ETCD.unit
    command = f"{s}install -d -m 0700 {data} && {start(cluster, [etcd])} && systemctl is-active {etcd}"
    return Step(
        id=f"{ID}.etcd-start",
        title=Text(zh="启动加入的 master 上的 etcd", en="Start etcd on the joining master"),
        explain=Text(
            zh=("数据目录以 0700 创建，然后启动 etcd：它从其他成员取得集群的数据，完成后才通知 systemd 启动成功"
                "（`Type=notify`）。已经在运行就不再启动，所以可以重复执行。"),
            en=("The data directory is made 0700, then etcd starts: it fetches the cluster's data from the other "
                "members and tells systemd it has started only then (`Type=notify`). A running etcd is left alone, "
                "so this can run again."),
        ),
        per_node=((node, (on(cluster, node, command, expect=r"^active$", example="active"),)),),
    )


def control_plane_step(cluster: Cluster, node: Node) -> Step:
    port = cluster.spec.api_server.secure_port
    health = Command(shlex.join(["curl", "-sS", "--fail", "--retry", "30", "--retry-delay", "1",
                                 "--retry-all-errors", "--cacert", pki_file(cluster, "ca.pem"),
                                 f"https://{node.host}:{port}/healthz"]), expect=r"^ok$", example="ok")
    return Step(
        id=f"{ID}.control-plane",
        title=Text(zh="启动加入的 master 上的 kube-apiserver、控制器管理器与调度器",
                   en="Start kube-apiserver, the controller manager and the scheduler on the joining master"),
        explain=Text(
            zh=(f"启动三个服务，再直接访问 {node.name} 的 `/healthz`（最多重试 30 秒），应返回 `ok`。haproxy 还不知道"
                "这个后端，所以还没有客户端的请求到达它；控制器管理器与调度器经 VIP 连接，加入选主，但现有的 leader "
                "继续持有锁。"),
            en=(f"Start the three services, then ask {node.name}'s `/healthz` directly (retrying for up to 30 s): it "
                "must answer `ok`. No haproxy knows this backend yet, so no client's request reaches it; the "
                "controller manager and the scheduler connect through the VIP and join the elections, while the "
                "current leaders keep their locks."),
        ),
        per_node=((node, (on(cluster, node, start(cluster, control_plane(cluster, node))), health)),),
        needs_kube_binaries=True,
    )


def load_balancer_start_step(cluster: Cluster, node: Node) -> Step:
    units = [s.unit for s in daemons.on_node(cluster, node) if s.component == LOAD_BALANCER]
    command = f"{start(cluster, units)} && systemctl is-active {' '.join(units)}"
    return Step(
        id=f"{ID}.load-balancer-start",
        title=Text(zh="启动加入的 master 上的 haproxy 与 keepalived",
                   en="Start haproxy and keepalived on the joining master"),
        explain=Text(
            zh=(f"最后才启动：现在其他 master 的 keepalived 已把 {node.name} 列为 `unicast_peer`。早于这一步启动，"
                "它收不到现有 VIP 持有者的通告，会以为没有 MASTER 而自己也拿起 VIP（两台同时持有）。它的优先级最低，"
                "启动后是 BACKUP，VIP 不动。"),
            en=(f"Started last: by now every other master's keepalived lists {node.name} in `unicast_peer`. Started "
                "earlier, it would hear no advert from the VIP's holder, conclude there is no MASTER and take the "
                "VIP too (two holders at once). Its priority is the lowest, so it starts as BACKUP and the VIP "
                "stays where it is."),
        ),
        per_node=((node, (on(cluster, node, command, expect=r"^active\nactive$", example="active\nactive"),)),),
    )


def takeover_script(cluster: Cluster, node: Node, component: str, from_lease: bool) -> str:
    s = sudo(cluster)
    others = " ".join(n.name for n in cluster.masters if n != node)
    figure = f"{ID}_{component.replace('-', '_')}_takeover_seconds"
    return "\n".join([
        *on_node_function(cluster),
        f"lead() {{ {leader.fresh_holder(cluster, component, from_lease)}; }} 2>/dev/null",
        f"end=$((SECONDS + {ELECTION_WAIT}))",
        f'if [ "$(lead)" = {node.name} ]; then',
        f"  on_node {node.name} '{s}systemctl stop {component}'",
        f'  until l=$(lead); [ -n "$l" ] && [ "$l" != {node.name} ] || [ $SECONDS -ge $end ]; do sleep {POLL}; done',
        f"  on_node {node.name} '{s}systemctl start {component}'",
        "fi",
        f'echo "{component} leader before: $(lead)"',
        "t0=$(date +%s.%N)",
        f"for n in {others}; do on_node \"$n\" '{s}systemctl stop {component}' & done; wait",
        f"end=$((SECONDS + {ELECTION_WAIT}))",
        f'until [ "$(lead)" = {node.name} ] || [ $SECONDS -ge $end ]; do sleep {POLL}; done',
        "t1=$(date +%s.%N); won=$(lead)",
        f'echo "{component} leader while only {node.name} ran it: ${{won:-none}}"',
        f"for n in {others}; do on_node \"$n\" '{s}systemctl start {component}' & done; wait",
        f"awk -v a=\"$t0\" -v b=\"$t1\" 'BEGIN {{ printf \"measured: {figure}=%.3f\\n\", b - a }}'",
        f'[ "$won" = {node.name} ]',
    ])


def election_step(cluster: Cluster, node: Node) -> Step:
    commands = []
    for service in reversed(daemons.elected(cluster)):  # the scheduler first, as the explanation tells it
        component, name = service.unit, re.escape(node.name)
        lease = service.election.lock(cluster).from_lease if service.election else False
        commands.append(Command(
            takeover_script(cluster, node, component, lease),
            expect=rf"^{component} leader while only {name} ran it: {name}$",
            example=f"{component} leader before: {cluster.masters[0].name}\n{component} leader while only "
                    f"{node.name} ran it: {node.name}\nmeasured: {ID}_{component.replace('-', '_')}"
                    "_takeover_seconds=17.204"))
    return Step(
        id=f"{ID}.election",
        title=Text(zh="加入的 master 能赢得选主", en="The joining master can win the elections"),
        explain=Text(
            zh=("新 master 真的参加选主吗？它已经是 leader 时，先停掉它的实例，等锁到了别的 master 再启动它。"
                f"然后停掉其他 master 上的调度器，等 {node.name} 的调度器拿到锁（锁仍新鲜），再把它们启动回来；"
                f"控制器管理器同样做一次（它停止时不交还锁，要等锁过期）。最多等 {ELECTION_WAIT} 秒，打印 `measured: "
                f"{ID}_kube_scheduler_takeover_seconds=…` 等；锁没有到 {node.name} 手里则失败。"),
            en=("Does the new master really take part in the elections? If it leads already, its instance stops "
                "until another master holds the lock, then starts again. Then stop the scheduler on every other "
                f"master, wait until {node.name}'s scheduler holds the (fresh) lock, then start the others again; "
                "the same for the controller manager (which keeps its lock on stop until it expires). Up to "
                f"{ELECTION_WAIT} s each; prints `measured: {ID}_kube_scheduler_takeover_seconds=…` and its twin; "
                f"fails if the lock did not reach {node.name}."),
        ),
        warnings=(Text(
            zh=f"这段时间只有 {node.name} 上的调度器（或控制器管理器）在运行：在生产集群上挑一个空闲的时候做。",
            en=f"Meanwhile only {node.name} runs the scheduler (or the controller manager): on a production cluster, "
               "pick a quiet moment."),),
        local=tuple(commands),
        needs_kube_binaries=True,
    )
