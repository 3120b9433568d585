"""The steps every control-plane daemon shares: start, status, a kubeconfig read back; the same commands, its own
prerequisite. Their prose is in daemon.yaml."""

from __future__ import annotations

import re
import shlex

from generator import pki
from generator.components.prerequisites.files import workstation_kubectl
from generator.model import Cluster, Node
from generator.steps import Command, Step, for_each_master, on, pki_file, sudo
from generator.text import Text, Texts

TEXT = Texts.of_module(__file__)


def start_step(cluster: Cluster, component: str, binary: str, needs: Text) -> Step:
    """`daemon-reload`, `enable` and `restart` on every master; safe to repeat. `needs`: what else must run first,
    as the explanation says it."""
    s = sudo(cluster)
    return Step(
        **TEXT.step("start", step_id=f"{component}.start", binary=binary, needs=needs),
        per_node=for_each_master(cluster, lambda node: [
            on(cluster, node,
               f"{s}systemctl daemon-reload && {s}systemctl enable {component} && {s}systemctl restart {component}"),
        ]),
        needs_kube_binaries=True,
    )


def status_step(cluster: Cluster, component: str) -> Step:
    return Step(
        **TEXT.step("status", step_id=f"{component}.status", unit=component),
        per_node=for_each_master(
            cluster, lambda node: [on(cluster, node, f"systemctl is-active {component}", r"^active$", "active")]
        ),
        needs_kube_binaries=True,
    )


def kubeconfig_check_step(cluster: Cluster, component: str, user: str,
                          files: list[tuple[Node | None, str, str]]) -> Step:
    """kubectl of the cluster's release reads rendered kubeconfigs back: user and server, exactly.

    `files` holds (node, path from the repository root, expected server); node None is the workstation's file.
    """
    query = 'jsonpath={.contexts[0].context.user} {.clusters[0].cluster.server}{"\\n"}'

    def check(path: str, server: str) -> Command:
        return Command(shlex.join([workstation_kubectl(cluster), "config", "view", "--kubeconfig", path, "-o",
                                   query]), expect=rf"^{re.escape(user)} {re.escape(server)}$",
                       example=f"{user} {server}")

    return Step(
        **TEXT.step("kubeconfig-check", step_id=f"{component}.kubeconfig-check", user=user),
        local=tuple(check(path, server) for node, path, server in files if node is None),
        per_node=tuple((node, (check(path, server),)) for node, path, server in files if node is not None),
        needs_kube_binaries=True,
    )


def anonymous_refused(cluster: Cluster, url: str) -> Command:
    """An anonymous HTTPS request must be refused: 401 (no anonymous auth) or 403 (anonymous, not authorized)."""
    return Command(shlex.join(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", "--cacert",
                               pki_file(cluster, "ca.pem"), url]), expect=r"^40[13]$", example="403")


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
