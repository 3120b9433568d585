"""`invoke lab-day2`: tests/test_lab_day2.py in the lab (deploy 1.36.3, upgrade to 1.37.2, grow to four masters
and back), then its figures as a table: per phase the result, its duration, the requests through the VIP and how
many failed, and the time each master took. Records go to runs/lab-day2/<UTC>.json; the README keeps the table
between the lab-day2 markers (--update-readme).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from generator.lab.matrix import update_readme
from generator.model import REPO

RECORDS = REPO / "runs" / "lab-day2"
TEST = "tests/test_lab_day2.py"
BEGIN, END = "<!-- lab-day2:begin -->", "<!-- lab-day2:end -->"
PER_MASTER = re.compile(r"^(?P<op>[a-z_]+?)_(?P<node>k8s_master_\d+)_seconds$")


def run() -> tuple[int, Path, dict]:
    """Run the test module (root; it builds the kube binaries it lacks); (exit status, record path, figures)."""
    RECORDS.mkdir(parents=True, exist_ok=True)
    path = RECORDS / (dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + ".json")
    env = dict(os.environ, RUNBOOK_LAB_DAY2="1", RUNBOOK_LAB_DAY2_RECORD=str(path))
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", TEST], cwd=REPO,
                          env=env, check=False)
    record = json.loads(path.read_text()) if path.exists() else {}
    return proc.returncode, path, record


def per_master(figures: dict) -> str:
    rounds: dict[str, list[str]] = {}
    for name, value in figures.items():
        match = PER_MASTER.match(name)
        if match:
            node = match["node"].rsplit("_", 1)[1]
            rounds.setdefault(match["op"], []).append(f"{node}: {value:g}")
    return "; ".join(f"{op} {', '.join(values)}" for op, values in rounds.items()) or "—"


def table(record: dict, stamp: str) -> str:
    """The README's table; `stamp` is the record's name (UTC, e.g. 20261130T163624Z)."""
    head = ["phase", "result", "s", "requests through the VIP", "failed", "time per master (s)", "other figures"]
    date = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%d")
    lines = [f"Measured {date} (`invoke lab-day2`, record `runs/lab-day2/{stamp}.json`):", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for phase, figures in record.items():
        # the day-2 chapters' own figures only: a full deploy's failovers are lab-matrix's table
        own = {k: v for k, v in figures.items() if k.startswith(("upgrade_", "membership_"))}
        requests = next((v for k, v in own.items() if k.endswith("_requests") and "failed" not in k), None)
        failed = next((v for k, v in own.items() if k.endswith("_failed_requests")), None)
        other = [f"{k}={v:g}" for k, v in own.items() if not k.endswith("requests") and not PER_MASTER.match(k)]
        lines.append("| " + " | ".join([
            phase, str(figures.get("result", "")), f"{figures['seconds']:g}",
            "—" if requests is None else f"{requests:g}", "—" if failed is None else f"{failed:g}",
            per_master(own), ", ".join(other) or "—",
        ]) + " |")
    return "\n".join(lines)


def write_readme(markdown: str) -> None:
    update_readme(markdown, BEGIN, END)
