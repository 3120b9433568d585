"""etcd's files: per-member server and peer certificates, the client certificates, and one unit per member."""

from __future__ import annotations

from generator import day2, pki, systemd, trust
from generator.artifacts import Artifact, on_node
from generator.components.etcd.facts import EtcdFacts, facts
from generator.context import RenderContext
from generator.model import Cluster, Node

ID = "etcd"
CLIENT_PORT = 2379
PEER_PORT = 2380
# The operator's identity for etcdctl on the members (health, status, leader, failover).
ETCDCTL_CLIENT = pki.CertSpec(name="etcdctl", cn="etcdctl", org=None, usage="client", ca=pki.ETCD_CA)


def url_host(ip: str) -> str:
    return f"[{ip}]" if ":" in ip else ip


def client_url(node: Node) -> str:
    return f"https://{url_host(node.ip)}:{CLIENT_PORT}"


def peer_url(node: Node) -> str:
    return f"https://{url_host(node.ip)}:{PEER_PORT}"


def endpoints(cluster: Cluster) -> str:
    """Every member's client URL, comma-separated: what etcdctl and kube-apiserver's --etcd-servers take."""
    return ",".join(client_url(n) for n in cluster.etcd_members)


def member_sans(node: Node) -> tuple[tuple[str, ...], tuple[str, ...]]:
    # kubeadm's choice for both etcd certificates: the member's IP and name plus loopback. Loopback in the
    # peer certificate matters: etcd checks a peer's client certificate against the connection's source IP.
    return (node.ip, "127.0.0.1"), (node.name, "localhost")


def server_spec(node: Node) -> pki.CertSpec:
    ips, dns = member_sans(node)
    return pki.CertSpec(name=f"etcd-server-{node.name}", cn=node.name, org=None, usage="client-server",
                        ips=ips, dns=dns, ca=pki.ETCD_CA)


def peer_spec(node: Node) -> pki.CertSpec:
    ips, dns = member_sans(node)
    return pki.CertSpec(name=f"etcd-peer-{node.name}", cn=node.name, org=None, usage="client-server",
                        ips=ips, dns=dns, ca=pki.ETCD_CA)


class Paths:
    """Where etcd's files live on a node (one layout for every member)."""

    def __init__(self, cluster: Cluster) -> None:
        p = cluster.spec.paths
        bin_dir = cluster.spec.components.etcd.bin_dir or p.bin_dir
        self.binary = f"{bin_dir}/etcd"
        self.etcdctl = f"{bin_dir}/etcdctl"
        self.etcdutl = f"{bin_dir}/etcdutl"
        self.data_dir = p.etcd_data_dir
        # The one CA etcd trusts, for clients and peers alike (the cluster CA in the single layout).
        self.ca = trust.ca_file(cluster, pki.ETCD_CA)
        self.server_cert = f"{p.pki_dir}/etcd-server.pem"
        self.server_key = f"{p.pki_dir}/etcd-server-key.pem"
        self.peer_cert = f"{p.pki_dir}/etcd-peer.pem"
        self.peer_key = f"{p.pki_dir}/etcd-peer-key.pem"
        self.etcdctl_cert = f"{p.pki_dir}/{ETCDCTL_CLIENT.name}.pem"
        self.etcdctl_key = f"{p.pki_dir}/{ETCDCTL_CLIENT.name}-key.pem"
        self.apiserver_cert = f"{p.pki_dir}/{pki.APISERVER_ETCD_CLIENT.name}.pem"
        self.apiserver_key = f"{p.pki_dir}/{pki.APISERVER_ETCD_CLIENT.name}-key.pem"
        self.unit = f"{p.systemd_dir}/{ID}.service"

    def member_files(self) -> list[str]:
        return [self.ca, self.server_cert, self.server_key, self.peer_cert, self.peer_key,
                self.etcdctl_cert, self.etcdctl_key, self.unit]

    def master_files(self) -> list[str]:
        return [self.ca, self.apiserver_cert, self.apiserver_key]

    def node_files(self, cluster: Cluster, node: Node) -> list[str]:
        """What this node needs from this chapter, in a stable order and without duplicates."""
        files: list[str] = []
        if node in cluster.etcd_members:
            files += self.member_files()
        if node in cluster.masters:
            files += [f for f in self.master_files() if f not in files]
        return files

    def keys(self, cluster: Cluster, node: Node) -> list[str]:
        return [f for f in self.node_files(cluster, node) if f.endswith("-key.pem")]


