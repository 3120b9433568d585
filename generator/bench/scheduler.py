"""`invoke bench --scheduler --cluster X`: on a deployed cluster (the lab), the scheduler's own throughput and the
controller manager's pod creation, each with the compiled client settings and with upstream's defaults, side by
side in one run, and the scheduler once more without a client-side limit (scheduler_perf's 5000 / 5000): what the
machine allows; written into bench/results.md between markers (the fleet benchmark keeps that block).

The scheduler: N simulated nodes (kwok, as the rehearsal makes them), every scheduler stopped, a backlog of M pods
created, the schedulers started; the drain is timed from the first `Scheduled` event to the last, so neither the
creation nor the election counts, and peak resident memory of kube-apiserver, etcd and kube-scheduler is sampled
on every master each second meanwhile. kwok keeps the nodes Ready but leaves the pods as the scheduler bound them
(as scheduler_perf, which runs no kubelet): a kubelet's status writes would share the machine with the binding.
The controller manager: with the schedulers stopped, the seconds until a 1,000-replica Deployment's pods all exist
(its ReplicaSet controller creates them at its client's rate).

The settings are switched by pushing what the runbook renders for each (the scheduler's config, the controller
manager's unit) and restarting; the compiled ones are pushed back at the end, also when the run fails (an EXIT
trap, with the rehearsal's clean-up). The shell is the rehearsal's (generator/components/verification/rehearsal.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from generator.artifacts import on_node
from generator.bench import RESULTS, SCHEDULER_BLOCK, scheduler_block, spread
from generator.checks import MAX_FAKE_NODES, MAX_REHEARSAL_PODS, PODS_PER_FAKE_NODE
from generator.components import leader
from generator.components.kube_controller_manager.files import Paths as ControllerManagerPaths
from generator.components.kube_scheduler.files import Paths as SchedulerPaths
from generator.components.verification import rehearsal
from generator.components.verification.rehearsal_files import BURST, STAGES_SOURCE, enabled
from generator.daemons import KUBE_CONTROLLER_MANAGER, KUBE_SCHEDULER
from generator.errors import RunbookError
from generator.model import REPO, ClientConnection, Cluster
from generator.render import make_artifacts
from generator.steps import ssh_prefix, sudo

UPSTREAM_SCHEDULER = ClientConnection(qps=50, burst=100)  # KubeSchedulerConfiguration's defaults
UPSTREAM_CONTROLLER_MANAGER = ClientConnection(qps=20, burst=30)  # --kube-api-qps, --kube-api-burst defaults
UNTHROTTLED_SCHEDULER = ClientConnection(qps=5000, burst=5000)  # scheduler_perf's: the client limits nothing
SIZES = ((100, 2000), (250, 5000))  # simulated nodes × pods
CREATED = 1000  # the controller manager's Deployment
LINE = re.compile(r"^bench: (\w+) (.*)$")
SCHEDULER_HEADING = "## The scheduler and the controller manager: their client settings"


class BenchError(RunbookError):
    """A scheduler benchmark that cannot run; the message says why."""


@dataclass(frozen=True)
class Variant:
    label: str  # "compiled" or "upstream"
    cluster: Cluster  # the cluster file's, with this variant's client settings


def with_clients(cluster: Cluster, scheduler: ClientConnection | None = None,
                 controller_manager: ClientConnection | None = None) -> Cluster:
    components = cluster.spec.components
    sched, cm = components.kube_scheduler, components.kube_controller_manager
    components = dataclasses.replace(
        components,
        kube_scheduler=dataclasses.replace(sched, client_connection=scheduler or sched.client_connection),
        kube_controller_manager=dataclasses.replace(cm, client_connection=controller_manager or cm.client_connection))
    return dataclasses.replace(cluster, spec=dataclasses.replace(cluster.spec, components=components))


def node_stages(directory: Path) -> Path:
    """The rehearsal's kwok stages but the pods': nodes turn Ready, pods stay as the scheduler bound them."""
    stages = [s for s in yaml.safe_load_all(STAGES_SOURCE.read_bytes()) if s["spec"]["resourceRef"]["kind"] == "Node"]
    path = directory / "kwok-node-stages.yaml"
    path.write_text(yaml.safe_dump_all(stages, sort_keys=False), encoding="utf-8")
    return path


def rendered(cluster: Cluster, absolute: str, directory: Path) -> str:
    """Write what the runbook renders at `absolute` on each master into `directory` (<node>.<name>); the shell
    function that pushes them to the masters, named after `directory`."""
    artifacts = {a.path: a.content for a in make_artifacts(cluster)[0]}
    directory.mkdir(parents=True)
    lines = []
    for node in cluster.masters:
        local = directory / f"{node.name}.{Path(absolute).name}"
        local.write_bytes(artifacts[on_node(node, absolute)])
        remote = f"{sudo(cluster)}sh -c {shlex.quote(f'cat > {absolute}')}"
        lines.append(f"{ssh_prefix(cluster, node)} {shlex.quote(remote)} < {shlex.quote(str(local))}")
    return f"push_{directory.name}() {{ {' && '.join(lines)}; }}"


def script(cluster: Cluster, sizes: tuple[tuple[int, int], ...], repeats: int, scratch: Path) -> str:
    scheduler_config, controller_manager_unit = SchedulerPaths(cluster).config, ControllerManagerPaths(cluster).unit
    variants = (Variant("compiled", cluster),
                Variant("upstream", with_clients(cluster, UPSTREAM_SCHEDULER, UPSTREAM_CONTROLLER_MANAGER)),
                Variant("unthrottled", with_clients(cluster, UNTHROTTLED_SCHEDULER)))
    creators = variants[:2]  # the unthrottled variant's controller manager is the compiled one
    pushes = [rendered(v.cluster, scheduler_config, scratch / f"scheduler_{v.label}") for v in variants]
    pushes += [rendered(v.cluster, controller_manager_unit, scratch / f"controller_manager_{v.label}")
               for v in creators]
    sched, cm = KUBE_SCHEDULER.unit, KUBE_CONTROLLER_MANAGER.unit
    s = sudo(cluster)
    fresh = leader.fresh_holder(cluster, cm, leader.elected_lock(cluster, KUBE_CONTROLLER_MANAGER).from_lease)
    lines = [
        *rehearsal.functions(cluster, stages=str(node_stages(scratch))),
        *pushes,
        f"masters='{' '.join(n.name for n in cluster.masters)}'",
        "all_masters() { local n pids=''; for n in $masters; do on_node \"$n\" \"$1\" & pids=\"$pids $!\"; done; "
        "wait $pids; }",
        "sample() { while :; do for n in $masters; do on_node \"$n\" 'ps -C kube-apiserver,etcd,kube-scheduler "
        "-o comm=,rss=' | sed \"s/^/$n /\"; done; sleep 1; done; }",
        "peaks() { awk '{ if ($3 > p[$2]) p[$2] = $3 } END { printf \"apiserver_mib=%.0f etcd_mib=%.0f "
        "scheduler_mib=%.0f\", p[\"kube-apiserver\"] / 1024, p[\"etcd\"] / 1024, p[\"kube-scheduler\"] / 1024 }' "
        "\"$1\"; }",
        "since() { awk -v a=\"$1\" -v b=\"$(date +%s.%N)\" 'BEGIN { printf \"%.3f\", b - a }'; }",
        f"empty() {{ k -n $ns scale deployment {BURST} --replicas=0 >/dev/null; "
        f"until drop_pods; [ \"$(count_pods {BURST})\" -eq 0 ]; do sleep 1; done; "
        "k delete --raw \"/api/v1/namespaces/$ns/events\" >/dev/null 2>&1; }",
        f"backlog() {{ all_masters '{s}systemctl stop {sched}'; local t=$(date +%s.%N); "
        f"k -n $ns scale deployment {BURST} --replicas=\"$1\" >/dev/null; wait_for \"$1\" count_pods {BURST}; "
        "created=$(since \"$t\"); }",
        "drain() {  # $1 pods, $2 variant",
        "  backlog \"$1\"",
        "  sample > \"$work/memory\" & local sampler=$! t=$(date +%s.%N)",
        f"  all_masters '{s}systemctl start {sched}'",
        f"  wait_for \"$1\" count_pods {BURST} --field-selector=spec.nodeName!=",
        "  local bound_in=$(since \"$t\"); kill $sampler; wait $sampler 2>/dev/null",
        f"  read -r seconds bound <<< \"$(span {BURST})\"",
        "  echo \"bench: drain variant=$2 nodes=$nodes pods=$1 events=$bound drain_seconds=$seconds "
        f"start_to_bound_seconds=$bound_in created_seconds=$created twice=$(twice {BURST}) $(peaks \"$work/memory\")\"",
        "  empty",
        "}",
        "controller_manager() {  # $1 variant",
        f"  push_controller_manager_$1 && all_masters '{s}systemctl daemon-reload && {s}systemctl restart {cm}'",
        "  fresh_since=$(( $(date +%s) + 1 ))",
        f"  until [ -n \"$({fresh} 2>/dev/null)\" ] || [ $SECONDS -ge $deadline ]; do sleep 0.5; done",
        "}",
        "restore() {",
        "  push_scheduler_compiled; push_controller_manager_compiled",
        f"  all_masters '{s}systemctl daemon-reload && {s}systemctl restart {cm} && {s}systemctl restart {sched}'",
        "}",
        "bench_cleanup() { restore; cleanup; }",
        # listing thousands of pods costs the apiserver and kubectl CPU this machine measures with: look seldom (the
        # drain is timed from the events, not from the look)
        "deadline=$((SECONDS + 10800)) poll=2",
        rehearsal.traps("bench_cleanup"),
        f"nodes={sizes[0][0]}",
        *rehearsal.prepare(cluster),
    ]
    made = sizes[0][0]
    for nodes, pods in sizes:
        if nodes > made:
            lines += [f"create_nodes {nodes} {made + 1}; nodes={nodes}", "wait_for \"$nodes\" ready_nodes",
                      'echo "simulated nodes Ready: $(ready_nodes) of $nodes"']
            made = nodes
        for _ in range(repeats):
            for v in variants:
                lines += [f"push_scheduler_{v.label}", f"drain {pods} {v.label}"]
    for _ in range(repeats):
        for v in creators:
            # its seconds are the figure here: look often (a thousand pods list quickly)
            lines += [f"controller_manager {v.label}", f"poll=0.5 backlog {CREATED}",
                      f'echo "bench: create variant={v.label} pods={CREATED} created_seconds=$created"', "empty"]
    return "\n".join(lines)


def parse(lines: list[str]) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    for line in lines:
        match = LINE.match(line)
        if match:
            found.setdefault(match[1], []).append(dict(pair.split("=", 1) for pair in match[2].split()))
    return found


def drain_rate(row: dict[str, str]) -> float:
    """Pods per second between the first binding and the last (the first starts the clock, so it is not counted).
    The pods are counted, not their `Scheduled` events: a scheduler that binds faster than it can post events drops
    them (client-go's event queue holds 1,000), so the events time the drain but may not number it."""
    seconds = float(row["drain_seconds"])
    return (int(row["pods"]) - 1) / seconds if seconds > 0 else 0.0


def table(cluster: Cluster, results: dict[str, list[dict[str, str]]], command: str, started: str,
          load: tuple[str, str]) -> str:
    sched = cluster.spec.components.kube_scheduler.client_connection
    cm = cluster.spec.components.kube_controller_manager.client_connection
    settings = {"compiled": (sched, cm), "upstream": (UPSTREAM_SCHEDULER, UPSTREAM_CONTROLLER_MANAGER),
                "unthrottled": (UNTHROTTLED_SCHEDULER, cm)}
    lines = [
        f"`{command}`, {started}, on {cluster.name} (Kubernetes {cluster.release}, {len(cluster.masters)} masters, "
        f"one machine of {os.cpu_count()} cores); load average {load[0]} before, {load[1]} after.",
        "",
        "The scheduler drains a backlog created while every scheduler was stopped: pods per second from the first "
        "`Scheduled` event to the last (min / median / max over the repeats); the ratio is taken per repeat, from the "
        "runs made one right after the other. Unthrottled is scheduler_perf's client (5000 / 5000), which limits "
        "nothing: the rate this machine allows. The rate counts the pods (a scheduler binding faster than it can post "
        "events drops some of them). kwok keeps the simulated nodes Ready and leaves the pods as they were "
        "bound (no kubelet's status writes, as in scheduler_perf). Start → all bound includes the election after the "
        "start. Peak resident memory on any master during the drain.",
        "",
        "| nodes × pods | scheduler client (qps / burst) | drain, pods/s | / upstream's | start → all bound, s | "
        "bound twice | peak MiB: kube-apiserver / etcd / kube-scheduler |",
        "|---|---|---|---|---|---|---|",
    ]
    drains = results.get("drain", [])

    def size(row: dict[str, str]) -> tuple[int, int]:
        return int(row["nodes"]), int(row["pods"])

    for nodes, pods in sorted({size(r) for r in drains}):
        rows = {label: [r for r in drains if r["variant"] == label and size(r) == (nodes, pods)] for label in settings}
        for label, runs in rows.items():
            if not runs:
                continue
            ratios = [drain_rate(a) / drain_rate(b) for a, b in zip(runs, rows["upstream"], strict=True)]
            client = settings[label][0]
            peak = " / ".join(str(max(int(r[f"{what}_mib"]) for r in runs)) for what in ("apiserver", "etcd",
                                                                                            "scheduler"))
            lines.append(f"| {nodes} × {pods} | {label}: {client.qps} / {client.burst} | "
                         f"{spread([drain_rate(r) for r in runs])} | "
                         f"{spread(ratios) if label != 'upstream' else '1'} | "
                         f"{spread([float(r['start_to_bound_seconds']) for r in runs])} | "
                         f"{max(int(r['twice']) for r in runs)} | {peak} |")
    creates = results.get("create", [])
    if creates:
        rows = {label: [r for r in creates if r["variant"] == label] for label in ("compiled", "upstream")}
        ratios = [float(b["created_seconds"]) / float(a["created_seconds"])
                  for a, b in zip(rows["compiled"], rows["upstream"], strict=True)]
        lines += ["", f"The controller manager creates a {CREATED}-replica Deployment's pods (the schedulers "
                      "stopped): seconds until all exist.", "",
                  "| controller manager client (qps / burst) | seconds | pods/s | / upstream's |", "|---|---|---|---|"]
        for label, runs in rows.items():
            client = settings[label][1]
            seconds = [float(r["created_seconds"]) for r in runs]
            lines.append(f"| {label}: {client.qps} / {client.burst} | {spread(seconds)} | "
                         f"{spread([CREATED / s for s in seconds])} | "
                         f"{spread(ratios) if label == 'compiled' else '1'} |")
    return "\n".join(lines)


def write_results(markdown: str, results: Path = RESULTS) -> None:
    """The scheduler's block of `results`, between its markers with its heading: in place of the last one, or
    appended; the rest of the file (the fleet benchmark's) stays as it is."""
    begin, end = SCHEDULER_BLOCK
    text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmark results\n"
    block = f"{begin}\n{SCHEDULER_HEADING}\n\n{markdown}\n{end}"
    old = scheduler_block(text)
    text = text.replace(old, block) if old else text.rstrip("\n") + f"\n\n{block}\n"
    results.parent.mkdir(exist_ok=True)
    results.write_text(text, encoding="utf-8")


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """`250x5000,100x2000` → ((100, 2000), (250, 5000)): ascending (nodes are only ever added), each once;
    BenchError for anything else."""
    sizes = []
    for part in text.split(","):
        match = re.fullmatch(r"([0-9]{1,4})x([0-9]{1,6})", part.strip())
        if not match or not 1 <= int(match[1]) <= MAX_FAKE_NODES or not 1 <= int(match[2]) <= min(
                MAX_REHEARSAL_PODS, PODS_PER_FAKE_NODE * int(match[1])):
            raise BenchError(f"--sizes: {part!r} is not NODESxPODS with 1-{MAX_FAKE_NODES} nodes and at most "
                             f"{PODS_PER_FAKE_NODE} pods per node (up to {MAX_REHEARSAL_PODS})")
        sizes.append((int(match[1]), int(match[2])))
    return tuple(sorted(set(sizes)))


def bench(cluster: Cluster, sizes: tuple[tuple[int, int], ...] = SIZES, repeats: int = 2,
          log: Callable[[str], None] = print) -> str:
    """Run the benchmark on the deployed `cluster`, write its block of bench/results.md, return the block."""
    if not enabled(cluster):
        raise BenchError(f"{cluster.ref}: the benchmark simulates nodes as the scheduler's rehearsal does: the "
                         "cluster file needs verification.scheduler_rehearsal (and a deploy that ran it)")
    kwok = REPO / rehearsal.kwok_binary(cluster)
    if not os.access(kwok, os.X_OK):
        raise BenchError(f"{rehearsal.kwok_binary(cluster)}: no kwok to run; deploy the cluster (its rehearsal "
                         "gets kwok) first")
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load_before = Path("/proc/loadavg").read_text().split()[0]
    with tempfile.TemporaryDirectory(prefix="runbook-bench-scheduler-") as tmp:
        proc = subprocess.Popen(["bash", "-o", "pipefail", "-c", script(cluster, sizes, repeats, Path(tmp))],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                stdin=subprocess.DEVNULL)
        assert proc.stdout is not None
        lines = []
        try:
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                log(f"  {lines[-1]}")
        finally:
            proc.wait()  # interrupted too: its EXIT trap pushes the compiled settings back and removes the nodes
        if proc.returncode != 0:
            raise BenchError(f"the benchmark failed (exit status {proc.returncode}); its output is above")
    results = parse(lines)
    command = (f"invoke bench --scheduler --cluster {cluster.ref} --repeats {repeats} "
               f"--sizes {','.join(f'{n}x{p}' for n, p in sizes)}")
    markdown = table(cluster, results, command, started, (load_before, Path("/proc/loadavg").read_text().split()[0]))
    write_results(markdown)
    return markdown
