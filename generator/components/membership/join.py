"""A master joins: its binaries and files, `etcdctl member add` before its etcd starts, its control plane, the
other masters' update, then its load balancer, and an election it must be able to win."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from generator import daemons
from generator.components import leader
from generator.components.etcd.checks import etcdctl, runner
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.etcd.files import Paths as EtcdPaths
from generator.components.etcd.files import peer_url
from generator.components.load_balancer.service import ID as LOAD_BALANCER
from generator.components.load_balancer.shell import on_node_function
from generator.components.membership.common import ID
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Step, on, pki_file, sudo
from generator.text import Texts

TEXT = Texts.of_component(__file__)

# The build chapters' steps this chapter runs for the new node only, in this order (see node_commands).
PREPARE = ("prerequisites.time", "prerequisites.swap", "prerequisites.directories", "prerequisites.kube-binaries",
           "prerequisites.kube-install", "prerequisites.etcd-binaries", "prerequisites.etcd-install")
ELECTION_WAIT = 90  # seconds: a lock not given back on stop (the controller manager's) expires first
POLL = "0.5"


def distribute_ids(cluster: Cluster, node: Node) -> tuple[str, ...]:
    """The distribute step of each component with a service on `node`, then the load balancer's config check."""
    components = dict.fromkeys(s.component for s in daemons.on_node(cluster, node))
    checks = (f"{LOAD_BALANCER}.validate",) if LOAD_BALANCER in components else ()
    return (*(f"{c}.distribute" for c in components), *checks)


def control_plane(cluster: Cluster, node: Node) -> list[str]:
    """The node's services from the Kubernetes release, in start order: what starts once its etcd runs."""
    return [s.unit for s in daemons.start_order(daemons.on_node(cluster, node)) if s.binaries]


def node_commands(build: Sequence[Chapter], node: Node, ids: tuple[str, ...]) -> tuple[tuple[Command, ...],
                                                                                     tuple[Command, ...]]:
    """The workstation's commands and `node`'s commands of these build steps, in order: the same strings the build
    chapters run, for one node."""
    steps = {s.id: s for chapter in build for s in chapter.steps}
    local: list[Command] = []
    remote: list[Command] = []
    for step in (steps[step_id] for step_id in ids):
        local += step.local
        remote += [c for n, commands in step.per_node if n == node for c in commands]
    return tuple(local), tuple(remote)


def prepare_step(cluster: Cluster, build: Sequence[Chapter], node: Node) -> Step:
    local, remote = node_commands(build, node, PREPARE)
    return Step(
        **TEXT.step("membership.prepare", node=node),
        local=local,
        per_node=((node, remote),),
        needs_kube_binaries=True,
    )


def distribute_step(cluster: Cluster, build: Sequence[Chapter], node: Node) -> Step:
    _, remote = node_commands(build, node, distribute_ids(cluster, node))
    return Step(
        **TEXT.step("membership.distribute", node=node),
        per_node=((node, remote),),
    )


