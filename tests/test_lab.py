"""The lab for real: nodes booted by systemd-nspawn with real systemd as PID 1, their own disks, sshd as a
service, Restart= and reboots done by systemd, and a teardown that leaves nothing behind (root).

Uses its own cluster name and subnet (labtest, 10.77.31.0/24) so a developer's `lab` can stay up.
Traffic goes only to the addresses this test's lab creates.
"""

from __future__ import annotations

import dataclasses
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
from generator.kubebuild import tools
from generator.lab import cleanup, nodes
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
    return [(e["supervisor_pid"], e["supervisor_start"]) for e in state["nodes"].values()]


def node_processes(the_lab: lab.Lab) -> list[tuple[int, int]]:
    """(pid, start time) of every process in the lab nodes' network namespaces, systemd-nspawn's children included."""
    found = []
    for lab_node in the_lab.nodes:
        out = subprocess.run(["ip", "netns", "pids", lab_node.netns], capture_output=True, text=True).stdout
        found += [(int(pid), lab.start_time(int(pid))) for pid in out.split()]
    return found


def lab_cluster_file(directory: Path, **prerequisites: str) -> Path:
    """clusters/lab.yaml renamed to labtest, on its own subnet, with its paths under build/labtest/."""
    data = yaml.safe_load((REPO / "clusters" / "lab.yaml").read_text())
    data["name"] = NAME
    for i, node in enumerate(data["nodes"]):
        node["ip"] = f"{NET}.{21 + i}"
    data["api_server"]["vip"] = f"{NET}.200"
    data["ssh"]["options"] = [o.replace("build/lab/", f"build/{NAME}/") for o in data["ssh"]["options"]]
    for key in ("etcd_tarball", "server_tarball", "kube_bench_tarball", "kwok_binary"):
        if key in data["prerequisites"]:
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
    for tool in ("ip", "unshare", "ssh", "ssh-keygen", "systemd-nspawn"):
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
def test_pid_1_is_systemd_and_each_node_has_its_own_identity(labtest):
    cluster, _, _ = labtest
    seen = {}
    for node in cluster.spec.nodes:
        proc = remote(cluster, node, "ps -p 1 -o comm=; systemctl is-system-running; cat /etc/machine-id; "
                                     "systemctl is-active ssh systemd-journald; systemctl is-enabled ssh")
        lines = proc.stdout.split()
        assert lines[0] == "systemd", proc.stdout + proc.stderr
        assert lines[1] == "running", f"{node.name}: systemd says {lines[1]} ({proc.stdout})"
        assert lines[3:] == ["active", "active", "enabled"], proc.stdout
        seen[node.name] = lines[2]
    machine_ids = set(seen.values())
    assert len(machine_ids) == len(cluster.spec.nodes)
    assert Path("/etc/machine-id").read_text().strip() not in machine_ids


@needs_root
def test_a_node_starts_like_a_fresh_host(labtest):
    """Nothing this machine enabled runs in a node but sshd, and the node cannot see this machine's private places:
    the repository (every cluster's keys), root's home (the build cache), its logs."""
    cluster, _, _ = labtest
    node = cluster.spec.nodes[0]
    running = remote(cluster, node, "systemctl list-units --type=service --state=running --no-legend --plain "
                                    "| cut -d' ' -f1 | xargs")
    services = set(running.stdout.split())
    assert "ssh.service" in services
    assert not services & {"haproxy.service", "keepalived.service", "etcd.service", "postgresql.service",
                           "avahi-daemon.service"}, services
    assert services <= {"ssh.service", "dbus.service", "systemd-journald.service", "systemd-logind.service",
                        "console-getty.service", "user@0.service"}, services
    build = REPO / "build" / NAME
    assert (build / "ssh" / "id_ed25519").is_file() and Path("/var/log/dpkg.log").exists(), "what must stay hidden"
    private = f"{build}/ssh/id_ed25519 /root/.cache /var/log/dpkg.log"
    hidden = remote(cluster, node, f"ls -A {REPO} | wc -l; ls -A /root | xargs; "
                                   f"for p in {private}; do [ -e $p ] && echo $p; done")
    assert hidden.stdout.split("\n")[:2] == ["0", ".ssh"], hidden.stdout + hidden.stderr
    assert hidden.stdout.split("\n")[2:] == [""], f"visible in the node: {hidden.stdout}"
    # No unit drop-in of the lab's own anywhere in a node's disk: units run as the runbook renders them.
    for lab_node in lab.lab(cluster).nodes:
        upper = lab_node.root / "upper"
        assert not [p for p in upper.rglob("*.d") if p.is_dir() and "systemd" in p.parts], "a lab drop-in"


