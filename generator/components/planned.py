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


LEGEND = Text(
    zh=("下面按节点列出每个文件的变化：配置与 unit 是统一 diff 格式（`-` 是现在的行，`+` 是变更后的行）；"
        "证书只说它说的内容变了什么（例如 `SANs +IP:…` 是新增的 SAN）；含有机密的文件（私钥、kubeconfig、"
        "haproxy.cfg 的密码）只说它变了，haproxy.cfg 显示密码被遮住的副本的 diff；`added`、`removed` "
        "是新增与删除的文件。两边都在内存里渲染、共用同一个 CA 和同样的密钥，所以列出的每一处差别都是真的。"),
    en=("Below, per node, what happens to each file: configs and units as a unified diff (`-` the line now, `+` the "
        "line after the change); a certificate says only what changes in what it says (e.g. `SANs +IP:…`, a SAN "
        "added); a file holding a secret (keys, kubeconfigs, haproxy.cfg's password) says only that it changes, "
        "except haproxy.cfg, whose copy with the password masked is diffed; `added` and `removed` are files that "
        "come and go. Both sides are rendered in memory with the same CA and the same keys, so every difference "
        "listed is a real one."),
)


def plan_step(cluster: Cluster, chapter: str, title: Text, explain: Text, checks: tuple[Command, ...] = ()) -> Step:
    return Step(
        id=f"{chapter}.plan",
        title=title,
        explain=Text(zh=f"{explain.zh}\n\n{LEGEND.zh}", en=f"{explain.en}\n\n{LEGEND.en}"),
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
        id=f"{chapter}.snapshot",
        title=Text(zh="变更前保存 etcd 快照", en="Save an etcd snapshot before the change"),
        explain=Text(
            zh=(f"在任何东西改变之前，在 {node.name} 上把 etcd 的全部数据保存到 `{snapshot}`，再用 `snapshot status` "
                "读回来。这个文件已经存在时保留它、不覆盖：它必须一直是变更之前的状态，无论这一章重新执行多少次。"
                "出了问题，它是回到变更之前的唯一途径（Kubernetes 不支持降级）。"),
            en=(f"Before anything changes, save all of etcd's data on {node.name} into `{snapshot}` and read it "
                "back with `snapshot status`. A file already there is kept, not overwritten: it must stay the state "
                "from before the change however often this chapter runs again. Should anything go wrong, it is "
                "the way back to before the change (Kubernetes does not support downgrades)."),
        ),
        warnings=(snapshot_warning(f),),
        per_node=((node, snapshot_commands(cluster, f, snapshot, keep=True)),),
    )
