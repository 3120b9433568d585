"""A deploy renders what it reads: every file under build/<cluster>/ that a command reads belongs to a (component,
phase) an earlier `invoke render --component C --phase P` of the same deploy wrote (the CAs come with every phase).

A lab run on a build left by an earlier render cannot see this: the file is already there. A fresh clone's first
deploy can (the CIS benchmark's kube-bench config was read before anything rendered it)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from generator import catalog, render
from generator.artifacts import rel_build
from generator.model import REPO, load


def unrendered_reads(name: str) -> list[str]:
    cluster = load(name)
    artifacts = render.render(cluster).artifacts
    prefix = rel_build(cluster)
    patterns = {a.path: (re.compile(re.escape(f"{prefix}/{a.path}") + r"(?![\w./-])"), (a.component, a.phase))
                for a in artifacts if a.phase != "ca"}
    rendered: set[tuple[str, str]] = set()
    missing = []
    for chapter in catalog.chapters(cluster):
        for step in chapter.steps:
            for command in [*step.local, *(c for _, commands in step.per_node for c in commands)]:
                if command.renders:
                    rendered.add(command.renders)
                    continue
                missing += [f"{step.id} reads {path} before any render of {made_by}"
                            for path, (pattern, made_by) in patterns.items()
                            if made_by not in rendered and pattern.search(command.run)]
    return sorted(set(missing))


@pytest.mark.parametrize("name", ["lab", "example"])
def test_every_build_file_a_deploy_reads_was_rendered_by_an_earlier_step(name: str) -> None:
    assert unrendered_reads(name) == []


def test_the_scheduler_rehearsal_renders_what_it_reads_too(tmp_path: Path) -> None:
    text = (REPO / "clusters" / "lab.yaml").read_text().replace("build/lab/", "build/order-rehearsal/")
    data = yaml.safe_load(text)
    data["name"] = "order-rehearsal"
    data["verification"]["scheduler_rehearsal"] = {}
    path = tmp_path / "order-rehearsal.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    try:
        assert unrendered_reads(str(path)) == []
    finally:
        shutil.rmtree(REPO / "build" / "order-rehearsal", ignore_errors=True)
