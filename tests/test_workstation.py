"""What the workstation needs (generator/workstation.py, `invoke check-workstation`): the programs it declares are
the ones the runbook's commands call, as shfmt, a real shell parser, reads them; the check reports what is missing,
one line each, for real (ssh to loopback addresses where nothing listens, a tarball that is not there, a PATH
without the programs)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import catalog, day2, scripts, workstation
from generator.bench.scheduler import script as bench_script
from generator.components.verification import rehearsal
from generator.execute import groups
from generator.model import SchedulerRehearsal, load
from tests.conftest import REPO, run_invoke, unreachable_cluster

SHFMT = shutil.which("shfmt")
# `tar -xz` unpacks the release tarballs through gzip: declared, though no command names it
INDIRECT = {"gzip"}


def syntax_nodes(script: str) -> Iterator[dict[str, Any]]:
    """Every node of the script's syntax tree as shfmt, a real shell parser, reads it: what the workstation's bash
    runs. What runs on a node is a quoted argument of `ssh`, a string here."""
    assert SHFMT, "shfmt is required (listed in .ci/system-packages)"
    stack: list[object] = [json.loads(subprocess.run([SHFMT, "--to-json"], input=script, capture_output=True,
                                                     text=True, check=True).stdout)]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def calls(script: str) -> set[str]:
    """Every command name the script runs itself: a call's first word, when it is a plain word (not `$VAR`), not a
    function the script defines."""
    found: set[str] = set()
    functions: set[str] = set()
    for node in syntax_nodes(script):
        if node.get("Type") == "CallExpr" and node.get("Args"):
            parts = node["Args"][0].get("Parts", [])
            if len(parts) == 1 and parts[0].get("Type") == "Lit":
                found.add(parts[0]["Value"])
        if node.get("Type") == "FuncDecl":
            functions.add(node["Name"]["Value"])
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


PIPE_OPS = {12, 13}  # shfmt's `|` and `|&`


def early_reader(words: list[str]) -> bool:
    """`head`, or `grep` with -q or -m: a reader that may stop before its writer has written everything."""
    if not words:
        return False
    flags = [w for w in words[1:] if w.startswith("-") and not w.startswith("--")]
    return words[0] == "head" or (words[0] == "grep" and any("q" in f or "m" in f for f in flags))


def pipes_into_early_readers(script: str) -> list[str]:
    """Each pipeline the workstation's bash runs whose right-hand command is an early reader."""
    raw = script.encode()
    found = []
    for node in syntax_nodes(script):
        if node.get("Type") == "BinaryCmd" and node.get("Op") in PIPE_OPS:
            right = node["Y"]["Cmd"]
            words = ["".join(p.get("Value", "") for p in arg.get("Parts", [])) for arg in right.get("Args", [])]
            if right.get("Type") == "CallExpr" and early_reader(words):
                found.append(raw[node["X"]["Pos"]["Offset"]:node["Y"]["End"]["Offset"]].decode())
    return found


def test_no_pipe_the_workstation_runs_ends_in_a_reader_that_may_stop_first(tmp_path: Path) -> None:
    """The workstation runs every command with pipefail. A reader that stops early (`head`, `grep -q`) leaves its
    writer to die of SIGPIPE if it writes again, and that 141 becomes the pipeline's status: a check that found what
    it looked for fails, or `!` turns it into its opposite. bash writes `echo`/`printf` output a line at a time, so
    `printf '%s\\n' "$reply" | head -n 1` failed a lab deploy's clock check in CI. A here-string (`head -n 1 <<<
    "$reply"`) is written whole before the reader starts; an awk that counts reads to the end."""
    example = load("example")
    verification = dataclasses.replace(example.spec.verification, scheduler_rehearsal=SchedulerRehearsal())
    rehearsed = dataclasses.replace(example, spec=dataclasses.replace(example.spec, verification=verification))
    scripts = [*every_command(), rehearsal.script(rehearsed), bench_script(rehearsed, ((10, 100),), 1, tmp_path)]
    found = [pipe for script in scripts for pipe in pipes_into_early_readers(script)]
    assert not found, f"{len(found)} pipes into a reader that may stop first, e.g. {found[:3]}"


def test_control_the_reader_check_finds_what_failed_and_passes_its_fix() -> None:
    assert pipes_into_early_readers('printf \'%s\\n\' "$reply" | head -n 1 | awk 1') == [
        'printf \'%s\\n\' "$reply" | head -n 1']
    assert pipes_into_early_readers("until k get pods | grep -qx Pending; do :; done") == [
        "k get pods | grep -qx Pending"]
    for fine in ('head -n 1 <<< "$reply" | awk 1', "awk 'n++ < 20' log", "ssh host 'journalctl | head -n 3'",
                 "grep -c . log | tr -d ' '", 'x=$(holders | wc -w)'):
        assert pipes_into_early_readers(fine) == [], fine
    # why: the writer's second line finds the reader gone, and pipefail reports it
    proc = subprocess.run(["bash", "-o", "pipefail", "-c", "{ echo a; sleep 0.5; echo b; } | head -n 1"],
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (141, "a\n")


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
