"""`invoke deploy` for real on the workstation-only chapters, its run record, failures, --from and skips.

The test cluster's nodes sit on loopback addresses where nothing listens (tests.conftest.unreachable_cluster).
"""

from __future__ import annotations

import fcntl
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from generator import catalog
from generator.model import load
from generator.runs import RUNS
from generator.site.last_run import last_run_section
from tests.conftest import INVOKE, REPO, run_invoke, unreachable_cluster

NAME = "deploy-test"


@pytest.fixture()
def cluster(tmp_path: Path):
    path = unreachable_cluster(tmp_path, NAME)
    yield path
    shutil.rmtree(REPO / "build" / NAME, ignore_errors=True)
    shutil.rmtree(REPO / "runs" / NAME, ignore_errors=True)


def summaries() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((REPO / "runs" / NAME).glob("*/summary.json"))]


def test_local_chapters_deploy_for_real_and_leave_a_record(cluster: Path) -> None:
    # deploy writes generator/'s bytecode first (PYTHONDONTWRITEBYTECODE would have each kernel compile it again)
    bytecode = Path(importlib.util.cache_from_source(str(REPO / "generator" / "single_step.py")))
    bytecode.unlink(missing_ok=True)
    proc = run_invoke("deploy", "--cluster", str(cluster), "--chapter", "admin")
    assert bytecode.exists()
    assert "run record: runs/deploy-test/" in proc.stdout
    (summary,) = summaries()
    assert summary["result"] == "passed"
    statuses = {s["step"]: s["status"] for s in summary["steps"]}
    assert list(statuses) == ["admin.cert", "admin.kubeconfig", "admin.kubeconfig-check"]
    # kubectl is the cluster's own release, unpacked from its server tarball, which this cluster lacks
    assert statuses == {"admin.cert": "passed", "admin.kubeconfig": "passed", "admin.kubeconfig-check": "skipped"}
    run_dir = next((REPO / "runs" / NAME).iterdir())
    notebook = nbformat.read(run_dir / "04-admin.ipynb", as_version=4)
    outputs = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert "$ openssl verify -CAfile build/deploy-test/pki/ca.pem build/deploy-test/pki/admin.pem" in outputs
    assert (REPO / "build" / NAME / "pki" / "admin.kubeconfig").stat().st_mode & 0o777 == 0o600
    model = load(str(cluster))
    shown = last_run_section(model, catalog.chapters(model), "en", RUNS)
    assert "**passed**" in shown and summary["started"][:10] in shown and "2 passed" in shown and "1 skipped" in shown


def test_a_second_deploy_reissues_nothing(cluster: Path) -> None:
    run_invoke("deploy", "--cluster", str(cluster), "--chapter", "admin")
    pki = REPO / "build" / NAME / "pki"
    before = {p.name: p.read_bytes() for p in pki.iterdir()}
    run_invoke("deploy", "--cluster", str(cluster), "--chapter", "admin")
    assert {p.name: p.read_bytes() for p in pki.iterdir()} == before


def test_a_failed_step_stops_the_run_naming_step_node_command_output(cluster: Path) -> None:
    proc = run_invoke("deploy", "--cluster", str(cluster), "--chapter", "kube-scheduler", check=False)
    assert proc.returncode != 0
    message = proc.stderr
    assert "chapter kube-scheduler, step kube-scheduler.distribute on lo-" in message
    assert "ssh " in message and "127.0.9." in message
    assert "Connection refused" in message or "connect to host" in message
    assert "--from kube-scheduler.distribute" in message
    (summary,) = summaries()
    assert summary["result"] == "failed"
    statuses = {s["step"]: s["status"] for s in summary["steps"]}
    assert statuses["kube-scheduler.cert"] == "passed"
    assert statuses["kube-scheduler.distribute"] == "failed"
    assert "kube-scheduler.start" not in statuses, "the run went on after a failed step"
    assert "Traceback" not in message


def test_steps_needing_kube_binaries_are_skipped_never_passed(cluster: Path) -> None:
    run_invoke("render", "--cluster", str(cluster))
    run_invoke("deploy", "--cluster", str(cluster), "--chapter", "kube-scheduler", "--from", "kube-scheduler.start")
    (summary,) = summaries()
    assert summary["result"] == "passed"
    steps = summary["steps"]
    assert steps and all(s["status"] == "skipped" for s in steps)
    assert all("no-such-kubernetes-server.tar.gz" in s["failure"] for s in steps), [s["failure"] for s in steps]
    assert {s["step"] for s in steps} >= {"kube-scheduler.start", "kube-scheduler.failover"}


def test_run_records_hold_no_key_material(cluster: Path) -> None:
    run_invoke("deploy", "--cluster", str(cluster), "--chapter", "admin")
    run_invoke("deploy", "--cluster", str(cluster), "--chapter", "kube-scheduler", check=False)
    keys = [p.read_text().splitlines()[1] for p in (REPO / "build" / NAME / "pki").glob("*-key.pem")]
    assert keys
    for path in (REPO / "runs" / NAME).rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert "PRIVATE KEY" not in text, path
            assert not any(k in text for k in keys), path


def test_a_dry_run_whose_reader_goes_away_ends_quietly() -> None:
    """`invoke deploy --dry-run | head`: through the real CLI, with a pipe of one page (so the dry run cannot fit in
    it and must meet the closed end), the command ends with the shell's status for SIGPIPE and no traceback."""
    full = run_invoke("deploy", "--cluster", "example", "--dry-run").stdout
    read_end, write_end = os.pipe()
    page = fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    assert len(full.encode()) > 4 * page, "the dry run must not fit in the pipe, or nothing is tested"
    proc = subprocess.Popen([*INVOKE, "deploy", "--cluster", "example", "--dry-run"], cwd=REPO, stdout=write_end,
                            stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        first = reader.readline()  # what `head -1` reads, then it exits
    _, stderr = proc.communicate(timeout=120)
    assert first.decode() == full.splitlines(keepends=True)[0]
    assert proc.returncode == 141, stderr
    assert stderr == "", stderr  # neither a traceback nor "Exception ignored ... BrokenPipeError"
