"""The etcd chapter: certificates, units, a parallel start; then the checks of etcd/checks.py."""

from __future__ import annotations

import re
import shlex

from generator import pki, trust
from generator.artifacts import Artifact, on_node
from generator.components.admin.files import CERT as ADMIN_CERT
from generator.components.etcd import backup, files
from generator.components.etcd.checks import (
    endpoint_status_step,
    etcd_ca,
    failover_step,
    health_step,
    leader_step,
    snapshot_step,
    status_step,
)
from generator.components.etcd.facts import EtcdFacts, facts
from generator.components.etcd.files import (
    CLIENT_PORT,
    ETCDCTL_CLIENT,
    ID,
    PEER_PORT,
    Paths,
    peer_spec,
    server_spec,
)
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.pki import APISERVER_ETCD_CLIENT
from generator.steps import Chapter, Command, Show, Step, for_each, on, pki_file, push, render, subject_line, sudo
from generator.text import NO_TEXT, Texts, enumeration

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists
TEXT = Texts.of_component(__file__)


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return files.artifacts(ctx) + backup.artifacts(ctx)


def chapter(cluster: Cluster) -> Chapter:
    f = facts(cluster.spec.components.etcd.version)
    members = cluster.etcd_members
    ca = etcd_ca(cluster)
    names = enumeration(n.name for n in members)
    return Chapter(
        **TEXT.chapter(ID, members=len(members), names=names, f=f, client_port=CLIENT_PORT, peer_port=PEER_PORT,
                       ca=ca, tolerated=(len(members) - 1) // 2),
        number=5,
        steps=(
            cert_step(cluster),
            unit_step(cluster, f),
            distribute_step(cluster),
            start_step(cluster),
            status_step(cluster),
            health_step(cluster, f),
            endpoint_status_step(cluster, f),
            leader_step(cluster, f),
            snapshot_step(cluster, f),
            failover_step(cluster, f),
            *backup.steps(cluster),
        ),
    )


def san_check(cluster: Cluster, name: str, ip: str) -> Command:
    return Command(
        shlex.join(["openssl", "x509", "-in", pki_file(cluster, f"{name}.pem"), "-noout", "-subject",
                    "-ext", "subjectAltName,extendedKeyUsage"]),
        expect=rf"IP Address:{re.escape(ip)}(,|$)",
        example=f"X509v3 Subject Alternative Name: \n    DNS:localhost, IP Address:127.0.0.1, IP Address:{ip}",
    )


def cert_step(cluster: Cluster) -> Step:
    members = cluster.etcd_members
    names = [server_spec(n).name for n in members] + [peer_spec(n).name for n in members]
    names += [APISERVER_ETCD_CLIENT.name, ETCDCTL_CLIENT.name]
    ca_pem = pki_file(cluster, f"{trust.signer(trust.layout(cluster), pki.ETCD_CA).name}.pem")
    verify = Command(
        shlex.join(["openssl", "verify", "-CAfile", ca_pem, *(pki_file(cluster, f"{n}.pem") for n in names)]),
        expect=r": OK$",
        example="\n".join(f"{pki_file(cluster, f'{n}.pem')}: OK" for n in names),
    )
    client_check = Command(
        shlex.join(["openssl", "x509", "-in", pki_file(cluster, f"{APISERVER_ETCD_CLIENT.name}.pem"), "-noout",
                    "-subject", "-ext", "extendedKeyUsage"]),
        expect=rf"CN ?= ?{APISERVER_ETCD_CLIENT.cn}(,|$)",
        example=subject_line(cluster, APISERVER_ETCD_CLIENT.cn, APISERVER_ETCD_CLIENT.org),
    )
    if trust.layout(cluster) == trust.SEPARATE:
        # Proof of the trust domain, on the workstation: the admin's certificate (cluster CA) is no etcd client.
        admin = pki_file(cluster, f"{ADMIN_CERT.name}.pem")
        refused = [Command(f"! {shlex.join(['openssl', 'verify', '-CAfile', ca_pem, admin])}",
                           expect=r"unable to get local issuer certificate",
                           example=f"{subject_line(cluster, ADMIN_CERT.cn, ADMIN_CERT.org).removeprefix('subject=')}\n"
                                   "error 20 at 0 depth lookup: unable to get local issuer certificate\n"
                                   f"error {admin}: verification failed")]
        domain = TEXT(f"{ID}.cert", "domain-separate")
    else:
        refused = []
        domain = TEXT(f"{ID}.cert", "domain-single")
    return Step(
        **TEXT.step(f"{ID}.cert", domain=domain, APISERVER_ETCD_CLIENT=APISERVER_ETCD_CLIENT,
                    ETCDCTL_CLIENT=ETCDCTL_CLIENT),
        shows=(
            Show("etcd-server-csr.json", "json",
                 tuple((n.name, f"pki/{server_spec(n).name}-csr.json") for n in members)),
            Show(f"{APISERVER_ETCD_CLIENT.name}-csr.json", "json",
                 (("", f"pki/{APISERVER_ETCD_CLIENT.name}-csr.json"),)),
        ),
        local=(
            render(cluster, ID, "cert"),
            verify,
            *(san_check(cluster, server_spec(n).name, n.ip) for n in members),
            *(san_check(cluster, peer_spec(n).name, n.ip) for n in members),
            client_check,
            *refused,
        ),
    )


def unit_step(cluster: Cluster, f: EtcdFacts) -> Step:
    paths = Paths(cluster)
    ca = etcd_ca(cluster)
    logger = TEXT(f"{ID}.unit", "logger-zap") if f.logger_flags else NO_TEXT
    return Step(
        **TEXT.step(f"{ID}.unit", paths=paths, ca=ca, logger=logger),
        shows=(Show("etcd.service", "ini", tuple((n.name, on_node(n, paths.unit)) for n in cluster.etcd_members)),),
        local=(render(cluster, ID, "unit"),),
    )


def distribute_step(cluster: Cluster) -> Step:
    paths = Paths(cluster)
    s = sudo(cluster)
    ca = etcd_ca(cluster)
    ca_file = paths.ca.rsplit("/", 1)[-1]

    def commands(node: Node) -> list[Command]:
        keys = paths.keys(cluster, node)
        return [
            push(cluster, node, paths.node_files(cluster, node)),
            on(cluster, node, f"{s}stat -c %a:%n {' '.join(keys)}", expect=rf"^600:{re.escape(keys[0])}$",
               example="\n".join(f"600:{key}" for key in keys)),
        ]

    return Step(
        **TEXT.step(f"{ID}.distribute", ca=ca, ca_file=ca_file, APISERVER_ETCD_CLIENT=APISERVER_ETCD_CLIENT),
        per_node=for_each(cluster.control_plane, commands),  # members get theirs, masters the apiserver's
    )


def start_step(cluster: Cluster) -> Step:
    s = sudo(cluster)
    paths = Paths(cluster)
    remote = (f"{s}install -d -m 0700 {paths.data_dir} && {s}systemctl daemon-reload && "
              f"{s}systemctl enable {ID} && {s}systemctl restart {ID}")
    return Step(
        **TEXT.step(f"{ID}.start", paths=paths),
        per_node=for_each(cluster.etcd_members, lambda node: [on(cluster, node, remote)]),
    )
