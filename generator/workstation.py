"""What the workstation needs to run a cluster's runbook, and one check of each need: `invoke check-workstation`.

Every command of the runbook runs in bash on the workstation; what runs on a node is the quoted argument of an `ssh`.
PACKAGES lists the programs those commands call outside such quotes (tests/test_workstation.py parses every command
of every cluster with shfmt, a real shell parser, and holds the list to them), by the Debian package that has them.
The check changes nothing: it looks the programs up, reads the tarballs the cluster file names, and asks each node,
over the very ssh the runbook uses, to run `true` through sudo without a password.
"""

from __future__ import annotations

import concurrent.futures
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from generator import day2
from generator.components.prerequisites.facts import etcd_url, server_url
from generator.errors import Reported
from generator.model import REPO, Cluster, Node
from generator.steps import ssh_prefix, sudo

# Debian package → the programs of it the workstation's commands call. bash runs them all; tar unpacks the release
# tarballs through gzip (`tar -xz`), which no command names.
PACKAGES: dict[str, tuple[str, ...]] = {
    "bash": ("bash",),
    "coreutils": ("base64", "cat", "cut", "date", "head", "install", "mkdir", "mktemp", "paste", "rm", "sha256sum",
                  "sleep", "sort", "stat", "tail", "timeout", "touch", "tr", "wc"),
    "curl": ("curl",),
    "diffutils": ("cmp", "diff"),
    "findutils": ("xargs",),
    "gawk": ("awk",),
    "grep": ("grep",),
    "gzip": ("gzip",),
    "openssh-client": ("ssh",),
    "openssl": ("openssl",),
    "tar": ("tar",),
    "util-linux": ("setsid",),
}
PROGRAMS = {name for names in PACKAGES.values() for name in names}
# The runbook's own verbs, from this repository's virtual environment (`make setup`, then `. .venv/bin/activate`)
VERBS = "invoke"
PYTHON = (3, 11)
SSH_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Need:
    what: str
    ok: bool
    detail: str

    @property
    def line(self) -> str:
        return f"{'ok' if self.ok else 'MISSING':8} {self.what}: {self.detail}"


def install_command() -> str:
    return "sudo apt-get install " + " ".join(PACKAGES)


def programs() -> list[Need]:
    found = []
    for package, names in PACKAGES.items():
        for name in names:
            path = shutil.which(name)
            found.append(Need(name, path is not None, path or f"not on PATH (Debian package {package})"))
    verbs = shutil.which(VERBS)
    found.append(Need(VERBS, verbs is not None,
                      verbs or f"not on PATH: `make setup` in {REPO}, then `. .venv/bin/activate`"))
    version = ".".join(map(str, sys.version_info[:3]))
    found.append(Need("python", sys.version_info[:2] >= PYTHON, f"{version} (needs {'.'.join(map(str, PYTHON))}+)"))
    return found


def tarballs(cluster: Cluster) -> list[Need]:
    """A tarball the cluster file names must be a file on the workstation; one it does not name is downloaded."""
    given = cluster.spec.prerequisites
    wanted = (("prerequisites.server_tarball", given.server_tarball, server_url(cluster.release)),
              ("prerequisites.etcd_tarball", given.etcd_tarball, etcd_url(cluster.spec.components.etcd.version)))
    found = []
    for key, path, url in wanted:
        if not path:
            found.append(Need(key, True, f"not set: chapter 1 downloads {url} (this workstation must reach it)"))
        else:
            file = Path(path) if Path(path).is_absolute() else REPO / path
            found.append(Need(key, file.is_file(), path if file.is_file() else f"{path}: no such file"))
    return found


def reach(cluster: Cluster, node: Node) -> Need:
    """ssh as the runbook does, never asking for a password, and sudo without one (unless the ssh user is root)."""
    prefix = shlex.split(ssh_prefix(cluster, node))
    command = [prefix[0], "-o", "BatchMode=yes", "-o", f"ConnectTimeout={SSH_TIMEOUT_SECONDS}", *prefix[1:],
               f"{sudo(cluster)}true"]
    what = f"{shlex.join(prefix)} ({node.name})"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=3 * SSH_TIMEOUT_SECONDS,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        return Need(what, False, "no ssh on this workstation")
    except subprocess.TimeoutExpired:
        return Need(what, False, f"no answer within {3 * SSH_TIMEOUT_SECONDS} s")
    if done.returncode == 0:
        return Need(what, True, "logged in with a key" + (", sudo without a password" if sudo(cluster) else ""))
    reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
    return Need(what, False, reason)


def check(cluster: Cluster) -> list[Need]:
    """Every need, programs first, then the tarballs and each node the runbook reaches (asked at once)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        nodes = list(pool.map(lambda node: reach(cluster, node), (*cluster.spec.nodes, *day2.leaving(cluster))))
    return [*programs(), *tarballs(cluster), *nodes]


def report(cluster: Cluster, out: TextIO) -> None:
    """`invoke check-workstation`: one line per need, then the count; Reported when one is missing."""
    needs = check(cluster)
    for need in needs:
        out.write(f"{need.line}\n")
    missing = [n for n in needs if not n.ok]
    if missing:
        hint = (f" (Debian's packages of every program: {install_command()})"
                if any(n.what in PROGRAMS for n in missing) else "")
        raise Reported(f"check-workstation: {len(missing)} of {len(needs)} missing{hint}")
    out.write(f"check-workstation: all {len(needs)} needs met\n")
