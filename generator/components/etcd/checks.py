"""etcd checks once it runs: status, health and status over TLS, a snapshot, the leader, a failover."""

from __future__ import annotations

import re
import shlex

from generator import trust
from generator.components.etcd.facts import EtcdFacts
from generator.components.etcd.files import ETCDCTL_CLIENT, ID, Paths, client_url, endpoints
from generator.components.leader import failover_example
from generator.model import Cluster, Node
from generator.steps import Command, Step, Text, for_each, on, ssh_prefix, sudo

FAILOVER_WAIT = 30  # seconds for the remaining members to elect a new leader
POLL = "0.2"  # seconds between two leader queries during the failover test


def etcd_ca(cluster: Cluster) -> Text:
    """The CA etcd trusts, as the page names it (zh: spaced to sit between Chinese words)."""
    if trust.layout(cluster) == trust.SEPARATE:
        return Text(zh=" etcd CA ", en="the etcd CA")
    return Text(zh="集群 CA ", en="the cluster CA")


def runner(cluster: Cluster) -> Node:
    """The member etcdctl runs on: it has the binary and the etcdctl certificate."""
    return cluster.etcd_members[0]


def status_step(cluster: Cluster) -> Step:
    return Step(
        id=f"{ID}.status",
        title=Text(zh="检查服务状态", en="Check the service is active"),
        explain=Text(
            zh=f"每个成员上的服务都应是 `active`。否则用 `journalctl -u {ID} --no-pager -n 50` 查看原因。",
            en=f"The service must be `active` on every member. If not, `journalctl -u {ID} --no-pager -n 50` "
            "shows why.",
        ),
        per_node=for_each(cluster.etcd_members,
                          lambda node: [on(cluster, node, f"systemctl is-active {ID}", r"^active$", "active")]),
    )


def etcdctl(cluster: Cluster, f: EtcdFacts, *args: str, members: tuple[Node, ...] = ()) -> str:
    """etcdctl on a member, as root (the keys are 0600), with the etcdctl client certificate.

    It asks every member, or only `members` when given.
    """
    paths = Paths(cluster)
    urls = ",".join(client_url(n) for n in members) if members else endpoints(cluster)
    return sudo(cluster) + shlex.join([
        *f.etcdctl_env, paths.etcdctl, f"--endpoints={urls}", f"--cacert={paths.ca}",
        f"--cert={paths.etcdctl_cert}", f"--key={paths.etcdctl_key}", *args,
    ])


def health_step(cluster: Cluster, f: EtcdFacts) -> Step:
    node = runner(cluster)
    env_zh = f"（etcd {f.version} 的 etcdctl 需要 `ETCDCTL_API=3`）" if f.etcdctl_env else ""
    env_en = f" (etcd {f.version}'s etcdctl needs `ETCDCTL_API=3`)" if f.etcdctl_env else ""
    names = "|".join(re.escape(n.name) for n in cluster.etcd_members)
    return Step(
        id=f"{ID}.health",
        title=Text(zh="检查集群健康", en="Check the cluster's health"),
        explain=Text(
            zh=(
                f"在 {node.name} 上用 etcdctl{env_zh}，以 `{ETCDCTL_CLIENT.name}` 证书逐个访问全部成员。"
                "每个成员都应报告 `is healthy`（它完成了一次经过 raft 的读请求）；任何一个不健康，命令就以非零退出。"
                "`member list` 列出成员的名字与地址，全部应为 `started`。"
            ),
            en=(
                f"On {node.name}, etcdctl{env_en} reaches every member with the `{ETCDCTL_CLIENT.name}` certificate. "
                "Every member must report `is healthy` (it served a read through raft); if any is not, the "
                "command exits non-zero. `member list` shows the members' names and URLs, all `started`."
            ),
        ),
        warnings=(
            Text(
                zh="不带客户端证书时 etcdctl 报 `context deadline exceeded`，etcd 日志里是 `tls: client didn't "
                "provide a certificate` 或 `bad certificate`：这是 `--client-cert-auth` 在起作用，补上 "
                f"`--cert`/`--key`，不要关掉它。证书不是{etcd_ca(cluster).zh}签发的（例如拿了 admin 证书），"
                "结果一样：etcd 日志里是 `certificate signed by unknown authority`。",
                en="Without a client certificate etcdctl says `context deadline exceeded` and etcd logs `tls: "
                "client didn't provide a certificate` or `bad certificate`: that is `--client-cert-auth` at work. "
                "Add `--cert`/`--key`; never turn it off. A certificate that "
                f"{etcd_ca(cluster).en} did not sign (the admin's, say) ends the same way, with `certificate signed "
                "by unknown authority` in etcd's log.",
            ),
        ),
        per_node=((node, (
            on(cluster, node, etcdctl(cluster, f, "endpoint", "health"), expect=r"is healthy",
               example=f"{client_url(node)} is healthy: successfully committed proposal: took = 2.1ms"),
            on(cluster, node, etcdctl(cluster, f, "member", "list", "-w", "table"),
               expect=rf"started \| ({names}) \|",
               example=f"| 8e9e05c52164694d | started | {node.name} | https://{node.host}:2380 | {client_url(node)} "
                       "| false |"),
        )),),
    )


