"""Day-2 changes a cluster file plans, and the cluster as it runs before them.

A cluster file always describes the cluster as it will be: its `kubernetes_version`, its `nodes`. A planned change
adds what runs today (`upgrade.from`, or the `membership` section), so everything the runbook renders and pushes is
the target, and the cluster as it runs now exists only in memory, to be compared with it (generator/changes.py)
and to say where the chapter starts. Once the change has run, deleting the section changes nothing else.
"""

from __future__ import annotations

from dataclasses import replace

from generator.model import (
    CaRotation,
    Cluster,
    Membership,
    Node,
    QuorumLoss,
    Rebuild,
    Restore,
    Upgrade,
    as_written,
    with_paired_etcd,
)
from generator.versions import Release, parse_release

UPGRADE, MEMBERSHIP, CA_ROTATION = "upgrade", "membership", "ca-rotation"
RESTORE, QUORUM_LOSS, REBUILD = "restore", "quorum-loss", "rebuild"


def planned(cluster: Cluster) -> str | None:
    """Which day-2 chapter the cluster file plans, if any (the checks allow one at a time)."""
    if cluster.spec.upgrade.from_:
        return UPGRADE
    if joining(cluster) or leaving(cluster):
        return MEMBERSHIP
    if cluster.spec.ca_rotation.authorities:
        return CA_ROTATION
    return recovery(cluster)


def recovery(cluster: Cluster) -> str | None:
    """Which recovery chapter the cluster file plans, if any: a restore from a snapshot, a lost quorum, or a master
    rebuilt from nothing."""
    spec = cluster.spec
    if spec.restore.snapshot:
        return RESTORE
    if spec.quorum_loss.survivor:
        return QUORUM_LOSS
    if spec.rebuild.node:
        return REBUILD
    return None


def current_release(cluster: Cluster) -> Release:
    """The release the masters run now: `upgrade.from` when an upgrade is planned, else the file's release."""
    release = parse_release(cluster.spec.upgrade.from_) if cluster.spec.upgrade.from_ else cluster.release
    assert isinstance(release, Release), "load() checked upgrade.from"
    return release


def joining(cluster: Cluster) -> tuple[Node, ...]:
    return tuple(n for n in cluster.spec.nodes if n.name in cluster.spec.membership.joining)


def leaving(cluster: Cluster) -> tuple[Node, ...]:
    return cluster.spec.membership.leaving


def previous(cluster: Cluster) -> Cluster | None:
    """The cluster as it runs before the planned change (None when nothing is planned, or a CA rotation, which
    changes no cluster file field: its phases are recorded in the build, generator/rotation.py).

    A leaving node is taken to have been the last in the old file: only keepalived priorities depend on the
    order, and they are shown, not pushed, for the old cluster.
    """
    spec = cluster.spec
    if planned(cluster) == UPGRADE:
        old = replace(as_written(cluster), kubernetes_version=spec.upgrade.from_, upgrade=Upgrade())
        return replace(cluster, spec=with_paired_etcd(old, current_release(cluster)), release=current_release(cluster))
    if planned(cluster) == MEMBERSHIP:
        names = spec.membership.joining
        nodes = tuple(n for n in spec.nodes if n.name not in names) + leaving(cluster)
        return replace(cluster, spec=replace(spec, nodes=nodes, membership=Membership()))
    return None


def examples(cluster: Cluster) -> list[Cluster]:
    """`cluster` with each kind of change planned: an upgrade from the previous minor release, a master joining,
    a master leaving, a rotation of the cluster CA, a restore, a lost quorum, a master rebuilt.
    The notebooks take their day-2 cells from these (a notebook holds step ids only)."""
    spec, release = cluster.spec, cluster.release
    older = f"{release.major}.{release.minor - 1}.0"
    last = cluster.masters[-1]
    new = Node(name=f"{last.name}-new", ip=last.ip, roles=last.roles)
    old = Node(name=f"{last.name}-old", ip=last.ip, roles=last.roles)
    without_last = tuple(n for n in spec.nodes if n != last)
    return [
        replace(cluster, spec=replace(spec, upgrade=Upgrade(from_=older))),
        replace(cluster, spec=replace(spec, nodes=(*without_last, new), membership=Membership(joining=(new.name,)))),
        replace(cluster, spec=replace(spec, nodes=without_last, membership=Membership(leaving=(old,)))),
        replace(cluster, spec=replace(spec, ca_rotation=CaRotation(authorities=("cluster",)))),
        replace(cluster, spec=replace(spec, restore=Restore(snapshot="backups/example.db"))),
        replace(cluster, spec=replace(spec, quorum_loss=QuorumLoss(survivor=cluster.etcd_members[0].name))),
        replace(cluster, spec=replace(spec, rebuild=Rebuild(node=last.name))),
    ]
