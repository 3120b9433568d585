"""A cluster's overview page, and the home page that lists every cluster (filterable: it must stay usable at 100)."""

from __future__ import annotations

import html
from pathlib import Path

from generator import daemons, run_records
from generator.components.kube_scheduler.facts import facts as scheduler_facts
from generator.model import Cluster
from generator.site.chapter import page_title
from generator.site.last_run import last_run_section
from generator.site.layout import START, top_to_cluster
from generator.site.ledger_table import ledger_section
from generator.site.topology import topology_svg
from generator.site.words import WORDS
from generator.steps import Chapter


def overview_page(cluster: Cluster, chapters: list[Chapter], lang: str, runs_root: Path) -> str:
    w = WORDS[lang]
    f = scheduler_facts(cluster.release)
    rows = "\n".join(f"| {n.name} | {n.ip} | {', '.join(n.roles)} |" for n in cluster.spec.nodes)
    port_rows = "\n".join(f"| {p.number} | {p.purpose[lang] if p.purpose else s.unit} |"
                          for s in daemons.running(cluster) for p in s.ports(cluster))
    links = "\n".join(f"{i}. [{ch.title[lang]}]({ch.page}.md)" for i, ch in enumerate(chapters, 1))
    return f"""# {page_title(w['overview'], cluster, lang)}

{w['start_here'].format(link=f"{START}.md")}

## {w['topology']}

{topology_svg(cluster, lang)}

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
| {w['lock']} | `{f.lock}` |
| {w['api_endpoint']} | `{cluster.api_endpoint}` |
| SSH | `{cluster.spec.ssh.user}@<node>` |

## {w['chapters']}

{links}

{ledger_section(cluster, lang)}
{last_run_section(cluster, chapters, lang, runs_root)}"""


def select(column: int, everything: str, options: list[str], label: str) -> str:
    items = "".join(f'<option value="{html.escape(o)}">{html.escape(o)}</option>' for o in options)
    return (f'<select data-column="{column}" aria-label="{html.escape(label)}">'
            f'<option value="">{html.escape(everything)}</option>{items}</select>')


def home_page(clusters: list[Cluster], lang: str, runs_root: Path) -> str:
    """One table row per cluster, and a filter by name, release and last-run result (docs/assets/runbook.js)."""
    w = WORDS[lang]
    results = {}
    for c in clusters:
        record = run_records.last(c.name, runs_root)
        results[c.name] = w[record.summary.result] if record else w["none"]
    # each cluster is its own MkDocs build: a plain relative link to its overview, not a page of this build
    rows = "\n".join(f"| [{c.name}]({top_to_cluster(c.name, lang)}) | {c.release} | {len(c.masters)} | "
                     f"`{c.api_endpoint}` | {results[c.name]} |" for c in clusters)
    releases = sorted({str(c.release) for c in clusters}, key=lambda r: tuple(int(p) for p in r.split(".")))
    controls = (f'<input type="search" data-column="0" placeholder="{html.escape(w["filter_name"])}" '
                f'aria-label="{html.escape(w["filter_name"])}">'
                + select(1, w["all_releases"], releases, w["release"])
                + select(4, w["all_results"], sorted(set(results.values())), w["last_run"])
                + '<span class="runbook-count"></span>')
    return f"""# {w['site']}

{w['home_intro']}

{w['start_here'].format(link=f"{START}.md")}

## {w['clusters']} {{ #clusters }}

<div class="runbook-filter">{controls}</div>

<div class="runbook-clusters" markdown>

| {w['name']} | {w['release']} | {w['masters']} | {w['api_endpoint']} | {w['last_run']} |
|---|---|---|---|---|
{rows}

</div>
"""
