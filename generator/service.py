"""A daemon the runbook installs, described once by its component (`generator/components/<name>/service.py`).

Every list of daemons derives from these descriptors, taken in deployment order from generator/daemons.py: the
services verification checks on each node, the files a rollout pushes and the units it restarts, the ledger's
"restart on change", the overview's ports and topology, the lab's ports.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from generator.model import Cluster, LeaderElection, Node
from generator.text import Text

MASTER, ETCD = "master", "etcd"  # the node roles a service runs on


@dataclass(frozen=True)
class Port:
    number: int
    purpose: Text | None = None  # how the overview's port table names it; None: the unit


@dataclass(frozen=True)
class Lock:
    """One release's leader election: the lock is named after the unit, in kube-system."""

    from_lease: bool  # the holder is read from a Lease (else from the Endpoints' leader annotation)
    releases_on_stop: bool  # a cleanly stopped leader gives the lock back (else it must expire)
    settings: LeaderElection


@dataclass(frozen=True)
class Election:
    """A service that runs on every master with one elected leader."""

    label: str  # how scripts print its leader ("scheduler leader: …"); run records and the lab's tests read it
    shell: str  # the name of the scripts' shell function that prints its leader
    lock: Callable[[Cluster], Lock]


def _always(cluster: Cluster) -> bool:
    return True


def _no_ports(cluster: Cluster) -> Sequence[Port]:
    return ()


@dataclass(frozen=True)
class Service:
    """`files`: the rendered files of this service on a node, absolute paths in the order a rollout pushes them.
    `reads`: those the daemon reads, where a change restarts it (None: every one of `files`). `binaries`: what it
    runs from the Kubernetes release (installed into `paths.bin_dir`). `after`: the units it starts after.
    `reload`: a changed file takes effect with `systemctl reload` (no restart). `enabled`: whether the cluster runs it
    at all. `health`: the path that says whether it serves, which a load balancer in front of it checks."""

    unit: str
    component: str  # the chapter that installs it (`invoke render --component`)
    role: str  # MASTER or ETCD
    files: Callable[[Cluster, Node], Sequence[str]]
    reads: Callable[[Cluster, Node], Sequence[str]] | None = None
    binaries: tuple[str, ...] = ()
    ports: Callable[[Cluster], Sequence[Port]] = _no_ports
    after: tuple[str, ...] = ()
    reload: bool = False
    enabled: Callable[[Cluster], bool] = _always
    election: Election | None = None
    health: Callable[[Cluster], str] | None = None

    def runs_on(self, cluster: Cluster, node: Node) -> bool:
        """By the node's roles: true for a node the cluster file lists as leaving, too."""
        return self.role in node.roles and self.enabled(cluster)

    def nodes(self, cluster: Cluster) -> tuple[Node, ...]:
        return tuple(n for n in cluster.spec.nodes if self.runs_on(cluster, n))

    def read_files(self, cluster: Cluster, node: Node) -> Sequence[str]:
        return (self.reads or self.files)(cluster, node)