@needs_root
def test_node_directories_are_private(labtest):
    cluster, _, _ = labtest
    first, second = cluster.spec.nodes[0], cluster.spec.nodes[1]
    paths = cluster.spec.paths
    token = f"lab-probe-{uuid.uuid4().hex}"
    dirs = [paths.config_dir, paths.bin_dir, paths.etcd_data_dir, paths.systemd_dir, "/etc/haproxy",
            "/etc/keepalived", "/root", "/var/log", "/usr/local/bin", "/tmp"]
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
    # What a node writes lands in its disk (the overlay's upper layer), where it can be inspected.
    inspected = lab.upper_path(lab.lab(cluster).nodes[0], f"{paths.config_dir}/{token}")
    assert inspected.read_text().strip() == first.name
    remote(cluster, first, f"rm -f {' '.join(files)}")


@needs_root
def test_each_node_sees_only_its_own_processes(labtest, tmp_path):
    cluster, _, _ = labtest
    node = cluster.spec.nodes[0]
    proc = remote(cluster, node, "ps -e -o pid=,comm=")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split(None, 1) for line in proc.stdout.strip().splitlines()]
    assert rows[0] == ["1", "systemd"], rows
    assert len(rows) < 25, rows
    # killall -0 (seed 004's keepalived track script) must not find a process of the workstation: one with a name
    # no node runs.
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


PROBE_UNIT = """\
[Unit]
Description=lab probe (tests/test_lab.py)
[Service]
ExecStart=/bin/sleep 600
Restart=always
RestartSec=1
[Install]
WantedBy=multi-user.target
"""


def push_probe(cluster, node) -> None:
    path = f"{cluster.spec.paths.systemd_dir}/labprobe.service"
    pushed = subprocess.run(f"{ssh_prefix(cluster, node)} {shlex.quote(f'cat > {path}')}", shell=True, cwd=REPO,
                            input=PROBE_UNIT, capture_output=True, text=True, timeout=30)
    assert pushed.returncode == 0, pushed.stderr


def probe_state(cluster, node) -> tuple[str, int, int]:
    """(ActiveState, MainPID, NRestarts) of the probe unit on the node, as systemd reports them."""
    out = remote(cluster, node, "systemctl show -p ActiveState -p MainPID -p NRestarts labprobe").stdout
    fields = dict(line.split("=", 1) for line in out.split())
    return fields["ActiveState"], int(fields["MainPID"]), int(fields["NRestarts"])


