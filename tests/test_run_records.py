"""Run records are input too (issue 23): a summary.json or an executed notebook that is not what `invoke deploy` writes
stops `invoke build-docs` in one line naming the file and the field, before anything under site/ or build/ changes;
a directory under runs/<cluster>/ not named like a run is no record. Through the real CLI, on a copy of the real lab
record (tests/fixtures/runs/lab/)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from generator import catalog, run_records
from generator.lock import waiting_lock
from generator.model import load
from generator.site.build import LOCK, STAGING
from generator.site.last_run import last_run_section
from generator.site.stamp import STAMP, matches
from generator.stored import StoredFileError
from tests.conftest import FIXTURE_RUNS, INVOKE, REPO, tree_digest

MARKUP = "<img src=x onerror=alert(23)>"
SAFETY = 120  # seconds: the refusal comes before any render or MkDocs build


@pytest.fixture()
def runs(tmp_path: Path) -> Path:
    shutil.copytree(FIXTURE_RUNS, tmp_path / "runs")
    return tmp_path / "runs"


def run_dir(root: Path) -> Path:
    return next((root / "lab").iterdir())


def edit(name: str, change: Callable[[dict], object]) -> Callable[[Path], Path]:
    """Tamper with one file of the record: `change` edits its JSON in place, or returns the text to write."""
    def apply(root: Path) -> Path:
        path = run_dir(root) / name
        body = json.loads(path.read_text())
        changed = change(body)
        path.write_text(changed if isinstance(changed, str) else json.dumps(body))
        return path
    return apply


def edit_summary(change: Callable[[dict], object]) -> Callable[[Path], Path]:
    return edit("summary.json", change)


def edit_notebook(change: Callable[[dict], object]) -> Callable[[Path], Path]:
    return edit("08-kube-scheduler.ipynb", change)


def fifo(root: Path) -> Path:
    path = run_dir(root) / "summary.json"
    path.unlink()
    os.mkfifo(path)
    return path


CASES = [
    pytest.param(edit_summary(lambda b: b.update(steps="x")), "steps: 'x': expected a list", id="steps-a-string"),
    pytest.param(edit_summary(lambda b: b["steps"][3].update(status=MARKUP)),
                 f"steps[3].status: {MARKUP!r}: one of passed, failed, skipped", id="status-markup"),
    pytest.param(edit_summary(lambda b: b.update(release=MARKUP)), f"release: {MARKUP!r}: a Kubernetes release",
                 id="release-markup"),
    pytest.param(edit_summary(lambda b: b.update(result=MARKUP)), "result: ", id="result-markup"),
    pytest.param(edit_summary(lambda b: b.update(result="failed", failure={"chapter": "etcd", "node": MARKUP})),
                 f"failure.node: {MARKUP!r}: a node name", id="failure-node-markup"),
    pytest.param(edit_summary(lambda b: b["steps"][0]["measured"].update({MARKUP: 1})),
                 "steps[0].measured: ", id="measured-name-markup"),
    pytest.param(edit_summary(lambda b: b["steps"][0].update(seconds="fast")), "steps[0].seconds: 'fast': expected a "
                 "finite number", id="seconds-a-string"),
    pytest.param(edit_summary(lambda b: json.dumps(b).replace('"seconds": 0.', '"seconds": NaN, "x": 0.', 1)),
                 "NaN is not a number JSON allows", id="nan"),
    pytest.param(edit_summary(lambda b: b.update(started="yesterday")), "started: 'yesterday': a time in ISO 8601",
                 id="started-garbage"),
    pytest.param(edit_summary(lambda b: json.dumps(b)[:1000]), "not JSON: ", id="truncated"),
    pytest.param(edit_summary(lambda b: b.update(cluster="example")), "cluster: 'example': 'lab', the cluster",
                 id="other-cluster"),
    pytest.param(edit_summary(lambda b: b.update(extra="[" * 5000 + "]" * 5000)), "extra: ", id="unknown-field"),
    pytest.param(edit_summary(lambda b: "[" * 5000 + "]" * 5000), "not JSON the product writes: nested too deeply",
                 id="deep"),
    pytest.param(fifo, "a FIFO (named pipe), not a regular file", id="fifo"),
    pytest.param(edit_notebook(lambda b: b.update(cells="x")), "cells: 'x': not what nbformat 4 allows",
                 id="notebook-cells-a-string"),
    pytest.param(edit_notebook(lambda b: b["cells"][0].update(cell_type="script")), "cells.0: ",
                 id="notebook-cell-type"),
    pytest.param(edit_notebook(lambda b: b.update(nbformat=3)), "nbformat: 3: 4: a notebook papermill wrote",
                 id="notebook-v3"),
    pytest.param(edit_notebook(lambda b: "{"), "not JSON: ", id="notebook-not-json"),
]


def build_docs(runs: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*INVOKE, "build-docs", "--runs-dir", str(runs), "--jobs", "1"], cwd=REPO,
                          capture_output=True, text=True, timeout=SAFETY)


@pytest.fixture(scope="module")
def staging() -> None:
    """The site build's staging directory and lock, as any earlier build-docs leaves them: taking the lock is what
    build-docs does first (filelock neither truncates nor touches an existing lock file)."""
    with waiting_lock(STAGING / LOCK, "the site's staging directory", None):
        pass


@pytest.mark.parametrize(("tamper", "said"), CASES)
def test_a_bad_run_record_stops_build_docs_in_one_line(staging: None, runs: Path, tamper: Callable[[Path], Path],
                                                       said: str) -> None:
    path = tamper(runs)
    before = tree_digest(REPO / "site", REPO / "build")
    proc = build_docs(runs)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in output, output[-3000:]
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}: ") and said in line, line
    assert len(line) < 320 and line.endswith("a run record is what `invoke deploy` writes"), line
    assert tree_digest(REPO / "site", REPO / "build") == before


def test_a_directory_not_named_like_a_run_is_no_record(runs: Path) -> None:
    """Sorted by name, `zzz` came after every UTC time and was taken as the last run."""
    stray = runs / "lab" / "zzz-<b>"
    stray.mkdir()
    (stray / "summary.json").write_text("{}")
    real = next(p for p in (runs / "lab").iterdir() if p.name != stray.name)
    assert stray.name > real.name and run_records.last_dir("lab", runs) == real
    model = load("lab")
    assert "<b>" not in last_run_section(model, catalog.chapters(model), "en", runs)


STAMP_TEXT = "0" * 64


@pytest.mark.parametrize("content", [b"", b"\xff" * 64, b"1" * 64, STAMP_TEXT.encode() + b"\n", b"x" * 10_000_000])
def test_a_stamp_that_is_not_the_stamp_only_means_build_again(tmp_path: Path, content: bytes) -> None:
    (tmp_path / STAMP).write_bytes(content)
    assert not matches(tmp_path, STAMP_TEXT)
    (tmp_path / STAMP).write_text(STAMP_TEXT)
    assert matches(tmp_path, STAMP_TEXT)  # the control


@pytest.mark.parametrize("kind", ["directory", "fifo", "symlink"])
def test_a_stamp_that_is_no_file_is_one_line(tmp_path: Path, kind: str) -> None:
    stamp = tmp_path / STAMP
    if kind == "directory":
        stamp.mkdir()
    elif kind == "fifo":
        os.mkfifo(stamp)
    else:
        (tmp_path / "elsewhere").write_text(STAMP_TEXT)  # the right text: a followed link would skip the build
        stamp.symlink_to(tmp_path / "elsewhere")
    with pytest.raises(StoredFileError) as refused:
        matches(tmp_path, STAMP_TEXT)
    assert str(refused.value).startswith(f"{stamp}: <top>: 'the stamp': a ") and "\n" not in str(refused.value)
    assert str(refused.value).endswith("remove it: build-docs writes its stamps as plain files")


def test_build_docs_refuses_a_directory_where_the_top_stamp_goes(staging: None) -> None:
    stamp = REPO / "site" / STAMP
    (REPO / "site").mkdir(exist_ok=True)
    kept = stamp.with_name(".kept-stamp")
    if stamp.exists():
        stamp.rename(kept)
    stamp.mkdir()
    try:
        before = tree_digest(REPO / "site", REPO / "build")
        proc = subprocess.run([*INVOKE, "build-docs", "--jobs", "1"], cwd=REPO, capture_output=True, text=True,
                              timeout=SAFETY)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        assert proc.stderr.strip() == f"error: {stamp}: <top>: 'the stamp': a directory, not a regular file; " \
                                      "remove it: build-docs writes its stamps as plain files"
        assert tree_digest(REPO / "site", REPO / "build") == before
    finally:
        stamp.rmdir()
        if kept.exists():
            kept.rename(stamp)
