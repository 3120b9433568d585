"""One lock per cluster, build/<cluster>/cluster.lock, held by render, deploy and every step that runs.

`filelock` (flock(2) underneath, released by the kernel when a holder dies, even by kill -9) does the locking;
a waiting run names the holder from /proc/locks. A run started by the holder
(deploy → notebook kernel → `invoke step` → `invoke render`) must not wait for its own ancestor: the holder exports
HELD_ENV, and a process whose ancestor is the recorded holder proceeds without taking the lock again.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from generator import stored
from generator.artifacts import Outside, build_dir, ensure_root
from generator.errors import RunbookError
from generator.model import Cluster

LOCK_NAME = "cluster.lock"
HELD_ENV = "RUNBOOK_LOCKS_HELD"  # JSON: {lock path: holder pid}
WAIT_ENV = "RUNBOOK_LOCK_WAIT"  # seconds to wait for a busy lock before giving up (default WAIT_SECONDS)
WAIT_SECONDS = 120.0


class LockBusy(RunbookError):
    pass


def ancestors() -> set[int]:
    """This process and its ancestors (Linux /proc)."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])  # the field after "(comm) state" is the parent's pid
    return pids


def held() -> dict[str, int]:
    try:
        value = json.loads(os.environ.get(HELD_ENV, "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def holder(path: Path) -> str:
    """Who holds the flock on `path`, from /proc/locks: "pid N (command line)", or "another run" if unknown.

    Read from the kernel rather than written into the lock file, which then never changes (a re-render that
    changes nothing leaves build/<cluster>/ byte for byte and mtime for mtime as it was) and never goes stale.
    """
    try:
        inode = str(path.stat().st_ino)
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()  # "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234 0 EOF"; waiters have "->" first
            if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5].rsplit(":", 1)[-1] == inode:
                args = Path(f"/proc/{fields[4]}/cmdline").read_bytes().decode(errors="replace").split("\0")
                command = " ".join([os.path.basename(args[0]), *args[1:]]).strip()
                return f"pid {fields[4]} ({''.join(c if c.isprintable() else '?' for c in command)[:120]})"
    except OSError:
        pass
    return "another run"


@contextmanager
def waiting_lock(path: Path, what: str, wait: float | None) -> Iterator[None]:
    """Hold the flock on `path` (created 0600); if another run holds it, say whom `what` waits for, wait (`None`:
    as long as it takes), or give up."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        pass
    else:  # a link would lock (and create) another file; a directory or FIFO is no lock file at all
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            found = "a hard link to another file" if stat.S_ISREG(info.st_mode) else stored.kind(info.st_mode)
            raise Outside(f"{path}: {found}, not a lock file; move it away (a run makes its own)")
    lock = FileLock(path, mode=0o600, fallback_to_soft=False, preserve_lock_file=True)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        limit = "" if wait is None else f" up to {wait:g} s"
        print(f"{what} is in use by {holder(path)}; waiting{limit}", file=sys.stderr, flush=True)
        try:
            lock.acquire(timeout=-1 if wait is None else wait)
        except Timeout:
            raise LockBusy(f"{what} is in use by {holder(path)}; gave up after {wait:g} s: run again "
                           "when it has finished") from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def cluster_lock(cluster: Cluster) -> Iterator[None]:
    """Hold build/<cluster>/cluster.lock; if another run holds it, say whom we wait for, wait, or give up."""
    root = build_dir(cluster)
    ensure_root(root)
    path = root / LOCK_NAME
    if held().get(str(path)) in ancestors():
        yield  # our own holder started us
        return
    with waiting_lock(path, f"build/{cluster.name}", float(os.environ.get(WAIT_ENV) or WAIT_SECONDS)):
        previous = os.environ.get(HELD_ENV)
        os.environ[HELD_ENV] = json.dumps({**held(), str(path): os.getpid()})
        try:
            yield
        finally:
            if previous is None:
                os.environ.pop(HELD_ENV, None)
            else:
                os.environ[HELD_ENV] = previous
