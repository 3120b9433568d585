"""Notebooks: committed copies equal the generator's, and a papermill dry run prints the page's commands."""

from __future__ import annotations

import json
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
