"""The steps kube-controller-manager and kube-scheduler share. Both run on every master with one elected leader, talk
to kube-apiserver with a certificate that also serves their secure port, and read a kubeconfig: the same commands
for both, driven by their descriptor (generator/service.py) and their files, explained in each one's own text.yaml
under the same step ids."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from generator.artifacts import on_node, rel_build
from generator.components import daemon, leader
from generator.components.elected_files import MasterFiles, kubeconfig_server
from generator.model import Cluster, Node
from generator.service import Service
from generator.steps import (
    Command,
    Show,
    Step,
    for_each_master,
    inspect_cert,
    on,
    push,
    render,
    subject_line,
    sudo,
    verify_cert,
)
from generator.text import Texts


@dataclass(frozen=True)
class Elected:
    """One elected component of one cluster: its descriptor, its identity towards kube-apiserver (CN and O of its
    certificate), its prose, and where its files are on a master."""

    service: Service
    user: str
    text: Texts
    files: MasterFiles
    secrets: tuple[str, ...]  # the files that must be 0600 on a master
    kubeconfig_server: str  # "vip" or "local", as the cluster file sets it

    @property
    def id(self) -> str:
        return self.service.component

    def server_for(self, cluster: Cluster, node: Node) -> str:
        """The server its kubeconfig on `node` names."""
        return kubeconfig_server(cluster, node, self.kubeconfig_server)


def node_file(cluster: Cluster, node: Node, absolute: str) -> str:
    """A master's file in the build tree, from the repository root."""
    return f"{rel_build(cluster)}/{on_node(node, absolute)}"


def cert_step(cluster: Cluster, e: Elected) -> Step:
    return Step(
        **e.text.step(f"{e.id}.cert", user=e.user),
        shows=(Show(f"{e.id}-csr.json", "json", (("", f"pki/{e.id}-csr.json"),)),),
        local=(
            render(cluster, e.id, "cert"),
            verify_cert(cluster, e.id),
            inspect_cert(cluster, e.id, rf"CN ?= ?{e.user}", subject_line(cluster, e.user, e.user)),
        ),
    )


def kubeconfig_step(cluster: Cluster, e: Elected) -> Step:
    server = e.text(f"{e.id}.kubeconfig", f"server-{e.kubeconfig_server}", endpoint=cluster.api_endpoint)
    return Step(
        **e.text.step(f"{e.id}.kubeconfig", user=e.user, server=server),
        local=(render(cluster, e.id, "kubeconfig"),),
        per_node=for_each_master(cluster, lambda node: [
            Command(shlex.join(["stat", "-c", "%a", node_file(cluster, node, e.files.kubeconfig)]), expect=r"^600$",
                    example="600"),
        ]),
    )


def kubeconfig_check_step(cluster: Cluster, e: Elected) -> Step:
    return daemon.kubeconfig_check_step(cluster, e.id, e.user, [
        (node, node_file(cluster, node, e.files.kubeconfig), e.server_for(cluster, node)) for node in cluster.masters
    ])


def unit_step(cluster: Cluster, e: Elected, **values: object) -> Step:
    """`values`: what the component's explanation of its flags fills in."""
    return Step(
        **e.text.step(f"{e.id}.unit", **values),
        shows=(Show(f"{e.id}.service", "ini", tuple((n.name, on_node(n, e.files.unit)) for n in cluster.masters)),),
        local=(render(cluster, e.id, "unit"),),
    )


def distribute_step(cluster: Cluster, e: Elected) -> Step:
    """Its files to every master in one tar pipe, then each secret's mode."""
    check = f"{sudo(cluster)}stat -c %a:%n {' '.join(e.secrets)}"
    modes = "\n".join(f"600:{path}" for path in e.secrets)
    return Step(
        **e.text.step(f"{e.id}.distribute", build=rel_build(cluster)),
        per_node=for_each_master(cluster, lambda node: [
            push(cluster, node, list(e.service.files(cluster, node))),
            on(cluster, node, check, expect=rf"^{modes}$", example=modes),
        ]),
    )


def start_step(cluster: Cluster, e: Elected) -> Step:
    return daemon.start_step(cluster, e.service, e.files.binary, e.text(f"{e.id}.start", "needs"))


def steps(cluster: Cluster, e: Elected, unit: Mapping[str, object], config: Sequence[Step] = (),
          checks: Sequence[Step] = ()) -> tuple[Step, ...]:
    """Its chapter's steps in order: certificate, kubeconfig and its read-back, its own `config` steps, the unit
    (`unit`: what its explanation fills in), distribution, start, status, its own `checks` of what it serves, then
    who leads and a failover."""
    return (
        cert_step(cluster, e),
        kubeconfig_step(cluster, e),
        kubeconfig_check_step(cluster, e),
        *config,
        unit_step(cluster, e, **unit),
        distribute_step(cluster, e),
        start_step(cluster, e),
        daemon.status_step(cluster, e.service),
        *checks,
        leader.leader_step(cluster, e.service),
        leader.failover_step(cluster, e.service),
    )
