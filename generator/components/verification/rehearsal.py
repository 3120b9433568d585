"""The scheduler's rehearsal (verification.scheduler_rehearsal): kwok, on the workstation, simulates nodes against the
real kube-apiserver; a Deployment's pods are bound to them by the real scheduler and marked Running by kwok; with
`failover`, the scheduler's leader is killed during a second burst. The figures go to the run record; everything
the rehearsal made is removed at the end, whatever ended it (an EXIT trap), and before it starts (a run killed
outright). Its files are rehearsal_files.py's; `invoke bench --scheduler` (generator/bench/scheduler.py) drives the
same shell functions."""

from __future__ import annotations

import re
import shlex
from urllib.parse import quote

from generator.components.admin.files import kubectl
from generator.components.leader import elected_lock
from generator.components.prerequisites.files import downloads
from generator.components.prerequisites.nodes import on_node_function
from generator.components.verification.rehearsal_files import (
    ANNOTATION,
    BURST,
    FAILOVER_BURST,
    ID,
    KUBECONFIG,
    LABEL,
    NAMESPACE,
    NODE,
    NODE_LEASES,
    NODE_PLACEHOLDER,
    NODE_PREFIX,
    RBAC,
    STAGES,
    WORKLOAD,
    enabled,
    path,
)
from generator.daemons import KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER
from generator.model import Cluster
from generator.service import Service
from generator.steps import Command, Show, Step, render, sudo
from generator.text import NO_TEXT, Texts

TEXT = Texts.of_module(__file__)

STEP = "verification.scheduler-rehearsal"
ASSET = "kwok-linux-amd64"  # the name of kwok's binary among its GitHub release's assets
CREATORS = 8  # kubectl processes creating the nodes at once: kubectl sends at most 5 requests a second
NODE_LEASE_SECONDS = 40  # a kubelet's default: kwok renews each node's lease every quarter of it
BUDGET = 480  # seconds the rehearsal may take before it gives up, leaving the executor's 600 s for the clean-up
POLL = "0.5"
CLEAN = "0 nodes, 0 node leases, 0 namespaces, 0 RBAC objects"
SCHEDULER, CONTROLLER_MANAGER = KUBE_SCHEDULER.unit, KUBE_CONTROLLER_MANAGER.unit


def release_url(version: str, name: str) -> str:
    return f"https://github.com/kubernetes-sigs/kwok/releases/download/v{version}/{name}"


def release_api(version: str) -> str:
    return f"https://api.github.com/repos/kubernetes-sigs/kwok/releases/tags/v{version}"


def kwok_binary(cluster: Cluster) -> str:
    """The kwok the workstation runs: the one the cluster file names, or the one the rehearsal downloads."""
    return (cluster.spec.prerequisites.kwok_binary
            or f"{downloads(cluster)}/kwok-v{cluster.spec.verification.kwok}/kwok")


def fetch_commands(cluster: Cluster) -> list[Command]:
    """kwok on the workstation: the given binary, or the release's, checked against the sha256 GitHub keeps for each
    release asset (kwok publishes no checksum file)."""
    version = cluster.spec.verification.kwok
    binary = kwok_binary(cluster)
    commands = []
    if cluster.spec.prerequisites.kwok_binary:
        commands.append(Command(f"sha256sum {shlex.quote(binary)}"))
    else:
        digest = ("import json, sys; print(next(a['digest'] for a in json.load(sys.stdin)['assets'] "
                  f"if a['name'] == '{ASSET}').removeprefix('sha256:'))")
        commands += [
            Command(shlex.join(["curl", "-fL", "--create-dirs", "-o", binary, release_url(version, ASSET)])),
            Command(f'echo "$(curl -fsSL {shlex.quote(release_api(version))} | python3 -c {shlex.quote(digest)})  '
                    f'{shlex.quote(binary)}" | sha256sum -c && chmod 755 {shlex.quote(binary)}',
                    expect=r": OK$", example=f"{binary}: OK"),
        ]
    commands.append(Command(f"{shlex.quote(binary)} --version", expect=rf"^kwok version v{re.escape(version)} ",
                            example=f"kwok version v{version} go1.24.4 (linux/amd64)"))
    return commands


