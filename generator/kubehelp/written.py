"""Every flag, feature gate and admission plugin the generator writes into a kube daemon's unit for a release.

Read from the components' own flag lists, for clusters that between them take every branch those lists have: three
masters behind a VIP with the separate CAs (front proxy, shutdown delay, retry-after) and one master on its own with
one CA. Only names and the generator's own values come out; the values are what `probe.py` passes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from generator.components.kube_apiserver import facts as apiserver_facts
from generator.components.kube_apiserver import files as apiserver_files
from generator.components.kube_controller_manager import facts as controller_manager_facts
from generator.components.kube_controller_manager import files as controller_manager_files
from generator.components.kube_scheduler import facts as scheduler_facts
from generator.components.kube_scheduler import files as scheduler_files
from generator.model import ApiServer, Certificates, Cluster, ClusterFile, Node, with_paired_etcd
from generator.versions import Release

NAME = "kubehelp-written"  # no build/ directory of this name is read or written: every layout is given
# The functions the units are written with, looked up when called (a test replaces one to see the check fail).
WRITERS: dict[str, Callable[[Cluster, Node], list[str]]] = {
    "kube-apiserver": lambda c, n: apiserver_files.flags(c, n, apiserver_facts.facts(c.release)),
    "kube-controller-manager": lambda c, n: controller_manager_files.flags(
        c, n, controller_manager_facts.facts(c.release)),
    "kube-scheduler": lambda c, n: scheduler_files.flags(c, n, scheduler_facts.facts(c.release)),
}
GATE_FLAG = "--feature-gates"
PLUGIN_FLAGS = ("--enable-admission-plugins", "--disable-admission-plugins")


def clusters(release: Release) -> list[Cluster]:
    masters = tuple(Node(name=f"master-{i}", ip=f"10.0.0.{10 + i}") for i in (1, 2, 3))
    files = [
        ClusterFile(name=NAME, kubernetes_version=str(release), nodes=masters, api_server=ApiServer(vip="10.0.0.100"),
                    certificates=Certificates(layout="separate")),
        ClusterFile(name=NAME, kubernetes_version=str(release), nodes=masters[:1],
                    certificates=Certificates(layout="single")),
    ]
    return [Cluster(spec=with_paired_etcd(spec, release), release=release, ref=NAME, source=Path(NAME))
            for spec in files]


def flags(release: Release) -> dict[str, dict[str, str]]:
    """daemon -> {flag: the value written (the first one seen)}."""
    found: dict[str, dict[str, str]] = {daemon: {} for daemon in WRITERS}
    for cluster in clusters(release):
        for daemon, writer in WRITERS.items():
            for node in cluster.masters:
                for word in writer(cluster, node):
                    name, _, value = word.partition("=")
                    found[daemon].setdefault(name, value)
    return found


def listed(value: str) -> set[str]:
    return {item.split("=", 1)[0].split(":", 1)[-1] for item in value.split(",") if item}


def feature_gates(written: dict[str, dict[str, str]]) -> dict[str, set[str]]:
    """daemon -> the gate names its --feature-gates sets ("Name=true", "kube:Name=true")."""
    return {daemon: listed(values.get(GATE_FLAG, "")) for daemon, values in written.items()}


def admission_plugins(written: dict[str, dict[str, str]]) -> set[str]:
    values = written["kube-apiserver"]
    return set().union(*(listed(values.get(flag, "")) for flag in PLUGIN_FLAGS))
