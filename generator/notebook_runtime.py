"""What a chapter notebook's cells call: the explanation for the chosen cluster, then one step, run in the kernel
by the function `invoke step` runs, its output written into the cell as it comes."""

from __future__ import annotations

import sys
from pathlib import Path

from generator import catalog, deploy, single_step
from generator.model import Cluster, ClusterFileError, load
from generator.steps import Chapter, Step
from generator.text import Texts

TEXT = Texts.at(Path(__file__).with_name("notebooks.yaml"))  # notebooks.py's


def explanation(chapter: Chapter | None, step: Step | None, cluster: Cluster) -> str:
    """Markdown a notebook shows for the cluster it runs for: the same text as the cluster's pages."""
    if step is not None:
        text = f"{step.explain.zh}\n\n{step.explain.en}"
        if step.destructive is not None:
            text += f"\n\n> ⛔ {step.destructive.zh}\n>\n> ⛔ {step.destructive.en}"
        for warning in step.warnings:
            text += f"\n\n> ⚠️ {warning.zh}\n>\n> ⚠️ {warning.en}"
        return text
    if chapter is not None:
        return f"**{cluster.name}** · Kubernetes {cluster.release}\n\n{chapter.intro.zh}\n\n{chapter.intro.en}"
    absent = TEXT("notebook", "absent")
    return f"*{cluster.name}: {absent.en} / {absent.zh}*"


class CellFailed(Exception):
    """An expected failure of a step (the message `invoke step` would end with), shown in the cell as that message
    alone: IPython asks an exception for `_render_traceback_` before formatting a traceback of its own."""

    def _render_traceback_(self) -> list[str]:
        return str(self).splitlines()


class StepRunner:
    def __init__(self, cluster: str, dry_run: bool = True, nodes: str = "", start_at: str = "",
                 allow_destructive: bool = False) -> None:
        self.cluster, self.dry_run, self.nodes = cluster, dry_run, nodes
        self.allow_destructive = allow_destructive
        self.start_at = start_at
        self._chapters: list[Chapter] | None = None
        self._before: set[str] | None = None

    def chapters(self) -> list[Chapter]:
        """The catalog for this notebook's cluster, made once (a bad cluster file fails here, in the setup cell)."""
        if self._chapters is None:
            self._chapters = catalog.chapters(load(self.cluster))
        return self._chapters

    def before_start(self, step_id: str) -> bool:
        """Whether `--from` keeps this step from running: it comes before `start_at` (deploy's own rule)."""
        if self._before is None:
            chapters = self.chapters()
            run = {s.id for s in deploy.starting_at(chapters, self.start_at)[1]}
            self._before = {s.id for ch in chapters for s in ch.steps} - run
        return step_id in self._before

    def show(self, chapter: Chapter | None, step: Step | None) -> None:
        from IPython.display import Markdown, display

        display(Markdown(explanation(chapter, step, load(self.cluster))))

    def describe(self, chapter_id: str) -> None:
        """Show the chapter's introduction as written for this cluster."""
        try:
            chapters = self.chapters()
        except ClusterFileError as err:  # each step's cell reports it again, and fails
            print(single_step.failure_message(err))
            return
        self.show(next((ch for ch in chapters if ch.id == chapter_id), None), None)

    def __call__(self, step_id: str) -> None:
        try:
            found = next((s for ch in self.chapters() for s in ch.steps if s.id == step_id), None)
        except ClusterFileError:
            pass  # running the step below reports it and fails the cell
        else:
            self.show(None, found)
        if self.start_at and self.before_start(step_id):
            print(f"# {step_id}\nnot run: before {self.start_at} (deploy --from)")
            return
        try:
            single_step.run(self.cluster, step_id, self.dry_run, self.nodes, missing_ok=True,
                            allow_destructive=self.allow_destructive)
        except Exception as err:
            message = single_step.failure_message(err)
            if message is None:
                raise
            sys.stdout.flush()  # the step's output before the failure that ends it
            raise CellFailed(message) from None
