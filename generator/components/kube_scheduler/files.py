"""kube-scheduler's files: certificate, kubeconfig, KubeSchedulerConfiguration and unit, per master."""

from __future__ import annotations

from generator import yaml_text
from generator.artifacts import Artifact, on_node
from generator.components import elected_files
from generator.components.daemon import LOOPBACK
from generator.components.kube_scheduler.facts import CONFIG_FIELDS, SchedulerFacts, facts
from generator.context import RenderContext
from generator.model import Cluster, Node

ID = "kube-scheduler"
USER = "system:kube-scheduler"


class Paths(elected_files.MasterFiles):
    """Where the scheduler's files live on a master: its own, and its KubeSchedulerConfiguration."""

    def __init__(self, cluster: Cluster) -> None:
        super().__init__(cluster, ID)
        self.config = f"{cluster.spec.paths.config_dir}/{ID}.yaml"

    def node_files(self) -> list[str]:
        return [self.ca, self.cert, self.key, self.kubeconfig, self.config, self.unit]


def server_for(cluster: Cluster, node: Node) -> str:
    setting = cluster.spec.components.kube_scheduler.kubeconfig_server
    return elected_files.kubeconfig_server(cluster, node, setting)


def config(cluster: Cluster, node: Node, f: SchedulerFacts) -> bytes:
    """A KubeSchedulerConfiguration with only the fields its apiVersion knows."""
    settings = cluster.spec.components.kube_scheduler
    election = settings.leader_election
    name_key, namespace_key = f.lock_name_keys
    body: dict[str, object] = {
        "apiVersion": f.config_api,
        "kind": "KubeSchedulerConfiguration",
        # Every version's clientConnection has qps and burst: the rate the scheduler may bind at (its events go
        # through a client of their own with the same limits).
        "clientConnection": {"kubeconfig": Paths(cluster).kubeconfig, "qps": settings.client_connection.qps,
                             "burst": settings.client_connection.burst},
        # /debug/pprof off (CIS 1.4.1): with --config, the --profiling flag is ignored
        "enableProfiling": False,
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
            # loopback only (CIS 1.4.2): its health and metrics are read on the node itself or through an ssh tunnel
            f"--bind-address={LOOPBACK}",
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
    return elected_files.artifacts(
        ctx, paths, ID, USER, "Kubernetes Scheduler", server_for, lambda node: flags(cluster, node, f),
        config=lambda node: [Artifact(on_node(node, paths.config), config(cluster, node, f), ID, "config")])
