"""The lab: a whole cluster on this one Linux machine, so the runbook runs unchanged against it (root only).

Each node of the cluster file becomes
- a network namespace `<cluster>-<node>` holding the node's IP on an interface named
  `load_balancer.interface`, joined by a veth pair to a lab bridge that carries the workstation-side
  address (the first free address of the nodes' /24). No forwarding, no NAT, no default route: the
  nodes reach each other and the workstation, nothing else;
- a PID, UTS and mount namespace (`unshare`) whose PID 1 is the node's own sshd (own host key, the
  lab key authorised, listening on the node's IP only), so `ps`/`killall` see only that node;
- private filesystems: overlays on /etc, /opt, /usr/local and /var/lib whose writable layers live
  under build/<cluster>/nodes-root/<node>/upper/ (inspect them from the workstation), bind mounts of
  nodes-root/<node>/root and /var/log, and fresh tmpfs on /run, /tmp and /dev/shm (the systemctl
  stand-in keeps its state in /run, pid files live there: shared, nodes would collide). The node's
  sshd_config, host key and root's authorized_keys are the node's own files in those layers;
- `systemctl`/`journalctl` replaced, inside the node only, by the standalone scripts of
  docker-systemctl-replacement (a stand-in for systemd, which is not PID 1 on these machines).

Everything lab-up starts or makes is recorded in build/<cluster>/lab-state.json; lab-down stops
exactly those processes (by PID, checked against their start time) and removes what was made.
"""

from __future__ import annotations

import hashlib
import importlib.util
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from generator.artifacts import build_dir, write_atomic
from generator.model import REPO, Cluster, Node
from generator.steps import ssh_prefix

PREFIX_LEN = 24
# Node directories are private if they lie under one of these (overlay: the node sees the machine's
# files and keeps its own changes; bind: the node's own directory; tmpfs: empty at every lab-up).
OVERLAY_ROOTS = ("/etc", "/opt", "/usr/local", "/var/lib")
BIND_ROOTS = ("/root", "/var/log")
TMPFS_ROOTS = ("/run", "/tmp", "/dev/shm")
PRIVATE_ROOTS = OVERLAY_ROOTS + BIND_ROOTS + TMPFS_ROOTS
STANDINS = {"systemctl": "systemctl3.py", "journalctl": "journalctl3.py"}
KUBE_SERVER_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
KUBE_OPTIONAL_BINARIES = ("kubectl", "kubelet", "kube-proxy", "kubeadm")  # packed when present
SSHD = "/usr/sbin/sshd"
START_TIMEOUT = 10.0
# keepalived never sends READY=1 to the stand-in (it is not systemd), so `systemctl start keepalived`
# would wait ~180 s for a Type=notify unit. This drop-in exists in the lab only, never on real nodes.
KEEPALIVED_DROP_IN = """\
# LAB ONLY (written by `invoke lab-up`, not part of the runbook): the systemd stand-in used in the lab
# never receives keepalived's sd_notify READY=1, so treat the unit as Type=simple here.
[Service]
Type=
Type=simple
"""


class LabError(Exception):
    """Something the lab cannot do; the message says what and how to fix it."""


@dataclass(frozen=True)
class LabNode:
    node: Node
    netns: str
    host_veth: str
    root: Path

    @property
    def name(self) -> str:
        return self.node.name


@dataclass(frozen=True)
class Lab:
    """Names and paths of one cluster's lab; all derived from the cluster file, so lab-down finds them."""

    cluster: Cluster
    dir: Path
    bridge: str
    bridge_address: str  # with prefix, e.g. 10.88.0.1/24
    interface: str
    nodes: tuple[LabNode, ...]
    key: Path
    known_hosts: Path | None
    ssh_dir: Path
    state_file: Path
    nodes_base: Path

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Interface(self.bridge_address).network


def option(cluster: Cluster, key: str) -> str | None:
    """The value of an ssh `-o Key=value` option of the cluster file (keys are case-insensitive)."""
    for opt in cluster.spec.ssh.options:
        name, _, value = opt.partition("=")
        if name.strip().lower() == key.lower():
            return value.strip()
    return None


def under(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == r or path.startswith(r + "/") for r in roots)


def repo_path(value: str) -> Path:
    """A path as written in the cluster file: relative ones are relative to the repository root."""
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else REPO / path


