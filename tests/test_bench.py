"""The benchmark's own parts (no timings here: the figures are `invoke bench`'s): the fleet is distinct clusters that
load, and a measured process reports the memory and CPU of what it waited for."""

from __future__ import annotations

import sys
from pathlib import Path

from generator.bench import fleet
from generator.bench.measure import run
from generator.model import load


def test_the_fleet_is_distinct_valid_clusters(tmp_path: Path) -> None:
    clusters = [load(str(p)) for p in fleet.write(tmp_path, 12)]
    assert len({c.name for c in clusters}) == 12
    addresses = [n.ip for c in clusters for n in c.spec.nodes]
    assert len(set(addresses)) == len(addresses)
    assert {str(c.release) for c in clusters} == set(fleet.RELEASES)
    assert {len(c.masters) for c in clusters} == {1, 3, 5}
    assert not clusters[1].load_balanced and clusters[0].load_balanced


def test_one_field_changes_and_changes_back(tmp_path: Path) -> None:
    (path,) = fleet.write(tmp_path, 1)
    before = path.read_text()
    fleet.change_one_field(path)
    assert load(str(path)).spec.ssh.user == "ops"
    fleet.change_one_field(path)
    assert path.read_text() == before


def test_a_measured_process_counts_what_its_child_used() -> None:
    """The child holds 300 MiB and starts a grandchild that spins and reports its own CPU time: the measured CPU
    must include it (wait4 of the child counts the descendants it waited for)."""
    grandchild = "import time; sum(range(10**7)); print(time.process_time())"
    child = ("import json, subprocess, sys; block = bytearray(300 * 2**20); "
             f"out = subprocess.run([sys.executable, '-c', {grandchild!r}], check=True, capture_output=True, "
             "text=True).stdout; print(json.dumps({'grandchild_cpu': float(out)}))")
    sample = run([sys.executable, "-c", child])
    assert sample.rss_mib >= 300
    assert sample.cpu >= sample.result["grandchild_cpu"] > 0
