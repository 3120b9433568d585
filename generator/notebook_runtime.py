"""What a chapter notebook's cells call: `invoke step` for one step, output streamed into the cell."""

from __future__ import annotations

import subprocess
import sys

from generator.model import REPO


class StepRunner:
    def __init__(self, cluster: str, dry_run: bool = True, nodes: str = "", start_at: str = "") -> None:
        self.cluster, self.dry_run, self.nodes = cluster, dry_run, nodes
        self.waiting_for = start_at

    def argv(self, step_id: str) -> list[str]:
        argv = [sys.executable, "-m", "invoke", "step", "--cluster", self.cluster, "--step", step_id, "--missing-ok"]
        if self.dry_run:
            argv.append("--dry-run")
        if self.nodes:
            argv += ["--nodes", self.nodes]
        return argv

    def __call__(self, step_id: str) -> None:
        if self.waiting_for and step_id != self.waiting_for:
            print(f"# {step_id}\nnot run: before {self.waiting_for} (deploy --from)")
            return
        self.waiting_for = ""
        proc = subprocess.Popen(self.argv(step_id), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="")
        if proc.wait() != 0:
            raise RuntimeError(f"step {step_id} failed (exit status {proc.returncode}); see the output above")
