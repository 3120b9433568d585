"""kube-apiserver's files: serving and kubelet-client certificates, encryption config, service-account keys, units."""

from __future__ import annotations

import base64
import ipaddress
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from generator import pki, systemd, trust, yaml_text
from generator.artifacts import Artifact, on_node
from generator.components.etcd.files import Paths as EtcdPaths
from generator.components.etcd.files import endpoints as etcd_endpoints
from generator.components.kube_apiserver import audit
from generator.components.kube_apiserver.facts import ApiServerFacts, facts
from generator.components.load_balancer.service import SHUTDOWN_DELAY_SECONDS
from generator.context import RenderContext
from generator.model import Cluster, Node

ID = "kube-apiserver"
# The serving certificate's CN, as in seed 004 and the cfssl guides; only the SANs matter to clients.
SERVING_CN = "kubernetes"
# The identity the apiserver presents to kubelets (logs, exec, port-forward). No O=system:masters: that group
# bypasses RBAC and cannot be revoked; a ClusterRoleBinding to system:kubelet-api-admin grants just what it needs.
KUBELET_CLIENT = "apiserver-kubelet-client"
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"
KUBELET_RBAC_BINDING = "kube-apiserver:kubelet-apis"
KUBELET_RBAC_ROLE = "system:kubelet-api-admin"
# Issued by the etcd component (contract): the client certificate kube-apiserver uses towards etcd.
ETCD_CLIENT = "apiserver-etcd-client"
# What the apiserver shows aggregated API servers when it forwards a request (separate layout only): signed by the
# front-proxy CA, which its --requestheader-client-ca-file names, and accepted only under this CN.
FRONT_PROXY_CLIENT = pki.CertSpec(name="front-proxy-client", cn="front-proxy-client", org=None, usage="client",
                                  ca=pki.FRONT_PROXY_CA)
# The headers the front proxy names the user in (kubeadm's and the aggregation docs' choice; extension servers read
# the same names from the extension-apiserver-authentication ConfigMap).
REQUEST_HEADERS = (
    ("--requestheader-extra-headers-prefix", "X-Remote-Extra-"),
    ("--requestheader-group-headers", "X-Remote-Group"),
    ("--requestheader-username-headers", "X-Remote-User"),
)

# Made-once secrets on the workstation. They are written in the "ca" phase, which every render writes, so a
# node copy can never exist without the workstation original it was made from (see generator/render.py).
ENCRYPTION_KEY = "pki/encryption-key.b64"
SA_KEY = "pki/service-account-key.pem"
SA_PUB = "pki/service-account.pem"


class Paths:
    """Where kube-apiserver's files live on a master."""

    def __init__(self, cluster: Cluster) -> None:
        p = cluster.spec.paths
        self.front_proxy = trust.layout(cluster) == trust.SEPARATE
        self.binary = f"{p.bin_dir}/kube-apiserver"
        self.ca = f"{p.pki_dir}/ca.pem"
        self.cert = f"{p.pki_dir}/{ID}.pem"
        self.key = f"{p.pki_dir}/{ID}-key.pem"
        self.kubelet_cert = f"{p.pki_dir}/{KUBELET_CLIENT}.pem"
        self.kubelet_key = f"{p.pki_dir}/{KUBELET_CLIENT}-key.pem"
        etcd = EtcdPaths(cluster)
        self.etcd_ca, self.etcd_cert, self.etcd_key = etcd.ca, etcd.apiserver_cert, etcd.apiserver_key
        self.front_proxy_ca = f"{p.pki_dir}/{pki.FRONT_PROXY_CA.name}.pem"
        self.proxy_cert = f"{p.pki_dir}/{FRONT_PROXY_CLIENT.name}.pem"
        self.proxy_key = f"{p.pki_dir}/{FRONT_PROXY_CLIENT.name}-key.pem"
        self.sa_pub = f"{p.pki_dir}/service-account.pem"
        self.sa_key = f"{p.pki_dir}/service-account-key.pem"
        self.encryption = f"{p.config_dir}/encryption-config.yaml"
        self.audit_policy = audit.Paths(cluster).policy
        self.unit = f"{p.systemd_dir}/{ID}.service"

    def node_files(self) -> list[str]:
        """Files this component renders into each master's tree (the etcd client pair comes from pki/), plus the
        front-proxy CA's certificate the CA chapter puts there."""
        proxy = [self.front_proxy_ca, self.proxy_cert, self.proxy_key] if self.front_proxy else []
        return [self.ca, self.cert, self.key, self.kubelet_cert, self.kubelet_key, *proxy, self.sa_pub, self.sa_key,
                self.encryption, self.audit_policy, self.unit]

    def secrets(self) -> list[str]:
        return [self.key, self.kubelet_key, *([self.proxy_key] if self.front_proxy else []), self.sa_key,
                self.encryption]


