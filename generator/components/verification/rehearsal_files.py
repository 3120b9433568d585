"""The scheduler's rehearsal's files (verification.scheduler_rehearsal): kwok's certificate and kubeconfig, its
stages, its least-privilege RBAC, the simulated node and the rehearsal's workload. Everything the rehearsal creates
in the cluster is named here, so it can be found and removed again."""

from __future__ import annotations

from pathlib import Path

from generator import pki, yaml_text
from generator.artifacts import Artifact, rel_build
from generator.checks import PODS_PER_FAKE_NODE
from generator.context import RenderContext
from generator.kubeconfig import kubeconfig
from generator.model import Cluster

ID = "verification"
USER = "runbook-kwok"  # kwok's identity towards kube-apiserver: its certificate's CN, the RBAC subject
CERT = pki.CertSpec(name="kwok", cn=USER, org=None, usage="client")
KUBECONFIG = "pki/kwok.kubeconfig"
STAGES, RBAC, NODE, WORKLOAD = ("rehearsal/kwok-stages.yaml", "rehearsal/kwok-rbac.yaml",
                                "rehearsal/rehearsal-node.yaml", "rehearsal/rehearsal-workload.yaml")
STAGES_SOURCE = Path(__file__).with_name("kwok-stages.yaml")
NAMESPACE = "runbook-rehearsal"
NODE_LEASES = "kube-node-lease"
# kwok manages the nodes carrying this annotation, and only those; the label finds them again, the taint keeps every
# other pod off them, and the rehearsal's pods select and tolerate them.
ANNOTATION = ("kwok.x-k8s.io/node", "rehearsal")
LABEL = ("runbook-rehearsal", "true")
NODE_PREFIX = "rehearsal-"
NODE_PLACEHOLDER = f"{NODE_PREFIX}NNN"  # the node file's name, replaced by each node's own
# The first burst, and the one during which the scheduler's leader is killed.
BURST, FAILOVER_BURST = "burst", "failover"
IMAGE = "registry.k8s.io/pause:3.10"  # never pulled: no kubelet runs these pods
RBAC_NAME = "runbook-rehearsal-kwok"


def enabled(cluster: Cluster) -> bool:
    return cluster.spec.verification.scheduler_rehearsal is not None


def path(cluster: Cluster, rel: str) -> str:
    """A rehearsal file, from the repository root."""
    return f"{rel_build(cluster)}/{rel}"


def rbac() -> list[dict]:
    """What kwok does and nothing else: it watches nodes and pods and patches their status, and keeps one lease per
    node in kube-node-lease (its heartbeat). It deletes nothing and records no event with these stages."""
    subject = [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": USER}]
    leases = {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
              "verbs": ["get", "list", "watch", "create", "update"]}
    return [
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": RBAC_NAME},
         "rules": [
             {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "watch"]},
             {"apiGroups": [""], "resources": ["nodes/status", "pods/status"], "verbs": ["patch"]},
         ]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": RBAC_NAME},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RBAC_NAME},
         "subjects": subject},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": RBAC_NAME, "namespace": NODE_LEASES}, "rules": [leases]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": RBAC_NAME, "namespace": NODE_LEASES},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": RBAC_NAME},
         "subjects": subject},
    ]


def node() -> dict:
    """A simulated node as it is created: kwok's annotation, the rehearsal's label and taint, and the capacity of a
    kubelet's defaults (kwok's stage then makes it Ready)."""
    key, value = LABEL
    resources = {"cpu": "32", "memory": "256Gi", "pods": str(PODS_PER_FAKE_NODE)}
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": NODE_PLACEHOLDER, "labels": {key: value, "kubernetes.io/os": "linux",
                                                           "kubernetes.io/hostname": NODE_PLACEHOLDER},
                     "annotations": {ANNOTATION[0]: ANNOTATION[1]}},
        "spec": {"taints": [{"key": key, "value": value, "effect": "NoSchedule"}]},
        "status": {"capacity": resources, "allocatable": resources},
    }


def deployment(name: str) -> dict:
    """A Deployment of no pods yet (the rehearsal scales it): pods that select and tolerate the simulated nodes only."""
    key, value = LABEL
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "nodeSelector": {key: value},
                    "tolerations": [{"key": key, "operator": "Equal", "value": value, "effect": "NoSchedule"}],
                    "containers": [{"name": "pause", "image": IMAGE,
                                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}],
                },
            },
        },
    }


def documents(docs: list[dict], header: bytes) -> bytes:
    return header + b"---\n".join(yaml_text.dump(doc) for doc in docs)


def artifacts(ctx: RenderContext) -> list[Artifact]:
    if not enabled(ctx.cluster):
        return []
    issued = ctx.certificate(CERT)
    config = kubeconfig(ctx.cluster.api_endpoint, USER, ctx.ca_cert, issued.cert_pem, issued.key_pem)
    workload = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
                deployment(BURST), deployment(FAILOVER_BURST)]
    return [
        *ctx.certificate_files(CERT, ID),
        Artifact(KUBECONFIG, config, ID, "kubeconfig", secret=True),
        Artifact(STAGES, STAGES_SOURCE.read_bytes(), ID, "config"),
        Artifact(RBAC, documents(rbac(), b"# kwok's rights for the scheduler's rehearsal (written by the runbook "
                                         b"compiler): created by it, removed after it.\n"), ID, "config"),
        Artifact(NODE, documents([node()], b"# One simulated node; the rehearsal replaces its name "
                                           b"for each node.\n"), ID, "config"),
        Artifact(WORKLOAD, documents(workload, b"# The rehearsal's namespace and its two bursts, scaled "
                                               b"by the rehearsal.\n"), ID, "config"),
    ]
