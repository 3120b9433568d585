"""A chapter page: per step its explanation, the artifacts it shows, and the very commands that run."""

from __future__ import annotations

import shlex

from generator.artifacts import Artifact
from generator.execute import Group, groups
from generator.model import Cluster
from generator.shell_fold import fold
from generator.site.byhand import by_hand, split
from generator.site.layout import NOTEBOOKS, cluster_to_top, lang_dir
from generator.site.markdown import admonition, fence, tabs
from generator.site.reviewable import BLOCK_LIMIT
from generator.site.scripts_page import uses_line
from generator.site.words import WORDS
from generator.steps import Chapter, Show, Step
from generator.where import where


def page_title(title: str, cluster: Cluster, lang: str) -> str:
    """A chapter's title on its page: with the cluster's name, which search hits, the tab and the print show."""
    return f"{title}（{cluster.name}）" if lang == "zh" else f"{title} ({cluster.name})"


def expectations(group: Group, lang: str) -> str:
    """What the reader should see: a sample of each checked command's output (the executor checks `expect`)."""
    w = WORDS[lang]
    samples = [c.example for c in group.commands if c.expect and c.example]
    return f"\n{w['expect']}{w['colon']}\n\n{fence(chr(10).join(samples), 'text')}" if samples else ""


def show_block(show: Show, public: dict[str, Artifact], lang: str) -> str:
    w = WORDS[lang]
    items = []
    for node, path in show.paths:
        # `download`: the browser saves the file as it is instead of displaying it
        link = f"[{w['download']} {show.name}](files/{path}){{ download }}"
        items.append((node, f"{link}\n\n{fence(public[path].content.decode(), show.lang)}"))
    if len(items) == 1 or len({public[p].content for _, p in show.paths}) == 1:
        return f"**{show.name}**\n\n{items[0][1]}\n"
    return f"**{show.name}**\n\n{tabs(items)}\n"


def where_label(group: Group, cluster: Cluster, lang: str) -> str:
    """Where the group's block runs (generator/where.py), in the page's words."""
    w = WORDS[lang]
    found = where(cluster, group.commands)
    if found.node is not None:
        return w["on_node"].format(node=found.node)
    if found.reaches:
        return w["reaching"].format(nodes=w["list_separator"].join(found.reaches))
    return w["workstation"]


def command_block(group: Group, cluster: Cluster, lang: str) -> str:
    """A group's block under where it runs, and what its checked commands should print."""
    return (f"{where_label(group, cluster, lang)}{WORDS[lang]['colon']}\n\n{fence(group.block, 'bash')}"
            + uses_line(cluster, group.commands, lang) + expectations(group, lang))


def workstation_block(group: Group, cluster: Cluster, artifacts: dict[str, Artifact], lang: str) -> str:
    """The workstation's commands; where one is `invoke render --phase cert|kubeconfig`, a tab beside it shows
    the cfssl/kubectl commands that make the same files by hand (never run by the executor: a `shell` block)."""
    w = WORDS[lang]
    body = command_block(group, cluster, lang)
    manual = [line for c in group.commands if c.renders for line in by_hand(cluster, artifacts, *c.renders)]
    if not manual:
        return body
    shown = "\n\n".join(fence("\n".join(block), "shell") for block in split(manual, BLOCK_LIMIT))
    return tabs([
        (w["invoke_tab"], body),
        (w["by_hand_tab"], f"{w['by_hand_note']}\n\n{shown}"),
    ])


def step_section(index: int, step: Step, artifacts: dict[str, Artifact], cluster: Cluster, lang: str) -> str:
    w = WORDS[lang]
    public = {path: a for path, a in artifacts.items() if a.public}
    out = [f"## {index}. {step.title[lang]} {{ #{step.id.replace('.', '-') } }}\n", f"{step.explain[lang]}\n"]
    if step.destructive is not None:
        out.append(admonition("danger", f"{step.destructive[lang]}\n\n{w['destructive_flag']}", w["destructive"]))
    for warning in step.warnings:
        out.append(admonition("warning", warning[lang]))
    # Only where the cluster file names a server tarball can the executor find it missing and skip the step.
    if step.needs_kube_binaries and cluster.spec.prerequisites.server_tarball:
        out.append(admonition("info", w["needs_bin"]))
    for show in step.shows:
        out.append(show_block(show, public, lang))
    node_groups = []
    for group in groups(step):
        if group.node is None:
            out.append(workstation_block(group, cluster, artifacts, lang))
        else:
            node_groups.append((group.node, command_block(group, cluster, lang)))
    if node_groups:
        out.append(f"{w['per_node_serial' if step.serial else 'per_node']}{w['colon']}\n\n{tabs(node_groups)}")
    return "\n".join(out)


def notebook_command(chapter: Chapter, cluster: Cluster) -> str:
    """Works on a fresh clone: papermill does not create the output's directory."""
    out = f"runs/{cluster.name}/{chapter.page}.dry-run.ipynb"
    return fold(f"mkdir -p runs/{cluster.name} && papermill notebooks/{chapter.id}.ipynb {out} "
                f"-p cluster {shlex.quote(cluster.ref)} -p dry_run True")


def chapter_page(chapter: Chapter, artifacts: dict[str, Artifact], cluster: Cluster, lang: str) -> str:
    w = WORDS[lang]
    # The notebooks' pages are part of the top site, outside this cluster's MkDocs build: a plain link MkDocs leaves
    # alone (the page is one directory below its language's root: directory URLs).
    notebook = f"{cluster_to_top(lang, 1)}{lang_dir(lang)}{NOTEBOOKS}/{chapter.id}/"
    command = fence(notebook_command(chapter, cluster), "console")
    tip = f'<a href="{notebook}">{chapter.id}.ipynb</a> — {w["notebook_howto"]}\n\n{command}'
    parts = [
        f"# {page_title(chapter.title[lang], cluster, lang)}\n",
        f"{chapter.intro[lang]}\n",
        admonition("tip", tip, w["notebook"]),
    ]
    parts += [step_section(i, s, artifacts, cluster, lang) for i, s in enumerate(chapter.steps, 1)]
    return "\n".join(parts)
