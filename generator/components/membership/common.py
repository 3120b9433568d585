"""Steps the joining and the leaving order share: the plan, the other masters' rolling update, and the checks of
etcd's member list and of the load balancer that end both."""

from __future__ import annotations

import re
import shlex

from generator import daemons, day2
from generator.components import planned, rollout
from generator.components.etcd.checks import etcdctl, runner
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.kube_apiserver.files import ID as APISERVER
from generator.components.load_balancer.shell import backend_status_function, holder_functions, names_pattern
from generator.model import Cluster, Node
from generator.service import Service
from generator.steps import Command, Step, Text, on, pki_file

ID = day2.MEMBERSHIP
LB_WAIT = 30  # seconds for haproxy to see a backend UP (rise 2 × 2 s) and keepalived to settle


def changed(cluster: Cluster) -> Node:
    """The node that joins or leaves (the checks allow one per change)."""
    return (*day2.joining(cluster), *day2.leaving(cluster))[0]


def staying(cluster: Cluster) -> tuple[Node, ...]:
    """The masters that run before and after the change, in file order."""
    return tuple(n for n in cluster.masters if n not in day2.joining(cluster))


def plan_step(cluster: Cluster) -> Step:
    node = changed(cluster)
    joins = node in day2.joining(cluster)
    cert = pki_file(cluster, f"{APISERVER}.pem")
    ip = re.escape(node.ip)
    shown = f"X509v3 Subject Alternative Name: \n    DNS:kubernetes, IP Address:{staying(cluster)[0].ip}"
    if joins:
        expect, example = rf"IP Address:{ip}(,|$)", f"{shown}, IP Address:{node.ip}"
    else:
        expect, example = rf"\A(?![\s\S]*IP Address:{ip}(,|$))[\s\S]*Subject Alternative Name", shown
    san = Command(shlex.join(["openssl", "x509", "-in", cert, "-noout", "-ext", "subjectAltName"]), expect=expect,
                  example=example)
    verb_zh, verb_en = ("加入", "joins") if joins else ("离开", "leaves")
    return planned.plan_step(
        cluster, ID,
        Text(zh="计划：每个文件的变化，重新签发的证书", en="Plan: what changes in each file, certificates re-issued"),
        Text(
            zh=(f"{node.name}（{node.ip}）{verb_zh}集群。集群文件的 `nodes` 是变更之后的成员，`membership` 一节说明现在"
                "的不同；渲染只生成变更之后的文件，变更之前的只在内存里渲染、用来比较。SAN 里有 master 地址的证书"
                "（kube-apiserver 的服务端证书，控制器管理器与调度器的证书，以及嵌入它们的 kubeconfig）会重新签发，"
                "`invoke render` 逐个说明原因（`SANs changed`），私钥保持不变；CA 永远不会重新生成。"
                f"第二条命令确认 kube-apiserver 的证书{'已含有' if joins else '不再含有'} {node.ip}。"),
            en=(f"{node.name} ({node.ip}) {verb_en} the cluster. The cluster file's `nodes` are the members after the "
                "change and its `membership` section says what differs today; the render writes the files after "
                "the change only, those from before are rendered in memory, to compare. Certificates whose SANs "
                "name the masters (kube-apiserver's serving certificate, the controller manager's and the "
                "scheduler's, and the kubeconfigs embedding them) are re-issued, each with its reason "
                "(`SANs changed`) printed by `invoke render`, their keys kept; the CA is never made again. The "
                f"second command confirms kube-apiserver's certificate {'names' if joins else 'no longer names'} "
                f"{node.ip}."),
        ),
        checks=(san,),
    )


def rolling_step(cluster: Cluster) -> Step:
    """The masters that stay: new certificates, units (etcd servers), haproxy backends and keepalived peers."""
    def action(service: Service) -> str:
        if service is daemons.ETCD:
            return ""  # its unit changes only in --initial-cluster, read while the data directory is empty
        return rollout.RELOAD if service.reload else rollout.RESTART

    def changes(node: Node) -> list[rollout.Change]:
        services = daemons.start_order(daemons.on_node(cluster, node))
        return [rollout.change(cluster, node, s, action(s)) for s in services]

    return rollout.rolling_step(
        cluster, f"{ID}.rolling",
        Text(zh="逐台更新其他 master", en="Update the other masters, one at a time"),
        Text(
            zh=("一次一台留下的 master：比较它的每个服务的文件与新渲染的是否逐字节相同，只推送不同的，"
                "再让用到它们的服务生效：kube-apiserver（新证书，`--etcd-servers` 列出变更后的 etcd 成员）、"
                "控制器管理器与调度器（新证书）重启；haproxy（后端列表）与 keepalived（`unicast_peer` 列表）用 "
                "`reload` 平滑加载，VIP 不动。etcd 的 unit 只推送不重启：变化的只有 `--initial-cluster`，"
                "它只在数据目录为空时才被读取。"),
            en=("One staying master at a time: compare each service's files with the new render byte for byte, push "
                "only those that differ, then make the services using them take them: kube-apiserver (new "
                "certificate, `--etcd-servers` listing the etcd members after the change), the controller manager "
                "and the scheduler (new certificates) restart; haproxy (its backends) and keepalived (its "
                "`unicast_peer` list) `reload`, which keeps the VIP where it is. etcd's unit is pushed but not "
                "restarted: only `--initial-cluster` changes, which etcd reads only while its data directory is "
                "empty."),
        ),
        staying(cluster), changes, "membership",
    )


