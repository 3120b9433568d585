"""kube-controller-manager as a service: on every master, one elected leader."""

from __future__ import annotations

from generator.components.kube_apiserver.files import ID as APISERVER_UNIT
from generator.components.kube_controller_manager.facts import facts
from generator.components.kube_controller_manager.files import ID, Paths
from generator.model import Cluster, Node
from generator.service import MASTER, Election, Lock, Port, Service


def files(cluster: Cluster, node: Node) -> list[str]:
    return Paths(cluster).node_files()


def ports(cluster: Cluster) -> list[Port]:
    return [Port(facts(cluster.release).secure_port)]


def lock(cluster: Cluster) -> Lock:
    f = facts(cluster.release)
    return Lock(f.leader_from_lease, f.releases_lock_on_stop,
                cluster.spec.components.kube_controller_manager.leader_election)


SERVICE = Service(unit=ID, component=ID, role=MASTER, files=files, binaries=(ID,), ports=ports,
                  after=(APISERVER_UNIT,), election=Election(label="controller-manager", shell="cm", lock=lock))
