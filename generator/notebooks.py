"""Chapter notebooks: a papermill `parameters` cell, then per step its explanation and one call that runs it."""

from __future__ import annotations

from dataclasses import replace

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from generator import catalog, day2
from generator.errors import Reported
from generator.model import REPO, Cluster, SchedulerRehearsal, load
from generator.steps import Chapter
from generator.text import Texts

NOTEBOOKS = REPO / "notebooks"
CHAPTER_METADATA = "runbook_chapter"
TEXT = Texts.of_module(__file__)
# One notebook per chapter for every cluster: its cells hold nothing that depends on the cluster. The explanation
# a reader needs (node counts, release, endpoint, paths) is rendered when a cell runs, from the same catalog, for
# the cluster named in `cluster`, so `-p cluster prod5` reads true. Per-cluster notebooks would multiply the
# committed files by the number of clusters and let the text and the `cluster` parameter disagree.
TEXT_CLUSTER = "example"  # whose catalog lists the chapters and steps (the fullest: VIP, haproxy, keepalived)
# A day-2 chapter exists only where a change is planned, and a membership change has steps for joining and others for
# leaving: its notebook holds them all (day2.examples), and a cell a cluster's runbook lacks reports so and passes.
PARAMETERS = '''cluster = "example"  # a name under clusters/ or a path to a cluster file
dry_run = True  # True: print the commands only, touch nothing
nodes = ""  # comma-separated node names; empty means every node
start_at = ""  # a step id: earlier steps of this notebook are not run (deploy --from)
allow_destructive = False  # True: also run the steps that cannot be undone (deploy --allow-destructive)'''
SETUP = '''from generator.notebook_runtime import StepRunner

step = StepRunner(cluster, dry_run=dry_run, nodes=nodes, start_at=start_at, allow_destructive=allow_destructive)
step.describe("{chapter}")'''


def chapter_notebook(chapter: Chapter) -> nbformat.NotebookNode:
    title = chapter.notebook_title or chapter.title
    how = TEXT("notebook", "how")
    intro = f"# {title.zh} / {title.en}\n\n{how.zh}\n\n{how.en}"
    parameters = new_code_cell(PARAMETERS, id="parameters")
    parameters.metadata["tags"] = ["parameters"]
    cells = [new_markdown_cell(intro, id="intro"), parameters,
             new_code_cell(SETUP.format(chapter=chapter.id), id="setup")]
    for step in chapter.steps:
        slug = step.id.replace(".", "-")
        cells.append(new_markdown_cell(f"## {step.title.zh} / {step.title.en}", id=f"{slug}-md"))
        cells.append(new_code_cell(f'step("{step.id}")', id=slug))
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    # which chapter it is, for the site (generator/site/notebook_pages.py) without building every chapter again
    nb.metadata[CHAPTER_METADATA] = {"id": chapter.id, "number": chapter.number,
                                     "title": {"zh": title.zh, "en": title.en}}
    return nb


def merged(first: Chapter | None, second: Chapter) -> Chapter:
    """`first` plus the steps only `second` has, each placed after the step it follows in `second`."""
    if first is None:
        return second
    steps = list(first.steps)
    for i, step in enumerate(second.steps):
        ids = [s.id for s in steps]
        if step.id not in ids:
            before = [ids.index(s.id) for s in second.steps[:i] if s.id in ids]
            steps.insert(max(before) + 1 if before else 0, step)
    return replace(first, steps=tuple(steps))


def with_options(cluster: Cluster) -> Cluster:
    """`cluster` with every step a cluster file may ask for turned on (the CIS benchmark, the scheduler's
    rehearsal)."""
    spec = cluster.spec
    return replace(cluster, spec=replace(spec, verification=replace(spec.verification, cis=True,
                                                                    scheduler_rehearsal=SchedulerRehearsal())))


def notebook_chapters() -> list[Chapter]:
    """Every chapter with every step a notebook cell may run: the text cluster's with its optional steps on, and its
    day-2 variants'."""
    base = load(TEXT_CLUSTER)
    found: dict[str, Chapter] = {}
    for cluster in [base, with_options(base), *day2.examples(base)]:
        for chapter in catalog.chapters(cluster):
            found[chapter.id] = merged(found.get(chapter.id), chapter)
    return sorted(found.values(), key=lambda ch: ch.number)


def expected() -> dict[str, str]:
    """File name → notebook JSON, exactly as the generator makes it."""
    return {f"{ch.id}.ipynb": nbformat.writes(chapter_notebook(ch)) + "\n" for ch in notebook_chapters()}


def write() -> list[str]:
    NOTEBOOKS.mkdir(exist_ok=True)
    for name, text in expected().items():
        (NOTEBOOKS / name).write_text(text, encoding="utf-8")
    return sorted(expected())


def check() -> str:
    """`invoke notebooks --check`: Reported when the committed notebooks are not the generator's."""
    problems = drift()
    if problems:
        raise Reported("notebooks drifted (run `invoke notebooks`):\n  " + "\n  ".join(problems))
    return "notebooks match the generator"


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
