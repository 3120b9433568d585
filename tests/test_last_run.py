"""The last run as the site shows it, from a real lab run record (tests/fixtures/runs/lab/): per-chapter status,
figures, executed notebooks as pages, and never a key, even from a record that holds one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from generator import catalog
from generator.model import load
from generator.site.last_run import last_run_section, run_pages
from generator.site.words import WORDS
from tests.conftest import FIXTURE_RUNS

KEY = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAzK7yPlantedKeyMaterialThatMustNeverBePublishedAnywhere0\n"
       "-----END RSA PRIVATE KEY-----")


@pytest.fixture()
def lab():
    model = load("lab")
    return model, catalog.chapters(model)


@pytest.fixture()
def record(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE_RUNS, tmp_path / "runs")
    return tmp_path / "runs"


def run_dir(root: Path) -> Path:
    return next((root / "lab").iterdir())


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_chapter_has_its_status_and_notebook_page(lab, lang: str) -> None:
    model, chapters = lab
    shown = last_run_section(model, chapters, lang, FIXTURE_RUNS)
    for chapter in chapters:
        row = next(line for line in shown.splitlines() if line.startswith(f"| {chapter.title[lang]} |"))
        assert f"| {WORDS[lang]['passed']} |" in row and f"last-run/{chapter.page}.md" in row, row
    assert set(run_pages(model, chapters, FIXTURE_RUNS)) == {ch.page for ch in chapters}


def test_a_failed_run_shows_the_failed_chapter_and_what_never_ran(lab, record: Path) -> None:
    model, chapters = lab
    path = run_dir(record) / "summary.json"
    summary = json.loads(path.read_text())
    failed_chapter = chapters[4]
    summary["result"] = "failed"
    summary["chapters"] = [ch.id for ch in chapters[:5]]
    steps = [s for s in summary["steps"] if s["step"].split(".")[0] in summary["chapters"]]
    first = next(s for s in steps if s["step"].startswith(f"{failed_chapter.id}."))
    first["status"] = "failed"
    summary["steps"] = steps
    summary["failure"] = {"chapter": failed_chapter.id, "step": first["step"], "node": first["node"]}
    path.write_text(json.dumps(summary))
    shown = last_run_section(model, chapters, "en", record)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in shown.splitlines() if line.startswith("| ")}
    assert "| failed |" in rows[failed_chapter.title["en"]]
    assert "| not run |" in rows[chapters[-2].title["en"]]
    assert f"`{first['step']}`" in shown


def test_key_material_in_a_record_never_reaches_a_page(lab, record: Path) -> None:
    model, chapters = lab
    notebook_path = run_dir(record) / f"{chapters[7].page}.ipynb"
    nb = nbformat.read(notebook_path, as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.outputs)
    leak = f"leaked:\n{KEY}\nclient-key-data: LS0tsecret\n"
    cell.outputs.append(nbformat.v4.new_output("stream", name="stdout", text=leak))
    nbformat.write(nb, notebook_path)
    written = nbformat.read(notebook_path, as_version=4)  # the control: the record really holds the key now
    assert KEY in "".join(o.get("text", "") for c in written.cells for o in c.get("outputs", []))
    pages = run_pages(model, chapters, record)
    text = "\n".join(t for texts in pages.values() for t in texts.values())
    assert "PRIVATE KEY" not in text and "LS0tsecret" not in text
    assert "[REDACTED]" in pages[chapters[7].page]["en"]
