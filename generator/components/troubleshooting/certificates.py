"""Errors of the PKI: a certificate's names (a SAN with a trailing dot, none at all), a key that is a certificate,
cfssl's JSON and profiles, validity against a node's clock, and a certificate the cluster CA did not sign."""

from __future__ import annotations

import shlex

from generator.components.troubleshooting.errors import Error, lint, master, remote
from generator.steps import Text, pki_file, sudo

DNS_TRAILING_DOT = Error(
    id="dns-trailing-dot",
    message='x509: cannot parse dnsName "kubernetes.default.svc.cluster.local."',
    title=Text(zh="证书的 DNS 名称以点结尾", en="A certificate DNS name ends with a dot"),
    symptom=Text(
        zh="客户端连接 kube-apiserver 时报这条错误（较新的 Go 版本报 `x509: SAN dNSName is malformed`），"
        "或 kube-apiserver 读取自己的证书时失败。",
        en="Clients fail to talk to kube-apiserver with this message (newer Go releases say `x509: SAN "
        "dNSName is malformed`), or kube-apiserver fails reading its own certificate.",
    ),
    cause=Text(
        zh="CSR 的 hosts 里有以 `.` 结尾的完全限定域名（如 `kubernetes.default.svc.cluster.local.`）或空名字。"
        "DNS 里末尾的点合法，证书的 SAN 里不合法。",
        en="The CSR's hosts list a fully qualified name with a trailing dot (such as "
        "`kubernetes.default.svc.cluster.local.`) or an empty name. A trailing dot is valid in DNS, not in a "
        "certificate SAN.",
    ),
    fix=Text(
        zh="去掉末尾的点并重新签发。集群文件校验会拒绝带点的 `network.cluster_domain` 与 "
        "`api_server.external_address`，所以生成的证书不会有这个问题。",
        en="Drop the dot and issue the certificate again. Validation of the cluster file rejects a trailing "
        "dot in `network.cluster_domain` and `api_server.external_address`, so generated certificates never "
        "have it.",
    ),
    confirm=lambda c: [
        shlex.join(["openssl", "x509", "-in", pki_file(c, "kube-apiserver.pem"), "-noout", "-ext",
                    "subjectAltName"]),
        lint(c),
    ],
    seen_in=("seed 004",),
    lint_rules=("san-trailing-dot",),
)

KEY_IS_CERTIFICATE = Error(
    id="key-is-certificate",
    message="tls: found a certificate rather than a key in the PEM for the private key",
    title=Text(zh="kubeconfig 的私钥其实是证书", en="The kubeconfig's key is a certificate"),
    symptom=Text(
        zh="kube-scheduler（或任何使用该 kubeconfig 的程序）一启动就退出，日志里是这条错误。",
        en="kube-scheduler (or anything using that kubeconfig) exits right after starting with this message.",
    ),
    cause=Text(
        zh="`kubectl config set-credentials` 的 `--client-key` 指向了证书文件（`kube-scheduler.pem`）而不是"
        "私钥（`kube-scheduler-key.pem`）。种子 003 的问答给出的“正确设置”仍然把两者写成同一个文件。",
        en="`kubectl config set-credentials` was given the certificate (`kube-scheduler.pem`) as "
        "`--client-key` instead of the key (`kube-scheduler-key.pem`). Seed 003's Q&A repeats the mistake in "
        "its \"correct\" answer.",
    ),
    fix=Text(
        zh="`--client-key` 指向 `*-key.pem`，重新生成 kubeconfig。"
        "生成器直接把私钥嵌入 kubeconfig，并检查它确实是私钥。",
        en="Point `--client-key` at `*-key.pem` and rebuild the kubeconfig. The generator embeds the key "
        "itself and checks it is a key.",
    ),
    confirm=lambda c: [
        remote(c, master(c), f"{sudo(c)}{c.spec.paths.bin_dir}/kubectl config view --raw --kubeconfig "
               f"{c.spec.paths.config_dir}/kube-scheduler.kubeconfig "
               '-o "jsonpath={.users[0].user.client-key-data}" | base64 -d | head -1'),
        lint(c),
    ],
    seen_in=("seed 003",),
    lint_rules=("key-is-certificate",),
)

LEGACY_COMMON_NAME = Error(
    id="legacy-common-name",
    message="x509: certificate relies on legacy Common Name field, use SANs instead",
    title=Text(zh="服务端证书没有 SAN", en="A server certificate has no SANs"),
    symptom=Text(
        zh="用 Go 1.15 及以后编译的客户端（新版 kubectl、各组件）拒绝连接。",
        en="Clients built with Go 1.15 or later (recent kubectl, every component) refuse to connect.",
    ),
    cause=Text(
        zh="服务端证书只在 CN 里写了主机名，没有 subjectAltName。Go 不再把 CN 当作主机名。",
        en="The server certificate names its host only in the CN, without a subjectAltName. Go no longer "
        "treats the CN as a host name.",
    ),
    fix=Text(
        zh="签发时在 hosts 里列出所有 IP 与域名。生成器的每张服务端证书都带 SAN。",
        en="List every IP and name in the hosts when issuing. Every server certificate the generator makes "
        "carries SANs.",
    ),
    confirm=lambda c: [
        shlex.join(["openssl", "x509", "-in", pki_file(c, "kube-apiserver.pem"), "-noout", "-ext",
                    "subjectAltName"]),
    ],
    lint_rules=("server-cert-no-san",),
)

