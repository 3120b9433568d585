"""Errors of the load balancer in front of the kube-apiservers: haproxy's and keepalived's configs.

Both messages were reproduced with the Debian tools the tests use: keepalived 2.2.7 (`Unknown keyword`, `VRRP parsed
invalid IP`) and haproxy 2.6 (`nbproc is not supported any more since HAProxy 2.5`).
"""

from __future__ import annotations

from generator.components.troubleshooting.errors import Error, lint, master, remote
from generator.steps import sudo
from generator.text import Texts

TEXT = Texts.of_component(__file__)

HAPROXY_NBPROC = Error(
    id="haproxy-nbproc",
    message="nbproc is not supported any more since HAProxy 2.5",
    **TEXT.fields("haproxy-nbproc"),
    confirm=lambda c: [remote(c, master(c), f"{sudo(c)}haproxy -c -f /etc/haproxy/haproxy.cfg")],
    seen_in=("seed 004",),
)

KEEPALIVED_FULLWIDTH = Error(
    id="keepalived-fullwidth",
    message="Unknown keyword 'nopreempt\u3000\u3000'",
    **TEXT.fields("keepalived-fullwidth"),
    confirm=lambda c: [remote(c, master(c), f"{sudo(c)}keepalived -t -f /etc/keepalived/keepalived.conf"),
                       lint(c)],
    seen_in=("seed 004",),
    lint_rules=("non-ascii-space",),
)
