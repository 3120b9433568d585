"""The prerequisites' one artifact: environment.sh, seed 002's variables file, rendered from the model."""

from __future__ import annotations

import ipaddress
import re
import shlex

from generator.artifacts import Artifact, rel_build
from generator.components.prerequisites.facts import etcd_version
from generator.context import RenderContext
from generator.model import Cluster, Node

ID = "prerequisites"
ENVIRONMENT = "environment.sh"
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380


def etcd_bin_dir(cluster: Cluster) -> str:
    return cluster.spec.components.etcd.bin_dir or cluster.spec.paths.bin_dir


def downloads(cluster: Cluster) -> str:
    """Where the workstation keeps downloaded release tarballs and what they unpack to."""
    return f"{rel_build(cluster)}/downloads"


def workstation_kubectl(cluster: Cluster) -> str:
    """The kubectl every workstation command uses: the cluster's own release, unpacked by the prerequisites.

    Never whatever `kubectl` is on PATH: kubectl supports one minor release of skew against kube-apiserver, and
    some images put a dispatcher there that contacts the kubeconfig's server before every command.
    """
    return f"{rel_build(cluster)}/bin/kubectl"


def array(values: list[str]) -> str:
    return "(" + " ".join(shlex.quote(v) for v in values) + ")"


def assign(name: str, value: str | int) -> str:
    return f"{name}={shlex.quote(str(value))}"


def environment(cluster: Cluster) -> bytes:
    """bash variables every later chapter's values come from; NODE_NAMES[i] is the host at NODE_IPS[i]."""
    spec = cluster.spec
    paths = spec.paths

    def names(nodes: tuple[Node, ...]) -> list[str]:
        return [n.name for n in nodes]

    def ips(nodes: tuple[Node, ...]) -> list[str]:
        return [n.ip for n in nodes]

    etcd = cluster.etcd_members
    service_ip = str(next(ipaddress.ip_network(spec.network.service_cidr).hosts()))
    lines = [
        "#!/usr/bin/env bash",
        f"# Cluster {cluster.name} (Kubernetes {cluster.release}), compiled from the cluster file "
        f"{shlex.quote(cluster.ref)}.",
        f"# Do not edit: change the cluster file and run `invoke render --cluster {shlex.quote(cluster.ref)}`.",
        "# Use: source environment.sh   (bash; NODE_NAMES[i] is the node whose address is NODE_IPS[i])",
        "",
        assign("CLUSTER_NAME", cluster.name),
        assign("KUBE_VERSION", cluster.release.tag),
        assign("ETCD_VERSION", "v" + etcd_version(spec.components.etcd.version)),
        assign("SSH_USER", spec.ssh.user),
        assign("SSH_PORT", spec.ssh.port),
        "",
        "# every node, then the masters and the etcd members, names and addresses in the same order",
        f"NODE_NAMES={array(names(spec.nodes))}",
        f"NODE_IPS={array(ips(spec.nodes))}",
        f"MASTER_NAMES={array(names(cluster.masters))}",
        f"MASTER_IPS={array(ips(cluster.masters))}",
        f"ETCD_NAMES={array(names(etcd))}",
        f"ETCD_IPS={array(ips(etcd))}",
        "",
        "# the API server: what clients use, and what each kube-apiserver listens on",
    ]
    if spec.api_server.vip:
        lines.append(assign("VIP", spec.api_server.vip))
    lines += [
        assign("KUBE_APISERVER", cluster.api_endpoint),
        assign("API_PORT", spec.api_server.port),
        assign("APISERVER_SECURE_PORT", spec.api_server.secure_port),
        assign("ETCD_ENDPOINTS", ",".join(f"https://{n.host}:{ETCD_CLIENT_PORT}" for n in etcd)),
        assign("ETCD_NODES", ",".join(f"{n.name}=https://{n.host}:{ETCD_PEER_PORT}" for n in etcd)),
        "",
        "# networks",
        assign("SERVICE_CIDR", spec.network.service_cidr),
        assign("CLUSTER_KUBERNETES_SVC_IP", service_ip),
        assign("CLUSTER_DNS_DOMAIN", spec.network.cluster_domain),
        assign("CLUSTER_CIDR", spec.components.kube_controller_manager.cluster_cidr),
        "",
        "# paths on the nodes",
        assign("BIN_DIR", paths.bin_dir),
        assign("ETCD_BIN_DIR", etcd_bin_dir(cluster)),
        assign("CONFIG_DIR", paths.config_dir),
        assign("PKI_DIR", paths.pki_dir),
        assign("SYSTEMD_DIR", paths.systemd_dir),
        assign("ETCD_DATA_DIR", paths.etcd_data_dir),
        assign("LOG_DIR", paths.log_dir),
    ]
    return ("\n".join(lines) + "\n").encode()


ETCD_LINE = re.compile(r"^ETCD_VERSION='?v([0-9.]+)'?$", re.MULTILINE)


def etcd_moved(ctx: RenderContext) -> str | None:
    """One line when this render gives etcd another release than the build had: with no version in the file the
    default follows kubernetes_version, and a build made before that default existed had 3.5.15 whatever the
    release. The runbook installs what the file says; upgrading a running etcd is no chapter of it."""
    earlier = ETCD_LINE.search((ctx.existing.read(ENVIRONMENT) or b"").decode(errors="replace"))
    now = etcd_version(ctx.cluster.spec.components.etcd.version)
    if earlier is None or earlier[1] == now:
        return None
    release = ctx.cluster.release
    why = f" (no version in it: the one Kubernetes {release} is paired with)" if ctx.cluster.etcd_paired else ""
    return (f"components.etcd.version: this build was made for etcd {earlier[1]}, the cluster file now gives "
            f'{now}{why}: write `components.etcd.version: "{earlier[1]}"` to keep the etcd the members run; the '
            "runbook does not upgrade a running etcd")


def artifacts(ctx: RenderContext) -> list[Artifact]:
    note = etcd_moved(ctx)
    if note:
        ctx.notes.append(note)
    return [Artifact(ENVIRONMENT, environment(ctx.cluster), ID, "config")]
