"""Changing a running control plane one master at a time, measured: what every day-2 chapter shares.

Used by the upgrade and membership chapters; certificate renewal and CA rotation are meant to use it the same way.
Everything here makes ordinary catalog Steps (so pages, notebooks and `invoke deploy` treat them like any other):

- `request_loop_start(cluster, chapter, name)` / `request_loop_stop(cluster, chapter, name)`: steps
  `<chapter>.requests-start` / `<chapter>.requests-stop`. The first starts, on the workstation, a background loop
  of HTTPS requests through the API endpoint (the VIP) with the admin certificate, about ten a second, bounded to
  LOOP_MAX seconds; it keeps `build/<cluster>/rollout/<name>.pid` while it runs and one line per request
  (`<epoch seconds> <HTTP status>`) in `<name>.log`. The second stops it and prints the failed requests with their
  times, then `measured: <name>_requests=N` and `measured: <name>_failed_requests=M` (the run record keeps both).
  Every step in between runs while the loop does: its failures are the change's.
- `Change(unit, action, files, binaries)`, or `change(cluster, node, service, action)` from the service's descriptor
  (generator/service.py): what a rolling step does to one unit of one master: push the files (from
  build/<cluster>/nodes/<node>/) and binaries (from the unpacked release on the workstation) when their bytes differ
  from the node's, then `restart` or `reload` the unit, or nothing (action `push`).
- `rolling_step(cluster, step_id, title, explain, nodes, changes, op)`: a serial step, one group per master in
  order: for each Change whose files differ, push, act, then wait for the health gate; a master whose files are
  all equal is left alone (so a re-run after success changes nothing). It prints `<node>: done: ...` and
  `measured: <op>_<node>_seconds=…` (first push to last gate, `-` in node names as `_`) and stops at the first
  master that does not pass the gate.
- `gate_script(cluster)`: the named script `rollout-gate.sh NAME HOST 'UNITS'` the rolling steps call: it waits up to
  GATE_WAIT s until UNITS are active on that master, its own kube-apiserver answers `/readyz` (directly, checked
  against the CA), `/readyz` answers through the API endpoint, every elected service's lock names a master and
  was renewed since the gate began (a restarted leader's lock names its host until it expires: only a renewal
  shows a live holder), and every etcd member is healthy; it prints what it saw either way.
- `change_script(cluster)`: the named script `rollout-change.sh NAME ACTION UNIT PATH...` a rolling step calls
  once per Change: it compares, pushes, acts and gates; it exits CHANGED_NOTHING when the master already had the
  bytes, so the step's block is one line per unit.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass

from generator import daemons
from generator.artifacts import on_node, rel_build
from generator.components import leader
from generator.components.admin.files import kubectl
from generator.components.etcd.checks import etcdctl, runner
from generator.components.etcd.facts import facts as etcd_facts
from generator.components.load_balancer.files import backend_health
from generator.components.load_balancer.shell import names_pattern
from generator.components.prerequisites.binaries import kube_bin
from generator.components.prerequisites.nodes import on_node_function, on_node_script
from generator.model import Cluster, Node
from generator.service import Service
from generator.steps import (
    Command,
    Script,
    Step,
    Text,
    pki_file,
    remote,
    script_header,
    scripts_dir,
    sudo,
)
from generator.text import Texts

TEXT = Texts.of_module(__file__)

LOOP_MAX = 3600  # seconds a request loop runs at most, should its stop step never come
LOOP_PAUSE = "0.1"  # seconds between two requests
GATE_WAIT = 120  # seconds a master may take to pass the health gate after a restart
RESTART, RELOAD, PUSH = "restart", "reload", "push"
PAST = {RESTART: "restarted", RELOAD: "reloaded", PUSH: "pushed"}  # how a master's `done:` line says it
CHANGED_NOTHING = 3  # rollout-change.sh's exit status when the master already had every byte


# --- the request loop ---------------------------------------------------------------------------------------------

def loop_file(cluster: Cluster, name: str, suffix: str) -> str:
    return f"{rel_build(cluster)}/rollout/{name}.{suffix}"


def request(cluster: Cluster) -> str:
    """One GET through the API endpoint as admin; prints the HTTP status (000 when no answer came)."""
    return shlex.join(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                       "--cacert", pki_file(cluster, "ca.pem"), "--cert", pki_file(cluster, "admin.pem"),
                       "--key", pki_file(cluster, "admin-key.pem"),
                       f"{cluster.api_endpoint}/api/v1/namespaces/default"])


def loop_script(cluster: Cluster) -> Script:
    """`request-loop.sh NAME`: the request loop. Each line of its log: time, HTTP status (000: no answer) and curl's
    own error, if it gave one."""
    files = f"{rel_build(cluster)}/rollout/$1"
    return Script("request-loop.sh", **TEXT.fields("script.request-loop", LOOP_MAX=LOOP_MAX, LOOP_PAUSE=LOOP_PAUSE),
                  body="\n".join([
                      *script_header("request-loop.sh NAME: GET through the API endpoint about ten times a second, "
                                     "logged to rollout/NAME.log"),
                      f'echo $$ > "{files}.pid"; trap \'rm -f "{files}.pid"\' EXIT',
                      f"end=$((SECONDS + {LOOP_MAX}))",
                      f'while [ ! -e "{files}.stop" ] && [ $SECONDS -lt $end ]; do',
                      f'    code=$({request(cluster)} 2>"{files}.err")',
                      f'    echo "$(date +%s.%3N) ${{code:-000}} $(head -c 160 "{files}.err" | tr -s "\\n" " ")" \\',
                      f'        >> "{files}.log"',
                      f"    sleep {LOOP_PAUSE}",
                      "done",
                  ]), directory=scripts_dir(cluster))


def loop_step_id(chapter: str, name: str, what: str) -> str:
    """`<chapter>.requests-start`, or `<chapter>.<name>-requests-start` for one of several loops of a chapter."""
    return f"{chapter}.requests-{what}" if name == chapter else f"{chapter}.{name}-requests-{what}"


def request_loop_start(cluster: Cluster, chapter: str, name: str) -> Step:
    pid, log, stop = (loop_file(cluster, name, s) for s in ("pid", "log", "stop"))
    script = "\n".join([
        f"mkdir -p {rel_build(cluster)}/rollout",
        f'if [ -e {pid} ] && kill -0 "$(cat {pid})" 2>/dev/null; then',
        f'  echo "request loop {name} already runs"',
        "else",
        f"  rm -f {stop} {log}",
        f"  setsid nohup {loop_script(cluster).call(name)} </dev/null >/dev/null 2>&1 &",
        "fi",
        "end=$((SECONDS + 15))",
        f"until [ -s {log} ] || [ $SECONDS -ge $end ]; do sleep 0.2; done",
        f'echo "request loop {name}: pid $(cat {pid} 2>/dev/null), first answer: $(head -n 1 {log} | cut -d" " -f2)"',
    ])
    return Step(
        **TEXT.step("requests-start", step_id=loop_step_id(chapter, name, "start"), LOOP_PAUSE=LOOP_PAUSE,
                    cluster=cluster, log=log, pid=pid, LOOP_MAX=LOOP_MAX),
        local=(Command(script, expect=rf"^request loop {name}: pid \d+, first answer: 200$",
                       example=f"request loop {name}: pid 48213, first answer: 200"),),
    )


def request_loop_stop(cluster: Cluster, chapter: str, name: str) -> Step:
    pid, log, stop = (loop_file(cluster, name, s) for s in ("pid", "log", "stop"))
    prefix = name.replace("-", "_")
    failures = "$2 != 200 && shown++ < 20 { $1 = \"failed request at \" $1 \": HTTP\"; print }"
    script = "\n".join([
        f'[ -e {log} ] || {{ echo "no request loop {name} was started ({log} is missing)"; exit 1; }}',
        f"touch {stop}",
        "end=$((SECONDS + 15))",
        f"while [ -e {pid} ] && [ $SECONDS -lt $end ]; do sleep 0.2; done",
        f"awk {shlex.quote(failures)} {log}",
        f"total=$(grep -c . {log}); failed=$(awk '$2 != 200' {log} | wc -l)",
        f'echo "requests through the VIP during {name}: $total, failed: $failed"',
        f'echo "measured: {prefix}_requests=$total"',
        f'echo "measured: {prefix}_failed_requests=$failed"',
    ])
    return Step(
        **TEXT.step("requests-stop", step_id=loop_step_id(chapter, name, "stop"), stop=stop, log=log, prefix=prefix),
        local=(Command(script, expect=rf"^requests through the VIP during {name}: \d+, failed: \d+$",
                       example=f"requests through the VIP during {name}: 1862, failed: 0\n"
                               f"measured: {prefix}_failed_requests=0"),),
    )


# --- the health gate ----------------------------------------------------------------------------------------------

def gate_leaders(cluster: Cluster) -> list[Service]:
    """The elected services whose locks the gate reads, the scheduler's first: the order of the gate's line that
    run records and the lab's tests read."""
    return list(reversed(daemons.elected(cluster)))


