"""The load-balancer chapter of clusters that run no haproxy/keepalived: one master, or an external LB."""

from __future__ import annotations

from generator.components.load_balancer.files import backend_health
from generator.components.load_balancer.service import ID, SHUTDOWN_DELAY_SECONDS
from generator.model import Cluster
from generator.steps import Chapter, Step, Text

TITLE_EXTERNAL = Text(zh="负载均衡：外部负载均衡器", en="Load balancer: an external load balancer")

def single_master_chapter(cluster: Cluster) -> Chapter:
    """One master and no VIP: nothing to balance; clients use that master's kube-apiserver directly."""
    explain = Step(
        id=f"{ID}.none",
        title=Text(zh="单 master：不需要负载均衡", en="One master: no load balancer"),
        explain=Text(
            zh=(
                f"本集群只有一台 master 且没有配置 VIP，客户端直接访问 `{cluster.api_endpoint}`，所以本章不生成"
                "haproxy 与 keepalived 配置。这样的集群没有高可用：master 宕机时 API 不可用。要高可用，请再加两台"
                "master，并在集群文件里写上 `api_server.vip`。"
            ),
            en=(
                f"This cluster has one master and no VIP: clients talk to `{cluster.api_endpoint}` directly, so "
                "this chapter renders no haproxy or keepalived configuration. Such a cluster is not highly "
                "available: when the master is down, so is the API. For HA, add two masters and set "
                "`api_server.vip` in the cluster file."
            ),
        ),
    )
    return Chapter(
        id=ID,
        number=3,
        title=Text(zh="负载均衡（未使用）", en="Load balancer (not used)"),
        intro=Text(zh="单 master 集群不需要负载均衡。", en="A single-master cluster needs no load balancer."),
        steps=(explain,),
    )


def external_chapter(cluster: Cluster) -> Chapter:
    api = cluster.spec.api_server
    address = api.external_address or ""
    backends = ", ".join(f"`{m.ip}:{api.secure_port}`" for m in cluster.masters)
    check = backend_health(cluster)
    explain = Step(
        id=f"{ID}.external",
        title=Text(zh="外部负载均衡器需要满足的条件", en="What the external load balancer must do"),
        explain=Text(
            zh=(
                f"本集群的 `load_balancer.kind` 是 `external`：API 入口 `{cluster.api_endpoint}` 由集群外的负载"
                "均衡器（例如云厂商的 SLB/CLB/NLB）提供，所以本章不生成 haproxy 与 keepalived 的配置，也不在节点上"
                "执行任何命令。请在负载均衡器上配置：\n\n"
                f"1. 一个 **TCP**（四层）监听，端口 {api.port}。不要用 HTTPS/七层监听：TLS 必须一直到 kube-apiserver"
                "才终止，否则客户端证书认证失效。\n"
                f"2. 后端服务器：{backends}。\n"
                f"3. 健康检查：对后端做 HTTPS `GET {check}`（期望 200），"
                f"或至少做 {api.secure_port} 端口的 TCP 检查。"
                + (f"kube-apiserver 停止时先以 `--shutdown-delay-duration={SHUTDOWN_DELAY_SECONDS}s` 继续服务、"
                   "同时让 `/readyz` 失败：负载均衡器要在这段时间内发现并摘除它（检查间隔 × 失败次数不超过这个值）。"
                   if check == "/readyz" else "") + "\n"
                "4. 空闲超时不少于几分钟：watch、`kubectl logs -f`、`kubectl exec` 都是长时间空闲的连接。\n\n"
                f"`{address}` 已写进 kube-apiserver 证书的 SAN，kubeconfig 的 server 也指向它。"
            ),
            en=(
                f"This cluster's `load_balancer.kind` is `external`: the API endpoint `{cluster.api_endpoint}` is "
                "served by a load balancer outside the cluster (a cloud SLB/CLB/NLB, for example), so this chapter "
                "renders no haproxy or keepalived configuration and runs nothing on the nodes. Configure the load "
                "balancer with:\n\n"
                f"1. A **TCP** (layer 4) listener on port {api.port}. Not an HTTPS/layer 7 listener: TLS must end at "
                "kube-apiserver, or client-certificate authentication stops working.\n"
                f"2. Backend servers: {backends}.\n"
                f"3. A health check: HTTPS `GET {check}` on each backend (expect 200), or at least a TCP check of "
                f"port {api.secure_port}."
                + (" A stopping kube-apiserver keeps serving for "
                   f"`--shutdown-delay-duration={SHUTDOWN_DELAY_SECONDS}s` while its `/readyz` fails: the load "
                   "balancer must notice and take it out within that time "
                   "(check interval × failures to mark down no longer than that)." if check == "/readyz" else "")
                + "\n"
                "4. An idle timeout of several minutes at least: watches, `kubectl logs -f` and `kubectl exec` are "
                "long-lived, mostly idle connections.\n\n"
                f"`{address}` is in the kube-apiserver certificate's SANs and is the server of every kubeconfig."
            ),
        ),
        warnings=(
            Text(
                zh="云上的虚拟机通常收不到 VRRP 报文，也不能随意绑定一个未经平台分配的 IP，keepalived 的 VIP 因此"
                "无法生效（种子文档 004 的提醒）。在云上请使用云厂商的负载均衡器。另外，部分云负载均衡器不允许"
                "后端服务器通过负载均衡器访问自己：在 master 上经由 LB 访问 apiserver 可能超时，必要时让 master 上的"
                "组件直接连本机 apiserver。",
                en="Cloud VMs usually cannot exchange VRRP packets or bind an address the platform did not assign, "
                "so a keepalived VIP does not work there (seed 004's warning): use the provider's load balancer. "
                "Some cloud load balancers also drop traffic from a backend to itself through the LB: from a "
                "master, calls through the LB may time out; point that master's components at their local "
                "apiserver if so.",
            ),
        ),
    )
    return Chapter(
        id=ID,
        number=3,
        title=TITLE_EXTERNAL,
        intro=Text(
            zh=f"API 入口 `{cluster.api_endpoint}` 由外部负载均衡器提供，本章只说明它需要满足的条件。",
            en=f"The API endpoint `{cluster.api_endpoint}` is an external load balancer; this chapter only says "
            "what it must do.",
        ),
        steps=(explain,),
    )
