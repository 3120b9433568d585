"""haproxy and keepalived as services: on every master, only where the cluster has a VIP of its own; where their
files are, and how haproxy checks the apiservers behind it (what kube-apiserver's shutdown delay follows)."""

from __future__ import annotations

from generator.model import Cluster, Node
from generator.service import MASTER, Port, Service
from generator.text import Texts

ID = "load-balancer"
TEXT = Texts.of_component(__file__)
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
KEEPALIVED_CONF = "/etc/keepalived/keepalived.conf"
# haproxy's backend health check: every CHECK_INTERVAL s, DOWN after CHECK_FALL failures, UP after CHECK_RISE
# successes. kube-apiserver's --shutdown-delay-duration is derived from it (kube_apiserver/files.py).
CHECK_INTERVAL = 2
CHECK_FALL = 2
CHECK_RISE = 2
# While a stopping kube-apiserver still serves, its /readyz already fails: --shutdown-delay-duration lets the load
# balancer see it (CHECK_FALL checks CHECK_INTERVAL s apart) and move clients away before the listener closes,
# with two intervals of slack: with one, a CI run lost 1 of 2,400 requests during a CA rotation (9 apiserver
# restarts) on a loaded 2-core machine, where a check can come late; afterwards the apiserver answers 429.
SHUTDOWN_DELAY_SECONDS = CHECK_INTERVAL * (CHECK_FALL + 2)


def enabled(cluster: Cluster) -> bool:
    """haproxy and keepalived are rendered only for a VIP: not for an external LB nor a lone master."""
    return cluster.spec.load_balancer.kind == "haproxy-keepalived" and cluster.load_balanced


def haproxy_files(cluster: Cluster, node: Node) -> list[str]:
    return [HAPROXY_CFG]


def keepalived_files(cluster: Cluster, node: Node) -> list[str]:
    return [KEEPALIVED_CONF]


def haproxy_ports(cluster: Cluster) -> list[Port]:
    return [Port(cluster.spec.api_server.port, TEXT(ID, "port-haproxy"))]


# Both take a changed file with `reload`: haproxy keeps its connections, keepalived its VIP. keepalived tracks
# haproxy (a master whose haproxy is down gives the VIP away).
HAPROXY = Service(unit="haproxy", component=ID, role=MASTER, files=haproxy_files, ports=haproxy_ports, reload=True,
                  enabled=enabled)
KEEPALIVED = Service(unit="keepalived", component=ID, role=MASTER, files=keepalived_files, after=(HAPROXY.unit,),
                     reload=True, enabled=enabled)
SERVICES = (HAPROXY, KEEPALIVED)
