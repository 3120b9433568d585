"""The kube-apiserver chapter: certificates, encryption, service-account keys, units, start, health, RBAC."""

from __future__ import annotations

import re
import shlex

from generator import pki
from generator.artifacts import on_node, rel_build
from generator.components.daemon import start_step, status_step
from generator.components.kube_apiserver import audit
from generator.components.kube_apiserver.checks import (
    encryption_at_rest_step,
    health_step,
    kubelet_rbac_step,
    loss_step,
    ready_step,
)
from generator.components.kube_apiserver.facts import ApiServerFacts, facts
from generator.components.kube_apiserver.files import (
    ENCRYPTION_KEY,
    ETCD_CLIENT,
    FRONT_PROXY_CLIENT,
    ID,
    KUBELET_CLIENT,
    KUBELET_CLIENT_USER,
    SA_KEY,
    SA_PUB,
    SERVING_CN,
    Paths,
    artifacts,
    first_service_ip,
    service_account_issuer,
)
from generator.components.kube_apiserver.service import SERVICE
from generator.components.load_balancer.service import enabled as load_balancer_enabled
from generator.model import Cluster, Node
from generator.steps import (
    Chapter,
    Command,
    Show,
    Step,
    Text,
    for_each_master,
    inspect_cert,
    on,
    pki_file,
    push,
    render,
    subject_line,
    sudo,
    verify_cert,
)
from generator.text import NO_TEXT, Texts

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists
TEXT = Texts.of_component(__file__)


def chapter(cluster: Cluster) -> Chapter:
    f = facts(cluster.release)
    n = len(cluster.masters)
    return Chapter(
        **TEXT.chapter(ID, n=n, cluster=cluster),
        number=6,
        steps=(
            cert_step(cluster),
            encryption_step(cluster, f),
            sa_keys_step(cluster, f),
            unit_step(cluster, f),
            distribute_step(cluster),
            audit.step(cluster),
            start_step(cluster, SERVICE, Paths(cluster).binary,
                       TEXT(f"{ID}.start", "needs")),
            status_step(cluster, SERVICE),
            health_step(cluster),
            ready_step(cluster, f),
            kubelet_rbac_step(cluster),
            encryption_at_rest_step(cluster),
            *([loss_step(cluster)] if load_balancer_enabled(cluster) else []),
        ),
    )


def node_file(cluster: Cluster, node: Node, absolute: str) -> str:
    return f"{rel_build(cluster)}/{on_node(node, absolute)}"


def first_master_file(cluster: Cluster, absolute: str) -> str:
    return node_file(cluster, cluster.masters[0], absolute)


def front_proxy_text(cluster: Cluster) -> tuple[Text, tuple[Command, ...]]:
    """What the cert step says and checks of the front-proxy client (separate layout; the single layout has none)."""
    if not Paths(cluster).front_proxy:
        return NO_TEXT, ()
    name, cn = FRONT_PROXY_CLIENT.name, FRONT_PROXY_CLIENT.cn
    text = TEXT(f"{ID}.cert", "front-proxy", name=name, cn=cn)
    return text, (verify_cert(cluster, name, pki.FRONT_PROXY_CA),
                  inspect_cert(cluster, name, rf"CN ?= ?{cn}", subject_line(cluster, cn, None)))


def cert_step(cluster: Cluster) -> Step:
    domain = cluster.spec.network.cluster_domain
    service_ip = first_service_ip(cluster)
    front_proxy, proxy_checks = front_proxy_text(cluster)
    return Step(
        **TEXT.step(f"{ID}.cert", SERVING_CN=SERVING_CN, cluster=cluster, service_ip=service_ip, domain=domain,
                    KUBELET_CLIENT=KUBELET_CLIENT, KUBELET_CLIENT_USER=KUBELET_CLIENT_USER, ETCD_CLIENT=ETCD_CLIENT,
                    front_proxy=front_proxy),
        shows=tuple(Show(f"{name}-csr.json", "json", (("", f"pki/{name}-csr.json"),))
                    for name in (ID, KUBELET_CLIENT, *([FRONT_PROXY_CLIENT.name] if proxy_checks else []))),
        local=(
            render(cluster, ID, "cert"),
            verify_cert(cluster, ID),
            inspect_cert(cluster, ID, "DNS:" + re.escape(f"kubernetes.default.svc.{domain}"),
                         f"X509v3 Subject Alternative Name: \n    DNS:kubernetes, DNS:kubernetes.default, "
                         f"DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.{domain}, IP Address:127.0.0.1"),
            verify_cert(cluster, KUBELET_CLIENT),
            inspect_cert(cluster, KUBELET_CLIENT, rf"CN ?= ?{KUBELET_CLIENT_USER}",
                         subject_line(cluster, KUBELET_CLIENT_USER, None)),
            *proxy_checks,
        ),
    )


