"""The lab every lab test after tests/test_lab.py shares: clusters/lab.yaml brought up and deployed once per
session (`deployed`), the helpers those tests read it with, and the figures they collect. The deploy tests
(tests/test_lab_deploy.py), the recovery drills (tests/test_lab_recovery.py) and the teardown
(tests/test_lab_teardown.py) run in that order, on the same lab.

Uses clusters/lab.yaml as it is (name lab, 10.88.0.0/24); tests/test_lab.py uses its own name and subnet
(labtest, 10.77.31.0/24). Traffic goes only to the lab's addresses. Figures and durations are printed (and asserted
to exist and to mean what they say), never timed against a bound.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from generator import catalog, lab
from generator.model import REPO, Cluster, load
from generator.steps import ssh_prefix

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the lab needs root (network namespaces, veths, mounts); CI runs as root"
)

CLUSTER = "lab"
RUNS = REPO / "runs" / CLUSTER
BUILD = REPO / "build" / CLUSTER
TIMINGS: dict[str, float] = {}
FIGURES: dict[str, float] = {}
ETCD_CLIENT_PORT = 2379  # etcd's registered client port
KUBECTL = [str(BUILD / "bin" / "kubectl"), "--kubeconfig", str(BUILD / "pki" / "admin.kubeconfig")]


def kubectl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The cluster's own kubectl as admin, through the API endpoint, from the workstation."""
    proc = subprocess.run([*KUBECTL, *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 or not check, proc.stdout + proc.stderr
    return proc


def invoke(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def timed(label: str, *args: str) -> subprocess.CompletedProcess[str]:
    start = time.monotonic()
    proc = invoke(*args)
    TIMINGS[label] = time.monotonic() - start
    return proc


def remote(cluster: Cluster, node, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`command` on a lab node, the way the runbook reaches nodes (the model's ssh prefix)."""
    return subprocess.run(f"{ssh_prefix(cluster, node)} {shlex.quote(command)}", shell=True, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def run_dirs() -> set[Path]:
    return {p.parent for p in RUNS.glob("*/summary.json")} if RUNS.exists() else set()


def newest_run(before: set[Path]) -> tuple[Path, dict]:
    made = sorted(run_dirs() - before)
    assert made, "the deploy left no run record with a summary.json"
    return made[-1], json.loads((made[-1] / "summary.json").read_text())


def run_output(run_dir: Path) -> str:
    """Every text output of every executed notebook of a run, in chapter order."""
    texts = []
    for path in sorted(run_dir.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        texts += [o.get("text", "") for c in notebook.cells for o in c.get("outputs", [])]
    return "".join(texts)


def runnable_steps(cluster: Cluster) -> dict[str, bool]:
    """Step id -> needs_kube_binaries, for every catalog step that has a command to run."""
    return {s.id: s.needs_kube_binaries for ch in catalog.chapters(cluster) for s in ch.steps
            if s.local or s.per_node}


def pki_snapshot() -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((BUILD / "pki").glob("*.pem"))}


def netns_pids(netns: str) -> list[int]:
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def processes_mentioning(text: str) -> list[str]:
    found = []
    for proc_dir in Path("/proc").iterdir():
        if proc_dir.name.isdigit() and int(proc_dir.name) != os.getpid():
            try:
                cmdline = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(f"{proc_dir.name}: {cmdline.strip()}")
    return found


class MemorySampler:
    """The lab's resident memory (every process in the nodes' namespaces), sampled each second; keeps the peak."""

    def __init__(self, the_lab: lab.Lab) -> None:
        self.the_lab, self.peak_mb = the_lab, 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def sample(self) -> float:
        kilobytes = 0
        for lab_node in self.the_lab.nodes:
            for pid in netns_pids(lab_node.netns):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
                kilobytes += int(match[1]) if match else 0
        return kilobytes / 1024

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.peak_mb = max(self.peak_mb, self.sample())

    def __enter__(self) -> MemorySampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


@dataclass
class Deployed:
    cluster: Cluster
    lab: lab.Lab
    proc: subprocess.CompletedProcess[str]
    run_dir: Path
    summary: dict
    runs_before: set[Path]


@pytest.fixture(scope="session")
def deployed():
    for tool in ("ip", "unshare", "ssh", "ssh-keygen", "systemd-nspawn", "haproxy", "keepalived"):
        assert shutil.which(tool) or Path("/usr/sbin", tool).exists(), f"{tool} missing: bash .ci/system-packages"
    cluster = load(CLUSTER)
    the_lab = lab.lab(cluster)
    if the_lab.state_file.exists():
        pytest.fail(f"a lab named {CLUSTER} is already up ({the_lab.state_file}); this test would take it over "
                    f"and tear it down: run `invoke lab-down --cluster {CLUSTER}` first")
    build_existed = BUILD.exists()
    runs_before = run_dirs()
    up = timed("lab-up", "lab-up", "--cluster", CLUSTER)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        before = run_dirs()
        with MemorySampler(the_lab) as memory:
            proc = timed("deploy (full)", "deploy", "--cluster", CLUSTER)
        FIGURES["lab peak memory (MB)"] = memory.peak_mb
        run_dir, summary = newest_run(before)
        yield Deployed(cluster, the_lab, proc, run_dir, summary, runs_before)
    finally:
        if the_lab.state_file.exists():  # the last test tears down and checks; this is the safety net
            invoke("lab-down", "--cluster", CLUSTER, timeout=120)
        for run_dir in run_dirs() - runs_before:
            shutil.rmtree(run_dir, ignore_errors=True)
        if RUNS.exists() and not any(RUNS.iterdir()):
            RUNS.rmdir()
        if not build_existed:
            shutil.rmtree(BUILD, ignore_errors=True)


def notebook_output(run_dir: Path, chapter: str) -> str:
    (path,) = run_dir.glob(f"*-{chapter}.ipynb")
    notebook = nbformat.read(path, as_version=4)
    return "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))


def failed_requests(run_dir: Path, chapter: str) -> str:
    """The request loop's report of what failed (time, HTTP status, curl's error), for an assertion's message."""
    lines = notebook_output(run_dir, chapter).splitlines()
    return "\n".join(line for line in lines if line.startswith("failed request at"))


def one(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"no line matching {pattern!r} in:\n{text[-3000:]}"
    return match


def chapter_run(label: str, *args: str) -> tuple[Path, dict[str, float]]:
    """Run a day-2 chapter through `invoke deploy`, which must pass; its run directory and figures (kept in FIGURES
    as `<figure> (<label>)`)."""
    runs = run_dirs()
    proc = timed(f"deploy: {label}", *args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir, summary = newest_run(runs)
    measured = {name: v for o in summary["steps"] for name, v in o["measured"].items()}
    FIGURES.update({f"{name} ({label})": v for name, v in measured.items()})
    return run_dir, measured


def etcdctl(cluster: Cluster, endpoints: list[str], *args: str, client_cert: str | None = "etcdctl") -> str:
    """etcdctl on a node with the node's own copies of the etcd CA (clusters/lab.yaml asks for separate CAs) and a
    client certificate (default: etcdctl's)."""
    pki = cluster.spec.paths.pki_dir
    bin_dir = cluster.spec.components.etcd.bin_dir or cluster.spec.paths.bin_dir
    argv = [f"{bin_dir}/etcdctl", f"--endpoints={','.join(endpoints)}", f"--cacert={pki}/etcd-ca.pem",
            "--dial-timeout=2s", "--command-timeout=4s"]
    if client_cert:
        argv += [f"--cert={pki}/{client_cert}.pem", f"--key={pki}/{client_cert}-key.pem"]
    return shlex.join([*argv, *args])


def secret_lines(the_lab: lab.Lab) -> set[str]:
    """What must never be in a run record, read from the 0600 files under build/lab/ (not the nodes' disks):
    the body lines of every private key, the client-key-data of every kubeconfig (and its decoded key's lines),
    and one-line secrets (the haproxy stats password, the encryption key; haproxy.cfg and the encryption
    config hold those same values)."""
    found: set[str] = set()

    def key_body(text: str) -> None:
        found.update(line for line in text.splitlines() if len(line) >= 16 and "-----" not in line)

    for path in BUILD.rglob("*"):
        if the_lab.nodes_base in path.parents or not path.is_file():
            continue
        if stat.S_IMODE(path.stat().st_mode) != 0o600:
            continue
        text = path.read_text(errors="replace")
        if "PRIVATE KEY-----" in text:
            key_body(text)
        elif "client-key-data:" in text:
            for value in re.findall(r"client-key-data:\s*(\S+)", text):
                found.add(value)
                key_body(base64.b64decode(value).decode())
        elif len(text.strip().splitlines()) == 1 and len(text.strip()) >= 12:
            found.add(text.strip())
    return found
