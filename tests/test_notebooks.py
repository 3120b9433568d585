"""Notebooks: committed copies equal the generator's, and a papermill dry run prints the page's commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

from tests.conftest import REPO, run_invoke, unreachable_cluster

NOTEBOOK = REPO / "notebooks" / "kube-scheduler.ipynb"


def test_committed_notebooks_match_the_generator() -> None:
    proc = run_invoke("notebooks", "--check")
    assert "match" in proc.stdout


def test_drift_is_detected_and_named() -> None:
    original = NOTEBOOK.read_bytes()
    try:
        nb = json.loads(original)
        nb["cells"][-1]["source"] = 'step("kube-scheduler.health")'
        NOTEBOOK.write_text(json.dumps(nb, indent=1))
        proc = run_invoke("notebooks", "--check", check=False)
    finally:
        NOTEBOOK.write_bytes(original)
    assert proc.returncode != 0
    assert "kube-scheduler.ipynb" in proc.stderr + proc.stdout


def test_parameters_cell_is_tagged_and_first_code_cell() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for name in ("cluster", "dry_run", "nodes"):
        assert f"{name} =" in code[0].source


def test_papermill_dry_run_prints_the_same_commands_as_deploy(tmp_path: Path) -> None:
    out = tmp_path / "kube-scheduler.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(out), parameters={"cluster": "example", "dry_run": True}, cwd=str(REPO),
        kernel_name="python3", progress_bar=False, shutdown_kernel="immediate",
    )
    executed = nbformat.read(out, as_version=4)
    printed = "".join(
        o.get("text", "") for c in executed.cells if c.cell_type == "code" and c.source.startswith("step(")
        for o in c.outputs if o.output_type == "stream"
    )
    expected = run_invoke("deploy", "--cluster", "example", "--chapter", "kube-scheduler", "--dry-run").stdout
    assert printed == expected
    assert "ssh kube@192.168.1.204" in printed


def test_a_bad_cluster_file_fails_the_first_step_cell_with_one_clear_message(tmp_path: Path) -> None:
    try:
        papermill.execute_notebook(
            str(NOTEBOOK), str(tmp_path / "out.ipynb"),
            parameters={"cluster": str(tmp_path / "missing-cluster.yaml"), "dry_run": True},
            cwd=str(REPO), kernel_name="python3", progress_bar=False, shutdown_kernel="immediate",
        )
    except papermill.PapermillExecutionError as err:
        assert "missing-cluster.yaml" in str(err) and "cannot read the cluster file" in str(err)
        assert "Traceback" not in str(err)
    else:
        raise AssertionError("a failing step did not stop the notebook")
    output = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in output.cells for o in c.get("outputs", []))
    assert "missing-cluster.yaml" in printed and "cannot read the cluster file" in printed
    (failed,) = [c for c in output.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert failed.source == 'step("kube-scheduler.cert")'
    (error,) = [o for o in failed.outputs if o.output_type == "error"]
    assert error.traceback == error.evalue.splitlines()  # the message alone, no frames
    assert error.evalue.splitlines()[0] == "invalid cluster file:"
    assert len(error.evalue.splitlines()) == 2


def test_a_step_another_cluster_lacks_is_reported_not_failed(tmp_path: Path) -> None:
    spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    spec.update(name="external-lb", load_balancer={"kind": "external"},
                api_server={"external_address": "lb.example.internal", "port": 6443})
    path = tmp_path / "external-lb.yaml"
    path.write_text(yaml.safe_dump(spec))
    proc = run_invoke("step", "--cluster", str(path), "--step", "load-balancer.install", "--dry-run",
                      "--missing-ok")
    assert "not part of the external-lb runbook" in proc.stdout
    strict = run_invoke("step", "--cluster", str(path), "--step", "load-balancer.install", "--dry-run", check=False)
    assert strict.returncode == 1 and "no step 'load-balancer.install'" in strict.stderr


# --------------------------------------------------------------------------------------------------------------------
# One notebook per chapter that reads true for whichever cluster it runs for


def variant(tmp_path: Path, name: str = "prod5", masters: int = 5, release: str = "1.31.2") -> Path:
    spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    spec.update(name=name, kubernetes_version=release,
                nodes=[{"name": f"p5-master-{i}", "ip": f"10.5.0.{10 + i}"} for i in range(masters)],
                api_server={"vip": "10.5.0.100", "port": 9443})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_notebook_cells_hold_nothing_of_a_particular_cluster(tmp_path: Path) -> None:
    from generator import catalog, notebooks
    from generator.model import load

    example = {ch.id: nbformat.writes(notebooks.chapter_notebook(ch)) for ch in catalog.chapters(load("example"))}
    other = {ch.id: nbformat.writes(notebooks.chapter_notebook(ch))
             for ch in catalog.chapters(load(str(variant(tmp_path))))}
    assert example == other
    for text in example.values():
        assert "1.30.4" not in text and "192.168.1." not in text and "build/example" not in text


def markdown_shown(executed: nbformat.NotebookNode) -> str:
    return "\n".join(o["data"]["text/markdown"] for c in executed.cells if c.cell_type == "code"
                     for o in c.outputs if o.output_type == "display_data" and "text/markdown" in o.get("data", {}))


def test_a_notebook_describes_the_cluster_it_runs_for(tmp_path: Path) -> None:
    cluster = variant(tmp_path)
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(out), parameters={"cluster": str(cluster), "dry_run": True}, cwd=str(REPO),
        kernel_name="python3", progress_bar=False, shutdown_kernel="immediate",
    )
    executed = nbformat.read(out, as_version=4)
    shown = markdown_shown(executed)
    assert "共 5 个" in shown and "(5 instances)" in shown and "1.31.2" in shown
    assert "https://10.5.0.100:9443" in shown
    everything = json.dumps(executed.cells, ensure_ascii=False)
    for other in ("1.30.4", "192.168.1.210:8443", "build/example", "(3 instances)"):
        assert other not in everything, other


def test_the_pages_notebook_command_works_on_a_fresh_clone(tmp_path: Path) -> None:
    from generator import catalog
    from generator.model import load
    from generator.render import make_artifacts
    from generator.site.chapter import chapter_page, notebook_command

    model = load("example")
    chapter = next(ch for ch in catalog.chapters(model) if ch.id == "kube-scheduler")
    command = notebook_command(chapter, model)
    artifacts = {a.path: a for a in make_artifacts(model)[0]}
    # The page shows it in a tip, whose indentation its continued lines take: compared without it.
    page = "\n".join(line.strip() for line in chapter_page(chapter, artifacts, model, "en").split("\n"))
    assert "\n".join(line.strip() for line in command.split("\n")) in page
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
    assert not (clone / "runs").exists()
    env = dict(os.environ, PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]))
    proc = subprocess.run(["bash", "-c", command], cwd=clone, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    words = command.split()
    written = clone / words[words.index("papermill") + 2]  # papermill INPUT OUTPUT ...
    executed = nbformat.read(written, as_version=4)
    assert "ssh kube@192.168.1.204" in json.dumps(executed.cells)


def test_cell_by_cell_through_a_real_jupyter_kernel() -> None:
    """As JupyterLab runs it: one kernel, each cell executed in turn, each one's output looked at before the next."""
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(REPO)}})
    steps = 0
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
            if cell.cell_type != "code":
                continue
            text = "".join(o.get("text", "") for o in cell.outputs)
            shown = "".join(o.get("data", {}).get("text/markdown", "") for o in cell.outputs)
            assert not [o for o in cell.outputs if o.output_type == "error"], cell.source
            if cell.id == "setup":
                assert "example" in shown and "1.30.4" in shown
            elif cell.source.startswith("step("):
                step_id = cell.source.split('"')[1]
                assert text.startswith(f"# {step_id}"), (step_id, text[:200])
                assert shown, f"{step_id}: no explanation shown"
                steps += 1
    assert steps == len([c for c in nb.cells if c.source.startswith("step(")]) > 5