def encryption_step(cluster: Cluster, f: ApiServerFacts) -> Step:
    path = Paths(cluster).encryption
    key = pki_file(cluster, ENCRYPTION_KEY.removeprefix("pki/"))
    return Step(
        **TEXT.step(f"{ID}.encryption", key=key, path=path, cluster=cluster, f=f),
        local=(
            render(cluster, ID, "config"),
            Command(f"base64 -d {shlex.quote(key)} | wc -c", expect=r"^\s*32$", example="32"),
            Command(f"stat -c %a:%n {shlex.quote(first_master_file(cluster, path))}", expect=r"^600:",
                    example=f"600:{first_master_file(cluster, path)}"),
        ),
    )


def sa_keys_step(cluster: Cluster, f: ApiServerFacts) -> Step:
    key, pub = pki_file(cluster, SA_KEY.removeprefix("pki/")), pki_file(cluster, SA_PUB.removeprefix("pki/"))
    issuer = service_account_issuer(cluster)
    extra = (TEXT(f"{ID}.sa-keys", "extra-signing", issuer=issuer) if f.sa_issuer_required
             else TEXT(f"{ID}.sa-keys", "extra-public"))
    check = f"openssl pkey -in {shlex.quote(key)} -pubout | cmp -s - {shlex.quote(pub)} && echo 'key pair matches'"
    return Step(
        **TEXT.step(f"{ID}.sa-keys", extra=extra),
        local=(
            render(cluster, ID, "ca"),
            Command(check, expect=r"^key pair matches$", example="key pair matches"),
        ),
    )


def unit_step(cluster: Cluster, f: ApiServerFacts) -> Step:
    port = cluster.spec.api_server.secure_port
    insecure = TEXT(f"{ID}.unit", "insecure-off") if f.disable_insecure_port else NO_TEXT
    etcd_ca = Paths(cluster).etcd_ca.rsplit("/", 1)[-1]
    trust = (TEXT(f"{ID}.unit", "trust-separate", etcd_ca=etcd_ca, proxy_cn=FRONT_PROXY_CLIENT.cn)
             if Paths(cluster).front_proxy else TEXT(f"{ID}.unit", "trust-single", etcd_ca=etcd_ca))
    return Step(
        **TEXT.step(f"{ID}.unit", port=port, insecure=insecure, trust=trust),
        shows=(Show(f"{ID}.service", "ini", tuple((n.name, on_node(n, Paths(cluster).unit))
                                                  for n in cluster.masters)),),
        local=(render(cluster, ID, "unit"),),
    )


def distribute_step(cluster: Cluster) -> Step:
    paths = Paths(cluster)
    files = paths.node_files()
    files += [f for f in (paths.etcd_ca, paths.etcd_cert, paths.etcd_key) if f not in files]
    keys = [*paths.secrets(), paths.etcd_key]
    # one mode per file on one line: a missing file shortens the line, any other mode changes it
    check = f"{sudo(cluster)}stat -c %a {' '.join(keys)} | paste -sd ,"
    modes = ",".join(["600"] * len(keys))
    return Step(
        **TEXT.step(f"{ID}.distribute", build=rel_build(cluster), ETCD_CLIENT=ETCD_CLIENT),
        per_node=for_each_master(cluster, lambda node: [
            push(cluster, node, files),
            on(cluster, node, check, expect=rf"^{modes}$", example=modes),
        ]),
    )
