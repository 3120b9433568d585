"""Build kube-apiserver, kube-controller-manager, kube-scheduler and kubectl of one release into a cache.

Layout, per release, outside the repository (`cache_root()`):
    kube/v1.36.3/src/       the consumer module (go.mod, go.sum; kubernetes/ when OpenAPI is generated)
    kube/v1.36.3/bin/       the four binaries
    kube/v1.36.3/build.json what was built, how (go.mod digest, pins, Go version), sha256s and seconds
A second run finds build.json, checks every sha256 and returns at once. A lock file serialises builds of one
release; Go's own build cache (GOCACHE) makes a rebuild after a recipe change cheap.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from generator.artifacts import write_atomic
from generator.kubebuild import gomod, openapi
from generator.kubebuild.recipe import COMMANDS, MODULE, Recipe, recipe
from generator.kubebuild.toolchain import BuildFailed, GoRunner, Unavailable, tail
from generator.versions import Release

CACHE_ENV = "RUNBOOK_CACHE_DIR"
PROGRESS_EVERY = 20.0  # seconds between two progress lines of one binary's build
# Bumped when this module changes how binaries are made, so older caches are rebuilt, not trusted.
RECIPE_VERSION = 2
# `go build -v` prints each package it compiles as its import path; errors have spaces or colons.
PACKAGE_LINE = re.compile(r"[A-Za-z0-9_.~-]+(/[A-Za-z0-9_.~-]+)*")

Say = Callable[[str], None]


def cache_root() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "runbook-compiler"


def release_dir(release: Release) -> Path:
    return cache_root() / "kube" / release.tag


@dataclass(frozen=True)
class Built:
    bin_dir: Path
    record: dict
    cached: bool


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached(directory: Path, fingerprint: str | None) -> dict | None:
    """build.json when it matches the recipe (any, if `fingerprint` is None) and every binary its sha256."""
    try:
        record = json.loads((directory / "build.json").read_text())
    except (OSError, ValueError):
        return None
    if record.get("recipe_version") != RECIPE_VERSION:
        return None
    if fingerprint is not None and record.get("go_mod_sha256") != fingerprint:
        return None
    for name, entry in record.get("binaries", {}).items():
        path = directory / "bin" / name
        if not path.is_file() or sha256(path) != entry.get("sha256"):
            return None
    return record if set(record.get("binaries", {})) == set(COMMANDS) else None


def compile_one(go: GoRunner, src: Path, bin_dir: Path, command: str, ldflags: str, say: Say,
                package: str | None = None) -> float:
    """`go build -v` one command (`package`, by default the release's cmd/<command>) into bin_dir/<command>; a
    progress line every PROGRESS_EVERY s (packages compiled so far)."""
    package = package or f"{MODULE}/cmd/{command}"
    target = bin_dir / f".{command}.tmp"
    start = time.monotonic()
    proc = go.stream(["build", "-v", "-trimpath", "-ldflags", ldflags, "-o", str(target), package], cwd=src)
    assert proc.stdout is not None
    compiled, output = [0], []
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(PROGRESS_EVERY):
            say(f"    {command}: {time.monotonic() - start:.0f} s, {compiled[0]} packages compiled")

    ticker = threading.Thread(target=report, daemon=True)
    ticker.start()
    for line in proc.stdout:
        output.append(line)
        if PACKAGE_LINE.fullmatch(line.strip()):
            compiled[0] += 1
    proc.wait()
    stop.set()
    ticker.join()
    if proc.returncode != 0:
        target.unlink(missing_ok=True)
        if refusal := go.refusal("".join(output)):
            raise refusal
        raise BuildFailed(f"go build {package} failed (exit {proc.returncode}):\n"
                          + tail("".join(output), 20))
    os.replace(target, bin_dir / command)
    return time.monotonic() - start


def prepare_source(go: GoRunner, the_recipe: Recipe, src: Path, say: Say) -> tuple[gomod.Upstream, str, dict]:
    """Download the release, write the consumer go.mod (generating OpenAPI first if needed), resolve it."""
    upstream = gomod.fetch(go, the_recipe)
    text = gomod.go_mod(the_recipe, upstream, local_source=the_recipe.generate_openapi)
    fingerprint = hashlib.sha256(f"{RECIPE_VERSION}\n{text}".encode()).hexdigest()
    src.mkdir(parents=True, exist_ok=True)
    openapi_record: dict = {"generated": False}
    previous = (src / ".go.mod.written").read_text() if (src / ".go.mod.written").exists() else ""
    if previous != text or not (src / "go.sum").exists():
        (src / "go.sum").unlink(missing_ok=True)
        (src / "go.mod").write_text(text)
        if the_recipe.generate_openapi:
            say(f"  copying {MODULE}@{the_recipe.tag} to generate pkg/generated/openapi (not in the module "
                "before 1.24)")
            openapi.writable_copy(upstream.source, src / "kubernetes")
        say("  resolving the module graph (go get -tool …)")
        go.run(["get", "-tool", *(f"{MODULE}/cmd/{c}@{the_recipe.tag}" for c in COMMANDS)], what="resolve")
        if the_recipe.generate_openapi:
            start = time.monotonic()
            say("  generating pkg/generated/openapi with the release's own openapi-gen")
            openapi_record = {"generated": True, **openapi.generate(go, src, the_recipe, upstream)}
            openapi_record["seconds"] = round(time.monotonic() - start, 1)
            (src / ".openapi.json").write_text(json.dumps(openapi_record))
        (src / ".go.mod.written").write_text(text)
    elif (src / ".openapi.json").exists():
        openapi_record = json.loads((src / ".openapi.json").read_text())
    return upstream, fingerprint, openapi_record


def ensure(release: Release, say: Say = print) -> Built:
    """The release's four binaries, built now or found in the cache. Raises Unavailable or BuildFailed."""
    the_recipe = recipe(release)
    if isinstance(the_recipe, str):
        raise Unavailable(the_recipe)
    directory = release_dir(release)
    record = cached(directory, None)
    if record is not None:
        say(f"kube binaries {release.tag}: cached in {directory / 'bin'} (built {record['built']})")
        return Built(directory / "bin", record, cached=True)
    with build_lock(directory, f"kube binaries {release.tag}", say):
        return build_locked(the_recipe, directory, say)


@contextlib.contextmanager
def build_lock(directory: Path, what: str, say: Say) -> Iterator[None]:
    """One build per cache directory at a time; a second one says whom it waits for, then waits."""
    directory.mkdir(parents=True, exist_ok=True)
    lock = FileLock(directory / ".lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        say(f"{what}: another build holds {directory / '.lock'}; waiting for it")
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def build_locked(the_recipe: Recipe, directory: Path, say: Say) -> Built:
    go = GoRunner(directory / "src")
    go_version = go.version()
    say(f"kube binaries {the_recipe.tag}: building with {go_version} into {directory / 'bin'}")
    upstream, fingerprint, openapi_record = prepare_source(go, the_recipe, directory / "src", say)
    record = cached(directory, fingerprint)
    if record is not None:  # another process finished the same build while this one waited for the lock
        return Built(directory / "bin", record, cached=True)
    bin_dir = directory / "bin"
    bin_dir.mkdir(exist_ok=True)
    ldflags = the_recipe.ldflags(upstream.time)
    binaries = {}
    for i, command in enumerate(COMMANDS, 1):
        say(f"  [{i}/{len(COMMANDS)}] go build {MODULE}/cmd/{command}")
        seconds = compile_one(go, directory / "src", bin_dir, command, ldflags, say)
        path = bin_dir / command
        binaries[command] = {"sha256": sha256(path), "bytes": path.stat().st_size, "seconds": round(seconds, 1)}
        say(f"  [{i}/{len(COMMANDS)}] {command}: {seconds:.1f} s, {path.stat().st_size / 1e6:.0f} MB, "
            f"sha256 {binaries[command]['sha256'][:16]}…")
    record = {
        "release": the_recipe.tag,
        "recipe_version": RECIPE_VERSION,
        "go": go_version,
        "go_mod_sha256": fingerprint,
        "built": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "build_date_stamped": upstream.time,
        "floors": [{"module": f.module, "upstream": was, "built_with": f.version, "why": f.why}
                   for f, was in gomod.floors_needed(upstream)],
        "relocations": [{"module": m.module, "moved_to": m.moved_to, "version": v, "why": m.why}
                        for m, v in gomod.relocations_needed(upstream)],
        "openapi": openapi_record,
        "binaries": binaries,
    }
    write_atomic(directory / "build.json", (json.dumps(record, indent=2) + "\n").encode(), 0o644)
    total = sum(b["seconds"] for b in binaries.values())
    say(f"kube binaries {the_recipe.tag}: built in {total:.0f} s; record {directory / 'build.json'}")
    return Built(bin_dir, record, cached=False)
