"""The cluster administrator's certificate and kubeconfig, and the kubectl command line the runbook uses with them."""

from __future__ import annotations

import shlex

from generator import pki
from generator.artifacts import Artifact
from generator.components.prerequisites.files import workstation_kubectl
from generator.context import RenderContext
from generator.kubeconfig import kubeconfig
from generator.model import Cluster

ID = "admin"
CERT = pki.CertSpec(name="admin", cn="admin", org="system:masters", usage="client")
KUBECONFIG = "pki/admin.kubeconfig"


def artifacts(ctx: RenderContext) -> list[Artifact]:
    issued = ctx.certificate(CERT)
    config = kubeconfig(ctx.cluster.api_endpoint, "admin", ctx.ca_cert, issued.cert_pem, issued.key_pem)
    return [
        *ctx.certificate_files(CERT, ID),
        Artifact(KUBECONFIG, config, ID, "kubeconfig", secret=True),
    ]


def kubectl(cluster: Cluster) -> str:
    """The kubectl prefix the runbook uses to talk to the cluster as admin, through the API endpoint."""
    return shlex.join([workstation_kubectl(cluster), "--kubeconfig", f"build/{cluster.name}/{KUBECONFIG}"])