def lab(cluster: Cluster) -> Lab:
    tag = hashlib.sha1(cluster.name.encode()).hexdigest()[:6]
    ips = []
    for node in cluster.spec.nodes:
        ip = ipaddress.ip_address(node.ip)
        if ip.version != 4:
            raise LabError(f"node {node.name}: the lab uses IPv4 addresses only, not {node.ip}")
        ips.append(ip)
    network = ipaddress.IPv4Network(f"{ips[0]}/{PREFIX_LEN}", strict=False)
    outside = [n.name for n, ip in zip(cluster.spec.nodes, ips, strict=True) if ip not in network]
    if outside:
        raise LabError(f"every lab node must be in {network} (the first node's /{PREFIX_LEN}); "
                       f"not: {', '.join(outside)}")
    taken = set(ips)
    vip = cluster.spec.api_server.vip
    if vip:
        taken.add(ipaddress.ip_address(vip))
    bridge_ip = next(ip for ip in network.hosts() if ip not in taken)
    identity = option(cluster, "IdentityFile")
    if not identity:
        raise LabError("the lab's cluster file needs the ssh option IdentityFile=<path> "
                       "(lab-up creates that key and authorises it on every node)")
    known = option(cluster, "UserKnownHostsFile")
    root = build_dir(cluster)
    nodes_base = root / "nodes-root"
    if under(str(root), OVERLAY_ROOTS):
        # An overlay's writable layer may not lie inside the directory it covers.
        nodes_base = Path("/var/tmp/runbook-lab") / cluster.name / "nodes-root"
    nodes = tuple(
        LabNode(node, f"{cluster.name}-{node.name}", f"lb{tag}v{i}", nodes_base / node.name)
        for i, node in enumerate(cluster.spec.nodes)
    )
    key = repo_path(identity)
    return Lab(
        cluster=cluster, dir=root, bridge=f"lb{tag}", bridge_address=f"{bridge_ip}/{PREFIX_LEN}",
        interface=cluster.spec.load_balancer.interface, nodes=nodes, key=key,
        known_hosts=repo_path(known) if known and known != "/dev/null" else None,
        ssh_dir=root / "ssh", state_file=root / "lab-state.json", nodes_base=nodes_base,
    )


# ---------------------------------------------------------------- small helpers


def sh(args: list[str], check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise LabError(f"`{shlex.join(args)}` failed (exit {proc.returncode}): {proc.stderr.strip()}")
    return proc


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def netns_exists(name: str) -> bool:
    return Path("/run/netns", name).exists()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def alive(pid: int | None, started: int | None) -> bool:
    """True if `pid` is still the very process that was recorded (not a recycled PID)."""
    return bool(pid) and started is not None and start_time(pid) == started  # type: ignore[arg-type]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def write_file(path: Path, text: str, mode: int = 0o644) -> bool:
    """Write if different; True if written."""
    data = text.encode()
    if path.exists() and path.read_bytes() == data and path.stat().st_mode & 0o777 == mode:
        return False
    write_atomic(path, data, mode)
    return True


def sysctl_off_ipv6(ifname: str) -> None:
    """No IPv6 on the lab's links: no router solicitations or other chatter, only the lab's IPv4."""
    knob = Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6")
    if knob.exists():
        knob.write_text("1")


def load_state(the_lab: Lab) -> dict:
    try:
        return json.loads(the_lab.state_file.read_text())
    except (OSError, ValueError):
        return {}


def save_state(the_lab: Lab, state: dict) -> None:
    write_atomic(the_lab.state_file, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode(), 0o644)


def remember(state: dict, path: Path) -> None:
    made = state.setdefault("made", [])
    if str(path) not in made:
        made.append(str(path))


# ---------------------------------------------------------------- checks before anything is made


def preflight(the_lab: Lab) -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, mounts): run `sudo invoke lab-up ...`")
    missing = [t for t in ("ip", "unshare", "ssh", "ssh-keygen", "python3", "mount", "hostname")
               if not shutil.which(t)]
    if not Path(SSHD).exists():
        missing.append(SSHD + " (Debian package openssh-server)")
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)} (run `bash .ci/system-packages` as root)")
    if under(str(the_lab.nodes_base), ("/run",)):
        raise LabError(f"the lab keeps node disks in {the_lab.nodes_base}; it must not be under /run, "
                       "which every node replaces with an empty tmpfs before anything else")
    if re.search(r"[\s,:]", str(the_lab.nodes_base)):
        raise LabError(f"{the_lab.nodes_base} must not contain spaces, ',' or ':' (overlay mount options)")
    spec = the_lab.cluster.spec
    dirs = {f"paths.{k}": getattr(spec.paths, k) for k in
            ("bin_dir", "config_dir", "pki_dir", "systemd_dir", "etcd_data_dir", "log_dir")}
    if spec.components.etcd.bin_dir:
        dirs["components.etcd.bin_dir"] = spec.components.etcd.bin_dir
    for where, value in dirs.items():
        if not under(value, PRIVATE_ROOTS):
            raise LabError(f"{where} = {value}: lab nodes keep files private only under "
                           f"{', '.join(PRIVATE_ROOTS)}; choose a path there for the lab")
    for lab_node in the_lab.nodes:
        if len(lab_node.netns) > 200:
            raise LabError(f"namespace name too long: {lab_node.netns}")
    check_subnet_free(the_lab)


