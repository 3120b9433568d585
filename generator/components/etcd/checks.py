"""etcd checks once it runs: status, health and status over TLS, a snapshot, the leader, a failover."""

from __future__ import annotations

import re
import shlex

from generator import trust
from generator.components.etcd.facts import EtcdFacts, facts
from generator.components.etcd.files import ETCDCTL_CLIENT, ID, Paths, client_url, endpoints
from generator.components.leader import failover_example
from generator.components.prerequisites.nodes import on_node_function
from generator.model import Cluster, Node
from generator.steps import Command, Script, Step, for_each, on, remote, script_header, scripts_dir, sudo
from generator.text import NO_TEXT, Text, Texts

TEXT = Texts.of_component(__file__)

FAILOVER_WAIT = 30  # seconds for the remaining members to elect a new leader
POLL = "0.2"  # seconds between two leader queries during the failover test


def etcd_ca(cluster: Cluster) -> Text:
    """The CA etcd trusts, as the page names it."""
    return TEXT(ID, "ca-separate" if trust.layout(cluster) == trust.SEPARATE else "ca-single")


def runner(cluster: Cluster) -> Node:
    """The member etcdctl runs on: it has the binary and the etcdctl certificate."""
    return cluster.etcd_members[0]


def status_step(cluster: Cluster) -> Step:
    return Step(
        **TEXT.step(f"{ID}.status"),
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
    env = TEXT(f"{ID}.health", "api-version", f=f) if f.etcdctl_env else NO_TEXT
    names = "|".join(re.escape(n.name) for n in cluster.etcd_members)
    bar = f.table_rule
    return Step(
        **TEXT.step(f"{ID}.health", node=node, env=env, ETCDCTL_CLIENT=ETCDCTL_CLIENT, ca=etcd_ca(cluster)),
        per_node=((node, (
            on(cluster, node, etcdctl(cluster, f, "endpoint", "health"), expect=r"is healthy",
               example=f"{client_url(node)} is healthy: successfully committed proposal: took = 2.1ms"),
            on(cluster, node, etcdctl(cluster, f, "member", "list", "-w", "table"),
               expect=rf"started {re.escape(bar)} ({names}) {re.escape(bar)}",
               example=f"{bar} 8e9e05c52164694d {bar} started {bar} {node.name} {bar} https://{node.host}:2380 {bar} "
                       f"{client_url(node)} {bar} false {bar}"),
        )),),
    )


def endpoint_status_step(cluster: Cluster, f: EtcdFacts) -> Step:
    node = runner(cluster)
    bar = f.table_rule
    return Step(
        **TEXT.step(f"{ID}.endpoint-status"),
        per_node=((node, (
            on(cluster, node, etcdctl(cluster, f, "endpoint", "status", "-w", "table"),
               expect=rf"{re.escape(bar)}\s+true\s+{re.escape(bar)}",
               example=f"{bar} {client_url(node)} {bar} 8e9e05c52164694d {bar}  {f.version} {bar}  25 kB {bar}"
                       f"      true {bar}      false {bar}"),
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
           expect=r"TOTAL KEYS", example=f"{f.table_rule}   HASH   {f.table_rule} REVISION {f.table_rule} TOTAL KEYS "
                                         f"{f.table_rule} TOTAL SIZE {f.table_rule}"),
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
        **TEXT.step(f"{ID}.snapshot", node=node, snapshot=snapshot),
        warnings=(snapshot_warning(f),),
        per_node=((node, snapshot_commands(cluster, f, snapshot)),),
    )


def snapshot_warning(f: EtcdFacts) -> Text:
    """Where a snapshot belongs, and what restoring it takes: said wherever one is taken."""
    tool = "etcdutl" if f.etcdutl else "etcdctl"  # etcdctl's restore is gone from 3.6
    return TEXT(f"{ID}.snapshot", "keep-safe", tool=tool)


def leader_filter(cluster: Cluster, indent: str = "") -> str:
    """Reduce `endpoint status -w fields` to the leader's node name: the block whose MemberID is its Leader.

    IDs are compared as strings: as numbers awk would round these 64-bit values to doubles.
    """
    names = [f'{indent}        n["{client_url(n)}"] = "{n.name}"' for n in cluster.etcd_members]
    awk = "\n".join(["", f"{indent}    BEGIN {{", *names, f"{indent}    }}",
                      f'{indent}    $1 == "\\"MemberID\\"" {{ m = $2 }}',
                      f'{indent}    $1 == "\\"Leader\\"" {{ l = $2 }}',
                      f'{indent}    $1 == "\\"Endpoint\\"" {{ gsub(/"/, "", $2); if ((m "") == (l "")) print n[$2] }}'])
    return f"awk -F {shlex.quote(' : ')} {shlex.quote(awk)}"


def status_query(cluster: Cluster, f: EtcdFacts, members: tuple[Node, ...] = (), indent: str = "") -> str:
    """`endpoint status -w fields` of `members` (default: every member), asked on the first of them."""
    asked = members or cluster.etcd_members
    status = etcdctl(cluster, f, "--command-timeout=3s", "endpoint", "status", "-w", "fields", members=members)
    return remote(cluster, asked[0], status + " 2>/dev/null", indent)


def leader_query(cluster: Cluster, f: EtcdFacts) -> str:
    """The leader's node name, asked on the first member of every member."""
    return f"{status_query(cluster, f)} | {leader_filter(cluster)}"


def names_pattern(cluster: Cluster) -> str:
    return "(" + "|".join(re.escape(n.name) for n in cluster.etcd_members) + ")"


def leader_step(cluster: Cluster, f: EtcdFacts) -> Step:
    return Step(
        **TEXT.step(f"{ID}.leader"),
        local=(Command(leader_query(cluster, f), expect=rf"^{names_pattern(cluster)}$",
                       example=cluster.etcd_members[0].name),),
    )


def leader_script(cluster: Cluster) -> Script | None:
    """`etcd-leader.sh [NODE]`: the leader's node name, asked of every member, or of every member but NODE (asking
    a stopped member would cost the whole --command-timeout on every try)."""
    members = cluster.etcd_members
    if not members:
        return None
    f = facts(cluster.spec.components.etcd.version)
    return Script(
        "etcd-leader.sh", **TEXT.fields("script.etcd-leader"), body="\n".join([
            *script_header("etcd-leader.sh [NODE]: the etcd leader's node name, asked of every member but NODE"),
            "leader_of() {",
            f"    {leader_filter(cluster, '    ')}",
            "}",
            'case "${1:-}" in',
            f'    "") {status_query(cluster, f, indent="    ")} | leader_of ;;',
            *(f"    {n.name}) {status_query(cluster, f, tuple(m for m in members if m != n), '    ')} | leader_of ;;"
              for n in members),
            '    *) echo "not an etcd member: $1" >&2; exit 1 ;;',
            "esac",
        ]),
        directory=scripts_dir(cluster))


def failover_script(cluster: Cluster) -> str:
    s = sudo(cluster)
    leader = leader_script(cluster)
    assert leader is not None
    return "\n".join([
        f"leader() {{ {leader.call()}; }}",
        f'leader_without() {{ {leader.call()} "$1"; }}',
        *on_node_function(cluster),
        'old=$(leader); echo "leader before: $old"',
        '[ -n "$old" ] || { echo "no leader found"; exit 1; }',
        "t0=$(date +%s.%N)",
        f"on_node \"$old\" '{s}systemctl stop {ID}' & stopping=$!",
        f"end=$((SECONDS + {FAILOVER_WAIT}))",
        'while new=$(leader_without "$old"); { [ -z "$new" ] || [ "$new" = "$old" ]; } && [ $SECONDS -lt $end ]; '
        f"do sleep {POLL}; done",
        "t1=$(date +%s.%N)",
        "wait $stopping",
        'echo "leader after: $new"',
        f"on_node \"$old\" '{s}systemctl start {ID}'",
        f'[ -n "$new" ] && [ "$new" != "$old" ] || {{ echo "no new leader within {FAILOVER_WAIT} s"; exit 1; }}',
        'awk -v a="$t0" -v b="$t1" \'BEGIN { printf "measured: etcd_leader_failover_seconds=%.3f\\n", b - a }\'',
    ])


def failover_step(cluster: Cluster, f: EtcdFacts) -> Step:
    return Step(
        **TEXT.step(f"{ID}.failover", FAILOVER_WAIT=FAILOVER_WAIT, members=len(cluster.etcd_members)),
        local=(Command(failover_script(cluster), expect=rf"^leader after: {names_pattern(cluster)}$",
                       example=failover_example(cluster.etcd_members, "etcd_leader_failover_seconds")),),
    )
