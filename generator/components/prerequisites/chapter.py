"""The prerequisites chapter: its intro and its steps in order, the nodes' (nodes.py) then the binaries'
(binaries.py)."""

from __future__ import annotations

from generator.components.prerequisites.binaries import (
    etcd_download_step,
    etcd_install_step,
    kube_download_step,
    kube_install_step,
)
from generator.components.prerequisites.facts import etcd_version, facts
from generator.components.prerequisites.files import ID, artifacts
from generator.components.prerequisites.nodes import directories_step, environment_step, swap_step, time_step
from generator.model import Cluster
from generator.steps import Chapter, Text

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists


def chapter(cluster: Cluster) -> Chapter:
    f = facts(cluster.release)
    return Chapter(
        id=ID,
        number=1,
        title=Text(zh="前置准备", en="Prerequisites"),
        intro=Text(
            zh=(
                f"本章准备 {len(cluster.spec.nodes)} 台节点：记录集群变量的 `environment.sh`、时钟与 swap 检查、"
                f"安装目录，以及 Kubernetes {cluster.release} 与 etcd "
                f"{etcd_version(cluster.spec.components.etcd.version)} 的二进制文件。下载在运维机上进行，"
                "校验哈希后解压，再用 tar 管道经 ssh 推送到每个节点：节点本身不需要访问互联网。"
            ),
            en=(
                f"This chapter prepares the {len(cluster.spec.nodes)} nodes: `environment.sh` with the cluster's "
                "variables, clock and swap checks, the install directories, and the binaries of Kubernetes "
                f"{cluster.release} and etcd {etcd_version(cluster.spec.components.etcd.version)}. Downloads happen "
                "on the workstation, are checked against their published hashes, unpacked, and pushed to each node "
                "through a tar pipe over ssh: the nodes need no Internet access."
            ),
        ),
        steps=(
            environment_step(cluster),
            time_step(cluster),
            swap_step(cluster),
            directories_step(cluster),
            kube_download_step(cluster, f),
            kube_install_step(cluster),
            etcd_download_step(cluster),
            etcd_install_step(cluster),
        ),
    )
