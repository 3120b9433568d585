"""The admin chapter: the certificate, the kubeconfig, and kubectl reading it back."""

from __future__ import annotations

import shlex

from generator.components.admin.files import ID, KUBECONFIG, artifacts
from generator.components.daemon import kubeconfig_check_step
from generator.model import Cluster
from generator.steps import Chapter, Command, Step, Text, inspect_cert, pki_file, render, subject_line, verify_cert

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists


def chapter(cluster: Cluster) -> Chapter:
    issue = Step(
        id="admin.cert",
        title=Text(zh="签发 admin 客户端证书", en="Issue the admin client certificate"),
        explain=Text(
            zh=(
                "kubectl 以 admin 身份访问集群。证书的 O（组织）是 `system:masters`：kube-apiserver 把它当作用户组，"
                "而内置的 ClusterRoleBinding `cluster-admin` 把这个组绑定到全部权限。这是客户端证书，"
                "只带 clientAuth 用途，不需要 hosts。"
            ),
            en=(
                "kubectl talks to the cluster as admin. The certificate's O (organisation) is `system:masters`: "
                "kube-apiserver reads it as the user's group, and the built-in ClusterRoleBinding `cluster-admin` "
                "binds that group to every permission. It is a client certificate: clientAuth only, no hosts."
            ),
        ),
        local=(
            render(cluster, ID, "cert"),
            verify_cert(cluster, "admin"),
            inspect_cert(cluster, "admin", r"O ?= ?system:masters", subject_line(cluster, "admin", "system:masters")),
        ),
    )
    config = Step(
        id="admin.kubeconfig",
        title=Text(zh="生成 admin kubeconfig", en="Build the admin kubeconfig"),
        explain=Text(
            zh=(
                f"kubeconfig 内嵌 CA、admin 证书与私钥，server 指向 API 入口 `{cluster.api_endpoint}`"
                "（负载均衡地址），所以任何一台 master 宕机都不影响 kubectl。文件含私钥，权限为 0600。"
            ),
            en=(
                "The kubeconfig embeds the CA, the admin certificate and its key; its server is the API "
                f"endpoint `{cluster.api_endpoint}` (the load balancer), so kubectl keeps working when a master "
                "is down. It holds a private key: mode 0600."
            ),
        ),
        warnings=(
            Text(
                zh="`--client-key` 必须指向私钥文件（`*-key.pem`），不是证书。写成证书时组件启动报错 "
                "`tls: found a certificate rather than a key in the PEM for the private key`（种子 003 的错误）。",
                en="`--client-key` must point at the key file (`*-key.pem`), not the certificate. Pointing it at "
                "the certificate fails with `tls: found a certificate rather than a key in the PEM for the "
                "private key` (seed 003's mistake).",
            ),
        ),
        local=(
            render(cluster, ID, "kubeconfig"),
            Command(f"stat -c %a:%n {shlex.quote(pki_file(cluster, 'admin.kubeconfig'))}", expect=r"^600:",
                    example=f"600:{pki_file(cluster, 'admin.kubeconfig')}"),
        ),
    )
    check = kubeconfig_check_step(cluster, ID, "admin", [(None, f"build/{cluster.name}/{KUBECONFIG}",
                                                          cluster.api_endpoint)])
    return Chapter(
        id=ID,
        number=4,
        title=Text(zh="为 kubectl 配置 admin 用户", en="Admin kubeconfig"),
        intro=Text(
            zh="本章为运维机上的 kubectl 准备 admin 身份。后面读取 leader、访问 /metrics 都用它。",
            en="This chapter gives kubectl on the workstation its admin identity. Later chapters use it to read "
            "the leader and to fetch /metrics.",
        ),
        steps=(issue, config, check),
    )
