"""What systemd does for the control plane, proven on the nodes: a daemon that crashes is started again by
systemd (`Restart=always`), and a master that reboots starts every enabled unit in order and rejoins by itself."""

from __future__ import annotations

import shlex

from generator import daemons
from generator.components import leader
from generator.components.admin.files import kubectl
from generator.components.etcd.checks import etcdctl
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.etcd.files import client_url
from generator.components.load_balancer.service import enabled as load_balancer_enabled
from generator.components.load_balancer.shell import holder_functions, on_node_function
from generator.model import Cluster, Node
from generator.steps import Command, Step, Text, sudo

WAIT = 120  # seconds each phase may take: a restart, a reboot, the cluster whole again
POLL = "0.5"
SCHEDULER, APISERVER = "kube-scheduler", "kube-apiserver"
# The order a master's units must become active in after a boot (each unit's After=): the datastore first, then
# the apiserver, then its clients.
BOOT_ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


def elapsed(name: str, start: str, end: str) -> str:
    return f"awk -v a=\"${start}\" -v b=\"${end}\" 'BEGIN {{ printf \"measured: {name}=%.3f\\n\", b - a }}'"


def restarted_by_systemd(cluster: Cluster, unit: str, node_var: str, figure: str) -> list[str]:
    """Shell: SIGKILL the unit's main process on master ${node_var}, then wait until systemd has started it again
    (its restart counter went up and it is active): prints what happened and `measured: <figure>=…`."""
    s = sudo(cluster)
    show = f"systemctl show -p MainPID -p NRestarts --value {unit} | xargs"
    return [
        f"read -r pid0 n0 <<< \"$(on_node \"${node_var}\" {shlex.quote(show)})\"",
        f'[ "${{pid0:-0}}" -gt 0 ] || {{ echo "{unit} does not run on ${node_var}"; exit 1; }}',
        "t0=$(date +%s.%N)",
        f"on_node \"${node_var}\" \"{s}kill -KILL $pid0\"",
        f"end=$((SECONDS + {WAIT}))",
        f"until read -r _ n1 <<< \"$(on_node \"${node_var}\" {shlex.quote(show)})\"; "
        f"[ \"${{n1:-0}}\" -gt \"$n0\" ] && on_node \"${node_var}\" 'systemctl is-active --quiet {unit}' "
        f"|| [ $SECONDS -ge $end ]; do sleep {POLL}; done",
        "t1=$(date +%s.%N)",
        # the last look may have come between the restart's scheduling (no process yet) and its start
        f"pid1=$(on_node \"${node_var}\" 'systemctl show -p MainPID --value {unit}')",
        f'echo "{unit} on ${node_var}: killed pid $pid0; systemd restarts: $n0 -> $n1, now pid $pid1, '
        f'$(on_node "${node_var}" "systemctl is-active {unit}")"',
        elapsed(figure, "t0", "t1"),
    ]


def crash_script(cluster: Cluster, node: Node) -> str:
    from_lease = leader.elected_lock(cluster, daemons.by_unit(SCHEDULER)).from_lease
    k = kubectl(cluster)
    return "\n".join([
        *on_node_function(cluster),
        f"sched() {{ {leader.leader_name(cluster, SCHEDULER, from_lease)}; }} 2>/dev/null",
        f"fresh() {{ {leader.fresh_holder(cluster, SCHEDULER, from_lease)}; }} 2>/dev/null",
        'leader=$(sched); [ -n "$leader" ] || { echo "no kube-scheduler leader"; exit 1; }',
        # a renewal in the second of the kill would still be the killed leader's
        'fresh_since=$(( $(date +%s) + 1 ))',
        *restarted_by_systemd(cluster, SCHEDULER, "leader", "kube_scheduler_crash_restart_seconds"),
        f"until new=$(fresh); [ -n \"$new\" ] || [ $SECONDS -ge $end ]; do sleep {POLL}; done",
        "t2=$(date +%s.%N)",
        'how=moved; [ "$new" = "$leader" ] && how=returned',
        'echo "kube-scheduler lock after the crash: ${new:-nobody} (${how})"',
        elapsed("kube_scheduler_crash_leader_seconds", "t0", "t2"),
        f"crashed={node.name}",
        *restarted_by_systemd(cluster, APISERVER, "crashed", "kube_apiserver_crash_restart_seconds"),
        f"until {k} get --raw /readyz >/dev/null 2>&1 || [ $SECONDS -ge $end ]; do sleep {POLL}; done",
        f'echo "/readyz through the endpoint: $({k} get --raw /readyz 2>&1)"',
        '[ "${n1:-0}" -gt "$n0" ] && [ -n "$new" ]',
    ])


