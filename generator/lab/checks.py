"""Checks before lab-up makes anything."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
from pathlib import Path

from generator.lab.layout import Lab, LabError
from generator.lab.nodes import NSPAWN, SSH_UNIT, SSHD, SYSTEMD, machine_name
from generator.lab.system import sh


def preflight(the_lab: Lab) -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, mounts, containers): run `sudo invoke lab-up ...`")
    missing = [t for t in ("ip", "unshare", "ssh", "ssh-keygen", "mount") if not shutil.which(t)]
    for path, package in ((SYSTEMD, "systemd"), (SSHD, "openssh-server"), (SSH_UNIT, "openssh-server")):
        if not Path(path).exists():
            missing.append(f"{path} (Debian package {package})")
    if not shutil.which(NSPAWN):
        missing.append(f"{NSPAWN} (Debian package systemd-container)")
    if missing:
        raise LabError(f"missing tools: {', '.join(missing)} (run `bash .ci/system-packages` as root)")
    check_containers_can_boot_systemd()
    if re.search(r"[\s,:]", str(the_lab.nodes_base)):
        raise LabError(f"{the_lab.nodes_base} must not contain spaces, ',' or ':' (overlay mount options)")
    for lab_node in the_lab.nodes:
        if len(machine_name(lab_node)) > 64:
            raise LabError(f"container name too long (64 characters at most): {machine_name(lab_node)}")
    check_subnet_free(the_lab)


def check_containers_can_boot_systemd() -> None:
    """What systemd as a container's PID 1 needs from this machine's kernel, named when it is missing."""
    filesystems = Path("/proc/filesystems").read_text()
    if "overlay" not in filesystems and sh(["modprobe", "overlay"], check=False).returncode != 0:
        raise LabError("this kernel has no overlayfs: lab nodes' root file systems are overlays of /")
    cgroups = Path("/sys/fs/cgroup")
    if not any((cgroups / marker).exists() for marker in ("cgroup.controllers", "unified", "systemd")):
        raise LabError("no cgroup hierarchy systemd can use is mounted (neither cgroup2 at /sys/fs/cgroup nor its "
                       "`unified` or `systemd` v1 hierarchy): systemd cannot run as a container's PID 1 here")


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
