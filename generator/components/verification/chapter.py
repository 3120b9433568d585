"""Cluster verification: every control-plane service up, reachable through the API endpoint, leaders elected."""

from __future__ import annotations

import re
import shlex

from generator import daemons
from generator.artifacts import Artifact
from generator.components import leader, rollout
from generator.components.admin.files import kubectl
from generator.components.etcd.checks import etcd_ca, etcdctl, runner
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.etcd.files import Paths as EtcdPaths
from generator.components.etcd.files import client_url
from generator.components.kube_apiserver.facts import facts as apiserver_facts
from generator.components.load_balancer.service import enabled as load_balancer_enabled
from generator.components.verification.master_loss import master_loss_step
from generator.components.verification.smoke import cleanup_step, smoke_step
from generator.components.verification.systemd import crash_step, reboot_step
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, Text, for_each, on, pki_file
from generator.versions import Timeline

ID = "verification"


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []


def services_step(cluster: Cluster) -> Step:
    def check(node: Node) -> list[Command]:
        names = [s.unit for s in daemons.on_node(cluster, node)]
        return [on(cluster, node, f"systemctl {verb} {' '.join(names)}", expect=rf"\A(?:{state}\n){{{len(names)}}}\Z",
                   example=f"{state}\n" * len(names)) for verb, state in (("is-enabled", "enabled"),
                                                                        ("is-active", "active"))]

    return Step(
        id=f"{ID}.services",
        title=Text(zh="每台节点的服务都已启用并在运行", en="Every node's services are enabled and running"),
        explain=Text(
            zh=(
                "`systemctl is-enabled` 为每个服务打印一行：必须全部是 `enabled`，节点重启后它们才会自己启动。"
                "`systemctl is-active` 按顺序为每个服务打印一行状态，必须全部是 `active`；只要有一个不是，"
                "它就以非零状态退出。某个服务失败时，用 `journalctl -u <服务> --no-pager -n 50` 查看原因，"
                "再对照“故障排查”一章。"
            ),
            en=(
                "`systemctl is-enabled` prints one line per service: all must be `enabled`, or they will not start "
                "by themselves when the node reboots. `systemctl is-active` prints one state per service, in "
                "order; every one must be `active`, and it exits non-zero if any is not. When one fails, "
                "`journalctl -u <service> --no-pager -n 50` shows why; the troubleshooting chapter lists the usual "
                "messages."
            ),
        ),
        per_node=for_each(cluster.spec.nodes, check),
        needs_kube_binaries=True,
    )


def admin_curl(cluster: Cluster, url: str) -> str:
    return shlex.join(["curl", "-sS", "--fail", "--cacert", pki_file(cluster, "ca.pem"),
                       "--cert", pki_file(cluster, "admin.pem"), "--key", pki_file(cluster, "admin-key.pem"), url])


def apiservers_step(cluster: Cluster) -> Step:
    port = cluster.spec.api_server.secure_port
    tag = re.escape(cluster.release.tag)
    return Step(
        id=f"{ID}.apiservers",
        title=Text(zh="每台 kube-apiserver 直接应答", en="Each kube-apiserver answers directly"),
        explain=Text(
            zh=(
                f"绕过负载均衡，用 admin 证书访问每台 master 的 `https://<IP>:{port}/version`。"
                f"每台都必须应答，且版本为 `{cluster.release.tag}`：升级到一半、某台还是旧版本时，这里能看出来。"
            ),
            en=(
                f"Bypassing the load balancer, each master's `https://<IP>:{port}/version` is asked with the admin "
                f"certificate. Every one must answer with `{cluster.release.tag}`: a master left on an older "
                "release during an upgrade shows up here."
            ),
        ),
        per_node=for_each(cluster.masters, lambda node: [
            Command(admin_curl(cluster, f"https://{node.host}:{port}/version"), expect=rf'"gitVersion": "{tag}"',
                    example=f'  "gitVersion": "{cluster.release.tag}",'),
        ]),
        needs_kube_binaries=True,
    )


# `kubectl get componentstatuses` probes the scheduler and the controller manager on 127.0.0.1. Up to 1.21 it
# asks their insecure ports (10251/10252), which this runbook keeps on loopback; from 1.22 (controller manager)
# and 1.23 (scheduler) it asks the secure ports on 127.0.0.1, where these daemons, bound to the node's IP, do
# not listen (pkg/registry/core/rest/storage_core.go of each release). It is deprecated since 1.19 anyway.
COMPONENTSTATUSES_TRUTHFUL = Timeline(((1, 12), True), ((1, 22), False))


