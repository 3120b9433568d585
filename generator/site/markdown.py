"""Markdown shapes every page uses: fenced blocks and Material content tabs."""

from __future__ import annotations

import re
import textwrap


def fence(body: str, lang: str, indent: int = 0) -> str:
    """A fenced block longer than any run of backticks in `body`: quoted output can never close it early."""
    ticks = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", body)), default=0))
    text = f"{ticks}{lang}\n{body.rstrip()}\n{ticks}\n"
    return textwrap.indent(text, " " * indent) if indent else text


def tabs(items: list[tuple[str, str]]) -> str:
    """Material content tabs; tabs with the same label are linked across the page (content.tabs.link)."""
    return "\n".join(f'=== "{title}"\n\n{textwrap.indent(body, "    ")}\n' for title, body in items)


def admonition(kind: str, body: str, title: str = "") -> str:
    return f'!!! {kind} "{title}"\n\n{textwrap.indent(body, "    ")}\n'
