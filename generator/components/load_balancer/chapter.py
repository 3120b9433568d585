"""The load-balancer chapter: haproxy + keepalived on the masters (or an external load balancer), zh and en."""

from __future__ import annotations

import re
import shlex

from generator.artifacts import on_node
from generator.components.load_balancer.files import (
    BACKEND,
    HAPROXY_CFG,
    ID,
    KEEPALIVED_CONF,
    MASK,
    PASSWORD_LENGTH,
    STATS_PASSWORD,
    STATS_URI,
    STATS_USER,
    enabled,
    masked_path,
    priorities,
    track_command,
    vip_prefix,
)
from generator.model import Cluster, Node
from generator.steps import (
    Chapter,
    Command,
    Show,
    Step,
    Text,
    for_each_master,
    on,
    pki_file,
    push,
    render,
    ssh_prefix,
    sudo,
)

TITLE = Text(zh="负载均衡：haproxy + keepalived", en="Load balancer: haproxy + keepalived")
TITLE_EXTERNAL = Text(zh="负载均衡：外部负载均衡器", en="Load balancer: an external load balancer")
FAILOVER_WAIT = 30  # seconds; detection takes about 2 × 2 s (track script) plus one advert interval
VIP_WAIT = 15  # seconds keepalived may take after a (re)start: BACKUP first, MASTER after ~3 adverts
POLL = "0.2"  # seconds between two looks at the VIP during the failover test


def chapter(cluster: Cluster) -> Chapter:
    if not cluster.load_balanced:
        return single_master_chapter(cluster)
    if not enabled(cluster):
        return external_chapter(cluster)
    api = cluster.spec.api_server
    return Chapter(
        id=ID,
        number=3,
        title=TITLE,
        intro=Text(
            zh=(
                f"所有客户端（kubectl、kube-controller-manager、kube-scheduler）都通过一个地址访问 kube-apiserver："
                f"`{cluster.api_endpoint}`。每台 master 上运行两个服务：haproxy 在 {api.port} 端口接受 TCP 连接，"
                f"转发给全部 {len(cluster.masters)} 个 kube-apiserver（{api.secure_port} 端口），并剔除不健康的；"
                f"keepalived 让虚拟 IP `{api.vip}`（VIP）始终只在一台 haproxy 正常的 master 上。"
                "那台 master 的 haproxy 停止后，VIP 在几秒内移到另一台。"
                f"haproxy 的端口 {api.port} 必须与 kube-apiserver 的 {api.secure_port} 不同，因为两者在同一台机器上。"
            ),
            en=(
                "Every client (kubectl, kube-controller-manager, kube-scheduler) reaches kube-apiserver through one "
                f"address: `{cluster.api_endpoint}`. Two services run on every master: haproxy accepts TCP on port "
                f"{api.port} and forwards to all {len(cluster.masters)} kube-apiservers (port {api.secure_port}), "
                f"leaving out unhealthy ones; keepalived keeps the virtual IP `{api.vip}` (VIP) on exactly one "
                "master whose haproxy works. When that master's haproxy stops, the VIP moves to another master "
                f"within seconds. haproxy's port {api.port} must differ from kube-apiserver's {api.secure_port}: "
                "both run on the same machine."
            ),
        ),
        steps=(
            install_step(cluster),
            haproxy_step(cluster),
            keepalived_step(cluster),
            distribute_step(cluster),
            validate_step(cluster),
            start_step(cluster),
            status_step(cluster),
            stats_step(cluster),
            vip_step(cluster),
            through_vip_step(cluster),
            failover_step(cluster),
        ),
    )


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
                "3. 健康检查：对后端做 HTTPS `GET /healthz`（期望 200），"
                f"或至少做 {api.secure_port} 端口的 TCP 检查。\n"
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
                f"3. A health check: HTTPS `GET /healthz` on each backend (expect 200), or at least a TCP check of "
                f"port {api.secure_port}.\n"
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


def per_node_show(cluster: Cluster, name: str, path_of: dict[str, str]) -> Show:
    return Show(name, "text", tuple((n.name, path_of[n.name]) for n in cluster.masters))


