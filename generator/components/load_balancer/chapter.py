"""The load-balancer chapter: haproxy + keepalived on the masters (or an external load balancer), zh and en."""

from __future__ import annotations

from generator.artifacts import on_node
from generator.components.load_balancer.alternatives import external_chapter, single_master_chapter
from generator.components.load_balancer.checks import failover_step, stats_step, through_vip_step, vip_step
from generator.components.load_balancer.files import (
    MASK,
    PASSWORD_LENGTH,
    STATS_PASSWORD,
    STATS_URI,
    STATS_USER,
    artifacts,
    backend_health,
    masked_path,
    priorities,
    track_command,
    vip_prefix,
)
from generator.components.load_balancer.service import (
    CHECK_FALL,
    CHECK_INTERVAL,
    HAPROXY_CFG,
    ID,
    KEEPALIVED_CONF,
    enabled,
)
from generator.model import Cluster
from generator.steps import (
    Chapter,
    Show,
    Step,
    Text,
    for_each_master,
    on,
    pki_file,
    push,
    render,
    sudo,
)

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists

TITLE = Text(zh="负载均衡：haproxy + keepalived", en="Load balancer: haproxy + keepalived")


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
            on(cluster, node, f"{s}haproxy -v", expect=r"HAProxy version [2-9]\.",
               example="HAProxy version 2.6.12-1+deb12u1 2023/12/16 - https://haproxy.org/"),
            on(cluster, node, f"{s}keepalived --version", expect=r"Keepalived v[2-9]\.",
               example="Keepalived v2.2.7 (01/16,2022)"),
        ]),
    )


def haproxy_step(cluster: Cluster) -> Step:
    api, lb = cluster.spec.api_server, cluster.spec.load_balancer
    password_file = pki_file(cluster, STATS_PASSWORD.removeprefix("pki/"))
    check = backend_health(cluster)
    return Step(
        id=f"{ID}.haproxy",
        title=Text(zh="生成 haproxy.cfg", en="Render haproxy.cfg"),
        explain=Text(
            zh=(
                f"haproxy 以 TCP 模式（四层）在每台 master 所有地址的 {api.port} 端口监听，把连接交给当前连接数最少的"
                f"后端（`balance leastconn`，适合 watch 这类长连接）。后端是每台 master 的 `IP:{api.secure_port}`。"
                "TLS 不在 haproxy 终止，客户端与 kube-apiserver 之间仍是端到端的 TLS 与证书认证。"
                f"健康检查每 {CHECK_INTERVAL} 秒对后端做一次 HTTPS `GET {check}`，连续 {CHECK_FALL} 次失败就摘除："
                "只看状态码，所以检查本身不校验证书（`verify none`）。"
                + ("检查 `/readyz` 而不是 `/healthz`：kube-apiserver 一开始停止，`/readyz` 就失败，而它在 "
                   "`--shutdown-delay-duration` 期间照常服务，haproxy 有时间把它摘除。" if check == "/readyz" else "")
                + "后端被标记为 DOWN 后不再得到新连接，已有的连接留给 kube-apiserver 自己在 "
                "`--shutdown-delay-duration` 结束时关闭：连接里的请求先完成，HTTP/2 客户端（包括调度器与控制器管理器"
                "的长连接）收到 GOAWAY 后经 haproxy 重连到其他 apiserver。这里不用 `on-marked-down "
                "shutdown-sessions`：它在 DOWN 的那一刻切断正在进行的请求（实验环境中续期时约 1100 个请求丢了 1 个）。"
                "代价是：一台突然断网、来不及关闭连接的后端，其已有连接要等客户端自己发现"
                "（client-go 会对空闲的 HTTP/2 连接发 ping）后才重连。"
                "连接被拒绝的请求由 `retries 3` 与 "
                "`option redispatch` 重试到另一台。空闲超时 1 小时，避免切断 watch、`kubectl logs -f`。"
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
                f"Every {CHECK_INTERVAL} s the health check sends an HTTPS `GET {check}` to each backend and removes "
                f"it after {CHECK_FALL} failures; it reads only the status code, so the check itself does not verify "
                "the certificate (`verify none`). "
                + ("It checks `/readyz`, not `/healthz`: `/readyz` fails as soon as kube-apiserver starts to stop, "
                   "while it keeps serving for `--shutdown-delay-duration`, which gives haproxy time to take it "
                   "out. " if check == "/readyz" else "")
                + "A backend marked DOWN gets no new connections; kube-apiserver closes the ones it has itself at "
                "the end of `--shutdown-delay-duration`, after the requests in them have finished, and HTTP/2 "
                "clients — the long-lived ones of the scheduler and the controller manager too — get GOAWAY and "
                "reconnect through haproxy to another apiserver. `on-marked-down shutdown-sessions` is not used: "
                "it cuts requests in flight at the moment of DOWN (in the lab, 1 of ~1,100 requests during a "
                "renewal). The price: a backend cut off without closing its connections (a network partition) "
                "keeps them until the client notices (client-go pings idle HTTP/2 connections) and reconnects. "
                "A refused connection is retried on another backend "
                "(`retries 3`, `option redispatch`). Idle connections are kept for 1 h so watches and "
                "`kubectl logs -f` are not cut."
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
                zh=f"健康检查匿名访问 `{check}`，依赖 kube-apiserver 默认的 `--anonymous-auth=true`（匿名用户只能"
                "读 `/healthz`、`/livez`、`/readyz`、`/version`）。种子文档 004 设置了 `--anonymous-auth=false`："
                "那样检查会得到 401，所有后端都被标记为 DOWN。",
                en=f"The health check reads `{check}` anonymously, which relies on kube-apiserver's default "
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
            on(cluster, node, f"{s}stat -c %a:%n {HAPROXY_CFG}", expect=rf"^600:{HAPROXY_CFG}$",
               example=f"600:{HAPROXY_CFG}"),
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
            on(cluster, node, f"{s}haproxy -c -f {HAPROXY_CFG}", expect=r"Configuration file is valid",
               example="Configuration file is valid"),
            on(cluster, node, f"{s}keepalived -t -f {KEEPALIVED_CONF} && echo keepalived.conf: valid",
               expect=r"^keepalived.conf: valid$", example="keepalived.conf: valid"),
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
            on(cluster, node, "systemctl is-active haproxy keepalived", expect=r"\Aactive\nactive\s*\Z",
               example="active\nactive"),
            on(cluster, node, f"ss -ltn sport = :{api.port}", expect=rf"^LISTEN\s.*:{api.port}\s",
               example=f"LISTEN 0      4096         0.0.0.0:{api.port}      0.0.0.0:*"),
            on(cluster, node, f"ss -ltn sport = :{lb.stats_port}", expect=rf"^LISTEN\s.*:{lb.stats_port}\s",
               example=f"LISTEN 0      4096         0.0.0.0:{lb.stats_port}      0.0.0.0:*"),
        ]),
    )


