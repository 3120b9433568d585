"""Errors of the scheduler's and the controller manager's configuration: the leader lock RBAC lets them take and
the lock types a release still has, the fields and the kubeconfig of the config file, and the insecure ports they
no longer serve."""

from __future__ import annotations

import shlex

from generator.components.admin.files import kubectl
from generator.components.troubleshooting.errors import Error, journal, lint, master, remote
from generator.steps import Text, pki_file, sudo

LEASE_FORBIDDEN = Error(
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
)

LOCK_REMOVED = Error(
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
)

STRICT_DECODING = Error(
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
)

NO_CONFIGURATION = Error(
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
)

INSECURE_PORT_GONE = Error(
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
)
