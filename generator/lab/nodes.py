"""Each node: a root file system of its own, booted by systemd-nspawn with real systemd as PID 1 in the node's
network namespace, so units, `Restart=`, journald and timers behave as on a real host.

A node's root is an overlay of this machine's `/` (the node sees the packages installed here: sshd, haproxy,
keepalived, systemd) whose writable layer is the node's own disk (`nodes-root/<node>/upper/`). Before the first
boot lab-up makes that disk look like a freshly installed host: its own machine-id, hostname, /etc/hosts, host key
and root's authorized_keys; sshd the only service this machine enables that stays enabled; and this machine's
private places (root's and users' homes, logs, the repository with every cluster's keys) empty.
"""

from __future__ import annotations

import os
import secrets
import shlex
import stat
import subprocess
import time
from pathlib import Path

from generator.lab.layout import Lab, LabError, LabNode, upper_path
from generator.lab.ssh import host_key_path, sshd_config
from generator.lab.system import alive, children, port_open, sh, start_time, write_file
from generator.model import REPO

NSPAWN = "systemd-nspawn"
SYSTEMD = "/lib/systemd/systemd"
SSHD = "/usr/sbin/sshd"
SSH_UNIT = "/lib/systemd/system/ssh.service"
# systemd-nspawn's exit status when the container's systemd rebooted (systemd-nspawn(1), "EXIT STATUS").
REBOOTED = 133
BOOT_TIMEOUT = 60.0
# Enablement links this machine has that a node keeps: a node starts like a host where only sshd was enabled.
KEPT_ENABLED = frozenset({"ssh.service", "remote-fs.target", "getty@tty1.service"})
# This machine's places a fresh host has empty: homes, logs, scratch space.
HIDDEN = ("/root", "/home", "/var/log", "/var/tmp", "/srv")
# Shared system directories never emptied for a node, even when a cluster file installs into one of them.
SYSTEM_DIRS = frozenset({"/", "/etc", "/opt", "/usr", "/usr/bin", "/usr/local", "/usr/local/bin", "/usr/sbin",
                         "/var", "/var/lib", "/etc/systemd/system"})


def machine_name(lab_node: LabNode) -> str:
    """The container's name for systemd-nspawn (unique on this machine: two labs may name nodes alike)."""
    return lab_node.netns


def opaque_dir(lab_node: LabNode, absolute: str) -> Path:
    """An empty directory in the node that hides what this machine keeps at `absolute` (overlayfs opaque dir)."""
    path = upper_path(lab_node, absolute)
    path.mkdir(parents=True, exist_ok=True)
    os.setxattr(path, "trusted.overlay.opaque", b"y")
    return path


def whiteout(lab_node: LabNode, absolute: str) -> None:
    """Remove `absolute` from the node's view only (an overlayfs whiteout: a 0/0 character device)."""
    path = upper_path(lab_node, absolute)
    if path.exists() or path.is_symlink():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def disabled_here(units_dir: Path = Path("/etc/systemd/system")) -> list[str]:
    """This machine's enablement links (`*.wants/<unit>`) and aliases (`<alias> -> <unit>`) that a fresh node must
    not have: all but those of KEPT_ENABLED."""
    wants = [link for link in units_dir.glob("*.wants/*") if link.name not in KEPT_ENABLED]
    aliases = [link for link in units_dir.iterdir() if link.is_symlink() and os.readlink(link) != "/dev/null"
               and Path(os.readlink(link)).name not in KEPT_ENABLED]
    return sorted(str(link) for link in wants + aliases)


def hosts_file(the_lab: Lab) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{n.node.ip}\t{n.name}" for n in the_lab.nodes]
    return "\n".join(lines) + "\n"


def private_dirs(the_lab: Lab) -> list[str]:
    """Directories of this machine a node must see empty: HIDDEN, the repository (every cluster's build tree and
    keys), and the runbook's own directories where this machine happens to have them."""
    paths = the_lab.cluster.spec.paths
    runbook = [paths.bin_dir, paths.config_dir, paths.pki_dir, paths.etcd_data_dir, paths.log_dir,
               the_lab.cluster.spec.components.etcd.bin_dir or paths.bin_dir]
    found = [d for d in runbook if d not in SYSTEM_DIRS and Path(d).is_dir()]
    return sorted({*HIDDEN, str(REPO), *found})


