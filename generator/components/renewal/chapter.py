"""The renewal chapter's steps: render, request loop, one rolling round over etcd members and masters, ledger check.

Renewal keeps every key and every CA: only leaf certificates (and the kubeconfigs that embed them) get a new serial
and validity. A render already re-issues each leaf within `certificates.renew_before_days` of expiry (and any whose
subject or SANs changed); `invoke render --renew-all` re-issues every leaf at once. What this chapter pushes is
whatever differs from the nodes, so running it again after it succeeded changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from generator import daemons, day2
from generator.artifacts import Artifact
from generator.components import planned, rollout
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Chapter, Step, find_step
from generator.text import Texts

TEXT = Texts.of_component(__file__)

ID = "renewal"
NUMBER = 11
CERTIFICATE_FILES = (".pem", ".kubeconfig")  # certificates, their keys, kubeconfigs embedding them


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []  # it pushes what the other components render


def chapter(cluster: Cluster, build: Sequence[Chapter]) -> Chapter | None:
    if day2.planned(cluster) is not None:
        return None  # one change at a time: an upgrade or a membership change renders new certificates itself
    renew = cluster.spec.certificates.renew_before_days
    return Chapter(
        **TEXT.chapter("renewal", cluster=cluster, renew=renew),
        number=NUMBER,
        steps=(
            render_step(cluster),
            rollout.request_loop_start(cluster, ID, ID),
            restart_step(cluster),
            rollout.request_loop_stop(cluster, ID, ID),
            replace(find_step(build, "verification.certificates"), id=f"{ID}.certificates"),
        ),
    )


def render_step(cluster: Cluster) -> Step:
    renew = cluster.spec.certificates.renew_before_days
    return Step(
        **TEXT.step("renewal.render", renew=renew, cluster=cluster),
        # The day-2 chapters' own render command; its sample shows what a renewal's render says.
        local=(replace(planned.render_all(cluster),
                       example=f"  note: kube-scheduler: certificate issued (near expiry)\n"
                               f"rendered {cluster.name} ({cluster.release}) into build/{cluster.name}/: "
                               "7 updated, 159 unchanged"),),
    )


def changes(cluster: Cluster, node: Node) -> list[rollout.Change]:
    """Per service on `node` that has certificates, in start order (etcd before the apiserver it serves): its
    certificates, keys and kubeconfigs (not its units or configs: renewal changes none, and pushing them here would
    mix in another change)."""
    found = []
    for service in daemons.start_order(daemons.on_node(cluster, node)):
        files = tuple(f for f in service.files(cluster, node) if f.endswith(CERTIFICATE_FILES))
        if files:
            found.append(rollout.Change(service.unit, rollout.RESTART, files))
    return found


def restart_step(cluster: Cluster) -> Step:
    return rollout.rolling_step(
        cluster, f"{ID}.restart",
        TEXT("renewal.restart", "title"),
        TEXT("renewal.restart", "explain"),
        cluster.control_plane, lambda node: changes(cluster, node), ID,
    )
