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
  from the node's, then `restart` or `reload` the unit, or nothing (action "").
- `rolling_step(cluster, step_id, title, explain, nodes, changes, op)`: a serial step, one group per master in
  order: for each Change whose files differ, push, act, then wait for the health gate; a master whose files are
  all equal is left alone (so a re-run after success changes nothing). It prints `<node>: done: ...` and
  `measured: <op>_<node>_seconds=…` (first push to last gate, `-` in node names as `_`) and stops at the first
  master that does not pass the gate.
- `gate_functions(cluster)`: the shell function `gate NAME HOST 'UNITS'` the rolling steps call: it waits up to
  GATE_WAIT s until UNITS are active on that master, its own kube-apiserver answers `/readyz` (directly, checked
  against the CA), `/readyz` answers through the API endpoint, every elected service's lock names a master and
  was renewed since the gate began (a restarted leader's lock names its host until it expires: only a renewal
  shows a live holder), and every etcd member is healthy; it prints what it saw either way.
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
from generator.components.load_balancer.shell import names_pattern, on_node_function
from generator.components.prerequisites.binaries import install, kube_bin
from generator.model import Cluster, Node
from generator.service import Service
from generator.steps import Command, Step, Text, on, pki_file, push, ssh_prefix, sudo
from generator.text import Texts

TEXT = Texts.of_module(__file__)

LOOP_MAX = 3600  # seconds a request loop runs at most, should its stop step never come
LOOP_PAUSE = "0.1"  # seconds between two requests
GATE_WAIT = 120  # seconds a master may take to pass the health gate after a restart
RESTART, RELOAD = "restart", "reload"
PAST = {RESTART: "restarted", RELOAD: "reloaded", "": "pushed"}  # how a master's `done:` line says it


# --- the request loop ---------------------------------------------------------------------------------------------

def loop_file(cluster: Cluster, name: str, suffix: str) -> str:
    return f"{rel_build(cluster)}/rollout/{name}.{suffix}"


def request(cluster: Cluster) -> str:
    """One GET through the API endpoint as admin; prints the HTTP status (000 when no answer came)."""
    return shlex.join(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                       "--cacert", pki_file(cluster, "ca.pem"), "--cert", pki_file(cluster, "admin.pem"),
                       "--key", pki_file(cluster, "admin-key.pem"),
                       f"{cluster.api_endpoint}/api/v1/namespaces/default"])


