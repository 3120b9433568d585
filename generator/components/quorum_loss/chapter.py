"""The quorum-loss chapter: refused while a quorum answers; the control plane and etcd stopped; the survivor's data
kept aside and the survivor started once with `--force-new-cluster` (a unit of its own, removed again), so it
becomes a one-member cluster with all its data; every lost member added back one at a time with an empty data
directory and `--initial-cluster-state=existing`; one cluster ID; the control plane started; the recovery timed."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from generator import day2, systemd
from generator.artifacts import Artifact, on_node
from generator.components import recovery
from generator.components.etcd.checks import etcdctl
from generator.components.etcd.facts import facts
from generator.components.etcd.files import ID as ETCD_ID
from generator.components.etcd.files import Paths as EtcdPaths
from generator.components.etcd.files import client_url, flags, peer_url
from generator.components.membership import join
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, for_each, on, push, remote, ssh_prefix, sudo
from generator.text import Texts

ID = day2.QUORUM_LOSS
NUMBER = 16
TEXT = Texts.of_component(__file__)
FORCE_UNIT = "etcd-force-new-cluster"
JOIN_UNIT = "etcd-join"  # a lost member's first start, with the members so far as its --initial-cluster
PROMOTE_WAIT = 120  # seconds a learner may take to catch up with the survivor before its promotion


def survivor(cluster: Cluster) -> Node:
    return cluster.node(cluster.spec.quorum_loss.survivor)


def lost(cluster: Cluster) -> tuple[Node, ...]:
    return tuple(n for n in cluster.etcd_members if n != survivor(cluster))


def force_unit_path(cluster: Cluster) -> str:
    return f"{cluster.spec.paths.systemd_dir}/{FORCE_UNIT}.service"


def one_time_unit(description: str, binary: str, flags: list[str]) -> bytes:
    """etcd started once by hand: never restarted, never enabled."""
    unit = systemd.unit(description, "https://etcd.io/docs/latest/op-guide/recovery/", binary, flags,
                        service_type="notify").decode()
    return unit.replace("Restart=always\n", "Restart=no\n").replace(
        "[Install]\nWantedBy=multi-user.target", "[Install]\n# never enabled: started once by the quorum-loss chapter"
    ).encode()


def artifacts(ctx: RenderContext) -> list[Artifact]:
    """The survivor's one-time unit (etcd's own flags plus `--force-new-cluster`), and each lost member's first
    start (`--initial-cluster` naming the members so far: etcd checks it against the cluster's member list)."""
    cluster = ctx.cluster
    if day2.planned(cluster) != ID:
        return []
    f = facts(cluster.spec.components.etcd.version)
    binary = EtcdPaths(cluster).binary
    node = survivor(cluster)
    files = [Artifact(on_node(node, force_unit_path(cluster)), one_time_unit(
        "etcd, once, as a one-member cluster of the survivor", binary, [*flags(cluster, node, f), "--force-new-cluster"]
    ), ETCD_ID, "unit", private=True)]
    for lost_node in lost(cluster):
        so_far = ",".join(f"{n.name}={peer_url(n)}" for n in members_so_far(cluster, lost_node))
        own = [flag if not flag.startswith("--initial-cluster=") else f"--initial-cluster={so_far}"
               for flag in flags(cluster, lost_node, f)]
        files.append(Artifact(on_node(lost_node, join_unit_path(cluster)), one_time_unit(
            "etcd, once, joining the members added back so far", binary, own), ETCD_ID, "unit", private=True))
    return files


def health_loop(cluster: Cluster) -> str:
    """Shell on the survivor: each member's name and whether it serves a linearizable read (`healthy`)."""
    f = facts(cluster.spec.components.etcd.version)
    lines = []
    for n in cluster.etcd_members:
        health = etcdctl(cluster, f, "--command-timeout=3s", "endpoint", "health", members=(n,))
        lines.append(f"if {health} >/dev/null 2>&1; then echo '{n.name} healthy'; else echo '{n.name} down'; fi")
    return "; ".join(lines)


def check_step(cluster: Cluster) -> Step:
    node = survivor(cluster)
    data = EtcdPaths(cluster).data_dir
    majority = len(cluster.etcd_members) // 2 + 1
    script = "\n".join([
        f"answers=$({remote(cluster, node, health_loop(cluster))})",
        'echo "$answers"',
        "healthy=$(echo \"$answers\" | grep ' healthy$' | cut -d' ' -f1 | xargs)",
        f'if [ "$(echo $healthy | wc -w)" -ge {majority} ]; then',
        '  echo "quorum still present: $healthy answer; this chapter is for a lost quorum: nothing was forced"',
        "  exit 1",
        "fi",
        f"{remote(cluster, node, f'{sudo(cluster)}test -s {data}/member/snap/db')} && "
        f"echo '{node.name} holds its data ({data}/member/snap/db)' || "
        f"{{ echo '{node.name} has no data in {data}: it is no survivor; restore from a snapshot instead'; exit 1; }}",
    ])
    return Step(
        **TEXT.step(f"{ID}.check", survivor=node.name, majority=majority, members=len(cluster.etcd_members)),
        local=(Command(script, expect=rf"^{re.escape(node.name)} holds its data",
                       example="\n".join([f"{node.name} down", *(f"{n.name} down" for n in lost(cluster)),
                                          f"{node.name} holds its data ({data}/member/snap/db)"])),),
    )



def force_step(cluster: Cluster) -> Step:
    node = survivor(cluster)
    s = sudo(cluster)
    f = facts(cluster.spec.components.etcd.version)
    data = EtcdPaths(cluster).data_dir
    unit = force_unit_path(cluster)
    members = etcdctl(cluster, f, "member", "list", members=(node,))
    script = "\n".join([
        "set -e",
        # everything the survivor had, kept as it was before anything is forced
        f"{s}cp -a {data} {data}.before-force-new-cluster-$(date -u +%Y%m%dT%H%M%SZ)",
        f"{s}systemctl daemon-reload",
        f"{s}systemctl start {FORCE_UNIT}",
        f"echo \"members of the forced cluster: $({members} | wc -l)\"",
        f"{s}systemctl stop {FORCE_UNIT}",
        f"{s}rm -f {unit}",
        f"{s}systemctl daemon-reload",
        f"{s}systemctl start etcd",
        f"{members}",
    ])
    return Step(
        **TEXT.step(f"{ID}.force-new-cluster", survivor=node.name, unit=unit, data=data),
        per_node=((node, (push(cluster, node, [unit]),
                          on(cluster, node, f"{s}bash -c {shlex.quote(script)}",
                             expect=r"^members of the forced cluster: 1$",
                             example=f"members of the forced cluster: 1\n8e9e05c52164694d, started, {node.name}, "
                                     f"{peer_url(node)}, {client_url(node)}, false"))),),
    )


def member_list(cluster: Cluster) -> str:
    """The survivor's own view of the members (serializable: it needs no majority)."""
    f = facts(cluster.spec.components.etcd.version)
    return etcdctl(cluster, f, "member", "list", "--consistency=s", members=(survivor(cluster),))


def join_unit_path(cluster: Cluster) -> str:
    return f"{cluster.spec.paths.systemd_dir}/{JOIN_UNIT}.service"


def members_so_far(cluster: Cluster, node: Node) -> tuple[Node, ...]:
    """The members once `node` is added back: the survivor and the lost ones up to it, in their order."""
    gone = lost(cluster)
    return (survivor(cluster), *gone[:gone.index(node) + 1])


def add_learner(cluster: Cluster, node: Node) -> str:
    """On the survivor: register `node` as a learner unless its peer URL is registered already. etcd refuses to add a
    member while one it has (the previous one added back) has been connected for less than its health interval
    ("unhealthy cluster"): retried every second for up to PROMOTE_WAIT s."""
    f = facts(cluster.spec.components.etcd.version)
    add = etcdctl(cluster, f, "member", "add", node.name, f"--peer-urls={peer_url(node)}", "--learner",
                  members=(survivor(cluster),))
    listed = f"{member_list(cluster)} | grep -F {shlex.quote(', ' + peer_url(node) + ',')}"
    return "\n".join([
        f"end=$((SECONDS + {PROMOTE_WAIT}))",
        f"until {listed} >/dev/null || {add} >/dev/null 2>&1 || [ $SECONDS -ge $end ]; do sleep 1; done",
        listed,
    ])


def promote(cluster: Cluster, node: Node) -> str:
    """On the survivor: promote `node`'s learner once it is in sync (etcd refuses earlier), for up to PROMOTE_WAIT s."""
    f = facts(cluster.spec.components.etcd.version)
    entry = f"{member_list(cluster)} | grep -F {shlex.quote(', ' + peer_url(node) + ',')}"
    promote_id = f'{etcdctl(cluster, f, "member", "promote", members=(survivor(cluster),))} "$id"'
    return "\n".join([
        f"id=$({entry} | cut -d, -f1)",
        f"end=$((SECONDS + {PROMOTE_WAIT}))",
        f"until {entry} | grep -q ', false$' || {promote_id} >/dev/null 2>&1 || [ $SECONDS -ge $end ]; "
        "do sleep 1; done",
        entry,
    ])


def readd_commands(cluster: Cluster, node: Node, build: Sequence[Chapter]) -> list[Command]:
    s = sudo(cluster)
    f = facts(cluster.spec.components.etcd.version)
    data = EtcdPaths(cluster).data_dir
    here = survivor(cluster)
    _, distribute = join.node_commands(build, node, (f"{ETCD_ID}.distribute",))
    healthy = etcdctl(cluster, f, "endpoint", "health", members=(node,))
    join_once = "\n".join([
        "set -e",
        # a member that runs and is healthy is back already (a re-run): left alone
        f"if systemctl is-active --quiet etcd && {healthy} >/dev/null 2>&1; then echo active; exit 0; fi",
        f"{s}systemctl stop etcd",
        f"if [ -e {data} ]; then {s}mv {data} {data}.lost-$(date -u +%Y%m%dT%H%M%SZ); fi",
        f"{s}install -d -m 0700 {data}",
        f"{s}systemctl daemon-reload",
        f"{s}systemctl start {JOIN_UNIT}",
        f"systemctl is-active {JOIN_UNIT}",
    ])
    settle = "\n".join([
        "set -e",
        f"{s}systemctl stop {JOIN_UNIT}",
        f"{s}rm -f {join_unit_path(cluster)}",
        f"{join.start(cluster, ['etcd'])}",
        f"{healthy} 2>&1",
    ])
    url = re.escape(peer_url(node))
    return [
        on(cluster, here, f"{s}bash -c {shlex.quote(add_learner(cluster, node))}",
           expect=rf", {url}, .*, (true|false)$",
           example=f"30fb752b76c98193, unstarted, , {peer_url(node)}, , true"),
        *distribute,
        push(cluster, node, [join_unit_path(cluster)]),
        on(cluster, node, f"{s}bash -c {shlex.quote(join_once)}", expect=r"^active$", example="active"),
        on(cluster, here, f"{s}bash -c {shlex.quote(promote(cluster, node))}",
           expect=rf", started, {re.escape(node.name)}, {url}, .*, false$",
           example=f"30fb752b76c98193, started, {node.name}, {peer_url(node)}, {client_url(node)}, false"),
        on(cluster, node, f"{s}bash -c {shlex.quote(settle)}", expect=rf"^{re.escape(client_url(node))} is healthy",
           example=f"{client_url(node)} is healthy: successfully committed proposal: took = 9.6ms"),
    ]


def readd_step(cluster: Cluster, build: Sequence[Chapter]) -> Step:
    return Step(
        **TEXT.step(f"{ID}.readd", survivor=survivor(cluster).name, data=EtcdPaths(cluster).data_dir,
                    unit=join_unit_path(cluster), wait=PROMOTE_WAIT),
        per_node=for_each(lost(cluster), lambda n: readd_commands(cluster, n, build)),
        # one member after another: each joins the members started so far, and its promotion makes it a voter
        serial=True,
    )


def members_step(cluster: Cluster) -> Step:
    f = facts(cluster.spec.components.etcd.version)
    node = survivor(cluster)
    unit = EtcdPaths(cluster).unit
    states = "; ".join(f"echo \"{n.name}: $({ssh_prefix(cluster, n)} "
                       f"{shlex.quote(f'grep -o -- --initial-cluster-state=[a-z]* {unit}')})\""
                       for n in cluster.etcd_members)
    ids = f"{remote(cluster, node, recovery.cluster_ids(cluster, f))}"
    script = "\n".join([
        f"{remote(cluster, node, etcdctl(cluster, f, 'member', 'list'))}",
        states,
        f'echo "etcd cluster IDs seen by the members: $({ids})"',
    ])
    started = "".join(rf"(?=[\s\S]*, started, {re.escape(n.name)}, )" for n in cluster.etcd_members)
    every_existing = "".join(rf"(?=[\s\S]*^{re.escape(n.name)}: --initial-cluster-state=existing$)"
                             for n in cluster.etcd_members)
    return Step(
        **TEXT.step(f"{ID}.members", unit=unit),
        local=(Command(script, expect=rf"\A{started}{every_existing}(?=[\s\S]*^etcd cluster IDs seen by the members: "
                                      r"\d+$)",
                       example="\n".join([
                           *(f"8e9e05c52164694d, started, {n.name}, {peer_url(n)}, {client_url(n)}, false"
                             for n in cluster.etcd_members),
                           *(f"{n.name}: --initial-cluster-state=existing" for n in cluster.etcd_members),
                           "etcd cluster IDs seen by the members: 10316109323310759371"])),),
    )



def chapter(cluster: Cluster, build: Sequence[Chapter]) -> Chapter | None:
    if day2.planned(cluster) != ID:
        return None
    node = survivor(cluster)
    return Chapter(
        **TEXT.chapter(ID, survivor=node.name, lost=", ".join(n.name for n in lost(cluster)),
                       members=len(cluster.etcd_members)),
        number=NUMBER,
        steps=(check_step(cluster), recovery.stop_step(cluster, ID), force_step(cluster),
               readd_step(cluster, build), members_step(cluster), recovery.start_control_plane_step(cluster, ID),
               recovery.verify_step(cluster, ID)),
    )
