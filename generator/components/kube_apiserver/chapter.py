"""The kube-apiserver chapter: certificates, encryption, service-account keys, units, start, health, RBAC."""

from __future__ import annotations

import re
import shlex

from generator import pki
from generator.artifacts import on_node, rel_build
from generator.components.daemon import start_step, status_step
from generator.components.kube_apiserver.checks import (
    encryption_at_rest_step,
    health_step,
    kubelet_rbac_step,
    loss_step,
    ready_step,
)
from generator.components.kube_apiserver.facts import ApiServerFacts, facts
from generator.components.kube_apiserver.files import (
    ENCRYPTION_KEY,
    ETCD_CLIENT,
    FRONT_PROXY_CLIENT,
    ID,
    KUBELET_CLIENT,
    KUBELET_CLIENT_USER,
    SA_KEY,
    SA_PUB,
    SERVING_CN,
    Paths,
    artifacts,
    first_service_ip,
    service_account_issuer,
)
from generator.components.load_balancer.service import enabled as load_balancer_enabled
from generator.model import Cluster, Node
from generator.steps import (
    Chapter,
    Command,
    Show,
    Step,
    Text,
    for_each_master,
    inspect_cert,
    on,
    pki_file,
    push,
    render,
    subject_line,
    sudo,
    verify_cert,
)

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists


def chapter(cluster: Cluster) -> Chapter:
    f = facts(cluster.release)
    n = len(cluster.masters)
    return Chapter(
        id=ID,
        number=6,
        title=Text(zh="高可用 kube-apiserver", en="Highly available kube-apiserver"),
        intro=Text(
            zh=(
                f"kube-apiserver 在每台 master 上各运行一个（共 {n} 个），全部同时工作、没有 leader："
                f"它们共享同一个 etcd，负载均衡入口 `{cluster.api_endpoint}` 把请求分给它们。"
                "其他组件和 kubectl 都只和 apiserver 通信。本章签发它的证书，生成加密配置与 ServiceAccount "
                f"密钥，启动服务，并检查每台节点和负载均衡入口。本集群为 Kubernetes {cluster.release}。"
            ),
            en=(
                f"kube-apiserver runs on every master ({n} instances), all active at once with no leader: they "
                f"share one etcd and the load-balanced endpoint `{cluster.api_endpoint}` spreads requests over "
                "them. Every other component and kubectl talk only to the apiserver. This chapter issues its "
                "certificates, makes the encryption config and the service-account keys, starts the service and "
                f"checks every node and the endpoint. This cluster runs Kubernetes {cluster.release}."
            ),
        ),
        steps=(
            cert_step(cluster),
            encryption_step(cluster, f),
            sa_keys_step(cluster, f),
            unit_step(cluster, f),
            distribute_step(cluster),
            start_step(cluster, ID, Paths(cluster).binary,
                       Text(zh="，etcd 已在运行（etcd 一章）", en=" and etcd running (etcd chapter)")),
            status_step(cluster, ID),
            health_step(cluster),
            ready_step(cluster, f),
            kubelet_rbac_step(cluster),
            encryption_at_rest_step(cluster),
            *([loss_step(cluster)] if load_balancer_enabled(cluster) else []),
        ),
    )


def node_file(cluster: Cluster, node: Node, absolute: str) -> str:
    return f"{rel_build(cluster)}/{on_node(node, absolute)}"


def first_master_file(cluster: Cluster, absolute: str) -> str:
    return node_file(cluster, cluster.masters[0], absolute)


def front_proxy_text(cluster: Cluster) -> tuple[Text, tuple[Command, ...]]:
    """What the cert step says and checks of the front-proxy client (separate layout; the single layout has none)."""
    if not Paths(cluster).front_proxy:
        return Text(zh="", en=""), ()
    name, cn = FRONT_PROXY_CLIENT.name, FRONT_PROXY_CLIENT.cn
    text = Text(
        zh=(f"\n\n第三张 `{name}.pem`（CN `{cn}`，只带 clientAuth）由前端代理 CA 签发：apiserver 把请求转发给"
            "聚合 API 服务时出示它。它不能登录 API——apiserver 的 `--client-ca-file` 是集群 CA，不信任前端代理 CA。"),
        en=(f"\n\nA third, `{name}.pem` (CN `{cn}`, clientAuth only), is signed by the front-proxy CA: the apiserver "
            "shows it when it forwards a request to an aggregated API server. It cannot log in to the API: the "
            "apiserver's `--client-ca-file` is the cluster CA, which does not trust the front-proxy CA."),
    )
    return text, (verify_cert(cluster, name, pki.FRONT_PROXY_CA),
                  inspect_cert(cluster, name, rf"CN ?= ?{cn}", subject_line(cluster, cn, None)))


