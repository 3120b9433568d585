"""Runbook pages (Markdown for MkDocs Material, zh and en) written from the catalog and the public artifacts."""

from __future__ import annotations

import html
import shutil
import textwrap
from pathlib import Path

from generator import catalog
from generator.artifacts import Artifact
from generator.components.kube_scheduler.facts import facts as scheduler_facts
from generator.execute import groups
from generator.model import REPO, Cluster
from generator.render import make_artifacts
from generator.runs import last_run
from generator.steps import Chapter, Show, Step

DOCS = REPO / "docs"
LANGS = ("zh", "en")
WORDS = {
    "zh": {
        "expect": "预期输出（正则）", "download": "下载", "notebook": "用 Notebook 执行本章",
        "workstation": "在运维机上执行", "per_node": "每个节点分别执行", "chapters": "章节",
        "inventory": "节点清单", "ports": "端口", "versions": "版本", "topology": "拓扑",
        "name": "名称", "roles": "角色", "port": "端口", "purpose": "用途", "node": "节点",
        "clusters": "集群", "overview": "概览", "item": "项目", "value": "值",
        "last_run": "最近一次执行", "no_run": "还没有执行记录（`invoke deploy --cluster {ref}` 会生成）。",
        "result": "结果", "when": "时间", "steps": "步骤",
        "needs_bin": "需要 Kubernetes 二进制文件（实验环境中没有时，这一步会被标记为跳过）。",
        "notebook_howto": "参数 `cluster` 是集群名，`dry_run=True` 只打印命令：",
        "home_intro": "每个集群的运行手册都由 `clusters/<名称>.yaml` 这一个文件生成：页面上的每条命令，"
                      "就是 `invoke deploy` 与 Notebook 执行的同一条命令。",
    },
    "en": {
        "expect": "Expected output (regex)", "download": "Download", "notebook": "Run this chapter as a notebook",
        "workstation": "On the workstation", "per_node": "On each node", "chapters": "Chapters",
        "inventory": "Inventory", "ports": "Ports", "versions": "Versions", "topology": "Topology",
        "name": "Name", "roles": "Roles", "port": "Port", "purpose": "Purpose", "node": "Node",
        "clusters": "Clusters", "overview": "Overview", "item": "Item", "value": "Value",
        "last_run": "Last run", "no_run": "No run recorded yet (`invoke deploy --cluster {ref}` makes one).",
        "result": "Result", "when": "When", "steps": "Steps",
        "needs_bin": "Needs the Kubernetes binaries (in a lab without them this step is reported as skipped).",
        "notebook_howto": "The `cluster` parameter names the cluster; `dry_run=True` only prints the commands:",
        "home_intro": "Each cluster's runbook is compiled from one file, `clusters/<name>.yaml`: every command "
                      "on these pages is the very command `invoke deploy` and the notebooks run.",
    },
}


def fence(body: str, lang: str, indent: int = 0) -> str:
    ticks = "````" if "```" in body else "```"
    text = f"{ticks}{lang}\n{body.rstrip()}\n{ticks}\n"
    return textwrap.indent(text, " " * indent) if indent else text


def tabs(items: list[tuple[str, str]]) -> str:
    """Material content tabs, one per node."""
    parts = []
    for title, body in items:
        parts.append(f'=== "{title}"\n\n{textwrap.indent(body, "    ")}\n')
    return "\n".join(parts)


def expectations(commands: tuple, lang: str) -> str:
    shown = [f"`{c.expect}`" for c in commands if c.expect]
    return f"\n{WORDS[lang]['expect']}: " + " · ".join(shown) + "\n" if shown else ""


def show_block(show: Show, public: dict[str, Artifact], cluster: Cluster, lang: str) -> str:
    w = WORDS[lang]
    items = []
    for node, path in show.paths:
        artifact = public[path]
        link = f"[{w['download']} {show.name}](files/{path})"
        items.append((node, f"{link}\n\n{fence(artifact.content.decode(), show.lang)}"))
    if len(items) == 1 or len({public[p].content for _, p in show.paths}) == 1:
        return f"**{show.name}**\n\n{items[0][1]}\n"
    return f"**{show.name}**\n\n{tabs(items)}\n"


