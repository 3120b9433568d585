"""The shared lab's last test: `invoke lab-down` leaves nothing behind, and no run record holds a key (after every
other lab test: pytest runs this module after tests/test_lab_deploy.py and tests/test_lab_recovery.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from generator import lab
from generator.model import REPO
from tests.lab_support import (
    BUILD,
    CLUSTER,
    FIGURES,
    TIMINGS,
    Deployed,
    needs_root,
    netns_pids,
    processes_mentioning,
    run_dirs,
    secret_lines,
    timed,
)

pytestmark = needs_root


def test_the_run_records_hold_no_private_key_material(deployed: Deployed) -> None:
    secrets = secret_lines(deployed.lab)
    # the collection itself works: admin's key, its kubeconfig's key and the stats password are in it
    admin_key = (BUILD / "pki" / "admin-key.pem").read_text().splitlines()[1]
    password = (BUILD / "pki" / "haproxy-stats-password").read_text().strip()
    assert admin_key in secrets and password in secrets and len(secrets) > 50, len(secrets)
    files = [p for p in (REPO / "runs").rglob("*") if p.is_file()]
    assert any(p.parent in run_dirs() - deployed.runs_before for p in files)
    for path in files:
        text = path.read_text(errors="replace")
        assert "PRIVATE KEY" not in text, path
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path} holds secret material (first 12 chars: {[s[:12] for s in leaked]})"


def test_lab_down_leaves_nothing(deployed: Deployed, capsys) -> None:
    the_lab = deployed.lab
    state = lab.load_state(the_lab)
    recorded = [(e["supervisor_pid"], e["supervisor_start"]) for e in state["nodes"].values()]
    inside = [(pid, lab.start_time(pid)) for n in the_lab.nodes for pid in netns_pids(n.netns)]
    names = {Path(f"/proc/{pid}/comm").read_text().strip() for pid, started in inside if lab.alive(pid, started)}
    # /proc/PID/comm keeps 15 characters: kube-controller-manager shows as kube-controller
    assert {"systemd", "sshd", "etcd", "haproxy", "keepalived", "kube-apiserver", "kube-controller",
            "kube-scheduler"} <= names, names
    down = timed("lab-down", "lab-down", "--cluster", CLUSTER)
    assert down.returncode == 0, down.stdout + down.stderr
    assert not [p for p, s in recorded + inside if lab.alive(p, s)], "lab processes survived lab-down"
    assert not processes_mentioning(f"build/{CLUSTER}/ssh/cm-"), "an ssh connection master survived"
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    for lab_node in the_lab.nodes:
        assert lab_node.netns not in netns
        assert f"{lab_node.host_veth}@" not in links and f"{lab_node.host_veth}:" not in links
    assert f" {the_lab.bridge}:" not in links
    mounts = Path("/proc/mounts").read_text()
    assert str(the_lab.dir) not in mounts and str(the_lab.nodes_base) not in mounts
    assert not lab.lab_mounts(the_lab)
    assert not the_lab.nodes_base.exists() and not the_lab.state_file.exists()
    assert not the_lab.key.exists(), "lab-down removes the lab's ssh key"
    with capsys.disabled():
        # figures are seconds unless their key says what they count (requests, restarts, MB)
        print("\nlab deploy figures: " + ", ".join(
            f"{k} {v:.3f} s" if "_seconds" in k else f"{k} {v:g}" for k, v in FIGURES.items()))
        print("lab deploy timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in TIMINGS.items()))