# --------------------------------------------------------------------------------------------------------------------
# A cell runs its step in the kernel, through the function `invoke step` runs


# Imported by nothing a step cell runs: each of these, if anything in the kernel (or a process it starts, such as
# `python -m invoke step`) imports it, records who did and fails.
NOT_FOR_STEPS = ("invoke", "nbformat", "jsonschema", "papermill")
RECORDING_STUB = """import os, sys
with open({record!r}, "a") as record:
    record.write(f"{{__name__}} imported by pid {{os.getpid()}}: {{' '.join(sys.argv)}}\\n")
raise ImportError("not for a notebook step: " + __name__)
"""


def test_a_dry_run_cell_prints_what_invoke_step_prints_without_leaving_the_kernel(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    step_ids = [c.source.split('"')[1] for c in nbformat.read(NOTEBOOK, as_version=4).cells
                if c.source.startswith("step(")]
    expected = {s: run_invoke("step", "--cluster", "example", "--step", s, "--dry-run", "--missing-ok").stdout
                for s in step_ids}
    record = tmp_path / "imports.log"
    stubs = tmp_path / "stubs"
    for name in NOT_FOR_STEPS:
        (stubs / name).mkdir(parents=True)
        (stubs / name / "__init__.py").write_text(RECORDING_STUB.format(record=str(record)))
    # Ahead of the venv's packages for the kernel and everything it starts; this process has its imports already.
    monkeypatch.setenv("PYTHONPATH", str(stubs))
    out = tmp_path / "out.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK), str(out), parameters={"cluster": "example", "dry_run": True}, cwd=str(REPO),
        kernel_name="python3", progress_bar=False, shutdown_kernel="immediate",
    )
    assert not record.exists(), record.read_text()
    executed = nbformat.read(out, as_version=4)
    printed = {c.source.split('"')[1]: "".join(o.get("text", "") for o in c.outputs if o.output_type == "stream")
               for c in executed.cells if c.source.startswith("step(")}
    assert printed == expected
    assert len(step_ids) > 5 and all(expected.values())


