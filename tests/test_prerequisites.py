"""Prerequisites: environment.sh as bash reads it, the download/push commands as dry-run prints them, and the
offline fetch step run for real on stand-in tarballs; the clock-skew and swap checks against stand-in tools."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import uuid
from pathlib import Path

import pytest
import yaml

from generator import catalog
from generator.components.prerequisites.nodes import swap_check
from generator.model import load
from tests.conftest import REPO, run_invoke, unfolded

NODES = [
    {"name": "cp-a", "ip": "10.88.0.11", "roles": ["master", "etcd"]},
    {"name": "cp-b", "ip": "10.88.0.12", "roles": ["master", "etcd"]},
    {"name": "cp-c", "ip": "10.88.0.13", "roles": ["master"]},
    {"name": "db-d", "ip": "10.88.0.14", "roles": ["etcd"]},
]


def write_cluster(tmp: Path, **changes: object) -> tuple[Path, dict]:
    spec = {
        "name": f"pre-{uuid.uuid4().hex[:8]}",
        "kubernetes_version": "1.22.3",
        "nodes": NODES,
        "ssh": {"user": "ops", "port": 2222},
        "paths": {"bin_dir": "/usr/local/kube/bin"},
        "api_server": {"vip": "10.88.0.100", "port": 8443},
        "components": {"etcd": {"version": "v3.4.30"}},
    }
    spec.update(changes)
    path = tmp / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path, spec


@pytest.fixture()
def cluster(tmp_path: Path):
    path, spec = write_cluster(tmp_path)
    yield path, spec
    shutil.rmtree(REPO / "build" / spec["name"], ignore_errors=True)


def sourced(env_file: Path, expression: str) -> str:
    script = f'source "$1" && printf "%s\\n" {expression}'
    return subprocess.run(["bash", "-c", script, "bash", str(env_file)], capture_output=True, text=True,
                          check=True).stdout.splitlines()


def test_environment_sh_holds_the_cluster_file_values(cluster) -> None:
    path, spec = cluster
    run_invoke("render", "--cluster", str(path), "--component", "prerequisites")
    env = REPO / "build" / spec["name"] / "environment.sh"
    assert env.stat().st_mode & 0o777 == 0o644  # public: shown on the page
    assert sourced(env, '"${NODE_NAMES[@]}"') == [n["name"] for n in NODES]
    assert sourced(env, '"${NODE_IPS[@]}"') == [n["ip"] for n in NODES]
    assert sourced(env, '"${MASTER_IPS[@]}"') == [n["ip"] for n in NODES if "master" in n["roles"]]
    assert sourced(env, '"${ETCD_NAMES[@]}"') == [n["name"] for n in NODES if "etcd" in n["roles"]]
    assert sourced(env, '"$VIP" "$KUBE_APISERVER" "$BIN_DIR" "$KUBE_VERSION" "$ETCD_VERSION" "$SSH_PORT"') == [
        "10.88.0.100", "https://10.88.0.100:8443", "/usr/local/kube/bin", "v1.22.3", "v3.4.30", "2222"]
    endpoints = sourced(env, '"$ETCD_ENDPOINTS"')[0].split(",")
    assert endpoints == [f"https://{n['ip']}:2379" for n in NODES if "etcd" in n["roles"]]
    # the step's own check, run for real
    out = run_invoke("step", "--cluster", str(path), "--step", "prerequisites.environment").stdout
    assert f"{len(NODES)} nodes: {' '.join(n['name'] for n in NODES)}" in out


def dry_run(path: Path) -> str:
    return run_invoke("deploy", "--cluster", str(path), "--chapter", "prerequisites", "--dry-run").stdout


def blocks(out: str) -> dict[str, str]:
    parts = re.split(r"^# ([a-z0-9.-]+(?: @ [a-z0-9-]+)?)\n", out, flags=re.MULTILINE)
    return dict(zip(parts[1::2], [unfolded(text) for text in parts[2::2]], strict=True))


def test_downloads_are_checked_and_pushed_to_the_right_nodes(cluster) -> None:
    path, spec = cluster
    got = blocks(dry_run(path))
    fetch = got["prerequisites.kube-binaries"]
    url = "https://dl.k8s.io/v1.22.3/kubernetes-server-linux-amd64.tar.gz"
    assert f"curl -fL --create-dirs -o build/{spec['name']}/downloads/v1.22.3/kubernetes-server-linux-amd64.tar.gz " \
           f"{url}" in fetch
    assert f"{url}.sha256" in fetch and "| sha256sum -c" in fetch
    etcd = got["prerequisites.etcd-binaries"]
    assert "https://github.com/etcd-io/etcd/releases/download/v3.4.30/etcd-v3.4.30-linux-amd64.tar.gz" in etcd
    assert "https://github.com/etcd-io/etcd/releases/download/v3.4.30/SHA256SUMS" in etcd
    for node in NODES:
        ssh = f"ssh -p 2222 ops@{node['ip']}"
        kube = got.get(f"prerequisites.kube-install @ {node['name']}", "")
        etcd_push = got.get(f"prerequisites.etcd-install @ {node['name']}", "")
        assert ("master" in node["roles"]) == (ssh in kube)
        assert ("etcd" in node["roles"]) == (ssh in etcd_push)
        if kube:
            assert "sudo tar -C /usr/local/kube/bin -xf -" in kube
        # every node gets the clock and swap checks, on itself only
        for check in ("time", "swap", "directories"):
            block = got[f"prerequisites.{check} @ {node['name']}"]
            assert ssh in block and not any(n["ip"] in block for n in NODES if n is not node)
    assert not (REPO / "build" / spec["name"]).exists()  # a dry run touches nothing


def test_releases_without_published_hashes_print_the_hash_instead(tmp_path: Path) -> None:
    path, _ = write_cluster(tmp_path, kubernetes_version="1.16.15")
    fetch = blocks(dry_run(path))["prerequisites.kube-binaries"]
    assert "https://dl.k8s.io/v1.16.15/kubernetes-server-linux-amd64.tar.gz" in fetch
    assert ".sha256" not in fetch and "sha256sum build/" in fetch


def stand_in_tarball(path: Path, members: dict[str, str]) -> Path:
    """A stand-in release tarball (no network here): executable scripts where the real binaries would be."""
    with tarfile.open(path, "w:gz") as tar:
        for name, output in members.items():
            data = f"#!/bin/sh\necho '{output}'\n".encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return path


KUBE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl")


def server_members(tag: str) -> dict[str, str]:
    """What each stand-in prints: the daemons' `--version` line, kubectl's `version --client -o json`."""
    members = {f"kubernetes/server/bin/{b}": f"Kubernetes {tag}" for b in KUBE}
    members["kubernetes/server/bin/kubectl"] = f'{{"clientVersion": {{"gitVersion": "{tag}"}}}}'
    return members


def test_offline_tarballs_are_unpacked_and_their_versions_checked(tmp_path: Path) -> None:
    server = stand_in_tarball(tmp_path / "server.tar.gz", server_members("v1.22.3"))
    etcd = stand_in_tarball(tmp_path / "etcd.tar.gz", {
        f"etcd-v3.4.30-linux-amd64/{b}": "etcd Version: 3.4.30" for b in ("etcd", "etcdctl")})
    path, spec = write_cluster(tmp_path, prerequisites={"server_tarball": str(server), "etcd_tarball": str(etcd)})
    try:
        plan = dry_run(path)
        assert "curl" not in blocks(plan)["prerequisites.kube-binaries"]
        out = run_invoke("step", "--cluster", str(path), "--step", "prerequisites.kube-binaries").stdout
        assert hashlib.sha256(server.read_bytes()).hexdigest() in out
        unpacked = REPO / "build" / spec["name"] / "downloads" / "v1.22.3" / "kubernetes" / "server" / "bin"
        assert sorted(p.name for p in unpacked.iterdir()) == sorted(KUBE)
        assert os.access(unpacked / "kube-scheduler", os.X_OK)
        # the workstation's kubectl is the release's own, installed where every kubectl command finds it
        installed = REPO / "build" / spec["name"] / "bin" / "kubectl"
        assert installed.read_bytes() == (unpacked / "kubectl").read_bytes() and os.access(installed, os.X_OK)
        run_invoke("step", "--cluster", str(path), "--step", "prerequisites.etcd-binaries")
        assert (REPO / "build" / spec["name"] / "downloads" / "etcd-v3.4.30" / "etcd-v3.4.30-linux-amd64"
                / "etcdctl").exists()
        # a tarball of another release is refused by the version check
        stand_in_tarball(server, server_members("v1.21.0"))
        failed = run_invoke("step", "--cluster", str(path), "--step", "prerequisites.kube-binaries", check=False)
        assert failed.returncode == 1
        assert "prerequisites.kube-binaries failed" in failed.stderr and "v1.21.0" in failed.stderr
    finally:
        shutil.rmtree(REPO / "build" / spec["name"], ignore_errors=True)


def tools(tmp: Path, scripts: dict[str, str]) -> dict[str, str]:
    """Stand-ins for the node's timedatectl/chronyc/ntpstat/swapon, first on PATH."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in scripts.items():
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(0o755)
    return dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")