def gate_script(cluster: Cluster) -> Script | None:
    """`rollout-gate.sh NAME HOST 'UNITS'` (HOST as written in a URL) waits until that master is healthy again."""
    if not cluster.masters or not cluster.etcd_members:
        return None
    ready = backend_health(cluster)
    health = etcdctl(cluster, etcd_facts(cluster.spec.components.etcd.version), "endpoint", "health")
    etcd_node = runner(cluster)
    masters = names_pattern(cluster)
    own = (f'curl -sS --max-time 5 --cacert {shlex.quote(pki_file(cluster, "ca.pem"))} '
           f'"https://$2:{cluster.spec.api_server.secure_port}{ready}"')
    elected = [(s.election.shell, s.election.label, s.unit, s.election.lock(cluster).from_lease)
               for s in gate_leaders(cluster) if s.election is not None]
    seen = ", ".join(f"{label} leader ${{{shell}:-none}}" for shell, label, _, _ in elected)
    held = " && ".join(f"grep -qxE '{masters}' <<< \"${shell}\"" for shell, _, _, _ in elected)
    return Script("rollout-gate.sh", **TEXT.fields("script.rollout-gate", GATE_WAIT=GATE_WAIT), body="\n".join([
        *script_header(f"rollout-gate.sh NAME HOST 'UNITS': wait up to {GATE_WAIT} s until master NAME is healthy"),
        *on_node_function(cluster),
        *(f"{shell}_leader() {{ {leader.fresh_holder(cluster, unit, lease)}; }} 2>/dev/null"
          for shell, _, unit, lease in elected),
        "gate_state() {",
        f'    local s a v {" ".join(shell for shell, _, _, _ in elected)} e=unhealthy',
        '    s=$(on_node "$1" "systemctl is-active $3" | sort -u | paste -sd /)',
        f"    a=$({own} 2>/dev/null)",
        f"    v=$({kubectl(cluster)} get --raw {ready} 2>/dev/null)",
        *(f"    {shell}=$({shell}_leader)" for shell, _, _, _ in elected),
        f"    {remote(cluster, etcd_node, health, '    ')} </dev/null >/dev/null 2>&1 && e=healthy",
        f'    echo "units ${{s:-?}}, its apiserver ${{a:-no answer}}, endpoint ${{v:-no answer}}, {seen}, etcd $e"',
        '    [ "$s" = active ] && [ "$a" = ok ] && [ "$v" = ok ] && [ "$e" = healthy ] &&',
        f"        {held}",
        "}",
        f"end=$((SECONDS + {GATE_WAIT})); fresh_since=$(date +%s)",
        'until seen=$(gate_state "$@"); do',
        f'    [ $SECONDS -ge $end ] && {{ echo "gate $1: NOT healthy after {GATE_WAIT} s: $seen"; exit 1; }}',
        "    sleep 1",
        "done",
        'echo "gate $1: $seen"',
    ]), directory=scripts_dir(cluster))


