"""The CA chapter's words, by layout: what each trust domain protects, or why this cluster has only one."""

from __future__ import annotations

from generator import trust
from generator.model import Cluster
from generator.steps import Text, pki_file


def intro(layout: str) -> Text:
    if layout == trust.SINGLE:
        return Text(
            zh="本章生成集群的根证书颁发机构（CA）。后面各章的证书都由它签发。",
            en="This chapter makes the cluster's certificate authority (CA). Every later chapter's certificate "
            "is signed by it.",
        )
    return Text(
        zh="本章生成三个根证书颁发机构（CA），各管一个信任域：Kubernetes API、etcd、前端代理（front proxy）。"
        "后面各章的每张证书都由其中之一签发；一个 CA 签发的证书在另外两个信任域里一文不值。",
        en="This chapter makes three certificate authorities (CAs), one per trust domain: the Kubernetes API, etcd "
        "and the front proxy. Every later chapter's certificate is signed by one of them, and a certificate one CA "
        "signed is worth nothing in the other two domains.",
    )


def explain(cluster: Cluster, layout: str) -> Text:
    days = cluster.spec.certificates.ca_days
    made_zh = (f"生成器用 Python `cryptography` 生成 CA（有效期 {days} 天，`CA:TRUE`，KeyUsage 为 certSign 与 "
               "crlSign），并写出 cfssl 风格的 `<CA>-csr.json` 与 `<CA>-config.json`（每种用途一个 profile，"
               "只含这个 CA 要签的用途），习惯 cfssl 的读者可以对照。CA 只在第一次渲染时生成；以后每次渲染都复用"
               "已有的证书与私钥。")
    made_en = (f"The generator makes each with Python `cryptography` ({days} days, `CA:TRUE`, KeyUsage certSign and "
               "crlSign) and writes the cfssl-style `<CA>-csr.json` and `<CA>-config.json` (one profile per usage, "
               "only the usages that CA signs) for readers who know cfssl. A CA is made on the first render only; "
               "every later render reuses its certificate and key.")
    if layout == trust.SINGLE:
        return Text(
            zh="集群里每一张证书都由这一个 CA 签发：kube-apiserver 用它校验客户端证书，各组件用它校验 apiserver，"
            f"etcd 也用它校验成员与客户端。{made_zh}",
            en="Every certificate in the cluster is signed by this one CA: kube-apiserver uses it to check client "
            "certificates, every component uses it to check the apiserver, and etcd checks its members and clients "
            f"against it too. {made_en}",
        )
    return Text(
        zh=(
            "三个信任域，与上游文档《PKI 证书和要求》相同：\n\n"
            "- **集群 CA**（`ca.pem`）：Kubernetes API 的全部身份——apiserver 的服务端证书，admin、kube-scheduler、"
            "kube-controller-manager，以及 apiserver 访问 kubelet 的客户端证书。kube-apiserver 的 `--client-ca-file` "
            "信任它：它签发的证书都能登录 API，再由 RBAC 决定能做什么。kube-controller-manager 也用它签发 kubelet "
            "通过 CSR API 申请的证书，所以它的私钥要放到 master 上。\n"
            "- **etcd CA**（`etcd-ca.pem`）：etcd 的成员（server 与 peer 证书）和仅有的两个客户端——kube-apiserver 的 "
            "`apiserver-etcd-client` 与运维用的 `etcdctl`。etcd 只信任这个 CA：能连上 etcd 的人可以绕过 RBAC 读写"
            "一切对象（包括 Secret），所以集群 CA 签发的证书（admin 的、调度器的、任何经 CSR 签发的 kubelet 证书）"
            "都会被 etcd 拒绝。\n"
            "- **前端代理 CA**（`front-proxy-ca.pem`）：只签 apiserver 的 `front-proxy-client`。apiserver 把请求转发给"
            "聚合 API 服务（例如 metrics-server）时出示它，并在 `X-Remote-User`/`X-Remote-Group` 头里写明用户；"
            "持有这个 CA 签发、名为 front-proxy-client 的证书，就能自称任何用户，所以它不签别的证书。\n\n"
            f"{made_zh}"
        ),
        en=(
            "Three trust domains, as in upstream's \"PKI certificates and requirements\":\n\n"
            "- **cluster CA** (`ca.pem`): every identity of the Kubernetes API — the apiserver's serving "
            "certificate, the admin, kube-scheduler, kube-controller-manager and the apiserver's kubelet client. "
            "kube-apiserver's `--client-ca-file` trusts it, so whatever it signs can log in to the API, where RBAC "
            "decides what it may do. kube-controller-manager also signs the certificates kubelets request through "
            "the CSR API with it, which is why its key goes to the masters.\n"
            "- **etcd CA** (`etcd-ca.pem`): etcd's members (server and peer certificates) and its only two clients, "
            "kube-apiserver's `apiserver-etcd-client` and the operator's `etcdctl`. etcd trusts this CA alone: "
            "whoever reaches etcd reads and writes every object, Secrets included, past RBAC, so a certificate from "
            "the cluster CA (the admin's, the scheduler's, any kubelet certificate issued through the CSR API) is "
            "refused.\n"
            "- **front-proxy CA** (`front-proxy-ca.pem`): signs only the apiserver's `front-proxy-client`, which it "
            "shows when it forwards a request to an aggregated API server (metrics-server, for one) and names the "
            "user in `X-Remote-User`/`X-Remote-Group` headers. A certificate from this CA named front-proxy-client "
            "can claim to be any user, so it signs nothing else.\n\n"
            f"{made_en}"
        ),
    )


