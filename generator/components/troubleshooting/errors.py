"""What a troubleshooting entry is, and the helpers its confirm commands are written with.

An `Error` is one error users meet, as data: the message, symptom, cause, the commands that confirm it, the fix (zh +
en). The entries live in the modules beside this one, by what fails: certificates, config, units, load_balancer, etcd,
releases; the package lists them in page order. Sources: the last table of the project's version facts
(docs/versions.md), and what the seeds met or wrote.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass

from generator.model import Cluster, Node
from generator.steps import Text, remote, sudo


@dataclass(frozen=True)
class Error:
    id: str
    message: str  # as the tool prints it (values from a real run may differ)
    title: Text
    symptom: Text
    cause: Text
    fix: Text
    confirm: Callable[[Cluster], list[str]]  # diagnostic commands, shown on the page, never run by deploy
    seen_in: tuple[str, ...] = ()  # for maintainers: the guides this error comes from (never on a page)
    lint_rules: tuple[str, ...] = ()
    # The fix as commands (shown under it, never run by deploy): push the rendered files again and restart, or free
    # what is taken. The lab breaks a node each of these ways and runs them (tests/test_lab_repair.py).
    repair: Callable[[Cluster], list[str]] | None = None


def master(cluster: Cluster) -> Node:
    return cluster.masters[0]


def journal(cluster: Cluster, service: str, pattern: str) -> str:
    return remote(cluster, master(cluster), f'{sudo(cluster)}journalctl -u {service} --no-pager | grep -m3 "{pattern}"')


def push_again(cluster: Cluster, component: str, unit: str) -> list[str]:
    """The repair of a node file changed by hand: the component's distribute step again for that master, then the
    unit reloaded and restarted."""
    node = master(cluster)
    s = sudo(cluster)
    return [shlex.join(["invoke", "step", "--cluster", cluster.ref, "--step", f"{component}.distribute", "--nodes",
                        node.name]),
            remote(cluster, node, f"{s}systemctl daemon-reload && {s}systemctl restart {unit} && "
                                  f"systemctl is-active {unit}")]


def lint(cluster: Cluster) -> str:
    return f"invoke lint --cluster {shlex.quote(cluster.ref)}"
