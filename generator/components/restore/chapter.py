"""The restore chapter: the snapshot checked; the control plane and etcd stopped; every member's data directory set
aside and restored from the same snapshot with `etcdutl snapshot restore` (new cluster token, the same names and
peer URLs); etcd started on every member at once; one cluster ID; the control plane started; the time from the
first destructive step to `/readyz` through the API endpoint measured."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from generator import daemons, day2
from generator.artifacts import Artifact, rel_build
from generator.components.admin.files import kubectl
from generator.components.etcd.checks import etcdctl, runner
from generator.components.etcd.facts import EtcdFacts, facts
from generator.components.etcd.files import Paths as EtcdPaths
from generator.components.etcd.files import initial_cluster, peer_url, token
from generator.components.load_balancer.shell import on_node_function
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, for_each, for_each_master, on, push, ssh_prefix, sudo
from generator.text import Texts

ID = day2.RESTORE
NUMBER = 15
TEXT = Texts.of_component(__file__)
WAIT = 180  # seconds the control plane may take to answer again after etcd is back
POLL = "0.5"


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []


def restore_dir(cluster: Cluster) -> str:
    return f"{cluster.spec.paths.etcd_data_dir}-restore"


def started_file(cluster: Cluster) -> str:
    """Where the first destructive step notes its time on the workstation: the recovery time is measured from it."""
    return f"{rel_build(cluster)}/{ID}/started"


def restore_token(cluster: Cluster, sha256: str) -> str:
    """A new cluster token: the restored members must never take a member of the old cluster for one of theirs."""
    return f"{token(cluster)}-restore-{sha256[:8]}"


def control_plane_units(cluster: Cluster) -> list[str]:
    return [s.unit for s in daemons.start_order(daemons.running(cluster)) if s.binaries]


def check_step(cluster: Cluster) -> Step:
    return Step(
        **TEXT.step(f"{ID}.check", snapshot=cluster.spec.restore.snapshot, keep=cluster.spec.backup.keep,
                    every=cluster.spec.backup.every_minutes),
        local=(Command(shlex.join(["invoke", "backups", "--cluster", cluster.ref, "--check-restore"]),
                       expect=r"^snapshot .*: of \S+, member \S+, taken .*sha256 checked$",
                       example=f"snapshot {cluster.spec.restore.snapshot}: of {cluster.name}, member "
                               f"{runner(cluster).name}, taken 2026-12-07T04:31:31Z, revision 5536, 2.3 MB, sha256 "
                               "checked\nmeasured: restore_rpo_seconds=742.0"),),
    )


def stop_script(cluster: Cluster) -> str:
    s = sudo(cluster)
    units = " ".join(reversed(control_plane_units(cluster)))
    lines = [*on_node_function(cluster), f"mkdir -p {rel_build(cluster)}/{ID}",
             f"date +%s.%N > {started_file(cluster)}"]
    lines += [f"on_node {n.name} '{s}systemctl stop {units}' &" for n in cluster.masters]
    lines += ["wait"]
    lines += [f"{ssh_prefix(cluster, n)} '{s}systemctl stop etcd' &" for n in cluster.etcd_members]
    lines += ["wait"]
    states = f"systemctl is-active etcd {units} | xargs"
    lines += [f"echo \"{n.name}: $({ssh_prefix(cluster, n)} {shlex.quote(states)})\"" for n in cluster.control_plane]
    return "\n".join(lines)


def stop_step(cluster: Cluster) -> Step:
    units = control_plane_units(cluster)
    return Step(
        **TEXT.step(f"{ID}.stop", units=", ".join(units)),
        local=(Command(stop_script(cluster), expect=r"\A(?![\s\S]*\bactive\b)",
                       example="\n".join(f"{n.name}: inactive inactive inactive inactive" for n in cluster.masters)),),
    )


def data_commands(cluster: Cluster, node: Node, f: EtcdFacts) -> list[Command]:
    s = sudo(cluster)
    paths = EtcdPaths(cluster)
    directory = restore_dir(cluster)
    copy = f"{directory}/snapshot.db"
    data = paths.data_dir
    tool = (paths.etcdutl,) if f.etcdutl else (*f.etcdctl_env, paths.etcdctl)
    restore = shlex.join([*tool, "snapshot", "restore", copy, f"--name={node.name}",
                          f"--initial-cluster={initial_cluster(cluster)}",
                          f"--initial-advertise-peer-urls={peer_url(node)}", f"--data-dir={data}"])
    receive = f"{s}install -d -m 0700 {directory} && {s}sh -c {shlex.quote(f'umask 077 && cat > {copy}')}"
    # Every member gets the same bytes, so each derives the same token and marker from them.
    script = "\n".join([
        "set -eo pipefail",
        f"id=$(sha256sum < {copy} | cut -c1-8)",
        f'if [ -e {directory}/restored-$id ]; then echo "{node.name}: already restored from snapshot $id"; exit 0; fi',
        # set aside, never deleted: the data as it was stays beside the restored one
        f"if [ -e {data} ]; then mv {data} {data}.before-restore-$(date -u +%Y%m%dT%H%M%SZ); fi",
        f'{restore} --initial-cluster-token={token(cluster)}-restore-$id 2>&1 | tail -n 2',
        f"chmod 700 {data}",
        f"touch {directory}/restored-$id",
        f'echo "{node.name}: restored from snapshot $id"',
    ])
    return [
        Command(f"{ssh_prefix(cluster, node)} {shlex.quote(receive)} < {shlex.quote(cluster.spec.restore.snapshot)}"),
        on(cluster, node, f"{s}bash -c {shlex.quote(script)}", expect=rf"^{node.name}: (already )?restored from ",
           example=f"{node.name}: restored from snapshot 54c4cd58"),
    ]


def data_step(cluster: Cluster, f: EtcdFacts) -> Step:
    return Step(
        **TEXT.step(f"{ID}.data", data=EtcdPaths(cluster).data_dir, snapshot=cluster.spec.restore.snapshot,
                    token=f"{token(cluster)}-restore-<id>", dir=restore_dir(cluster)),
        per_node=for_each(cluster.etcd_members, lambda node: data_commands(cluster, node, f)),
    )


def cluster_ids(cluster: Cluster, f: EtcdFacts) -> str:
    """Shell on the runner: the distinct etcd cluster IDs the members report (one, or a split brain)."""
    status = etcdctl(cluster, f, "--command-timeout=3s", "endpoint", "status", "-w", "json")
    return f"{status} | grep -o '\"cluster_id\":[0-9]*' | sort -u | cut -d: -f2 | xargs"


def start_etcd_step(cluster: Cluster, f: EtcdFacts) -> Step:
    s = sudo(cluster)
    paths = EtcdPaths(cluster)
    node = runner(cluster)
    ids = cluster_ids(cluster, f)
    return Step(
        **TEXT.step(f"{ID}.start-etcd", unit=paths.unit),
        per_node=(*for_each(cluster.etcd_members, lambda n: [
            push(cluster, n, [paths.unit]),
            on(cluster, n, f"{s}systemctl daemon-reload && {s}systemctl start etcd && systemctl is-active etcd",
               expect=r"^active$", example="active"),
        ]),),
    ), Step(
        **TEXT.step(f"{ID}.etcd-health"),
        per_node=((node, (
            on(cluster, node, etcdctl(cluster, f, "endpoint", "health"), expect=r"is healthy",
               example=f"https://{node.host}:2379 is healthy: successfully committed proposal: took = 2.1ms"),
            on(cluster, node, f'echo "etcd cluster IDs seen by the members: $({ids})"',
               expect=r"^etcd cluster IDs seen by the members: \d+$",
               example="etcd cluster IDs seen by the members: 10316109323310759371"),
        )),),
    )


def start_control_plane_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    units = control_plane_units(cluster)
    return Step(
        **TEXT.step(f"{ID}.start-control-plane", units=", ".join(units)),
        per_node=for_each_master(cluster, lambda n: [
            on(cluster, n, f"{s}systemctl start {' '.join(units)} && systemctl is-active {' '.join(units)} | xargs",
               expect=rf"^{' '.join(['active'] * len(units))}$", example=" ".join(["active"] * len(units))),
        ]),
    )


def verify_script(cluster: Cluster) -> str:
    k = kubectl(cluster)
    started = started_file(cluster)
    return "\n".join([
        f"end=$((SECONDS + {WAIT}))",
        f"until {k} get --raw /readyz >/dev/null 2>&1 || [ $SECONDS -ge $end ]; do sleep {POLL}; done",
        "t1=$(date +%s.%N)",
        f'echo "/readyz through the endpoint: $({k} get --raw /readyz 2>&1)"',
        f"[ -s {started} ] && awk -v a=\"$(cat {started})\" -v b=\"$t1\" "
        "'BEGIN { printf \"measured: restore_rto_seconds=%.3f\\n\", b - a }'",
        f"{k} get namespaces -o name | wc -l | xargs echo namespaces:",
    ])


def verify_step(cluster: Cluster) -> Step:
    return Step(
        **TEXT.step(f"{ID}.verify", wait=WAIT),
        local=(Command(verify_script(cluster), expect=r"^/readyz through the endpoint: ok$",
                       example="/readyz through the endpoint: ok\nmeasured: restore_rto_seconds=41.207\n"
                               "namespaces: 4"),),
        needs_kube_binaries=True,
    )


def chapter(cluster: Cluster, build: Sequence[Chapter]) -> Chapter | None:
    if day2.planned(cluster) != ID or not cluster.etcd_members:
        return None
    f = facts(cluster.spec.components.etcd.version)
    start_etcd, health = start_etcd_step(cluster, f)
    return Chapter(
        **TEXT.chapter(ID, snapshot=cluster.spec.restore.snapshot, members=len(cluster.etcd_members)),
        number=NUMBER,
        steps=(check_step(cluster), stop_step(cluster), data_step(cluster, f), start_etcd, health,
               start_control_plane_step(cluster), verify_step(cluster)),
    )
