"""Errors of the load balancer in front of the kube-apiservers: haproxy's and keepalived's configs.

Both messages were reproduced with the Debian tools the tests use: keepalived 2.2.7 (`Unknown keyword`, `VRRP parsed
invalid IP`) and haproxy 2.6 (`nbproc is not supported any more since HAProxy 2.5`).
"""

from __future__ import annotations

from generator.components.troubleshooting.errors import Error, lint, master, remote
from generator.steps import Text, sudo

HAPROXY_NBPROC = Error(
    id="haproxy-nbproc",
    message="nbproc is not supported any more since HAProxy 2.5",
    title=Text(zh="haproxy 不再支持 nbproc", en="haproxy no longer takes nbproc"),
    symptom=Text(zh="haproxy 拒绝启动，API 入口不可用。", en="haproxy refuses to start; the API endpoint is down."),
    cause=Text(zh="种子 004 的 haproxy.cfg 有 `nbproc 1`，HAProxy 2.5 起它是致命错误。",
               en="Seed 004's haproxy.cfg has `nbproc 1`, a fatal error since HAProxy 2.5."),
    fix=Text(zh="删除 `nbproc`（需要时用 `nbthread`）。", en="Delete `nbproc` (use `nbthread` if needed)."),
    confirm=lambda c: [remote(c, master(c), f"{sudo(c)}haproxy -c -f /etc/haproxy/haproxy.cfg")],
    seen_in=("seed 004",),
)

KEEPALIVED_FULLWIDTH = Error(
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
)
