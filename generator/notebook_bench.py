"""What a chapter's notebook costs beyond its steps: a papermill dry run against the same steps run in one process,
and, from a deploy's run record, each chapter's wall time against the time its steps' commands took."""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from generator.model import REPO
from generator.notebooks import NOTEBOOKS

# One fresh Python process that runs every step given on its command line, as `invoke step --dry-run --missing-ok`
# would, one after another: interpreter start and imports included, since a chapter run any other way pays them too.
STEPS_IN_ONE_PROCESS = """
import sys
from generator.single_step import run
for step_id in sys.argv[2:]:
    run(sys.argv[1], step_id, dry_run=True, missing_ok=True)
"""


def notebook_step_ids(chapter_id: str) -> list[str]:
    """The step ids a chapter's notebook runs, in cell order."""
    cells = json.loads((NOTEBOOKS / f"{chapter_id}.ipynb").read_text(encoding="utf-8"))["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    return [s.split('"')[1] for s in sources if s.startswith("step(")]


def figures(name: str, seconds: list[float]) -> dict[str, float]:
    return {f"{name}_min_s": min(seconds), f"{name}_median_s": statistics.median(seconds)}


def notebook_vs_steps(chapter_id: str = "kube-scheduler", cluster: str = "example",
                      repeats: int = 3) -> dict[str, float | int | str]:
    """Wall time of a papermill dry run of notebooks/<chapter>.ipynb against one new process running the same steps,
    `repeats` of each, min and median. The notebook runs twice per repeat: in a new kernel (a reader's papermill
    command) and in a kernel that already ran a chapter, saved once at its end (what `invoke deploy` pays for every
    chapter after the first: generator/runs.py)."""
    import papermill

    from generator.runs import local_kernel

    step_ids = notebook_step_ids(chapter_id)
    source = str(NOTEBOOKS / f"{chapter_id}.ipynb")
    options = {"parameters": {"cluster": cluster, "dry_run": True}, "cwd": str(REPO), "kernel_name": "python3",
               "progress_bar": False, "log_output": False}
    fresh, warm, steps = [], [], []
    with tempfile.TemporaryDirectory(prefix="runbook-notebook-bench-") as tmp:
        kernel = local_kernel(tmp)
        try:
            papermill.execute_notebook(source, str(Path(tmp) / "warm-up.ipynb"), km=kernel, **options)
            for _ in range(repeats):
                start = time.perf_counter()
                papermill.execute_notebook(source, str(Path(tmp) / "out.ipynb"), **options)
                fresh.append(time.perf_counter() - start)
                start = time.perf_counter()
                papermill.execute_notebook(source, str(Path(tmp) / "out.ipynb"), km=kernel,
                                           request_save_on_cell_execute=False, **options)
                warm.append(time.perf_counter() - start)
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", STEPS_IN_ONE_PROCESS, cluster, *step_ids], cwd=REPO,
                               check=True, stdout=subprocess.DEVNULL)
                steps.append(time.perf_counter() - start)
        finally:
            if kernel.has_kernel:
                kernel.shutdown_kernel(now=True)
    result: dict[str, float | int | str] = {"chapter": chapter_id, "steps": len(step_ids), "repeats": repeats}
    result.update(figures("notebook", fresh))
    result.update(figures("notebook_deploy_kernel", warm))
    result.update(figures("steps_one_process", steps))
    result["notebook_over_steps"] = statistics.median(fresh) / statistics.median(steps)
    result["notebook_deploy_kernel_over_steps"] = statistics.median(warm) / statistics.median(steps)
    return result


def span(outcomes: list[dict]) -> float:
    """Seconds from the first group's start to the last one's end: a step's nodes run in parallel (or one after
    another for a serial step), so the sum of their seconds would overstate the wall time."""
    starts = [dt.datetime.fromisoformat(o["started"]).timestamp() for o in outcomes]
    ends = [s + o["seconds"] for s, o in zip(starts, outcomes, strict=True)]
    return max(ends) - min(starts)


def deploy_overhead(run_dir: Path) -> dict[str, dict[str, float]]:
    """Per chapter of a run record (runs/<cluster>/<time>/): the notebook's wall time (papermill's metadata), the
    time its steps took (each step's span over its nodes, summed), and what is left: kernel, imports, cell set-up."""
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    by_step: dict[str, list[dict]] = {}
    for outcome in summary["steps"]:
        by_step.setdefault(outcome["step"], []).append(outcome)
    result: dict[str, dict[str, float]] = {}
    for path in sorted(run_dir.glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
        ids = [s.split('"')[1] for s in cells if s.startswith("step(")]
        steps_s = sum(span(by_step[i]) for i in ids if i in by_step)
        wall = float(nb["metadata"]["papermill"]["duration"])
        result[path.stem] = {"wall_s": wall, "steps_s": steps_s, "overhead_s": wall - steps_s,
                             "overhead_share": (wall - steps_s) / wall if wall else 0.0}
    started, finished = (dt.datetime.fromisoformat(summary[k]).timestamp() for k in ("started", "finished"))
    steps_total = sum(r["steps_s"] for r in result.values())
    # the whole deploy, from its start to its summary: kernel, notebooks, redaction, the run record's writing
    whole = {"wall_s": finished - started, "steps_s": steps_total, "overhead_s": finished - started - steps_total,
             "overhead_share": (finished - started - steps_total) / (finished - started)}
    total_wall = sum(r["wall_s"] for r in result.values())
    total_steps = sum(r["steps_s"] for r in result.values())
    result["total"] = {"wall_s": total_wall, "steps_s": total_steps, "overhead_s": total_wall - total_steps,
                       "overhead_share": (total_wall - total_steps) / total_wall if total_wall else 0.0}
    result["deploy"] = whole
    return result
