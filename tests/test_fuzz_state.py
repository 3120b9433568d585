"""Seeded fuzzing of the state files the product reads back, as tests/test_fuzz_loader.py fuzzes cluster files:
the ledger, a CA rotation's state, a run record's summary and an executed notebook, the lab's state.

Each mutated file must be accepted or refused with StoredFileError in one line (under 320 characters) that starts
with its path: no other exception, no read over 5 s (a SIGALRM safety bound, not a timing assertion). What is
accepted goes on to what reads it (the overview's ledger table, the last-run section and pages, the phase), so a
value the validation lets through cannot crash what comes after. Mutations: a value of the real file replaced after
parsing (wrong types, markup, huge and deep values, unknown and missing keys), and byte edits (flips, hostile
snippets, cuts, repeats)."""

from __future__ import annotations

import json
import random
import shutil
import signal
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from generator import catalog, ledger, rotation, run_records
from generator.lab.state import load_state_file
from generator.model import load
from generator.site import last_run
from generator.site.ledger_table import ledger_section
from generator.stored import StoredFileError
from tests.conftest import FIXTURE_RUNS
from tests.test_fuzz_loader import paths

SEED = 20231123
LIMIT_SECONDS = 5
VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, 10**400, "", " ", "x" * 5000, "\n", "<img src=x onerror=alert(1)>", "$(reboot)",
    "中文", "\x00", "\x1b[2J", "2026-13-45T99:99:99", "passed", "failed", "skipped", "trust", "reissue", "drop", "ca",
    "k8s-master-01", "pki/ca.pem", "../../etc/passwd", "/etc", "a" * 64, "ff", [], [1, [2]], {}, {"a": {"b": {}}},
    ["x"] * 50, json.loads("[" * 40 + "]" * 40),
]
SNIPPETS = [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"9" * 5000, b"[" * 3000, b"{" * 50, b"\x00", b"\xff\xfe",
            b"\xc3", b'"\\ud800"', b"null", b",", b"}", b"]", b'"', b"\\", b"<script>", b"\xe2\x80\xae"]


def set_value(rng: random.Random, data: Any) -> bytes:
    where = rng.choice(paths(data)[1:] or [()])
    if not where:
        return json.dumps(rng.choice(VALUES)).encode()
    parent = data
    for part in where[:-1]:
        parent = parent[part]
    roll = rng.random()
    if roll < 0.15 and isinstance(parent, dict):
        parent[rng.choice(["extra", "phase", "entries", "steps", "made", "nodes", "status"])] = rng.choice(VALUES)
    elif roll < 0.3 and isinstance(parent, dict):
        parent.pop(where[-1], None)
    else:
        parent[where[-1]] = rng.choice(VALUES)
    return json.dumps(data, ensure_ascii=rng.random() < 0.5).encode()


def mutate(rng: random.Random, source: bytes) -> bytes:
    kind = rng.randrange(6)
    if kind <= 1:
        try:
            return set_value(rng, json.loads(source))
        except (ValueError, RecursionError):  # an earlier byte edit broke the JSON: edit bytes instead
            kind = 3
    at = rng.randrange(len(source) + 1)
    if kind == 2:
        i = rng.randrange(len(source))
        return source[:i] + bytes([rng.randrange(256)]) + source[i + 1:]
    if kind == 3:
        return source[:at] + rng.choice(SNIPPETS) + source[at:]
    if kind == 4:
        return source[:at] + source[at + rng.randrange(1, 200):]
    return source[:at] + source[at:at + rng.randrange(1, 80)] * rng.randrange(2, 4) + source[at:]


class Slow(Exception):
    pass


def on_alarm(signum: int, frame: object) -> None:
    raise Slow(f"took more than {LIMIT_SECONDS} s")


