"""`invoke deploy` for real: chapter notebooks run by papermill, kept as a redacted run record."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from generator.artifacts import build_dir
from generator.execute import RECORD_ENV
from generator.model import REPO, Cluster
from generator.notebooks import NOTEBOOKS
from generator.render import build_lock, make_artifacts
from generator.run_records import RUNS
from generator.steps import Chapter

if TYPE_CHECKING:
    from jupyter_client.manager import KernelManager

PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.DOTALL)
INLINE_KEY = re.compile(r"((?:client-key-data|secret|password|auth_pass)\s*[:=]\s*)\S+", re.IGNORECASE)
REDACTED = "[REDACTED]"


def secret_values(cluster: Cluster) -> list[str]:
    """Every line (or `key: value` value) of every secret artifact long enough to be recognisable: what must never
    be saved — except what a public artifact also holds (an API server URL in a kubeconfig is in environment.sh
    too), which would only blank out run records."""
    artifacts, _ = make_artifacts(cluster)
    public = [a.content.decode(errors="replace") for a in artifacts if not a.secret]
    values = set()
    for artifact in artifacts:
        if artifact.secret:
            for line in artifact.content.decode(errors="replace").splitlines():
                line = line.strip().split(":", 1)[-1].strip() if ":" in line else line.strip()
                if len(line) >= 12 and "BEGIN" not in line and "END" not in line:
                    values.add(line)
    values = {v for v in values if not any(v in text for text in public)}
    return sorted(values, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    text = PEM_KEY.sub(REDACTED, text)
    text = INLINE_KEY.sub(lambda m: m.group(1) + REDACTED, text)
    for value in secrets:
        text = text.replace(value, REDACTED)
    return text


def redact_notebook(path: Path, secrets: list[str]) -> None:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = redact(output["text"], secrets)
            for key in ("evalue",):
                if key in output:
                    output[key] = redact(output[key], secrets)
            if "traceback" in output:
                output["traceback"] = [redact(line, secrets) for line in output["traceback"]]
    nbformat.write(nb, path)


def local_kernel(directory: str) -> KernelManager:
    """A kernel reached over Unix sockets in a private directory: step output never crosses TCP (and ipykernel
    does not warn about unencrypted TCP on every chapter)."""
    from jupyter_client.manager import KernelManager

    return KernelManager(kernel_name="python3", transport="ipc", ip=os.path.join(directory, "kernel"))


@dataclass
class RunResult:
    directory: Path
    summary: dict

    @property
    def failure(self) -> dict | None:
        return self.summary.get("failure")


def read_outcomes(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def deploy(cluster: Cluster, chapters: list[Chapter], nodes: str = "", start_at: str = "",
           allow_destructive: bool = False) -> RunResult:
    """Run each chapter's notebook in order, holding the cluster's lock (the steps it starts share it); stop at the
    first failure; keep everything under runs/.

    `start_at` (a step id of the first chapter) marks the earlier steps of that chapter as not run.
    """
    with build_lock(cluster) as notes:
        for note in notes:
            print(f"  note: {note}")
        return deploy_locked(cluster, chapters, nodes, start_at, allow_destructive)


def precompile() -> None:
    """Write the .pyc files of generator/ and tasks.py. These machines set PYTHONDONTWRITEBYTECODE=1, so each kernel
    and each `invoke` a step starts would compile them again (~0.1 s per process); reading .pyc files is still
    allowed. Quietly best effort: a checkout it cannot write to only stays slower."""
    import compileall

    compileall.compile_dir(REPO / "generator", quiet=2)
    compileall.compile_file(REPO / "tasks.py", quiet=2)


def deploy_locked(cluster: Cluster, chapters: list[Chapter], nodes: str, start_at: str,
                  allow_destructive: bool) -> RunResult:
    # Imported here, not at the top: every `invoke step` a notebook cell runs imports this module, and
    # papermill alone would add ~0.15 s to each of the ~90 steps of a deploy.
    import papermill

    precompile()
    started = dt.datetime.now(dt.UTC)
    directory = RUNS / cluster.name / started.strftime("%Y%m%dT%H%M%SZ")
    directory.mkdir(parents=True, exist_ok=False)
    # raw outcomes may hold unredacted output: they stay in the 0600-guarded build tree, never in runs/
    journal = build_dir(cluster) / ".deploy-outcomes.jsonl"
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.unlink(missing_ok=True)
    secrets = secret_values(cluster)
    summary: dict = {
        "cluster": cluster.name, "release": str(cluster.release), "started": started.isoformat(),
        "chapters": [], "steps": [], "result": "passed",
    }
    previous = os.environ.get(RECORD_ENV)
    os.environ[RECORD_ENV] = str(journal)
    kernel_dir = tempfile.mkdtemp(prefix="runbook-kernel-")
    # One kernel for every chapter: a kernel's start and the setup cell's imports cost ~1 s, once per chapter
    # otherwise. A chapter's cells define everything they use (parameters, then `step`), so nothing carries over
    # but the kernel's execution counter.
    kernel = local_kernel(kernel_dir)
    try:
        for chapter in chapters:
            output = directory / f"{chapter.page}.ipynb"
            summary["chapters"].append(chapter.id)
            try:
                papermill.execute_notebook(
                    str(NOTEBOOKS / f"{chapter.id}.ipynb"), str(output),
                    parameters={"cluster": cluster.ref, "dry_run": False, "nodes": nodes, "start_at": start_at,
                                "allow_destructive": allow_destructive},
                    cwd=str(REPO), kernel_name="python3", progress_bar=False, log_output=False,
                    # Saved when the chapter ends (and every 30 s of a long cell), not twice per cell: the run
                    # record's journal already holds each finished step.
                    request_save_on_cell_execute=False, km=kernel,
                )
            except papermill.PapermillExecutionError:
                summary["result"] = "failed"
            finally:
                if output.exists():
                    redact_notebook(output, secrets)
            start_at = ""  # --from applies to the first chapter only
            outcomes = read_outcomes(journal)
            if summary["result"] == "failed":
                failed = next((o for o in outcomes if o["status"] == "failed"), None)
                summary["failure"] = {"chapter": chapter.id, **(failed or {"failure": "the notebook failed"})}
                break
    finally:
        if kernel.has_kernel:
            kernel.shutdown_kernel(now=True)
        shutil.rmtree(kernel_dir, ignore_errors=True)
        if previous is None:
            os.environ.pop(RECORD_ENV, None)
        else:
            os.environ[RECORD_ENV] = previous
    summary["steps"] = read_outcomes(journal)
    summary["finished"] = dt.datetime.now(dt.UTC).isoformat()
    text = redact(json.dumps(summary, indent=2, ensure_ascii=False), secrets)
    (directory / "summary.json").write_text(text + "\n", encoding="utf-8")
    journal.unlink(missing_ok=True)
    return RunResult(directory, json.loads(text))
