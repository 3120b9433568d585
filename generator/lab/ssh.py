"""The workstation's lab key, the nodes' host keys, known_hosts and sshd_config."""

from __future__ import annotations

import os
from pathlib import Path

from generator.lab.layout import Lab, LabNode, upper_path
from generator.lab.state import remember
from generator.lab.system import sh, write_file


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
# sshd of lab node {lab_node.name} (written by `invoke lab-up`): Debian's ssh.service runs it; it listens on the
# node's IP only, with the node's own host key.
Port {the_lab.cluster.spec.ssh.port}
ListenAddress {lab_node.node.ip}
HostKey /etc/ssh/ssh_host_ed25519_key
UsePAM yes
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
