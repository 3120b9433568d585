"""kube-apiserver as a service: on every master, after etcd."""

from __future__ import annotations

from generator.components.etcd.files import ID as ETCD_UNIT
from generator.components.etcd.files import Paths as EtcdPaths
from generator.components.kube_apiserver.facts import facts
from generator.components.kube_apiserver.files import ID, Paths
from generator.model import Cluster, Node
from generator.service import MASTER, Port, Service


def files(cluster: Cluster, node: Node) -> list[str]:
    """Its own files, and etcd's CA and the client pair it presents to etcd (in the separate layout, etcd-ca.pem is
    nobody else's on a master that is no etcd member)."""
    return list(dict.fromkeys([*Paths(cluster).node_files(), *EtcdPaths(cluster).master_files()]))


def reads(cluster: Cluster, node: Node) -> list[str]:
    """All but the service-account signing key before 1.20, when the apiserver began to sign tokens itself."""
    paths = Paths(cluster)
    unread = () if facts(cluster.release).sa_issuer_required else (paths.sa_key,)
    return [f for f in files(cluster, node) if f not in unread]


def ports(cluster: Cluster) -> list[Port]:
    return [Port(cluster.spec.api_server.secure_port)]


def health(cluster: Cluster) -> str:
    return facts(cluster.release).lb_health_path


SERVICE = Service(unit=ID, component=ID, role=MASTER, files=files, reads=reads, binaries=(ID,), ports=ports,
                  after=(ETCD_UNIT,), health=health)