# --- what a rolling step changes on one master ---------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """One unit of one master: rendered files (absolute paths on the node) and release binaries (names in the
    unpacked release) to push when they differ, then `action` (RESTART, RELOAD, or PUSH: push only)."""

    unit: str
    action: str
    files: tuple[str, ...] = ()
    binaries: tuple[str, ...] = ()


def change(cluster: Cluster, node: Node, service: Service, action: str) -> Change:
    """`service`'s files on `node` and the release binaries it runs."""
    return Change(service.unit, action, tuple(service.files(cluster, node)), service.binaries)


def change_script(cluster: Cluster) -> Script | None:
    """`rollout-change.sh NAME ACTION UNIT PATH...`: on master NAME, UNIT's PATHs (absolute: a rendered file of that
    master; a bare name: a binary of the unpacked release) are compared by one sha256 over their bytes; when they
    differ they are pushed, then ACTION (restart, reload, push) and, unless push, the health gate."""
    gate = gate_script(cluster)
    if gate is None:
        return None
    s = sudo(cluster)
    node_cmd = on_node_script(cluster).call()
    bin_dir = shlex.quote(cluster.spec.paths.bin_dir)
    release = shlex.quote(kube_bin(cluster))
    gate_units = {n.name: " ".join(u.unit for u in daemons.on_node(cluster, n)) for n in cluster.masters}
    roots = {n.name: f"{rel_build(cluster)}/{on_node(n, '')}" for n in cluster.masters}
    return Script("rollout-change.sh", **TEXT.fields("script.rollout-change", GATE_WAIT=GATE_WAIT,
                                                     CHANGED_NOTHING=CHANGED_NOTHING), body="\n".join([
        *script_header("rollout-change.sh NAME ACTION UNIT PATH...: push UNIT's files and binaries to master NAME "
                       "when they differ, then ACTION (restart, reload, push) and the gate"),
        "name=$1 action=$2 unit=$3",
        "shift 3",
        'case "$name" in',
        *(f"    {n.name}) host={n.host} root={shlex.quote(roots[n.name])} units={shlex.quote(gate_units[n.name])} ;;"
          for n in cluster.masters),
        f'    *) echo "not a master of {cluster.name}: $name"; exit 1 ;;',
        "esac",
        "files=() binaries=() sources=() targets=()",
        'for path in "$@"; do',
        "    case $path in",
        '        /*) files+=("${path#/}"); sources+=("$root$path"); targets+=("$path") ;;',
        f'        *) binaries+=("$path"); sources+=({release}/"$path"); targets+=({bin_dir}/"$path") ;;',
        "    esac",
        "done",
        'fail() { echo "$name: $1 failed"; exit 1; }',
        'want=$(cat "${sources[@]}" 2>/dev/null | sha256sum)',
        f"""have=$({node_cmd} "$name" "{s}cat $(printf '%q ' "${{targets[@]}}")2>/dev/null | sha256sum")""",
        f'[ "$want" != "$have" ] || exit {CHANGED_NOTHING}',
        'if [ ${#files[@]} -gt 0 ]; then',
        f'    tar -C "$root" -cf - "${{files[@]}}" | {node_cmd} --stdin "$name" "{s}tar -C / -xf - --no-same-owner" ||',
        "        fail \"pushing $unit's files\"",
        "fi",
        'if [ ${#binaries[@]} -gt 0 ]; then',
        f'    tar -C {release} -cf - "${{binaries[@]}}" |',
        f'        {node_cmd} --stdin "$name" "{s}mkdir -p {bin_dir} && {s}tar -C {bin_dir} -xf - --no-same-owner" ||',
        "        fail \"pushing $unit's binaries\"",
        "fi",
        "case $action in",
        f'    {RESTART}) {node_cmd} "$name" "{s}systemctl daemon-reload && {s}systemctl restart $unit" || '
        'fail "restart $unit" ;;',
        f'    {RELOAD}) {node_cmd} "$name" "{s}systemctl reload $unit" || fail "reload $unit" ;;',
        f"    {PUSH}) exit 0 ;;",
        '    *) echo "not an action: $action (restart, reload, push)"; exit 1 ;;',
        "esac",
        f'{gate.call()} "$name" "$host" "$units"',
    ]), directory=scripts_dir(cluster))


