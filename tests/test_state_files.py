"""State files the product reads back, validated like the cluster file (issue 23): the lab's state, which lab-down
acts on (it signals the PIDs and deletes the paths it records), read without ever starting a lab."""

from __future__ import annotations

import dataclasses
import json
import shutil
import uuid
from pathlib import Path

import pytest

from generator.lab.layout import lab
from generator.lab.state import load_state, load_state_file
from generator.model import load
from generator.stored import StoredFileError
from tests.conftest import REPO, run_invoke, tree_digest, unreachable_cluster


@pytest.fixture()
def the_lab(tmp_path: Path):
    return dataclasses.replace(lab(load("lab")), state_file=tmp_path / "lab-state.json")


@pytest.mark.parametrize(("state", "said"), [
    ({"made": ["/etc"]}, "made[0]: '/etc': a path lab-up makes"),
    ({"made": ["/work/../etc"]}, "made[0]: '/work/../etc': an absolute path without '..'"),
    ({"made": "build/lab"}, "made: 'build/lab': a list of paths"),
    ({"nodes": {"m1": {"init_pid": "1; reboot"}}}, "nodes.m1.init_pid: '1; reboot': an integer or null"),
    ({"nodes": []}, "nodes: []: an object of one object per node"),
    ([1, 2], "<top>: 'a list': a JSON object"),
    ({"kube_binaries_missing": ["x"]}, "kube_binaries_missing: ['x']: a string"),
])
def test_a_tampered_lab_state_is_one_line(the_lab, state: object, said: str) -> None:
    the_lab.state_file.write_text(json.dumps(state))
    with pytest.raises(StoredFileError) as refused:
        load_state(the_lab)
    line = str(refused.value)
    assert line.startswith(f"{the_lab.state_file}: ") and said in line and "\n" not in line, line
    assert "lab-down stops and removes only what it records" in line


def test_what_the_lab_makes_is_accepted(the_lab) -> None:
    made = [str(the_lab.dir / "ssh"), str(the_lab.key), str(the_lab.nodes_base / "k8s-master-01")]
    the_lab.state_file.write_text(json.dumps({"made": made, "nodes": {"m1": {"init_pid": 5, "init_start": None}}}))
    assert load_state(the_lab)["made"] == made
    assert load_state_file(the_lab.state_file.with_name("absent.json")) == {}


def test_a_step_reading_a_tampered_lab_state_says_so_in_one_line(tmp_path: Path) -> None:
    """`invoke step` reads why the kube binaries are missing from lab-state.json: it crashed on a list there."""
    name = f"labstate-{uuid.uuid4().hex[:8]}"
    source = unreachable_cluster(tmp_path, name)
    build = REPO / "build" / name
    try:
        build.mkdir(parents=True)
        (build / "lab-state.json").write_text("[]")
        before = tree_digest(build)
        proc = run_invoke("step", "--cluster", str(source), "--step", "kube-apiserver.status", check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip() == f"error: {build}/lab-state.json: <top>: 'a list': a JSON object; fix or delete " \
                                      "it: lab-down stops and removes only what it records (`ip netns`, `ps` and " \
                                      "build/<cluster>/ show what is left)"
        # nothing else changed: the lock, and the named scripts every step run writes first (complete files)
        def kept(digest: dict) -> dict:
            return {k: v for k, v in digest.items() if not k.endswith("cluster.lock") and f"{name}/bin" not in k}
        assert kept(tree_digest(build)) == kept(before)
    finally:
        shutil.rmtree(build, ignore_errors=True)
