"""The small Go module that builds one release: requires k8s.io/kubernetes and pins what its go.mod pins.

k8s.io/kubernetes replaces each staging module (k8s.io/api, k8s.io/client-go, …) with a path inside its own
repository, and a `replace` only counts in the main module: a consumer has to pin every staging module to
the matching v0.Y.Z itself, as out-of-tree schedulers do. Releases that pinned third-party modules with
`replace` get the same pins here, so the dependency graph is the one upstream built and tested.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from generator.kubebuild.recipe import FLOORS, MODULE, RELOCATIONS, Floor, Recipe, Relocation
from generator.kubebuild.toolchain import GoRunner

# The tool directive (Go 1.24) keeps the four commands' dependencies in go.mod and go.sum.
TOOL_DIRECTIVE_GO = (1, 24)
LOCAL_SOURCE = "./kubernetes"


@dataclass(frozen=True)
class Upstream:
    """k8s.io/kubernetes at one version, as the module proxy serves it."""

    source: Path  # the module's files in the module cache (read-only)
    go: str  # its go directive, e.g. "1.15" or "1.26.0"
    godebug: tuple[str, ...]  # its `godebug` lines (key=value)
    staging: tuple[str, ...]  # modules it replaces with ./staging/src/k8s.io/<name>
    pins: dict[str, str]  # third-party module -> version its `replace` lines pin
    required: dict[str, str]  # module -> version its `require` lines name
    time: str  # the tag's commit time (RFC 3339), used as the build date


def fetch(go: GoRunner, recipe: Recipe) -> Upstream:
    """Download the release's module (and only it) and read its go.mod with the go command's own parser."""
    info = go.download(f"{MODULE}@{recipe.tag}")
    edit = json.loads(go.run(["mod", "edit", "-json", info["GoMod"]], what="read go.mod",
                             cwd=go.cwd.parent).stdout)
    staging, pins = [], {}
    for rep in edit.get("Replace") or []:
        old, new = rep["Old"]["Path"], rep["New"]
        if new["Path"].startswith("./staging/"):
            staging.append(old)
        elif new.get("Version"):
            pins[old] = new["Version"]
    godebug = tuple(f"{d['Key']}={d['Value']}" for d in edit.get("Godebug") or [])
    time = json.loads(Path(info["Info"]).read_text())["Time"]
    return Upstream(
        source=Path(info["Dir"]), go=edit.get("Go") or "1.15", godebug=godebug, staging=tuple(sorted(staging)),
        pins=pins, required={r["Path"]: r["Version"] for r in edit.get("Require") or []}, time=time,
    )


_SEMVER = re.compile(r"v(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?")


def semver_key(version: str) -> tuple[int, int, int, int]:
    """Orders tags and pseudo-versions well enough for floors: a pre-release sorts before its release."""
    match = _SEMVER.match(version)
    if not match:
        return (0, 0, 0, 0)
    return (int(match[1]), int(match[2]), int(match[3]), 0 if match[4] else 1)


def floors_needed(upstream: Upstream) -> list[tuple[Floor, str]]:
    """(floor, upstream's version) for each floor module upstream selects below its floor."""
    needed = []
    for floor in FLOORS:
        selected = upstream.pins.get(floor.module) or upstream.required.get(floor.module)
        if selected and semver_key(selected) < semver_key(floor.version):
            needed.append((floor, selected))
    return needed


def relocations_needed(upstream: Upstream) -> list[tuple[Relocation, str]]:
    """(relocation, version) for each relocated module upstream depends on."""
    needed = []
    for moved in RELOCATIONS:
        version = upstream.pins.get(moved.module) or upstream.required.get(moved.module)
        if version:
            needed.append((moved, version))
    return needed


def minor(go_version: str) -> tuple[int, int]:
    major, minor_, *_ = (int(p) for p in go_version.split("."))
    return major, minor_


def go_mod(recipe: Recipe, upstream: Upstream, local_source: bool) -> str:
    """The consumer module's go.mod, before `go get -tool` adds the requirements it resolves."""
    go_line = upstream.go if minor(upstream.go) >= TOOL_DIRECTIVE_GO else "1.24"
    godebug = list(upstream.godebug)
    if minor(upstream.go) < TOOL_DIRECTIVE_GO and not any(d.startswith("default=") for d in godebug):
        # The go line must be new enough for `tool`; keep the runtime defaults of the Go the release declared.
        godebug.insert(0, "default=go{}.{}".format(*minor(upstream.go)))
    replaces = [f"{name} => {name} {recipe.staging_version}" for name in upstream.staging]
    if local_source:
        replaces.insert(0, f"{MODULE} => {LOCAL_SOURCE}")
    floors = {floor.module: floor for floor, _ in floors_needed(upstream)}
    moved = dict(relocations_needed(upstream))
    for name, version in sorted(upstream.pins.items()):
        if name not in floors and name not in {m.module for m in moved}:
            replaces.append(f"{name} => {name} {version}")
    replaces += [f"{f.module} => {f.module} {f.version}" for f in floors.values()]
    replaces += [f"{m.module} => {m.moved_to} {version}" for m, version in moved.items()]
    lines = [
        f"// Written by `invoke kube-binaries` to build Kubernetes {recipe.tag} from the {MODULE} module.",
        f"module runbook.local/kube-{recipe.tag}",
        "",
        f"go {go_line}",
        "",
        *(f"godebug {d}" for d in godebug),
        "",
        f"require {MODULE} {recipe.tag}",
        "",
        "replace (",
        *(f"\t{r}" for r in replaces),
        ")",
    ]
    return "\n".join(lines) + "\n"
