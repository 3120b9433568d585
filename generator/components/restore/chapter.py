"""The restore chapter: the snapshot checked; the control plane and etcd stopped; every member's data directory set
aside and restored from the same snapshot with `etcdutl snapshot restore` (new cluster token, the same names and
peer URLs); etcd started on every member at once; one cluster ID; the control plane started; the time from the
first destructive step to `/readyz` through the API endpoint measured."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from generator import day2
from generator.artifacts import Artifact
from generator.components import recovery
from generator.components.etcd.checks import etcdctl, runner
from generator.components.etcd.facts import EtcdFacts, facts
from generator.components.etcd.files import Paths as EtcdPaths
from generator.components.etcd.files import initial_cluster, peer_url, token
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, for_each, on, push, remote, sudo
from generator.text import Texts

ID = day2.RESTORE
NUMBER = 15
TEXT = Texts.of_component(__file__)


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []


def restore_dir(cluster: Cluster) -> str:
    return f"{cluster.spec.paths.etcd_data_dir}-restore"



def restore_token(cluster: Cluster, sha256: str) -> str:
    """A new cluster token: the restored members must never take a member of the old cluster for one of theirs."""
    return f"{token(cluster)}-restore-{sha256[:8]}"



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
        Command(f"{remote(cluster, node, receive)} < {shlex.quote(cluster.spec.restore.snapshot)}"),
        on(cluster, node, f"{s}bash -c {shlex.quote(script)}", expect=rf"^{node.name}: (already )?restored from ",
           example=f"{node.name}: restored from snapshot 54c4cd58"),
    ]


def data_step(cluster: Cluster, f: EtcdFacts) -> Step:
    return Step(
        **TEXT.step(f"{ID}.data", data=EtcdPaths(cluster).data_dir, snapshot=cluster.spec.restore.snapshot,
                    token=f"{token(cluster)}-restore-<id>", dir=restore_dir(cluster)),
        per_node=for_each(cluster.etcd_members, lambda node: data_commands(cluster, node, f)),
    )



def start_etcd_step(cluster: Cluster, f: EtcdFacts) -> Step:
    s = sudo(cluster)
    paths = EtcdPaths(cluster)
    node = runner(cluster)
    ids = recovery.cluster_ids(cluster, f)
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





def chapter(cluster: Cluster, build: Sequence[Chapter]) -> Chapter | None:
    if day2.planned(cluster) != ID or not cluster.etcd_members:
        return None
    f = facts(cluster.spec.components.etcd.version)
    start_etcd, health = start_etcd_step(cluster, f)
    return Chapter(
        **TEXT.chapter(ID, snapshot=cluster.spec.restore.snapshot, members=len(cluster.etcd_members)),
        number=NUMBER,
        steps=(check_step(cluster), recovery.stop_step(cluster, ID), data_step(cluster, f), start_etcd, health,
               recovery.start_control_plane_step(cluster, ID), recovery.verify_step(cluster, ID)),
    )
