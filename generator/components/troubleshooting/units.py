"""Errors of the systemd units: how a unit is written (a continuation, WantedBy=, Restart=) and the flags its
ExecStart passes that the release does not have (a removed admission plugin, an unknown flag)."""

from __future__ import annotations

from generator.components.troubleshooting.errors import Error, journal, lint, master, remote
from generator.model import Cluster
from generator.steps import Text


def unit(cluster: Cluster, name: str) -> str:
    return f"{cluster.spec.paths.systemd_dir}/{name}.service"


UNIT_BACKSLASH_SPACE = Error(
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
)

INITIALIZERS = Error(
    id="initializers",
    message='enable-admission-plugins plugin "Initializers" is unknown',
    title=Text(zh="已移除的准入插件", en="A removed admission plugin"),
    symptom=Text(zh="kube-apiserver 启动即退出。", en="kube-apiserver exits at start."),
    cause=Text(
        zh="种子 004 的 `--enable-admission-plugins` 里有 alpha 插件 `Initializers`，它在 1.14 被移除；"
        "1.37 又移除了 1.36 的 alpha 插件 `PodGroupWorkloadExists` 与 `JobValidation`。",
        en="Seed 004's `--enable-admission-plugins` lists the alpha plugin `Initializers`, removed in 1.14; 1.37 "
        "removed 1.36's alpha plugins `PodGroupWorkloadExists` and `JobValidation` too.",
    ),
    fix=Text(zh="从列表里删掉它（`invoke lint` 指出是哪一个、在哪个版本移除）。",
             en="Remove it from the list (`invoke lint` names which, and the release that removed it)."),
    confirm=lambda c: [
        remote(c, master(c), f'grep -o "enable-admission-plugins=[^ ]*" {unit(c, "kube-apiserver")}'),
        lint(c),
    ],
    seen_in=("seed 004",),
    lint_rules=("admission-plugin-removed", "admission-plugin-not-yet", "admission-plugin-unknown"),
)

UNKNOWN_GATE = Error(
    id="unknown-feature-gate",
    message='"command failed" err="unrecognized feature gate: SidecarContainers"',
    title=Text(zh="特性门控在这个版本已不存在", en="A feature gate this release no longer has"),
    symptom=Text(zh="组件启动即退出，日志里是这条错误。", en="A component exits at start with this message."),
    cause=Text(
        zh="门控在功能 GA 并锁定为开启几个版本之后会被删除，之后再写它就无法启动：例如 1.37 删除了 "
        "`SidecarContainers`、`StructuredAuthenticationConfiguration`、`APIServerTracing`、"
        "`SchedulerQueueingHints` 等 25 个门控。",
        en="A gate is deleted a few releases after its feature went GA and was locked on; naming it afterwards "
        "stops the start: 1.37 deleted 25, among them `SidecarContainers`, `StructuredAuthenticationConfiguration`, "
        "`APIServerTracing` and `SchedulerQueueingHints`.",
    ),
    fix=Text(
        zh="从 `--feature-gates` 里删掉它；`invoke lint` 指出每个门控在哪个版本删除、由什么取代"
        "（多数情况是“一直开启”）。",
        en="Remove it from `--feature-gates`; `invoke lint` names the release that deleted each gate and what "
        "replaces it (mostly: always on).",
    ),
    confirm=lambda c: [journal(c, "kube-apiserver", "unrecognized feature gate"), lint(c)],
    lint_rules=("gate-removed", "gate-not-yet", "gate-unknown"),
)

UNKNOWN_FLAG = Error(
    id="unknown-flag",
    message="Error: unknown flag: --insecure-port",
    title=Text(zh="参数在这个版本已不存在", en="A flag this release no longer has"),
    symptom=Text(zh="组件启动即退出，提示 `unknown flag`。", en="A component exits at start with `unknown flag`."),
    cause=Text(
        zh="从旧文档复制的参数已被移除：例如 `--insecure-port`（1.24）、`--experimental-encryption-provider-config`"
        "（1.24）、`--logtostderr`/`--log-dir`（1.26）、scheduler 的 `--address`/`--port`（1.24）、"
        "controller manager 的 `--concurrent-service-syncs`（1.37）。反过来，"
        "新版本的参数写进旧版本的 unit 也一样，例如 1.23 才有的 `--shutdown-send-retry-after`。",
        en="A flag copied from an old guide was removed: `--insecure-port` (1.24), "
        "`--experimental-encryption-provider-config` (1.24), `--logtostderr`/`--log-dir` (1.26), the "
        "scheduler's `--address`/`--port` (1.24), the controller manager's `--concurrent-service-syncs` (1.37). "
        "A newer release's flag in an older release's unit fails the same way, such as "
        "`--shutdown-send-retry-after`, which came in 1.23.",
    ),
    fix=Text(
        zh="删掉该参数，或换成当前版本的写法。`invoke lint` 还会指出已弃用、但这个版本仍接受的参数"
        "（例如 scheduler 的 `--kubeconfig`），它们会在以后的版本里消失。",
        en="Drop the flag or use its current spelling. `invoke lint` also names the flags this release still "
        "takes but has deprecated (the scheduler's `--kubeconfig`, for one): a later release drops them.",
    ),
    confirm=lambda c: [journal(c, "kube-apiserver", "unknown flag"), lint(c)],
    seen_in=("seed 002", "seed 003", "seed 004"),
    lint_rules=("flag-removed", "flag-not-yet", "flag-unknown", "flag-deprecated"),
)

WANTEDBY_TYPO = Error(
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
)

RESTART_VALUE = Error(
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
)