def install_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    return Step(
        id=f"{ID}.install",
        title=Text(zh="安装 haproxy 与 keepalived", en="Install haproxy and keepalived"),
        explain=Text(
            zh=(
                "在每台 master 上从发行版仓库安装两个软件包（`dpkg -s` 显示已安装时跳过，离线节点可预先装好），"
                "然后打印版本：配置按 haproxy 2.x 与 keepalived 2.x "
                "编写（用 Debian 12 的 haproxy 2.6、keepalived 2.2.7 验证过）。这里的命令针对 Debian/Ubuntu；"
                f"RHEL/Rocky/CentOS 上换成 `{s}dnf install -y haproxy keepalived`（旧系统用 yum），"
                "版本要求相同。先安装再分发配置：软件包会带一份默认配置，之后被我们的文件覆盖。"
            ),
            en=(
                "Install both packages from the distribution on every master (skipped when `dpkg -s` shows them "
                "installed, so offline nodes can have them preinstalled), then print their versions: the "
                "configuration is written for haproxy 2.x and keepalived 2.x (checked with Debian 12's haproxy 2.6 "
                "and keepalived 2.2.7). The commands are for Debian/Ubuntu; on RHEL/Rocky/CentOS use "
                f"`{s}dnf install -y haproxy keepalived` (yum on older releases) with the same version "
                "requirements. Install before distributing the configuration: the packages bring a default "
                "configuration that our files then replace."
            ),
        ),
        warnings=(
            Text(
                zh="CentOS 7 自带 haproxy 1.5、keepalived 1.3，RHEL/Rocky 8 自带 haproxy 1.8，都太旧；"
                "请使用发行版更新的版本（或官方软件源）。",
                en="CentOS 7 ships haproxy 1.5 and keepalived 1.3, RHEL/Rocky 8 ship haproxy 1.8: all too old. "
                "Use a newer distribution release or the projects' own package repositories.",
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [
            on(cluster, node, "dpkg -s haproxy keepalived >/dev/null 2>&1 || "
                              f"{{ {s}apt-get update -qq && {s}apt-get install -y -qq haproxy keepalived; }}"),
            # sudo: both live in /usr/sbin, which is not on an ordinary user's PATH on Debian.
            on(cluster, node, f"{s}haproxy -v", expect=r"HAProxy version [2-9]\."),
            on(cluster, node, f"{s}keepalived --version", expect=r"Keepalived v[2-9]\."),
        ]),
    )


def haproxy_step(cluster: Cluster) -> Step:
    api, lb = cluster.spec.api_server, cluster.spec.load_balancer
    password_file = pki_file(cluster, STATS_PASSWORD.removeprefix("pki/"))
    return Step(
        id=f"{ID}.haproxy",
        title=Text(zh="生成 haproxy.cfg", en="Render haproxy.cfg"),
        explain=Text(
            zh=(
                f"haproxy 以 TCP 模式（四层）在每台 master 所有地址的 {api.port} 端口监听，把连接交给当前连接数最少的"
                f"后端（`balance leastconn`，适合 watch 这类长连接）。后端是每台 master 的 `IP:{api.secure_port}`。"
                "TLS 不在 haproxy 终止，客户端与 kube-apiserver 之间仍是端到端的 TLS 与证书认证。"
                "健康检查每 2 秒对后端做一次 HTTPS `GET /healthz`，连续 2 次失败就摘除：只看状态码，所以检查本身"
                "不校验证书（`verify none`）。空闲超时 1 小时，避免切断 watch、`kubectl logs -f`。"
                f"\n\n统计页面在每台 master 的 `http://<IP>:{lb.stats_port}{STATS_URI}`，用户 `{STATS_USER}`，"
                f"密码是第一次渲染时随机生成的 {PASSWORD_LENGTH} 位字符串，保存在 `{password_file}`（0600），"
                "以后每次渲染都复用。因为 haproxy.cfg 含有这个密码，它和私钥一样按 0600 保存、不在页面上出现；"
                f"下面显示的副本把密码替换成了 `{MASK}`。"
            ),
            en=(
                f"haproxy listens in TCP mode (layer 4) on port {api.port} on every address of each master and hands "
                "each connection to the backend with the fewest connections (`balance leastconn`, good for "
                f"long-lived watches). The backends are every master's `IP:{api.secure_port}`. TLS does not end at "
                "haproxy: clients and kube-apiserver still talk TLS end to end, with certificate authentication. "
                "Every 2 s the health check sends an HTTPS `GET /healthz` to each backend and removes it after 2 "
                "failures; it reads only the status code, so the check itself does not verify the certificate "
                "(`verify none`). Idle connections are kept for 1 h so watches and `kubectl logs -f` are not cut."
                f"\n\nThe stats page is at `http://<IP>:{lb.stats_port}{STATS_URI}` on every master, user "
                f"`{STATS_USER}`, and its password is a random {PASSWORD_LENGTH}-character string made on the first "
                f"render, kept in `{password_file}` (0600) and reused by every later render. haproxy.cfg holds "
                "that password, so it is kept 0600 like a private key and never appears on this page; the copy "
                f"below has the password replaced by `{MASK}`."
            ),
        ),
        warnings=(
            Text(
                zh="种子文档 004 的配置写的是 `stats auth admin:123456` 加 `stats admin if TRUE`：任何猜到这个常见"
                "密码的人都能在网页上把 apiserver 后端下线。这里的密码随机生成，也没有开启 admin 功能。",
                en="Seed 004's configuration has `stats auth admin:123456` and `stats admin if TRUE`: anyone who "
                "guesses that common password can take apiserver backends offline from a browser. Here the "
                "password is random and the admin functions are off.",
            ),
            Text(
                zh="种子文档 004 的 `global` 里有 `nbproc 1`。haproxy 2.5 起不再支持 `nbproc`，"
                "`haproxy -c` 报 `nbproc is not supported any more since HAProxy 2.5`，服务无法启动。删掉这一行即可。",
                en="Seed 004's `global` section has `nbproc 1`. haproxy 2.5 dropped `nbproc`: `haproxy -c` says "
                "`nbproc is not supported any more since HAProxy 2.5` and the service does not start. Delete the "
                "line.",
            ),
            Text(
                zh=f"不要写 `bind {api.vip}:{api.port}`：VIP 只在一台 master 上，其他 master 上的 haproxy 会因为"
                "地址不存在而启动失败（除非设置 `net.ipv4.ip_nonlocal_bind=1`）。这里监听所有地址。",
                en=f"Do not write `bind {api.vip}:{api.port}`: the VIP lives on one master only, and haproxy on the "
                "others fails to start for want of the address (unless `net.ipv4.ip_nonlocal_bind=1`). Here it "
                "binds every address.",
            ),
            Text(
                zh="健康检查匿名访问 `/healthz`，依赖 kube-apiserver 默认的 `--anonymous-auth=true`（匿名用户只能"
                "读 `/healthz`、`/livez`、`/readyz`、`/version`）。种子文档 004 设置了 `--anonymous-auth=false`："
                "那样检查会得到 401，所有后端都被标记为 DOWN。",
                en="The health check reads `/healthz` anonymously, which relies on kube-apiserver's default "
                "`--anonymous-auth=true` (anonymous users can read only `/healthz`, `/livez`, `/readyz` and "
                "`/version`). Seed 004 sets `--anonymous-auth=false`: then the check gets 401 and every backend is "
                "marked DOWN.",
            ),
        ),
        shows=(per_node_show(cluster, "haproxy.cfg", {n.name: masked_path(n) for n in cluster.masters}),),
        local=(render(cluster, ID, "config"),),
    )


def keepalived_step(cluster: Cluster) -> Step:
    api, lb = cluster.spec.api_server, cluster.spec.load_balancer
    ranked = priorities(cluster)
    order = "、".join(f"{n.name}={p}" for n, p in ranked)
    order_en = ", ".join(f"{n.name}={p}" for n, p in ranked)
    first = ranked[0][0].name
    track = track_command(cluster)
    return Step(
        id=f"{ID}.keepalived",
        title=Text(zh="生成 keepalived.conf", en="Render keepalived.conf"),
        explain=Text(
            zh=(
                f"keepalived 用 VRRP 协议在 master 之间选出一台持有 VIP `{vip_prefix(cluster)}`（网卡 "
                f"`{lb.interface}`，virtual_router_id {lb.virtual_router_id}）。优先级依次递减：{order}。"
                "所有节点都以 `state BACKUP` 启动，由优先级决定谁先拿到 VIP。"
                f"只有优先级最高的 {first} 带 `nopreempt`：它出故障、VIP 移走之后再恢复，不会把 VIP 抢回来，"
                "避免一次故障引起两次切换。"
                f"\n\n跟踪脚本 `{track}` 每 2 秒检查一次本机 haproxy 能否在 {api.port} 端口接受 TCP 连接，连续 2 次"
                "失败时本机的 VRRP 实例进入 FAULT 状态，立即放弃 VIP。选择它而不是种子文档的 `killall -0 haproxy` "
                "或 `pidof haproxy`：进程还在但不再接受连接的 haproxy 也能被发现；不需要 psmisc 软件包（`killall` "
                "所在的包，最小化安装里往往没有，keepalived 找不到脚本会直接停用跟踪）；在各节点只隔离网络、共享"
                "进程空间的实验环境里，也只会看到本节点的 haproxy。"
                "\n\nVRRP 报文以单播发给其他 master（`unicast_peer`），并用 `check_unicast_src` 丢弃来源不是这些"
                "master 的报文。这取代了种子文档的 `auth_pass 1111`：PASS 认证的密码在每个报文里明文传输，且只用前 "
                "8 个字符，挡不住任何能抓包的人，VRRPv3（RFC 5798）已经去掉了认证。单播也能在不转发组播的网络里工作。"
                "keepalived.conf 因此不含秘密，可以在下面完整显示。"
            ),
            en=(
                f"keepalived runs VRRP among the masters to choose the one that holds the VIP "
                f"`{vip_prefix(cluster)}` (interface `{lb.interface}`, virtual_router_id {lb.virtual_router_id}). "
                f"Priorities descend: {order_en}. Every node starts as `state BACKUP` and priority decides who "
                f"takes the VIP first. Only the highest, {first}, has `nopreempt`: when it fails, loses the VIP "
                "and recovers, it does not take the VIP back, so one failure causes one switch, not two."
                f"\n\nThe track script `{track}` checks every 2 s that this master's haproxy accepts a TCP "
                f"connection on port {api.port}; after 2 failures the node's VRRP instance goes to FAULT and gives "
                "up the VIP at once. It replaces seed 004's `killall -0 haproxy` (or `pidof haproxy`) because it "
                "also catches a haproxy that still runs but no longer accepts connections; it needs no psmisc "
                "package (home of `killall`, often missing from minimal installs, and keepalived silently disables "
                "a track script it cannot find); and in a lab whose nodes share one process namespace it sees only "
                "this node's haproxy."
                "\n\nVRRP adverts go by unicast to the other masters (`unicast_peer`) and `check_unicast_src` drops "
                "adverts from any other source. That replaces seed 004's `auth_pass 1111`: PASS authentication "
                "sends the password in clear text in every advert and uses only its first 8 characters, so it stops "
                "nobody who can capture a packet, and VRRPv3 (RFC 5798) removed authentication altogether. Unicast "
                "also works on networks that do not forward multicast. keepalived.conf therefore holds no secret "
                "and is shown in full below."
            ),
        ),
        warnings=(
            Text(
                zh="种子文档 004 在 `nopreempt` 和 VIP 后面用全角空格接了注释（`nopreempt　　　　#设置不抢占`）。"
                "全角空格不是分隔符，keepalived 把整行当成一个未知关键字忽略掉，`nopreempt` 悄悄失效，VIP 那一行"
                "则不是合法地址。配置里只用半角空格，注释单独成行。",
                en="Seed 004 follows `nopreempt` and the VIP with full-width spaces and a comment "
                "(`nopreempt　　　　#设置不抢占`). A full-width space is not a separator: keepalived reads the whole "
                "line as one unknown keyword and ignores it, so `nopreempt` is silently lost, and the VIP line is "
                "not a valid address. Use ASCII spaces only and put comments on their own lines.",
            ),
            Text(
                zh="`nopreempt` 只在初始状态为 BACKUP 时生效；写成 `state MASTER` 它就不起作用。",
                en="`nopreempt` works only when the initial state is BACKUP; with `state MASTER` it does nothing.",
            ),
            Text(
                zh="防火墙必须放行 master 之间的 VRRP（IP 协议号 112），例如 firewalld："
                "`firewall-cmd --permanent --add-rich-rule='rule protocol value=\"vrrp\" accept'`。"
                "否则每台 master 都以为自己是唯一的一台，VIP 同时出现在多台机器上。",
                en="The firewall must let VRRP (IP protocol 112) pass between the masters, e.g. with firewalld "
                "`firewall-cmd --permanent --add-rich-rule='rule protocol value=\"vrrp\" accept'`. Otherwise every "
                "master believes it is alone and the VIP appears on several machines at once.",
            ),
            Text(
                zh=f"virtual_router_id {lb.virtual_router_id} 在同一个二层网络里必须唯一：另一套 keepalived 用同一个 "
                "ID 时，双方会互相干扰。",
                en=f"virtual_router_id {lb.virtual_router_id} must be unique on the layer-2 network: another "
                "keepalived pair with the same id interferes with this one.",
            ),
        ),
        shows=(per_node_show(cluster, "keepalived.conf",
                             {n.name: on_node(n, KEEPALIVED_CONF) for n in cluster.masters}),),
        local=(render(cluster, ID, "config"),),
    )


def distribute_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    return Step(
        id=f"{ID}.distribute",
        title=Text(zh="分发配置", en="Distribute the configuration"),
        explain=Text(
            zh=(
                f"一条 tar 管道把每台 master 自己的 `{HAPROXY_CFG}` 与 `{KEEPALIVED_CONF}` 复制到节点的同一路径，"
                "保留权限。haproxy.cfg 含统计页面密码，权限必须是 0600（haproxy 以 root 读取配置后才降权），"
                "下面检查这一点。"
            ),
            en=(
                f"A tar pipe copies each master's own `{HAPROXY_CFG}` and `{KEEPALIVED_CONF}` to the same paths on "
                "the node, keeping modes. haproxy.cfg holds the stats password, so its mode must be 0600 (haproxy "
                "reads its configuration as root before dropping privileges); the second command checks it."
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [
            push(cluster, node, [HAPROXY_CFG, KEEPALIVED_CONF]),
            on(cluster, node, f"{s}stat -c %a:%n {HAPROXY_CFG}", expect=rf"^600:{HAPROXY_CFG}$"),
        ]),
    )


def validate_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    return Step(
        id=f"{ID}.validate",
        title=Text(zh="在节点上检查配置", en="Check the configuration on the node"),
        explain=Text(
            zh=(
                "启动前让两个程序自己检查配置：`haproxy -c` 解析 haproxy.cfg，正确时打印 "
                "`Configuration file is valid`；`keepalived -t` 解析 keepalived.conf，正确时退出码为 0，"
                "错误（未知关键字、网卡不存在、跟踪脚本找不到）时退出码为非 0 并打印原因。"
            ),
            en=(
                "Before starting, let both programs check their configuration: `haproxy -c` parses haproxy.cfg and "
                "prints `Configuration file is valid` when it is right; `keepalived -t` parses keepalived.conf and "
                "exits 0 when it is right, non-zero with the reason otherwise (an unknown keyword, a missing "
                "interface, a track script it cannot find)."
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [
            on(cluster, node, f"{s}haproxy -c -f {HAPROXY_CFG}", expect=r"Configuration file is valid"),
            on(cluster, node, f"{s}keepalived -t -f {KEEPALIVED_CONF} && echo keepalived.conf: valid",
               expect=r"^keepalived.conf: valid$"),
        ]),
    )


def start_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    return Step(
        id=f"{ID}.start",
        title=Text(zh="启动服务", en="Start the services"),
        explain=Text(
            zh=(
                "先启动 haproxy，再启动 keepalived：keepalived 的跟踪脚本需要 haproxy 已在监听。`enable` 让两者"
                "开机自启，`restart` 让新配置立即生效；重复执行是安全的。此时还没有 kube-apiserver，haproxy 的后端"
                "都是 DOWN，这是正常的：VIP 只依赖 haproxy 本身。"
            ),
            en=(
                "Start haproxy first, then keepalived: keepalived's track script needs haproxy listening. `enable` "
                "starts both at boot, `restart` applies the new configuration now; running it again is safe. There "
                "is no kube-apiserver yet, so haproxy's backends are all DOWN; that is expected: the VIP depends "
                "on haproxy alone."
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [
            on(cluster, node, f"{s}systemctl enable haproxy keepalived && {s}systemctl restart haproxy && "
                              f"{s}systemctl restart keepalived"),
        ]),
    )


def status_step(cluster: Cluster) -> Step:
    api, lb = cluster.spec.api_server, cluster.spec.load_balancer
    return Step(
        id=f"{ID}.status",
        title=Text(zh="检查服务与监听端口", en="Check the services and their ports"),
        explain=Text(
            zh=(
                f"两个服务都应是 `active`，haproxy 应在 {api.port}（API）与 {lb.stats_port}（统计页面）端口监听。"
                "否则用 `journalctl -u haproxy -u keepalived --no-pager -n 50` 查看原因。"
            ),
            en=(
                f"Both services must be `active`, and haproxy must listen on ports {api.port} (API) and "
                f"{lb.stats_port} (stats). If not, `journalctl -u haproxy -u keepalived --no-pager -n 50` shows why."
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [
            on(cluster, node, "systemctl is-active haproxy keepalived", expect=r"\Aactive\nactive\s*\Z"),
            on(cluster, node, f"ss -ltn sport = :{api.port}", expect=rf"^LISTEN\s.*:{api.port}\s"),
            on(cluster, node, f"ss -ltn sport = :{lb.stats_port}", expect=rf"^LISTEN\s.*:{lb.stats_port}\s"),
        ]),
    )


def stats_url(cluster: Cluster, node: Node, csv: bool = False) -> str:
    host = f"[{node.ip}]" if ":" in node.ip else node.ip
    return f"http://{host}:{cluster.spec.load_balancer.stats_port}{STATS_URI}" + (";csv" if csv else "")


def stats_step(cluster: Cluster) -> Step:
    password_file = pki_file(cluster, STATS_PASSWORD.removeprefix("pki/"))
    commands: list[Command] = []
    for node in cluster.masters:
        commands.append(Command(
            shlex.join(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", stats_url(cluster, node)]),
            expect=r"^401$",
        ))
        commands.append(Command(
            f"curl -sS --fail -u \"{STATS_USER}:$(cat {shlex.quote(password_file)})\" "
            f"{shlex.quote(stats_url(cluster, node, csv=True))} | cut -d, -f1,2,18",
            expect=rf"^{BACKEND},FRONTEND,OPEN$",
        ))
    return Step(
        id=f"{ID}.stats",
        title=Text(zh="检查统计页面的密码保护", en="Check the stats page is password-protected"),
        explain=Text(
            zh=(
                "从运维机访问每台 master 的统计页面两次：不带密码应得到 401；带上密码文件里的密码，以 CSV 格式读出"
                "每个代理的名称与状态（第 1、2、18 列）。前端应为 OPEN；后端在 kube-apiserver 启动前是 DOWN。"
                "密码只在命令执行时从文件读入，页面与日志里都不出现。"
            ),
            en=(
                "From the workstation, read each master's stats page twice: without a password the answer must be "
                "401; with the password from its file, the CSV export lists each proxy's name and status (fields "
                "1, 2 and 18). The frontend must be OPEN; the backends stay DOWN until kube-apiserver runs. The "
                "password is read from its file when the command runs, so it appears neither on the page nor in a "
                "log."
            ),
        ),
        local=tuple(commands),
    )


def vip_check(cluster: Cluster) -> str:
    return f"ip -brief addr show dev {cluster.spec.load_balancer.interface} to {vip_prefix(cluster)}"


def holder_functions(cluster: Cluster) -> list[str]:
    """Shell functions: `on_node NAME CMD` runs CMD on a master; `holders` prints the masters holding the VIP."""
    branches = [f"    {n.name}) {ssh_prefix(cluster, n)} \"$2\" </dev/null ;;" for n in cluster.masters]
    names = " ".join(n.name for n in cluster.masters)
    check = shlex.quote(vip_check(cluster))
    return [
        "on_node() {",
        '  case "$1" in',
        *branches,
        '    *) echo "not a master: $1" >&2; return 1 ;;',
        "  esac",
        "}",
        f"holders() {{ for n in {names}; do [ -n \"$(on_node \"$n\" {check})\" ] && echo \"$n\"; done; }}",
    ]


def names_pattern(cluster: Cluster) -> str:
    return "(" + "|".join(n.name for n in cluster.masters) + ")"


def vip_step(cluster: Cluster) -> Step:
    vip = cluster.spec.api_server.vip
    script = "\n".join([
        *holder_functions(cluster),
        f"end=$((SECONDS + {VIP_WAIT}))",
        'while found=$(holders); [ "$(echo $found | wc -w)" -ne 1 ] && [ $SECONDS -lt $end ]; do sleep 1; done',
        f'echo "VIP {vip} is on:" $found',
        '[ "$(echo $found | wc -w)" -eq 1 ]',
    ])
    return Step(
        id=f"{ID}.vip",
        title=Text(zh="查看 VIP 在哪台 master 上", en="Find the master that holds the VIP"),
        explain=Text(
            zh=(
                f"在每台 master 上执行 `{vip_check(cluster)}`：只有持有 VIP 的那台会输出一行。"
                "VIP 必须恰好在一台 master 上。keepalived 启动后先以 BACKUP 身份等待其他节点的通告，"
                f"约 3 个通告间隔（3 秒多）后优先级最高的节点才接管 VIP，所以这里最多等待 {VIP_WAIT} 秒，"
                "每秒查看一次，直到恰好一台持有 VIP。"
                "超时后一台都没有，说明所有节点的跟踪脚本都失败了（haproxy 没有监听）；"
                "多于一台，说明 VRRP 报文在 master 之间不通（防火墙、unicast_peer 地址写错）。"
            ),
            en=(
                f"Run `{vip_check(cluster)}` on every master: only the one holding the VIP prints a line. The VIP "
                "must be on exactly one master. Right after a start keepalived waits as BACKUP for the others' "
                "adverts, and the highest-priority node takes the VIP only after about 3 advert intervals (a "
                f"little over 3 s), so the check looks once a second for up to {VIP_WAIT} s until exactly one "
                "master holds it. On none after that means every node's track script fails (haproxy is not "
                "listening); on several means VRRP adverts do not get through between the masters (a firewall, a "
                "wrong unicast_peer address)."
            ),
        ),
        local=(Command(script, expect=rf"^VIP {re.escape(vip or '')} is on: {names_pattern(cluster)}$"),),
    )


def through_vip_step(cluster: Cluster) -> Step:
    api = cluster.spec.api_server
    host = f"[{api.vip}]" if ":" in (api.vip or "") else api.vip
    run = f"{tcp_probe(cluster, seconds=5, quiet=False)} && echo 'TCP {host}:{api.port}: open'"
    return Step(
        id=f"{ID}.through-vip",
        title=Text(zh="从运维机连接 VIP", en="Connect to the VIP from the workstation"),
        explain=Text(
            zh=(
                f"从运维机向 `{host}:{api.port}` 建立一个 TCP 连接：能连上，说明 VIP 可达、持有它的 master 上的 "
                "haproxy 在监听。这里只检查 TCP，因为 kube-apiserver 要到后面的章节才启动；集群验证一章会经由 "
                "VIP 访问 `/healthz` 并校验证书。"
            ),
            en=(
                f"Open one TCP connection from the workstation to `{host}:{api.port}`: success means the VIP is "
                "reachable and haproxy listens on the master that holds it. Only TCP is checked here, because "
                "kube-apiserver starts in a later chapter; the cluster verification chapter reads `/healthz` "
                "through the VIP and verifies the certificate."
            ),
        ),
        local=(Command(run, expect=r": open$"),),
    )


def tcp_probe(cluster: Cluster, seconds: int = 1, quiet: bool = True) -> str:
    """Shell: a TCP connection to the VIP's port opens within `seconds` (bash's /dev/tcp, no extra tool)."""
    api = cluster.spec.api_server
    probe = f"timeout {seconds} bash -c {shlex.quote(f'exec 3<>/dev/tcp/{api.vip}/{api.port}')}"
    return f"{probe} 2>/dev/null" if quiet else probe


def failover_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    api = cluster.spec.api_server
    host = f"[{api.vip}]" if ":" in (api.vip or "") else api.vip
    script = "\n".join([
        *holder_functions(cluster),
        'old=$(holders); echo "VIP before: $old"',
        '[ "$(echo $old | wc -w)" -eq 1 ] || { echo "the VIP must be on exactly one master first"; exit 1; }',
        "t0=$(date +%s.%N)",
        f"on_node \"$old\" '{s}systemctl stop haproxy' & stopping=$!",
        f"end=$((SECONDS + {FAILOVER_WAIT}))",
        'while new=$(holders); { [ -z "$new" ] || echo "$new" | grep -qx "$old"; } && [ $SECONDS -lt $end ]; '
        f"do sleep {POLL}; done",
        "t1=$(date +%s.%N)",
        f'answered=""; while [ $SECONDS -lt $end ]; do if {tcp_probe(cluster)}; then answered=yes; break; fi; '
        f"sleep {POLL}; done",
        "t2=$(date +%s.%N)",
        "wait $stopping",
        f"on_node \"$old\" '{s}systemctl start haproxy'",
        'echo "VIP after: $new"',
        '[ "$(echo $new | wc -w)" -eq 1 ] && [ "$new" != "$old" ] || { echo "the VIP did not move"; exit 1; }',
        'awk -v a="$t0" -v b="$t1" \'BEGIN { printf "measured: vip_failover_seconds=%.3f\\n", b - a }\'',
        f'[ -n "$answered" ] || {{ echo "TCP {host}:{api.port} did not answer after the move"; exit 1; }}',
        f'echo "TCP {host}:{api.port} answers (the VIP is on $new)"',
        'awk -v a="$t0" -v b="$t2" \'BEGIN { printf "measured: vip_answer_seconds=%.3f\\n", b - a }\'',
        'echo "VIP moved from $old to $new"',
    ])
    return Step(
        id=f"{ID}.failover",
        title=Text(zh="故障切换测试", en="Failover test"),
        explain=Text(
            zh=(
                "停止持有 VIP 的 master 上的 haproxy（停止命令在后台执行，查看同时开始），每 0.2 秒查看一次，最多等待 "
                f"{FAILOVER_WAIT} 秒，直到 VIP 出现在另一台 master 上；再从运维机向 `{host}:{api.port}` 建立 TCP "
                "连接，确认新的持有者在应答（旧节点的 haproxy 已停止，能连上的只能是新节点），然后重新启动 haproxy。"
                "跟踪脚本连续 2 次（约 4 秒）失败后，那台 master 进入 FAULT 并放弃 VIP，优先级次高的 master 接手。"
                "haproxy 恢复后，最高优先级的 master 带 `nopreempt`，不会把 VIP 抢回；"
                "其他 master 只从优先级比自己低的持有者那里抢回 VIP。"
                "脚本用 `date +%s.%N` 记下停止 haproxy 之前、在另一台 master 上看到 VIP、VIP 端口再次应答这三个时刻，"
                "打印 `measured: vip_failover_seconds=…`（看到 VIP 移动的用时）与 `measured: vip_answer_seconds=…`"
                "（再次能连上的用时），部署记录会保存这两个数字。VIP 没有移动或没有应答则失败。"
            ),
            en=(
                "Stop haproxy on the master holding the VIP (in the background, so the looking starts at once), "
                f"look every 0.2 s for up to {FAILOVER_WAIT} s until "
                f"the VIP shows up on another master, then open a TCP connection from the workstation to "
                f"`{host}:{api.port}` to see the new holder answer (the old one's haproxy is stopped, so only the "
                "new one can), then start haproxy again. After 2 failed track-script runs (about 4 s) that "
                "master goes to FAULT and gives up the VIP; the master with the next priority takes it. When "
                "haproxy is back, the highest-priority master never takes the VIP back (`nopreempt`); any other "
                "master takes it back only from a holder of lower priority than its own. The script notes three "
                "moments with `date +%s.%N` — before stopping haproxy, when the VIP is seen on another master, "
                "when the VIP's port answers again — and prints `measured: vip_failover_seconds=…` (until the "
                "VIP was seen to move) and `measured: vip_answer_seconds=…` (until it answered again); the deploy "
                "run record keeps both figures. It fails if the VIP did not move or did not answer."
            ),
        ),
        local=(Command(script, expect=rf"^VIP moved from {names_pattern(cluster)} to {names_pattern(cluster)}$"),),
    )
