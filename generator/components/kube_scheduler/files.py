"""kube-scheduler's files: certificate, kubeconfig, KubeSchedulerConfiguration and unit, per master."""

from __future__ import annotations

from generator import pki, systemd, yaml_text
from generator.artifacts import Artifact, on_node
from generator.components.daemon import client_server_cert
from generator.components.kube_scheduler.facts import CONFIG_FIELDS, SchedulerFacts, facts
from generator.context import RenderContext
from generator.kubeconfig import kubeconfig
from generator.model import Cluster, Node

ID = "kube-scheduler"
USER = "system:kube-scheduler"


def cert_spec(cluster: Cluster) -> pki.CertSpec:
    return client_server_cert(cluster, ID, USER)


class Paths:
    """Where the scheduler's files live on a master."""

    def __init__(self, cluster: Cluster) -> None:
        p = cluster.spec.paths
        self.binary = f"{p.bin_dir}/kube-scheduler"
        self.ca = f"{p.pki_dir}/ca.pem"
        self.cert = f"{p.pki_dir}/{ID}.pem"
        self.key = f"{p.pki_dir}/{ID}-key.pem"
        self.kubeconfig = f"{p.config_dir}/{ID}.kubeconfig"
        self.config = f"{p.config_dir}/{ID}.yaml"
        self.unit = f"{p.systemd_dir}/{ID}.service"

    def node_files(self) -> list[str]:
        return [self.ca, self.cert, self.key, self.kubeconfig, self.config, self.unit]


def server_for(cluster: Cluster, node: Node) -> str:
    if cluster.spec.components.kube_scheduler.kubeconfig_server == "local":
        return f"https://{node.host}:{cluster.spec.api_server.secure_port}"
    return cluster.api_endpoint


def config(cluster: Cluster, node: Node, f: SchedulerFacts) -> bytes:
    """A KubeSchedulerConfiguration with only the fields its apiVersion knows."""
    settings = cluster.spec.components.kube_scheduler
    election = settings.leader_election
    name_key, namespace_key = f.lock_name_keys
    body: dict[str, object] = {
        "apiVersion": f.config_api,
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": Paths(cluster).kubeconfig},
        "leaderElection": {
            "leaderElect": True,
            "leaseDuration": election.lease_duration,
            "renewDeadline": election.renew_deadline,
            "retryPeriod": election.retry_period,
            "resourceLock": f.lock,
            name_key: ID,
            namespace_key: "kube-system",
        },
    }
    if f.insecure_port:
        # Loopback only where the secure port serves the outside (see facts.INSECURE_PORT). Before 1.13 health and
        # metrics exist only here, over plain HTTP: every address, for the workstation's checks on the node's IP
        # and for `kubectl get componentstatuses` on 127.0.0.1.
        host = "127.0.0.1" if f.insecure_loopback else "0.0.0.0"
        body["healthzBindAddress"] = f"{host}:{f.insecure_port}"
        body["metricsBindAddress"] = f"{host}:{f.insecure_port}"
    # The fields lint checks a config against are the ones written here.
    assert set(body) <= CONFIG_FIELDS[f.config_api.rsplit("/", 1)[-1]], set(body)
    return yaml_text.dump(body)


def flags(cluster: Cluster, node: Node, f: SchedulerFacts) -> list[str]:
    paths = Paths(cluster)
    result = [f"--config={paths.config}"]
    if f.secure_port:
        result += [
            f"--bind-address={node.ip}",
            f"--secure-port={f.secure_port}",
            f"--tls-cert-file={paths.cert}",
            f"--tls-private-key-file={paths.key}",
            f"--client-ca-file={paths.ca}",
            f"--authentication-kubeconfig={paths.kubeconfig}",
            f"--authorization-kubeconfig={paths.kubeconfig}",
        ]
    result.append(f"--v={cluster.spec.components.kube_scheduler.verbosity}")
    return result


def artifacts(ctx: RenderContext) -> list[Artifact]:
    cluster = ctx.cluster
    f = facts(cluster.release)
    paths = Paths(cluster)
    spec = cert_spec(cluster)
    issued = ctx.certificate(spec)
    files = ctx.certificate_files(spec, ID)
    for node in cluster.masters:
        files += [
            Artifact(on_node(node, paths.cert), issued.cert_pem, ID, "cert"),
            Artifact(on_node(node, paths.key), issued.key_pem, ID, "cert", secret=True),
            Artifact(
                on_node(node, paths.kubeconfig),
                kubeconfig(server_for(cluster, node), USER, ctx.ca_cert, issued.cert_pem, issued.key_pem),
                ID, "kubeconfig", secret=True,
            ),
            Artifact(on_node(node, paths.config), config(cluster, node, f), ID, "config"),
            Artifact(
                on_node(node, paths.unit),
                systemd.unit("Kubernetes Scheduler",
                             "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-scheduler/",
                             paths.binary, flags(cluster, node, f),
                             after=("kube-apiserver.service",)),
                ID, "unit",
            ),
        ]
    return files
