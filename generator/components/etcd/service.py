"""etcd as a service: one member per node with the etcd role."""

from __future__ import annotations

from generator.components.etcd.files import CLIENT_PORT, ID, PEER_PORT, Paths
from generator.model import Cluster, Node
from generator.service import ETCD, Port, Service
from generator.text import Texts

TEXT = Texts.of_component(__file__)


def files(cluster: Cluster, node: Node) -> list[str]:
    return Paths(cluster).member_files()


def reads(cluster: Cluster, node: Node) -> list[str]:
    """All but etcdctl's client pair, which travels with etcd for the operator's etcdctl on the member."""
    paths = Paths(cluster)
    return [f for f in paths.member_files() if f not in (paths.etcdctl_cert, paths.etcdctl_key)]


def ports(cluster: Cluster) -> list[Port]:
    return [Port(CLIENT_PORT, TEXT(ID, "port-client")), Port(PEER_PORT, TEXT(ID, "port-peer"))]


SERVICE = Service(unit=ID, component=ID, role=ETCD, files=files, reads=reads, ports=ports)
