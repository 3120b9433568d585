"""Which CA signs what: the cluster's trust domains, and the layout of its build (separate CAs or a single one).

Separate, the default (upstream's "PKI certificates and requirements"): the cluster CA signs the Kubernetes API's
identities, the etcd CA signs etcd's members and its two clients (kube-apiserver, etcdctl), and the front-proxy CA
signs the apiserver's front-proxy-client. Single, the seeds' layout: the cluster CA signs everything and the
apiserver gets no front-proxy flags. A build keeps the layout it was made with unless the cluster file names one:
changing it re-issues etcd's certificates under another CA, which is a CA rotation.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from generator import pki
from generator.artifacts import build_dir
from generator.checks import SEPARATE, SINGLE
from generator.model import Cluster, Node

DOMAINS = (pki.CLUSTER_CA, pki.ETCD_CA, pki.FRONT_PROXY_CA)


def built_layout(root: Path) -> str | None:
    """The layout an earlier render left under root/pki/ (None before the first render). The etcd CA's certificate
    tells the two apart, unless etcd's certificates were re-issued by the cluster CA since (a build turned back to
    the single layout keeps the etcd CA's files: a CA key is never deleted)."""
    pki_dir = root / "pki"
    if not (pki_dir / f"{pki.CLUSTER_CA.name}.pem").is_file():
        return None
    etcd_ca, client = pki_dir / f"{pki.ETCD_CA.name}.pem", pki_dir / f"{pki.APISERVER_ETCD_CLIENT.name}.pem"
    if not etcd_ca.is_file():
        return SINGLE
    try:
        issuer = x509.load_pem_x509_certificate(client.read_bytes()).issuer
    except (OSError, ValueError):  # not issued yet (a render of the CA phase only), or unreadable: the CA decides
        return SEPARATE
    return SEPARATE if issuer == x509.load_pem_x509_certificate(etcd_ca.read_bytes()).subject else SINGLE


def layout(cluster: Cluster) -> str:
    """The cluster file's choice; else what the build was made with (never converted silently); else separate."""
    return cluster.spec.certificates.layout or built_layout(build_dir(cluster)) or SEPARATE


def signer(layout: str, domain: pki.CaSpec) -> pki.CaSpec:
    """The CA that signs the certificates of `domain` in this layout."""
    return domain if layout == SEPARATE else pki.CLUSTER_CA


def authorities(layout: str) -> tuple[pki.CaSpec, ...]:
    return DOMAINS if layout == SEPARATE else (pki.CLUSTER_CA,)


def holders(cluster: Cluster, layout: str, ca: pki.CaSpec) -> tuple[Node, ...]:
    """The nodes that check certificates `ca` signs, and so hold its certificate: the masters for every domain
    (kube-apiserver checks etcd's serving certificate too), and etcd's members for the CA that signs etcd's."""
    wanted = set(cluster.masters) | (set(cluster.etcd_members) if signer(layout, pki.ETCD_CA) == ca else set())
    return tuple(n for n in cluster.spec.nodes if n in wanted)


def ca_file(cluster: Cluster, domain: pki.CaSpec) -> str:
    """Where the certificate of the CA that signs `domain` lives on a node."""
    return f"{cluster.spec.paths.pki_dir}/{signer(layout(cluster), domain).name}.pem"


def layout_note(cluster: Cluster) -> str | None:
    """One line when a render keeps a single-CA build against the default, or changes a build's layout."""
    built, chosen = built_layout(build_dir(cluster)), cluster.spec.certificates.layout
    if built is None or built == (chosen or SEPARATE):
        return None
    if not chosen:
        return ("certificates.layout: this build was made with one CA for everything (etcd trusts the cluster CA) and "
                "stays so: changing the layout is a CA rotation, for which this runbook has no chapter yet; write "
                "`layout: single` to keep it, or `layout: separate` to rotate now")
    done = ("made the etcd and front-proxy CAs and re-issued etcd's certificates with the etcd CA" if chosen == SEPARATE
            else "re-issued etcd's certificates with the cluster CA and dropped the front-proxy flags")
    return (f"certificates.layout: {chosen}, but this build was made with the {built} layout: this render is a CA "
            f"rotation ({done}); deploy the etcd and kube-apiserver chapters again, together, in a maintenance "
            "window: until both run the new files the apiservers cannot reach etcd")
