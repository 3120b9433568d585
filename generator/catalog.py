"""Every component, in deployment order: the one list of them (generator/daemons.py lists the daemons).

A component is a folder under generator/components/ whose `chapter` module has its `ID`, `chapter(cluster)` and
`artifacts(ctx)`; a day-2 component's `chapter(cluster, build)` also gets the build chapters, whose steps it runs
again for one node or one master at a time.
"""

from __future__ import annotations

from generator import steps
from generator.components.admin import chapter as admin
from generator.components.ca import chapter as ca
from generator.components.ca_rotation import chapter as ca_rotation
from generator.components.etcd import chapter as etcd
from generator.components.kube_apiserver import chapter as kube_apiserver
from generator.components.kube_controller_manager import chapter as kube_controller_manager
from generator.components.kube_scheduler import chapter as kube_scheduler
from generator.components.load_balancer import chapter as load_balancer
from generator.components.membership import chapter as membership
from generator.components.prerequisites import chapter as prerequisites
from generator.components.quorum_loss import chapter as quorum_loss
from generator.components.rebuild import chapter as rebuild
from generator.components.renewal import chapter as renewal
from generator.components.restore import chapter as restore
from generator.components.troubleshooting import chapter as troubleshooting
from generator.components.upgrade import chapter as upgrade
from generator.components.verification import chapter as verification
from generator.model import Cluster
from generator.steps import Chapter, Step

# The chapters that build a cluster, then the day-2 ones: renewal while no change is planned, the others only
# where the cluster file plans one (generator/day2.py).
BUILD = (
    prerequisites, ca, load_balancer, admin, etcd, kube_apiserver, kube_controller_manager, kube_scheduler,
    verification, troubleshooting,
)
DAY2 = (renewal, upgrade, membership, ca_rotation, restore, quorum_loss, rebuild)
COMPONENTS = BUILD + DAY2


def build_chapters(cluster: Cluster) -> list[Chapter]:
    return sorted((c.chapter(cluster) for c in BUILD), key=lambda ch: ch.number)


def chapters(cluster: Cluster) -> list[Chapter]:
    build = build_chapters(cluster)
    day2 = [chapter for c in DAY2 if (chapter := c.chapter(cluster, build)) is not None]
    return build + sorted(day2, key=lambda ch: ch.number)


def chapter_ids() -> list[str]:
    return [c.ID for c in COMPONENTS]


def find_step(cluster: Cluster, step_id: str) -> Step:
    return steps.find_step(chapters(cluster), step_id)