JSON_COMMENT = Error(
    id="json-comment",
    message="failed to unmarshal configuration: invalid character '/' looking for beginning of object key string",
    title=Text(zh="JSON 里有注释", en="A comment in JSON"),
    symptom=Text(
        zh="`cfssl gencert` 读取 `ca-config.json` 或 CSR 时失败。",
        en="`cfssl gencert` fails reading `ca-config.json` or a CSR.",
    ),
    cause=Text(
        zh="JSON 不允许注释，也不允许结尾多余的逗号。种子 001 提醒过：文档里为了说明加的注释，部署时必须删掉。",
        en="JSON allows no comments and no trailing commas. Seed 001 warns that the comments its pages add "
        "for explanation must be removed before use.",
    ),
    fix=Text(
        zh="删除注释与多余逗号。生成的 JSON 由程序序列化，不含注释。",
        en="Remove the comments and trailing commas. The generated JSON is serialised by a program and has "
        "none.",
    ),
    confirm=lambda c: [
        f"python3 -m json.tool {shlex.quote(pki_file(c, 'ca-config.json'))} >/dev/null && echo valid",
        lint(c),
    ],
    seen_in=("seed 001",),
    lint_rules=("json-comment", "json-invalid"),
)

CFSSL_PROFILE = Error(
    id="cfssl-profile",
    message='{"code":5100,"message":"Invalid policy: no key usage available"}',
    title=Text(zh="cfssl 的 profile 名不存在", en="The cfssl profile does not exist"),
    symptom=Text(zh="`cfssl gencert` 不签发证书，输出这条错误。",
                 en="`cfssl gencert` signs nothing and prints this."),
    cause=Text(
        zh="`-profile=` 的名字在 `ca-config.json` 的 `signing.profiles` 里不存在，于是没有任何用途可用。",
        en="The `-profile=` name is not in `signing.profiles` of `ca-config.json`, so no usage is available.",
    ),
    fix=Text(
        zh="使用 `ca-config.json` 里存在的 profile：这里是 `-profile=kubernetes`。",
        en="Use a profile that exists in `ca-config.json`: `-profile=kubernetes` here.",
    ),
    confirm=lambda c: [
        "python3 -c " + shlex.quote('import json, sys; print(*json.load(open(sys.argv[1]))["signing"]["profiles"])')
        + " " + shlex.quote(pki_file(c, "ca-config.json")),
    ],
)

NOT_YET_VALID = Error(
    id="not-yet-valid",
    message="x509: certificate has expired or is not yet valid",
    title=Text(zh="证书过期或尚未生效", en="Certificate expired or not yet valid"),
    symptom=Text(
        zh="刚签发的证书在某台节点上被拒绝，或运行一年后所有组件同时开始报错。",
        en="A freshly issued certificate is refused on one node, or after a year every component starts "
        "failing at once.",
    ),
    cause=Text(
        zh="节点时钟落后于签发证书的运维机（时间不同步），或证书确实过期了（默认一年）。",
        en="The node's clock is behind the workstation that issued the certificate (no time sync), or the "
        "certificate really expired (one year by default).",
    ),
    fix=Text(
        zh="启用 NTP（见“前置准备”）。生成器把生效时间提前 5 分钟以容忍小的偏差，并在到期前 "
        "`renew_before_days` 天重新签发：重新渲染并分发即可。",
        en="Turn NTP on (see Prerequisites). The generator back-dates NotBefore by five minutes for small "
        "skews and re-issues certificates `renew_before_days` before they expire: re-render and distribute.",
    ),
    confirm=lambda c: [
        shlex.join(["openssl", "x509", "-in", pki_file(c, "kube-apiserver.pem"), "-noout", "-dates"]),
        remote(c, master(c), "date -u; timedatectl show -p NTPSynchronized --value"),
        lint(c),
    ],
    lint_rules=("cert-expired",),
)

UNAUTHORIZED = Error(
    id="unauthorized",
    message="error: You must be logged in to the server (Unauthorized)",
    title=Text(zh="kubectl 被拒绝：Unauthorized", en="kubectl is refused: Unauthorized"),
    symptom=Text(zh="任何 kubectl 命令都返回这条错误。", en="Every kubectl command returns this."),
    cause=Text(
        zh="客户端证书不是 kube-apiserver `--client-ca-file` 里的 CA 签发的：常见于 CA 被重新生成之后，"
        "节点上还是旧 CA（或旧证书）。",
        en="The client certificate was not signed by the CA in kube-apiserver's `--client-ca-file`: typically "
        "the CA was made again while the nodes still have the old one (or old certificates).",
    ),
    fix=Text(
        zh="恢复原来的 `ca.pem`/`ca-key.pem`，或用新的集群 CA 重新签发它签的全部证书并分发。"
        "生成器从不重建已有的 CA。",
        en="Restore the original `ca.pem`/`ca-key.pem`, or re-issue and distribute every certificate the "
        "cluster CA signs. The generator never re-makes an existing CA.",
    ),
    confirm=lambda c: [
        shlex.join(["openssl", "verify", "-CAfile", pki_file(c, "ca.pem"), pki_file(c, "admin.pem")]),
        f"sha256sum {shlex.quote(pki_file(c, 'ca.pem'))}; "
        + remote(c, master(c), f"sha256sum {c.spec.paths.pki_dir}/ca.pem"),
    ],
)
