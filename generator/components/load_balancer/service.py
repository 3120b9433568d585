"""haproxy and keepalived as services: on every master, only where the cluster has a VIP of its own."""

from __future__ import annotations

from generator.components.load_balancer.files import HAPROXY_CFG, ID, KEEPALIVED_CONF, enabled
from generator.model import Cluster, Node
from generator.service import MASTER, Port, Service
from generator.text import Text


def haproxy_files(cluster: Cluster, node: Node) -> list[str]:
    return [HAPROXY_CFG]


def keepalived_files(cluster: Cluster, node: Node) -> list[str]:
    return [KEEPALIVED_CONF]


def haproxy_ports(cluster: Cluster) -> list[Port]:
    return [Port(cluster.spec.api_server.port, Text(zh="haproxy → kube-apiserver", en="haproxy → kube-apiserver"))]


# Both take a changed file with `reload`: haproxy keeps its connections, keepalived its VIP. keepalived tracks
# haproxy (a master whose haproxy is down gives the VIP away).
HAPROXY = Service(unit="haproxy", component=ID, role=MASTER, files=haproxy_files, ports=haproxy_ports, reload=True,
                  enabled=enabled)
KEEPALIVED = Service(unit="keepalived", component=ID, role=MASTER, files=keepalived_files, after=(HAPROXY.unit,),
                     reload=True, enabled=enabled)
SERVICES = (HAPROXY, KEEPALIVED)
