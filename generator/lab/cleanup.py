"""Mounts and files lab-down removes."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

from generator.lab.layout import Lab, LabError, under
from generator.lab.system import children, sh

# systemd-nspawn keeps a directory per container here and cannot remove it itself when /run is not a tmpfs
# ("Attempted to remove disk file system under …/propagate/…, and we can't allow that").
NSPAWN_PROPAGATE = Path("/run/systemd/nspawn/propagate")


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


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything below it, the deepest first (a node that would not halt: its supervisor,
    systemd-nspawn and the container's processes; the kernel ends the rest of a PID namespace with its init)."""
    for child in children(pid):
        kill_tree(child)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def forget_container(machine: str) -> None:
    if machine and "/" not in machine:
        directory = NSPAWN_PROPAGATE / machine
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()