def cert_step(cluster: Cluster) -> Step:
    domain = cluster.spec.network.cluster_domain
    service_ip = first_service_ip(cluster)
    proxy_text, proxy_checks = front_proxy_text(cluster)
    return Step(
        id=f"{ID}.cert",
        title=Text(zh="签发 kube-apiserver 证书", en="Issue the kube-apiserver certificates"),
        explain=Text(
            zh=(
                f"服务端证书 `{ID}.pem`（CN `{SERVING_CN}`，只带 serverAuth）。客户端用什么地址连接 apiserver，"
                "这个地址就必须出现在证书的 SAN 里：每台 master 的 IP、负载均衡入口 "
                f"`{cluster.api_host}`、127.0.0.1、`kubernetes` Service 的 ClusterIP `{service_ip}`"
                f"（service CIDR 的第一个地址），以及集群内的域名 `kubernetes`、`kubernetes.default`、"
                f"`kubernetes.default.svc`、`kubernetes.default.svc.{domain}`。"
                f"另签一张客户端证书 `{KUBELET_CLIENT}.pem`（CN `{KUBELET_CLIENT_USER}`，只带 clientAuth），"
                "apiserver 访问 kubelet（logs、exec、port-forward）时出示它。它不放进 `system:masters` 组："
                "那个组绕过 RBAC、无法撤销；本章最后一步用 RBAC 只授予访问 kubelet API 的权限。"
                f"etcd 客户端证书 `{ETCD_CLIENT}.pem` 由 etcd 一章签发，这里只使用。{proxy_text.zh}"
            ),
            en=(
                f"The serving certificate `{ID}.pem` (CN `{SERVING_CN}`, serverAuth only). Whatever address a "
                "client uses to reach an apiserver must be one of its SANs: every master's IP, the load-balanced "
                f"endpoint `{cluster.api_host}`, 127.0.0.1, the ClusterIP of the `kubernetes` Service "
                f"`{service_ip}` (the first address of the service CIDR), and the in-cluster names `kubernetes`, "
                f"`kubernetes.default`, `kubernetes.default.svc`, `kubernetes.default.svc.{domain}`. A second, "
                f"client-only certificate `{KUBELET_CLIENT}.pem` (CN `{KUBELET_CLIENT_USER}`, clientAuth) is what "
                "the apiserver shows kubelets (logs, exec, port-forward). It is not in the `system:masters` "
                "group, which bypasses RBAC and cannot be revoked; the last step of this chapter grants it only "
                f"the kubelet API through RBAC. The etcd client certificate `{ETCD_CLIENT}.pem` comes from the "
                f"etcd chapter and is only used here.{proxy_text.en}"
            ),
        ),
        warnings=(
            Text(
                zh="SAN 里的域名不能以点结尾（不能写 `kubernetes.default.svc.cluster.local.`），否则解析证书时报 "
                "`x509: cannot parse dnsName`。集群域名不是 cluster.local 时，最后一个名字要跟着改（种子 004 的提醒）。"
                "漏掉某个地址时，客户端报 `x509: certificate is valid for ..., not ...`。",
                en="A DNS SAN must not end with a dot (never `kubernetes.default.svc.cluster.local.`): parsing "
                "fails with `x509: cannot parse dnsName`. With a cluster domain other than cluster.local the last "
                "name follows it (seed 004's note). A missing address makes clients fail with `x509: certificate "
                "is valid for ..., not ...`.",
            ),
        ),
        shows=tuple(Show(f"{name}-csr.json", "json", (("", f"pki/{name}-csr.json"),))
                    for name in (ID, KUBELET_CLIENT, *([FRONT_PROXY_CLIENT.name] if proxy_checks else []))),
        local=(
            render(cluster, ID, "cert"),
            verify_cert(cluster, ID),
            inspect_cert(cluster, ID, "DNS:" + re.escape(f"kubernetes.default.svc.{domain}"),
                         f"X509v3 Subject Alternative Name: \n    DNS:kubernetes, DNS:kubernetes.default, "
                         f"DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.{domain}, IP Address:127.0.0.1"),
            verify_cert(cluster, KUBELET_CLIENT),
            inspect_cert(cluster, KUBELET_CLIENT, rf"CN ?= ?{KUBELET_CLIENT_USER}",
                         subject_line(cluster, KUBELET_CLIENT_USER, None)),
            *proxy_checks,
        ),
    )