def check_subnet_free(the_lab: Lab) -> None:
    """Refuse to shadow a network this machine already uses (only the lab's own bridge may hold it)."""
    proc = sh(["ip", "-o", "-4", "addr", "show"])
    for line in proc.stdout.splitlines():
        parts = line.split()
        ifname, addr = parts[1], parts[3]
        if ifname == the_lab.bridge:
            continue
        if ipaddress.IPv4Interface(addr).network.overlaps(the_lab.network):
            raise LabError(f"{the_lab.network} is already used on this machine ({ifname} has {addr}); "
                           "give the lab's nodes another subnet")
    routes = sh(["ip", "-o", "-4", "route", "show"]).stdout.splitlines()
    for line in routes:
        dst = line.split()[0]
        if dst == "default" or f" dev {the_lab.bridge} " in f"{line} ":
            continue
        try:
            net = ipaddress.IPv4Network(dst, strict=False)
        except ValueError:
            continue
        if net.overlaps(the_lab.network):
            raise LabError(f"{the_lab.network} overlaps the route `{line.strip()}`; give the lab another subnet")


# ---------------------------------------------------------------- files the lab makes


def ensure_client_key(the_lab: Lab, state: dict) -> None:
    """The workstation's key for the lab (ssh option IdentityFile); every node authorises it for root."""
    if not the_lab.key.exists():
        the_lab.key.parent.mkdir(parents=True, exist_ok=True)
        if the_lab.key.parent == the_lab.ssh_dir:
            os.chmod(the_lab.ssh_dir, 0o700)
            remember(state, the_lab.ssh_dir)
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"lab-{the_lab.cluster.name}",
            "-f", str(the_lab.key)])
        remember(state, the_lab.key)
        remember(state, Path(f"{the_lab.key}.pub"))
    if not Path(f"{the_lab.key}.pub").exists():
        write_file(Path(f"{the_lab.key}.pub"), sh(["ssh-keygen", "-y", "-f", str(the_lab.key)]).stdout)
        remember(state, Path(f"{the_lab.key}.pub"))


def host_key_path(lab_node: LabNode) -> Path:
    """The node's own host key: /etc/ssh/ssh_host_ed25519_key on the node (its /etc overlay)."""
    return upper_path(lab_node, "/etc/ssh/ssh_host_ed25519_key")


def known_host(the_lab: Lab, ip: str) -> str:
    port = the_lab.cluster.spec.ssh.port
    return ip if port == 22 else f"[{ip}]:{port}"


def lab_hosts(the_lab: Lab) -> set[str]:
    return {known_host(the_lab, n.node.ip) for n in the_lab.nodes}


def without_lab_lines(the_lab: Lab, text: str) -> list[str]:
    hosts = lab_hosts(the_lab)
    return [line for line in text.splitlines() if not set(line.split(" ", 1)[0].split(",")) & hosts]


def write_known_hosts(the_lab: Lab, state: dict) -> None:
    """Pin every node's host key (sshd listens on the node's own IP, not on the VIP)."""
    if the_lab.known_hosts is None:
        return
    existing = the_lab.known_hosts.read_text() if the_lab.known_hosts.exists() else ""
    if not the_lab.known_hosts.exists():
        remember(state, the_lab.known_hosts)
    lines = without_lab_lines(the_lab, existing)
    for lab_node in the_lab.nodes:
        pub = Path(f"{host_key_path(lab_node)}.pub").read_text().split()
        lines.append(f"{known_host(the_lab, lab_node.node.ip)} {pub[0]} {pub[1]}")
    the_lab.known_hosts.parent.mkdir(parents=True, exist_ok=True)
    write_file(the_lab.known_hosts, "\n".join(lines) + "\n", 0o644)


def sshd_config(the_lab: Lab, lab_node: LabNode) -> str:
    return f"""\
# sshd of lab node {lab_node.name} (written by `invoke lab-up`): listens on the node's IP only.
Port {the_lab.cluster.spec.ssh.port}
ListenAddress {lab_node.node.ip}
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
Subsystem sftp internal-sftp
AcceptEnv LANG LC_*
MaxStartups 100:30:200
MaxSessions 100
"""


