"""Shared fixtures: the repository root and a rendered copy of the example cluster in a temp build dir."""

from __future__ import annotations

import hashlib
import os
import stat
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


def cluster_file(directory: Path, name: str, extra: str = "") -> Path:
    """clusters/example.yaml renamed `name` (plus `extra` YAML appended), written as <directory>/<name>.yaml."""
    text = (REPO / "clusters" / "example.yaml").read_text(encoding="utf-8").replace("name: example", f"name: {name}")
    path = directory / f"{name}.yaml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def certificates(build: Path) -> list[Path]:
    """Every leaf certificate file under build/<cluster>/pki (not the CA, not service-account.pem, a public key)."""
    return sorted(p for p in (build / "pki").glob("*.pem")
                  if p.name != "ca.pem" and p.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----"))


def assert_certificates_verify(build: Path) -> None:
    """openssl: every leaf verifies against pki/ca.pem, and ca.pem is the certificate of ca-key.pem."""
    leaves = certificates(build)
    assert leaves, f"no certificates under {build}/pki"
    ca = str(build / "pki" / "ca.pem")
    proc = subprocess.run(["openssl", "verify", "-CAfile", ca, *map(str, leaves)], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.count(": OK\n") == len(leaves), proc.stdout + proc.stderr
    pub = [subprocess.run(argv, capture_output=True, text=True, check=True).stdout for argv in (
        ["openssl", "x509", "-in", ca, "-noout", "-pubkey"],
        ["openssl", "pkey", "-in", str(build / "pki" / "ca-key.pem"), "-pubout"])]
    assert pub[0] == pub[1], "ca.pem does not belong to ca-key.pem"


def tree_digest(*roots: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry under the roots: sha256 of its content and mtime, or "dir" for a directory (whose mtime changes
    when a temp file comes and goes), and its mode. A lab's node disks (build/<lab>/nodes-root/) are left out."""
    entries = {}
    for root in roots:
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if "nodes-root" in path.parts:  # a running lab's node disks: its daemons write there all the time
                continue
            st = path.lstat()
            if path.is_symlink():  # e.g. a lab node's unit links, which point inside the node, not here
                entries[str(path)] = (f"-> {os.readlink(path)}", st.st_mode, st.st_mtime_ns)
            elif path.is_dir():
                entries[str(path)] = ("dir", st.st_mode, 0)
            elif not stat.S_ISREG(st.st_mode):  # overlayfs whiteouts (character devices) in a lab's work dirs
                entries[str(path)] = ("special", st.st_mode, st.st_mtime_ns)
            else:
                entries[str(path)] = (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode, st.st_mtime_ns)
    return entries
