"""The kube-controller-manager chapter: certificate, kubeconfig, unit, secure port 10257, leader, failover. Its
prose is in text.yaml; the steps it shares with kube-scheduler are generator/components/elected.py's."""

from __future__ import annotations

from generator.components import elected, leader
from generator.components.daemon import anonymous_refused_on, through_tunnel
from generator.components.kube_controller_manager.facts import ControllerManagerFacts, facts
from generator.components.kube_controller_manager.files import ID, USER, Paths, artifacts
from generator.components.kube_controller_manager.service import SERVICE
from generator.model import Cluster
from generator.steps import Chapter, Command, Step, for_each_master
from generator.text import NO_TEXT, Texts

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists
TEXT = Texts.of_component(__file__)


def component(cluster: Cluster) -> elected.Elected:
    paths = Paths(cluster)
    setting = cluster.spec.components.kube_controller_manager.kubeconfig_server
    return elected.Elected(SERVICE, USER, TEXT, paths, tuple(paths.secrets()), setting)


def chapter(cluster: Cluster) -> Chapter:
    f = facts(cluster.release)
    e = component(cluster)
    insecure = TEXT(f"{ID}.unit", "insecure-port", f=f) if f.insecure_port else NO_TEXT
    client = cluster.spec.components.kube_controller_manager.client_connection
    unit = {"f": f, "insecure": insecure, "hours": cluster.spec.certificates.leaf_days * 24,
            "client": TEXT(f"{ID}.unit", "client", qps=client.qps, burst=client.burst),
            "election": leader.timings(cluster, SERVICE)}
    return Chapter(
        **TEXT.chapter(ID, cluster=cluster, f=f, masters=len(cluster.masters)),
        number=7,
        steps=elected.steps(cluster, e, unit, checks=(health_step(cluster, f),)),
    )


def health_step(cluster: Cluster, f: ControllerManagerFacts) -> Step:
    return Step(
        **TEXT.step(f"{ID}.health", f=f),
        per_node=for_each_master(cluster, lambda node: [
            Command(through_tunnel(cluster, node, f.secure_port, "/healthz"), expect=r"^ok$", example="ok"),
            anonymous_refused_on(cluster, node, f.secure_port, "/metrics"),
        ]),
        needs_kube_binaries=True,
    )