def initial_cluster(cluster: Cluster) -> str:
    return ",".join(f"{n.name}={peer_url(n)}" for n in cluster.etcd_members)


def initial_state(cluster: Cluster, node: Node) -> str:
    """`existing` for a member joining a running cluster (added with `etcdctl member add` first) and whenever a
    recovery is planned (the cluster exists: a member that lost its data must be added back, never bootstrap a cluster
    of its own — the split kubespray#13261 describes), else `new`. Either is read only while the data directory is
    empty: to a member with data both mean the same."""
    joining = node.name in cluster.spec.membership.joining
    return "existing" if joining or day2.recovery(cluster) else "new"


def token(cluster: Cluster) -> str:
    # Unique per cluster, so members of two clusters bootstrapped side by side never join each other.
    return f"etcd-{cluster.name}"


def flags(cluster: Cluster, node: Node, f: EtcdFacts) -> list[str]:
    paths = Paths(cluster)
    return [
        f"--name={node.name}",
        f"--data-dir={paths.data_dir}",
        f"--listen-client-urls={client_url(node)},https://127.0.0.1:{CLIENT_PORT}",
        f"--advertise-client-urls={client_url(node)}",
        f"--listen-peer-urls={peer_url(node)}",
        f"--initial-advertise-peer-urls={peer_url(node)}",
        f"--initial-cluster={initial_cluster(cluster)}",
        f"--initial-cluster-state={initial_state(cluster, node)}",
        f"--initial-cluster-token={token(cluster)}",
        "--client-cert-auth=true",
        f"--trusted-ca-file={paths.ca}",
        f"--cert-file={paths.server_cert}",
        f"--key-file={paths.server_key}",
        "--peer-client-cert-auth=true",
        f"--peer-trusted-ca-file={paths.ca}",
        f"--peer-cert-file={paths.peer_cert}",
        f"--peer-key-file={paths.peer_key}",
        *f.logger_flags,
    ]


def unit(cluster: Cluster, node: Node, f: EtcdFacts) -> bytes:
    # etcd tells systemd when it has joined a quorum (sd_notify): `systemctl start` returns only then.
    return systemd.unit("etcd key-value store", "https://etcd.io/docs/", Paths(cluster).binary,
                        flags(cluster, node, f), service_type="notify")


def artifacts(ctx: RenderContext) -> list[Artifact]:
    cluster = ctx.cluster
    f = facts(cluster.spec.components.etcd.version)
    paths = Paths(cluster)
    files: list[Artifact] = []
    for spec in (pki.APISERVER_ETCD_CLIENT, ETCDCTL_CLIENT):
        files += ctx.certificate_files(spec, ID)
    client = ctx.certificate(ETCDCTL_CLIENT)
    apiserver = ctx.certificate(pki.APISERVER_ETCD_CLIENT)
    for node in cluster.etcd_members:
        server, peer = server_spec(node), peer_spec(node)
        files += ctx.certificate_files(server, ID) + ctx.certificate_files(peer, ID)
        issued_server, issued_peer = ctx.certificate(server), ctx.certificate(peer)
        files += [
            Artifact(on_node(node, paths.server_cert), issued_server.cert_pem, ID, "cert"),
            Artifact(on_node(node, paths.server_key), issued_server.key_pem, ID, "cert", secret=True),
            Artifact(on_node(node, paths.peer_cert), issued_peer.cert_pem, ID, "cert"),
            Artifact(on_node(node, paths.peer_key), issued_peer.key_pem, ID, "cert", secret=True),
            Artifact(on_node(node, paths.etcdctl_cert), client.cert_pem, ID, "cert"),
            Artifact(on_node(node, paths.etcdctl_key), client.key_pem, ID, "cert", secret=True),
            Artifact(on_node(node, paths.unit), unit(cluster, node, f), ID, "unit", private=True),
        ]
    for node in cluster.masters:
        files += [
            Artifact(on_node(node, paths.apiserver_cert), apiserver.cert_pem, ID, "cert"),
            Artifact(on_node(node, paths.apiserver_key), apiserver.key_pem, ID, "cert", secret=True),
        ]
    return files