def loop_script(cluster: Cluster, name: str) -> str:
    """Each line of the log: time, HTTP status (000: no answer) and curl's own error, if it gave one."""
    pid, log, stop, err = (loop_file(cluster, name, s) for s in ("pid", "log", "stop", "err"))
    return (f"echo $$ > {pid}; trap 'rm -f {pid}' EXIT; end=$((SECONDS + {LOOP_MAX})); "
            f"while [ ! -e {stop} ] && [ $SECONDS -lt $end ]; do "
            f'code=$({request(cluster)} 2>{err}); echo "$(date +%s.%3N) ${{code:-000}} $(head -c 160 {err} | '
            f'tr -s "\\n" " ")" >> {log}; '
            f"sleep {LOOP_PAUSE}; done")


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
        f"  setsid nohup bash -c {shlex.quote(loop_script(cluster, name))} </dev/null >/dev/null 2>&1 &",
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
    failures = "$2 != 200 { $1 = \"failed request at \" $1 \": HTTP\"; print }"
    script = "\n".join([
        f'[ -e {log} ] || {{ echo "no request loop {name} was started ({log} is missing)"; exit 1; }}',
        f"touch {stop}",
        "end=$((SECONDS + 15))",
        f"while [ -e {pid} ] && [ $SECONDS -lt $end ]; do sleep 0.2; done",
        f"awk {shlex.quote(failures)} {log} | head -n 20",
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


def gate_functions(cluster: Cluster) -> list[str]:
    """Shell: `gate NAME HOST 'UNITS'` (HOST as written in a URL) waits until that master is healthy again."""
    ready = backend_health(cluster)
    health = etcdctl(cluster, etcd_facts(cluster.spec.components.etcd.version), "endpoint", "health")
    etcd_node = runner(cluster)
    masters = names_pattern(cluster)
    own = (f'curl -sS --max-time 5 --cacert {shlex.quote(pki_file(cluster, "ca.pem"))} '
           f'"https://$2:{cluster.spec.api_server.secure_port}{ready}"')
    elected = [(s.election.shell, s.election.label, s.unit, s.election.lock(cluster).from_lease)
               for s in gate_leaders(cluster) if s.election is not None]
    seen = ", ".join(f"{label} leader ${{{shell}:-none}}" for shell, label, _, _ in elected)
    held = " && ".join(f"echo \"${shell}\" | grep -qxE '{masters}'" for shell, _, _, _ in elected)
    return [
        *on_node_function(cluster),
        *(f"{shell}_leader() {{ {leader.fresh_holder(cluster, unit, lease)}; }} 2>/dev/null"
          for shell, _, unit, lease in elected),
        "gate_state() {",
        f'  local s a v {" ".join(shell for shell, _, _, _ in elected)} e=unhealthy; '
        's=$(on_node "$1" "systemctl is-active $3" | sort -u | paste -sd /)',
        f"  a=$({own} 2>/dev/null); v=$({kubectl(cluster)} get --raw {ready} 2>/dev/null)",
        "  " + "; ".join(f"{shell}=$({shell}_leader)" for shell, _, _, _ in elected),
        f"  {ssh_prefix(cluster, etcd_node)} {shlex.quote(health)} </dev/null >/dev/null 2>&1 && e=healthy",
        f'  echo "units ${{s:-?}}, its apiserver ${{a:-no answer}}, endpoint ${{v:-no answer}}, {seen}, etcd $e"',
        '  [ "$s" = active ] && [ "$a" = ok ] && [ "$v" = ok ] && [ "$e" = healthy ] &&',
        f"    {held}",
        "}",
        "gate() {",
        f"  local end=$((SECONDS + {GATE_WAIT})) seen fresh_since=$(date +%s)",
        '  until seen=$(gate_state "$@"); do',
        f'    [ $SECONDS -ge $end ] && {{ echo "gate $1: NOT healthy after {GATE_WAIT} s: $seen"; return 1; }}',
        "    sleep 1",
        "  done",
        '  echo "gate $1: $seen"',
        "}",
    ]


# --- what a rolling step changes on one master ---------------------------------------------------------------------

@dataclass(frozen=True)
class Change:
    """One unit of one master: rendered files (absolute paths on the node) and release binaries (names in the
    unpacked release) to push when they differ, then `action` (RESTART, RELOAD, or "": push only)."""

    unit: str
    action: str
    files: tuple[str, ...] = ()
    binaries: tuple[str, ...] = ()


def change(cluster: Cluster, node: Node, service: Service, action: str) -> Change:
    """`service`'s files on `node` and the release binaries it runs."""
    return Change(service.unit, action, tuple(service.files(cluster, node)), service.binaries)


def digest(sources: list[str], prefix: str = "") -> str:
    """One sha256 over the files' bytes in order; a missing file makes it differ (its error is not shown)."""
    return f"{prefix}cat {' '.join(shlex.quote(s) for s in sources)} 2>/dev/null | sha256sum"


def change_lines(cluster: Cluster, node: Node, item: Change) -> list[str]:
    """Shell for one Change: compare, push, act, gate (nothing happens when the node already has the bytes)."""
    s = sudo(cluster)
    bin_dir = cluster.spec.paths.bin_dir
    local = [f"{rel_build(cluster)}/{on_node(node, f)}" for f in item.files]
    local += [f"{kube_bin(cluster)}/{b}" for b in item.binaries]
    remote = [*item.files, *(f"{bin_dir}/{b}" for b in item.binaries)]
    pushes = []
    if item.files:
        pushes.append(push(cluster, node, list(item.files)).run)
    if item.binaries:
        pushes.append(install(cluster, node, kube_bin(cluster), item.binaries, bin_dir).run)
    act = {RESTART: f"{s}systemctl daemon-reload && {s}systemctl restart {item.unit}",
           RELOAD: f"{s}systemctl reload {item.unit}"}.get(item.action)
    lines = [
        f"want=$({digest(local)})",
        f"have=$({ssh_prefix(cluster, node)} {shlex.quote(digest(remote, s))} </dev/null)",
        'if [ "$want" != "$have" ]; then',
        *(f"  {p} || {{ echo \"{node.name}: pushing {item.unit}'s files failed\"; exit 1; }}" for p in pushes),
    ]
    if act:
        lines += [
            f"  {on(cluster, node, act).run} || {{ echo \"{node.name}: {item.action} {item.unit} failed\"; exit 1; }}",
            f"  {gate_call(cluster, node)} || exit 1",
        ]
    return [*lines, f'  did="$did, {PAST[item.action]} {item.unit}"', "fi"]


def gate_call(cluster: Cluster, node: Node) -> str:
    units = " ".join(s.unit for s in daemons.on_node(cluster, node))
    return f"gate {node.name} {node.host} {shlex.quote(units)}"


def figure(op: str, node: Node) -> str:
    return f"{op}_{node.name.replace('-', '_')}_seconds"


def rolling_script(cluster: Cluster, node: Node, changes: list[Change], op: str) -> str:
    return "\n".join([
        *gate_functions(cluster),
        'did=""; t0=$(date +%s.%N)',
        *(line for item in changes for line in change_lines(cluster, node, item)),
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
