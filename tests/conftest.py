"""Shared fixtures: the repository root and a rendered copy of the example cluster in a temp build dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
INVOKE = [sys.executable, "-m", "invoke"]
FIXTURE_RUNS = REPO / "tests" / "fixtures" / "runs"
# The venv's bin first, as the runbook executor does: `invoke`, and the real kubectl that .ci/real-kubectl links
# there when the image's kubectl is a dispatcher that would contact the kubeconfig's server.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])


def run_invoke(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    proc = subprocess.run([*INVOKE, *args], cwd=REPO, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"invoke {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def example_build() -> Path:
    """build/example/, rendered by the real task."""
    run_invoke("render", "--cluster", "example")
    return REPO / "build" / "example"


@pytest.fixture(scope="session")
def built_site() -> Path:
    """site/, built once per test session by the real `invoke build-docs` (mkdocs build --strict), with a real
    run record of the lab (tests/fixtures/runs/lab/: 135 steps passed, failover figures) as the lab's last run."""
    run_invoke("build-docs", "--runs-dir", str(FIXTURE_RUNS))
    return REPO / "site"