def first_service_ip(cluster: Cluster) -> str:
    """The ClusterIP of the `kubernetes` Service: the first address of the service CIDR."""
    return str(ipaddress.ip_network(cluster.spec.network.service_cidr, strict=False)[1])


def is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def serving_spec(cluster: Cluster) -> pki.CertSpec:
    """Every name a client may use to reach an apiserver: each master, the endpoint, loopback, the Service."""
    domain = cluster.spec.network.cluster_domain
    names = [
        *(n.ip for n in cluster.masters),
        cluster.api_host,
        "127.0.0.1",
        first_service_ip(cluster),
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        f"kubernetes.default.svc.{domain}",
        *cluster.spec.components.kube_apiserver.extra_sans,
    ]
    return pki.CertSpec(
        name=ID,
        cn=SERVING_CN,
        org=None,
        usage="server",
        ips=unique([n for n in names if n and is_ip(n)]),
        dns=unique([n for n in names if n and not is_ip(n)]),
    )


KUBELET_CLIENT_SPEC = pki.CertSpec(name=KUBELET_CLIENT, cn=KUBELET_CLIENT_USER, org=None, usage="client")


def new_encryption_key() -> bytes:
    """32 random bytes, base64 encoded: the key secretbox (XSalsa20-Poly1305) and aescbc both take."""
    return base64.b64encode(os.urandom(32)) + b"\n"


def new_sa_key() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return pki.key_pem(key)