def change_line(script: Script, node: Node, item: Change) -> str:
    """One Change on one master: rollout-change.sh, and `did` names it when it changed something."""
    paths = (*item.files, *item.binaries)
    return (f'{script.call(node.name, item.action, item.unit, *paths)} && did="$did, {PAST[item.action]} {item.unit}"'
            f" || [ $? = {CHANGED_NOTHING} ] || exit 1")


def gate_call(cluster: Cluster, node: Node) -> str:
    script = gate_script(cluster)
    assert script is not None, "a rolling step without masters or etcd members"
    return script.call(node.name, node.host, " ".join(s.unit for s in daemons.on_node(cluster, node)))


def figure(op: str, node: Node) -> str:
    return f"{op}_{node.name.replace('-', '_')}_seconds"


def rolling_script(cluster: Cluster, node: Node, changes: list[Change], op: str) -> str:
    script = change_script(cluster)  # made once for the block, not once per unit
    assert script is not None, "a rolling step without masters or etcd members"
    return "\n".join([
        'did=""; t0=$(date +%s.%N)',
        *(change_line(script, node, item) for item in changes),
        f'[ -n "$did" ] || {{ {gate_call(cluster, node)} || exit 1; did=", nothing to change"; }}',
        "t1=$(date +%s.%N)",
        f'echo "{node.name}: done: ${{did#, }}"',
        f"awk -v a=\"$t0\" -v b=\"$t1\" 'BEGIN {{ printf \"measured: {figure(op, node)}=%.3f\\n\", b - a }}'",
    ])


