"""Notebooks: committed copies equal the generator's, and a papermill dry run prints the page's commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import yaml

from tests.conftest import REPO, run_invoke

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


def test_a_failing_step_fails_the_notebook(tmp_path: Path) -> None:
    try:
        papermill.execute_notebook(
            str(NOTEBOOK), str(tmp_path / "out.ipynb"),
            parameters={"cluster": str(tmp_path / "missing-cluster.yaml"), "dry_run": True},
            cwd=str(REPO), kernel_name="python3", progress_bar=False, shutdown_kernel="immediate",
        )
    except papermill.PapermillExecutionError as err:
        assert "kube-scheduler.cert" in str(err)
    else:
        raise AssertionError("a failing step did not stop the notebook")
    output = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in output.cells for o in c.get("outputs", []))
    assert "missing-cluster.yaml" in printed and "cannot read the cluster file" in printed


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
    assert command in chapter_page(chapter, artifacts, model, "en")
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