def step_section(index: int, step: Step, public: dict[str, Artifact], cluster: Cluster, lang: str) -> str:
    w = WORDS[lang]
    out = [f"## {index}. {step.title[lang]} {{ #{step.id.replace('.', '-') } }}\n", f"{step.explain[lang]}\n"]
    for warning in step.warnings:
        out.append(f'!!! warning ""\n\n{textwrap.indent(warning[lang], "    ")}\n')
    if step.needs_kube_binaries:
        out.append(f'!!! info ""\n\n    {w["needs_bin"]}\n')
    for show in step.shows:
        out.append(show_block(show, public, cluster, lang))
    node_groups = []
    for group in groups(step):
        body = fence(group.block, "bash") + expectations(group.commands, lang)
        if group.node is None:
            out.append(f"{w['workstation']}:\n\n{body}")
        else:
            node_groups.append((group.node, body))
    if node_groups:
        out.append(f"{w['per_node']}:\n\n{tabs(node_groups)}")
    return "\n".join(out)


def chapter_page(chapter: Chapter, public: dict[str, Artifact], cluster: Cluster, lang: str) -> str:
    w = WORDS[lang]
    notebook = f"../../notebooks/{chapter.id}.ipynb"
    howto = fence(f"papermill notebooks/{chapter.id}.ipynb runs/{chapter.id}.ipynb -p cluster {cluster.ref} "
                  "-p dry_run True", "console")
    parts = [
        f"# {chapter.title[lang]}\n",
        f"{chapter.intro[lang]}\n",
        f'!!! tip "{w["notebook"]}"\n\n    [{chapter.id}.ipynb]({notebook}) — {w["notebook_howto"]}\n\n'
        + textwrap.indent(howto, "    "),
    ]
    parts += [step_section(i, s, public, cluster, lang) for i, s in enumerate(chapter.steps, 1)]
    return "\n".join(parts)


def topology_svg(cluster: Cluster) -> str:
    """A small inline SVG: workstation → API endpoint → each master's haproxy/apiserver/scheduler."""
    width = max(640, 220 * len(cluster.spec.nodes) + 40)
    boxes = []

    def box(x: int, y: int, w: int, h: int, lines: list[str], fill: str) -> None:
        boxes.append(f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="8" fill="{fill}" stroke="#555"/>')
        for i, line in enumerate(lines):
            boxes.append(f'<text x="{x + w // 2}" y="{y + 20 + 16 * i}" text-anchor="middle" '
                         f'font-size="13">{html.escape(line)}</text>')

    mid = width // 2
    box(mid - 110, 10, 220, 44, ["workstation", "kubectl · ssh · invoke"], "#e8f0fe")
    lb = cluster.spec.load_balancer.kind if cluster.load_balanced else "none"
    kinds = {"haproxy-keepalived": "keepalived VIP", "external": "external LB", "none": "no load balancer"}
    box(mid - 130, 90, 260, 44, [f"API {cluster.api_endpoint.removeprefix('https://')}", kinds[lb]], "#fff4e5")
    boxes.append(f'<line x1="{mid}" y1="54" x2="{mid}" y2="90" stroke="#555"/>')
    tallest = 0
    for i, node in enumerate(cluster.spec.nodes):
        x = 20 + i * 220
        lines = [node.name, node.ip]
        if "master" in node.roles:
            boxes.append(f'<line x1="{mid}" y1="134" x2="{x + 100}" y2="180" stroke="#555"/>')
            if lb == "haproxy-keepalived":
                lines.append(f"haproxy :{cluster.spec.api_server.port}")
            lines += [f"kube-apiserver :{cluster.spec.api_server.secure_port}",
                      "kube-controller-manager :10257", "kube-scheduler :10259"]
        if "etcd" in node.roles:
            lines.append("etcd :2379 :2380")
        tallest = max(tallest, len(lines))
        box(x, 180, 200, 24 + 16 * len(lines), lines, "#e6f4ea")
    height = 180 + 24 + 16 * tallest + 20
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
            f'role="img" aria-label="topology">' + "".join(boxes) + "</svg>")