def expect_of(path: Path, step: str) -> str:
    from generator import catalog

    chosen = catalog.find_step(load(str(path)), step)
    command = chosen.per_node[0][1][0]
    assert command.expect
    return command.expect


DATE = shutil.which("date")
# Labelled stand-ins: this machine plays both the workstation and "the node". ssh runs the remote command here
# with the node's tools first on PATH; the node's `date` is the real one shifted by OFFSET seconds.
SSH_STANDIN = """#!/bin/bash
# stand-in ssh for the clock test: run the remote command (last argument) here, as the node
[ -n "$SSH_FAILS" ] && { echo "ssh: connect to host 10.88.0.11 port 2222: Connection refused" >&2; exit 255; }
for last; do :; done
PATH="$NODE_BIN:$PATH" exec bash -c "$last"
"""
NODE_DATE = f"""#!/bin/sh
# stand-in for the node's date: the real clock shifted by OFFSET seconds
if [ "$1" = "+%s.%N" ]; then {DATE} +%s.%N | awk -v o="$OFFSET" '{{printf "%.9f\\n", $1 + o}}'; \
else exec {DATE} "$@"; fi
"""


def clock_run(tmp: Path, path: Path, offset: float, node_tools: dict[str, str],
              ssh_fails: bool = False) -> tuple[bool, str]:
    """Run prerequisites.time's command for the first node as the executor does; (passed, output)."""
    from generator import catalog

    command = catalog.find_step(load(str(path)), "prerequisites.time").per_node[0][1][0]
    work_bin, node_bin = tmp / "work-bin", tmp / "node-bin"
    for directory, scripts in ((work_bin, {"ssh": SSH_STANDIN}), (node_bin, {"date": NODE_DATE, **node_tools})):
        directory.mkdir(exist_ok=True)
        for name, body in scripts.items():
            (directory / name).write_text(body if body.startswith("#!") else f"#!/bin/sh\n{body}\n")
            (directory / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{work_bin}:{os.environ['PATH']}", NODE_BIN=str(node_bin), OFFSET=str(offset),
               SSH_FAILS="1" if ssh_fails else "")
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", command.run], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=30)
    assert command.expect
    return proc.returncode == 0 and bool(re.search(command.expect, proc.stdout, re.MULTILINE)), proc.stdout


