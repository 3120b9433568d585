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
from generator.steps import Chapter
from generator.text import Texts

__all__ = ["ID", "artifacts", "chapter"]  # what the catalog lists
TEXT = Texts.of_component(__file__)


def chapter(cluster: Cluster) -> Chapter:
    f = facts(cluster.release)
    return Chapter(
        **TEXT.chapter("prerequisites", nodes=len(cluster.spec.nodes), cluster=cluster,
                       etcd_version=etcd_version(cluster.spec.components.etcd.version)),
        number=1,
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
