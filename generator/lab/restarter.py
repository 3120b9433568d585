"""LAB ONLY, runs inside each lab node: the `Restart=` that the systemd stand-in does not implement.

docker-systemctl-replacement is not PID 1 in the lab, so nothing restarts a service whose process dies; real
systemd does, for every unit with `Restart=always` (all of this runbook's kube units). Kube components exit on
purpose when they lose their leader lease, so without this a lab would show a failure real nodes recover from.

The stand-in keeps `/run/<unit>.status` with `MainPID=` while a unit runs and removes it on `systemctl stop`;
a status file whose process is gone is a unit that died. Each one is started again after its `RestartSec=` if
it is still dead then, and
every restart is logged with a timestamp (the lab tests read the log: a restart is a fact, not a success).
Standalone: only the standard library, copied into the node by lab-up.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

RUN = Path("/run")
POLL_SECONDS = 1.0
RESTARTING = ("always", "on-failure", "on-abnormal")


def unit_setting(unit_dir: Path, unit: str, key: str) -> str | None:
    try:
        text = (unit_dir / unit).read_text()
    except OSError:
        return None
    found = re.findall(rf"^{key}=(.*)$", text, re.MULTILINE)
    return found[-1].strip() if found else None


def seconds(value: str | None) -> float:
    match = re.fullmatch(r"([0-9.]+)(ms|s)?", value or "")
    if not match:
        return 0.1
    return float(match[1]) / (1000 if match[2] == "ms" else 1)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] != "Z"


def dead_units() -> list[str]:
    dead = []
    for status in RUN.glob("*.service.status"):
        match = re.search(r"^MainPID=(\d+)", status.read_text(errors="replace"), re.MULTILINE)
        if match and not alive(int(match[1])):
            dead.append(status.name.removesuffix(".status"))
    return dead


def main(unit_dir: Path, log_path: Path) -> None:
    due: dict[str, float] = {}
    while True:
        now = time.monotonic()
        for unit in dead_units():
            if (unit_setting(unit_dir, unit, "Restart") or "no") not in RESTARTING:
                continue
            due.setdefault(unit, now + seconds(unit_setting(unit_dir, unit, "RestartSec")))
        for unit, when in list(due.items()):
            if when <= now:
                del due[unit]
                if unit in dead_units():
                    # `start`, never `restart`: an operator's own `systemctl restart` may be under way, and
                    # start is a no-op for a unit that runs again by now (the stand-in locks each unit).
                    proc = subprocess.run(["systemctl", "start", unit], capture_output=True, text=True,
                                          check=False)
                    stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                    with log_path.open("a") as log:
                        log.write(f"{stamp} restarted {unit} (exit {proc.returncode})\n")
        time.sleep(POLL_SECONDS)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
