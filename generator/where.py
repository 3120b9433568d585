"""Where a block of commands runs, as its page says it, derived from the commands themselves: a block runs on a node
when every command of it is `on(...)` that node (the workstation only opens the ssh session); otherwise it runs on
the workstation, reaching over ssh the nodes whose ssh target (`user@address`) its text names, directly or through a
named script it calls (build/<cluster>/bin/, whose text is read the same way)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from generator import scripts
from generator.model import Cluster
from generator.steps import Command, ssh_target


@dataclass(frozen=True)
class Where:
    node: str | None  # the node that runs every command of the block; None: the workstation
    reaches: tuple[str, ...] = ()  # the nodes the workstation reaches over ssh, in the cluster file's order


def _targets(cluster: Cluster) -> list[tuple[str, re.Pattern[str]]]:
    """Each node's name and its ssh target as it appears in a command (not a prefix of another address)."""
    return [(n.name, re.compile(re.escape(ssh_target(cluster, n)) + r"(?![\w.:\]])")) for n in cluster.spec.nodes]


def reached(cluster: Cluster, text: str) -> set[str]:
    """The nodes `text` reaches over ssh: its own ssh targets and those of the named scripts it calls."""
    found = {name for name, target in _targets(cluster) if target.search(text)}
    for script in scripts.scripts(cluster):
        if script.path in text and script.path not in script.body:
            found |= reached(cluster, script.body)
    return found


def where(cluster: Cluster, commands: Iterable[Command]) -> Where:
    commands = tuple(commands)
    nodes = {c.on for c in commands}
    if len(nodes) == 1 and None not in nodes:
        return Where(nodes.pop())
    found = set().union(*(reached(cluster, c.run) for c in commands))
    return Where(None, tuple(n.name for n in cluster.spec.nodes if n.name in found))