def last_run_section(cluster: Cluster, lang: str) -> str:
    w = WORDS[lang]
    summary = last_run(cluster.name)
    if summary is None:
        return f"## {w['last_run']}\n\n{w['no_run'].format(ref=cluster.ref)}\n"
    counts: dict[str, int] = {}
    for outcome in summary["steps"]:
        counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
    failed = summary.get("failure")
    rows = [
        f"| {w['when']} | {summary['started'][:19].replace('T', ' ')} UTC |",
        f"| {w['result']} | **{summary['result']}** |",
        f"| {w['steps']} | " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + " |",
    ]
    if failed:
        rows.append(f"| ✗ | `{failed.get('step', '?')}` {failed.get('node') or ''} |")
    return f"## {w['last_run']}\n\n| {w['item']} | {w['value']} |\n|---|---|\n" + "\n".join(rows) + "\n"


def overview_page(cluster: Cluster, chapters: list[Chapter], lang: str) -> str:
    w = WORDS[lang]
    f = scheduler_facts(cluster.release)
    api = cluster.spec.api_server
    rows = "\n".join(f"| {n.name} | {n.ip} | {', '.join(n.roles)} |" for n in cluster.spec.nodes)
    ports = [(api.secure_port, "kube-apiserver"), (2379, "etcd client"), (2380, "etcd peer"),
             (10257, "kube-controller-manager"), (f.secure_port or f.insecure_port, "kube-scheduler")]
    if cluster.spec.load_balancer.kind == "haproxy-keepalived":
        ports = [(api.port, "haproxy → kube-apiserver"), *ports]
    port_rows = "\n".join(f"| {p} | {what} |" for p, what in ports)
    links = "\n".join(f"{i}. [{ch.title[lang]}]({ch.page}.md)" for i, ch in enumerate(chapters, 1))
    return f"""# {cluster.name}: {w['overview']}

## {w['topology']}

{topology_svg(cluster)}

## {w['inventory']}

| {w['name']} | IP | {w['roles']} |
|---|---|---|
{rows}

## {w['ports']}

| {w['port']} | {w['purpose']} |
|---|---|
{port_rows}

## {w['versions']}

| {w['item']} | {w['value']} |
|---|---|
| Kubernetes | {cluster.release} |
| KubeSchedulerConfiguration | `{f.config_api}` |
| leader election lock | `{f.lock}` |
| API endpoint | `{cluster.api_endpoint}` |
| SSH | `{cluster.spec.ssh.user}@<node>` |

## {w['chapters']}

{links}

{last_run_section(cluster, lang)}"""


def home_page(clusters: list[Cluster], lang: str) -> str:
    w = WORDS[lang]
    title = {"zh": "Kubernetes 高可用控制平面运行手册", "en": "Highly available Kubernetes control plane runbooks"}
    items = "\n".join(
        f"- [{c.name}](clusters/{c.name}/index.md) — Kubernetes {c.release}, {len(c.masters)} masters, "
        f"`{c.api_endpoint}`" for c in clusters
    )
    return f"# {title[lang]}\n\n{w['home_intro']}\n\n## {w['clusters']}\n\n{items}\n"


def write_site_sources(clusters: list[Cluster], docs: Path = DOCS) -> list[Path]:
    """Write docs/index.*.md and docs/clusters/<name>/ (pages and public files). Returns pages written."""
    written = []
    root = docs / "clusters"
    if root.exists():
        shutil.rmtree(root)
    for lang in LANGS:
        written.append(write(docs / f"index.{lang}.md", home_page(clusters, lang)))
    for cluster in clusters:
        artifacts, _ = make_artifacts(cluster)
        public = {a.path: a for a in artifacts if not a.secret}
        chapters = catalog.chapters(cluster)
        here = root / cluster.name
        for chapter in chapters:
            for step in chapter.steps:
                for show in step.shows:
                    for _, path in show.paths:
                        write(here / "files" / path, public[path].content.decode())
        for lang in LANGS:
            written.append(write(here / f"index.{lang}.md", overview_page(cluster, chapters, lang)))
            for chapter in chapters:
                written.append(write(here / f"{chapter.page}.{lang}.md", chapter_page(chapter, public, cluster, lang)))
    notebooks = docs / "notebooks"
    if notebooks.exists():
        shutil.rmtree(notebooks)
    shutil.copytree(REPO / "notebooks", notebooks)
    return written


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
