"""Chapter notebooks: a papermill `parameters` cell, then per step its explanation and one call that runs it."""

from __future__ import annotations

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from generator import catalog
from generator.model import REPO, Cluster, load
from generator.steps import Chapter

NOTEBOOKS = REPO / "notebooks"
# Markdown is written for the embedded default cluster; the commands come from `cluster` at run time.
TEXT_CLUSTER = "example"
PARAMETERS = '''cluster = "example"  # a name under clusters/ or a path to a cluster file
dry_run = True  # True: print the commands only, touch nothing
nodes = ""  # comma-separated node names; empty means every node
start_at = ""  # a step id: earlier steps of this notebook are not run (deploy --from)'''
SETUP = '''from generator.notebook_runtime import StepRunner

step = StepRunner(cluster, dry_run=dry_run, nodes=nodes, start_at=start_at)'''


def chapter_notebook(chapter: Chapter) -> nbformat.NotebookNode:
    intro = (f"# {chapter.title.zh} / {chapter.title.en}\n\n{chapter.intro.zh}\n\n{chapter.intro.en}\n\n"
             f"*Text rendered for the `{TEXT_CLUSTER}` cluster; each cell runs `invoke step` for the cluster "
             "named in the parameters.*")
    parameters = new_code_cell(PARAMETERS, id="parameters")
    parameters.metadata["tags"] = ["parameters"]
    cells = [new_markdown_cell(intro, id="intro"), parameters, new_code_cell(SETUP, id="setup")]
    for step in chapter.steps:
        slug = step.id.replace(".", "-")
        text = (f"## {step.title.zh} / {step.title.en}\n\n{step.explain.zh}\n\n{step.explain.en}")
        for warning in step.warnings:
            text += f"\n\n> ⚠️ {warning.zh}\n>\n> ⚠️ {warning.en}"
        cells.append(new_markdown_cell(text, id=f"{slug}-md"))
        cells.append(new_code_cell(f'step("{step.id}")', id=slug))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def expected(cluster: Cluster | None = None) -> dict[str, str]:
    """File name → notebook JSON, exactly as the generator makes it."""
    cluster = cluster or load(TEXT_CLUSTER)
    return {f"{ch.id}.ipynb": nbformat.writes(chapter_notebook(ch)) + "\n" for ch in catalog.chapters(cluster)}


def write() -> list[str]:
    NOTEBOOKS.mkdir(exist_ok=True)
    for name, text in expected().items():
        (NOTEBOOKS / name).write_text(text, encoding="utf-8")
    return sorted(expected())


def drift() -> list[str]:
    """Notebooks that differ from what the generator makes (or are missing, or are extra)."""
    want = expected()
    have = {p.name for p in NOTEBOOKS.glob("*.ipynb")}
    problems = [f"{name}: extra (no chapter makes it)" for name in sorted(have - set(want))]
    for name, text in want.items():
        path = NOTEBOOKS / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif path.read_text(encoding="utf-8") != text:
            problems.append(f"{name}: differs from the generator's output")
    return problems
