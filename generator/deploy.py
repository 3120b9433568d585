"""Deploy's policy, in one place for `invoke deploy`, `invoke step` and a notebook's cells (generator/single_step.py,
generator/notebook_runtime.py): which chapters run (`--chapter`), where a run starts (`--from`), which step an id
names, that a cluster with a membership change planned runs that chapter alone, and that what cannot be undone runs
only with `--allow-destructive`.

Light on imports: every notebook kernel and every `invoke step` imports it (papermill and nbformat come with the
run, in `deploy`).
"""

from __future__ import annotations

import shlex
import sys
from typing import TextIO

from generator import catalog, day2, execute
from generator.errors import Reported, RunbookError
from generator.model import REPO, Cluster, load
from generator.steps import Chapter, Step


class Refused(Reported):
    """What the policy does not run (a destructive step without the flag, a whole deploy of a running cluster); the
    message says why and what to do."""


class Failed(Reported):
    """A deploy that stopped at a failed step; the message names chapter, step, node, command, output and the
    command that resumes."""


def chapters(cluster: Cluster, chapter_id: str = "") -> list[Chapter]:
    """The cluster's chapters in order, or the one `chapter_id` names (KeyError listing them when none does)."""
    found = catalog.chapters(cluster)
    if not chapter_id:
        return found
    chosen = [ch for ch in found if ch.id == chapter_id]
    if not chosen:
        raise KeyError(f"no chapter {chapter_id!r}; chapters: {', '.join(catalog.chapter_ids())}")
    return chosen


def starting_at(chosen: list[Chapter], start_at: str) -> tuple[list[Chapter], list[Step]]:
    """`--from`: the chapters from the one holding `start_at` on, and the steps from it on (all: no `start_at`)."""
    steps = [s for ch in chosen for s in ch.steps]
    if not start_at:
        return chosen, steps
    ids = [s.id for s in steps]
    if start_at not in ids:
        raise KeyError(f"no step {start_at!r} in the chosen chapters; steps: {', '.join(ids)}")
    first = next(i for i, ch in enumerate(chosen) if any(s.id == start_at for s in ch.steps))
    return chosen[first:], steps[ids.index(start_at):]


def find_step(cluster: Cluster, step_id: str) -> Step:
    return catalog.find_step(cluster, step_id)


def destructive_refusal(steps: list[Step]) -> str:
    """Why these steps may not run without `--allow-destructive` ("" when none of them is destructive)."""
    named = [f"  {s.id}: {s.destructive.en}" for s in steps if s.destructive is not None]
    if not named:
        return ""
    return ("refusing to run what cannot be undone without --allow-destructive:\n" + "\n".join(named)
            + "\nread these steps on the chapter's page, then run again with --allow-destructive")


def refuse(cluster: Cluster, steps: list[Step], whole: bool, allow_destructive: bool) -> None:
    """Refused when these steps may not run: a whole deploy (`whole`, no `--chapter`) of a cluster that plans a
    membership change, or a destructive step without `allow_destructive`."""
    if whole and day2.planned(cluster) == day2.MEMBERSHIP:
        # The other chapters build a cluster from nothing (etcd's members all start at once): not for one that runs.
        raise Refused(f"{cluster.name} plans a membership change: its cluster already runs; run the change alone "
                      f"with --chapter {day2.MEMBERSHIP} (a full deploy is for a new cluster)")
    refusal = "" if allow_destructive else destructive_refusal(steps)
    if refusal:
        raise Refused(refusal)


def node_set(nodes: str, cluster: Cluster) -> frozenset[str] | None:
    """`--nodes a,b`: those node names (None: every node). A name the cluster does not have is refused: a typo used
    to run nothing and exit 0."""
    chosen = frozenset(n.strip() for n in nodes.split(",") if n.strip())
    known = [n.name for n in (*cluster.spec.nodes, *cluster.spec.membership.leaving)]
    unknown = sorted(chosen - set(known))
    if unknown:
        shown = ", ".join(ascii(name) for name in unknown)
        shown = shown if len(shown) <= 80 else shown[:79] + "…"
        raise RunbookError(f"--nodes {shown}: not a node of {cluster.source} ({', '.join(known)})")
    return chosen or None


def deploy(ref: str, chapter_id: str = "", dry_run: bool = False, nodes: str = "", start_at: str = "",
           allow_destructive: bool = False, out: TextIO | None = None) -> None:
    """`invoke deploy`: print what would run (dry run), or run the chosen chapters' notebooks and keep the record;
    Failed at the first failed step."""
    out = out or sys.stdout
    cluster = load(ref)
    chosen_nodes = node_set(nodes, cluster)
    chosen, steps = starting_at(chapters(cluster, chapter_id), start_at)
    if dry_run:
        execute.dry_run(steps, chosen_nodes, out)
        return
    refuse(cluster, steps, not chapter_id, allow_destructive)
    from generator import runs  # here: its notebooks and papermill are a run's, not every step's

    result = runs.deploy(cluster, chosen, nodes, start_at, allow_destructive)
    counts: dict[str, int] = {}
    for outcome in result.summary["steps"]:
        counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
    out.write(f"run record: {result.directory.relative_to(REPO)}/ ("
              + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ")\n")
    if result.failure:
        raise Failed(failure_report(cluster, result.failure))


def failure_report(cluster: Cluster, failure: dict) -> str:
    where = f" on {failure['node']}" if failure.get("node") else ""
    return (f"FAILED: chapter {failure['chapter']}, step {failure.get('step', '?')}{where}: "
            f"{failure.get('failure', '')}\ncommand:\n{(failure.get('commands') or ['?'])[-1]}\n"
            f"output:\n{failure.get('output', '').rstrip() or '(none)'}\n"
            f"fix it on the node, then resume with: invoke deploy --cluster {shlex.quote(cluster.ref)} --from "
            f"{failure.get('step', '')}\n(if the fix was in the cluster file, re-run the chapter from its first "
            "step: earlier steps rendered and pushed files from the old file; every step is idempotent)")
