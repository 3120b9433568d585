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
from generator.components.load_balancer.shell import holder_functions
from generator.components.prerequisites.nodes import on_node_function
from generator.model import Cluster, Node
from generator.steps import Command, Script, Step, script_header, scripts_dir, sudo
from generator.text import NO_TEXT, Texts

TEXT = Texts.of_component(__file__)

WAIT = 120  # seconds each phase may take: a restart, a reboot, the cluster whole again
POLL = "0.5"
# The drill crashes the scheduler's leader and an apiserver: the two kinds of daemon a master runs.
SCHEDULER, APISERVER = daemons.KUBE_SCHEDULER.unit, daemons.KUBE_APISERVER.unit
# The order a master's units must become active in after a boot (each unit's After=): the datastore first, then
# the apiserver, then its clients (the load balancer's units wait for nothing).
BOOT_ORDER = tuple(s.unit for s in daemons.start_order([s for s in daemons.SERVICES if s not in daemons.LOAD_BALANCER]))


def elapsed(name: str, start: str, end: str) -> str:
    return f"awk -v a=\"${start}\" -v b=\"${end}\" 'BEGIN {{ printf \"measured: {name}=%.3f\\n\", b - a }}'"


def crash_restart_script(cluster: Cluster) -> Script | None:
    """`crash-restart.sh NODE UNIT FIGURE`: SIGKILL UNIT's main process on NODE, then wait until systemd has started
    it again (its restart counter went up and it is active); prints what happened and `measured: FIGURE=…`, and
    exits 0 only when systemd did."""
    if not cluster.masters:
        return None
    s = sudo(cluster)
    return Script("crash-restart.sh", **TEXT.fields("script.crash-restart", WAIT=WAIT), body="\n".join([
        *script_header("crash-restart.sh NODE UNIT FIGURE: kill -9 UNIT on NODE, wait until systemd starts it again"),
        *on_node_function(cluster),
        "node=$1 unit=$2 figure=$3",
        'show="systemctl show -p MainPID -p NRestarts --value $unit | xargs"',
        'read -r pid0 n0 <<< "$(on_node "$node" "$show")"',
        '[ "${pid0:-0}" -gt 0 ] || { echo "$unit does not run on $node"; exit 1; }',
        "t0=$(date +%s.%N)",
        f'on_node "$node" "{s}kill -KILL $pid0"',
        f"end=$((SECONDS + {WAIT}))",
        'until read -r _ n1 <<< "$(on_node "$node" "$show")"; [ "${n1:-0}" -gt "$n0" ] &&',
        f'    on_node "$node" "systemctl is-active --quiet $unit" || [ $SECONDS -ge $end ]; do sleep {POLL}; done',
        "t1=$(date +%s.%N)",
        # the last look may have come between the restart's scheduling (no process yet) and its start
        'pid1=$(on_node "$node" "systemctl show -p MainPID --value $unit")',
        'echo "$unit on $node: killed pid $pid0; systemd restarts: $n0 -> $n1, now pid $pid1,'
        ' $(on_node "$node" "systemctl is-active $unit")"',
        """awk -v a="$t0" -v b="$t1" -v f="$figure" 'BEGIN { printf "measured: %s=%.3f\\n", f, b - a }'""",
        '[ "${n1:-0}" -gt "$n0" ]',
    ]), directory=scripts_dir(cluster))


def crash_script(cluster: Cluster, node: Node) -> str:
    from_lease = leader.elected_lock(cluster, daemons.KUBE_SCHEDULER).from_lease
    k = kubectl(cluster)
    crash = crash_restart_script(cluster)
    assert crash is not None, "a crash drill without masters"
    return "\n".join([
        f"sched() {{ {leader.leader_name(cluster, SCHEDULER, from_lease)}; }} 2>/dev/null",
        f"fresh() {{ {leader.fresh_holder(cluster, SCHEDULER, from_lease)}; }} 2>/dev/null",
        'leader=$(sched); [ -n "$leader" ] || { echo "no kube-scheduler leader"; exit 1; }',
        # a renewal in the second of the kill would still be the killed leader's
        'fresh_since=$(( $(date +%s) + 1 ))',
        "t0=$(date +%s.%N)",
        f'{crash.call()} "$leader" {SCHEDULER} kube_scheduler_crash_restart_seconds; restarted=$?',
        f"end=$((SECONDS + {WAIT}))",
        f"until new=$(fresh); [ -n \"$new\" ] || [ $SECONDS -ge $end ]; do sleep {POLL}; done",
        "t2=$(date +%s.%N)",
        'how=moved; [ "$new" = "$leader" ] && how=returned',
        'echo "kube-scheduler lock after the crash: ${new:-nobody} (${how})"',
        elapsed("kube_scheduler_crash_leader_seconds", "t0", "t2"),
        f"{crash.call(node.name, APISERVER, 'kube_apiserver_crash_restart_seconds')} || restarted=1",
        f"end=$((SECONDS + {WAIT}))",
        f"until {k} get --raw /readyz >/dev/null 2>&1 || [ $SECONDS -ge $end ]; do sleep {POLL}; done",
        f'echo "/readyz through the endpoint: $({k} get --raw /readyz 2>&1)"',
        '[ "$restarted" = 0 ] && [ -n "$new" ]',
    ])


def crash_step(cluster: Cluster) -> Step:
    node = cluster.masters[-1]
    return Step(
        **TEXT.step("verification.crash", node=node),
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
        whole.append(f"grep -q 'is healthy' <<< \"$(on_node \"$node\" {shlex.quote(health)} 2>&1)\"")
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
    etcd = TEXT("verification.reboot", "etcd-back") if node in cluster.etcd_members else NO_TEXT
    vip = TEXT("verification.reboot", "vip-one") if load_balancer_enabled(cluster) else NO_TEXT
    listed = ", ".join(units)
    return Step(
        **TEXT.step("verification.reboot", node=node, listed=listed, WAIT=WAIT, etcd=etcd, vip=vip),
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