def encryption_step(cluster: Cluster, f: ApiServerFacts) -> Step:
    path = Paths(cluster).encryption
    key = pki_file(cluster, ENCRYPTION_KEY.removeprefix("pki/"))
    return Step(
        id=f"{ID}.encryption",
        title=Text(zh="生成 Secret 静态加密配置", en="Render the encryption-at-rest config"),
        explain=Text(
            zh=(
                "apiserver 把 Secret 写入 etcd 之前先用这里的密钥加密，直接读 etcd 或 etcd 备份只能看到密文。"
                "密钥是 32 个随机字节（base64），第一次渲染时生成、以后一直复用：换掉它，已经加密的 Secret "
                f"就再也读不出来。它保存在运维机的 `{key}`（0600），并写进每台 master 的 `{path}`（0600）。"
                f"Kubernetes {cluster.release} 读 `apiVersion: {f.encryption_api}`、`kind: {f.encryption_kind}`，"
                f"参数为 `{f.encryption_flag}`。提供者用 `secretbox`；最后的 `identity` 让加密前写入的明文仍可读。"
                "文件含密钥，页面上不显示内容。"
            ),
            en=(
                "The apiserver encrypts Secrets with this key before writing them to etcd, so reading etcd or a "
                "backup of it shows only ciphertext. The key is 32 random bytes (base64), made on the first "
                "render and reused ever after: replacing it makes every Secret already encrypted unreadable. It "
                f"is kept on the workstation in `{key}` (0600) and written into `{path}` (0600) on each master. "
                f"Kubernetes {cluster.release} reads `apiVersion: {f.encryption_api}`, `kind: "
                f"{f.encryption_kind}`, passed with `{f.encryption_flag}`. The provider is `secretbox`; the "
                "trailing `identity` keeps plaintext written before encryption readable. The file holds the key, "
                "so the page does not show it."
            ),
        ),
        warnings=(
            Text(
                zh="1.13 起格式是 `apiserver.config.k8s.io/v1` 的 `EncryptionConfiguration`，参数是 "
                "`--encryption-provider-config`；种子 004 的 `kind: EncryptionConfig` 与 "
                "`--experimental-encryption-provider-config` 只适用于更老的版本，后者在 1.24 被删除。"
                "种子用 `aescbc`：上游文档已不推荐它（CBC 填充预言攻击），这里用同样 32 字节密钥的 `secretbox`。"
                "备份这个密钥：丢了它，etcd 备份里的 Secret 无法恢复。",
                en="Since 1.13 the format is `EncryptionConfiguration` in `apiserver.config.k8s.io/v1`, passed with "
                "`--encryption-provider-config`; seed 004's `kind: EncryptionConfig` and "
                "`--experimental-encryption-provider-config` belong to older releases, and the flag was removed "
                "in 1.24. The seed uses `aescbc`, which upstream no longer recommends (CBC padding oracle); "
                "`secretbox` takes the same 32-byte key. Back the key up: without it the Secrets in an etcd "
                "backup cannot be restored.",
            ),
        ),
        local=(
            render(cluster, ID, "config"),
            Command(f"base64 -d {shlex.quote(key)} | wc -c", expect=r"^\s*32$", example="32"),
            Command(f"stat -c %a:%n {shlex.quote(first_master_file(cluster, path))}", expect=r"^600:",
                    example=f"600:{first_master_file(cluster, path)}"),
        ),
    )


