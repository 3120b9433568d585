"""The files kube-controller-manager and kube-scheduler share the shape of. Both run on every master and talk to
kube-apiserver with one certificate that also serves their secure port: the same paths named after each, the same
certificate, kubeconfig and unit on every master (their steps are generator/components/elected.py's)."""

from __future__ import annotations

from collections.abc import Callable

from generator import pki, systemd
from generator.artifacts import Artifact, on_node
from generator.components.kube_apiserver.files import ID as APISERVER
from generator.context import RenderContext
from generator.kubeconfig import kubeconfig
from generator.model import Cluster, Node


class MasterFiles:
    """Where a daemon that talks to kube-apiserver keeps its own files on a master, each named after it: its binary,
    the cluster CA, its certificate and key, its kubeconfig and its unit."""

    def __init__(self, cluster: Cluster, name: str) -> None:
        p = cluster.spec.paths
        self.binary = f"{p.bin_dir}/{name}"
        self.ca = f"{p.pki_dir}/ca.pem"
        self.cert = f"{p.pki_dir}/{name}.pem"
        self.key = f"{p.pki_dir}/{name}-key.pem"
        self.kubeconfig = f"{p.config_dir}/{name}.kubeconfig"
        self.unit = f"{p.systemd_dir}/{name}.service"


def kubeconfig_server(cluster: Cluster, node: Node, setting: str) -> str:
    """The server a daemon's kubeconfig on `node` names: the API endpoint ("vip"), or the node's own kube-apiserver
    ("local", as kubeadm does)."""
    if setting == "local":
        return f"https://{node.host}:{cluster.spec.api_server.secure_port}"
    return cluster.api_endpoint


def identity_files(ctx: RenderContext, node: Node, files: MasterFiles, name: str, user: str, issued: pki.Issued,
                   server: str) -> list[Artifact]:
    """Its certificate and key on `node`, and the kubeconfig that presents them as `user` to `server`."""
    return [
        Artifact(on_node(node, files.cert), issued.cert_pem, name, "cert"),
        Artifact(on_node(node, files.key), issued.key_pem, name, "cert", secret=True),
        Artifact(on_node(node, files.kubeconfig),
                 kubeconfig(server, user, ctx.ca_cert, issued.cert_pem, issued.key_pem), name, "kubeconfig",
                 secret=True),
    ]


def unit_file(node: Node, files: MasterFiles, name: str, description: str, flags: list[str]) -> Artifact:
    """Its systemd unit on `node`, started after kube-apiserver, documented by its page of the command-line
    reference."""
    return Artifact(
        on_node(node, files.unit),
        systemd.unit(description, f"https://kubernetes.io/docs/reference/command-line-tools-reference/{name}/",
                     files.binary, flags, after=(f"{APISERVER}.service",)),
        name, "unit", private=True,
    )


def client_server_cert(cluster: Cluster, component: str, user: str) -> pki.CertSpec:
    """One certificate for every master: the identity towards kube-apiserver (CN and O both `user`) and the
    serving certificate of the component's secure port, so it names every master's IP and host name."""
    masters = cluster.masters
    return pki.CertSpec(
        name=component,
        cn=user,
        org=user,
        usage="client-server",
        ips=("127.0.0.1", *(n.ip for n in masters)),
        dns=("localhost", *(n.name for n in masters)),
    )


def _none(node: Node) -> list[Artifact]:
    return []


def artifacts(ctx: RenderContext, files: MasterFiles, name: str, user: str, description: str,
              server_for: Callable[[Cluster, Node], str], flags: Callable[[Node], list[str]],
              keys: Callable[[Node], list[Artifact]] = _none,
              config: Callable[[Node], list[Artifact]] = _none) -> list[Artifact]:
    """Its certificate (in pki/), then on every master: the `keys` it signs with, its identity files, its `config`,
    its unit running with `flags`."""
    cluster = ctx.cluster
    spec = client_server_cert(cluster, name, user)
    issued = ctx.certificate(spec)
    result = ctx.certificate_files(spec, name)
    for node in cluster.masters:
        result += [
            *keys(node),
            *identity_files(ctx, node, files, name, user, issued, server_for(cluster, node)),
            *config(node),
            unit_file(node, files, name, description, flags(node)),
        ]
    return result