def wait_for(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


@needs_root
def test_systemd_restarts_a_killed_unit_on_its_own_node_only(labtest):
    cluster, _, _ = labtest
    first, second = cluster.spec.nodes[0], cluster.spec.nodes[2]
    push_probe(cluster, first)
    started = remote(cluster, first, "systemctl daemon-reload && systemctl enable --now labprobe 2>&1; "
                                     "systemctl is-active labprobe")
    assert started.stdout.splitlines()[-1] == "active", started.stdout + started.stderr
    state, pid, restarts = probe_state(cluster, first)
    assert (state, restarts) == ("active", 0) and pid > 1
    assert remote(cluster, first, f"kill -KILL {pid}").returncode == 0
    # No test code restarts it: only the node's systemd can (Restart=always, RestartSec=1).
    after = wait_for(lambda: (s := probe_state(cluster, first))[2] == 1 and s[0] == "active" and s[1] > 0 and s)
    assert after, f"systemd did not restart the killed unit: {probe_state(cluster, first)}"
    assert after[1] != pid
    other = remote(cluster, second, "systemctl is-active labprobe; pgrep -x sleep || true")
    assert other.stdout.split()[0] in ("inactive", "unknown") and len(other.stdout.split()) == 1, other.stdout


@needs_root
def test_a_node_reboots_and_starts_its_enabled_units(labtest):
    """`systemctl reboot` inside a node: its systemd stops everything, the node boots again (a new boot id, the
    previous boot's journal kept), the enabled probe unit runs again, and lab-up's record still holds."""
    cluster, path, _ = labtest
    node = cluster.spec.nodes[0]
    the_lab = lab.lab(cluster)
    before = lab.load_state(the_lab)
    boot_id = remote(cluster, node, "cat /proc/sys/kernel/random/boot_id").stdout.strip()
    assert probe_state(cluster, node)[0] == "active", "the probe unit of the restart test should run"
    start = time.monotonic()
    remote(cluster, node, "systemctl reboot")
    rebooted = wait_for(lambda: (b := remote(cluster, node, "cat /proc/sys/kernel/random/boot_id", timeout=10)
                                 .stdout.strip()) and b != boot_id, timeout=90)
    TIMINGS["node reboot (ssh back)"] = time.monotonic() - start
    assert rebooted, "the node did not come back with a new boot id"
    back = wait_for(lambda: probe_state(cluster, node)[0] == "active", timeout=30)
    assert back, "the enabled probe unit did not start at boot"
    boots = remote(cluster, node, "journalctl --list-boots --no-pager | tail -n +2 | wc -l").stdout.strip()
    assert int(boots) >= 2, "the previous boot's journal is gone: the node's journal must persist"
    assert state_pids(lab.load_state(the_lab)) == state_pids(before), "the node's supervisor changed"
    remote(cluster, node, "systemctl disable --now labprobe; rm -f /etc/systemd/system/labprobe.service; "
                          "systemctl daemon-reload")


@needs_root
def test_a_node_that_cannot_boot_is_one_clear_line(labtest, tmp_path):
    """The boot of a node whose disk cannot be mounted fails at once with the node's name and the reason, not a
    hang: the real boot script, its real mount error."""
    cluster, _, _ = labtest
    the_lab = lab.lab(cluster)
    disk = tmp_path / "disk"  # a node directory without its layers: the overlay cannot be mounted
    disk.mkdir()
    # an address nothing answers on: only the boot's own failure can end the wait
    spare = dataclasses.replace(the_lab.nodes[0].node, ip=f"{NET}.99")
    broken = lab.LabNode(spare, the_lab.nodes[0].netns, the_lab.nodes[0].host_veth, disk)
    with nodes.console_log(broken).open("wb") as log:
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                                 nodes.boot_script(broken)], stdout=log, stderr=log)
    start = time.monotonic()
    with pytest.raises(lab.LabError) as raised:
        nodes.wait_booted(dataclasses.replace(the_lab, nodes=(broken,)), {broken.name: proc})
    assert time.monotonic() - start < nodes.BOOT_TIMEOUT
    message = str(raised.value)
    assert "\n" not in message and message.startswith(f"node {broken.name} did not boot: systemd-nspawn ended"), message
    assert "mount" in message, message


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
def test_etcd_tarball_holds_the_etcd_built_from_its_go_modules(labtest, tmp_path):
    cluster, _, _ = labtest
    version = cluster.spec.components.etcd.version
    built = json.loads((tools.etcd(version).directory / "build.json").read_text())
    tarball = REPO / cluster.spec.prerequisites.etcd_tarball
    top = f"etcd-v{version}-linux-amd64"
    assert tarball.name == f"{top}.tar.gz"
    with tarfile.open(tarball) as tar:
        packed = {m.name: hashlib.sha256(tar.extractfile(m).read()).hexdigest() for m in tar.getmembers() if m.isfile()}
        tar.extractall(tmp_path, filter="data")
    assert packed == {f"{top}/{name}": entry["sha256"] for name, entry in built["binaries"].items()}
    assert set(built["binaries"]) == {"etcd", "etcdctl", "etcdutl"}
    out = subprocess.run([str(tmp_path / top / "etcd"), "--version"], capture_output=True, text=True).stdout
    assert f"etcd Version: {version}\n" in out
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
        assert "netns yes" in line and "systemd pid" in line and "ssh ok" in line and "system running" in line, line


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
    pids = state_pids(state) + node_processes(the_lab)
    assert all(lab.alive(p, s) for p, s in pids)
    start = time.monotonic()
    down = invoke("lab-down", "--cluster", str(path))
    TIMINGS["lab-down"] = time.monotonic() - start
    assert down.returncode == 0, down.stdout + down.stderr
    assert not any(lab.alive(p, s) for p, s in pids), "processes of the lab are still running"
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    for lab_node in the_lab.nodes:
        assert lab_node.netns not in netns
        assert f"{lab_node.host_veth}@" not in links and f"{lab_node.host_veth}:" not in links
        assert not (cleanup.NSPAWN_PROPAGATE / nodes.machine_name(lab_node)).exists()
    assert f" {the_lab.bridge}:" not in links
    # The nodes' overlays lived in mount namespaces of their own: none may be left anywhere on this machine.
    for mountinfo in Path("/proc").glob("[0-9]*/mountinfo"):
        try:
            text = mountinfo.read_text()
        except OSError:
            continue
        assert f"build/{NAME}/" not in text, f"a mount of the lab is left ({mountinfo})"
    assert not the_lab.nodes_base.exists()
    assert not the_lab.state_file.exists()
    assert invoke("lab-down", "--cluster", str(path)).returncode == 0, "a second lab-down is harmless"
    status = invoke("lab-status", "--cluster", str(path))
    assert status.returncode == 1 and "NOT running" in status.stdout


@needs_root
def test_print_timings(labtest, capsys):
    with capsys.disabled():
        print("\nlab timings: " + ", ".join(f"{k} {v:.2f} s" for k, v in TIMINGS.items()))