def standin_sources() -> dict[str, Path]:
    """docker-systemctl-replacement's standalone scripts (site-packages/systemctl2/*3.py)."""
    spec = importlib.util.find_spec("systemctl2")
    if spec is None or not spec.submodule_search_locations:
        raise LabError("docker-systemctl-replacement is not installed in this Python (pip install -e .)")
    package = Path(next(iter(spec.submodule_search_locations)))
    result = {}
    for name, script in STANDINS.items():
        source = package / script
        if not source.exists():
            raise LabError(f"{source} is missing: docker-systemctl-replacement changed its layout")
        result[name] = source
    return result


def prepare_node_root(the_lab: Lab, lab_node: LabNode, standins: dict[str, Path]) -> None:
    """The node's disk, written while the node is down: overlay layers, /root, /var/log, sshd, stand-ins."""
    for root in OVERLAY_ROOTS:
        (lab_node.root / "upper" / root.lstrip("/")).mkdir(parents=True, exist_ok=True)
        (lab_node.root / "work" / root.lstrip("/")).mkdir(parents=True, exist_ok=True)
    for root in BIND_ROOTS:
        (lab_node.root / root.lstrip("/")).mkdir(parents=True, exist_ok=True)
    os.chmod(lab_node.root / "root", 0o700)
    host_key = host_key_path(lab_node)
    if not host_key.exists():
        host_key.parent.mkdir(parents=True, exist_ok=True)
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{lab_node.name}", "-f", str(host_key)])
    write_file(upper_path(lab_node, "/etc/ssh/sshd_config"), sshd_config(the_lab, lab_node))
    ssh_dir = upper_path(lab_node, "/root/.ssh")
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    write_file(ssh_dir / "authorized_keys", Path(f"{the_lab.key}.pub").read_text(), 0o600)
    for name, source in standins.items():
        write_file(lab_node.root / "standin" / name, source.read_text(), 0o755)
    drop_in = f"{the_lab.cluster.spec.paths.systemd_dir}/keepalived.service.d/10-lab-type-simple.conf"
    write_file(upper_path(lab_node, drop_in), KEEPALIVED_DROP_IN)


def upper_path(lab_node: LabNode, absolute: str) -> Path:
    """Where a file the node sees at `absolute` is stored on the workstation (/run, /tmp: nowhere)."""
    for root in OVERLAY_ROOTS:
        if absolute == root or absolute.startswith(root + "/"):
            return lab_node.root / "upper" / absolute.lstrip("/")
    for root in BIND_ROOTS:
        if absolute == root or absolute.startswith(root + "/"):
            return lab_node.root / absolute.lstrip("/")
    raise LabError(f"{absolute} is not kept on the workstation (tmpfs or shared with the machine)")


