"""The cluster's named scripts page: each script once, with its title, explanation and text, the file a render wrote
(generator/scripts.py); chapter pages link a block to the scripts it calls instead of repeating them."""

from __future__ import annotations

from generator import scripts
from generator.model import Cluster
from generator.site.markdown import fence
from generator.site.words import WORDS
from generator.steps import Command, Script, scripts_dir

PAGE = "scripts"  # scripts.<lang>.md in the cluster's build


def anchor(script: Script) -> str:
    return script.name.replace(".", "-")


def calls(cluster: Cluster, commands: tuple[Command, ...]) -> list[Script]:
    """The named scripts these commands call, in the page's order."""
    return [s for s in scripts.scripts(cluster) if any(s.path in c.run for c in commands)]


def uses_line(cluster: Cluster, commands: tuple[Command, ...], lang: str) -> str:
    """`Scripts this block calls: [on-node.sh](scripts.md#on-node-sh), …`, or "" when it calls none."""
    called = calls(cluster, commands)
    if not called:
        return ""
    w = WORDS[lang]
    links = w["list_separator"].join(f"[{s.name}]({PAGE}.md#{anchor(s)})" for s in called)
    return f"\n{w['uses'].format(links=links)}\n"


def scripts_page(cluster: Cluster, lang: str) -> str:
    w = WORDS[lang]
    title = f"{w['scripts_title']}（{cluster.name}）" if lang == "zh" else f"{w['scripts_title']} ({cluster.name})"
    parts = [f"# {title}\n", w["scripts_intro"].format(directory=scripts_dir(cluster)) + "\n"]
    for s in scripts.scripts(cluster):
        link = f"[{w['download']} {s.name}](files/{scripts.DIRECTORY}{s.name}){{ download }}"
        parts.append(f"## {s.title[lang]} {{ #{anchor(s)} }}\n\n{s.explain[lang]}\n\n{link}\n\n{fence(s.body, 'bash')}")
    return "\n".join(parts)
