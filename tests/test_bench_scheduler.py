"""`invoke bench --scheduler` without a lab: what it refuses, the settings each variant pushes, the order it measures
in, and the table it writes from given figures (every expected figure below is worked out by hand from the input
lines). The measurement itself needs a deployed cluster with ssh and systemd: bench/results.md holds its figures."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest
import yaml

from generator.bench import scheduler_block
from generator.bench.scheduler import (
    BenchError,
    bench,
    parse,
    parse_sizes,
    script,
    table,
    with_clients,
    write_results,
)
from generator.components.verification.rehearsal_files import STAGES_SOURCE
from generator.model import ClientConnection, Cluster, SchedulerRehearsal, load
from tests.conftest import run_invoke

COMPILED_SCHEDULER, COMPILED_CONTROLLER_MANAGER = ClientConnection(400, 800), ClientConnection(100, 200)


@pytest.fixture(scope="module")
def cluster() -> Cluster:
    """The example cluster with the rehearsal asked for and client settings of its own (not upstream's)."""
    example = load("example")
    verification = dataclasses.replace(example.spec.verification, scheduler_rehearsal=SchedulerRehearsal())
    example = dataclasses.replace(example, spec=dataclasses.replace(example.spec, verification=verification))
    return with_clients(example, COMPILED_SCHEDULER, COMPILED_CONTROLLER_MANAGER)


def test_sizes_are_sorted_and_checked() -> None:
    assert parse_sizes("250x5000, 100x2000,100x2000") == ((100, 2000), (250, 5000))
    # 110 pods per node at most (a kubelet's default), 500 nodes, every part NODESxPODS
    for bad in ("", "100", "100x", "0x10", "10x1101", "501x100", "100x2000;250x5000", "-1x5", "100X2000"):
        with pytest.raises(BenchError, match="^--sizes: "):
            parse_sizes(bad)
    assert parse_sizes("10x1100") == ((10, 1100),)


@pytest.mark.parametrize(("args", "message"), [
    (["--sizes", "10x2000"], "bench: --sizes: '10x2000' is not NODESxPODS"),
    (["--repeats", "0"], "bench: --repeats must be at least 1"),
    # the lab's cluster file asks for no rehearsal: nothing to simulate nodes with
    (["--cluster", "lab"], "bench: lab: the benchmark simulates nodes as the scheduler's rehearsal does"),
])
def test_invoke_refuses_in_one_line(args: list[str], message: str) -> None:
    proc = run_invoke("bench", "--scheduler", *args, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


def test_no_kwok_no_run(cluster: Cluster, tmp_path: Path) -> None:
    missing = tmp_path / "kwok"
    prerequisites = dataclasses.replace(cluster.spec.prerequisites, kwok_binary=str(missing))
    without = dataclasses.replace(cluster, spec=dataclasses.replace(cluster.spec, prerequisites=prerequisites))
    with pytest.raises(BenchError, match="no kwok to run"):
        bench(without, ((1, 10),), 1, log=lambda _: None)


def test_each_variant_pushes_its_own_settings_in_turn(cluster: Cluster, tmp_path: Path) -> None:
    text = script(cluster, ((100, 2000), (250, 5000)), 2, tmp_path)
    assert subprocess.run(["bash", "-n", "-c", text], capture_output=True, text=True).stderr == ""
    for node in cluster.masters:
        for label, (qps, burst) in (("compiled", (400, 800)), ("upstream", (50, 100)), ("unthrottled", (5000, 5000))):
            config = yaml.safe_load((tmp_path / f"scheduler_{label}" / f"{node.name}.kube-scheduler.yaml")
                                    .read_text())
            assert (config["clientConnection"]["qps"], config["clientConnection"]["burst"]) == (qps, burst)
        for label, (qps, burst) in (("compiled", (100, 200)), ("upstream", (20, 30))):
            unit = (tmp_path / f"controller_manager_{label}" / f"{node.name}.kube-controller-manager.service")\
                .read_text()
            assert f"--kube-api-qps={qps}" in unit and f"--kube-api-burst={burst}" in unit
    assert not (tmp_path / "controller_manager_unthrottled").exists()
    # the first size's nodes made, each drain right after its pair's other, only the nodes a larger size adds made
    # before it; the compiled settings
    # pushed back whatever ends the run
    order = [line for line in text.splitlines()
             if line.startswith(("push_scheduler_", "drain ", "create_nodes ")) and "()" not in line]
    run = ["push_scheduler_compiled", "drain {} compiled", "push_scheduler_upstream", "drain {} upstream",
           "push_scheduler_unthrottled", "drain {} unthrottled"]
    assert order == ['create_nodes "$nodes"', *(s.format(2000) for s in run * 2), "create_nodes 250 101; nodes=250",
                     *(s.format(5000) for s in run * 2)]
    assert [line.split()[1] for line in text.splitlines() if line.startswith("controller_manager ")] == [
        "compiled", "upstream"] * 2
    assert "trap bench_cleanup EXIT" in text
    # kwok makes the nodes Ready and leaves the pods alone: only the rehearsal's Node stage, which it also has a Pod's
    stages = tmp_path / "kwok-node-stages.yaml"
    assert f"--config={stages}" in text
    assert [d["spec"]["resourceRef"]["kind"] for d in yaml.safe_load_all(stages.read_text())] == ["Node"]
    assert [d["spec"]["resourceRef"]["kind"] for d in yaml.safe_load_all(STAGES_SOURCE.read_text())] == [
        "Node", "Pod"]
    assert "restore() {\n  push_scheduler_compiled; push_controller_manager_compiled" in text


OUTPUT = """\
  simulated nodes Ready: 100 of 100
  ControlSocket build/x/ssh/cm-1 already exists, disabling multiplexing
bench: drain variant=compiled nodes=100 pods=2001 events=2001 drain_seconds=10.000 start_to_bound_seconds=12.000 \
created_seconds=90 twice=0 apiserver_mib=480 etcd_mib=160 scheduler_mib=100
bench: drain variant=upstream nodes=100 pods=2001 events=2001 drain_seconds=40.000 start_to_bound_seconds=45.000 \
created_seconds=91 twice=0 apiserver_mib=520 etcd_mib=200 scheduler_mib=120
bench: drain variant=compiled nodes=100 pods=2001 events=2001 drain_seconds=8.000 start_to_bound_seconds=14.000 \
created_seconds=92 twice=0 apiserver_mib=500 etcd_mib=170 scheduler_mib=90
bench: drain variant=upstream nodes=100 pods=2001 events=2001 drain_seconds=20.000 start_to_bound_seconds=25.000 \
created_seconds=93 twice=1 apiserver_mib=510 etcd_mib=190 scheduler_mib=110
bench: drain variant=unthrottled nodes=100 pods=2001 events=1801 drain_seconds=5.000 start_to_bound_seconds=7.000 \
created_seconds=94 twice=0 apiserver_mib=530 etcd_mib=210 scheduler_mib=130
bench: drain variant=unthrottled nodes=100 pods=2001 events=2001 drain_seconds=4.000 start_to_bound_seconds=6.000 \
created_seconds=95 twice=0 apiserver_mib=540 etcd_mib=180 scheduler_mib=125
bench: create variant=compiled pods=1000 created_seconds=10.0
bench: create variant=upstream pods=1000 created_seconds=50.0
bench: create variant=compiled pods=1000 created_seconds=12.5
bench: create variant=upstream pods=1000 created_seconds=50.0
"""


def test_the_table_from_given_figures(cluster: Cluster) -> None:
    """Drains of 2001 pods: compiled 2000 / 10 s = 200 and 2000 / 8 s = 250 pods/s, upstream 2000 / 40 s = 50 and
    2000 / 20 s = 100 (the first binding starts the clock), so the per-repeat ratios are 4 and 2.5; unthrottled
    2000 / 5 s = 400 (the pods counted, not the 1801 events) and 2000 / 4 s = 500, ratios 8 and 5; creation: 1000
    pods in 10 and 12.5 s against 50 and 50 s, ratios 5 and 4, and no unthrottled row (that variant's controller
    manager is the compiled one)."""
    markdown = table(cluster, parse(OUTPUT.splitlines()), "invoke bench --scheduler --cluster x",
                     "2026-12-07 08:00 UTC", ("1.50", "2.50"))
    lines = markdown.splitlines()
    assert lines[0].startswith("`invoke bench --scheduler --cluster x`, 2026-12-07 08:00 UTC, on ")
    assert "load average 1.50 before, 2.50 after" in lines[0]
    assert ("| 100 × 2001 | compiled: 400 / 800 | 200 / 225 / 250 | 2.5 / 3.25 / 4 | 12 / 13 / 14 | 0 "
            "| 500 / 170 / 100 |") in lines
    assert "| 100 × 2001 | upstream: 50 / 100 | 50 / 75 / 100 | 1 | 25 / 35 / 45 | 1 | 520 / 200 / 120 |" in lines
    assert "| compiled: 100 / 200 | 10 / 11.2 / 12.5 | 80 / 90 / 100 | 4 / 4.5 / 5 |" in lines
    assert "| 100 × 2001 | unthrottled: 5000 / 5000 | 400 / 450 / 500 | 5 / 6.5 / 8 | 6 / 6.5 / 7 | 0 " \
           "| 540 / 210 / 130 |" in lines
    assert "| upstream: 20 / 30 | 50 / 50 / 50 | 20 / 20 / 20 | 1 |" in lines
    assert not any(line.startswith("| unthrottled") for line in lines)


def test_the_scheduler_block_replaces_its_last_one_and_nothing_else(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    fleet = "# Benchmark results\n\nthe fleet's figures\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
    results.write_text(fleet)
    write_results("first run", results)
    write_results("second run", results)
    text = results.read_text()
    assert text.startswith(fleet) and "first run" not in text and text.count("second run") == 1
    block = scheduler_block(text)
    assert block.count("## The scheduler and the controller manager") == 1 and "second run" in block
    assert text == fleet + "\n" + block + "\n"
    assert scheduler_block(fleet) == ""