def node_script(lab_node: LabNode) -> str:
    """What runs as PID 1 of the node's namespaces before it becomes the node's sshd.

    The node's directory is first bound at /run/lab-node (a private tmpfs), so the later mounts find
    their sources even when the repository lies under /root, /tmp or /var/log; it is unmounted before
    sshd starts, so the node does not see its own layers.
    """
    q = shlex.quote
    holder = "/run/lab-node"
    lines = [
        "set -eu",
        "mount -t tmpfs -o mode=0755,nosuid,nodev lab-run /run",
        f"mkdir -p -m 0755 {holder} /run/sshd /run/lock",
        f"mount --bind {q(str(lab_node.root))} {holder}",
    ]
    for root in OVERLAY_ROOTS:
        options = f"lowerdir={root},upperdir={holder}/upper{root},workdir={holder}/work{root}"
        lines.append(f"mount -t overlay lab-{q(lab_node.name)} -o {options} {root}")
    lines += [f"mount --bind {holder}{root} {root}" for root in BIND_ROOTS]
    lines += [
        "mount -t tmpfs -o mode=1777,nosuid,nodev lab-tmp /tmp",
        "mount -t tmpfs -o mode=1777,nosuid,nodev lab-shm /dev/shm",
    ]
    for name in STANDINS:
        for target in (f"/usr/bin/{name}", f"/bin/{name}"):
            lines.append(f"if [ -e {target} ] && ! [ {target} -ef {holder}/standin/{name} ]; then "
                         f"mount --bind {holder}/standin/{name} {target}; fi")
    lines += [
        f"umount {holder}",
        f"rmdir {holder}",
        # What a booting Debian does for /run (e.g. /run/haproxy from haproxy's tmpfiles.d entry).
        "if command -v systemd-tmpfiles >/dev/null; then systemd-tmpfiles --create --prefix=/run || true; fi",
        f"hostname {q(lab_node.name)}",
        f"echo {q(lab_node.name)} > /etc/hostname",
        f"exec {SSHD} -D -e -f /etc/ssh/sshd_config",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- release-style tarballs from local binaries


def debian_etcd_version() -> str | None:
    if not shutil.which("etcd"):
        return None
    match = re.search(r"etcd Version: (\S+)", sh(["etcd", "--version"]).stdout)
    return match[1] if match else None


def pack(target: Path, members: list[tuple[str, Path]], state: dict) -> str:
    """A gzip tarball of `members` (name in archive, file); rebuilt only when a source changed."""
    stamp = [[name, str(src), src.stat().st_size, src.stat().st_mtime_ns] for name, src in members]
    stamp_file = target.with_name(target.name + ".lab-stamp")
    remember(state, target)
    remember(state, stamp_file)
    if target.exists() and stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp:
        return "unchanged"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
        dirs: set[str] = set()
        for name, src in members:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(src.stat().st_mtime)
                    tar.addfile(info)
            info = tar.gettarinfo(str(src), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o755
            with src.open("rb") as f:
                tar.addfile(info, f)
    os.replace(tmp, target)
    stamp_file.write_text(json.dumps(stamp))
    return "packed"


def etcd_tarball(the_lab: Lab, state: dict, say: Callable[[str], None]) -> None:
    """prerequisites.etcd_tarball from Debian's etcd, laid out like an upstream release."""
    spec = the_lab.cluster.spec
    if not spec.prerequisites.etcd_tarball:
        say("  note: prerequisites.etcd_tarball is empty: the runbook would download etcd, "
            "which the lab cannot reach")
        return
    version = debian_etcd_version()
    if version is None:
        raise LabError("no etcd binary: install the Debian packages etcd-server and etcd-client")
    wanted = spec.components.etcd.version.lstrip("v")
    if wanted != version:
        raise LabError(f"components.etcd.version is {spec.components.etcd.version} but the lab's etcd "
                       f"(Debian etcd-server) is {version}: set components.etcd.version: \"{version}\"")
    top = f"etcd-v{version}-linux-amd64"
    target = repo_path(spec.prerequisites.etcd_tarball)
    if target.name != f"{top}.tar.gz":
        raise LabError(f"prerequisites.etcd_tarball should be named {top}.tar.gz (the upstream name), "
                       f"not {target.name}")
    members = []
    for binary in ("etcd", "etcdctl"):
        found = shutil.which(binary)
        if not found:
            raise LabError(f"no {binary} binary: install the Debian packages etcd-server and etcd-client")
        members.append((f"{top}/{binary}", Path(found).resolve()))
    status = pack(target, members, state)
    say(f"  etcd tarball {status}: {spec.prerequisites.etcd_tarball} (Debian etcd {version})")


def server_tarball(the_lab: Lab, kube_bin_dir: str | None, state: dict, say: Callable[[str], None]) -> None:
    """prerequisites.server_tarball from --kube-bin-dir, laid out like kubernetes-server-linux-amd64.tar.gz."""
    spec = the_lab.cluster.spec
    if not kube_bin_dir:
        state["kube_binaries"] = False
        say("  no --kube-bin-dir: steps that need kube-apiserver, kube-controller-manager or kube-scheduler "
            "will be reported as skipped")
        return
    if not spec.prerequisites.server_tarball:
        raise LabError("--kube-bin-dir needs prerequisites.server_tarball in the cluster file "
                       "(where the lab packs kubernetes-server-linux-amd64.tar.gz)")
    source = Path(kube_bin_dir).expanduser().resolve()
    missing = [b for b in KUBE_SERVER_BINARIES if not os.access(source / b, os.X_OK)]
    if missing:
        raise LabError(f"--kube-bin-dir {source} lacks executable {', '.join(missing)}")
    members = [(f"kubernetes/server/bin/{b}", source / b) for b in KUBE_SERVER_BINARIES + KUBE_OPTIONAL_BINARIES
               if os.access(source / b, os.X_OK)]
    if not os.access(source / "kubectl", os.X_OK):
        # The runbook unpacks kubectl from the same tarball; take this machine's if the directory has none.
        host_kubectl = shutil.which("kubectl")
        if not host_kubectl:
            raise LabError(f"--kube-bin-dir {source} has no kubectl and neither has this machine")
        members.append(("kubernetes/server/bin/kubectl", Path(host_kubectl).resolve()))
        say(f"  note: kubectl taken from {host_kubectl} ({source} has none)")
    target = repo_path(spec.prerequisites.server_tarball)
    status = pack(target, members, state)
    state["kube_binaries"] = True
    names = ", ".join(name.rsplit("/", 1)[1] for name, _ in members)
    say(f"  kubernetes server tarball {status}: {spec.prerequisites.server_tarball} ({names})")


def kube_binaries_available(cluster: Cluster) -> bool:
    """True if the running lab was given kube-apiserver/-controller-manager/-scheduler (--kube-bin-dir)."""
    return bool(load_state(lab(cluster)).get("kube_binaries"))


# ---------------------------------------------------------------- network


def ensure_bridge(the_lab: Lab) -> None:
    if not link_exists(the_lab.bridge):
        sh(["ip", "link", "add", the_lab.bridge, "type", "bridge"])
    sysctl_off_ipv6(the_lab.bridge)
    addrs = sh(["ip", "-o", "-4", "addr", "show", "dev", the_lab.bridge]).stdout
    if the_lab.bridge_address not in addrs.split():
        sh(["ip", "addr", "add", the_lab.bridge_address, "dev", the_lab.bridge])
    sh(["ip", "link", "set", the_lab.bridge, "up"])


def in_ns(lab_node: LabNode, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(["ip", "netns", "exec", lab_node.netns, *args], check=check)


def ensure_node_network(the_lab: Lab, lab_node: LabNode) -> None:
    if not netns_exists(lab_node.netns):
        sh(["ip", "netns", "add", lab_node.netns])
    # Links created from now on in the namespace get no IPv6 (lo keeps ::1).
    in_ns(lab_node, "sh", "-c", "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6", check=False)
    in_ns(lab_node, "ip", "link", "set", "lo", "up")
    inner = in_ns(lab_node, "ip", "-o", "link", "show", "dev", the_lab.interface, check=False).returncode == 0
    if not link_exists(lab_node.host_veth) or not inner:
        if link_exists(lab_node.host_veth):
            sh(["ip", "link", "del", lab_node.host_veth])
        if inner:
            in_ns(lab_node, "ip", "link", "del", the_lab.interface)
        sh(["ip", "link", "add", lab_node.host_veth, "type", "veth", "peer", "name", the_lab.interface,
            "netns", lab_node.netns])
    sysctl_off_ipv6(lab_node.host_veth)
    sh(["ip", "link", "set", lab_node.host_veth, "master", the_lab.bridge, "up"])
    address = f"{lab_node.node.ip}/{PREFIX_LEN}"
    if address not in in_ns(lab_node, "ip", "-o", "-4", "addr", "show", "dev", the_lab.interface).stdout.split():
        in_ns(lab_node, "ip", "addr", "add", address, "dev", the_lab.interface)
    in_ns(lab_node, "ip", "link", "set", the_lab.interface, "up")


# ---------------------------------------------------------------- processes


def node_running(state: dict, lab_node: LabNode) -> bool:
    entry = state.get("nodes", {}).get(lab_node.name, {})
    return alive(entry.get("init_pid"), entry.get("init_start"))


def start_node(the_lab: Lab, lab_node: LabNode, standins: dict[str, Path], state: dict) -> subprocess.Popen[bytes]:
    prepare_node_root(the_lab, lab_node, standins)
    log = (lab_node.root / "sshd.log").open("ab")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab_node.netns, "unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child",
         "--mount-proc", "--propagation", "private", "sh", "-c", node_script(lab_node)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
    )
    log.close()
    state.setdefault("nodes", {})[lab_node.name] = {
        "unshare_pid": proc.pid, "unshare_start": start_time(proc.pid), "init_pid": None, "init_start": None,
    }
    return proc


def port_open(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.3):
            return True
    except OSError:
        return False


def wait_started(the_lab: Lab, started: dict[str, subprocess.Popen[bytes]], state: dict) -> None:
    port = the_lab.cluster.spec.ssh.port
    deadline = time.monotonic() + START_TIMEOUT
    pending = dict(started)
    while pending:
        for name, proc in list(pending.items()):
            lab_node = next(n for n in the_lab.nodes if n.name == name)
            entry = state["nodes"][name]
            if entry["init_pid"] is None:
                kids = children(proc.pid)
                if kids:
                    entry["init_pid"], entry["init_start"] = kids[0], start_time(kids[0])
            if proc.poll() is not None:
                log = (lab_node.root / "sshd.log").read_text(errors="replace").strip().splitlines()[-5:]
                raise LabError(f"node {name} stopped while starting (exit {proc.returncode}):\n  " + "\n  ".join(log))
            if entry["init_pid"] and port_open(lab_node.node.ip, port):
                del pending[name]
        if pending and time.monotonic() > deadline:
            raise LabError(f"sshd did not listen within {START_TIMEOUT:.0f} s on: {', '.join(pending)} "
                           f"(see {the_lab.nodes_base}/<node>/sshd.log; `invoke lab-down` cleans up)")
        if pending:
            time.sleep(0.05)


def stop_pid(pid: int | None, started: int | None, sig: int = signal.SIGTERM) -> bool:
    """Signal a recorded process if it is still that process; True if signalled."""
    if not alive(pid, started):
        return False
    try:
        os.kill(pid, sig)  # type: ignore[arg-type]
    except ProcessLookupError:
        return False
    return True


def wait_gone(check: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


# ---------------------------------------------------------------- the verbs


def up(cluster: Cluster, kube_bin_dir: str | None = None, say: Callable[[str], None] = print) -> Lab:
    """Create (or complete) the lab; running it again leaves a healthy lab as it is."""
    the_lab = lab(cluster)
    preflight(the_lab)
    state = load_state(the_lab)
    state.update({"cluster": cluster.name, "bridge": the_lab.bridge, "bridge_address": the_lab.bridge_address})
    the_lab.dir.mkdir(parents=True, exist_ok=True)
    save_state(the_lab, state)
    ensure_client_key(the_lab, state)
    standins = standin_sources()
    etcd_tarball(the_lab, state, say)
    server_tarball(the_lab, kube_bin_dir, state, say)
    save_state(the_lab, state)
    ensure_bridge(the_lab)
    started: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for lab_node in the_lab.nodes:
            ensure_node_network(the_lab, lab_node)
            if node_running(state, lab_node):
                continue
            remember(state, lab_node.root)
            started[lab_node.name] = start_node(the_lab, lab_node, standins, state)
        write_known_hosts(the_lab, state)
        wait_started(the_lab, started, state)
    finally:
        save_state(the_lab, state)
    for lab_node in the_lab.nodes:
        entry = state["nodes"][lab_node.name]
        how = "started" if lab_node.name in started else "already running"
        say(f"  {lab_node.name:16} {lab_node.node.ip:15} netns {lab_node.netns}  sshd pid {entry['init_pid']} ({how})")
    say(f"lab {cluster.name} is up: bridge {the_lab.bridge} {the_lab.bridge_address}, "
        f"{len(the_lab.nodes)} node(s); state in {the_lab.state_file.relative_to(REPO)}")
    return the_lab


def down(cluster: Cluster, say: Callable[[str], None] = print) -> None:
    """Stop what lab-up started (by recorded PID) and remove what it made."""
    the_lab = lab(cluster)
    if os.geteuid() != 0:
        raise LabError("the lab needs root: run `sudo invoke lab-down ...`")
    state = load_state(the_lab)
    control_path = option(cluster, "ControlPath")
    if control_path:
        for lab_node in the_lab.nodes:
            # Ask this workstation's multiplexing ssh (if any) to close its connection to the node.
            subprocess.run(f"{ssh_prefix(cluster, lab_node.node)} -O exit", shell=True, cwd=REPO,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10, check=False)
    recorded = state.get("nodes", {})
    signalled = []
    for entry in recorded.values():
        for kind in ("init", "unshare"):
            pid, started = entry.get(f"{kind}_pid"), entry.get(f"{kind}_start")
            if stop_pid(pid, started):
                signalled.append((pid, started))
    # PID 1 of a node's namespace ends -> the kernel ends every process of that node.
    if not wait_gone(lambda: any(alive(p, s) for p, s in signalled), 5):
        for pid, started in signalled:
            stop_pid(pid, started, signal.SIGKILL)
        wait_gone(lambda: any(alive(p, s) for p, s in signalled), 5)
    for lab_node in the_lab.nodes:
        if netns_exists(lab_node.netns):
            left = sh(["ip", "netns", "pids", lab_node.netns], check=False).stdout.split()
            if left:
                say(f"  warning: processes lab-up did not record still use {lab_node.netns}: {' '.join(left)} "
                    "(left running)")
            sh(["ip", "netns", "del", lab_node.netns])
    for lab_node in the_lab.nodes:
        if link_exists(lab_node.host_veth):
            sh(["ip", "link", "del", lab_node.host_veth], check=False)
    veths_gone = wait_gone(lambda: any(link_exists(n.host_veth) for n in the_lab.nodes), 10)
    if link_exists(the_lab.bridge):
        sh(["ip", "link", "del", the_lab.bridge])
    unmount_leftovers(the_lab)
    if the_lab.known_hosts is not None and the_lab.known_hosts.exists():
        kept = without_lab_lines(the_lab, the_lab.known_hosts.read_text())
        write_file(the_lab.known_hosts, "\n".join(kept) + "\n" if kept else "", 0o644)
    for made in sorted(state.get("made", []), key=len, reverse=True):
        remove(the_lab, Path(made))
    for path in (the_lab.nodes_base, the_lab.state_file):
        remove(the_lab, path)
    if the_lab.nodes_base.parent != the_lab.dir:  # /var/tmp/runbook-lab/<cluster>: remove when empty
        for directory in (the_lab.nodes_base.parent, the_lab.nodes_base.parent.parent):
            if directory.is_dir() and not any(directory.iterdir()):
                directory.rmdir()
    if the_lab.dir.is_dir() and not any(the_lab.dir.iterdir()):
        the_lab.dir.rmdir()
    if not veths_gone:
        say("  warning: some veth links were still present after 10 s")
    say(f"lab {cluster.name} is down: {len(signalled)} process(es) stopped, "
        f"{len(the_lab.nodes)} namespace(s), their links and bridge {the_lab.bridge} removed")


def lab_mounts(the_lab: Lab) -> list[str]:
    """Mount points on this machine under the lab's directory (there should be none: mounts are private)."""
    found = []
    roots = (str(the_lab.dir), str(the_lab.nodes_base))
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if under(point, roots):
            found.append(point)
    return found


def unmount_leftovers(the_lab: Lab) -> None:
    for point in sorted(lab_mounts(the_lab), key=len, reverse=True):
        sh(["umount", "-l", point], check=False)


def remove(the_lab: Lab, path: Path) -> None:
    """Delete a file or tree lab-up made; never across a mount point, never outside expectations."""
    if not (path.exists() or path.is_symlink()):
        return
    if path.is_dir() and not path.is_symlink():
        if lab_mounts(the_lab) and any(m.startswith(str(path)) for m in lab_mounts(the_lab)):
            raise LabError(f"{path} still has mounts; not removing it")
        shutil.rmtree(path)
    else:
        path.unlink()


def status(cluster: Cluster) -> list[dict[str, object]]:
    """Per node: namespace present, sshd alive, ssh reachable (`hostname` answers the node's name)."""
    the_lab = lab(cluster)
    state = load_state(the_lab)
    rows = []
    for lab_node in the_lab.nodes:
        entry = state.get("nodes", {}).get(lab_node.name, {})
        row: dict[str, object] = {
            "node": lab_node.name, "ip": lab_node.node.ip, "netns": netns_exists(lab_node.netns),
            "sshd_pid": entry.get("init_pid"), "sshd_alive": node_running(state, lab_node),
            "ssh": False, "ssh_seconds": None, "ssh_said": "",
        }
        if row["netns"] and row["sshd_alive"]:
            start = time.monotonic()
            proc = subprocess.run(f"{ssh_prefix(cluster, lab_node.node)} hostname", shell=True, cwd=REPO,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20,
                                  stdin=subprocess.DEVNULL, check=False)
            row["ssh_seconds"] = round(time.monotonic() - start, 3)
            row["ssh_said"] = proc.stdout.strip()
            row["ssh"] = proc.returncode == 0 and proc.stdout.strip() == lab_node.name
        rows.append(row)
    return rows


def status_lines(cluster: Cluster) -> tuple[list[str], bool]:
    the_lab = lab(cluster)
    rows = status(cluster)
    bridge = "up" if link_exists(the_lab.bridge) else "absent"
    lines = [f"lab {cluster.name}: bridge {the_lab.bridge} ({the_lab.bridge_address}) {bridge}"]
    healthy = bridge == "up"
    for row in rows:
        ssh = (f"ssh ok ({row['ssh_seconds']} s)" if row["ssh"]
               else f"ssh FAILED: {row['ssh_said'][:120]!r}" if row["ssh_seconds"] is not None else "ssh not tried")
        lines.append(f"  {row['node']:16} {row['ip']:15} netns {'yes' if row['netns'] else 'NO':3}  "
                     f"sshd {'pid ' + str(row['sshd_pid']) + ' alive' if row['sshd_alive'] else 'NOT running'}  "
                     f"{ssh}")
        healthy &= bool(row["ssh"])
    return lines, healthy
