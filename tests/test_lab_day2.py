"""Day 2 in the real lab, through the real CLI: a cluster of three masters deployed at 1.36.3, upgraded to 1.37.2
while requests through the VIP are counted, grown to four masters, shrunk back to three (root only).

One cluster file (name day2, 10.92.0.0/24, VIP 10.92.0.100: neither the main lab's nor test_lab.py's), edited in
place between the phases as an operator would: `upgrade.from` for the upgrade, a fourth node with
`membership.joining`, then `membership.leaving`, then the plain file again. After each phase this test looks at
the nodes itself (ssh, etcdctl, the units' files) besides reading the executed notebooks and summary.json: the HA
properties (no failed request through the VIP, counted independently from the loop's own log; every master
passing its health gate with both locks held; the new master winning an election; etcd's member list; haproxy's
backends; versions on every node) and that each chapter run again changes nothing.

It needs the kube binaries of 1.36.3 and 1.37.2 (built once into the cache, ~16 min each cold) and takes ~15 min,
so CI does not run it: `invoke lab-day2` does (RUNBOOK_LAB_DAY2=1) and writes the figures for the README's table.
Figures and durations are recorded, never timed against a bound.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest
import yaml

from generator import kubebuild, lab
from generator.model import REPO, Cluster, load
from generator.steps import ssh_prefix
from generator.versions import parse_release

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or os.environ.get("RUNBOOK_LAB_DAY2") != "1",
    reason="the day-2 lab run needs root and ~15 min plus two kube builds: `invoke lab-day2` runs it "
           "(RUNBOOK_LAB_DAY2=1), outside CI's time budget",
)

NAME = "day2"
OLD, NEW = "1.36.3", "1.37.2"
NODES = [{"name": f"k8s-master-0{i}", "ip": f"10.92.0.1{i}"} for i in (1, 2, 3)]
FOURTH = {"name": "k8s-master-04", "ip": "10.92.0.14"}
RUNS = REPO / "runs" / NAME
BUILD = REPO / "build" / NAME
RECORD_ENV = "RUNBOOK_LAB_DAY2_RECORD"  # where `invoke lab-day2` wants the figures


def cluster_text(release: str, nodes: list[dict], **sections: object) -> str:
    """clusters/lab.yaml's options (ssh, tarballs, its etcd) for the day2 cluster."""
    data = yaml.safe_load((REPO / "clusters" / "lab.yaml").read_text().replace("build/lab/", f"build/{NAME}/"))
    data.update(name=NAME, kubernetes_version=release, nodes=nodes, **sections)
    data["api_server"]["vip"] = "10.92.0.100"
    data["load_balancer"]["virtual_router_id"] = 92
    return yaml.safe_dump(data, sort_keys=False)


