"""A master joins: its binaries and files, `etcdctl member add` before its etcd starts, its control plane, the
other masters' update, then its load balancer, and an election it must be able to win."""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from generator import daemons, day2
from generator.components import leader
from generator.components.etcd.checks import etcdctl, runner
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.etcd.files import Paths as EtcdPaths
from generator.components.etcd.files import peer_url
from generator.components.load_balancer.service import ID as LOAD_BALANCER
from generator.components.membership.common import ID
from generator.components.prerequisites.nodes import on_node_function
from generator.model import Cluster, Node
from generator.steps import Chapter, Command, Script, Step, on, pki_file, script_header, scripts_dir, sudo
from generator.text import Texts

TEXT = Texts.of_component(__file__)

# The build chapters' steps this chapter runs for the new node only, in this order (see node_commands).
PREPARE = ("prerequisites.time", "prerequisites.swap", "prerequisites.directories", "prerequisites.kube-binaries",
           "prerequisites.kube-install", "prerequisites.etcd-binaries", "prerequisites.etcd-install")
ELECTION_WAIT = 90  # seconds: a lock not given back on stop (the controller manager's) expires first
POLL = "0.5"


def distributed(cluster: Cluster, node: Node) -> list[tuple[str, tuple[str, ...]]]:
    """Per component with a service on `node`: its distribute step, and the load balancer's config check after its
    own. Each becomes a step of its own here, so a reviewer reads one component's files at a time."""
    components = dict.fromkeys(s.component for s in daemons.on_node(cluster, node))
    return [(c, (f"{c}.distribute", *((f"{c}.validate",) if c == LOAD_BALANCER else ()))) for c in components]


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


def distribute_steps(cluster: Cluster, build: Sequence[Chapter], node: Node) -> list[tuple[str, Step]]:
    """(component, its distribute step for `node`), in the order the node's services are declared."""
    steps = []
    for i, (component, ids) in enumerate(distributed(cluster, node)):
        _, remote = node_commands(build, node, ids)
        text = TEXT.step("membership.distribute" if i == 0 else "membership.distribute-more",
                         step_id=f"membership.distribute-{component}", node=node, component=component)
        steps.append((component, Step(**text, per_node=((node, remote),))))
    return steps


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


def lead_function(cluster: Cluster) -> list[str]:
    """Shell: `lead` prints the host holding `$unit`'s lock while the lock is fresh, one definition per kind of lock
    the cluster's elected services use (all the same kind on every release so far)."""
    kinds = {s.unit: s.election.lock(cluster).from_lease for s in daemons.elected(cluster) if s.election}
    if len(set(kinds.values())) == 1:
        return [f"lead() {{ {leader.fresh_holder(cluster, '$unit', next(iter(kinds.values())))}; }} 2>/dev/null"]
    return ["case $unit in",
            *(f"  {unit}) lead() {{ {leader.fresh_holder(cluster, unit, lease)}; }} 2>/dev/null ;;"
              for unit, lease in kinds.items()),
            "esac"]


def takeover_script(cluster: Cluster) -> Script | None:
    """`takeover.sh NODE UNIT FIGURE OTHER...`: NODE's instance of an elected UNIT must win the election once the
    OTHER masters' instances stop; prints the leader before and while only NODE ran it and `measured: FIGURE=…`,
    and exits 0 only when NODE won."""
    if not day2.joining(cluster):
        return None
    s = sudo(cluster)
    return Script("takeover.sh", **TEXT.fields("script.takeover", ELECTION_WAIT=ELECTION_WAIT), body="\n".join([
        *script_header("takeover.sh NODE UNIT FIGURE OTHER...: NODE's UNIT must win its election alone"),
        *on_node_function(cluster),
        "node=$1 unit=$2 figure=$3; shift 3",
        *lead_function(cluster),
        f"end=$((SECONDS + {ELECTION_WAIT}))",
        'if [ "$(lead)" = "$node" ]; then',
        f'  on_node "$node" "{s}systemctl stop $unit"',
        f'  until l=$(lead); [ -n "$l" ] && [ "$l" != "$node" ] || [ $SECONDS -ge $end ]; do sleep {POLL}; done',
        f'  on_node "$node" "{s}systemctl start $unit"',
        "fi",
        'echo "$unit leader before: $(lead)"',
        "t0=$(date +%s.%N)",
        f'for n in "$@"; do on_node "$n" "{s}systemctl stop $unit" & done; wait',
        f"end=$((SECONDS + {ELECTION_WAIT}))",
        f'until [ "$(lead)" = "$node" ] || [ $SECONDS -ge $end ]; do sleep {POLL}; done',
        "t1=$(date +%s.%N); won=$(lead)",
        'echo "$unit leader while only $node ran it: ${won:-none}"',
        f'for n in "$@"; do on_node "$n" "{s}systemctl start $unit" & done; wait',
        """awk -v a="$t0" -v b="$t1" -v f="$figure" 'BEGIN { printf "measured: %s=%.3f\\n", f, b - a }'""",
        '[ "$won" = "$node" ]',
    ]), directory=scripts_dir(cluster))


def election_step(cluster: Cluster, node: Node) -> Step:
    script = takeover_script(cluster)
    assert script is not None, "an election step without a joining master"
    commands = []
    for service in reversed(daemons.elected(cluster)):  # the scheduler first, as the explanation tells it
        component, name = service.unit, re.escape(node.name)
        figure = f"{ID}_{component.replace('-', '_')}_takeover_seconds"
        commands.append(Command(
            script.call(node.name, component, figure, *(n.name for n in cluster.masters if n != node)),
            expect=rf"^{component} leader while only {name} ran it: {name}$",
            example=f"{component} leader before: {cluster.masters[0].name}\n{component} leader while only "
                    f"{node.name} ran it: {node.name}\nmeasured: {figure}=17.204"))
    return Step(
        **TEXT.step("membership.election", node=node, ELECTION_WAIT=ELECTION_WAIT),
        local=tuple(commands),
        needs_kube_binaries=True,
    )
