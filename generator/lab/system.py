"""Commands, links, namespaces, processes and files on this machine."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from generator.artifacts import write_atomic
from generator.lab.layout import LabError


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


def port_open(ip: str, port: int) -> bool:
    try:
        with socket.create_connection((ip, port), timeout=0.3):
            return True
    except OSError:
        return False


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