def lock_field(cluster: Cluster, service: Service, field: str, unit: str = "") -> str:
    """Shell printing the holder's identity (`holder`) or the count of leader changes (`transitions`) of a leader
    lock: the Lease's spec, or before leases the Endpoints' leader annotation. `unit`: the lock's name (a shell
    word), `service`'s own by default."""
    name = unit or service.unit
    if elected_lock(cluster, service).from_lease:
        key = "holderIdentity" if field == "holder" else "leaseTransitions"
        return f"k -n kube-system get lease {name} -o jsonpath='{{.spec.{key}}}'"
    annotation = "jsonpath={.metadata.annotations.control-plane\\.alpha\\.kubernetes\\.io/leader}"
    value = (r's/.*"holderIdentity":"\([^"]*\)".*/\1/p' if field == "holder"
             else r's/.*"leaderTransitions":\([0-9]*\).*/\1/p')
    return f"k -n kube-system get endpoints {name} -o {shlex.quote(annotation)} | sed -n {shlex.quote(value)}"


def functions(cluster: Cluster, stages: str = "") -> list[str]:
    """Shell: the rehearsal's variables and functions, for the step's script and the scheduler's benchmark (which
    gives kwok `stages` of its own).

    `k` is the admin's kubectl; `drop_pods` deletes the rehearsal's pods at once; `remove_all` removes whatever a
    rehearsal made, quietly and idempotently, and `clear` repeats it until nothing is left; `cleanup` (the EXIT
    trap) clears and says what is left; `start_kwok`; `create_nodes N [FIRST]` and `ready_nodes`; `count_pods
    BURST [kubectl args]` counts a burst's pods; `scheduled BURST` lists its Scheduled events (pod, time,
    reporting scheduler, repeats); `twice BURST` counts pods bound more than once; `span BURST` prints the seconds
    from its first binding to its last and how many pods were bound; `holder` and `transitions LEASE` read the
    leader locks; `wait_for N COMMAND…` waits until COMMAND prints at least N or `$deadline` (SECONDS) has come,
    looking every `$poll` seconds."""
    key, value = LABEL
    selector = f"{key}={value}"
    rbac, node = path(cluster, RBAC), path(cluster, NODE)
    kwok = shlex.join([kwok_binary(cluster), f"--kubeconfig={path(cluster, KUBECONFIG)}",
                       f"--config={stages or path(cluster, STAGES)}",
                       f"--manage-nodes-with-annotation-selector={ANNOTATION[0]}={ANNOTATION[1]}",
                       f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}", "--v=WARN"])
    pods = f"/api/v1/namespaces/{NAMESPACE}/pods?gracePeriodSeconds=0"
    nodes = f"/api/v1/nodes?labelSelector={quote(selector)}"
    ready = shlex.quote('jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}')
    # core/v1 events: every release filters them by reason (events.k8s.io before 1.19 does not); the scheduler has
    # written them with eventTime (microseconds) since before 1.16
    events = shlex.quote('jsonpath={range .items[*]}{.involvedObject.name} {.eventTime} {.reportingInstance} '
                         '{.series.count}{"\\n"}{end}')
    return [
        f"ns={NAMESPACE}",
        'work=$(mktemp -d) kwok_pid=""',
        f"k() {{ {kubectl(cluster)} \"$@\"; }}",
        "count() { k \"$@\" -o name 2>/dev/null | wc -l; }",
        f"drop_pods() {{ k delete --raw {shlex.quote(pods)} >/dev/null 2>&1; }}",
        "remove_all() {",
        "  k delete namespace $ns --ignore-not-found --wait=false >/dev/null 2>&1",
        "  drop_pods",
        '  [ -z "$kwok_pid" ] || { kill "$kwok_pid" 2>/dev/null; wait "$kwok_pid" 2>/dev/null; kwok_pid=""; }',
        f"  k delete --raw {shlex.quote(nodes)} >/dev/null 2>&1",
        f"  k delete -f {rbac} --ignore-not-found >/dev/null 2>&1",
        "}",
        f'leftovers() {{ echo "$(count get nodes -l {selector}) nodes, '
        f"$(k -n {NODE_LEASES} get leases -o name | grep -c '/{NODE_PREFIX}') node leases, "
        f'$(count get namespace $ns --ignore-not-found) namespaces, $(count get -f {rbac} --ignore-not-found) '
        'RBAC objects"; }',
        # again and again: a pod created while the namespace's deletion was not yet seen everywhere must go too
        "clear() {",
        "  local end=$((SECONDS + 120))",
        f'  until remove_all; [ "$(leftovers)" = "{CLEAN}" ] || [ $SECONDS -ge $end ]; do sleep 1; done',
        "}",
        'cleanup() { clear; echo "left behind: $(leftovers)"; rm -rf "$work"; }',
        f"start_kwok() {{ {kwok} >\"$work/kwok.log\" 2>&1 & kwok_pid=$!; }}",
        "create_nodes() {",
        "  local w i first=${2:-1} pids=''",
        f"  for w in $(seq 0 {CREATORS - 1}); do",
        "    [ $((first + w)) -le \"$1\" ] || continue",
        f"    for i in $(seq $((first + w)) {CREATORS} \"$1\"); do sed \"s/{NODE_PLACEHOLDER}/$(printf "
        f"'{NODE_PREFIX}%03d' \"$i\")/g\" {node}; echo ---; done | k create -f - >/dev/null & pids=\"$pids $!\"",
        "  done",
        "  wait $pids",
        "}",
        f"ready_nodes() {{ k get nodes -l {selector} -o {ready} | grep -c True; }}",
        'count_pods() { local burst=$1; shift; count -n $ns get pods -l app="$burst" "$@"; }',
        f"scheduled() {{ k -n $ns get events --field-selector reason=Scheduled -o {events} "
        '| grep "^$1-"; }',
        "twice() { scheduled \"$1\" | awk '{ n[$1] += ($4 == \"\" ? 1 : $4) } "
        "END { c = 0; for (p in n) if (n[p] > 1) c++; print c }'; }",
        "epoch() { date -d \"$1\" +%s.%N; }",
        "span() {",
        "  local times; times=$(scheduled \"$1\" | awk '{ print $2 }' | sort)",
        '  [ -n "$times" ] || { echo "0 0"; return; }',
        "  awk -v a=\"$(epoch \"$(head -n 1 <<< \"$times\")\")\" -v b=\"$(epoch \"$(tail -n 1 <<< \"$times\")\")\" "
        "-v n=\"$(wc -l <<< \"$times\")\" 'BEGIN { printf \"%.3f %d\\n\", b - a, n }'",
        "}",
        f"holder() {{ {lock_field(cluster, KUBE_SCHEDULER, 'holder')}; }}",
        f"transitions() {{ local t; t=$({lock_field(cluster, KUBE_SCHEDULER, 'transitions', '$1')}); "
        'echo "${t:-0}"; }',
        "wait_for() { local want=$1; shift; until [ \"$(\"$@\")\" -ge \"$want\" ] || [ $SECONDS -ge $deadline ]; "
        f"do sleep ${{poll:-{POLL}}}; done; }}",
        *on_node_function(cluster),
    ]


def traps(on_exit: str) -> str:
    """Shell: run the function `on_exit` however the script ends: done, failed, or interrupted (TERM, INT, HUP).

    SIGPIPE is caught, not ignored, so the commands the script runs keep its default. An interrupted step's reader
    (invoke, a notebook) is gone by the time bash reports the foreground command the signal killed ("Terminated",
    on stderr): that write must not kill bash before its EXIT trap has cleaned up."""
    return f"trap {on_exit} EXIT; trap 'exit 143' TERM; trap 'exit 130' INT; trap 'exit 129' HUP; trap : PIPE"


def prepare(cluster: Cluster) -> list[str]:
    """Shell: from nothing to `$nodes` simulated nodes Ready and the rehearsal's Deployments at 0 pods."""
    return [
        "clear  # what a run killed outright left",
        f"k apply -f {path(cluster, RBAC)} >/dev/null",
        "start_kwok",
        "create_nodes \"$nodes\"",
        "wait_for \"$nodes\" ready_nodes",
        'echo "simulated nodes Ready: $(ready_nodes) of $nodes"',
        f"k apply -f {path(cluster, WORKLOAD)} >/dev/null",
        "until k -n $ns get serviceaccount default >/dev/null 2>&1 || [ $SECONDS -ge $deadline ]; "
        f"do sleep {POLL}; done",
        "[ \"$(ready_nodes)\" -eq \"$nodes\" ] || { echo 'kwok did not make every node Ready:'; "
        "grep -m 5 -i error \"$work/kwok.log\"; exit 1; }",
    ]


def burst_script() -> list[str]:
    """Shell: the first burst, $pods pods at once; its figures, and the leader locks' transitions meanwhile."""
    return [
        f"before=\"$(transitions {SCHEDULER}) $(transitions {CONTROLLER_MANAGER})\"",
        "t0=$(date +%s.%N)",
        f"k -n $ns scale deployment {BURST} --replicas=\"$pods\" >/dev/null",
        f"wait_for \"$pods\" count_pods {BURST} --field-selector=status.phase=Running",
        "t1=$(date +%s.%N)",
        f"read -r sched0 cm0 <<< \"$before\"; sched1=$(transitions {SCHEDULER}); cm1=$(transitions "
        f"{CONTROLLER_MANAGER})",
        f"read -r seconds bound <<< \"$(span {BURST})\"",
        f"running=$(count_pods {BURST} --field-selector=status.phase=Running); "
        f"pending=$(( pods - $(count_pods {BURST} --field-selector=spec.nodeName!=) )); twice1=$(twice {BURST})",
        f'echo "burst: $pods pods, $running Running, $pending left Pending, $twice1 bound twice, $bound Scheduled '
        f'events; leader changes: {SCHEDULER} $((sched1 - sched0)), {CONTROLLER_MANAGER} $((cm1 - cm0))"',
        "awk -v n=\"$bound\" -v s=\"$seconds\" 'BEGIN { printf \"measured: scheduler_pods_per_second=%.1f\\n\", "
        "(s > 0 ? (n - 1) / s : 0) }'",
        "awk -v a=\"$t0\" -v b=\"$t1\" 'BEGIN { printf \"measured: scheduler_burst_seconds=%.3f\\n\", b - a }'",
        'echo "measured: scheduler_burst_lease_transitions=$((sched1 - sched0))"',
        'echo "measured: controller_manager_burst_lease_transitions=$((cm1 - cm0))"',
        'double=$twice1 left=$pending',
    ]


def failover_script(cluster: Cluster) -> list[str]:
    """Shell: the second burst; when a quarter of it is bound, the scheduler's leader is killed (SIGKILL: it cannot
    give its lease back); then the gap in bindings, the time until another instance held the lease, and the burst's
    pods bound twice or left Pending."""
    s = sudo(cluster)
    return [
        'old=$(holder); leader=${old%%_*}; [ -n "$leader" ] || { echo "no scheduler holds the lease"; exit 1; }',
        f"pid=$(on_node \"$leader\" 'systemctl show -p MainPID --value {SCHEDULER}')",
        f"k -n $ns scale deployment {FAILOVER_BURST} --replicas=\"$pods\" >/dev/null",
        f"wait_for $((pods / 4)) count_pods {FAILOVER_BURST} --field-selector=spec.nodeName!=",
        f"on_node \"$leader\" \"{s}kill -KILL $pid\"",
        # once the kill has returned, every later binding is another scheduler's
        "t_kill=$(date +%s.%N); at_kill=$(date -u -d \"@$t_kill\" +%Y-%m-%dT%H:%M:%S.%6NZ)",
        f"waiting=$(( $(count_pods {FAILOVER_BURST}) - "
        f"$(count_pods {FAILOVER_BURST} --field-selector=spec.nodeName!=) ))",
        'until new=$(holder); [ -n "$new" ] && [ "$new" != "$old" ] || [ $SECONDS -ge $deadline ]; '
        f"do sleep {POLL}; done",
        "t_lease=$(date +%s.%N)",
        f"wait_for \"$pods\" count_pods {FAILOVER_BURST} --field-selector=status.phase=Running",
        f"first=$(scheduled {FAILOVER_BURST} | awk -v k=\"$at_kill\" "
        "'$2 > k && (m == \"\" || $2 < m) { m = $2 } END { if (m != \"\") print m }')",
        f"after=$(scheduled {FAILOVER_BURST} | awk -v k=\"$at_kill\" '$2 > k' | wc -l)",
        f"pending=$(( pods - $(count_pods {FAILOVER_BURST} --field-selector=spec.nodeName!=) )); "
        f"twice2=$(twice {FAILOVER_BURST})",
        f'echo "failover: killed {SCHEDULER} (pid $pid) on $leader, the leader, with $waiting pods waiting; lease '
        'holder $old -> ${new:-nobody}; $after pods bound after the kill, $pending left Pending, $twice2 bound twice"',
        '[ -n "$first" ] && awk -v a="$t_kill" -v b="$(epoch "$first")" '
        "'BEGIN { printf \"measured: scheduler_failover_binding_gap_seconds=%.3f\\n\", b - a }'",
        "awk -v a=\"$t_kill\" -v b=\"$t_lease\" "
        "'BEGIN { printf \"measured: scheduler_failover_lease_seconds=%.3f\\n\", b - a }'",
        'double=$((double + twice2)) left=$((left + pending))',
    ]


def script(cluster: Cluster) -> str:
    rehearsal = cluster.spec.verification.scheduler_rehearsal
    assert rehearsal is not None
    return "\n".join([
        *functions(cluster),
        f"nodes={rehearsal.nodes} pods={rehearsal.pods} deadline=$((SECONDS + {BUDGET}))",
        traps("cleanup"),
        *prepare(cluster),
        *burst_script(),
        *(failover_script(cluster) if rehearsal.failover else []),
        'echo "measured: scheduler_double_bound=$double"',
        'echo "measured: scheduler_left_pending=$left"',
        '[ "$double" -eq 0 ] && [ "$left" -eq 0 ]',
    ])


def expect(cluster: Cluster) -> str:
    rehearsal = cluster.spec.verification.scheduler_rehearsal
    assert rehearsal is not None
    n, m = rehearsal.nodes, rehearsal.pods
    pattern = (rf"\A(?=[\s\S]*^simulated nodes Ready: {n} of {n}$)"
               rf"(?=[\s\S]*^burst: {m} pods, {m} Running, 0 left Pending, 0 bound twice, \d+ Scheduled events; )"
               rf"(?=[\s\S]*^left behind: {CLEAN}$)")
    if rehearsal.failover:
        pattern += r"(?=[\s\S]*^failover: .*; [1-9]\d* pods bound after the kill, 0 left Pending, 0 bound twice$)"
    return pattern


def example(cluster: Cluster) -> str:
    rehearsal = cluster.spec.verification.scheduler_rehearsal
    assert rehearsal is not None
    n, m = rehearsal.nodes, rehearsal.pods
    leader, other = cluster.masters[0].name, cluster.masters[-1].name
    lines = [f"simulated nodes Ready: {n} of {n}",
             f"burst: {m} pods, {m} Running, 0 left Pending, 0 bound twice, {m} Scheduled events; leader changes: "
             f"{SCHEDULER} 0, {CONTROLLER_MANAGER} 0",
             "measured: scheduler_pods_per_second=180.2"]
    if rehearsal.failover:
        lines += [f"failover: killed {SCHEDULER} (pid 4242) on {leader}, the leader, with 37 pods waiting; lease "
                  f"holder {leader}_6f1c2d3e-8a4b-4c5d-9e6f-0a1b2c3d4e5f -> {other}_0a1b2c3d-4e5f-4a6b-8c7d-"
                  f"9e0f1a2b3c4d; {3 * m // 4} pods bound after the kill, 0 left Pending, 0 bound twice",
                  "measured: scheduler_failover_binding_gap_seconds=6.412"]
    return "\n".join([*lines, f"left behind: {CLEAN}"])


def steps(cluster: Cluster) -> list[Step]:
    if not enabled(cluster):
        return []
    rehearsal = cluster.spec.verification.scheduler_rehearsal
    assert rehearsal is not None
    failover = (TEXT(STEP, "failover", pods=rehearsal.pods, others=len(cluster.masters) - 1) if rehearsal.failover
                else NO_TEXT)
    return [Step(
        **TEXT.step(STEP, nodes=rehearsal.nodes, pods=rehearsal.pods, version=cluster.spec.verification.kwok,
                    failover=failover, budget=BUDGET),
        shows=(Show("kwok-stages.yaml", "yaml", (("", STAGES),)), Show("kwok-rbac.yaml", "yaml", (("", RBAC),)),
               Show("rehearsal-node.yaml", "yaml", (("", NODE),)),
               Show("rehearsal-workload.yaml", "yaml", (("", WORKLOAD),))),
        local=(render(cluster, ID, "kubeconfig"), render(cluster, ID, "config"), *fetch_commands(cluster),
               Command(script(cluster), expect=expect(cluster), example=example(cluster))),
        needs_kube_binaries=True,
    )]
