"""The cluster CA: made once, reused by every later render, never re-made."""

from __future__ import annotations

import shlex

from generator import pki
from generator.artifacts import Artifact, on_node
from generator.context import CA_CERT, CA_KEY, RenderContext
from generator.model import Cluster
from generator.steps import Chapter, Command, Show, Step, Text, pki_file, render

ID = "ca"


def artifacts(ctx: RenderContext) -> list[Artifact]:
    cluster = ctx.cluster
    files = [
        Artifact(CA_CERT, ctx.ca_cert, ID, "ca"),
        Artifact(CA_KEY, ctx.ca_key, ID, "ca", secret=True),
        Artifact("pki/ca-csr.json", pki.ca_csr_json(cluster).encode(), ID, "ca"),
        Artifact("pki/ca-config.json", pki.ca_config_json(cluster).encode(), ID, "ca"),
    ]
    pki_dir = cluster.spec.paths.pki_dir
    files += [Artifact(on_node(node, f"{pki_dir}/ca.pem"), ctx.ca_cert, ID, "ca") for node in cluster.masters]
    return files


def chapter(cluster: Cluster) -> Chapter:
    ca = pki_file(cluster, "ca.pem")
    ca_key = pki_file(cluster, "ca-key.pem")
    days = cluster.spec.certificates.ca_days
    create = Step(
        id="ca.create",
        title=Text(zh="创建集群 CA", en="Create the cluster CA"),
        explain=Text(
            zh=(
                "集群里每一张证书都由这一个 CA 签发：kube-apiserver 用它校验客户端证书，各组件用它校验 apiserver。"
                f"生成器用 Python `cryptography` 生成 CA（有效期 {days} 天，`CA:TRUE`，KeyUsage 为 certSign 与 "
                "crlSign），并写出 cfssl 风格的 `ca-csr.json` 与 `ca-config.json`，习惯 cfssl 的读者可以对照。"
                "CA 只在第一次渲染时生成；以后每次渲染都复用已有的 `ca.pem` 与 `ca-key.pem`。"
            ),
            en=(
                "Every certificate in the cluster is signed by this one CA: kube-apiserver uses it to check client "
                "certificates and every component uses it to check the apiserver. The generator makes it with "
                f"Python `cryptography` ({days} days, `CA:TRUE`, KeyUsage certSign and crlSign) and writes the "
                "cfssl-style `ca-csr.json` and `ca-config.json` for readers who know cfssl. The CA is made on the "
                "first render only; every later render reuses the existing `ca.pem` and `ca-key.pem`."
            ),
        ),
        warnings=(
            Text(
                zh=f"`{ca_key}` 是整个集群的信任根：只保存在运维机上（权限 0600），离线备份，"
                "绝不提交到 git。唯一的例外：kube-controller-manager 用它为 kubelet 等签发证书，"
                "所以它会被复制到 master（见 kube-controller-manager 一章），除此之外不复制到任何节点。",
                en=f"`{ca_key}` is the root of trust of the whole cluster: keep it on the workstation only (mode "
                "0600), back it up offline, never commit it to git. The one exception: kube-controller-manager signs "
                "certificates (for kubelets) with it, so it goes to the masters (kube-controller-manager chapter) "
                "and to no other node.",
            ),
        ),
        shows=(Show("ca-config.json", "json", (("", "pki/ca-config.json"),)),),
        local=(
            render(cluster, ID, "ca"),
            Command(shlex.join(["openssl", "x509", "-in", ca, "-noout", "-subject", "-enddate",
                                "-ext", "basicConstraints,keyUsage"]), expect=r"CA:TRUE",
                    example="X509v3 Basic Constraints: critical\n    CA:TRUE"),
            Command(f"stat -c %a:%n {shlex.quote(ca_key)}", expect=r"^600:", example=f"600:{ca_key}"),
        ),
    )
    return Chapter(
        id=ID,
        number=2,
        title=Text(zh="私有 CA", en="Private CA"),
        intro=Text(
            zh="本章生成集群的根证书颁发机构（CA）。后面各章的证书都由它签发。",
            en="This chapter makes the cluster's certificate authority (CA). Every later chapter's certificate "
            "is signed by it.",
        ),
        steps=(create,),
    )
