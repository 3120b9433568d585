"""Errors of a config from another release: a version the release does not read, YAML that does not parse, the
insecure port left open. Messages as the built 1.16, 1.20 and 1.36 binaries print them (measured)."""

from __future__ import annotations

from generator.components.troubleshooting.errors import Error, journal, lint, master, remote
from generator.steps import Text, sudo

ERRORS: tuple[Error, ...] = (
    Error(
        id="config-version",
        message='no kind "KubeSchedulerConfiguration" is registered for version '
                '"kubescheduler.config.k8s.io/v1alpha1"',
        title=Text(zh="这个版本不认识配置的 apiVersion", en="A config apiVersion this release does not read"),
        symptom=Text(zh="kube-scheduler 启动即退出，报这条错误。", en="kube-scheduler exits at start with this."),
        cause=Text(
            zh="每个版本只读几个 apiVersion：v1alpha1 在 1.19 移除，v1beta1 在 1.23，v1beta2 在 1.28，v1beta3 在 "
            "1.29；`v1` 的 KubeSchedulerConfiguration 从 1.25 才有。种子 002 的 v1alpha1 配置拿到新版本上就是这样。",
            en="Each release reads a few apiVersions: v1alpha1 went in 1.19, v1beta1 in 1.23, v1beta2 in 1.28, "
            "v1beta3 in 1.29, and `v1`'s KubeSchedulerConfiguration only exists from 1.25. Seed 002's v1alpha1 "
            "config on a newer release ends like this.",
        ),
        fix=Text(
            zh="写这个版本读的 apiVersion，并只保留它认识的字段（`invoke lint` 逐个列出要删的字段和删除它们的版本）。",
            en="Write the apiVersion the release reads and keep only the fields it knows (`invoke lint` lists each "
            "field to drop and the release that dropped it).",
        ),
        confirm=lambda c: [journal(c, "kube-scheduler", "is registered for version"), lint(c)],
        seen_in=("seed 002",),
        lint_rules=("config-api-version",),
    ),
    Error(
        id="yaml-invalid",
        message="yaml: line 6: did not find expected ',' or ']'",
        title=Text(zh="配置文件不是合法的 YAML", en="The config file is not valid YAML"),
        symptom=Text(zh="kube-scheduler 启动即退出，报这条错误。", en="kube-scheduler exits at start with this."),
        cause=Text(
            zh="手工编辑时缩进错了、括号没配对，或在值里用了制表符：文件读不出来，一个字段也用不上。",
            en="A hand edit broke the indentation, left a bracket open or put a tab in: the file cannot be read, "
            "so no field of it counts.",
        ),
        fix=Text(
            zh="修好报错指出的那一行；或重新渲染（`invoke render`）得到生成器的版本。",
            en="Fix the line the message names, or render again (`invoke render`) for the generator's version.",
        ),
        confirm=lambda c: [journal(c, "kube-scheduler", "yaml: line"), lint(c)],
        lint_rules=("yaml-invalid",),
    ),
    Error(
        id="insecure-port-open",
        message="Serving healthz insecurely on [::]:10251",
        title=Text(zh="不安全端口对外开放", en="The insecure port is open to the network"),
        symptom=Text(
            zh="1.13–1.22 的 kube-scheduler（或 1.12–1.21 的 kube-controller-manager）日志里有这一行：任何人不用"
            "认证就能读 `/metrics` 与 `/healthz`。",
            en="kube-scheduler 1.13–1.22 (or kube-controller-manager 1.12–1.21) logs this line: anyone can read "
            "`/metrics` and `/healthz` without authentication.",
        ),
        cause=Text(
            zh="有 `--config` 时，scheduler 忽略 `--port` 与 `--address`，只看配置的 `healthzBindAddress`/"
            "`metricsBindAddress`，不写就是 `0.0.0.0:10251`（种子 002 写的是节点 IP，又以为 `--port=0` 关掉了它）。"
            "只用命令行参数时（种子 001、003），`--address` 默认 0.0.0.0。",
            en="With `--config`, the scheduler ignores `--port` and `--address` and only its config's "
            "`healthzBindAddress`/`metricsBindAddress` count, `0.0.0.0:10251` when unset (seed 002 writes the "
            "node's IP and believes `--port=0` turned it off). With flags alone (seeds 001, 003), `--address` "
            "defaults to 0.0.0.0.",
        ),
        fix=Text(
            zh="把它绑定到 127.0.0.1（`kubectl get componentstatuses` 在那里探测它），生成器就是这样做的；1.23 起"
            "这个端口不存在了。",
            en="Bind it to 127.0.0.1, where `kubectl get componentstatuses` probes it, as the generator does; from "
            "1.23 the port is gone.",
        ),
        confirm=lambda c: [remote(c, master(c), f'{sudo(c)}ss -ltnp | grep -E ":1025[12] "'), lint(c)],
        seen_in=("seed 001", "seed 002", "seed 003"),
        lint_rules=("insecure-port-open",),
    ),
)
