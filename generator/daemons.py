"""Every daemon the runbook installs, in deployment order: the one list of them (generator/catalog.py lists the
chapters). Each component describes its own in its folder's `service.py` (generator/service.py says what a
descriptor holds); everything that needs the daemons asks here.
"""

from __future__ import annotations

from generator.components.etcd.service import SERVICE as ETCD
from generator.components.kube_apiserver.service import SERVICE as KUBE_APISERVER
from generator.components.kube_controller_manager.service import SERVICE as KUBE_CONTROLLER_MANAGER
from generator.components.kube_scheduler.service import SERVICE as KUBE_SCHEDULER
from generator.components.load_balancer.service import SERVICES as LOAD_BALANCER
from generator.model import Cluster, Node
from generator.service import Service

SERVICES: tuple[Service, ...] = (
    *LOAD_BALANCER,
    ETCD,
    KUBE_APISERVER,
    KUBE_CONTROLLER_MANAGER,
    KUBE_SCHEDULER,
)


def on_node(cluster: Cluster, node: Node) -> list[Service]:
    """The services `node` runs, in deployment order."""
    return [s for s in SERVICES if s.runs_on(cluster, node)]


def running(cluster: Cluster) -> list[Service]:
    """The services the cluster runs anywhere, in deployment order."""
    return [s for s in SERVICES if s.nodes(cluster)]


def start_order(services: list[Service]) -> list[Service]:
    """`services` so that each comes after those it starts after, otherwise in deployment order."""
    started: list[Service] = []
    waiting = list(services)
    while waiting:
        ready = next(s for s in waiting if not {*s.after} & {w.unit for w in waiting})
        started.append(ready)
        waiting.remove(ready)
    return started


def elected(cluster: Cluster) -> list[Service]:
    """The services that run on every master with one elected leader, in deployment order."""
    return [s for s in running(cluster) if s.election is not None]


def ports_on(cluster: Cluster, node: Node) -> dict[str, tuple[int, ...]]:
    """What listens on `node`: each of its services with ports, and their numbers."""
    return {s.unit: ports for s in on_node(cluster, node) if (ports := tuple(p.number for p in s.ports(cluster)))}
