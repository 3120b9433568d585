"""Each node: its disk, the script that becomes its sshd, starting and waiting for it."""

from __future__ import annotations

import importlib.util
import os
import shlex
import subprocess
import time
from pathlib import Path

from generator.lab.layout import BIND_ROOTS, OVERLAY_ROOTS, Lab, LabError, LabNode, upper_path
from generator.lab.ssh import host_key_path, sshd_config
from generator.lab.system import alive, children, port_open, sh, start_time, write_file
from generator.model import Cluster

STANDINS = {"systemctl": "systemctl3.py", "journalctl": "journalctl3.py"}
# Where each node keeps the lab's Restart= emulation (generator/lab/restarter.py) and its log of restarts.
RESTARTER = "/usr/local/lib/runbook-lab/restarter.py"
RESTART_LOG = "/var/log/runbook-lab-restarts.log"
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

# Real systemd starts a unit again only once every process of the old one is gone (its cgroup is empty). The
# stand-in polls the old main PID once a second and can start the new daemon while the old one is still closing
# its listener (seen: a kube-apiserver restart failing with "bind: address already in use"). LAB ONLY as well.
PORT_FREE_DROP_IN = """\
# LAB ONLY (written by `invoke lab-up`, not part of the runbook): wait, up to 30 s, until the previous process
# has let go of port {port}, as real systemd does by waiting for the unit's cgroup to empty before a start.
[Service]
ExecStartPre=/usr/bin/timeout 30 /bin/sh -c 'while ss -Hltn "sport = :{port}" | grep -q .; do sleep 0.2; done'
"""


def kube_ports(cluster: Cluster) -> dict[str, int]:
    """The port each kube daemon listens on (the one a restart must find free)."""
    return {"kube-apiserver": cluster.spec.api_server.secure_port, "kube-controller-manager": 10257,
            "kube-scheduler": 10259}


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
    write_file(upper_path(lab_node, RESTARTER), (Path(__file__).parent / "restarter.py").read_text(), 0o755)
    units = the_lab.cluster.spec.paths.systemd_dir
    write_file(upper_path(lab_node, f"{units}/keepalived.service.d/10-lab-type-simple.conf"), KEEPALIVED_DROP_IN)
    for unit, port in kube_ports(the_lab.cluster).items():
        write_file(upper_path(lab_node, f"{units}/{unit}.service.d/10-lab-wait-port-free.conf"),
                   PORT_FREE_DROP_IN.format(port=port))


def node_script(lab_node: LabNode, unit_dir: str) -> str:
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
        f"python3 {RESTARTER} {q(unit_dir)} {RESTART_LOG} </dev/null >/dev/null 2>&1 &",
        f"exec {SSHD} -D -e -f /etc/ssh/sshd_config",
    ]
    return "\n".join(lines)


def node_running(state: dict, lab_node: LabNode) -> bool:
    entry = state.get("nodes", {}).get(lab_node.name, {})
    return alive(entry.get("init_pid"), entry.get("init_start"))


def start_node(the_lab: Lab, lab_node: LabNode, standins: dict[str, Path], state: dict) -> subprocess.Popen[bytes]:
    prepare_node_root(the_lab, lab_node, standins)
    log = (lab_node.root / "sshd.log").open("ab")
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab_node.netns, "unshare", "--mount", "--uts", "--pid", "--fork", "--kill-child",
         "--mount-proc", "--propagation", "private", "sh", "-c",
         node_script(lab_node, the_lab.cluster.spec.paths.systemd_dir)],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, close_fds=True,
    )
    log.close()
    state.setdefault("nodes", {})[lab_node.name] = {
        "unshare_pid": proc.pid, "unshare_start": start_time(proc.pid), "init_pid": None, "init_start": None,
        # lab-down finds them by these even once the cluster file no longer lists the node (it left the cluster)
        "netns": lab_node.netns, "host_veth": lab_node.host_veth,
    }
    return proc


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
