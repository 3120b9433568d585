"""A kube daemon's `--help`, read for names only: upstream's text is not kept.

pflag prints one entry per flag, `  -v, --v Level   text` or `      --name type   text`, at most eight columns in;
lines of text that follow an entry are indented to the text's column, which is far deeper. Flags marked hidden or
deprecated are left out (`probe.py` asks the binary about those). kube-apiserver's `--feature-gates` entry lists the
alpha and beta gates one per line (`APIListChunking=true|false (BETA - default=true)`; from 1.32 with a `kube:`
component prefix); GA and deprecated gates are hidden. Its `--enable-admission-plugins` entry names every plugin
after `Comma-delimited list of admission plugins:`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ENTRY = re.compile(r"^ {2,8}(?:-[A-Za-z0-9], )?(--[a-z0-9][a-z0-9.-]*)(?: (\S+))?(?: {2,}|$)")
GATE = re.compile(r"^\s+(?:[a-z0-9-]+:)?([A-Z][A-Za-z0-9]*)=true\|false\b")
PLUGINS = re.compile(r"Comma-delimited list of admission plugins: (.*?)\. The order", re.DOTALL)


@dataclass(frozen=True)
class Help:
    flags: dict[str, str]  # name -> pflag's type word ("" for a bool flag)
    feature_gates: frozenset[str]
    admission_plugins: frozenset[str]


def entries(text: str) -> dict[str, list[str]]:
    """Each flag's entry: its own line and the lines of text under it."""
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = ENTRY.match(line)
        if match:
            current = found.setdefault(match[1], [])
            current.append(line)
        elif current is not None and line.startswith(" " * 9):
            current.append(line)
        else:
            current = None
    return found


def parse(text: str) -> Help:
    by_flag = entries(text)
    flags = {}
    for name, lines in by_flag.items():
        match = ENTRY.match(lines[0])
        assert match is not None
        flags[name] = match[2] or ""
    gates = {m[1] for line in by_flag.get("--feature-gates", [])[1:] if (m := GATE.match(line))}
    plugins: set[str] = set()
    found = PLUGINS.search(" ".join(by_flag.get("--enable-admission-plugins", [])))
    if found:
        plugins = {name.strip() for name in found[1].split(",") if name.strip()}
    return Help(flags=flags, feature_gates=frozenset(gates), admission_plugins=frozenset(plugins))