NO_NTP = {"timedatectl": "exit 1", "chronyc": "exit 1", "ntpstat": "exit 1"}
NTP_SYNCED = {"timedatectl": "echo yes", "chronyc": "exit 1", "ntpstat": "exit 1"}
CHRONY_SYNCED = {"timedatectl": "echo no", "chronyc": "printf 'Leap status     : Normal\\n'", "ntpstat": "exit 1"}


@pytest.mark.parametrize(("offset", "node_tools", "passes", "ntp_line"), [
    (0.0, NO_NTP, True, "NTP: no client reports the clock synchronized"),
    (0.6, NTP_SYNCED, True, "NTP: synchronized (timedatectl)"),
    (-0.6, CHRONY_SYNCED, True, "NTP: synchronized (chronyc)"),
    (5.0, NTP_SYNCED, False, "NTP: synchronized (timedatectl)"),
    (-3.0, NO_NTP, False, "NTP: no client reports"),
    (120.0, CHRONY_SYNCED, False, "NTP: synchronized (chronyc)"),
])
def test_the_clock_check_fails_on_skew_and_only_reports_ntp(tmp_path: Path, offset: float,
                                                              node_tools: dict[str, str], passes: bool,
                                                              ntp_line: str) -> None:
    path, _ = write_cluster(tmp_path)
    passed, out = clock_run(tmp_path, path, offset, node_tools)
    assert passed is passes, out
    assert ntp_line in out, out
    shown = float(re.search(r"clock offset from the workstation: ([+-][0-9.]+) s", out)[1])
    assert abs(shown - offset) < 0.5, out


def test_the_clock_check_fails_when_the_node_cannot_be_reached_or_has_no_nanoseconds(tmp_path: Path) -> None:
    path, _ = write_cluster(tmp_path)
    passed, out = clock_run(tmp_path, path, 0.0, NO_NTP, ssh_fails=True)
    assert not passed and "Connection refused" in out, out
    # a `date` without %N (busybox prints it literally) must fail, not be read as some number
    passed, out = clock_run(tmp_path, path, 0.0, {**NO_NTP, "date": f'echo "$({DATE} +%s).N"'})
    assert not passed and "no time from the node" in out, out


