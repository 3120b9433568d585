"""Leader election shared by the services that run once per master with one active leader (their descriptor has an
`election`): each elects its leader through a lock named after its unit in kube-system, so reading the leader and
testing a failover are the same shell shapes for all. The steps' prose is in leader.yaml."""

from __future__ import annotations

import shlex

from generator.components.admin.files import kubectl
from generator.model import Cluster, LeaderElection, Node
from generator.service import Lock, Service
from generator.steps import Command, Step, ssh_prefix, sudo
from generator.text import Text, Texts

TEXT = Texts.of_module(__file__)

POLL = "0.2"  # seconds between two looks at the lock during the failover test


def leader_query(cluster: Cluster, component: str, from_lease: bool) -> str:
    """kubectl printing the leader's identity (`<hostname>_<uuid>`) on one line."""
    if from_lease:
        query = 'jsonpath={.spec.holderIdentity}{"\\n"}'
        return f"{kubectl(cluster)} -n kube-system get lease {component} -o {shlex.quote(query)}"
    query = 'jsonpath={.metadata.annotations.control-plane\\.alpha\\.kubernetes\\.io/leader}{"\\n"}'
    return f"{kubectl(cluster)} -n kube-system get endpoints {component} -o {shlex.quote(query)}"


def leader_name(cluster: Cluster, component: str, from_lease: bool) -> str:
    """Shell pipeline reducing the leader query to the leader's host name."""
    if from_lease:
        return f"{leader_query(cluster, component, from_lease)} | cut -d_ -f1"
    return (f"{leader_query(cluster, component, from_lease)} | "
            "sed -n 's/.*\"holderIdentity\":\"\\([^_\"]*\\)_.*/\\1/p'")


def fresh_holder(cluster: Cluster, component: str, from_lease: bool) -> str:
    """Shell printing the leader's host name only while its lock is fresh: renewed within its lease duration (plus
    2 s for clocks) and not before `$fresh_since` (epoch seconds, 0 when unset). A leader that stopped without
    giving the lock back is still named in it until it expires, and meanwhile nobody leads; one restarted on the
    same host has the same name: only a renewal after the restart shows a live holder."""
    if from_lease:
        query = 'jsonpath={.spec.holderIdentity} {.spec.renewTime} {.spec.leaseDurationSeconds}{"\\n"}'
        fields = f"{kubectl(cluster)} -n kube-system get lease {component} -o {shlex.quote(query)}"
    else:
        fields = (f"{leader_query(cluster, component, from_lease)} | sed -n "
                  "'s/.*\"holderIdentity\":\"\\([^\"]*\\)\".*\"leaseDurationSeconds\":\\([0-9]*\\).*"
                  "\"renewTime\":\"\\([^\"]*\\)\".*/\\1 \\3 \\2/p'")
    fresh = ('{ read -r h t d; [ -n "$h" ] && [ -n "$t" ] && r=$(date -d "$t" +%s) && [ "$r" -ge "${fresh_since:-0}" ] '
             '&& [ $(( $(date +%s) - r )) -le $(( ${d:-0} + 2 )) ] && echo "${h%%_*}"; }')
    return f"{fields} | {fresh}"


def names_pattern(cluster: Cluster) -> str:
    return "(" + "|".join(n.name for n in cluster.masters) + ")"


def leader_example(cluster: Cluster, from_lease: bool) -> str:
    """What a leader query prints: `<hostname>_<random id>`, bare or inside the leader annotation."""
    holder = f"{cluster.masters[-1].name}_6f1c2d3e-8a4b-4c5d-9e6f-0a1b2c3d4e5f"
    return holder if from_lease else f'{{"holderIdentity":"{holder}","leaseDurationSeconds":15}}'


def failover_example(nodes: tuple[Node, ...], figure: str) -> str:
    """What a failover test prints when it passes (the figure is the lab's order of magnitude)."""
    first, other = nodes[0].name, nodes[-1].name
    return f"leader before: {first}\nleader after: {other}\nmeasured: {figure}=0.906"


