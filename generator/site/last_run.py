"""The cluster's last run on its overview (when, release, result, each chapter, each measured figure) and the
executed notebooks of that run as pages of their own.

The run record (runs/<cluster>/<UTC>/: summary.json and one executed notebook per chapter) was redacted when it was
written; the text shown here goes through the same redaction once more, so a record written by an older version
cannot publish key material either.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

from generator import run_records
from generator.model import Cluster
from generator.run_records import StepOutcome
from generator.runs import redact
from generator.site.markdown import fence
from generator.site.words import WORDS
from generator.steps import Chapter

if TYPE_CHECKING:
    import nbformat

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
RUN_PAGES = "last-run"


def chapter_status(chapter_id: str, ran: bool, steps: tuple[StepOutcome, ...]) -> tuple[str, dict[str, int]]:
    """A chapter's status in a run: failed if any outcome failed, not run if it never started."""
    counts: dict[str, int] = {}
    for outcome in steps:
        if outcome.step.split(".", 1)[0] == chapter_id:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
    if not ran:
        return "not_run", counts
    if counts.get("failed"):
        return "failed", counts
    return ("passed" if counts.get("passed") or not counts else "skipped"), counts


def figure(name: str, value: float, lang: str) -> str:
    return f"{value:g} {WORDS[lang]['seconds']}" if name.endswith("_seconds") else f"{value:g}"


def last_run_section(cluster: Cluster, chapters: list[Chapter], lang: str, root: Path) -> str:
    w = WORDS[lang]
    record = run_records.last(cluster.name, root)
    if record is None:
        return f"## {w['last_run']}\n\n{w['no_run'].format(ref=shlex.quote(cluster.ref))}\n"
    summary = record.summary
    totals: dict[str, int] = {}
    for outcome in summary.steps:
        totals[outcome.status] = totals.get(outcome.status, 0) + 1
    rows = [
        f"| {w['when']} | {summary.started[:19].replace('T', ' ')} UTC |",
        f"| {w['release']} | {summary.release} |",
        f"| {w['result']} | **{w[summary.result]}** |",
        f"| {w['steps']} | " + ", ".join(f"{n} {w[s]}" for s, n in sorted(totals.items())) + " |",
    ]
    failure = summary.failure
    if failure:
        rows.append(f"| ✗ | `{failure.step or '?'}` {failure.node or ''} |")
    out = [f"## {w['last_run']}\n", f"| {w['item']} | {w['value']} |\n|---|---|\n" + "\n".join(rows) + "\n"]

    chapter_rows = []
    for chapter in chapters:
        status, counts = chapter_status(chapter.id, chapter.id in summary.chapters, summary.steps)
        notebook = record.directory / f"{chapter.page}.ipynb"
        link = f"[{chapter.page}.ipynb]({RUN_PAGES}/{chapter.page}.md)" if notebook.exists() else "—"
        detail = ", ".join(f"{n} {w[s]}" for s, n in sorted(counts.items())) or "—"
        chapter_rows.append(f"| {chapter.title[lang]} | {w[status]} | {detail} | {link} |")
    out.append(f"| {w['chapter']} | {w['status']} | {w['steps']} | {w['notebook_run']} |\n|---|---|---|---|\n"
               + "\n".join(chapter_rows) + "\n")

    figures = [(o.step, o.node, name, value) for o in summary.steps for name, value in o.measured.items()]
    if figures:
        out.append(f"### {w['figures']}\n\n| {w['steps']} | {w['figure']} | {w['value']} |\n|---|---|---|\n"
                   + "\n".join(f"| `{step}`{' @ ' + node if node else ''} | `{name}` | {figure(name, value, lang)} |"
                               for step, node, name, value in figures) + "\n")
    return "\n".join(out)


def cell_markdown(cell: nbformat.NotebookNode) -> str:
    if cell.cell_type == "markdown":
        # the notebook's headings sit one level below the page's title
        return re.sub(r"^(#+) ", r"#\1 ", redact(cell.source, []), flags=re.MULTILINE) + "\n"
    if cell.cell_type != "code":
        return ""
    parts = [fence(redact(cell.source, []), "python")]
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            text = output.get("text", "")
        elif output.get("output_type") == "error":
            text = "\n".join([f"{output.get('ename', '')}: {output.get('evalue', '')}", *output.get("traceback", [])])
        elif "text/markdown" in output.get("data", {}):  # a step's explanation, shown as the reader saw it
            parts.append(redact(output["data"]["text/markdown"], []) + "\n")
            continue
        else:
            text = output.get("data", {}).get("text/plain", "")
        if text.strip():
            parts.append(fence(redact(ANSI.sub("", text), []), "text"))
    return "\n".join(parts)


def run_title(chapter: Chapter, cluster: Cluster, when: str, lang: str) -> str:
    w = WORDS[lang]
    return w["run_title"].format(chapter=chapter.title[lang], run=w["run_of"].format(cluster=cluster.name, when=when))


def run_pages(cluster: Cluster, chapters: list[Chapter], root: Path) -> dict[str, dict[str, str]]:
    """Page name (under the cluster's last-run/) → language → Markdown of that chapter's executed notebook."""
    record = run_records.last(cluster.name, root)
    if record is None:
        return {}
    pages: dict[str, dict[str, str]] = {}
    for chapter in chapters:
        notebook = record.notebook(chapter.page)
        if notebook is None:
            continue
        body = "\n".join(cell_markdown(c) for c in notebook.cells)
        when = record.directory.name
        pages[chapter.page] = {lang: f"# {run_title(chapter, cluster, when, lang)}\n\n{body}" for lang in WORDS}
    return pages
