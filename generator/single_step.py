"""One step of the catalog, run or printed: what `invoke step` does and what a notebook cell does in its kernel.

Imports only what a step needs: a notebook kernel imports this for every chapter, and nbformat, papermill or
invoke would add their import time to each of them for nothing.
"""

from __future__ import annotations

import sys
from typing import TextIO

from generator import deploy, execute, render
from generator.artifacts import build_dir
from generator.errors import Reported, RunbookError
from generator.model import REPO, Cluster, ClusterFileError, load


def kube_binaries_missing(cluster: Cluster) -> str:
    """Why steps needing kube-apiserver/-controller-manager/-scheduler cannot run, or "" when they can."""
    tarball = cluster.spec.prerequisites.server_tarball
    if tarball and not (REPO / tarball).exists():
        # lab-up records why it could not build them (no Go, no module proxy) beside the lab's state.
        from generator.lab.state import load_state_file  # here: a step that needs no lab never imports it

        state = load_state_file(build_dir(cluster) / "lab-state.json")
        why = state.get("kube_binaries_missing") or "lab-up has not made it"
        return f"no Kubernetes server binaries: prerequisites.server_tarball ({tarball}) does not exist ({why})"
    return ""


def run(cluster: str, step_id: str, dry_run: bool = False, nodes: str = "", missing_ok: bool = False,
        allow_destructive: bool = False, out: TextIO | None = None) -> None:
    """Run (or print) one step for the cluster file `cluster`, writing what it prints to `out` (default: the
    current sys.stdout, looked up now: in a notebook kernel that is the cell's output)."""
    out = out or sys.stdout
    model = load(cluster)
    chosen_nodes = deploy.node_set(nodes, model)
    try:
        chosen = deploy.find_step(model, step_id)
    except KeyError:
        if not missing_ok:
            raise
        # Notebooks are written for the example cluster; another cluster may lack a step (an external LB).
        out.write(f"# {step_id}\nnot part of the {model.name} runbook: nothing to do\n")
        return
    if dry_run:
        execute.dry_run([chosen], chosen_nodes, out)
        return
    deploy.refuse(model, [chosen], whole=False, allow_destructive=allow_destructive)
    # Every step that runs holds the lock: most write or push build/<cluster>/, and a check reading it while a
    # render replaces files could see half a re-issue.
    with render.build_lock(model) as notes:
        for note in notes:
            out.write(f"  note: {note}\n")
        missing = kube_binaries_missing(model) if chosen.needs_kube_binaries else ""
        if missing:
            execute.skip_step(chosen, missing, chosen_nodes, out)
        else:
            execute.run_step(chosen, chosen_nodes, out)


def failure_message(err: BaseException) -> str | None:
    """The one message an expected failure is reported with (by the CLI and in a notebook cell), or None for a
    failure that is a bug and deserves its traceback."""
    if isinstance(err, ClusterFileError):
        return f"invalid cluster file:\n{err}"
    if isinstance(err, execute.StepFailed):
        return f"FAILED: {err}"
    if isinstance(err, Reported):
        return str(err)
    if isinstance(err, RunbookError):
        return f"error: {err}"
    if isinstance(err, (KeyError, ValueError)):
        return f"error: {err.args[0] if err.args else err}"
    return None