def ready_step(cluster: Cluster) -> Step:
    f = apiserver_facts(cluster.release)
    k = kubectl(cluster)
    commands: list[Command] = []
    zh, en = [], []
    if f.has_readyz:
        commands.append(Command(f"{k} get --raw={shlex.quote('/readyz?verbose')}", expect=rf"^{f.ready_verdict}$",
                                example=f"[+]ping ok\n[+]etcd ok\n{f.ready_verdict}"))
        zh.append(f"通过 API 入口 `{cluster.api_endpoint}`（负载均衡）请求 `/readyz?verbose`："
                  "它逐项列出 kube-apiserver 的就绪检查（包括 etcd 与各个启动后钩子），"
                  f"最后一行必须是 `{f.ready_verdict}`。")
        en.append(f"Through the API endpoint `{cluster.api_endpoint}` (the load balancer), `/readyz?verbose` lists "
                  "kube-apiserver's readiness checks (etcd and every post-start hook included) and must end with "
                  f"`{f.ready_verdict}`.")
    else:
        zh.append("这个版本还没有 `/readyz`（1.16 才加入）。")
        en.append("This release has no `/readyz` yet (it came in 1.16).")
    if COMPONENTSTATUSES_TRUTHFUL.at(cluster.release):
        # componentstatuses names the elected services as their label does ("scheduler")
        lookahead = "".join(rf"(?=[\s\S]*^{s.election.label} Healthy=True$)" for s in daemons.elected(cluster)
                            if s.election)
        query = shlex.quote('jsonpath={range .items[*]}{.metadata.name} {.conditions[0].type}='
                            '{.conditions[0].status}{"\\n"}{end}')
        commands.append(Command(f"{k} get componentstatuses -o {query}",
                                expect=rf"\A(?![\s\S]*=False$){lookahead}",
                                example="scheduler Healthy=True\ncontroller-manager Healthy=True\netcd-0 Healthy=True"))
        zh.append("再用 `kubectl get componentstatuses` 读每个组件的 `Healthy` 条件："
                  "apiserver 在 127.0.0.1 上探测调度器与控制器管理器的不安全端口（本手册把它们限制在本机），"
                  "并探测每个 etcd 成员；全部必须是 `True`。这里用 jsonpath 读条件本身：1.16 的表格输出只显示 "
                  "`<unknown>`（kubernetes#83024，apiserver 1.17 修复）。")
        en.append("Then `kubectl get componentstatuses` reads each component's `Healthy` condition: the apiserver "
                  "probes the scheduler's and the controller manager's insecure ports on 127.0.0.1 (this runbook "
                  "keeps them on loopback) and every etcd member; all must be `True`. The jsonpath reads the "
                  "conditions themselves: 1.16's table shows only `<unknown>` (kubernetes#83024, fixed in the 1.17 "
                  "apiserver).")
    else:
        zh.append("这里不用 `kubectl get componentstatuses`：它 1.19 起已弃用，而且这个版本在 127.0.0.1 上探测"
                  "调度器与控制器管理器的安全端口，而它们监听的是本机 IP，健康的组件也会显示为 Unhealthy。"
                  "上面的 `/readyz` 与下一步的 leader 才是它们的真实状态。")
        en.append("`kubectl get componentstatuses` is not used: it is deprecated since 1.19, and this release probes "
                  "the scheduler's and the controller manager's secure ports on 127.0.0.1, while they listen on the "
                  "node's IP, so healthy components would read Unhealthy. `/readyz` above and the leaders in the "
                  "next step are their real state.")
    return Step(
        id=f"{ID}.ready",
        title=Text(zh="经负载均衡检查就绪", en="Readiness through the load balancer"),
        explain=Text(zh="".join(zh), en=" ".join(en)),
        local=tuple(commands),
        needs_kube_binaries=True,
    )


def leaders_step(cluster: Cluster) -> Step:
    # Every elected service takes its default lock from the same client-go defaults, so one era holds for all.
    locks = [(s.unit, s.election.lock(cluster).from_lease) for s in daemons.elected(cluster) if s.election]
    from_lease = locks[0][1]
    names = leader.names_pattern(cluster)
    expect = rf"^{names}_" if from_lease else rf"\"holderIdentity\":\"{names}_"
    where_zh = "Lease（kube-system 命名空间）的 `holderIdentity`" if from_lease else (
        "`endpoints` 对象上 `control-plane.alpha.kubernetes.io/leader` 注解里的 `holderIdentity`")
    where_en = "the `holderIdentity` of its Lease in kube-system" if from_lease else (
        "the `holderIdentity` in the `control-plane.alpha.kubernetes.io/leader` annotation of its `endpoints`")
    return Step(
        id=f"{ID}.leaders",
        title=Text(zh="两个选主组件都有 leader", en="Both elected components have a leader"),
        explain=Text(
            zh=(
                f"kube-controller-manager 与 kube-scheduler 各自只有一个实例在工作。当前 leader 记录在{where_zh}中，"
                "格式 `<主机名>_<随机 ID>`，主机名必须是某台 master。能读到它，也说明请求经过负载均衡到达了 apiserver。"
            ),
            en=(
                "kube-controller-manager and kube-scheduler each have one working instance. The current leader is "
                f"{where_en}, written `<hostname>_<random id>`, and the host name must be a master's. Reading it "
                "also proves the request went through the load balancer to an apiserver."
            ),
        ),
        local=tuple(Command(leader.leader_query(cluster, unit, lease), expect=expect,
                            example=leader.leader_example(cluster, lease)) for unit, lease in locks),
        needs_kube_binaries=True,
    )