def crash_step(cluster: Cluster) -> Step:
    node = cluster.masters[-1]
    return Step(
        id="verification.crash",
        title=Text(zh="进程崩溃后由 systemd 拉起", en="A crashed daemon is started again by systemd"),
        explain=Text(
            zh=(
                "用 `kill -KILL` 杀掉 kube-scheduler 的 leader 进程（`systemctl show -p MainPID` 给出进程号），"
                "就像它崩溃了一样：unit 里的 `Restart=always` 让 systemd 在 `RestartSec` 之后重新启动它，不需要人。"
                "脚本等到该服务的重启计数 `NRestarts` 增加且状态为 `active`，打印 "
                "`measured: kube_scheduler_crash_restart_seconds=…`；再等锁重新有人续约——被杀的 leader 不会交还锁，"
                "要等锁过期，之后由它自己（returned）或另一台 master（moved）拿到——打印 "
                f"`measured: kube_scheduler_crash_leader_seconds=…`。"
                f"然后对 {node.name} 上的 kube-apiserver 做同样的事，"
                "打印 `measured: kube_apiserver_crash_restart_seconds=…`，并确认经 API 入口的 `/readyz` 为 `ok`。"
                "它运行在一个请求循环之中：崩溃那一刻正在这台 apiserver 上处理的请求会失败（负载均衡无法重试），"
                "之后的请求由其他 apiserver 应答；失败数记在下一步。"
            ),
            en=(
                "`kill -KILL` the kube-scheduler leader's process (its pid from `systemctl show -p MainPID`), as a "
                "crash would: the unit's `Restart=always` has systemd start it again after `RestartSec`, with "
                "nobody involved. The script waits until the service's restart counter `NRestarts` went up and it "
                "is `active`, and prints `measured: kube_scheduler_crash_restart_seconds=…`; then until the lock is "
                "renewed again — a killed leader does not give it back, so it must expire first, then the restarted "
                "scheduler takes it (returned) or another master's does (moved) — and prints "
                f"`measured: kube_scheduler_crash_leader_seconds=…`. Then the same to kube-apiserver on {node.name}, "
                "printing `measured: kube_apiserver_crash_restart_seconds=…`, and `/readyz` through the API "
                "endpoint must be `ok`. It runs inside a request loop: a request that apiserver was serving at the "
                "moment of the crash fails (the load balancer cannot retry it), later ones are answered by the "
                "other apiservers; the next step counts the failures."
            ),
        ),
        local=(Command(crash_script(cluster, node), expect=(
            rf"\A(?=[\s\S]*^{SCHEDULER} on \S+: killed pid \d+; systemd restarts: (\d+) -> (?!\1$)\d+, "
            r"now pid [1-9]\d*, active$)"
            rf"(?=[\s\S]*^{APISERVER} on {node.name}: killed pid \d+; systemd restarts: (\d+) -> (?!\2$)\d+, "
            r"now pid [1-9]\d*, active$)"
            r"(?=[\s\S]*^/readyz through the endpoint: ok$)"),
            example=(f"kube-scheduler on {cluster.masters[0].name}: killed pid 4242; systemd restarts: 0 -> 1, now "
                     "pid 4377, active\nmeasured: kube_scheduler_crash_restart_seconds=5.612\n"
                     f"kube-scheduler lock after the crash: {cluster.masters[0].name} (returned)\n"
                     "measured: kube_scheduler_crash_leader_seconds=16.204\n"
                     f"kube-apiserver on {node.name}: killed pid 3120; systemd restarts: 0 -> 1, now pid 3391, "
                     "active\nmeasured: kube_apiserver_crash_restart_seconds=9.870\n"
                     "/readyz through the endpoint: ok")),),
        needs_kube_binaries=True,
    )


