"""etcd's trust: the errors of a client etcd refuses, and the risk of an etcd that admits every cluster certificate."""

from __future__ import annotations

import shlex

from generator import pki, trust
from generator.components.troubleshooting.errors import Error, journal, lint
from generator.model import Cluster
from generator.steps import Text, pki_file


def etcd_signer(cluster: Cluster) -> pki.CaSpec:
    return trust.signer(trust.layout(cluster), pki.ETCD_CA)


ERRORS: tuple[Error, ...] = (
    Error(
        id="etcd-deadline",
        message="context deadline exceeded",
        title=Text(zh="etcdctl 超时", en="etcdctl times out"),
        symptom=Text(zh="`etcdctl endpoint health` 等几秒后报这条错误。",
                     en="`etcdctl endpoint health` waits a few seconds, then prints this."),
        cause=Text(
            zh="没有给 `--cacert`/`--cert`/`--key`（etcd 要求客户端证书），客户端证书不是 etcd 信任的 CA 签发的"
            "（CA 分开时，集群 CA 签发的 admin 等证书会被拒绝），endpoint 写成了 http，或成员确实不可达。",
            en="`--cacert`/`--cert`/`--key` are missing (etcd requires client certificates), the client certificate "
            "comes from a CA etcd does not trust (with separate CAs, the admin's and every other cluster-CA "
            "certificate is refused), the endpoint says http, or the member really is unreachable.",
        ),
        fix=Text(
            zh="使用“etcd”一章的 etcdctl 命令（etcd CA、etcdctl 证书、https）；仍超时则检查防火墙的 2379/2380。",
            en="Use the etcd chapter's etcdctl command (the etcd CA, the etcdctl certificate, https); if it still "
            "times out, check the firewall on 2379/2380.",
        ),
        confirm=lambda c: [
            journal(c, "etcd", "bad certificate\\|didn't provide a certificate\\|unknown authority"),
            shlex.join(["openssl", "verify", "-CAfile", pki_file(c, f"{etcd_signer(c).name}.pem"),
                        pki_file(c, "etcdctl.pem")]),
        ],
    ),
    Error(
        id="etcd-shares-cluster-ca",
        message="etcdctl --cert=admin.pem --key=admin-key.pem get /registry/secrets --prefix --keys-only",
        title=Text(zh="集群 CA 的证书能直接读 etcd", en="A cluster-CA certificate reads etcd directly"),
        symptom=Text(
            zh="这条命令（或任何由集群 CA 签发的客户端证书）能列出 etcd 里的 Secret：不经过 apiserver，也不经过 RBAC。",
            en="This command (or any client certificate the cluster CA signed) lists the Secrets in etcd: past the "
            "apiserver and past RBAC.",
        ),
        cause=Text(
            zh="etcd 与 Kubernetes API 共用一个 CA（种子的做法，或 `certificates.layout: single`）：etcd 信任"
            "这个 CA 签发的每一张证书，包括 admin 的、调度器的、kube-controller-manager 经 CSR API 签发的。",
            en="etcd and the Kubernetes API share one CA (the seeds' layout, or `certificates.layout: single`): "
            "etcd trusts every certificate that CA signs, the admin's, the scheduler's and each one "
            "kube-controller-manager issues through the CSR API.",
        ),
        fix=Text(
            zh="给 etcd 单独的 CA（`certificates.layout: separate`，新集群的默认）。对已有集群这是一次 CA 轮换："
            "etcd 与 kube-apiserver 两章要一起重新部署（将由专门的轮换一章处理）。",
            en="Give etcd a CA of its own (`certificates.layout: separate`, the default for a new cluster). On a "
            "running cluster that is a CA rotation: the etcd and kube-apiserver chapters are deployed again "
            "together (a rotation chapter will handle it).",
        ),
        confirm=lambda c: [
            shlex.join(["openssl", "verify", "-CAfile", pki_file(c, f"{etcd_signer(c).name}.pem"),
                        pki_file(c, "admin.pem")]),
            lint(c),
        ],
        seen_in=("seed 001", "seed 002", "seed 003", "seed 004"),
        lint_rules=("etcd-shares-cluster-ca",),
    ),
)