def sa_public(key_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem, password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def service_account_keys(ctx: RenderContext) -> tuple[bytes, bytes]:
    """The token-signing pair, made once. kube-controller-manager signs with the same private key."""
    key = ctx.secret(SA_KEY, new_sa_key)
    return key, sa_public(key)


def encryption_config(key_b64: str, f: ApiServerFacts) -> bytes:
    body = {
        "apiVersion": f.encryption_api,
        "kind": f.encryption_kind,
        "resources": [
            {
                "resources": ["secrets"],
                "providers": [
                    {"secretbox": {"keys": [{"name": "key1", "secret": key_b64}]}},
                    {"identity": {}},
                ],
            }
        ],
    }
    return yaml_text.dump(body)


def service_account_issuer(cluster: Cluster) -> str:
    return f"https://kubernetes.default.svc.{cluster.spec.network.cluster_domain}"


def flags(cluster: Cluster, node: Node, f: ApiServerFacts) -> list[str]:
    paths = Paths(cluster)
    settings = cluster.spec.components.kube_apiserver
    result = [
        f"--advertise-address={node.ip}",
        f"--bind-address={node.ip}",
        f"--secure-port={cluster.spec.api_server.secure_port}",
    ]
    if f.disable_insecure_port:
        result.append("--insecure-port=0")
    result += [
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--enable-bootstrap-token-auth=true",
        "--allow-privileged=true",
        f"--client-ca-file={paths.ca}",
        f"--tls-cert-file={paths.cert}",
        f"--tls-private-key-file={paths.key}",
        # kubelets' serving certificates are checked against the cluster CA (CIS 1.2.5): a kubelet needs one the
        # controller manager signed (serverTLSBootstrap), not a self-signed one, for logs and exec to reach it
        f"--kubelet-certificate-authority={paths.ca}",
        f"--kubelet-client-certificate={paths.kubelet_cert}",
        f"--kubelet-client-key={paths.kubelet_key}",
        "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
        f"--etcd-cafile={paths.etcd_ca}",
        f"--etcd-certfile={paths.etcd_cert}",
        f"--etcd-keyfile={paths.etcd_key}",
        f"--etcd-servers={etcd_endpoints(cluster)}",
        f"{f.encryption_flag}={paths.encryption}",
        f"--service-cluster-ip-range={cluster.spec.network.service_cidr}",
        f"--service-node-port-range={settings.service_node_port_range}",
        f"--service-account-key-file={paths.sa_pub}",
    ]
    if paths.front_proxy:
        result += [
            f"--requestheader-client-ca-file={paths.front_proxy_ca}",
            f"--requestheader-allowed-names={FRONT_PROXY_CLIENT.cn}",
            *(f"{flag}={value}" for flag, value in REQUEST_HEADERS),
            f"--proxy-client-cert-file={paths.proxy_cert}",
            f"--proxy-client-key-file={paths.proxy_key}",
        ]
    if cluster.load_balanced and f.has_readyz:
        result.append(f"--shutdown-delay-duration={SHUTDOWN_DELAY_SECONDS}s")
        if f.send_retry_after:
            result.append("--shutdown-send-retry-after=true")
    if f.sa_issuer_required:
        result += [
            f"--service-account-signing-key-file={paths.sa_key}",
            f"--service-account-issuer={service_account_issuer(cluster)}",
        ]
    if f.sa_extend_flag:
        result.append("--service-account-extend-token-expiration=false")
    result += audit.flags(cluster)
    # /debug/pprof on the secure port is off (CIS 1.2.15): it exposes the process's internals to any admin client
    result += ["--profiling=false", f"--v={settings.verbosity}"]
    return result


def artifacts(ctx: RenderContext) -> list[Artifact]:
    cluster = ctx.cluster
    f = facts(cluster.release)
    paths = Paths(cluster)
    serving = serving_spec(cluster)
    issued = ctx.certificate(serving)
    kubelet = ctx.certificate(KUBELET_CLIENT_SPEC)
    key_b64 = ctx.secret(ENCRYPTION_KEY, new_encryption_key)
    sa_key, sa_pub = service_account_keys(ctx)
    encryption = encryption_config(key_b64.decode().strip(), f)
    proxy = ctx.certificate(FRONT_PROXY_CLIENT) if paths.front_proxy else None
    files = [
        *ctx.certificate_files(serving, ID),
        *ctx.certificate_files(KUBELET_CLIENT_SPEC, ID),
        *(ctx.certificate_files(FRONT_PROXY_CLIENT, ID) if proxy else []),
        Artifact(ENCRYPTION_KEY, key_b64, ID, "ca", secret=True),
        Artifact(SA_KEY, sa_key, ID, "ca", secret=True),
        Artifact(SA_PUB, sa_pub, ID, "ca"),
    ]
    for node in cluster.masters:
        files += [
            Artifact(on_node(node, paths.cert), issued.cert_pem, ID, "cert"),
            Artifact(on_node(node, paths.key), issued.key_pem, ID, "cert", secret=True),
            Artifact(on_node(node, paths.kubelet_cert), kubelet.cert_pem, ID, "cert"),
            Artifact(on_node(node, paths.kubelet_key), kubelet.key_pem, ID, "cert", secret=True),
            *([Artifact(on_node(node, paths.proxy_cert), proxy.cert_pem, ID, "cert"),
               Artifact(on_node(node, paths.proxy_key), proxy.key_pem, ID, "cert", secret=True)] if proxy else []),
            Artifact(on_node(node, paths.sa_pub), sa_pub, ID, "cert"),
            Artifact(on_node(node, paths.sa_key), sa_key, ID, "cert", secret=True),
            Artifact(on_node(node, paths.encryption), encryption, ID, "config", secret=True),
            Artifact(
                on_node(node, paths.unit),
                systemd.unit("Kubernetes API Server",
                             "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-apiserver/",
                             paths.binary, flags(cluster, node, f), service_type="notify",
                             # at boot its own etcd member first: started together, it would fail and restart
                             after=("etcd.service",) if node in cluster.etcd_members else ()),
                ID, "unit", private=True,
            ),
        ]
    return files + audit.artifacts(cluster)
