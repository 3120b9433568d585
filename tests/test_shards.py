"""The suite's groups (tests/shards.py): each group's copy is the working tree as it is, and every module runs once."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests import shards


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True,
                   capture_output=True)


def test_a_copy_is_the_working_tree_with_its_changes_and_without_ignored_files(tmp_path: Path) -> None:
    root, target = tmp_path / "root", tmp_path / "copy"
    (root / "generator").mkdir(parents=True)
    (root / ".gitignore").write_text("/build/\n")
    (root / "generator" / "kept.py").write_text("committed\n")
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "commit", "-qm", "first")
    (root / "generator" / "kept.py").write_text("changed, not committed\n")
    (root / "generator" / "new.py").write_text("new, not added\n")
    (root / "build" / "lab").mkdir(parents=True)
    (root / "build" / "lab" / "state.json").write_text("{}")
    (root / "generator" / "gone.py").write_text("x")
    git(root, "add", "generator/gone.py")
    (root / "generator" / "gone.py").unlink()  # added, then deleted from the tree
    shards.copy_tree(root, target)
    assert (target / "generator" / "kept.py").read_text() == "changed, not committed\n"
    assert (target / "generator" / "new.py").exists() and (target / ".gitignore").exists()
    assert not (target / "build").exists() and not (target / "generator" / "gone.py").exists()


def test_every_test_module_runs_in_exactly_one_group() -> None:
    named = [name for group in shards.GROUPS for name in group]
    assert len(named) == len(set(named)), "a module named by two groups would run twice"
    existing = {p.name for p in (shards.REPO / "tests").glob("test_*.py")}
    assert set(named) <= existing, f"groups name modules that do not exist: {set(named) - existing}"
    ignored = shards.modules(())
    assert ignored == [arg for name in named for arg in ("--ignore", f"tests/{name}")]


def test_modules_that_use_a_built_tool_start_after_the_tools_are_built() -> None:
    """The first group runs while the lab's tools build (shards.Tools): a module that uses a built binary (the kube
    release's, etcd's, kube-bench's, kwok's) belongs to another group."""
    uses = re.compile(r"\b(ensure|release_dir|built_etcd)\(")
    named = {name for group in shards.GROUPS for name in group}
    first = sorted(p.name for p in (shards.REPO / "tests").glob("test_*.py")
                   if p.name not in named and uses.search(p.read_text(encoding="utf-8")))
    assert first == []
