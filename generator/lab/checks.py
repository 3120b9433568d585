"""Checks before lab-up makes anything."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
from pathlib import Path

from generator.lab.layout import PRIVATE_ROOTS, Lab, LabError, under
from generator.lab.nodes import SSHD
from generator.lab.system import sh


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