def leader_step(cluster: Cluster, service: Service) -> Step:
    component, lock = service.unit, elected_lock(cluster, service)
    expect = (rf"^{names_pattern(cluster)}_" if lock.from_lease
              else rf"\"holderIdentity\":\"{names_pattern(cluster)}_")
    where = TEXT("leader", "where-lease" if lock.from_lease else "where-endpoints", component=component)
    return Step(
        **TEXT.step("leader", step_id=f"{service.component}.leader", where=where, component=component),
        local=(Command(leader_query(cluster, component, lock.from_lease), expect=expect,
                       example=leader_example(cluster, lock.from_lease)),),
        needs_kube_binaries=True,
    )


def failover_script(cluster: Cluster, component: str, from_lease: bool, election: LeaderElection) -> str:
    s = sudo(cluster)
    wait = 4 * int(election.lease_duration.rstrip("s"))
    branches = "\n".join(
        f"    {n.name}) {ssh_prefix(cluster, n)} \"$2\" ;;" for n in cluster.masters
    )
    return "\n".join([
        f"leader() {{ {leader_name(cluster, component, from_lease)}; }}",
        "on_node() {",
        '  case "$1" in',
        branches,
        '    *) echo "not a master: $1" >&2; return 1 ;;',
        "  esac",
        "}",
        'old=$(leader); echo "leader before: $old"',
        '[ -n "$old" ] || { echo "no leader found"; exit 1; }',
        "t0=$(date +%s.%N)",
        f"on_node \"$old\" '{s}systemctl stop {component}' & stopping=$!",
        f"end=$((SECONDS + {wait}))",
        'while new=$(leader); { [ -z "$new" ] || [ "$new" = "$old" ]; } && [ $SECONDS -lt $end ]; '
        f"do sleep {POLL}; done",
        "t1=$(date +%s.%N)",
        "wait $stopping",
        'echo "leader after: $new"',
        f"on_node \"$old\" '{s}systemctl start {component}'",
        f'[ -n "$new" ] && [ "$new" != "$old" ] || {{ echo "the lock did not change hands within {wait} s"; exit 1; }}',
        f"awk -v a=\"$t0\" -v b=\"$t1\" 'BEGIN {{ printf \"measured: {measured_name(component)}=%.3f\\n\", b - a }}'",
    ])


def measured_name(component: str) -> str:
    """The run record's name for the failover figure, e.g. kube_scheduler_failover_seconds."""
    return f"{component.replace('-', '_')}_failover_seconds"


def failover_step(cluster: Cluster, service: Service) -> Step:
    component, lock = service.unit, elected_lock(cluster, service)
    timing = TEXT("failover", "timing-released" if lock.releases_on_stop else "timing-kept", component=component,
                  lease=lock.settings.lease_duration)
    return Step(
        **TEXT.step("failover", step_id=f"{service.component}.failover", component=component, timing=timing,
                    poll=POLL, figure=measured_name(component)),
        local=(Command(failover_script(cluster, component, lock.from_lease, lock.settings),
                       expect=rf"^leader after: {names_pattern(cluster)}$",
                       example=failover_example(cluster.masters, f"{component.replace('-', '_')}_failover_seconds")),),
        needs_kube_binaries=True,
    )


def timings(cluster: Cluster, service: Service) -> Text:
    """What the lock's timings cost and buy: a sentence of the component's own configuration explanation."""
    lock = elected_lock(cluster, service)
    stop = TEXT("timings", "released" if lock.releases_on_stop else "kept")
    return TEXT("timings", "explain", component=service.unit, stop=stop, lease=lock.settings.lease_duration,
                renew=lock.settings.renew_deadline, retry=lock.settings.retry_period)


def elected_lock(cluster: Cluster, service: Service) -> Lock:
    assert service.election is not None, f"{service.unit} elects no leader"
    return service.election.lock(cluster)
