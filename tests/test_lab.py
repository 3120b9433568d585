"""The lab for real: namespaces, sshd, private mounts, the systemctl stand-in, and a clean teardown (root).

Uses its own cluster name and subnet (labtest, 10.77.31.0/24) so a developer's `lab` can stay up.
Traffic goes only to the addresses this test's lab creates.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest
import yaml

from generator import kubebuild, lab
from generator.model import REPO, load
from generator.steps import ssh_prefix

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="the lab needs root (network namespaces, veths, mounts); CI runs as root"
)

NAME = "labtest"
NET = "10.77.31"
TIMINGS: dict[str, float] = {}


def invoke(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def remote(cluster, node, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `command` on a lab node exactly the way the runbook's commands do (ssh prefix from the model)."""
    return subprocess.run(f"{ssh_prefix(cluster, node)} {shlex.quote(command)}", shell=True, cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def state_pids(state: dict) -> list[tuple[int, int]]:
    return [(e[f"{k}_pid"], e[f"{k}_start"]) for e in state["nodes"].values() for k in ("init", "unshare")]


def lab_cluster_file(directory: Path, **prerequisites: str) -> Path:
    """clusters/lab.yaml renamed to labtest, on its own subnet, with its paths under build/labtest/."""
    data = yaml.safe_load((REPO / "clusters" / "lab.yaml").read_text())
    data["name"] = NAME
    for i, node in enumerate(data["nodes"]):
        node["ip"] = f"{NET}.{21 + i}"
    data["api_server"]["vip"] = f"{NET}.200"
    data["ssh"]["options"] = [o.replace("build/lab/", f"build/{NAME}/") for o in data["ssh"]["options"]]
    for key in ("etcd_tarball", "server_tarball"):
        data["prerequisites"][key] = data["prerequisites"][key].replace("build/lab/", f"build/{NAME}/")
    data["prerequisites"].update(prerequisites)
    path = directory / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_kube_bin_dir_is_packed_like_the_server_tarball(tmp_path):
    """--kube-bin-dir: the lab packs kubernetes/server/bin/... for prerequisites.server_tarball (no root needed).

    The "binaries" here are labelled stand-ins (shell scripts): the test is about the tarball's layout.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"):
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n# stand-in {name} for a packing test\necho Kubernetes v1.30.4\n")
        script.chmod(0o755)
    target = tmp_path / "out" / "kubernetes-server-linux-amd64.tar.gz"
    cluster = load(str(lab_cluster_file(tmp_path, server_tarball=str(target))))
    state: dict = {}
    said: list[str] = []
    lab.server_tarball(lab.lab(cluster), str(bin_dir), state, said.append)
    assert state["kube_binaries"] is True
    with tarfile.open(target) as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        assert sorted(members) == [f"kubernetes/server/bin/{b}" for b in
                                   ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")]
        assert all(m.mode & 0o111 for m in members.values())
        tar.extractall(tmp_path / "x", filter="data")
    out = subprocess.run([str(tmp_path / "x/kubernetes/server/bin/kube-apiserver"), "--version"],
                         capture_output=True, text=True).stdout
    assert out.strip() == "Kubernetes v1.30.4"
    # Same sources again: not re-packed.
    lab.server_tarball(lab.lab(cluster), str(bin_dir), state, said.append)
    assert "unchanged" in said[-1]
    (bin_dir / "kube-scheduler").unlink()
    with pytest.raises(lab.LabError, match="kube-scheduler"):
        lab.server_tarball(lab.lab(cluster), str(bin_dir), state, said.append)


@pytest.fixture(scope="module")
def labtest(tmp_path_factory):
    for tool in ("ip", "unshare", "ssh", "ssh-keygen", "etcd", "etcdctl"):
        assert shutil.which(tool), f"{tool} missing: run `bash .ci/system-packages`"
    assert Path("/usr/sbin/sshd").exists(), "openssh-server missing: run `bash .ci/system-packages`"
    path = lab_cluster_file(tmp_path_factory.mktemp("lab"))
    cluster = load(str(path))
    start = time.monotonic()
    up = invoke("lab-up", "--cluster", str(path))
    TIMINGS["lab-up (first)"] = time.monotonic() - start
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield cluster, path, up.stdout
    finally:
        invoke("lab-down", "--cluster", str(path))
        shutil.rmtree(REPO / "build" / NAME, ignore_errors=True)


@needs_root
def test_ssh_as_the_runbook_reaches_each_node_by_name(labtest):
    cluster, _, _ = labtest
    for node in cluster.spec.nodes:
        start = time.monotonic()
        proc = remote(cluster, node, "hostname")
        TIMINGS[f"ssh {node.name} hostname"] = time.monotonic() - start
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == node.name


@needs_root
def test_scp_works_too(labtest, tmp_path):
    cluster, _, _ = labtest
    node = cluster.spec.nodes[1]
    local = tmp_path / "payload.txt"
    token = uuid.uuid4().hex
    local.write_text(token)
    options = [a for o in cluster.spec.ssh.options for a in ("-o", o)]
    copied = subprocess.run(["scp", *options, str(local), f"root@{node.ip}:/etc/kubernetes-scp-probe"], cwd=REPO,
                            capture_output=True, text=True, timeout=30)
    assert copied.returncode == 0, copied.stderr
    assert remote(cluster, node, "cat /etc/kubernetes-scp-probe").stdout == token
    assert not Path("/etc/kubernetes-scp-probe").exists()


@needs_root
def test_node_directories_are_private(labtest):
    cluster, _, _ = labtest
    first, second = cluster.spec.nodes[0], cluster.spec.nodes[1]
    paths = cluster.spec.paths
    token = f"lab-probe-{uuid.uuid4().hex}"
    dirs = [paths.config_dir, paths.bin_dir, paths.etcd_data_dir, paths.systemd_dir, "/etc/haproxy",
            "/etc/keepalived", "/root", "/var/log", "/run", "/tmp"]
    files = [f"{d}/{token}" for d in dirs]
    wrote = remote(cluster, first, " && ".join(f"mkdir -p {d} && echo {first.name} > {d}/{token}" for d in dirs)
                   + f" && cat {files[0]}")
    assert wrote.returncode == 0, wrote.stderr
    assert wrote.stdout.strip() == first.name
    seen = remote(cluster, second, " ".join(["ls", "-d", *files, "2>&1;", "true"]))
    for f in files:
        assert f"cannot access '{f}'" in seen.stdout, f"{f} written on {first.name} is visible on {second.name}"
    for f in files:
        assert not Path(f).exists(), f"{f} written on {first.name} is visible on the workstation"
    # What a node writes under /etc lands in its overlay's upper layer, where it can be inspected.
    inspected = lab.upper_path(lab.lab(cluster).nodes[0], f"{paths.config_dir}/{token}")
    assert inspected.read_text().strip() == first.name


@needs_root
def test_each_node_sees_only_its_own_processes(labtest, tmp_path):
    cluster, _, _ = labtest
    node = cluster.spec.nodes[0]
    proc = remote(cluster, node, "ps -e -o pid=,comm=")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(None, 1) for line in proc.stdout.strip().splitlines()]
    assert rows[0] == ["1", "sshd"], rows
    assert len(rows) < 15, rows
    # killall -0 (seed 004's keepalived track script) must not find a process of the workstation: one with a name
    # no node runs (the nodes run python3 themselves: the lab's Restart= emulation).
    mine = f"wsprobe{os.getpid()}"[:15]
    probe = tmp_path / mine
    shutil.copy("/bin/sleep", probe)
    sleeper = subprocess.Popen([str(probe), "60"])
    try:
        assert subprocess.run(["killall", "-0", mine], capture_output=True).returncode == 0
        looked = remote(cluster, node, f"killall -0 {mine}; echo rc=$?")
        assert "rc=1" in looked.stdout, looked.stdout + looked.stderr
    finally:
        sleeper.kill()
        sleeper.wait()


@needs_root
def test_systemctl_standin_runs_a_pushed_unit_on_one_node_only(labtest):
    cluster, _, _ = labtest
    first, second = cluster.spec.nodes[0], cluster.spec.nodes[2]
    unit = "[Unit]\nDescription=lab probe\n[Service]\nExecStart=/bin/sleep 600\n[Install]\nWantedBy=multi-user.target\n"
    path = f"{cluster.spec.paths.systemd_dir}/labprobe.service"
    pushed = subprocess.run(f"{ssh_prefix(cluster, first)} {shlex.quote(f'cat > {path}')}", shell=True, cwd=REPO,
                            input=unit, capture_output=True, text=True, timeout=30)
    assert pushed.returncode == 0, pushed.stderr
    version = remote(cluster, first, "systemctl --version")
    assert "systemctl.py" in version.stdout, "inside a lab node systemctl is docker-systemctl-replacement"
    started = remote(cluster, first, "systemctl daemon-reload >/dev/null 2>&1; systemctl start labprobe; "
                                     "systemctl is-active labprobe; ps -e -o comm=")
    assert started.stdout.splitlines()[0] == "active", started.stdout + started.stderr
    assert "sleep" in started.stdout.split()
    other = remote(cluster, second, "systemctl is-active labprobe; ps -e -o comm=")
    assert "active" not in other.stdout.splitlines()[0:1] and "sleep" not in other.stdout.split()
    stopped = remote(cluster, first, "systemctl stop labprobe; systemctl is-active labprobe; ps -e -o comm=")
    assert stopped.stdout.splitlines()[0] == "inactive", stopped.stdout
    assert "sleep" not in stopped.stdout.split()


@needs_root
def test_keepalived_drop_in_is_lab_only(labtest):
    cluster, _, _ = labtest
    node = cluster.spec.nodes[0]
    drop_in = f"{cluster.spec.paths.systemd_dir}/keepalived.service.d/10-lab-type-simple.conf"
    shown = remote(cluster, node, f"cat {drop_in}")
    assert shown.returncode == 0, shown.stderr
    assert "LAB ONLY" in shown.stdout and re.search(r"^Type=simple$", shown.stdout, re.MULTILINE)
    assert not Path(drop_in).exists(), "the drop-in must exist inside lab nodes only"


@needs_root
def test_nodes_have_no_route_out(labtest):
    cluster, _, _ = labtest
    the_lab = lab.lab(cluster)
    for lab_node in the_lab.nodes:
        routes = subprocess.run(["ip", "netns", "exec", lab_node.netns, "ip", "-4", "route"], capture_output=True,
                                text=True, check=True).stdout
        assert "default" not in routes
        assert routes.split()[0] == f"{NET}.0/24", routes
        # A route lookup (no packet is sent) for an address outside the lab fails.
        lookup = subprocess.run(["ip", "netns", "exec", lab_node.netns, "ip", "route", "get", "192.0.2.55"],
                                capture_output=True, text=True)
        assert lookup.returncode != 0 and "unreachable" in lookup.stderr.lower(), lookup.stdout + lookup.stderr
        addrs = subprocess.run(["ip", "netns", "exec", lab_node.netns, "ip", "-o", "-4", "addr"],
                               capture_output=True, text=True, check=True).stdout
        found = sorted(re.findall(r"inet (\S+)", addrs))
        assert found == sorted(["127.0.0.1/8", f"{lab_node.node.ip}/24"])


@needs_root
def test_etcd_tarball_has_the_upstream_layout_and_debian_etcd(labtest, tmp_path):
    cluster, _, _ = labtest
    expected = re.search(r"etcd Version: (\S+)", subprocess.run(["/usr/bin/etcd", "--version"], capture_output=True,
                                                                  text=True).stdout)[1]
    tarball = REPO / cluster.spec.prerequisites.etcd_tarball
    assert tarball.name == f"etcd-v{expected}-linux-amd64.tar.gz"
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
        assert f"etcd-v{expected}-linux-amd64/etcd" in names
        assert f"etcd-v{expected}-linux-amd64/etcdctl" in names
        tar.extractall(tmp_path, filter="data")
    out = subprocess.run([str(tmp_path / f"etcd-v{expected}-linux-amd64" / "etcd"), "--version"],
                         capture_output=True, text=True).stdout
    assert f"etcd Version: {expected}" in out
    # No --kube-bin-dir: lab-up packs the binaries `invoke kube-binaries` built for the release, as they are.
    record = json.loads((kubebuild.release_dir(cluster.release) / "build.json").read_text())
    with tarfile.open(REPO / cluster.spec.prerequisites.server_tarball) as tar:
        packed = {m.name.rsplit("/", 1)[1]: hashlib.sha256(tar.extractfile(m).read()).hexdigest()
                  for m in tar.getmembers() if m.isfile()}
    assert packed == {name: entry["sha256"] for name, entry in record["binaries"].items()}


@needs_root
def test_lab_status_reports_every_node_reachable(labtest):
    cluster, path, _ = labtest
    proc = invoke("lab-status", "--cluster", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for node in cluster.spec.nodes:
        line = next(x for x in proc.stdout.splitlines() if node.name in x)
        assert "netns yes" in line and "alive" in line and "ssh ok" in line, line


@needs_root
def test_lab_up_twice_is_safe(labtest):
    cluster, path, _ = labtest
    the_lab = lab.lab(cluster)
    before = lab.load_state(the_lab)
    start = time.monotonic()
    again = invoke("lab-up", "--cluster", str(path))
    TIMINGS["lab-up (again)"] = time.monotonic() - start
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.count("already running") == len(cluster.spec.nodes)
    after = lab.load_state(the_lab)
    assert state_pids(after) == state_pids(before)
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert links.count(f"master {the_lab.bridge} ") == len(cluster.spec.nodes)
    for node in cluster.spec.nodes:
        assert remote(cluster, node, "hostname").stdout.strip() == node.name


@needs_root
def test_lab_down_removes_everything(labtest):
    cluster, path, _ = labtest
    the_lab = lab.lab(cluster)
    state = lab.load_state(the_lab)
    pids = state_pids(state)
    assert all(lab.alive(p, s) for p, s in pids)
    start = time.monotonic()
    down = invoke("lab-down", "--cluster", str(path))
    TIMINGS["lab-down"] = time.monotonic() - start
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(lab.alive(p, s) for p, s in pids), "processes lab-up started are still running"
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    for lab_node in the_lab.nodes:
        assert lab_node.netns not in netns
        assert f"{lab_node.host_veth}@" not in links and f"{lab_node.host_veth}:" not in links
    assert f" {the_lab.bridge}:" not in links
    mounts = Path("/proc/mounts").read_text()
    assert f"build/{NAME}" not in mounts
    assert not any(n.netns in mounts for n in the_lab.nodes)
    assert not the_lab.nodes_base.exists()
    assert not the_lab.state_file.exists()
    assert invoke("lab-down", "--cluster", str(path)).returncode == 0, "a second lab-down is harmless"
    status = invoke("lab-status", "--cluster", str(path))
    assert status.returncode == 1 and "NOT running" in status.stdout


@needs_root
def test_print_timings(labtest, capsys):
    with capsys.disabled():
        print("\nlab timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in TIMINGS.items()))
