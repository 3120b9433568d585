"""The steps every planned change (upgrade, membership) starts with: render the target and show per node what the
change does to each file, and an etcd snapshot taken before anything changes and never overwritten."""

from __future__ import annotations

import re
import shlex

from generator import day2
from generator.changes import node_diff_path, workstation_diff_path
from generator.components.etcd.checks import backup_dir, runner, snapshot_commands, snapshot_warning
from generator.components.etcd.facts import facts as etcd_facts
from generator.model import Cluster
from generator.steps import Command, Show, Step, Text
from generator.text import Texts

TEXT = Texts.of_module(__file__)


def render_all(cluster: Cluster) -> Command:
    """Every artifact of the target: what the change pushes, and the per-node diffs this chapter shows."""
    return Command(shlex.join(["invoke", "render", "--cluster", cluster.ref]),
                   expect=rf"^rendered {re.escape(cluster.name)} \({re.escape(str(cluster.release))}\)",
                   example=f"rendered {cluster.name} ({cluster.release}) into build/{cluster.name}/: 152 unchanged")


def diff_shows(cluster: Cluster, chapter: str) -> tuple[Show, ...]:
    """The diff of every node that runs now or will (masters and etcd members), and the workstation's."""
    previous = day2.previous(cluster)
    names = sorted({n.name for c in (cluster, previous) if c is not None for n in c.control_plane})
    return (Show("changes.diff", "diff", tuple((name, node_diff_path(chapter, name)) for name in names)),
            Show("workstation.diff", "diff", (("", workstation_diff_path(chapter)),)))


def plan_step(cluster: Cluster, chapter: str, title: Text, explain: Text, checks: tuple[Command, ...] = ()) -> Step:
    return Step(
        **TEXT.step("plan", step_id=f"{chapter}.plan", explain=explain, legend=TEXT("plan", "legend")),
        title=title,
        shows=diff_shows(cluster, chapter),
        local=(render_all(cluster), *checks),
    )


def snapshot_file(cluster: Cluster, change: str) -> str:
    return f"{backup_dir(cluster)}/snapshot-before-{change}.db"


def snapshot_step(cluster: Cluster, chapter: str, change: str) -> Step:
    """`<chapter>.snapshot`: the etcd snapshot of the cluster before `change`, kept if it exists already."""
    snapshot = snapshot_file(cluster, change)
    node = runner(cluster)
    f = etcd_facts(cluster.spec.components.etcd.version)
    return Step(
        **TEXT.step("snapshot", step_id=f"{chapter}.snapshot", node=node, snapshot=snapshot),
        warnings=(snapshot_warning(f),),
        per_node=((node, snapshot_commands(cluster, f, snapshot, keep=True)),),
    )
