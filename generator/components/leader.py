"""Leader election steps shared by the components that run once per master with one active leader.

kube-scheduler and kube-controller-manager both elect a leader through a lock named after the component in
kube-system; reading the leader and testing a failover are the same shell shapes for both.
"""

from __future__ import annotations

import shlex

from generator.components.admin.files import kubectl
from generator.model import Cluster, LeaderElection, Node
from generator.steps import Command, Step, Text, ssh_prefix, sudo

POLL = "0.2"  # seconds between two looks at the lock during the failover test


def leader_query(cluster: Cluster, component: str, from_lease: bool) -> str:
    """kubectl printing the leader's identity (`<hostname>_<uuid>`) on one line."""
    if from_lease:
        query = 'jsonpath={.spec.holderIdentity}{"\\n"}'
        return f"{kubectl(cluster)} -n kube-system get lease {component} -o {shlex.quote(query)}"
    query = 'jsonpath={.metadata.annotations.control-plane\\.alpha\\.kubernetes\\.io/leader}{"\\n"}'
    return f"{kubectl(cluster)} -n kube-system get endpoints {component} -o {shlex.quote(query)}"


def leader_name(cluster: Cluster, component: str, from_lease: bool) -> str:
    """Shell pipeline reducing the leader query to the leader's host name."""
    if from_lease:
        return f"{leader_query(cluster, component, from_lease)} | cut -d_ -f1"
    return (f"{leader_query(cluster, component, from_lease)} | "
            "sed -n 's/.*\"holderIdentity\":\"\\([^_\"]*\\)_.*/\\1/p'")


def fresh_holder(cluster: Cluster, component: str, from_lease: bool) -> str:
    """Shell printing the leader's host name only while its lock is fresh: renewed within its lease duration (plus
    2 s for clocks) and not before `$fresh_since` (epoch seconds, 0 when unset). A leader that stopped without
    giving the lock back is still named in it until it expires, and meanwhile nobody leads; one restarted on the
    same host has the same name: only a renewal after the restart shows a live holder."""
    if from_lease:
        query = 'jsonpath={.spec.holderIdentity} {.spec.renewTime} {.spec.leaseDurationSeconds}{"\\n"}'
        fields = f"{kubectl(cluster)} -n kube-system get lease {component} -o {shlex.quote(query)}"
    else:
        fields = (f"{leader_query(cluster, component, from_lease)} | sed -n "
                  "'s/.*\"holderIdentity\":\"\\([^\"]*\\)\".*\"leaseDurationSeconds\":\\([0-9]*\\).*"
                  "\"renewTime\":\"\\([^\"]*\\)\".*/\\1 \\3 \\2/p'")
    fresh = ('{ read -r h t d; [ -n "$h" ] && [ -n "$t" ] && r=$(date -d "$t" +%s) && [ "$r" -ge "${fresh_since:-0}" ] '
             '&& [ $(( $(date +%s) - r )) -le $(( ${d:-0} + 2 )) ] && echo "${h%%_*}"; }')
    return f"{fields} | {fresh}"


def names_pattern(cluster: Cluster) -> str:
    return "(" + "|".join(n.name for n in cluster.masters) + ")"


def leader_example(cluster: Cluster, from_lease: bool) -> str:
    """What a leader query prints: `<hostname>_<random id>`, bare or inside the leader annotation."""
    holder = f"{cluster.masters[-1].name}_6f1c2d3e-8a4b-4c5d-9e6f-0a1b2c3d4e5f"
    return holder if from_lease else f'{{"holderIdentity":"{holder}","leaseDurationSeconds":15}}'


def failover_example(nodes: tuple[Node, ...], figure: str) -> str:
    """What a failover test prints when it passes (the figure is the lab's order of magnitude)."""
    first, other = nodes[0].name, nodes[-1].name
    return f"leader before: {first}\nleader after: {other}\nmeasured: {figure}=0.906"


def leader_step(cluster: Cluster, component: str, from_lease: bool) -> Step:
    where_zh = (
        f"kube-system 命名空间里名为 `{component}` 的 Lease 的 `holderIdentity`"
        if from_lease
        else f"`endpoints/{component}` 上 `control-plane.alpha.kubernetes.io/leader` 注解里的 `holderIdentity`"
    )
    where_en = (
        f"the `holderIdentity` of the Lease `{component}` in kube-system"
        if from_lease
        else "the `holderIdentity` in the `control-plane.alpha.kubernetes.io/leader` annotation of "
        f"`endpoints/{component}`"
    )
    expect = (rf"^{names_pattern(cluster)}_" if from_lease
              else rf"\"holderIdentity\":\"{names_pattern(cluster)}_")
    return Step(
        id=f"{component}.leader",
        title=Text(zh="查看当前领导者（leader）", en="Show the current leader"),
        explain=Text(
            zh=f"领导者选举（选主）的结果：当前领导者（leader）记录在{where_zh}中，格式为 `<主机名>_<随机 ID>`。"
            "它必须是某台 master 的主机名。",
            en=f"The current leader is {where_en}, written `<hostname>_<random id>`. It must be one of the "
            "masters' host names.",
        ),
        warnings=(
            Text(
                zh=f"不要改锁的名字：内置 RBAC 只允许 {component} 读写名为 `{component}` 的锁。",
                en=f"Do not rename the lock: the built-in RBAC lets {component} use only the lock named "
                f"`{component}`.",
            ),
        ),
        local=(Command(leader_query(cluster, component, from_lease), expect=expect,
                       example=leader_example(cluster, from_lease)),),
        needs_kube_binaries=True,
    )


