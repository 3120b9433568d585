"""build/<cluster>/lab-state.json: what lab-up started and made.

Read back like every state file (generator/stored.py): lab-down signals the processes and deletes the paths it
records, so a recorded path must be one the lab makes, and the fields it reads must have their types; anything
else is one line naming the file, never a traceback or an `rm -r` of something the lab did not make. Only the fields
read here are checked: the rest of the file belongs to the lab's code as it changes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from generator import stored
from generator.artifacts import write_atomic
from generator.lab.layout import Lab, repo_path
from generator.schema import Problem

STATE_BYTES = 4 << 20
FIX = ("fix or delete it: lab-down stops and removes only what it records (`ip netns`, `ps` and build/<cluster>/ show "
       "what is left)")


def state_problems(state: object) -> list[Problem]:
    """What lab-state.json must be whatever the lab's version: an object; `made` a list of absolute normalised
    paths; `nodes` objects whose *_pid and *_start are integers or null."""
    if not isinstance(state, dict):
        return [Problem("", f"a {type(state).__name__}", "a JSON object")]
    problems = []
    made = state.get("made", [])
    if not isinstance(made, list):
        problems.append(Problem("made", made, "a list of paths"))
    else:
        problems += [Problem(f"made[{i}]", path, "an absolute path without '..'") for i, path in enumerate(made)
                     if not isinstance(path, str) or not os.path.isabs(path) or ".." in path.split("/")]
    nodes = state.get("nodes", {})
    if not isinstance(nodes, dict) or not all(isinstance(entry, dict) for entry in nodes.values()):
        problems.append(Problem("nodes", nodes, "an object of one object per node"))
    else:
        problems += [Problem(f"nodes.{name}.{key}", value, "an integer or null")
                     for name, entry in nodes.items() for key, value in entry.items()
                     if key.endswith(("_pid", "_start")) and value is not None
                     and (isinstance(value, bool) or not isinstance(value, int))]
    if not isinstance(state.get("kube_binaries_missing", ""), str):
        problems.append(Problem("kube_binaries_missing", state["kube_binaries_missing"], "a string"))
    return problems


def load_state_file(path: Path) -> dict:
    """The lab's state ({} before lab-up); StoredFileError, one line, for a file that is not one."""
    try:
        state = stored.read_json(path, STATE_BYTES, FIX)
    except FileNotFoundError:
        return {}
    problems = state_problems(state)
    if problems:
        raise stored.StoredFileError(stored.line(str(path), problems, FIX))
    return state


def made_by(the_lab: Lab) -> tuple[tuple[Path, ...], set[Path]]:
    """Where what lab-up makes lies: directories (anything under them) and single files."""
    files = {the_lab.key, Path(f"{the_lab.key}.pub")} | ({the_lab.known_hosts} if the_lab.known_hosts else set())
    prerequisites = the_lab.cluster.spec.prerequisites
    for tarball in (prerequisites.server_tarball, prerequisites.etcd_tarball, prerequisites.kube_bench_tarball,
                    prerequisites.kwok_binary):
        if tarball:
            target = repo_path(tarball)
            files |= {target, target.with_name(target.name + ".lab-stamp")}
    return (the_lab.dir, the_lab.nodes_base), files


def load_state(the_lab: Lab) -> dict:
    state = load_state_file(the_lab.state_file)
    roots, files = made_by(the_lab)
    outside = [(i, path) for i, path in enumerate(state.get("made", []))
               if Path(path) not in files and not any(Path(path).is_relative_to(root) for root in roots)]
    if outside:
        raise stored.StoredFileError(stored.line(str(the_lab.state_file), [Problem(
            f"made[{i}]", path, f"a path lab-up makes (under {the_lab.dir} or {the_lab.nodes_base}, its key, known "
            "hosts or tarballs)") for i, path in outside], FIX))
    return state


def save_state(the_lab: Lab, state: dict) -> None:
    write_atomic(the_lab.state_file, (json.dumps(state, indent=2, sort_keys=True) + "\n").encode(), 0o644)


def remember(state: dict, path: Path) -> None:
    made = state.setdefault("made", [])
    if str(path) not in made:
        made.append(str(path))
