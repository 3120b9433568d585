"""The load balancer at work: the stats page, the VIP's holder, a connection through it, and a failover."""

from __future__ import annotations

import re
import shlex

from generator.components.load_balancer.files import BACKEND, STATS_PASSWORD, STATS_USER
from generator.components.load_balancer.service import ID
from generator.components.load_balancer.shell import holder_functions, names_pattern, stats_url, tcp_probe, vip_check
from generator.model import Cluster
from generator.steps import Command, Step, Text, pki_file, sudo

FAILOVER_WAIT = 30  # seconds; detection takes about 2 × 2 s (track script) plus one advert interval
VIP_WAIT = 15  # seconds keepalived may take after a (re)start: BACKUP first, MASTER after ~3 adverts
POLL = "0.2"  # seconds between two looks at the VIP during the failover test


def stats_step(cluster: Cluster) -> Step:
    password_file = pki_file(cluster, STATS_PASSWORD.removeprefix("pki/"))
    commands: list[Command] = []
    for node in cluster.masters:
        commands.append(Command(
            shlex.join(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", stats_url(cluster, node)]),
            expect=r"^401$", example="401",
        ))
        commands.append(Command(
            f"curl -sS --fail -u \"{STATS_USER}:$(cat {shlex.quote(password_file)})\" "
            f"{shlex.quote(stats_url(cluster, node, csv=True))} | cut -d, -f1,2,18",
            expect=rf"^{BACKEND},FRONTEND,OPEN$", example=f"{BACKEND},FRONTEND,OPEN",
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
        local=(Command(script, expect=rf"^VIP {re.escape(vip or '')} is on: {names_pattern(cluster)}$",
                       example=f"VIP {vip} is on: {cluster.masters[0].name}"),),
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
        local=(Command(run, expect=r": open$", example=f"TCP {host}:{api.port}: open"),),
    )


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
        local=(Command(script, expect=rf"^VIP moved from {names_pattern(cluster)} to {names_pattern(cluster)}$",
                       example=f"measured: vip_failover_seconds=3.500\n"
                               f"VIP moved from {cluster.masters[0].name} to {cluster.masters[-1].name}"),),
    )
