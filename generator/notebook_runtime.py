"""What a chapter notebook's cells call: `invoke step` for one step, output streamed into the cell."""

from __future__ import annotations

import subprocess
import sys

from generator.model import REPO


class StepRunner:
    def __init__(self, cluster: str, dry_run: bool = True, nodes: str = "") -> None:
        self.cluster, self.dry_run, self.nodes = cluster, dry_run, nodes

    def argv(self, step_id: str) -> list[str]:
        argv = [sys.executable, "-m", "invoke", "step", "--cluster", self.cluster, "--step", step_id]
        if self.dry_run:
            argv.append("--dry-run")
        if self.nodes:
            argv += ["--nodes", self.nodes]
        return argv

    def __call__(self, step_id: str) -> None:
        proc = subprocess.Popen(self.argv(step_id), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="")
        if proc.wait() != 0:
            raise RuntimeError(f"step {step_id} failed (exit status {proc.returncode}); see the output above")
