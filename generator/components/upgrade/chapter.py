"""The upgrade chapter's steps: plan and skew, request loop, snapshot, new binaries, two rolling rounds, versions."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import replace

from generator import daemons, day2
from generator.artifacts import Artifact
from generator.components import planned, rollout
from generator.components.load_balancer.service import enabled as load_balancer_enabled
from generator.components.prerequisites.binaries import installed_check, kube_download_step
from generator.components.prerequisites.facts import facts as download_facts
from generator.components.upgrade.skew import facts_table, rules
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, pki_file
from generator.text import NO_TEXT, Texts
from generator.versions import Release

TEXT = Texts.of_component(__file__)

ID = day2.UPGRADE
NUMBER = 12
KUBECTL = "kubectl"  # no service: the binary alone is pushed


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []  # the per-node diffs come from generator/render.py, which renders the cluster as it runs now


def chapter(cluster: Cluster, build: Sequence[Chapter]) -> Chapter | None:
    if day2.planned(cluster) != ID:
        return None
    old, new = day2.current_release(cluster), cluster.release
    n = len(cluster.masters)
    return Chapter(
        **TEXT.chapter("upgrade", old=old, new=new, n=n),
        number=NUMBER,
        steps=(
            plan_step(cluster, old),
            skew_step(cluster, old),
            rollout.request_loop_start(cluster, ID, ID),
            planned.snapshot_step(cluster, ID, f"{ID}-to-{new.tag}"),
            binaries_step(cluster),
            apiservers_step(cluster),
            controllers_step(cluster),
            versions_step(cluster),
            rollout.request_loop_stop(cluster, ID, ID),
        ),
    )


def plan_step(cluster: Cluster, old: Release) -> Step:
    new = cluster.release
    table, skew = facts_table(old, new), rules(cluster, old)
    return planned.plan_step(
        cluster, ID,
        TEXT("upgrade.plan", "title"),
        TEXT("upgrade.plan", "explain", new=new, old=old, table=table, skew=skew),
    )


def version_check(cluster: Cluster, node: Node, expect: str, example: str) -> Command:
    """The release this master's running kube-apiserver reports (/version is open to anonymous clients)."""
    url = f"https://{node.host}:{cluster.spec.api_server.secure_port}/version"
    return Command(shlex.join(["curl", "-sS", "--fail", "--cacert", pki_file(cluster, "ca.pem"), url])
                   + " | grep gitVersion", expect=expect, example=example)


def skew_step(cluster: Cluster, old: Release) -> Step:
    new = cluster.release
    either = rf'"gitVersion": "({re.escape(old.tag)}|{re.escape(new.tag)})"'
    return Step(
        **TEXT.step("upgrade.skew", old=old, new=new),
        per_node=tuple((node, (version_check(cluster, node, either, f'  "gitVersion": "{old.tag}",'),))
                       for node in cluster.masters),
        needs_kube_binaries=True,
    )


def binaries_step(cluster: Cluster) -> Step:
    """The prerequisites chapter's own step for the target release: fetch, check, unpack, the workstation's kubectl."""
    return replace(kube_download_step(cluster, download_facts(cluster.release)), id=f"{ID}.binaries")


def apiservers_step(cluster: Cluster) -> Step:
    new = cluster.release
    lb = load_balancer_enabled(cluster)

    def changes(node: Node) -> list[rollout.Change]:
        """The release's servers (not its elected clients), then what reloads in front of them."""
        services = daemons.on_node(cluster, node)
        return ([rollout.change(cluster, node, s, rollout.RESTART) for s in services if s.binaries and not s.election]
                + [rollout.change(cluster, node, s, rollout.RELOAD) for s in services if s.reload])

    reload = TEXT("upgrade.apiservers", "reload") if lb else NO_TEXT
    return rollout.rolling_step(
        cluster, f"{ID}.apiservers",
        TEXT("upgrade.apiservers", "title"),
        TEXT("upgrade.apiservers", "explain", new=new, reload=reload),
        cluster.masters, changes, "upgrade_apiserver",
        checks=lambda node: [version_check(cluster, node, rf'"gitVersion": "{re.escape(new.tag)}"',
                                           f'  "gitVersion": "{new.tag}",')],
    )


def controllers_step(cluster: Cluster) -> Step:
    new = cluster.release

    def changes(node: Node) -> list[rollout.Change]:
        """The elected clients of the release, and the master's kubectl."""
        return [*(rollout.change(cluster, node, s, rollout.RESTART) for s in daemons.elected(cluster)),
                rollout.Change(KUBECTL, rollout.PUSH, binaries=(KUBECTL,))]

    return rollout.rolling_step(
        cluster, f"{ID}.controllers",
        TEXT("upgrade.controllers", "title"),
        TEXT("upgrade.controllers", "explain", new=new),
        cluster.masters, changes, "upgrade_controllers",
        checks=lambda node: [installed_check(cluster, node)],
    )


def versions_step(cluster: Cluster) -> Step:
    new = cluster.release
    return Step(
        **TEXT.step("upgrade.versions", new=new),
        per_node=tuple((node, (version_check(cluster, node, rf'"gitVersion": "{re.escape(new.tag)}"',
                                             f'  "gitVersion": "{new.tag}",'), installed_check(cluster, node)))
                       for node in cluster.masters),
        needs_kube_binaries=True,
    )
