"""kube-controller-manager's files: certificate, kubeconfig and unit per master, plus the signing keys it needs."""

from __future__ import annotations

from generator import pki, rotation
from generator.artifacts import Artifact, on_node
from generator.components import elected_files
from generator.components.daemon import LOOPBACK
from generator.components.kube_apiserver.files import Paths as ApiServerPaths
from generator.components.kube_controller_manager.facts import ControllerManagerFacts, facts
from generator.context import RenderContext
from generator.model import Cluster, Node

ID = "kube-controller-manager"
USER = "system:kube-controller-manager"


class Paths(elected_files.MasterFiles):
    """Where kube-controller-manager's files live on a master: its own, and the keys it signs with."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster, ID)
        p = cluster.spec.paths
        # The CA key signs the certificates kubelets request (TLS bootstrap, rotation): it must be on masters.
        self.ca_key = f"{p.pki_dir}/ca-key.pem"
        # During a CA rotation ca.pem holds two CAs, and the signer takes exactly one certificate: the signing CA
        # alone goes to a file of its own (generator/rotation.py), which stays on the masters afterwards, unused.
        self.rotation_signer = f"{p.pki_dir}/{rotation.SIGNER}"
        self.signer = self.rotation_signer if rotation.phase(cluster) else self.ca
        # Rendered by kube-apiserver (the same pair verifies and signs service-account tokens).
        self.sa_key = ApiServerPaths(cluster).sa_key

    def node_files(self) -> list[str]:
        return list(dict.fromkeys([self.ca, self.signer, self.ca_key, self.cert, self.key, self.sa_key,
                                   self.kubeconfig, self.unit]))

    def secrets(self) -> list[str]:
        return [self.ca_key, self.key, self.sa_key, self.kubeconfig]


def server_for(cluster: Cluster, node: Node) -> str:
    setting = cluster.spec.components.kube_controller_manager.kubeconfig_server
    return elected_files.kubeconfig_server(cluster, node, setting)


def flags(cluster: Cluster, node: Node, f: ControllerManagerFacts) -> list[str]:
    paths = Paths(cluster)
    settings = cluster.spec.components.kube_controller_manager
    election = settings.leader_election
    result = [
        f"--kubeconfig={paths.kubeconfig}",
        # each controller's own client gets this rate: the ReplicaSet controller creates a Deployment's pods at it
        f"--kube-api-qps={settings.client_connection.qps}",
        f"--kube-api-burst={settings.client_connection.burst}",
        f"--authentication-kubeconfig={paths.kubeconfig}",
        f"--authorization-kubeconfig={paths.kubeconfig}",
        # loopback only (CIS 1.3.7): its health and metrics are read on the node itself or through an ssh tunnel
        f"--bind-address={LOOPBACK}",
        f"--secure-port={f.secure_port}",
    ]
    if f.insecure_port:
        result += ["--address=127.0.0.1", f"--port={f.insecure_port}"]
    result += [
        f"--tls-cert-file={paths.cert}",
        f"--tls-private-key-file={paths.key}",
        f"--client-ca-file={paths.ca}",
        f"--cluster-signing-cert-file={paths.signer}",
        f"--cluster-signing-key-file={paths.ca_key}",
        f"{f.signing_duration_flag}={cluster.spec.certificates.leaf_days * 24}h",
        f"--root-ca-file={paths.ca}",
        f"--service-account-private-key-file={paths.sa_key}",
        "--use-service-account-credentials=true",
        f"--service-cluster-ip-range={cluster.spec.network.service_cidr}",
        f"--cluster-cidr={settings.cluster_cidr}",
        "--allocate-node-cidrs=true",
        "--controllers=*,bootstrapsigner,tokencleaner",
        "--leader-elect=true",
        f"--leader-elect-resource-lock={f.lock}",
        f"--leader-elect-lease-duration={election.lease_duration}",
        f"--leader-elect-renew-deadline={election.renew_deadline}",
        f"--leader-elect-retry-period={election.retry_period}",
        "--profiling=false",
        f"--v={settings.verbosity}",
    ]
    return result


def artifacts(ctx: RenderContext) -> list[Artifact]:
    cluster = ctx.cluster
    f = facts(cluster.release)
    paths = Paths(cluster)

    def keys(node: Node) -> list[Artifact]:
        signer = ([Artifact(on_node(node, paths.signer), ctx.authority(pki.CLUSTER_CA).cert_pem, ID, "cert")]
                  if paths.signer != paths.ca else [])
        return [Artifact(on_node(node, paths.ca_key), ctx.ca_key, ID, "cert", secret=True), *signer]

    return elected_files.artifacts(ctx, paths, ID, USER, "Kubernetes Controller Manager", server_for,
                                   lambda node: flags(cluster, node, f), keys=keys)
