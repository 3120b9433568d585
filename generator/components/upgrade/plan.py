"""`invoke upgrade-plan`: the upgrade chapter's plan for any target release, printed, and the cluster file that
plans it (the same file with `kubernetes_version` moved and an `upgrade.from` section)."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from generator import day2, day2_checks
from generator.artifacts import Artifact, Existing, build_dir, on_node, write_atomic
from generator.components.prerequisites.files import ENVIRONMENT
from generator.components.upgrade.skew import fact_changes
from generator.errors import Reported, RunbookError
from generator.kubehelp import data, written
from generator.lint.releases import exec_argv, flag_values, listed, missing
from generator.model import REPO, Cluster, Upgrade, as_written, load, with_paired_etcd
from generator.render import make_artifacts
from generator.versions import Release

VERSION_LINE = re.compile(r"^kubernetes_version:.*$", re.MULTILINE)


def target(cluster: Cluster, release: Release) -> Cluster:
    """The cluster as its file would say after `to`: `release`, with `upgrade.from` the release it runs now (and,
    where the file leaves etcd to the release, the etcd `release` is paired with: what loading that file gives)."""
    spec = replace(as_written(cluster), kubernetes_version=str(release), upgrade=Upgrade(from_=str(cluster.release)))
    return replace(cluster, spec=with_paired_etcd(spec, release), release=release)


def skew_problems(planned: Cluster) -> list[str]:
    """Why the cluster file could not plan this upgrade (the same checks `load` makes), one line each."""
    problems = day2_checks.check(as_written(planned))
    return [f"{p.path}: {p.value}: {p.expected}" for p in problems]


def carried(current: Cluster) -> dict[tuple[str, str], list[str]]:
    """(daemon, node) -> the argv of the unit the node runs now: the build's unit file when the build was rendered
    for this release (edits by hand included), else what the generator writes for it."""
    existing = Existing(build_dir(current))
    rendered = f"KUBE_VERSION={current.release.tag}" in (existing.read(ENVIRONMENT) or b"").decode(errors="replace")
    units = {}
    for node in current.masters:
        for daemon, writer in written.WRITERS.items():
            unit = on_node(node, f"{current.spec.paths.systemd_dir}/{daemon}.service")
            text = existing.read(unit) if rendered else None
            units[(daemon, node.name)] = (exec_argv(text.decode(errors="replace")) if text
                                          else [daemon, *writer(current, node)])
    return units


def dropped(current: Cluster, target: Release) -> list[str]:
    """Each flag, feature gate and admission plugin the units carry now that `target` does not take, with what
    replaces it (the version facts), one line per daemon and name."""
    found: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for (daemon, node), argv in carried(current).items():
        flags = flag_values(argv)
        names = [(data.FLAGS, flag, flag) for flag in flags]
        names += [(data.GATES, gate, f"--feature-gates {gate}") for gate in listed(flags.get("--feature-gates", ""))]
        names += [(data.PLUGINS, plugin, f"{flag} {plugin}") for flag in written.PLUGIN_FLAGS
                  for plugin in listed(flags.get(flag, ""))]
        for kind, name, shown in names:
            owner = daemon if kind in data.KINDS[daemon] else "kube-apiserver"  # gates: measured there
            why = missing(owner, kind, name, target)
            if why is not None:
                found.setdefault((daemon, shown), (why[1], []))[1].append(node)
    return [f"  {daemon} ({', '.join(nodes)}): {shown}: {why}" for (daemon, shown), (why, nodes) in found.items()]


def report(planned: Cluster, artifacts: list[Artifact]) -> list[str]:
    """The plan as text: the facts that differ, what the units carry that the target release does not take, then
    per node (and the workstation) the diff of every file."""
    old = day2.current_release(planned)
    lines = [f"upgrade {planned.name}: {old} -> {planned.release}", "", "version facts that differ:"]
    lines += [f"  {component}: {fact}: {a} -> {b}" for component, fact, a, b in fact_changes(old, planned.release)]
    if len(lines) == 3:
        lines.append("  none")
    current = day2.previous(planned)
    assert current is not None, "an upgrade is planned"
    lines += ["", f"flags, feature gates and admission plugins the units carry now that {planned.release} does not "
              "take (the upgrade's units drop them):", *(dropped(current, planned.release) or ["  none"])]
    for artifact in sorted((a for a in artifacts if a.component == day2.UPGRADE), key=lambda a: a.path):
        owner = artifact.path.split("/")[1].removesuffix(".diff")  # a node's name, or the workstation
        lines += ["", f"== {owner} ==", artifact.content.decode().rstrip()]
    return lines


def upgrade_plan(cluster: Cluster, release: Release, out_file: str, out: TextIO) -> None:
    """`invoke upgrade-plan`: the plan; Reported when a cluster file cannot plan it; else, with `out_file`, the cluster
    file that plans it, written and loaded back (`out_file` checked before anything is computed)."""
    planned_file = out_path(out_file, cluster) if out_file else None
    planned = target(cluster, release)
    out.write("\n".join(report(planned, make_artifacts(planned)[0])) + "\n")
    problems = skew_problems(planned)
    if problems:
        raise Reported("upgrade-plan: a cluster file cannot plan this upgrade:\n  " + "\n  ".join(problems))
    if planned_file:
        write_atomic(planned_file, cluster_file_text(cluster, release).encode(), 0o644)
        load(out_file)  # the file it wrote must load: one line per problem otherwise
        out.write(f"wrote {out_file}: run `invoke render --cluster {out_file}`, then its upgrade chapter\n")


def cluster_file_text(cluster: Cluster, release: Release) -> str:
    """The cluster file's own text, with the upgrade planned: comments and layout kept."""
    text = cluster.source.read_text(encoding="utf-8")
    if re.search(r"^upgrade:", text, re.MULTILINE):
        raise RunbookError(f"{cluster.source} plans an upgrade already (its `upgrade:` section)")
    if len(VERSION_LINE.findall(text)) != 1:
        raise RunbookError(f"{cluster.source}: expected one top-level `kubernetes_version:` line to change")
    text = VERSION_LINE.sub(f'kubernetes_version: "{release}"', text)
    return text.rstrip("\n") + f'\nupgrade:\n  from: "{cluster.release}"  # the release the masters run now\n'


