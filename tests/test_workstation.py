"""What the workstation needs (generator/workstation.py, `invoke check-workstation`): the programs it declares are
the ones the runbook's commands call, as shfmt, a real shell parser, reads them; the check reports what is missing,
one line each, for real (ssh to loopback addresses where nothing listens, a tarball that is not there, a PATH
without the programs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import catalog, day2, scripts, workstation
from generator.execute import groups
from generator.model import load
from tests.conftest import REPO, run_invoke, unreachable_cluster

SHFMT = shutil.which("shfmt")
# `tar -xz` unpacks the release tarballs through gzip: declared, though no command names it
INDIRECT = {"gzip"}


def calls(script: str) -> set[str]:
    """Every command name the script runs itself: a call's first word, when it is a plain word (not `$VAR`), not a
    function the script defines. What runs on a node is a quoted argument of `ssh`, a string to shfmt."""
    assert SHFMT, "shfmt is required (listed in .ci/system-packages)"
    tree = json.loads(subprocess.run([SHFMT, "--to-json"], input=script, capture_output=True, text=True,
                                     check=True).stdout)
    found: set[str] = set()
    functions: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("Type") == "CallExpr" and node.get("Args"):
                parts = node["Args"][0].get("Parts", [])
                if len(parts) == 1 and parts[0].get("Type") == "Lit":
                    found.add(parts[0]["Value"])
            if node.get("Type") == "FuncDecl":
                functions.add(node["Name"]["Value"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(tree)
    return found - functions


def shell_words() -> set[str]:
    """bash's builtins and keywords, from bash itself."""
    listed = subprocess.run(["bash", "-c", "compgen -b; compgen -k"], capture_output=True, text=True, check=True)
    return set(listed.stdout.split())


def every_command() -> list[str]:
    """Every command of every cluster's runbook, and of the example with each day-2 change planned, and the named
    scripts they call (which run on the workstation too)."""
    clusters = [load(str(p)) for p in sorted((REPO / "clusters").glob("*.yaml"))]
    clusters += day2.examples(load("example"))
    commands = {command.run for cluster in clusters for chapter in catalog.chapters(cluster)
                for step in chapter.steps for group in groups(step) for command in group.commands}
    return sorted(commands | {script.body for cluster in clusters for script in scripts.scripts(cluster)})


def test_the_declared_programs_are_the_ones_the_commands_call() -> None:
    called = calls("\n".join(every_command()))
    # a path (build/<cluster>/bin/kubectl) is a file the runbook itself puts there
    programs = {name for name in called if "/" not in name} - shell_words()
    assert programs == (workstation.PROGRAMS | {workstation.VERBS}) - INDIRECT, (
        f"called, not declared: {sorted(programs - workstation.PROGRAMS - {workstation.VERBS})}; "
        f"declared, not called: {sorted(workstation.PROGRAMS - INDIRECT - programs)}")


def test_control_the_parser_tells_the_workstation_from_the_node() -> None:
    script = ("helper() { frobnicate --now; }\nt0=$(date +%s)\necho \"$(fetch-it url)\" | checksum -c && "
              "ssh kube@127.0.0.1 'remote-only-tool --flag' || exit 1\n$SOME_TOOL run")
    assert calls(script) - shell_words() == {"frobnicate", "date", "fetch-it", "checksum", "ssh"}


@pytest.fixture()
def unreachable(tmp_path: Path):
    return load(str(unreachable_cluster(tmp_path, "ws-check")))


def test_the_check_reports_each_node_ssh_cannot_reach(unreachable) -> None:
    needs = workstation.check(unreachable)
    nodes = [n for n in needs if n.what.startswith("ssh ")]
    assert [n.what.rsplit(" ", 1)[-1] for n in nodes] == [f"({node.name})" for node in unreachable.spec.nodes]
    assert all(not n.ok and "refused" in n.detail.lower() for n in nodes), [n.line for n in nodes]
    # this machine runs the runbook's commands in the lab and the tests: every program is here
    assert all(n.ok for n in needs if n.what in workstation.PROGRAMS), [n.line for n in needs if not n.ok]


def test_the_check_reads_the_tarballs_the_cluster_file_names(unreachable, tmp_path: Path) -> None:
    server = next(n for n in workstation.tarballs(unreachable) if n.what == "prerequisites.server_tarball")
    assert not server.ok and "no such file" in server.detail
    etcd = next(n for n in workstation.tarballs(unreachable) if n.what == "prerequisites.etcd_tarball")
    assert etcd.ok and "downloads https://github.com/etcd-io/etcd/" in etcd.detail
    spec = yaml.safe_load(unreachable.source.read_text())
    tarball = tmp_path / "kubernetes-server-linux-amd64.tar.gz"
    tarball.write_bytes(b"not checked here: chapter 1 checks its hash")
    spec["prerequisites"] = {"server_tarball": str(tarball)}
    unreachable.source.write_text(yaml.safe_dump(spec))
    given = next(n for n in workstation.tarballs(load(str(unreachable.source)))
                 if n.what == "prerequisites.server_tarball")
    assert given.ok and given.detail == str(tarball)


def test_control_a_path_without_the_programs(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    missing = {n.what: n for n in workstation.programs() if not n.ok}
    assert set(missing) == workstation.PROGRAMS | {workstation.VERBS}
    assert "(Debian package util-linux)" in missing["setsid"].detail


def test_the_verb_prints_one_line_per_need_and_fails_on_a_missing_one(tmp_path: Path) -> None:
    path = unreachable_cluster(tmp_path, "ws-verb")
    proc = run_invoke("check-workstation", "--cluster", str(path), check=False)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert len(lines) == len(workstation.PROGRAMS) + 2 + 2 + 3  # programs, invoke and python, tarballs, nodes
    assert sum(line.startswith("MISSING") for line in lines) == 4  # the server tarball, three nodes
    assert proc.stderr.strip().splitlines()[-1] == f"check-workstation: 4 of {len(lines)} missing"


def test_the_verb_refuses_a_bad_cluster_file_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [\n")
    proc = run_invoke("check-workstation", "--cluster", str(bad), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and proc.stdout == ""