def prepare_node_root(the_lab: Lab, lab_node: LabNode) -> None:
    """The node's disk before it boots (kept across reboots; lab-down removes it)."""
    for layer in ("upper", "work", "merged"):
        (lab_node.root / layer).mkdir(parents=True, exist_ok=True)
    for directory in private_dirs(the_lab):
        opaque_dir(lab_node, directory)
    os.chmod(upper_path(lab_node, "/root"), 0o700)
    journal = upper_path(lab_node, "/var/log/journal")  # persistent: a node's journal outlives its reboots
    journal.mkdir(exist_ok=True)
    machine_id = upper_path(lab_node, "/etc/machine-id")
    if not machine_id.exists():
        write_file(machine_id, secrets.token_hex(16) + "\n", 0o444)
    write_file(upper_path(lab_node, "/etc/hostname"), f"{lab_node.name}\n")
    write_file(upper_path(lab_node, "/etc/hosts"), hosts_file(the_lab))
    for link in disabled_here():
        whiteout(lab_node, link)
    host_key = host_key_path(lab_node)
    if not host_key.exists():
        host_key.parent.mkdir(parents=True, exist_ok=True)
        sh(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{lab_node.name}", "-f", str(host_key)])
    for other in Path("/etc/ssh").glob("ssh_host_*"):  # this machine's host keys are not the node's
        if not other.name.startswith("ssh_host_ed25519_key"):
            whiteout(lab_node, str(other))
    write_file(upper_path(lab_node, "/etc/ssh/sshd_config"), sshd_config(the_lab, lab_node))
    ssh_dir = upper_path(lab_node, "/root/.ssh")
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    write_file(ssh_dir / "authorized_keys", Path(f"{the_lab.key}.pub").read_text(), 0o600)


def boot_script(lab_node: LabNode) -> str:
    """The node's power supply: mount its root (in a mount namespace of its own, so the overlay goes when the node
    does), boot it, and boot it again when its systemd reboots. SIGTERM is a clean shutdown (nspawn halts the
    container's systemd, which stops every unit)."""
    q = shlex.quote
    root = lab_node.root
    options = f"lowerdir=/,upperdir={root}/upper,workdir={root}/work"
    nspawn = shlex.join([
        NSPAWN, f"--directory={root}/merged", "--boot", "--register=no", "--keep-unit", "--link-journal=no",
        f"--network-namespace-path=/run/netns/{lab_node.netns}", f"--machine={machine_name(lab_node)}",
        f"--hostname={lab_node.name}", "--console=read-only",
        # keepalived adds and removes the VIP on the node's interface
        "--capability=CAP_NET_ADMIN",
    ])
    return "\n".join([
        "set -u",
        f"mount -t overlay {q(f'lab-{lab_node.name}')} -o {q(options)} {q(f'{root}/merged')} || exit 1",
        "child=",
        """trap '[ -z "$child" ] || kill -TERM "$child"' TERM INT""",
        "boot() {",
        f"  {nspawn} </dev/null &",
        "  child=$!",
        # `wait` also returns when a trapped signal arrives: only a child that is gone has exited
        '  while :; do wait "$child"; rc=$?; kill -0 "$child" 2>/dev/null || return "$rc"; done',
        "}",
        f'while boot; rc=$?; [ "$rc" -eq {REBOOTED} ]; do echo "lab: {lab_node.name} reboots"; done',
        'exit "$rc"',
    ])


def node_running(state: dict, lab_node: LabNode) -> bool:
    entry = state.get("nodes", {}).get(lab_node.name, {})
    return alive(entry.get("supervisor_pid"), entry.get("supervisor_start"))


def console_log(lab_node: LabNode) -> Path:
    return lab_node.root / "console.log"


def start_node(the_lab: Lab, lab_node: LabNode, state: dict) -> subprocess.Popen[bytes]:
    prepare_node_root(the_lab, lab_node)
    log = console_log(lab_node).open("ab")
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                             boot_script(lab_node)],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True)
    log.close()
    state.setdefault("nodes", {})[lab_node.name] = {
        "supervisor_pid": proc.pid, "supervisor_start": start_time(proc.pid),
        # lab-down finds them by these even once the cluster file no longer lists the node (it left the cluster)
        "netns": lab_node.netns, "host_veth": lab_node.host_veth, "machine": machine_name(lab_node),
    }
    return proc


def last_words(lab_node: LabNode, lines: int = 3) -> str:
    """The console's last meaningful lines, for a one-line error."""
    try:
        text = console_log(lab_node).read_text(errors="replace")
    except OSError:
        return "(no console output)"
    kept = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) or "(no console output)"


def container_init(supervisor_pid: int) -> int | None:
    """The node's PID 1 (its systemd) as this machine numbers it: the child of systemd-nspawn."""
    for nspawn in children(supervisor_pid):
        for init in children(nspawn):
            return init
    return None


def wait_booted(the_lab: Lab, started: dict[str, subprocess.Popen[bytes]]) -> None:
    """Until every started node's sshd (an ordinary systemd service there) answers on the node's IP."""
    port = the_lab.cluster.spec.ssh.port
    deadline = time.monotonic() + BOOT_TIMEOUT
    pending = dict(started)
    while pending:
        for name, proc in list(pending.items()):
            lab_node = next(n for n in the_lab.nodes if n.name == name)
            if proc.poll() is not None:
                raise LabError(f"node {name} did not boot: systemd-nspawn ended (exit {proc.returncode}): "
                               f"{last_words(lab_node)} (console: {console_log(lab_node)})")
            if port_open(lab_node.node.ip, port):
                del pending[name]
        if pending and time.monotonic() > deadline:
            late = next(n for n in the_lab.nodes if n.name in pending)
            raise LabError(f"no sshd answered within {BOOT_TIMEOUT:.0f} s on: {', '.join(pending)}; last console "
                           f"line of {late.name}: {last_words(late, 1)} (`invoke lab-down` cleans up)")
        if pending:
            time.sleep(0.1)
