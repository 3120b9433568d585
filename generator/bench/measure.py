"""One measured operation in a process of its own: wall seconds, CPU seconds (its own and every descendant's it
waited for, e.g. MkDocs workers) and peak resident memory of the largest of those processes, from `wait4`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.model import REPO


@dataclass(frozen=True)
class Sample:
    wall: float
    cpu: float
    rss_mib: float
    result: dict[str, Any]


def run(argv: list[str], cwd: Path = REPO) -> Sample:
    """Run argv to its end; its stdout's last line, if JSON, is the operation's own report."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, text=True)
        # wait4 rather than Popen.wait: it returns the rusage of this child and the descendants it waited for
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read()
        if proc.returncode != 0:
            raise RuntimeError(f"bench: {' '.join(argv)} failed ({proc.returncode}):\n{text}\n{err.read()}")
    lines = text.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else {}
        result = result if isinstance(result, dict) else {}
    except json.JSONDecodeError:
        result = {}
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, result)


def operation(name: str, **args: Any) -> list[str]:
    """The argv that runs generator.bench.op's `name` with these arguments."""
    return [sys.executable, "-m", "generator.bench.op", name, json.dumps(args)]