def endpoint_status_step(cluster: Cluster, f: EtcdFacts) -> Step:
    node = runner(cluster)
    return Step(
        id=f"{ID}.endpoint-status",
        title=Text(zh="查看各成员状态", en="Show each member's status"),
        explain=Text(
            zh=(
                "表格每行一个成员：ID、版本、数据库大小、是否 leader、raft term 与 index。恰好一行的 "
                "`IS LEADER` 为 `true`；各成员的 RAFT INDEX 应当接近。"
            ),
            en=(
                "One row per member: ID, version, database size, whether it leads, raft term and index. Exactly "
                "one row has `IS LEADER` `true`; the members' RAFT INDEX values should be close."
            ),
        ),
        per_node=((node, (
            on(cluster, node, etcdctl(cluster, f, "endpoint", "status", "-w", "table"), expect=r"\|\s+true\s+\|",
               example=f"| {client_url(node)} | 8e9e05c52164694d |  3.5.15 |  25 kB |      true |      false |"),
        )),),
    )


def snapshot_commands(cluster: Cluster, f: EtcdFacts, snapshot: str, keep: bool = False) -> tuple[Command, ...]:
    """Save a snapshot from the first member into `snapshot` (its directory made 0700), then read it back.

    `keep`: a snapshot already there is kept, not overwritten: the one taken before a change must stay the state
    from before it, however often the chapter runs again."""
    node = runner(cluster)
    save = f"{sudo(cluster)}install -d -m 0700 {shlex.quote(snapshot.rsplit('/', 1)[0])} && " + etcdctl(
        cluster, f, "snapshot", "save", snapshot, members=(node,))
    if keep:
        save = f"if [ -e {shlex.quote(snapshot)} ]; then echo 'Snapshot kept at {snapshot}'; else {save}; fi"
    return (
        on(cluster, node, save, expect=r"Snapshot (saved|kept) at", example=f"Snapshot saved at {snapshot}"),
        on(cluster, node, snapshot_status(cluster, f, snapshot),
           expect=r"TOTAL KEYS", example="|   HASH   | REVISION | TOTAL KEYS | TOTAL SIZE |"),
    )


def snapshot_status(cluster: Cluster, f: EtcdFacts, snapshot: str) -> str:
    """Hash, revision, keys and size of a snapshot file: etcdutl reads it offline where the release has it."""
    if f.etcdutl:
        return sudo(cluster) + shlex.join([Paths(cluster).etcdutl, "snapshot", "status", snapshot, "-w", "table"])
    return etcdctl(cluster, f, "snapshot", "status", snapshot, "-w", "table", members=(runner(cluster),))


def backup_dir(cluster: Cluster) -> str:
    return f"{cluster.spec.paths.etcd_data_dir}-backup"


