"""The steps every control-plane daemon shares: start, status, a kubeconfig read back; the same commands, its own
prerequisite. Their prose is in daemon.yaml."""

from __future__ import annotations

import re
import shlex

from generator.components.prerequisites.files import workstation_kubectl
from generator.model import Cluster, Node
from generator.service import Service
from generator.steps import Command, Step, for_each_master, on, pki_file, ssh_options, ssh_target, sudo
from generator.text import Text, Texts

# The elected components (controller manager, scheduler) bind their secure port here (CIS 1.3.7, 1.4.2).
LOOPBACK = "127.0.0.1"

TEXT = Texts.of_module(__file__)


def start_step(cluster: Cluster, service: Service, binary: str, needs: Text) -> Step:
    """`daemon-reload`, `enable` and `restart` on every master; safe to repeat. `needs`: what else must run first,
    as the explanation says it."""
    s, unit = sudo(cluster), service.unit
    return Step(
        **TEXT.step("start", step_id=f"{service.component}.start", binary=binary, needs=needs),
        per_node=for_each_master(cluster, lambda node: [
            on(cluster, node,
               f"{s}systemctl daemon-reload && {s}systemctl enable {unit} && {s}systemctl restart {unit}"),
        ]),
        needs_kube_binaries=True,
    )


def status_step(cluster: Cluster, service: Service) -> Step:
    unit = service.unit
    return Step(
        **TEXT.step("status", step_id=f"{service.component}.status", unit=unit),
        per_node=for_each_master(
            cluster, lambda node: [on(cluster, node, f"systemctl is-active {unit}", r"^active$", "active")]
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


def loopback_url(port: int, path: str) -> str:
    return f"https://{LOOPBACK}:{port}{path}"


def on_loopback(cluster: Cluster, node: Node, port: int, path: str, expect: str, example: str) -> Command:
    """On `node`: its own daemon's `https://127.0.0.1:PORT/PATH`, checked against the node's copy of the cluster CA
    (the elected components' secure ports listen on loopback only)."""
    ca = f"{cluster.spec.paths.pki_dir}/ca.pem"
    return on(cluster, node, shlex.join(["curl", "-sS", "--fail", "--cacert", ca, loopback_url(port, path)]),
              expect=expect, example=example)


def anonymous_refused_on(cluster: Cluster, node: Node, port: int, path: str) -> Command:
    """On `node`: an anonymous request to its daemon's loopback port is refused (401 or 403)."""
    ca = f"{cluster.spec.paths.pki_dir}/ca.pem"
    return on(cluster, node, shlex.join(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", "--cacert", ca,
                                         loopback_url(port, path)]), expect=r"^40[13]$", example="403")


def through_tunnel(cluster: Cluster, node: Node, port: int, path: str) -> str:
    """Shell on the workstation: `path` of `node`'s loopback-only daemon as admin, through an ssh tunnel to it (the
    admin's key never leaves the workstation); the certificate is checked for 127.0.0.1, which its SANs hold."""
    ssh = shlex.join(ssh_options(cluster, "ControlPath=none", "ExitOnForwardFailure=yes"))
    forward = f'"{LOOPBACK}:$local:{LOOPBACK}:{port}"'
    curl = shlex.join(["curl", "-sS", "--fail", "--cacert", pki_file(cluster, "ca.pem"),
                       "--cert", pki_file(cluster, "admin.pem"), "--key", pki_file(cluster, "admin-key.pem")])
    return "\n".join([
        "local=$((20000 + RANDOM % 20000))",
        f"{ssh} -N -L {forward} {shlex.quote(ssh_target(cluster, node))} & tunnel=$!",
        'trap \'kill "$tunnel" 2>/dev/null\' EXIT',
        "end=$((SECONDS + 15))",
        f"until (exec 3<>/dev/tcp/{LOOPBACK}/$local) 2>/dev/null || [ $SECONDS -ge $end ]; do sleep 0.2; done",
        f"{curl} https://{LOOPBACK}:$local{path}",
    ])


def anonymous_refused(cluster: Cluster, url: str) -> Command:
    """An anonymous HTTPS request must be refused: 401 (no anonymous auth) or 403 (anonymous, not authorized)."""
    return Command(shlex.join(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}\\n", "--cacert",
                               pki_file(cluster, "ca.pem"), url]), expect=r"^40[13]$", example="403")