@pytest.mark.parametrize(("swapon", "off"), [
    ("exit 0", True),
    ("echo '/swap.img file 2G 0B -2'", False),
])
def test_the_swap_check_tells_off_from_on(tmp_path: Path, swapon: str, off: bool) -> None:
    path, _ = write_cluster(tmp_path)
    out = subprocess.run(["bash", "-c", swap_check()], env=tools(tmp_path, {"swapon": swapon}),
                         capture_output=True, text=True).stdout
    assert bool(re.search(expect_of(path, "prerequisites.swap"), out, re.MULTILINE)) is off, out


# --- which etcd: the release's pairing unless the file names one ------------------------------------------------------

# kubeadm's SupportedEtcdVersion for its own minor (cmd/kubeadm/app/constants/constants.go of v1.16.15, v1.22.17,
# v1.36.3; v1.37.2's table stops at 1.36 and its DefaultEtcdVersion is 3.7.0-0), typed here from the source
PAIRED = {"1.16.15": "3.3.15", "1.22.17": "3.5.6", "1.36.3": "3.6.8", "1.37.2": "3.7.0"}


@pytest.mark.parametrize("release", sorted(PAIRED))
def test_without_a_version_etcd_is_the_one_the_release_is_paired_with(tmp_path: Path, release: str) -> None:
    path, spec = write_cluster(tmp_path, kubernetes_version=release, components={})
    model = load(str(path))
    assert model.spec.components.etcd.version == PAIRED[release] and model.etcd_paired
    path, spec = write_cluster(tmp_path, kubernetes_version=release, components={"etcd": {"version": "3.4.30"}})
    assert load(str(path)).spec.components.etcd.version == "3.4.30"


def snapshot_and_install(path: Path) -> tuple[str, str]:
    steps = {s.id: s for ch in catalog.chapters(load(str(path))) for s in ch.steps}
    status = " ".join(unfolded(c.run) for _, commands in steps["etcd.snapshot"].per_node for c in commands)
    unpack = " ".join(unfolded(c.run) for c in steps["prerequisites.etcd-binaries"].local)
    return status, unpack


def test_etcdutl_reads_snapshots_from_3_5_and_etcdctl_before(tmp_path: Path) -> None:
    # 3.5 put `snapshot status`/`restore` into etcdutl and deprecated etcdctl's; 3.6 removed etcdctl's
    # (go.etcd.io/etcd/etcdctl/v3 ctlv3/command/snapshot_command.go, v3.5.15 against v3.6.8)
    status, unpack = snapshot_and_install(write_cluster(tmp_path, components={"etcd": {"version": "3.6.8"}})[0])
    assert "/usr/local/kube/bin/etcdutl snapshot status /var/lib/etcd-backup/snapshot.db -w table" in status
    assert "etcdctl --endpoints" in status  # the save still needs a member
    assert "etcd-v3.6.8-linux-amd64/etcdutl" in unpack
    status, unpack = snapshot_and_install(write_cluster(tmp_path, components={"etcd": {"version": "3.4.30"}})[0])
    assert "etcdutl" not in status + unpack and "snapshot status /var/lib/etcd-backup/snapshot.db" in status


def test_a_render_says_when_the_builds_etcd_moves(tmp_path: Path) -> None:
    path, spec = write_cluster(tmp_path, kubernetes_version="1.30.4", components={},
                               certificates={"key": {"algo": "ecdsa", "size": 256}})
    try:
        assert "components.etcd.version" not in run_invoke("render", "--cluster", str(path)).stdout  # 3.5.15
        spec.update(kubernetes_version="1.36.3", components={"etcd": {"version": "3.5.15"}})  # written out: stays
        path.write_text(yaml.safe_dump(spec))
        assert "components.etcd.version" not in run_invoke("render", "--cluster", str(path)).stdout
        spec["components"] = {}  # left to the release: 1.36 is paired with 3.6.8
        path.write_text(yaml.safe_dump(spec))
        out = run_invoke("render", "--cluster", str(path)).stdout
        note = [line for line in out.splitlines() if "components.etcd.version" in line]
        assert len(note) == 1 and "made for etcd 3.5.15" in note[0] and "now gives 3.6.8" in note[0], out
        assert 'write `components.etcd.version: "3.5.15"`' in note[0] and "paired" in note[0]
    finally:
        shutil.rmtree(REPO / "build" / spec["name"], ignore_errors=True)