def snapshot_step(cluster: Cluster, f: EtcdFacts) -> Step:
    node = runner(cluster)
    snapshot = f"{backup_dir(cluster)}/snapshot.db"
    return Step(
        id=f"{ID}.snapshot",
        title=Text(zh="备份：保存快照", en="Back up: save a snapshot"),
        explain=Text(
            zh=(
                f"在做故障切换测试、升级或任何维护之前先备份。`snapshot save` 只能对一个成员执行，这里是 "
                f"{node.name}；快照写到 `{snapshot}`（目录权限 0700），再用 `snapshot status` 确认它可读、"
                "有 revision 和 key 数。重复执行会用最新数据覆盖这个文件。"
            ),
            en=(
                "Back up before the failover test, an upgrade or any maintenance. `snapshot save` works against "
                f"one member only, {node.name} here; the snapshot goes to `{snapshot}` (directory mode 0700), and "
                "`snapshot status` confirms it is readable and shows its revision and key count. Running it again "
                "overwrites the file with current data."
            ),
        ),
        warnings=(snapshot_warning(f),),
        per_node=((node, snapshot_commands(cluster, f, snapshot)),),
    )


def snapshot_warning(f: EtcdFacts) -> Text:
    tool = "etcdutl" if f.etcdutl else "etcdctl"  # etcdctl's restore is gone from 3.6
    return Text(
        zh="快照包含集群的全部数据（包括 Secret）：把它复制到集群之外、权限受控的地方保存；只留在 etcd 节点上的"
        f"备份会和节点一起丢失。恢复需要 `{tool} snapshot restore`，并用新的 `--initial-cluster-token` "
        "重建全部成员。",
        en="A snapshot holds all the cluster's data (Secrets included): keep a copy outside the cluster, "
        "access-controlled; a backup left only on an etcd node is lost with the node. Restoring takes "
        f"`{tool} snapshot restore` and rebuilding every member with a new `--initial-cluster-token`.",
    )


def leader_filter(cluster: Cluster) -> str:
    """Reduce `endpoint status -w fields` to the leader's node name: the block whose MemberID is its Leader.

    IDs are compared as strings: as numbers awk would round these 64-bit values to doubles.
    """
    names = " ".join(f'n["{client_url(n)}"]="{n.name}";' for n in cluster.etcd_members)
    awk = (f'BEGIN{{{names}}} $1=="\\"MemberID\\""{{m=$2}} $1=="\\"Leader\\""{{l=$2}} '
           '$1=="\\"Endpoint\\""{gsub(/"/, "", $2); if ((m "") == (l "")) print n[$2]}')
    return f"awk -F {shlex.quote(' : ')} {shlex.quote(awk)}"


def leader_query(cluster: Cluster, f: EtcdFacts, members: tuple[Node, ...] = ()) -> str:
    """The leader's node name, asked on the first of `members` (default: every member) of those members."""
    asked = members or cluster.etcd_members
    status = etcdctl(cluster, f, "--command-timeout=3s", "endpoint", "status", "-w", "fields", members=members)
    return f"{ssh_prefix(cluster, asked[0])} {shlex.quote(status + ' 2>/dev/null')} | {leader_filter(cluster)}"


def names_pattern(cluster: Cluster) -> str:
    return "(" + "|".join(re.escape(n.name) for n in cluster.etcd_members) + ")"


def leader_step(cluster: Cluster, f: EtcdFacts) -> Step:
    return Step(
        id=f"{ID}.leader",
        title=Text(zh="查看当前领导者（leader）", en="Show the current leader"),
        explain=Text(
            zh=(
                "`endpoint status -w fields` 对每个成员打印它自己的 `MemberID` 和它认为的 `Leader`；两者相等的"
                "那个成员就是 leader。awk 取出它的地址，sed 把地址换成主机名。"
            ),
            en=(
                "`endpoint status -w fields` prints, per member, its own `MemberID` and the `Leader` it sees; the "
                "member whose two are equal is the leader. awk picks its URL and sed turns the URL into the host "
                "name."
            ),
        ),
        local=(Command(leader_query(cluster, f), expect=rf"^{names_pattern(cluster)}$",
                       example=cluster.etcd_members[0].name),),
    )