def failover_script(cluster: Cluster, component: str, from_lease: bool, election: LeaderElection) -> str:
    s = sudo(cluster)
    wait = 4 * int(election.lease_duration.rstrip("s"))
    branches = "\n".join(
        f"    {n.name}) {ssh_prefix(cluster, n)} \"$2\" ;;" for n in cluster.masters
    )
    return "\n".join([
        f"leader() {{ {leader_name(cluster, component, from_lease)}; }}",
        "on_node() {",
        '  case "$1" in',
        branches,
        '    *) echo "not a master: $1" >&2; return 1 ;;',
        "  esac",
        "}",
        'old=$(leader); echo "leader before: $old"',
        '[ -n "$old" ] || { echo "no leader found"; exit 1; }',
        "t0=$(date +%s.%N)",
        f"on_node \"$old\" '{s}systemctl stop {component}' & stopping=$!",
        f"end=$((SECONDS + {wait}))",
        'while new=$(leader); { [ -z "$new" ] || [ "$new" = "$old" ]; } && [ $SECONDS -lt $end ]; '
        f"do sleep {POLL}; done",
        "t1=$(date +%s.%N)",
        "wait $stopping",
        'echo "leader after: $new"',
        f"on_node \"$old\" '{s}systemctl start {component}'",
        f'[ -n "$new" ] && [ "$new" != "$old" ] || {{ echo "the lock did not change hands within {wait} s"; exit 1; }}',
        f"awk -v a=\"$t0\" -v b=\"$t1\" 'BEGIN {{ printf \"measured: {measured_name(component)}=%.3f\\n\", b - a }}'",
    ])


def measured_name(component: str) -> str:
    """The run record's name for the failover figure, e.g. kube_scheduler_failover_seconds."""
    return f"{component.replace('-', '_')}_failover_seconds"


def failover_step(cluster: Cluster, component: str, from_lease: bool, election: LeaderElection,
                  releases_on_stop: bool) -> Step:
    """`releases_on_stop`: does this release's component give the lock back when stopped cleanly?"""
    lease = election.lease_duration
    if releases_on_stop:
        timing_zh = (f"这个版本的 {component} 在正常停止时主动释放锁，几秒内切换；进程被强杀时要等锁过期"
                     f"（leaseDuration {lease}）。")
        timing_en = (f"On this release {component} gives the lock back when it stops cleanly, so the switch takes "
                     f"seconds; a killed process is replaced only when the lock expires (leaseDuration {lease}). ")
    else:
        timing_zh = (f"这个版本的 {component} 停止时不释放锁，所以总要等锁过期（leaseDuration {lease}）才切换，"
                     "正常停止也一样。")
        timing_en = (f"On this release {component} does not give the lock back when it stops, so another master "
                     f"takes over only when the lock expires (leaseDuration {lease}), even after a clean stop. ")
    return Step(
        id=f"{component}.failover",
        title=Text(zh="领导者故障切换测试", en="Failover test"),
        explain=Text(
            zh=(
                f"停止 leader 所在 master 上的 {component}，等待另一台 master 拿到锁，然后重新启动它。"
                + timing_zh +
                "停止命令在后台执行，每 0.2 秒查看一次锁。脚本打印切换前后的 leader，并用 `date +%s.%N` 记下停止"
                f"之前与看到新 leader 时的时刻，打印 `measured: {measured_name(component)}=…`（部署记录保存这个"
                "数字）；锁没有换手则失败。"
            ),
            en=(
                f"Stop {component} on the leader's master, wait until another master holds the lock, then start "
                "it again. " + timing_en + "The stop runs in the background "
                "while the lock is read every 0.2 s. The script prints the leader before and after, notes with "
                "`date +%s.%N` the moment before the stop and the moment a new leader is seen, and prints "
                f"`measured: {measured_name(component)}=…`, which the deploy run record keeps; it fails if the "
                "lock did not change hands."
            ),
        ),
        local=(Command(failover_script(cluster, component, from_lease, election),
                       expect=rf"^leader after: {names_pattern(cluster)}$",
                       example=failover_example(cluster.masters, f"{component.replace('-', '_')}_failover_seconds")),),
        needs_kube_binaries=True,
    )