def sa_keys_step(cluster: Cluster, f: ApiServerFacts) -> Step:
    key, pub = pki_file(cluster, SA_KEY.removeprefix("pki/")), pki_file(cluster, SA_PUB.removeprefix("pki/"))
    issuer = service_account_issuer(cluster)
    if f.sa_issuer_required:
        extra_zh = (f"从 1.20 起 apiserver 还必须有 `--service-account-signing-key-file`（私钥，用来签发 token）"
                    f"和 `--service-account-issuer`（这里是 `{issuer}`），缺一个就无法启动。")
        extra_en = ("From 1.20 the apiserver also needs `--service-account-signing-key-file` (the private key, to "
                    f"issue tokens) and `--service-account-issuer` (here `{issuer}`); without them it does not "
                    "start.")
    else:
        extra_zh = "这个版本的 apiserver 只需要公钥。"
        extra_en = "On this release the apiserver needs only the public key."
    check = f"openssl pkey -in {shlex.quote(key)} -pubout | cmp -s - {shlex.quote(pub)} && echo 'key pair matches'"
    return Step(
        id=f"{ID}.sa-keys",
        title=Text(zh="生成 ServiceAccount 密钥对", en="Make the service-account key pair"),
        explain=Text(
            zh=(
                "kube-controller-manager 用私钥给 ServiceAccount token 签名（`--service-account-private-key-file`），"
                "apiserver 用公钥验证（`--service-account-key-file`）。两边必须是同一对密钥。密钥对只在第一次渲染时"
                f"生成，以后复用：换掉它，集群里已有的 token 全部失效。{extra_zh}下面确认私钥与公钥配对。"
            ),
            en=(
                "kube-controller-manager signs service-account tokens with the private key "
                "(`--service-account-private-key-file`) and the apiserver verifies them with the public key "
                "(`--service-account-key-file`): both must be the same pair. It is made on the first render "
                f"and reused: replacing it invalidates every token in the cluster. {extra_en} The check below "
                "confirms the private and public keys belong together."
            ),
        ),
        warnings=(
            Text(
                zh="种子 004 把 CA 私钥当作 ServiceAccount 密钥。不要这样做：CA 私钥能签发任何身份的证书，"
                "而 ServiceAccount 密钥需要放在每台 master 上。",
                en="Seed 004 uses the CA's private key as the service-account key. Do not: the CA key can sign "
                "any identity, and the service-account key has to live on every master.",
            ),
        ),
        local=(
            render(cluster, ID, "ca"),
            Command(check, expect=r"^key pair matches$", example="key pair matches"),
        ),
    )