def members_step(cluster: Cluster) -> Step:
    f = etcd_facts(cluster.spec.components.etcd.version)
    node = runner(cluster)
    names = sorted(n.name for n in cluster.etcd_members)
    listing = (f"{etcdctl(cluster, f, 'member', 'list')} | awk -F ', ' '{{print $3 \"=\" $2}}' | sort | "
               "paste -sd ' '")
    want = " ".join(f"{name}=started" for name in names)
    return Step(
        id=f"{ID}.etcd-members",
        title=Text(zh="etcd 成员恰好是集群文件里的那些", en="etcd's members are exactly the cluster file's"),
        explain=Text(
            zh=(f"`member list` 必须恰好列出 {len(names)} 个成员（{'、'.join(names)}），每个都是 `started`；"
                "`endpoint health` 必须对它们每一个都报告健康。多一个、少一个或有 `unstarted` 的成员都不行。"),
            en=(f"`member list` must name exactly the {len(names)} members ({', '.join(names)}), each `started`, and "
                "`endpoint health` must find every one of them healthy. One more, one less or an `unstarted` "
                "member fails the step."),
        ),
        per_node=((node, (
            on(cluster, node, listing, expect=rf"^{re.escape(want)}$", example=want),
            on(cluster, node, etcdctl(cluster, f, "endpoint", "health"), expect=r"is healthy",
               example=f"https://{node.host}:2379 is healthy: successfully committed proposal: took = 2.1ms"),
        )),),
    )


def load_balancer_step(cluster: Cluster) -> Step:
    masters = cluster.masters
    n = len(masters)
    names = " ".join(m.name for m in masters)
    script = "\n".join([
        *holder_functions(cluster),
        *backend_status_function(cluster),
        f"end=$((SECONDS + {LB_WAIT}))",
        "while :; do",
        f'  up=0; for m in {names}; do for s in {names}; do',
        '    [ "$(backend_status "$m" "$s")" = UP ] && up=$((up + 1)); done; done',
        '  vip=$(holders)',
        f'  [ "$up" -eq {n * n} ] && [ "$(echo $vip | wc -w)" -eq 1 ] && break',
        '  [ $SECONDS -ge $end ] && break; sleep 1',
        "done",
        f'for m in {names}; do echo "haproxy on $m:" $(for s in {names}; do echo "$s=$(backend_status "$m" "$s")"; '
        "done); done",
        f'echo "load balancer: $up of {n * n} backends UP, VIP on:" $vip',
    ])
    return Step(
        id=f"{ID}.load-balancer",
        title=Text(zh="每台 haproxy 都看到全部后端，VIP 只在一台上", en="Every haproxy sees every backend; the VIP "
                   "is on one master"),
        explain=Text(
            zh=(f"从每台 master 的 haproxy 统计页读出它对每个 kube-apiserver 后端的判断：{n} 台 × {n} 个后端都必须是 UP"
                f"（最多等 {LB_WAIT} 秒：haproxy 连续 2 次检查成功才标成 UP），VIP 恰好在一台 master 上。"),
            en=(f"From each master's haproxy stats page, read what it thinks of each kube-apiserver backend: all "
                f"{n} × {n} must be UP (within {LB_WAIT} s: haproxy marks a backend UP after 2 good checks), and the "
                "VIP must be on exactly one master."),
        ),
        local=(Command(script, expect=rf"^load balancer: {n * n} of {n * n} backends UP, VIP on: "
                                      rf"{names_pattern(cluster)}$",
                       example=f"haproxy on {masters[0].name}: " + " ".join(f"{m.name}=UP" for m in masters)
                       + f"\nload balancer: {n * n} of {n * n} backends UP, VIP on: {masters[0].name}"),),
        needs_kube_binaries=True,
    )
