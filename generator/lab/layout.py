"""Names and paths of a cluster's lab, all derived from the cluster file."""

from __future__ import annotations

import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from generator.artifacts import build_dir
from generator.model import REPO, Cluster, Node

PREFIX_LEN = 24


class LabError(Exception):
    """Something the lab cannot do; the message says what and how to fix it."""


@dataclass(frozen=True)
class LabNode:
    node: Node
    netns: str
    host_veth: str
    root: Path

    @property
    def name(self) -> str:
        return self.node.name


@dataclass(frozen=True)
class Lab:
    """Names and paths of one cluster's lab; all derived from the cluster file, so lab-down finds them."""

    cluster: Cluster
    dir: Path
    bridge: str
    bridge_address: str  # with prefix, e.g. 10.88.0.1/24
    interface: str
    nodes: tuple[LabNode, ...]
    key: Path
    known_hosts: Path | None
    ssh_dir: Path
    state_file: Path
    nodes_base: Path

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Interface(self.bridge_address).network


def option(cluster: Cluster, key: str) -> str | None:
    """The value of an ssh `-o Key=value` option of the cluster file (keys are case-insensitive)."""
    for opt in cluster.spec.ssh.options:
        name, _, value = opt.partition("=")
        if name.strip().lower() == key.lower():
            return value.strip()
    return None


def under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)


def repo_path(value: str) -> Path:
    """A path as written in the cluster file: relative ones are relative to the repository root."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else REPO / path


def lab(cluster: Cluster) -> Lab:
    tag = hashlib.sha1(cluster.name.encode()).hexdigest()[:6]
    # A leaving node still runs until its membership chapter is done: it stays part of the lab until then.
    members = (*cluster.spec.nodes, *cluster.spec.membership.leaving)
    ips = []
    for node in members:
        ip = ipaddress.ip_address(node.ip)
        if ip.version != 4:
            raise LabError(f"node {node.name}: the lab uses IPv4 addresses only, not {node.ip}")
        ips.append(ip)
    network = ipaddress.IPv4Network(f"{ips[0]}/{PREFIX_LEN}", strict=False)
    outside = [n.name for n, ip in zip(members, ips, strict=True) if ip not in network]
    if outside:
        raise LabError(f"every lab node must be in {network} (the first node's /{PREFIX_LEN}); "
                       f"not: {', '.join(outside)}")
    taken = set(ips)
    vip = cluster.spec.api_server.vip
    if vip:
        taken.add(ipaddress.ip_address(vip))
    bridge_ip = next(ip for ip in network.hosts() if ip not in taken)
    identity = option(cluster, "IdentityFile")
    if not identity:
        raise LabError("the lab's cluster file needs the ssh option IdentityFile=<path> "
                       "(lab-up creates that key and authorises it on every node)")
    known = option(cluster, "UserKnownHostsFile")
    root = build_dir(cluster)
    nodes_base = root / "nodes-root"
    nodes = tuple(
        LabNode(node, f"{cluster.name}-{node.name}", f"lb{tag}v{i}", nodes_base / node.name)
        for i, node in enumerate(members)
    )
    key = repo_path(identity)
    return Lab(
        cluster=cluster, dir=root, bridge=f"lb{tag}", bridge_address=f"{bridge_ip}/{PREFIX_LEN}",
        interface=cluster.spec.load_balancer.interface, nodes=nodes, key=key,
        known_hosts=repo_path(known) if known and known != "/dev/null" else None,
        ssh_dir=root / "ssh", state_file=root / "lab-state.json", nodes_base=nodes_base,
    )


def upper_path(lab_node: LabNode, absolute: str) -> Path:
    """Where a file the node sees at `absolute` is kept on the workstation: the writable layer of the node's root
    (what the node wrote or lab-up gave it; a file the node only reads from this machine is not there)."""
    return lab_node.root / "upper" / absolute.lstrip("/")
