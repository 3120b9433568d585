"""The CA rotation chapter: three rounds (trust both, re-issue, drop the old), each a phase entered and rendered,
then one rolling round over etcd members and masters behind the health gate, inside one request loop through the
VIP. The phases are generator/rotation.py's; the rolling round is the renewal chapter's, plus the controller
manager's unit (its signing flag moves to ca-signer.pem and back)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import replace

from generator import daemons, day2, rotation
from generator.artifacts import Artifact
from generator.components import planned, rollout
from generator.components.kube_controller_manager.files import Paths as ControllerManagerPaths
from generator.components.renewal.chapter import changes as renewal_changes
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, find_step
from generator.text import Texts

TEXT = Texts.of_component(__file__)

ID = day2.CA_ROTATION
NUMBER = 14
# What each round's render says (the counts are the example cluster's).
RENDERED = {
    "trust": ("rotation phase trust: every ca.pem and kubeconfig trusts the old and the new CA",
              "3 created, 15 updated, 151 unchanged"),
    "reissue": ("rotation phase reissue: the new CA signs (leaves issued again, same keys); everything still trusts "
                "both", "31 updated, 138 unchanged"),
    "drop": ("rotation done (phase drop reached; the old CA is in pki/archive/)", "14 updated, 152 unchanged"),
}


def artifacts(ctx: RenderContext) -> list[Artifact]:
    return []  # it pushes what the other components render in the rotation's phase


def chapter(cluster: Cluster, build: Sequence[Chapter]) -> Chapter | None:
    if day2.planned(cluster) != ID:
        return None
    rounds = [step for phase in rotation.PHASES for step in (phase_step(cluster, phase), roll_step(cluster, phase))]
    return Chapter(
        **TEXT.chapter("ca-rotation"),
        number=NUMBER,
        steps=(
            rollout.request_loop_start(cluster, ID, ID),
            *rounds,
            rollout.request_loop_stop(cluster, ID, ID),
            replace(find_step(build, "verification.certificates"), id=f"{ID}.certificates"),
        ),
    )


def phase_step(cluster: Cluster, phase: str) -> Step:
    # Entered once; a re-run says the phase (or the whole rotation) was reached already and changes nothing.
    enter = Command(shlex.join(["invoke", "rotate-ca", "--cluster", cluster.ref, "--phase", phase]),
                    expect=rf"^cluster CA: (rotation phase {phase} \(|phase \w+ reached already|the rotation is "
                           "done)",
                    example=f"cluster CA: rotation phase {phase} (recorded in {rotation.STATE}); render to write its "
                            "files")
    note, counts = RENDERED[phase]
    render = replace(planned.render_all(cluster),
                     example=f"  note: cluster CA: {note}\nrendered {cluster.name} ({cluster.release}) into "
                             f"build/{cluster.name}/: {counts}")
    return Step(**TEXT.step(f"{ID}.{phase}"), local=(enter, render))


def changes(cluster: Cluster, node: Node) -> list[rollout.Change]:
    """The renewal chapter's (certificates, keys, kubeconfigs per service), and the controller manager's unit and
    ca-signer.pem: a rotation moves its signing flag."""
    kcm = ControllerManagerPaths(cluster)
    extra = (kcm.rotation_signer, kcm.unit)
    signer = daemons.KUBE_CONTROLLER_MANAGER.unit
    return [replace(c, files=tuple(dict.fromkeys((*c.files, *extra)))) if c.unit == signer else c
            for c in renewal_changes(cluster, node)]


def roll_step(cluster: Cluster, phase: str) -> Step:
    step = rollout.rolling_step(
        cluster, f"{ID}.{phase}-restart",
        TEXT("ca-rotation.restart", "title", round=TEXT(f"{ID}.{phase}", "title")),
        TEXT("ca-rotation.restart", "explain"),
        cluster.control_plane, lambda node: changes(cluster, node), f"ca_{phase}",
    )
    return replace(step, destructive=TEXT(f"{ID}.drop", "destructive")) if phase == "drop" else step