def test_the_stubs_catch_a_step_run_through_invoke(tmp_path: Path) -> None:
    """The check above could fail: a kernel that starts `python -m invoke step` meets the stub and it is recorded."""
    record = tmp_path / "imports.log"
    stubs = tmp_path / "stubs" / "invoke"
    stubs.mkdir(parents=True)
    (stubs / "__init__.py").write_text(RECORDING_STUB.format(record=str(record)))
    env = dict(os.environ, PYTHONPATH=str(stubs.parent))
    proc = subprocess.run([sys.executable, "-m", "invoke", "step", "--step", "kube-scheduler.cert", "--dry-run"],
                          cwd=REPO, env=env, capture_output=True, text=True)
    assert proc.returncode != 0
    assert "invoke imported by pid" in record.read_text()


def test_a_failing_step_fails_its_cell_with_the_message_of_invoke_step(tmp_path: Path) -> None:
    """A real failure (ssh refused on loopback), run cell by cell in one kernel: the cell shows the step's output, then
    the very message `invoke step` ends with, no traceback; the cluster's lock is free again while the kernel lives."""
    from filelock import FileLock
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    name = "kernel-failure-test"
    cluster = unreachable_cluster(tmp_path, name)
    failing = "kube-scheduler.distribute"
    try:
        cli = run_invoke("step", "--cluster", str(cluster), "--step", failing, check=False)
        assert cli.returncode == 1 and cli.stderr.startswith(f"FAILED: step {failing} failed on lo-"), cli.stderr
        nb = nbformat.read(NOTEBOOK, as_version=4)
        nb.cells[1].source += f"\ncluster = {str(cluster)!r}\ndry_run = False\nstart_at = {failing!r}"
        client = NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(REPO)}})
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError:
                    break
            else:
                raise AssertionError(f"{failing} did not fail its cell")
            assert cell.source == f'step("{failing}")'
            kinds = [o.output_type for o in cell.outputs]
            assert kinds[-1] == "error" and "stream" in kinds
            error = cell.outputs[-1]
            # The same message but for the failed command's own output, which differs from run to run (tar may or
            # may not report the broken pipe before ssh exits): step, node and command, then the exit status.
            expected = cli.stderr.rstrip("\n")
            assert error.evalue.split("\noutput:\n")[0] == expected.split("\noutput:\n")[0]
            assert error.evalue.splitlines()[-1] == expected.splitlines()[-1]
            assert error.traceback == error.evalue.splitlines()
            shown = "".join(o.get("text", "") for o in cell.outputs)
            assert f"# {failing} @ lo-1" in shown
            lock = FileLock(REPO / "build" / name / "cluster.lock")
            lock.acquire(blocking=False)  # raises Timeout if the kernel still held it
            lock.release()
    finally:
        shutil.rmtree(REPO / "build" / name, ignore_errors=True)


def test_a_run_records_overhead_counts_parallel_nodes_once() -> None:
    """Per chapter of the lab's run record, its steps took less than its notebook's wall time; summing the seconds of
    nodes that ran side by side would not (etcd's, the API servers' steps run on three masters at once)."""
    from generator.notebook_bench import deploy_overhead

    (run_dir,) = sorted((REPO / "tests" / "fixtures" / "runs" / "lab").glob("*/"))[-1:]
    result = deploy_overhead(run_dir)
    chapters = {k: v for k, v in result.items() if k not in ("total", "deploy")}
    assert len(chapters) == len(list(run_dir.glob("*.ipynb"))) > 5
    for name, figures in chapters.items():
        assert figures["steps_s"] < figures["wall_s"], name
        assert figures["steps_s"] > 0 or name.endswith("troubleshooting"), name
    assert result["total"]["overhead_s"] == pytest.approx(sum(f["overhead_s"] for f in chapters.values()))
    # the whole deploy holds every notebook, and the time between them
    assert result["total"]["wall_s"] < result["deploy"]["wall_s"]
    assert result["deploy"]["steps_s"] == pytest.approx(result["total"]["steps_s"])