def etcd_step(cluster: Cluster) -> Step:
    f = etcd_facts(cluster.spec.components.etcd.version)
    node = runner(cluster)
    every = "".join(rf"(?=[\s\S]*^{re.escape(client_url(n))} is healthy)" for n in cluster.etcd_members)
    ca = etcd_ca(cluster)
    return Step(
        id=f"{ID}.etcd",
        title=Text(zh="etcd 每个成员都健康", en="Every etcd member is healthy"),
        explain=Text(
            zh=(
                f"在 {node.name} 上用 etcdctl 访问全部 {len(cluster.etcd_members)} 个成员：客户端证书是 etcdctl 的，"
                f"用{ca.zh}（`{EtcdPaths(cluster).ca}`）校验成员的证书。每个成员都必须出现一行 `is healthy`。"
            ),
            en=(
                f"On {node.name}, etcdctl asks all {len(cluster.etcd_members)} members with the etcdctl client "
                f"certificate, checking theirs against {ca.en} (`{EtcdPaths(cluster).ca}`); each one must have an "
                "`is healthy` line."
            ),
        ),
        per_node=((node, (on(cluster, node, etcdctl(cluster, f, "endpoint", "health"),
                             expect=rf"\A{every}", example="\n".join(
                                 f"{client_url(n)} is healthy: successfully committed proposal: took = 2.1ms"
                                 for n in cluster.etcd_members)),)),),
    )


def certificates_step(cluster: Cluster) -> Step:
    renew = cluster.spec.certificates.renew_before_days
    return Step(
        id=f"{ID}.certificates",
        title=Text(zh="节点上的证书与台账一致", en="The nodes' certificates match the ledger"),
        explain=Text(
            zh=(
                f"每次渲染都把用到的每张证书与 kubeconfig 记进台账 `build/{cluster.name}/ledger.json`：在哪台节点的哪个"
                "路径、主题、SAN、序列号、到期时间、由哪个 CA 签发、变更后要重启哪些服务。`invoke certs` 经 ssh "
                "读取每台节点上的这些文件，逐个与台账比对，每个文件一行：缺失、与台账不同（被手工替换，或渲染后"
                f"没有推送）、已过期、或在 {renew} 天内（`certificates.renew_before_days`）到期，都算需要处理，"
                "命令以非零状态退出。"
            ),
            en=(
                f"Every render records each certificate and kubeconfig in use in the ledger `build/{cluster.name}/"
                "ledger.json`: on which node and path, subject, SANs, serial, expiry, the CA that signed it and the "
                "services to restart when it changes. `invoke certs` reads those files on every node over ssh and "
                "compares each with the ledger, one line per file: missing, different from the ledger (replaced by "
                f"hand, or not pushed since the last render), expired, or expiring within {renew} days "
                "(`certificates.renew_before_days`) all need action, and the command exits non-zero."
            ),
        ),
        local=(Command(shlex.join(["invoke", "certs", "--cluster", cluster.ref]),
                       expect=r"^certs: all \d+ certificates and kubeconfigs on the nodes match the ledger$",
                       example="certs: all 33 certificates and kubeconfigs on the nodes match the ledger"),),
    )


def drills(cluster: Cluster) -> list[Step]:
    """A crash and a reboot of a master, each inside a request loop through the API endpoint (HA needs two
    masters: with one, both would take the API away)."""
    if len(cluster.masters) < 2:
        return []
    steps: list[Step] = []
    node = cluster.masters[-1]
    units = [s.unit for s in daemons.on_node(cluster, node)]
    for name, drill in (("crash", crash_step(cluster)), ("reboot", reboot_step(cluster, units))):
        steps += [rollout.request_loop_start(cluster, ID, name), drill, rollout.request_loop_stop(cluster, ID, name)]
    return steps


def chapter(cluster: Cluster) -> Chapter:
    return Chapter(
        id=ID,
        number=9,
        title=Text(zh="集群验证", en="Cluster verification"),
        intro=Text(
            zh=(
                "控制平面全部部署完后，从头到尾再检查一遍：每台节点的服务、每台 apiserver、经负载均衡的就绪状态、"
                "两个选主组件的 leader，以及 etcd。全部通过，控制平面才算完成。"
            ),
            en=(
                "With the whole control plane deployed, check it end to end: every node's services, every "
                "apiserver, readiness through the load balancer, the leaders of both elected components, and etcd. "
                "The control plane is done when all of them pass."
            ),
        ),
        steps=(
            services_step(cluster), apiservers_step(cluster), ready_step(cluster), leaders_step(cluster),
            etcd_step(cluster), certificates_step(cluster), smoke_step(cluster),
            *([master_loss_step(cluster)] if load_balancer_enabled(cluster) else []),
            *drills(cluster),
            cleanup_step(cluster),
        ),
    )