def boot_order() -> str:
    """Shell on a node: its control-plane units in the order they became active (monotonic clock of this boot)."""
    units = " ".join(BOOT_ORDER)
    return (f"for u in {units}; do t=$(systemctl show -p ActiveEnterTimestampMonotonic --value $u 2>/dev/null); "
            '[ "${t:-0}" -gt 0 ] && echo "$t $u"; done | sort -n | cut -d" " -f2 | xargs')


def reboot_script(cluster: Cluster, node: Node, units: list[str]) -> str:
    s = sudo(cluster)
    k = kubectl(cluster)
    f = etcd_facts(cluster.spec.components.etcd.version)
    boot_id = "cat /proc/sys/kernel/random/boot_id"
    inactive = f"systemctl is-active {' '.join(units)} | grep -vxc active"
    states = f"systemctl is-active {' '.join(units)} | xargs"
    lines = [
        *(holder_functions(cluster) if load_balancer_enabled(cluster) else on_node_function(cluster)),
        f"node={node.name}",
        f"boot0=$(on_node \"$node\" {shlex.quote(boot_id)})",
        "t0=$(date +%s.%N)",
        f"on_node \"$node\" '{s}systemctl reboot' || true",
        f"end=$((SECONDS + {WAIT}))",
        f"until b=$(on_node \"$node\" {shlex.quote(boot_id)} 2>/dev/null) && [ -n \"$b\" ] && [ \"$b\" != \"$boot0\" ] "
        f"|| [ $SECONDS -ge $end ]; do sleep {POLL}; done",
        "t_ssh=$(date +%s.%N)",
        f"until [ \"$(on_node \"$node\" {shlex.quote(inactive)})\" = 0 ] || [ $SECONDS -ge $end ]; "
        f"do sleep {POLL}; done",
        "t_units=$(date +%s.%N)",
    ]
    whole = [f"{k} get --raw /readyz >/dev/null 2>&1"]
    if node in cluster.etcd_members:
        health = etcdctl(cluster, f, "endpoint", "health", members=(node,))
        whole.append(f"on_node \"$node\" {shlex.quote(health)} 2>&1 | grep -q 'is healthy'")
    if load_balancer_enabled(cluster):
        whole.append('[ "$(holders | wc -w)" -eq 1 ]')
    lines += [
        f"until {' && '.join(whole)} || [ $SECONDS -ge $end ]; do sleep {POLL}; done",
        "t_whole=$(date +%s.%N)",
        'echo "$node rebooted: boot id $([ "$b" != "$boot0" ] && echo changed || echo UNCHANGED)"',
        f"echo \"units on $node after the reboot: $(on_node \"$node\" {shlex.quote(states)})\"",
        f"echo \"started in this order: $(on_node \"$node\" {shlex.quote(boot_order())})\"",
    ]
    if node in cluster.etcd_members:
        health = etcdctl(cluster, f, "endpoint", "health", members=(node,))
        lines.append(f"on_node \"$node\" {shlex.quote(health)} 2>&1")
    lines += [
        f'echo "/readyz through the endpoint: $({k} get --raw /readyz 2>&1)"',
        *(['echo "VIP on: $(holders | xargs)"'] if load_balancer_enabled(cluster) else []),
        elapsed("node_reboot_ssh_seconds", "t0", "t_ssh"),
        elapsed("node_reboot_units_seconds", "t0", "t_units"),
        elapsed("node_reboot_seconds", "t0", "t_whole"),
        f"[ $SECONDS -lt $end ] || {{ echo 'the cluster was not whole again within {WAIT} s'; exit 1; }}",
    ]
    return "\n".join(lines)


