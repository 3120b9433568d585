"""The cluster's named scripts, in the order its scripts page shows them: each made by the module whose logic it
holds, written by every render to build/<cluster>/bin/ (public: no secret is in one; a script reads keys from
their files when it runs), and called by name in the steps that use them."""

from __future__ import annotations

from collections.abc import Callable

from generator.artifacts import Artifact
from generator.components import rollout
from generator.components.etcd import checks as etcd_checks
from generator.components.load_balancer import shell as load_balancer
from generator.components.membership import join as membership
from generator.components.prerequisites import nodes
from generator.components.verification import cis, master_loss
from generator.components.verification import systemd as verification_systemd
from generator.model import Cluster
from generator.steps import Script

DIRECTORY = "bin/"  # under build/<cluster>/
COMPONENT, PHASE = "prerequisites", "config"  # what writes them: the first render of the runbook, and every other
MAKERS: tuple[Callable[[Cluster], Script | None], ...] = (
    nodes.on_node_script,
    load_balancer.holders_script,
    load_balancer.backend_status_script,
    etcd_checks.leader_script,
    rollout.gate_script,
    rollout.change_script,
    rollout.loop_script,
    verification_systemd.crash_restart_script,
    master_loss.loss_script,
    cis.report_script,
    membership.takeover_script,
)


def scripts(cluster: Cluster) -> list[Script]:
    return [script for make in MAKERS if (script := make(cluster)) is not None]


def artifacts(cluster: Cluster) -> list[Artifact]:
    return [Artifact(f"{DIRECTORY}{s.name}", (s.body + "\n").encode(), COMPONENT, PHASE)
            for s in scripts(cluster)]
