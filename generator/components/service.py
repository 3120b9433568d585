"""The start and status steps every control-plane daemon shares: the same commands, its own prerequisite."""

from __future__ import annotations

import re
import shlex

from generator import pki
from generator.components.prerequisites.files import workstation_kubectl
from generator.model import Cluster, Node
from generator.steps import Command, Step, Text, for_each_master, on, pki_file, sudo


def start_step(cluster: Cluster, component: str, binary: str, needs: Text) -> Step:
    """`daemon-reload`, `enable` and `restart` on every master; safe to repeat."""
    s = sudo(cluster)
    return Step(
        id=f"{component}.start",
        title=Text(zh="启动服务", en="Start the service"),
        explain=Text(
            zh=(
                f"需要 `{binary}` 已安装（前置准备一章）{needs.zh}。`daemon-reload` 让 systemd 读入新 unit，"
                "`enable` 让它开机自启，`restart` 让改过的配置立即生效；重复执行是安全的。"
            ),
            en=(
                f"Needs `{binary}` installed (prerequisites chapter){needs.en}. `daemon-reload` makes systemd read "
                "the new unit, `enable` starts it at boot, `restart` applies a changed configuration now; running "
                "it again is safe."
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [
            on(cluster, node,
               f"{s}systemctl daemon-reload && {s}systemctl enable {component} && {s}systemctl restart {component}"),
        ]),
        needs_kube_binaries=True,
    )


def status_step(cluster: Cluster, component: str) -> Step:
    return Step(
        id=f"{component}.status",
        title=Text(zh="检查服务状态", en="Check the service is active"),
        explain=Text(
            zh=f"每台 master 上的服务都应是 `active`。否则用 `journalctl -u {component} --no-pager -n 50` 查看原因。",
            en=f"The service must be `active` on every master. If not, `journalctl -u {component} --no-pager -n 50` "
            "shows why.",
        ),
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
        id=f"{component}.kubeconfig-check",
        title=Text(zh="用 kubectl 读回 kubeconfig", en="kubectl reads the kubeconfig back"),
        explain=Text(
            zh=(
                f"用本集群版本的 kubectl 读回刚生成的 kubeconfig：用户必须是 `{user}`，server 必须是预期的地址。"
                "kubectl 能解析它，也说明内嵌的 CA、证书与私钥字段格式有效。"
            ),
            en=(
                f"kubectl of this cluster's release reads the new kubeconfig back: the user must be `{user}` and the "
                "server the expected address. kubectl parsing it also shows the embedded CA, certificate and key "
                "fields are well formed."
            ),
        ),
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