def unit_step(cluster: Cluster, f: ApiServerFacts) -> Step:
    port = cluster.spec.api_server.secure_port
    insecure_zh = "；`--insecure-port=0` 关闭不安全的 8080 端口" if f.disable_insecure_port else ""
    insecure_en = "; `--insecure-port=0` turns off the insecure port 8080" if f.disable_insecure_port else ""
    etcd_ca = Paths(cluster).etcd_ca.rsplit("/", 1)[-1]
    if Paths(cluster).front_proxy:
        trust_zh = (f"`--etcd-cafile` 是 etcd CA（`{etcd_ca}`），用来校验 etcd 的服务端证书。"
                    "`--requestheader-client-ca-file` 是前端代理 CA，`--requestheader-allowed-names="
                    f"{FRONT_PROXY_CLIENT.cn}` 只接受这个名字：只有这样的客户端证书写的 `X-Remote-User`、"
                    "`X-Remote-Group`、`X-Remote-Extra-*` 头才被当作用户身份；`--proxy-client-cert-file`/"
                    "`--proxy-client-key-file` 是 apiserver 转发给聚合 API 服务时自己出示的证书。")
        trust_en = (f" `--etcd-cafile` is the etcd CA (`{etcd_ca}`), which checks etcd's serving certificates. "
                    "`--requestheader-client-ca-file` is the front-proxy CA and `--requestheader-allowed-names="
                    f"{FRONT_PROXY_CLIENT.cn}` accepts that name only: the `X-Remote-User`, `X-Remote-Group` and "
                    "`X-Remote-Extra-*` headers count as the user's identity only from such a client certificate; "
                    "`--proxy-client-cert-file`/`--proxy-client-key-file` is what the apiserver itself shows when it "
                    "forwards to an aggregated API server.")
    else:
        trust_zh = f"`--etcd-cafile` 是集群 CA（`{etcd_ca}`）。"
        trust_en = f" `--etcd-cafile` is the cluster CA (`{etcd_ca}`)."
    return Step(
        id=f"{ID}.unit",
        title=Text(zh="生成 systemd unit", en="Render the systemd unit"),
        explain=Text(
            zh=(
                f"每台 master 一个 unit，只有监听与通告地址不同：`--bind-address` 与 `--advertise-address` 是本机 IP，"
                f"HTTPS 端口 {port}{insecure_zh}。授权模式 `Node,RBAC`；准入插件在默认集合之外再开 `NodeRestriction`。"
                f"etcd 地址列出每个 etcd 成员，用 etcd 一章签发的客户端证书连接；{trust_zh}"
            ),
            en=(
                "One unit per master; only the listen and advertise addresses differ: `--bind-address` and "
                f"`--advertise-address` are the master's IP, HTTPS on port {port}{insecure_en}. Authorization "
                "`Node,RBAC`; admission adds `NodeRestriction` to the default set. The etcd servers list every "
                f"etcd member, reached with the client certificate from the etcd chapter.{trust_en}"
            ),
        ),
        warnings=(
            Text(
                zh="不要照抄种子里的旧参数：`Initializers` 准入插件 1.14 起不存在（启动报 `plugin \"Initializers\" "
                "is unknown`）；`--enable-swagger-ui`、`--kubelet-https`、`--insecure-port` 在新版本里都已删除"
                "（报 `unknown flag`）；`--log-dir`、`--logtostderr` 1.26 起删除，日志用 journalctl 看。"
                "`--apiserver-count` 不是 leader 选举：所有 apiserver 同时工作。`--bind-address` 不能是 127.0.0.1，"
                "否则负载均衡连不上。",
                en="Do not copy the seeds' old flags: the `Initializers` admission plugin is gone since 1.14 (`plugin "
                "\"Initializers\" is unknown`); `--enable-swagger-ui`, `--kubelet-https` and `--insecure-port` are "
                "removed in newer releases (`unknown flag`); `--log-dir` and `--logtostderr` are gone since 1.26, "
                "read logs with journalctl. `--apiserver-count` is not leader election: every apiserver serves. "
                "`--bind-address` must not be 127.0.0.1, or the load balancer cannot reach it.",
            ),
        ),
        shows=(Show(f"{ID}.service", "ini", tuple((n.name, on_node(n, Paths(cluster).unit))
                                                  for n in cluster.masters)),),
        local=(render(cluster, ID, "unit"),),
    )


def distribute_step(cluster: Cluster) -> Step:
    paths = Paths(cluster)
    files = paths.node_files()
    files += [f for f in (paths.etcd_ca, paths.etcd_cert, paths.etcd_key) if f not in files]
    keys = [*paths.secrets(), paths.etcd_key]
    # one mode per file on one line: a missing file shortens the line, any other mode changes it
    check = f"{sudo(cluster)}stat -c %a {' '.join(keys)} | paste -sd ,"
    modes = ",".join(["600"] * len(keys))
    return Step(
        id=f"{ID}.distribute",
        title=Text(zh="分发到每台 master", en="Distribute to every master"),
        explain=Text(
            zh=(
                f"每台 master 的文件已按节点自己的目录结构放在 `{rel_build(cluster)}/nodes/<节点>/` 下，其中 "
                f"`{ETCD_CLIENT}` 证书与私钥由 etcd 一章渲染。一条 tar 管道把它们原样复制到节点的同一路径："
                "保留权限（私钥与加密配置 0600），自动建目录，每个节点只连一次 ssh。然后检查每个私钥文件的权限。"
            ),
            en=(
                f"Each master's files already sit in the node's own layout under `{rel_build(cluster)}/nodes/<node>/`, "
                f"the `{ETCD_CLIENT}` certificate and key among them (rendered by the etcd chapter). One tar pipe "
                "copies them to the same paths on the node: modes kept (0600 for keys and the encryption config), "
                "directories created, one ssh connection per node. Then every key file's mode is checked."
            ),
        ),
        per_node=for_each_master(cluster, lambda node: [
            push(cluster, node, files),
            on(cluster, node, check, expect=rf"^{modes}$", example=modes),
        ]),
    )
