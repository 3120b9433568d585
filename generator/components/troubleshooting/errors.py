"""The errors users meet, as data: message, symptom, cause, the command that confirms it, the fix (zh + en).

Sources: the last table of the project's version facts (docs/versions.md), and what the seeds met or wrote.
Two messages were reproduced with the Debian tools the tests use: keepalived 2.2.7 (`Unknown keyword`, `VRRP
parsed invalid IP`) and haproxy 2.6 (`nbproc is not supported any more since HAProxy 2.5`).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from generator.components.admin import kubectl
from generator.model import Cluster, Node
from generator.steps import Text, pki_file, ssh_prefix, sudo


@dataclass(frozen=True)
class Error:
    id: str
    message: str  # as the tool prints it (values from a real run may differ)
    title: Text
    symptom: Text
    cause: Text
    fix: Text
    confirm: Callable[[Cluster], list[str]]  # diagnostic commands, shown on the page, never run by deploy
    seen_in: tuple[str, ...] = ()
    lint_rules: tuple[str, ...] = ()


def master(cluster: Cluster) -> Node:
    return cluster.masters[0]


def remote(cluster: Cluster, node: Node, command: str) -> str:
    return f"{ssh_prefix(cluster, node)} {shlex.quote(command)}"


def unit(cluster: Cluster, name: str) -> str:
    return f"{cluster.spec.paths.systemd_dir}/{name}.service"


def journal(cluster: Cluster, service: str, pattern: str) -> str:
    return remote(cluster, master(cluster), f'{sudo(cluster)}journalctl -u {service} --no-pager | grep -m3 "{pattern}"')


def lint(cluster: Cluster) -> str:
    return f"invoke lint --cluster {shlex.quote(cluster.ref)}"


ERRORS: tuple[Error, ...] = (
    Error(
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
    ),
    Error(
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
    ),
    Error(
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
    ),
    Error(
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
    ),
    Error(
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
    ),
    Error(
        id="unit-backslash-space",
        message='Error: "kube-apiserver" does not take any arguments, got ["\\\\"]',
        title=Text(zh="unit 的续行符后面有空格", en="A space after a continuation in a unit"),
        symptom=Text(
            zh="服务启动即退出，日志里是这条错误（或某个参数“消失”：它后面的行被当成了新的一行）。",
            en="The service exits at once with this message (or a flag seems ignored: the lines after it were "
            "read as new lines).",
        ),
        cause=Text(
            zh="`ExecStart=` 的某一行以 `\\` 加空格结尾。systemd 只把紧挨行尾的 `\\` 当作续行，"
            "于是 `\\` 成了一个参数，后面的行被拆开。",
            en="A line of `ExecStart=` ends with `\\` followed by a space. systemd continues a line only when `\\` "
            "is its last character, so the `\\` becomes an argument and the next lines fall apart.",
        ),
        fix=Text(
            zh="删掉 `\\` 后面的空白，`daemon-reload` 后重启。生成的 unit 每行以单个 `\\` 结尾。",
            en="Delete the whitespace after `\\`, then `daemon-reload` and restart. Generated units end each "
            "line with a single `\\`.",
        ),
        confirm=lambda c: [
            remote(c, master(c), f'grep -nE "\\\\\\\\[[:space:]]+$" {unit(c, "kube-apiserver")}'),
            remote(c, master(c), f"systemd-analyze verify {unit(c, 'kube-apiserver')}"),
            lint(c),
        ],
        lint_rules=("unit-backslash-space",),
    ),
    Error(
        id="lease-forbidden",
        message='leases.coordination.k8s.io "kube-scheduler" is forbidden: User "kube-scheduler" cannot get '
        'resource "leases" in API group "coordination.k8s.io" in the namespace "kube-system"',
        title=Text(zh="读取 leader 锁被拒绝", en="The leader lock is forbidden"),
        symptom=Text(
            zh="调度器（或控制器管理器）一直打印这条错误，永远选不出 leader。",
            en="The scheduler (or controller manager) logs this over and over and never becomes leader.",
        ),
        cause=Text(
            zh="证书的 CN 不是 `system:kube-scheduler`（kubeconfig 里的用户名无关紧要，只有 CN 算数），"
            "或锁被改了名：内置 RBAC 只允许读写名为 `kube-scheduler` 的锁。",
            en="The certificate's CN is not `system:kube-scheduler` (the user name inside the kubeconfig does not "
            "matter, only the CN does), or the lock was renamed: the built-in RBAC allows only the lock named "
            "`kube-scheduler`.",
        ),
        fix=Text(
            zh="用 CN `system:kube-scheduler` 重新签发证书、重建 kubeconfig；锁名保持默认。",
            en="Issue the certificate again with CN `system:kube-scheduler`, rebuild the kubeconfig, and keep the "
            "default lock name.",
        ),
        confirm=lambda c: [
            shlex.join(["openssl", "x509", "-in", pki_file(c, "kube-scheduler.pem"), "-noout", "-subject"]),
            f"{kubectl(c)} auth can-i get leases.coordination.k8s.io/kube-scheduler -n kube-system "
            "--as system:kube-scheduler",
            lint(c),
        ],
        seen_in=("seed 001",),
        lint_rules=("kubeconfig-cn",),
    ),
    Error(
        id="lock-removed",
        message='resourceLock value must be "leases"',
        title=Text(zh="新版本上用了旧的锁类型", en="An old lock type on a new release"),
        symptom=Text(
            zh="1.24 及以后，kube-scheduler 或 kube-controller-manager 启动失败，提示锁类型无效"
            "（`endpoints`/`configmaps` 锁已移除）。",
            en="On 1.24 and later kube-scheduler or kube-controller-manager refuses to start with an invalid "
            "lock type (`endpoints`/`configmaps` locks are removed).",
        ),
        cause=Text(
            zh="从旧文档复制了 `resourceLock: endpoints` 或 `--leader-elect-resource-lock=endpoints`"
            "（种子 002 的日志显示的正是 endpoints 锁）。`endpointsleases`/`configmapsleases` 也在 1.28 移除。",
            en="`resourceLock: endpoints` or `--leader-elect-resource-lock=endpoints` was copied from an old guide "
            "(seed 002's log shows exactly that lock). `endpointsleases`/`configmapsleases` went in 1.28 too.",
        ),
        fix=Text(zh="改为 `leases`。", en="Use `leases`."),
        confirm=lambda c: [
            remote(c, master(c), f"grep -n resourceLock {c.spec.paths.config_dir}/kube-scheduler.yaml"),
            lint(c),
        ],
        seen_in=("seed 002",),
        lint_rules=("lock-removed",),
    ),
    Error(
        id="strict-decoding",
        message='strict decoder error for ...: unknown field "bindTimeoutSeconds"',
        title=Text(zh="配置里有别的版本的字段", en="A field from another config version"),
        symptom=Text(
            zh="1.17 起，kube-scheduler 读取配置时报 `unknown field` 并退出。",
            en="Since 1.17 kube-scheduler reads its config strictly and exits with `unknown field`.",
        ),
        cause=Text(
            zh="配置来自别的 apiVersion：例如种子 002 的 v1alpha1 配置里的 `bindTimeoutSeconds`、"
            "`hardPodAffinitySymmetricWeight`、`healthzBindAddress`，在新版本里已不存在；反过来，新版本的字段"
            "写进旧版本的配置也一样。",
            en="The config was written for another apiVersion: seed 002's v1alpha1 fields `bindTimeoutSeconds`, "
            "`hardPodAffinitySymmetricWeight` and `healthzBindAddress` no longer exist; a newer version's field "
            "in an older config fails the same way.",
        ),
        fix=Text(
            zh="只写当前版本认识的字段。生成器按版本选择 apiVersion 与字段。",
            en="Write only the fields the version in use knows. The generator picks the apiVersion and fields "
            "by release.",
        ),
        confirm=lambda c: [journal(c, "kube-scheduler", "unknown field"), lint(c)],
        seen_in=("seed 002",),
        lint_rules=("config-unknown-field",),
    ),
    Error(
        id="no-configuration",
        message="invalid configuration: no configuration has been provided",
        title=Text(zh="用了 --config，kubeconfig 却只写在命令行", en="--config given, kubeconfig only as a flag"),
        symptom=Text(
            zh="kube-scheduler 启动后无法连接 apiserver，报这条错误。",
            en="kube-scheduler starts but cannot reach the apiserver and logs this.",
        ),
        cause=Text(
            zh="有 `--config` 时，`--kubeconfig` 等大部分命令行参数被忽略；kubeconfig 必须写在配置文件的 "
            "`clientConnection.kubeconfig` 里。",
            en="With `--config`, `--kubeconfig` and most other flags are ignored; the kubeconfig must be named in "
            "the config file's `clientConnection.kubeconfig`.",
        ),
        fix=Text(zh="在配置文件里设置 `clientConnection.kubeconfig`。",
                 en="Set `clientConnection.kubeconfig` in the config."),
        confirm=lambda c: [
            remote(c, master(c), f"grep -n kubeconfig: {c.spec.paths.config_dir}/kube-scheduler.yaml"),
            lint(c),
        ],
        lint_rules=("config-without-kubeconfig",),
    ),
    Error(
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
    ),
    Error(
        id="insecure-port-gone",
        message="dial tcp 127.0.0.1:10251: connect: connection refused",
        title=Text(zh="10251/10252 端口探测失败", en="Probes on 10251/10252 fail"),
        symptom=Text(
            zh="监控或 `kubectl get componentstatuses` 报 scheduler / controller-manager `Unhealthy`，"
            "可服务本身在正常工作。",
            en="Monitoring or `kubectl get componentstatuses` reports scheduler / controller-manager "
            "`Unhealthy` although both work.",
        ),
        cause=Text(
            zh="不安全的 HTTP 端口已移除（controller-manager 10252 在 1.22，scheduler 10251 在 1.23）。"
            "种子 002 与 004 把 10251 说成“安全端口”，其实它一直是 HTTP。",
            en="The insecure HTTP ports are gone (controller-manager 10252 in 1.22, scheduler 10251 in 1.23). "
            "Seeds 002 and 004 call 10251 a secure port; it always was plain HTTP.",
        ),
        fix=Text(
            zh="改用 HTTPS 10259（scheduler）与 10257（controller-manager），用 `--cacert` 校验；"
            "集群状态用 `kubectl get --raw='/readyz?verbose'`（见“集群验证”）。",
            en="Probe HTTPS 10259 (scheduler) and 10257 (controller-manager), checked with `--cacert`; for the "
            "cluster's state use `kubectl get --raw='/readyz?verbose'` (see Cluster verification).",
        ),
        confirm=lambda c: [remote(c, master(c), f'{sudo(c)}ss -ltnp | grep -E "kube-(sched|contr)"')],
        seen_in=("seed 002", "seed 004"),
    ),
    Error(
        id="initializers",
        message='enable-admission-plugins plugin "Initializers" is unknown',
        title=Text(zh="已移除的准入插件", en="A removed admission plugin"),
        symptom=Text(zh="kube-apiserver 启动即退出。", en="kube-apiserver exits at start."),
        cause=Text(
            zh="种子 004 的 `--enable-admission-plugins` 里有 alpha 插件 `Initializers`，它在 1.14 被移除。",
            en="Seed 004's `--enable-admission-plugins` lists the alpha plugin `Initializers`, removed in 1.14.",
        ),
        fix=Text(zh="从列表里删掉它。", en="Remove it from the list."),
        confirm=lambda c: [
            remote(c, master(c), f'grep -o "enable-admission-plugins=[^ ]*" {unit(c, "kube-apiserver")}'),
        ],
        seen_in=("seed 004",),
    ),
    Error(
        id="unknown-flag",
        message="Error: unknown flag: --insecure-port",
        title=Text(zh="参数在这个版本已不存在", en="A flag this release no longer has"),
        symptom=Text(zh="组件启动即退出，提示 `unknown flag`。", en="A component exits at start with `unknown flag`."),
        cause=Text(
            zh="从旧文档复制的参数已被移除：例如 `--insecure-port`（1.24）、`--experimental-encryption-provider-config`"
            "（1.24）、`--logtostderr`/`--log-dir`（1.26）、scheduler 的 `--address`/`--port`（1.24）。反过来，"
            "新版本的参数写进旧版本的 unit 也一样，例如 1.23 才有的 `--shutdown-send-retry-after`。",
            en="A flag copied from an old guide was removed: `--insecure-port` (1.24), "
            "`--experimental-encryption-provider-config` (1.24), `--logtostderr`/`--log-dir` (1.26), the "
            "scheduler's `--address`/`--port` (1.24). A newer release's flag in an older release's unit fails the "
            "same way, such as `--shutdown-send-retry-after`, which came in 1.23.",
        ),
        fix=Text(
            zh="删掉该参数，或换成当前版本的写法。`invoke lint` 还会指出已弃用、但这个版本仍接受的参数"
            "（例如 scheduler 的 `--kubeconfig`），它们会在以后的版本里消失。",
            en="Drop the flag or use its current spelling. `invoke lint` also names the flags this release still "
            "takes but has deprecated (the scheduler's `--kubeconfig`, for one): a later release drops them.",
        ),
        confirm=lambda c: [journal(c, "kube-apiserver", "unknown flag"), lint(c)],
        seen_in=("seed 002", "seed 003", "seed 004"),
        lint_rules=("flag-removed", "flag-not-yet", "flag-deprecated"),
    ),
    Error(
        id="wantedby-typo",
        message="WantedBy=multi-user.targe",
        title=Text(zh="重启后服务没有自动启动", en="The service does not start at boot"),
        symptom=Text(
            zh="`systemctl enable` 没有报错，但节点重启后 kube-apiserver 没有运行。",
            en="`systemctl enable` reported nothing, yet kube-apiserver is not running after a reboot.",
        ),
        cause=Text(
            zh="种子 004 的 unit 写成了 `WantedBy=multi-user.targe`：enable 只是在一个永远不会启动的 "
            "`multi-user.targe.wants/` 目录里建了链接。",
            en="Seed 004's unit says `WantedBy=multi-user.targe`: enable merely linked it into a "
            "`multi-user.targe.wants/` directory that nothing ever starts.",
        ),
        fix=Text(
            zh="改为 `WantedBy=multi-user.target`，再 `systemctl daemon-reload && systemctl reenable`。",
            en="Write `WantedBy=multi-user.target`, then `systemctl daemon-reload && systemctl reenable`.",
        ),
        confirm=lambda c: [remote(c, master(c), f'grep -n "^WantedBy=" {unit(c, "kube-apiserver")}'), lint(c)],
        seen_in=("seed 004",),
        lint_rules=("unit-wantedby",),
    ),
    Error(
        id="restart-value",
        message="Failed to parse service restart specifier, ignoring: on",
        title=Text(zh="Restart= 的值无效", en="An invalid Restart= value"),
        symptom=Text(
            zh="进程崩溃后没有被拉起；`systemd-analyze verify` 或日志里有这条警告。",
            en="A crashed process is not restarted; `systemd-analyze verify` or the journal shows this warning.",
        ),
        cause=Text(
            zh="种子 004 的 kube-controller-manager unit 多了一行 `Restart=on`，这不是合法的值。",
            en="Seed 004's kube-controller-manager unit has an extra `Restart=on`, which is not a valid value.",
        ),
        fix=Text(zh="只保留一行 `Restart=always`（或 `on-failure`）。",
                 en="Keep one `Restart=always` (or `on-failure`)."),
        confirm=lambda c: [remote(c, master(c), f"systemd-analyze verify {unit(c, 'kube-controller-manager')}"),
                           lint(c)],
        seen_in=("seed 004",),
        lint_rules=("unit-restart",),
    ),
    Error(
        id="haproxy-nbproc",
        message="nbproc is not supported any more since HAProxy 2.5",
        title=Text(zh="haproxy 不再支持 nbproc", en="haproxy no longer takes nbproc"),
        symptom=Text(zh="haproxy 拒绝启动，API 入口不可用。", en="haproxy refuses to start; the API endpoint is down."),
        cause=Text(zh="种子 004 的 haproxy.cfg 有 `nbproc 1`，HAProxy 2.5 起它是致命错误。",
                   en="Seed 004's haproxy.cfg has `nbproc 1`, a fatal error since HAProxy 2.5."),
        fix=Text(zh="删除 `nbproc`（需要时用 `nbthread`）。", en="Delete `nbproc` (use `nbthread` if needed)."),
        confirm=lambda c: [remote(c, master(c), f"{sudo(c)}haproxy -c -f /etc/haproxy/haproxy.cfg")],
        seen_in=("seed 004",),
    ),
    Error(
        id="keepalived-fullwidth",
        message="Unknown keyword 'nopreempt\u3000\u3000'",
        title=Text(zh="keepalived 配置里的全角空格和行内注释",
                   en="Full-width spaces and inline comments in keepalived"),
        symptom=Text(
            zh="keepalived 报未知关键字，`nopreempt` 不生效；VIP 那一行被报 `VRRP parsed invalid IP` 并被跳过，"
            "VIP 根本不会出现。",
            en="keepalived reports an unknown keyword and `nopreempt` does nothing; the VIP line is reported as "
            "`VRRP parsed invalid IP` and skipped, so the VIP never comes up.",
        ),
        cause=Text(
            zh="种子 004 在 `nopreempt` 与 VIP 后面用全角空格（U+3000）接了中文注释。全角空格不是分隔符，"
            "于是空格和注释成了关键字或 IP 的一部分。",
            en="Seed 004 follows `nopreempt` and the VIP with full-width spaces (U+3000) and a Chinese comment. A "
            "full-width space is not a separator, so it and the comment become part of the keyword or the IP.",
        ),
        fix=Text(
            zh="注释单独成行，只用 ASCII 空格。",
            en="Put comments on their own lines and use ASCII spaces only.",
        ),
        confirm=lambda c: [remote(c, master(c), f"{sudo(c)}keepalived -t -f /etc/keepalived/keepalived.conf"),
                           lint(c)],
        seen_in=("seed 004",),
        lint_rules=("non-ascii-space",),
    ),
    Error(
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
    ),
)