def invoke(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def remote(cluster: Cluster, name: str, command: str) -> str:
    node = next(n for n in (*cluster.spec.nodes, *cluster.spec.membership.leaving) if n.name == name)
    proc = subprocess.run(f"{ssh_prefix(cluster, node)} {shlex.quote(command)}", shell=True, cwd=REPO,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return proc.stdout + proc.stderr


def run_dirs() -> set[Path]:
    return {p.parent for p in RUNS.glob("*/summary.json")} if RUNS.exists() else set()


@dataclass
class Phase:
    proc: subprocess.CompletedProcess[str]
    seconds: float
    run_dir: Path | None = None
    summary: dict = field(default_factory=dict)
    seen: dict = field(default_factory=dict)  # what this test saw on the nodes right after the phase

    @property
    def output(self) -> str:
        """Every text output of the run's executed notebooks."""
        texts = []
        for path in sorted(self.run_dir.glob("*.ipynb")) if self.run_dir else []:
            notebook = nbformat.read(path, as_version=4)
            texts += [o.get("text", "") for c in notebook.cells for o in c.get("outputs", [])]
        return "".join(texts)

    @property
    def measured(self) -> dict[str, float]:
        return {k: v for o in self.summary.get("steps", []) for k, v in o["measured"].items()}


class Journey:
    def __init__(self, directory: Path) -> None:
        self.file = directory / f"{NAME}.yaml"
        self.phases: dict[str, Phase] = {}

    def write(self, text: str) -> Cluster:
        self.file.write_text(text, encoding="utf-8")
        return load(str(self.file))

    def run(self, label: str, *args: str) -> Phase:
        before = run_dirs()
        start = time.monotonic()
        proc = invoke(*args)
        phase = Phase(proc, round(time.monotonic() - start, 1))
        made = sorted(run_dirs() - before)
        if made:
            phase.run_dir = made[-1]
            phase.summary = json.loads((made[-1] / "summary.json").read_text())
        self.phases[label] = phase
        assert proc.returncode == 0 or label.endswith("refused"), \
            f"{label}: {' '.join(args)}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return phase

    def deploy(self, label: str, *args: str) -> Phase:
        return self.run(label, "deploy", "--cluster", str(self.file), *args)


def etcd_members(cluster: Cluster) -> list[str]:
    """`name=status` of every member, from the first member's own etcdctl and certificates (not the runbook's)."""
    pki, bin_dir = cluster.spec.paths.pki_dir, cluster.spec.paths.bin_dir
    first = cluster.etcd_members[0]
    out = remote(cluster, first.name, f"{bin_dir}/etcdctl --endpoints=https://{first.ip}:2379 "
                                      f"--cacert={pki}/etcd-ca.pem --cert={pki}/etcdctl.pem "
                                      f"--key={pki}/etcdctl-key.pem member list")
    return sorted(f"{line.split(', ')[2]}={line.split(', ')[1]}" for line in out.splitlines() if ", " in line)


def haproxy_servers(cluster: Cluster, name: str) -> list[str]:
    return re.findall(r"^\s+server (\S+) ", remote(cluster, name, "cat /etc/haproxy/haproxy.cfg"), re.MULTILINE)


def vip_holders(cluster: Cluster, names: list[str]) -> list[str]:
    vip = cluster.spec.api_server.vip
    return [n for n in names if re.search(rf"\binet {re.escape(vip)}/", remote(cluster, n, "ip -o -4 addr show"))]


def failures_in_log(chapter: str) -> tuple[int, int]:
    """(requests, failed) from the request loop's own log, as this test counts them."""
    codes = [line.split()[1] for line in (BUILD / "rollout" / f"{chapter}.log").read_text().splitlines()]
    return len(codes), sum(code != "200" for code in codes)


@pytest.fixture(scope="module")
def journey(tmp_path_factory):
    for release in (OLD, NEW):
        built = parse_release(release)
        assert not isinstance(built, str)
        kubebuild.ensure(built)  # cached after the first time; building is not part of the figures
    trip = Journey(tmp_path_factory.mktemp("day2"))
    cluster = trip.write(cluster_text(OLD, NODES))
    the_lab = lab.lab(cluster)
    if the_lab.state_file.exists():
        pytest.fail(f"a lab named {NAME} is up ({the_lab.state_file}): `invoke lab-down --cluster {NAME}` first")
    runs_before = run_dirs()
    try:
        trip.run("lab-up", "lab-up", "--cluster", str(trip.file))
        trip.deploy(f"deploy {OLD}")
        # the upgrade: the file says NEW, `upgrade.from` what runs; lab-up packs NEW's tarball
        cluster = trip.write(cluster_text(NEW, NODES, upgrade={"from": OLD}))
        trip.run(f"lab-up ({NEW} tarball)", "lab-up", "--cluster", str(trip.file))
        upgrade = trip.deploy("upgrade", "--chapter", "upgrade")
        upgrade.seen["log"] = failures_in_log("upgrade")
        bin_dir = cluster.spec.paths.bin_dir
        upgrade.seen["versions"] = {n["name"]: remote(cluster, n["name"], f"for b in {' '.join(kubebuild.DAEMONS)}; "
                                                      f"do {bin_dir}/$b --version; done; {bin_dir}/kubectl version "
                                                      "--client | head -n 1") for n in NODES}
        upgrade.seen["sums"] = {n["name"]: remote(cluster, n["name"], f"cd {bin_dir} && sha256sum "
                                                  f"{' '.join(kubebuild.DAEMONS)}") for n in NODES}
        trip.deploy("upgrade again", "--chapter", "upgrade")
        # a fourth master joins
        cluster = trip.write(cluster_text(NEW, [*NODES, FOURTH], membership={"joining": [FOURTH["name"]]}))
        trip.run("lab-up (fourth node)", "lab-up", "--cluster", str(trip.file))
        grow = trip.deploy("grow", "--chapter", "membership")
        grow.seen["log"] = failures_in_log("membership")
        grow.seen["members"] = etcd_members(cluster)
        grow.seen["servers"] = {n["name"]: haproxy_servers(cluster, n["name"]) for n in [*NODES, FOURTH]}
        trip.deploy("grow again", "--chapter", "membership")
        # and leaves again
        cluster = trip.write(cluster_text(NEW, NODES, membership={"leaving": [FOURTH]}))
        trip.deploy("shrink refused", "--chapter", "membership")
        shrink = trip.deploy("shrink", "--chapter", "membership", "--allow-destructive")
        shrink.seen["log"] = failures_in_log("membership")
        shrink.seen["members"] = etcd_members(cluster)
        shrink.seen["servers"] = {n["name"]: haproxy_servers(cluster, n["name"]) for n in NODES}
        shrink.seen["fourth"] = remote(cluster, FOURTH["name"], "systemctl is-active etcd kube-apiserver "
                                       "kube-controller-manager kube-scheduler haproxy keepalived")
        shrink.seen["vip"] = vip_holders(cluster, [n["name"] for n in [*NODES, FOURTH]])
        trip.deploy("shrink again", "--chapter", "membership", "--allow-destructive")
        # the change is done: the plain file again, as the operator leaves it
        cluster = trip.write(cluster_text(NEW, NODES))
        trip.run("render after", "render", "--cluster", str(trip.file))
        trip.run("lab-down", "lab-down", "--cluster", str(trip.file))
        trip.phases["lab-down"].seen["netns"] = subprocess.run(["ip", "netns", "list"], capture_output=True,
                                                               text=True).stdout
    finally:
        if the_lab.state_file.exists():  # a phase failed: take the lab down all the same, every node of it
            invoke("lab-down", "--cluster", str(trip.file))
        record(trip)
    yield trip
    for made in run_dirs() - runs_before:
        for path in sorted(made.iterdir()):
            path.unlink()
        made.rmdir()


def record(trip: Journey) -> None:
    """The figures of every phase, for `invoke lab-day2` (and printed)."""
    figures = {label: {"seconds": p.seconds, "result": p.summary.get("result", "ok" if p.proc.returncode == 0
                                                                        else "refused"), **p.measured}
               for label, p in trip.phases.items()}
    text = json.dumps(figures, indent=2)
    print(f"\nday-2 lab figures:\n{text}")
    if os.environ.get(RECORD_ENV):
        Path(os.environ[RECORD_ENV]).write_text(text + "\n", encoding="utf-8")


def gates(output: str, step: str) -> dict[str, list[str]]:
    """Per master, the health gate lines of one rolling step, in order."""
    found: dict[str, list[str]] = {}
    for block in re.split(r"^# ", output, flags=re.MULTILINE):
        head = block.split("\n", 1)[0]
        if head.startswith(f"{step} @ "):
            node = head.split(" @ ")[1]
            found[node] = re.findall(rf"^gate {node}: (.*)$", block, re.MULTILINE)
    return found


def assert_gates_held(output: str, step: str, masters: list[str]) -> None:
    seen = gates(output, step)
    assert list(seen) == masters, f"{step} ran on {list(seen)}, one master after another expected"
    for node, lines in seen.items():
        assert lines, f"{step}: {node} passed no gate"
        leaders = re.search(r"scheduler leader (\S+), controller-manager leader (\S+), etcd healthy$", lines[-1])
        assert leaders and {leaders[1], leaders[2]} <= set(masters) | {FOURTH["name"]}, lines[-1]


def assert_no_failed_request(phase: Phase, chapter: str) -> None:
    total, failed = phase.seen["log"]
    measured = phase.measured
    assert measured[f"{chapter}_requests"] == total and measured[f"{chapter}_failed_requests"] == failed
    assert total > 100, f"the request loop hardly ran: {total}"
    assert failed == 0, f"{failed} of {total} requests through the VIP failed during the {chapter}"


def test_the_old_release_is_deployed_in_full(journey: Journey) -> None:
    phase = journey.phases[f"deploy {OLD}"]
    assert phase.summary["result"] == "passed" and phase.summary["release"] == OLD
    assert not [o for o in phase.summary["steps"] if o["status"] != "passed"]


def test_the_upgrade_loses_no_request_and_every_master_passes_its_gate(journey: Journey) -> None:
    phase = journey.phases["upgrade"]
    assert phase.summary["result"] == "passed" and phase.summary["chapters"] == ["upgrade"]
    assert_no_failed_request(phase, "upgrade")
    masters = [n["name"] for n in NODES]
    for step in ("upgrade.apiservers", "upgrade.controllers"):
        assert_gates_held(phase.output, step, masters)
    for node in masters:
        assert re.search(rf"^{node}: done: restarted kube-apiserver", phase.output, re.MULTILINE)
        assert re.search(rf"^{node}: done: restarted kube-controller-manager, restarted kube-scheduler, "
                         "pushed kubectl$", phase.output, re.MULTILINE)
        for round_ in ("apiserver", "controllers"):
            assert phase.measured[f"upgrade_{round_}_{node.replace('-', '_')}_seconds"] > 0
    # the apiservers' round ended before the controllers' began (the skew rule), in the record's own order
    steps = [o["step"] for o in phase.summary["steps"]]
    assert max(i for i, s in enumerate(steps) if s == "upgrade.apiservers") < steps.index("upgrade.controllers")


def test_every_master_runs_the_new_release_built_from_the_go_module(journey: Journey) -> None:
    phase = journey.phases["upgrade"]
    release = parse_release(NEW)
    assert not isinstance(release, str)
    built = json.loads((kubebuild.release_dir(release) / "build.json").read_text())["binaries"]
    for node, text in phase.seen["versions"].items():
        lines = text.splitlines()
        assert lines == [f"Kubernetes v{NEW}"] * len(kubebuild.DAEMONS) + [f"Client Version: v{NEW}"], (node, text)
        sums = {name: digest for digest, name in (line.split() for line in phase.seen["sums"][node].splitlines())}
        assert sums == {name: built[name]["sha256"] for name in kubebuild.DAEMONS}, node


def test_the_upgrade_run_again_changes_nothing(journey: Journey) -> None:
    phase = journey.phases["upgrade again"]
    assert phase.summary["result"] == "passed"
    done = re.findall(r"^(k8s-master-0\d): done: (.*)$", phase.output, re.MULTILINE)
    assert done and {what for _, what in done} == {"nothing to change"} and len(done) == 2 * len(NODES)
    assert re.search(rf"^Snapshot kept at \S+snapshot-before-upgrade-to-v{re.escape(NEW)}\.db$", phase.output,
                     re.MULTILINE)


def test_a_fourth_master_joins_and_wins_an_election(journey: Journey) -> None:
    phase = journey.phases["grow"]
    assert phase.summary["result"] == "passed"
    assert_no_failed_request(phase, "membership")
    masters = [n["name"] for n in NODES]
    assert_gates_held(phase.output, "membership.rolling", masters)
    names = [*masters, FOURTH["name"]]
    assert phase.seen["members"] == [f"{n}=started" for n in sorted(names)]
    for node, servers in phase.seen["servers"].items():
        assert servers == names, f"haproxy on {node} balances {servers}"
    for component in ("kube-scheduler", "kube-controller-manager"):
        won = re.search(rf"^{component} leader while only {FOURTH['name']} ran it: (\S+)$", phase.output, re.MULTILINE)
        assert won and won[1] == FOURTH["name"], component
        assert phase.measured[f"membership_{component.replace('-', '_')}_takeover_seconds"] > 0
    assert re.search(r"^load balancer: 16 of 16 backends UP, VIP on: k8s-master-0\d$", phase.output, re.MULTILINE)


def test_joining_again_changes_nothing(journey: Journey) -> None:
    phase = journey.phases["grow again"]
    assert phase.summary["result"] == "passed"
    done = re.findall(r"^(k8s-master-0\d): done: (.*)$", phase.output, re.MULTILINE)
    assert sorted(done) == [(n["name"], "nothing to change") for n in NODES]
    assert re.search(rf", https://{re.escape(FOURTH['ip'])}:2380, ", phase.output)  # listed, not added twice


def test_the_fourth_master_leaves_only_with_the_flag_and_loses_no_request(journey: Journey) -> None:
    refused = journey.phases["shrink refused"]
    assert refused.proc.returncode == 1 and refused.run_dir is None
    assert "membership.etcd-remove" in refused.proc.stderr and "--allow-destructive" in refused.proc.stderr
    phase = journey.phases["shrink"]
    assert phase.summary["result"] == "passed"
    assert_no_failed_request(phase, "membership")
    masters = [n["name"] for n in NODES]
    assert_gates_held(phase.output, "membership.rolling", masters)
    assert phase.seen["members"] == [f"{n}=started" for n in sorted(masters)]
    for node, servers in phase.seen["servers"].items():
        assert servers == masters, f"haproxy on {node} balances {servers}"
    states = re.findall(r"^(active|inactive|failed|unknown|activating|deactivating)$", phase.seen["fourth"],
                        re.MULTILINE)  # the lab's systemctl may print warnings around them
    assert states == ["inactive"] * 6, phase.seen["fourth"]
    assert len(phase.seen["vip"]) == 1 and phase.seen["vip"][0] in masters
    assert re.search(r"^Member +[0-9a-f]+ removed from cluster", phase.output, re.MULTILINE)


def test_leaving_again_and_dropping_the_section_change_nothing(journey: Journey) -> None:
    again = journey.phases["shrink again"]
    assert again.summary["result"] == "passed"
    assert re.search(rf"^{FOURTH['name']} is not a member \(removed already\)$", again.output, re.MULTILINE)
    done = re.findall(r"^(k8s-master-0\d): done: (.*)$", again.output, re.MULTILINE)
    assert sorted(done) == [(n["name"], "nothing to change") for n in NODES]
    render = journey.phases["render after"].proc.stdout
    assert re.search(rf"rendered day2 \({re.escape(NEW)}\) into build/day2/: \d+ unchanged$", render.strip()), render


def test_the_run_records_hold_no_secret(journey: Journey) -> None:
    pki = BUILD / "pki"
    secrets = {(pki / "haproxy-stats-password").read_text().strip(), (pki / "encryption-key.b64").read_text().strip()}
    for key in pki.glob("*-key.pem"):  # every private key's body lines, the new master's among them
        secrets.update(line for line in key.read_text().splitlines() if len(line) >= 16 and "-----" not in line)
    assert len(secrets) > 50 and any("k8s-master-04" in k.name for k in pki.glob("*-key.pem"))
    records = [p for phase in journey.phases.values() if phase.run_dir for p in phase.run_dir.iterdir()]
    assert len(records) > len(journey.phases)
    for path in records:
        text = path.read_text(errors="replace")
        assert "PRIVATE KEY" not in text and not [s for s in secrets if s in text], path


def test_lab_down_removes_the_node_that_left_too(journey: Journey) -> None:
    netns = journey.phases["lab-down"].seen["netns"]
    assert f"{NAME}-{FOURTH['name']}" not in netns and f"{NAME}-k8s-master-01" not in netns
