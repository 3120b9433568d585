"""Concurrent and interrupted renders through the real `invoke render`: one lock per cluster, one transaction per
render. Certificates are checked with openssl; timeouts are safety bounds, never assertions."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import INVOKE, REPO, assert_certificates_verify, cluster_file, run_invoke, tree_digest

from generator.writer import JOURNAL

SAFETY = 120  # seconds; a run that takes longer has hung
HOLD = """
import sys
from generator.lock import cluster_lock
from generator.model import load
with cluster_lock(load(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def names() -> Iterator[list[str]]:
    """Cluster names a test creates; their build/ directories are removed afterwards."""
    created: list[str] = []
    yield created
    for name in created:
        shutil.rmtree(REPO / "build" / name, ignore_errors=True)


def new_cluster(tmp_path: Path, names: list[str], extra: str = "") -> tuple[Path, Path]:
    name = f"lock-{os.getpid()}-{len(names)}"
    names.append(name)
    return cluster_file(tmp_path, name, extra), REPO / "build" / name


def start_render(source: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([*INVOKE, "render", "--cluster", str(source)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **env})


def hold_lock(source: Path) -> subprocess.Popen:
    """Another run holding the cluster's lock (the project's own lock code) until its stdin is closed."""
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(source)], cwd=REPO, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def temp_files(build: Path) -> list[Path]:
    return [p for p in build.rglob("*") if p.name.endswith(".partial") or p.name == JOURNAL]


def test_two_renders_of_a_new_cluster_at_once(tmp_path: Path, names: list[str]) -> None:
    """Both start while a third run holds the lock, so both really wait; then they race for it. One makes the CA
    and every file, the other waits for it and finds nothing left to do."""
    source, build = new_cluster(tmp_path, names)
    holder = hold_lock(source)
    renders = [start_render(source), start_render(source)]
    for proc in renders:  # each says whom it waits for before the lock is given up
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert f"build/{build.name} is in use by pid {holder.pid}" in line and "waiting" in line, line
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(SAFETY)
    outputs = [proc.communicate(timeout=SAFETY) for proc in renders]
    assert [proc.returncode for proc in renders] == [0, 0], outputs
    made = [out for out, _ in outputs if "CA: created a new CA" in out]
    assert len(made) == 1, outputs
    assert any(re.search(r"into build/\S+/: \d+ unchanged$", out) for out, _ in outputs), outputs
    assert_certificates_verify(build)


@pytest.mark.parametrize("trial", range(3))
def test_two_renders_started_together(tmp_path: Path, names: list[str], trial: int) -> None:
    """No gate: whatever the timing, one CA, every certificate verifies, and no run fails."""
    source, build = new_cluster(tmp_path, names)
    renders = [start_render(source), start_render(source)]
    outputs = [proc.communicate(timeout=SAFETY) for proc in renders]
    assert [proc.returncode for proc in renders] == [0, 0], outputs
    assert sum("CA: created a new CA" in out for out, _ in outputs) == 1, outputs
    assert_certificates_verify(build)


def test_a_busy_lock_is_one_clear_line_and_changes_nothing(tmp_path: Path, names: list[str]) -> None:
    source, build = new_cluster(tmp_path, names)
    run_invoke("render", "--cluster", str(source))
    before = tree_digest(build)
    holder = hold_lock(source)
    try:
        proc = start_render(source, RUNBOOK_LOCK_WAIT="0.5")
        out, err = proc.communicate(timeout=SAFETY)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(SAFETY)
    assert proc.returncode == 1 and "Traceback" not in err, err
    error = [line for line in err.splitlines() if line.startswith("error: ")]
    holder_line = f"build/{build.name} is in use by pid {holder.pid} ({Path(sys.executable).name} -c"
    assert len(error) == 1 and holder_line in error[0], err
    assert "gave up after 0.5 s" in error[0]
    assert tree_digest(build) == before


def kill_at(source: Path, delay: float) -> None:
    proc = start_render(source)
    try:
        proc.wait(delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=SAFETY)


def kill_in_commit(source: Path, build: Path) -> None:
    """kill -9 the moment the journal appears (the render is renaming its files), if we see it in time."""
    proc = start_render(source)
    journal, deadline = build / JOURNAL, time.monotonic() + SAFETY
    while proc.poll() is None and time.monotonic() < deadline:
        if journal.exists():
            proc.send_signal(signal.SIGKILL)
            break
    proc.communicate(timeout=SAFETY)


def committed_ca(build: Path) -> bytes | None:
    """The CA as far as it exists: in place, or named by the journal of a render killed after its commit point."""
    journal = build / JOURNAL
    if journal.exists():
        for tmp, target in json.loads(journal.read_text()):
            if target == "pki/ca.pem" and (build / tmp).exists():
                return (build / tmp).read_bytes()
    ca = build / "pki" / "ca.pem"
    return ca.read_bytes() if ca.exists() else None


def recover_and_check(source: Path, build: Path, seen: Counter[str]) -> bytes:
    """The next render after a kill: succeeds, keeps a CA that existed, leaves no temp file; certificates verify."""
    ca = committed_ca(build)
    seen["journal" if (build / JOURNAL).exists() else "temp files" if temp_files(build) else
         "CA, no temp file" if ca else "nothing yet"] += 1
    proc = run_invoke("render", "--cluster", str(source), check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if (build / JOURNAL).exists():
        pytest.fail("the journal outlived the next render")
    assert not temp_files(build), temp_files(build)
    now = (build / "pki" / "ca.pem").read_bytes()
    assert ca is None or now == ca, "the CA was made again although it existed"
    assert_certificates_verify(build)
    return now


def test_kill_9_during_first_and_repeat_renders(tmp_path: Path, names: list[str]) -> None:
    """kill -9 at random points of 12 first renders and 12 renders that re-issue every leaf, and at the commit
    point of 8 more: the next render always succeeds, the CA is never made again once it exists, and no temp
    file remains.

    ECDSA keys keep a render short and put most of its time in writing files, where a kill matters; random delays
    are drawn from the later part of a measured render (the first part is mostly Python starting)."""
    rng = random.Random(9)
    seen: Counter[str] = Counter()
    source, build = new_cluster(tmp_path, names, "certificates:\n  key: {algo: ecdsa, size: 256}\n")
    start = time.monotonic()
    run_invoke("render", "--cluster", str(source))
    first = time.monotonic() - start
    for _ in range(12):
        shutil.rmtree(build)
        kill_at(source, rng.uniform(first * 0.4, first * 1.1))
        recover_and_check(source, build, seen)
    ca = (build / "pki" / "ca.pem").read_bytes()
    text = source.read_text()
    for trial in range(20):
        # another OU each time: every leaf is issued again (same keys), with kubeconfigs and node copies
        source.write_text(text + f"  subject: {{OU: System{trial}}}\n")
        if trial < 12:
            kill_at(source, rng.uniform(first * 0.4, first * 1.1))
        else:
            kill_in_commit(source, build)
        assert recover_and_check(source, build, seen) == ca
    print(f"\nkill -9 left: {dict(seen)}")