def out_path(out: str, cluster: Cluster) -> Path:
    """Where `--out` writes the planned cluster file, checked before anything is computed or written.

    A path ending in .yaml (what `--cluster` takes as a path; a bare name is a cluster name there), whose directory
    exists, and that is a regular file or nothing yet (a directory, a FIFO, a link would be written through or hang).
    Inside the repository only the cluster's own file may be planned in place: another file in clusters/ would be
    a second cluster of the same name, and build/, site/, docs/ and runs/ are the product's own. Anywhere else is the
    user's."""
    path = Path(out)
    where = f"--out {out!r}"
    if path.is_dir() and not path.is_symlink():
        raise RunbookError(f"{where}: a directory; give the file to write, a path ending in .yaml")
    if not out.endswith((".yaml", ".yml")):
        raise RunbookError(f"{where}: a file path ending in .yaml (e.g. /tmp/{cluster.name}-planned.yaml); a bare "
                           "name would be read as a cluster name")
    if not path.parent.is_dir():
        raise RunbookError(f"{where}: {path.parent} is not a directory")
    if path.is_symlink() or path.exists() and not path.is_file():
        kind = "a symlink" if path.is_symlink() else "not a regular file"
        raise RunbookError(f"{where}: {kind}; give a regular file (or a new one)")
    resolved = path.resolve()
    if resolved.is_relative_to(REPO) and resolved != cluster.source.resolve():
        raise RunbookError(f"{where}: inside the repository only the cluster's own file ({cluster.source}) is "
                           f"written; give a path outside it, e.g. /tmp/{cluster.name}-planned.yaml")
    return path
