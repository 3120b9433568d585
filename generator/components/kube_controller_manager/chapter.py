"""The kube-controller-manager chapter: certificate, kubeconfig, unit, secure port 10257, leader, failover. Its
prose is in text.yaml; the steps it shares with kube-scheduler are generator/components/elected.py's."""

from __future__ import annotations

import shlex

from generator.components import daemon, elected, leader
from generator.components.daemon import anonymous_refused
from generator.components.kube_controller_manager.facts import ControllerManagerFacts, facts
from generator.components.kube_controller_manager.files import ID, USER, Paths, artifacts, server_for
from generator.components.kube_controller_manager.service import SERVICE
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, for_each_master, pki_file
from generator.text import NO_TEXT, Texts

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists
TEXT = Texts.of_component(__file__)


def component(cluster: Cluster) -> elected.Elected:
    paths = Paths(cluster)
    return elected.Elected(
        service=SERVICE, user=USER, text=TEXT, binary=paths.binary, kubeconfig=paths.kubeconfig, unit=paths.unit,
        secrets=tuple(paths.secrets()),
        kubeconfig_server=cluster.spec.components.kube_controller_manager.kubeconfig_server,
        server_for=server_for,
    )


def chapter(cluster: Cluster) -> Chapter:
    f = facts(cluster.release)
    e = component(cluster)
    insecure = TEXT(f"{ID}.unit", "insecure-port", f=f) if f.insecure_port else NO_TEXT
    return Chapter(
        **TEXT.chapter(ID, cluster=cluster, f=f, masters=len(cluster.masters)),
        number=7,
        steps=(
            elected.cert_step(cluster, e),
            elected.kubeconfig_step(cluster, e),
            elected.kubeconfig_check_step(cluster, e),
            elected.unit_step(cluster, e, f=f, insecure=insecure, hours=cluster.spec.certificates.leaf_days * 24),
            elected.distribute_step(cluster, e),
            elected.start_step(cluster, e),
            daemon.status_step(cluster, ID),
            health_step(cluster, f),
            leader.leader_step(cluster, SERVICE),
            leader.failover_step(cluster, SERVICE),
        ),
    )


def health_step(cluster: Cluster, f: ControllerManagerFacts) -> Step:
    def curl(node: Node) -> str:
        return shlex.join([
            "curl", "-sS", "--fail", "--cacert", pki_file(cluster, "ca.pem"),
            "--cert", pki_file(cluster, "admin.pem"), "--key", pki_file(cluster, "admin-key.pem"),
            f"https://{node.host}:{f.secure_port}/healthz",
        ])

    return Step(
        **TEXT.step(f"{ID}.health", f=f),
        per_node=for_each_master(cluster, lambda node: [
            Command(curl(node), expect=r"^ok$", example="ok"),
            anonymous_refused(cluster, f"https://{node.host}:{f.secure_port}/metrics"),
        ]),
        needs_kube_binaries=True,
    )