def done_example(cluster: Cluster, node: Node, changes: list[Change], op: str) -> str:
    """What a master's part of a rolling step prints when every unit had to change (the figure is the lab's)."""
    did = ", ".join(f"{PAST[c.action]} {c.unit}" for c in changes)
    leaders = ", ".join(f"{s.election.label} leader {node.name}" for s in gate_leaders(cluster) if s.election)
    return (f"gate {node.name}: units active, its apiserver ok, endpoint ok, {leaders}, etcd healthy\n"
            f"{node.name}: done: {did}\nmeasured: {figure(op, node)}=21.380")


def rolling_step(cluster: Cluster, step_id: str, title: Text, explain: Text, nodes: tuple[Node, ...],
                 changes: Callable[[Node], list[Change]], op: str,
                 checks: Callable[[Node], list[Command]] = lambda node: []) -> Step:
    """One master at a time (a serial step): each Change of `changes(node)` that differs is pushed, acted on and
    gated; then `checks(node)` run for that master before the next one starts."""
    gate = TEXT("rolling", "gate", GATE_WAIT=GATE_WAIT)

    def commands(node: Node) -> tuple[Command, ...]:
        items = changes(node)
        return (Command(rolling_script(cluster, node, items, op), expect=rf"^{re.escape(node.name)}: done: ",
                        example=done_example(cluster, node, items, op)), *checks(node))

    return Step(
        **TEXT.step("rolling", step_id=step_id, explain=explain, gate=gate),
        title=title,
        per_node=tuple((node, commands(node)) for node in nodes),
        needs_kube_binaries=True,
        serial=True,
    )