def failover_script(cluster: Cluster, f: EtcdFacts) -> str:
    s = sudo(cluster)
    members = cluster.etcd_members
    branches = "\n".join(f"    {n.name}) {ssh_prefix(cluster, n)} \"$2\" ;;" for n in members)
    # Asking the stopped member would cost the whole --command-timeout on every try: ask the others only.
    without = "\n".join(
        f"    {n.name}) {leader_query(cluster, f, tuple(m for m in members if m != n))} ;;" for n in members)
    return "\n".join([
        f"leader() {{ {leader_query(cluster, f)}; }}",
        "leader_without() {",
        '  case "$1" in',
        without,
        "  esac",
        "}",
        "on_member() {",
        '  case "$1" in',
        branches,
        '    *) echo "not a member: $1" >&2; return 1 ;;',
        "  esac",
        "}",
        'old=$(leader); echo "leader before: $old"',
        '[ -n "$old" ] || { echo "no leader found"; exit 1; }',
        "t0=$(date +%s.%N)",
        f"on_member \"$old\" '{s}systemctl stop {ID}' & stopping=$!",
        f"end=$((SECONDS + {FAILOVER_WAIT}))",
        'while new=$(leader_without "$old"); { [ -z "$new" ] || [ "$new" = "$old" ]; } && [ $SECONDS -lt $end ]; '
        f"do sleep {POLL}; done",
        "t1=$(date +%s.%N)",
        "wait $stopping",
        'echo "leader after: $new"',
        f"on_member \"$old\" '{s}systemctl start {ID}'",
        f'[ -n "$new" ] && [ "$new" != "$old" ] || {{ echo "no new leader within {FAILOVER_WAIT} s"; exit 1; }}',
        'awk -v a="$t0" -v b="$t1" \'BEGIN { printf "measured: etcd_leader_failover_seconds=%.3f\\n", b - a }\'',
    ])


def failover_step(cluster: Cluster, f: EtcdFacts) -> Step:
    return Step(
        id=f"{ID}.failover",
        title=Text(zh="故障切换测试", en="Failover test"),
        explain=Text(
            zh=(
                "停止 leader 上的 etcd，每 0.2 秒查询一次，等待剩下的成员选出新 leader（通常一两秒：选举超时默认 "
                "1 秒），然后重新启动它，它以 follower 身份归队。停止命令在后台执行，查询同时开始，只问其余成员"
                "（问已停止的成员，每次都要等满 `--command-timeout`）。脚本打印前后的 leader，并用 `date +%s.%N` "
                "记下停止之前与查到新 leader 时的时刻，打印 `measured: etcd_leader_failover_seconds=…`，"
                f"部署记录会保存这个数字；{FAILOVER_WAIT} 秒内没有换 leader 则失败。"
                f"{len(cluster.etcd_members)} 个成员停一个，仍有多数，集群全程可写。"
            ),
            en=(
                "Stop etcd on the leader, ask every 0.2 s until the remaining members have elected a new one "
                "(usually a second or two: the election timeout defaults to 1 s), then start it again; it rejoins "
                "as a follower. The stop runs in the background while the queries start, and only the other "
                "members are asked (asking the stopped one would cost the whole `--command-timeout` every time). "
                "The script prints the leader before and after, notes with `date +%s.%N` the "
                "moment before the stop and the moment the new leader is reported, and prints "
                "`measured: etcd_leader_failover_seconds=…`, which the deploy run record keeps; it fails if no "
                f"other leader appeared within {FAILOVER_WAIT} s. With one of {len(cluster.etcd_members)} members "
                "down a majority remains, so the cluster stays writable throughout."
            ),
        ),
        warnings=(
            Text(
                zh="在生产集群上做这个测试前确认所有成员都健康：已经少一个成员时再停 leader，就失去多数，"
                "kube-apiserver 的写请求全部失败。",
                en="Check every member is healthy before running this on a production cluster: with one member "
                "already down, stopping the leader loses the majority and every kube-apiserver write fails.",
            ),
        ),
        local=(Command(failover_script(cluster, f), expect=rf"^leader after: {names_pattern(cluster)}$",
                       example=failover_example(cluster.etcd_members, "etcd_leader_failover_seconds")),),
    )