def etcd_add_step(cluster: Cluster, node: Node) -> Step:
    f = etcd_facts(cluster.spec.components.etcd.version)
    member = runner(cluster)
    url = peer_url(node)
    add = (f"{etcdctl(cluster, f, 'member', 'list')} | grep -qF {shlex.quote(', ' + url + ',')} || "
           f"{etcdctl(cluster, f, 'member', 'add', node.name, f'--peer-urls={url}')}; "
           f"{etcdctl(cluster, f, 'member', 'list')}")
    n = len(cluster.etcd_members)
    return Step(
        **TEXT.step("membership.etcd-add", member=member, node=node, url=url, before=n - 1, n=n, majority=n // 2 + 1),
        per_node=((member, (on(cluster, member, add, expect=rf", {re.escape(url)}, ",
                               example=f"8e9e05c52164694d, unstarted, , {url}, , false"),)),),
    )


def start(cluster: Cluster, units: list[str]) -> str:
    """Enable and start `units` in order, leaving running ones alone (so a re-run restarts nothing)."""
    s = sudo(cluster)
    names = " ".join(units)
    return (f"{s}systemctl daemon-reload && {s}systemctl enable {names} && for u in {names}; do "
            f"systemctl is-active --quiet $u || {s}systemctl start $u || exit 1; done")


def etcd_start_step(cluster: Cluster, node: Node) -> Step:
    s = sudo(cluster)
    data = EtcdPaths(cluster).data_dir
    etcd = daemons.ETCD.unit
    command = f"{s}install -d -m 0700 {data} && {start(cluster, [etcd])} && systemctl is-active {etcd}"
    return Step(
        **TEXT.step("membership.etcd-start"),
        per_node=((node, (on(cluster, node, command, expect=r"^active$", example="active"),)),),
    )


def control_plane_step(cluster: Cluster, node: Node) -> Step:
    port = cluster.spec.api_server.secure_port
    health = Command(shlex.join(["curl", "-sS", "--fail", "--retry", "30", "--retry-delay", "1",
                                 "--retry-all-errors", "--cacert", pki_file(cluster, "ca.pem"),
                                 f"https://{node.host}:{port}/healthz"]), expect=r"^ok$", example="ok")
    return Step(
        **TEXT.step("membership.control-plane", node=node),
        per_node=((node, (on(cluster, node, start(cluster, control_plane(cluster, node))), health)),),
        needs_kube_binaries=True,
    )


def load_balancer_start_step(cluster: Cluster, node: Node) -> Step:
    units = [s.unit for s in daemons.on_node(cluster, node) if s.component == LOAD_BALANCER]
    command = f"{start(cluster, units)} && systemctl is-active {' '.join(units)}"
    return Step(
        **TEXT.step("membership.load-balancer-start", node=node),
        per_node=((node, (on(cluster, node, command, expect=r"^active\nactive$", example="active\nactive"),)),),
    )


def takeover_script(cluster: Cluster, node: Node, component: str, from_lease: bool) -> str:
    s = sudo(cluster)
    others = " ".join(n.name for n in cluster.masters if n != node)
    figure = f"{ID}_{component.replace('-', '_')}_takeover_seconds"
    return "\n".join([
        *on_node_function(cluster),
        f"lead() {{ {leader.fresh_holder(cluster, component, from_lease)}; }} 2>/dev/null",
        f"end=$((SECONDS + {ELECTION_WAIT}))",
        f'if [ "$(lead)" = {node.name} ]; then',
        f"  on_node {node.name} '{s}systemctl stop {component}'",
        f'  until l=$(lead); [ -n "$l" ] && [ "$l" != {node.name} ] || [ $SECONDS -ge $end ]; do sleep {POLL}; done',
        f"  on_node {node.name} '{s}systemctl start {component}'",
        "fi",
        f'echo "{component} leader before: $(lead)"',
        "t0=$(date +%s.%N)",
        f"for n in {others}; do on_node \"$n\" '{s}systemctl stop {component}' & done; wait",
        f"end=$((SECONDS + {ELECTION_WAIT}))",
        f'until [ "$(lead)" = {node.name} ] || [ $SECONDS -ge $end ]; do sleep {POLL}; done',
        "t1=$(date +%s.%N); won=$(lead)",
        f'echo "{component} leader while only {node.name} ran it: ${{won:-none}}"',
        f"for n in {others}; do on_node \"$n\" '{s}systemctl start {component}' & done; wait",
        f"awk -v a=\"$t0\" -v b=\"$t1\" 'BEGIN {{ printf \"measured: {figure}=%.3f\\n\", b - a }}'",
        f'[ "$won" = {node.name} ]',
    ])


def election_step(cluster: Cluster, node: Node) -> Step:
    commands = []
    for service in reversed(daemons.elected(cluster)):  # the scheduler first, as the explanation tells it
        component, name = service.unit, re.escape(node.name)
        lease = service.election.lock(cluster).from_lease if service.election else False
        commands.append(Command(
            takeover_script(cluster, node, component, lease),
            expect=rf"^{component} leader while only {name} ran it: {name}$",
            example=f"{component} leader before: {cluster.masters[0].name}\n{component} leader while only "
                    f"{node.name} ran it: {node.name}\nmeasured: {ID}_{component.replace('-', '_')}"
                    "_takeover_seconds=17.204"))
    return Step(
        **TEXT.step("membership.election", node=node, ELECTION_WAIT=ELECTION_WAIT),
        local=tuple(commands),
        needs_kube_binaries=True,
    )