def warnings(cluster: Cluster, layout: str) -> tuple[Text, ...]:
    key = pki_file(cluster, "ca-key.pem")
    if layout == trust.SEPARATE:
        etcd_key, proxy_key = (f"`{pki_file(cluster, f'{ca.name}-key.pem')}`" for ca in trust.DOMAINS[1:])
        return (Text(
            zh=f"`{key}`、{etcd_key} 与 {proxy_key} 是各自信任域的根：只保存在运维机上（权限 0600），离线备份，"
            "绝不提交到 git。"
            "唯一的例外：kube-controller-manager 用集群 CA 的私钥为 kubelet 等签发证书，所以它会被复制到 master"
            "（见 kube-controller-manager 一章）；另外两个私钥不复制到任何节点。",
            en=f"`{key}`, {etcd_key} and {proxy_key} are the roots of their trust domains: keep them on the "
            "workstation only (mode 0600), back them up offline, never commit them to git. The one exception: "
            "kube-controller-manager signs certificates (for kubelets) with the cluster CA's key, so that one goes to "
            "the masters (kube-controller-manager chapter); the other two go to no node at all.",
        ),)
    if cluster.spec.certificates.layout == trust.SINGLE:
        why_zh, why_en = "（集群文件写明 `certificates.layout: single`，即种子的做法）", (
            " (`certificates.layout: single` in the cluster file, the seeds' layout)")
    else:
        why_zh, why_en = "（这份构建最初就是这样生成的，集群文件没有写 `certificates.layout`，所以保持原样）", (
            " (this build was made so, and the cluster file sets no `certificates.layout`, so it stays so)")
    return (
        Text(
            zh=f"`{key}` 是整个集群的信任根：只保存在运维机上（权限 0600），离线备份，"
            "绝不提交到 git。唯一的例外：kube-controller-manager 用它为 kubelet 等签发证书，"
            "所以它会被复制到 master（见 kube-controller-manager 一章），除此之外不复制到任何节点。",
            en=f"`{key}` is the root of trust of the whole cluster: keep it on the workstation only (mode "
            "0600), back it up offline, never commit it to git. The one exception: kube-controller-manager signs "
            "certificates (for kubelets) with it, so it goes to the masters (kube-controller-manager chapter) "
            "and to no other node.",
        ),
        Text(
            zh=f"这个集群所有证书共用一个 CA{why_zh}：etcd 信任这个 CA 签发的每一张证书——admin 的、kube-scheduler "
            "的、kube-controller-manager 经 CSR API 签发的每一张——它们都能绕过 RBAC 直接读写 etcd。也没有前端代理 "
            "CA，所以 apiserver 没有 `--requestheader-*`、`--proxy-client-*` 参数，聚合 API 服务无法认证它。"
            "更换布局就是轮换 CA：本运行手册还没有不停机轮换 CA 的章节，需要安排维护窗口。",
            en=f"This cluster has one CA for everything{why_en}: etcd trusts every certificate it signs — the "
            "admin's, kube-scheduler's, each one kube-controller-manager issues through the CSR API — and each of "
            "them reads and writes etcd directly, past RBAC. There is no front-proxy CA either, so the apiserver "
            "gets no `--requestheader-*`/`--proxy-client-*` flags and aggregated API servers cannot authenticate "
            "it. Changing the layout is a CA rotation: this runbook has no chapter yet that rotates a CA without "
            "downtime, so it takes a maintenance window.",
        ),
    )
