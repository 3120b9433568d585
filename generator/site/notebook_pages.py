"""The chapter notebooks as pages of the top site: each one rendered, with the link that downloads it.

A notebook serves every cluster, so its page lives in the top build and each chapter page links to it. The committed
notebooks are what `invoke notebooks` makes (`--check` holds them to it), and each names its chapter in its metadata:
the chapter list of the start pages comes from there, without building every chapter of a cluster again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nbformat

from generator.model import REPO
from generator.notebooks import CHAPTER_METADATA
from generator.site.last_run import cell_markdown
from generator.site.layout import NOTEBOOKS
from generator.site.words import WORDS

SOURCES = REPO / "notebooks"


@dataclass(frozen=True)
class NotebookChapter:
    id: str
    number: int
    title: dict[str, str]  # by language: the notebook's, which names no cluster's release or nodes

    @property
    def page(self) -> str:
        """The chapter page's name in a cluster that has it (generator/steps.py, Chapter.page)."""
        return f"{self.number:02d}-{self.id}"


def notebook_files() -> dict[str, str]:
    """File name → the committed notebook's JSON."""
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(SOURCES.glob("*.ipynb"))}


def chapter_of(text: str) -> NotebookChapter:
    meta = json.loads(text)["metadata"][CHAPTER_METADATA]
    return NotebookChapter(meta["id"], meta["number"], meta["title"])


def every_chapter(files: dict[str, str] | None = None) -> list[NotebookChapter]:
    """Every chapter the runbook has, day 2 included, in order."""
    return sorted((chapter_of(text) for text in (files or notebook_files()).values()), key=lambda c: c.number)


def notebook_page(name: str, text: str, lang: str) -> str:
    w = WORDS[lang]
    chapter = chapter_of(text)
    cells = "\n".join(cell_markdown(cell) for cell in nbformat.reads(text, as_version=4).cells)
    # `download`: the browser saves the notebook instead of showing its JSON
    return (f"# {w['notebook_title'].format(title=chapter.title[lang])}\n\n{w['notebook_page']}\n\n"
            f"[{w['download']} {name}]({name}){{ download }}\n\n---\n\n{cells}")


def notebook_pages(files: dict[str, str]) -> dict[str, str]:
    """Path in the top build → text: each notebook as it is (downloaded) and as a page in each language."""
    pages = {f"{NOTEBOOKS}/{name}": text for name, text in files.items()}
    for name, text in files.items():
        for lang in WORDS:
            pages[f"{NOTEBOOKS}/{Path(name).stem}.{lang}.md"] = notebook_page(name, text, lang)
    return pages
