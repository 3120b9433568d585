"""kube-scheduler as a service: on every master, one elected leader."""

from __future__ import annotations

from generator.components.kube_apiserver.files import ID as APISERVER_UNIT
from generator.components.kube_scheduler.facts import facts
from generator.components.kube_scheduler.files import ID, Paths
from generator.model import Cluster, Node
from generator.service import MASTER, Election, Lock, Port, Service


def files(cluster: Cluster, node: Node) -> list[str]:
    return Paths(cluster).node_files()


def reads(cluster: Cluster, node: Node) -> list[str]:
    """Before its secure port (1.13) it serves plain HTTP: its certificate and the CA are rendered, never read."""
    paths = Paths(cluster)
    return paths.node_files() if facts(cluster.release).secure_port else [paths.kubeconfig, paths.config, paths.unit]


def ports(cluster: Cluster) -> list[Port]:
    f = facts(cluster.release)
    return [Port(f.secure_port or f.insecure_port)]


def lock(cluster: Cluster) -> Lock:
    f = facts(cluster.release)
    return Lock(f.leader_from_lease, f.releases_lock_on_stop, cluster.spec.components.kube_scheduler.leader_election)


SERVICE = Service(unit=ID, component=ID, role=MASTER, files=files, reads=reads, binaries=(ID,), ports=ports,
                  after=(APISERVER_UNIT,), election=Election(label="scheduler", shell="sched", lock=lock))