def fuzz(tmp_path: Path, name: str, base: bytes, target: Path, count: int, read: Callable[[], object],
         use: Callable[[object], object]) -> Counter[str]:
    """Write `count` mutations of `base` to `target`, read each with `read`, pass what it accepts to `use`."""
    rng = random.Random(f"{SEED}-{name}")
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    previous = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    try:
        for i in range(count):
            body = base
            for _ in range(rng.choice([1, 1, 2, 3])):
                body = mutate(rng, body) if body else body
            target.write_bytes(body)
            signal.setitimer(signal.ITIMER_REAL, LIMIT_SECONDS)
            try:
                use(read())
                outcomes["accepted"] += 1
            except StoredFileError as err:
                outcomes["refused"] += 1
                line = str(err)
                if "\n" in line or len(line) >= 320 or not line.startswith(f"{target}: "):
                    failures.append(f"#{i}: unclear line: {line[:200]!r}")
            except Exception as err:  # noqa: BLE001 - what this test counts
                outcomes[type(err).__name__] += 1
                failures.append(f"#{i}: {type(err).__name__}: {str(err)[:200]} <- {body[:300]!r}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    print(f"\nfuzz {name}: {count} files (seed {SEED}) in {time.monotonic() - started:.1f} s: {dict(outcomes)}")
    assert not failures, f"{len(failures)} of {count}:\n" + "\n".join(failures[:20])
    # the mutations must reach both sides of the validation, or the test proves nothing
    assert outcomes["accepted"] > count // 100 and outcomes["refused"] > count // 3, dict(outcomes)
    return outcomes


def test_fuzzed_ledgers(example_build: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = load("example")
    target = tmp_path / "ledger.json"
    accepted: list[list[ledger.Entry]] = []
    monkeypatch.setattr(ledger, "load", lambda _: accepted[-1])

    def use(entries: object) -> None:
        accepted.append(entries)  # type: ignore[arg-type]
        for lang in ("zh", "en"):
            ledger_section(cluster, lang)

    fuzz(tmp_path, "ledger", (example_build / "ledger.json").read_bytes(), target, 1000,
         lambda: ledger.read(target, cluster), use)


def test_fuzzed_rotation_states(tmp_path: Path) -> None:
    (tmp_path / "pki").mkdir()
    base = json.dumps({"authority": "ca", "phase": "reissue"}).encode()

    def use(state: object) -> None:
        if state is not None:
            rotation.PHASES.index(state.phase)  # type: ignore[attr-defined]

    fuzz(tmp_path, "rotation", base, tmp_path / rotation.STATE, 800, lambda: rotation.read_state(tmp_path), use)


def test_fuzzed_run_records(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURE_RUNS, runs)
    record = next((runs / "lab").iterdir())
    model = load("lab")
    chapters = catalog.chapters(model)

    # the real record cut to a few steps (each field is still there), with a failure: 40x faster to go through
    summary = json.loads((record / "summary.json").read_text())
    summary["steps"] = summary["steps"][:6]
    summary.update(result="failed", failure={"chapter": "etcd", **summary["steps"][5], "status": "failed"})
    base = json.dumps(summary, indent=2).encode()

    fuzz(tmp_path, "summary", base, record / "summary.json", 1000, lambda: run_records.last("lab", runs),
         lambda _: last_run.last_run_section(model, chapters, "en", runs))


def test_fuzzed_executed_notebooks(tmp_path: Path) -> None:
    source = next((FIXTURE_RUNS / "lab").iterdir()) / "02-ca.ipynb"
    target = tmp_path / "02-ca.ipynb"

    def use(notebook: object) -> None:
        for cell in notebook.cells:  # type: ignore[attr-defined]
            last_run.cell_markdown(cell)

    fuzz(tmp_path, "notebook", source.read_bytes(), target, 600, lambda: run_records.read_notebook(target), use)


def test_fuzzed_lab_states(tmp_path: Path) -> None:
    base = json.dumps({"cluster": "lab", "made": ["/work/build/lab/ssh"], "kube_binaries": False,
                       "kube_binaries_missing": "no Go", "nodes": {"k8s-master-01": {
                           "init_pid": 12, "init_start": 345, "netns": "lab-k8s-master-01"}}}).encode()
    target = tmp_path / "lab-state.json"
    fuzz(tmp_path, "lab-state", base, target, 800, lambda: load_state_file(target), lambda state: state)