def reboot_step(cluster: Cluster, units: list[str]) -> Step:
    node = cluster.masters[-1]
    etcd_zh = "它的 etcd 成员重新健康（回到集群）、" if node in cluster.etcd_members else ""
    etcd_en = "its etcd member is healthy again (back in the cluster), " if node in cluster.etcd_members else ""
    vip_zh = "VIP 只在一台 master 上、" if load_balancer_enabled(cluster) else ""
    vip_en = "the VIP is on exactly one master, " if load_balancer_enabled(cluster) else ""
    listed = ", ".join(units)
    return Step(
        id="verification.reboot",
        title=Text(zh="重启一台 master：一切自行恢复", en="Reboot a master: everything comes back by itself"),
        explain=Text(
            zh=(
                f"`systemctl reboot` 重启 {node.name}。运行中的服务由 systemd 依次停止（kube-apiserver 先等完它的"
                "关闭延迟，负载均衡因此不会把新请求发给它），开机后 systemd 按 unit 里的 `After=` 依次启动所有已 "
                f"`enable` 的服务（{listed}）：etcd 先于 kube-apiserver，kube-apiserver 先于控制器管理器和调度器。"
                "脚本用节点的 boot id 确认它真的重启过，然后等到：这些服务全部 `active`、"
                f"{etcd_zh}{vip_zh}经 API 入口的 `/readyz` 为 `ok`。打印服务实际变为 active 的顺序，以及 "
                "`measured: node_reboot_ssh_seconds=…`（重新能 ssh）、`measured: node_reboot_units_seconds=…`"
                "（服务全部 active）、`measured: node_reboot_seconds=…`（集群完整）。"
                f"{WAIT} 秒内没有恢复则失败。它运行在一个请求循环之中，下一步统计失败的请求。"
            ),
            en=(
                f"`systemctl reboot` reboots {node.name}. systemd stops its services (kube-apiserver first waits "
                "out its shutdown delay, so the load balancer sends it no new request), and at boot starts every "
                f"enabled one ({listed}) in the order their units' `After=` give: etcd before kube-apiserver, "
                "kube-apiserver before the controller manager and the scheduler. The script checks the node's boot "
                f"id changed (it really rebooted), then waits until those services are all `active`, {etcd_en}"
                f"{vip_en}and `/readyz` through the API endpoint is `ok`. It prints the order the services became "
                "active in, and `measured: node_reboot_ssh_seconds=…` (ssh answers again), "
                "`measured: node_reboot_units_seconds=…` (every service active) and `measured: "
                f"node_reboot_seconds=…` (the cluster whole again). It fails if that takes over {WAIT} s. It runs "
                "inside a request loop; the next step counts the failed requests."
            ),
        ),
        local=(Command(reboot_script(cluster, node, units), expect=(
            rf"\A(?=[\s\S]*^{node.name} rebooted: boot id changed$)"
            rf"(?=[\s\S]*^units on {node.name} after the reboot: (active ?){{{len(units)}}}$)"
            r"(?=[\s\S]*^/readyz through the endpoint: ok$)"),
            example=(f"{node.name} rebooted: boot id changed\nunits on {node.name} after the reboot: "
                     f"{' '.join(['active'] * len(units))}\nstarted in this order: {' '.join(BOOT_ORDER)}\n"
                     f"{client_url(node)} is healthy: successfully committed proposal: took = 2.1ms\n"
                     "/readyz through the endpoint: ok\nmeasured: node_reboot_seconds=16.307")),),
        needs_kube_binaries=True,
    )
