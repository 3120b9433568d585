"""Go programs other than Kubernetes itself, built from their modules at an exact version into the same cache:
etcd with etcdctl and etcdutl (the release the runbook installs, packed by the lab like upstream's tarball),
kube-bench (the CIS Kubernetes Benchmark, with its `cfg/` tree) and kwok (simulated nodes, with its stages).

Layout, per tool and version (`cache_root()`):
    <tool>/v3.6.8/src/        the consumer module: go.mod requires each command's module, `tool` lines name them
    <tool>/v3.6.8/bin/        the commands
    <tool>/v3.6.8/<data>/     directories a command reads at run time, copied from its module (kube-bench's cfg/)
    <tool>/v3.6.8/build.json  what was built, with which Go, sha256s and seconds
The proxy may refuse a module's version list (`@latest`) and still serve an exact version: only exact versions
are asked for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from generator.artifacts import write_atomic
from generator.kubebuild.build import Built, Say, build_lock, cache_root, compile_one, sha256
from generator.kubebuild.toolchain import GoRunner

RECIPE_VERSION = 1


@dataclass(frozen=True)
class Tool:
    """`commands`: (binary name, main package); every package is required at `version`. `data`: (module, directory
    in it) copied beside bin/ under the directory's last name."""

    name: str
    version: str  # a module version: "v3.6.8"
    commands: tuple[tuple[str, str], ...]
    ldflags: str = "-s -w"
    data: tuple[tuple[str, str], ...] = ()

    def data_dir(self, directory: str) -> Path:
        return self.directory / directory.rsplit("/", 1)[-1]

    @property
    def directory(self) -> Path:
        return cache_root() / self.name / self.version

    def go_mod(self) -> str:
        lines = [f"// Written by the runbook compiler to build {self.name} {self.version} from its Go modules.",
                 f"module runbook.local/{self.name}-{self.version}", "", "go 1.24", ""]
        return "\n".join(lines) + "\n"


def etcd(version: str) -> Tool:
    """etcd's server, etcdctl and etcdutl, each its own module since 3.5 (etcdutl: snapshot restore from 3.6)."""
    tag = "v" + version.lstrip("v")
    return Tool("etcd", tag, (("etcd", "go.etcd.io/etcd/server/v3"), ("etcdctl", "go.etcd.io/etcd/etcdctl/v3"),
                              ("etcdutl", "go.etcd.io/etcd/etcdutl/v3")))


def kube_bench(version: str) -> Tool:
    """The CIS Kubernetes Benchmark runner; its checks are YAML in the module's cfg/ tree, read at run time."""
    module = "github.com/aquasecurity/kube-bench"
    return Tool("kube-bench", version, (("kube-bench", module),),
                ldflags=f"-s -w -X {module}/cmd.KubeBenchVersion={version}", data=((module, "cfg"),))


def kwok(version: str) -> Tool:
    """Kubernetes WithOut Kubelet: simulated nodes and pods against a real apiserver. The standalone binary has no
    stages built in; they are YAML in the module (kustomize/stage), passed with -c."""
    return Tool("kwok", version, (("kwok", "sigs.k8s.io/kwok/cmd/kwok"),),
                data=(("sigs.k8s.io/kwok", "kustomize/stage"),))


def fingerprint(tool: Tool) -> str:
    text = json.dumps([RECIPE_VERSION, tool.version, tool.commands, tool.ldflags, tool.data])
    return hashlib.sha256(text.encode()).hexdigest()


def cached(tool: Tool) -> dict | None:
    """build.json when it was made by this recipe and every binary still has its sha256."""
    try:
        record = json.loads((tool.directory / "build.json").read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != fingerprint(tool):
        return None
    binaries = record.get("binaries")
    if not isinstance(binaries, dict) or set(binaries) != {name for name, _ in tool.commands}:
        return None
    for name, entry in binaries.items():
        path = tool.directory / "bin" / name
        if not path.is_file() or not isinstance(entry, dict) or sha256(path) != entry.get("sha256"):
            return None
    if not all(tool.data_dir(directory).is_dir() for _, directory in tool.data):
        return None
    return record


def ensure(tool: Tool, say: Say = print) -> Built:
    """The tool's commands, built now or found in the cache. Raises Unavailable or BuildFailed."""
    what = f"{tool.name} {tool.version}"
    record = cached(tool)
    if record is not None:
        say(f"{what}: cached in {tool.directory / 'bin'} (built {record['built']})")
        return Built(tool.directory / "bin", record, cached=True)
    with build_lock(tool.directory, what, say):
        record = cached(tool)
        if record is not None:  # another process built it while this one waited
            return Built(tool.directory / "bin", record, cached=True)
        return build_locked(tool, what, say)


def build_locked(tool: Tool, what: str, say: Say) -> Built:
    src = tool.directory / "src"
    go = GoRunner(src)
    go_version = go.version()
    say(f"{what}: building with {go_version} into {tool.directory / 'bin'}")
    (src / "go.sum").unlink(missing_ok=True)
    (src / "go.mod").write_text(tool.go_mod())
    for module, directory in tool.data:
        source = Path(go.download(f"{module}@{tool.version}")["Dir"]) / directory
        target = tool.data_dir(directory)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
        for path in (target, *target.rglob("*")):  # the module cache is read-only; the copy need not be
            path.chmod(0o755 if path.is_dir() else 0o644)
    say("  resolving the module graph (go get -tool …)")
    # what="download": it fails only when the proxy does not serve a module, and says so in one line
    go.run(["get", "-tool", *(f"{package}@{tool.version}" for _, package in tool.commands)], what="download")
    bin_dir = tool.directory / "bin"
    bin_dir.mkdir(exist_ok=True)
    binaries = {}
    for i, (name, package) in enumerate(tool.commands, 1):
        say(f"  [{i}/{len(tool.commands)}] go build {package}")
        seconds = compile_one(go, src, bin_dir, name, tool.ldflags, say, package=package)
        path = bin_dir / name
        binaries[name] = {"package": package, "sha256": sha256(path), "bytes": path.stat().st_size,
                          "seconds": round(seconds, 1)}
    record = {
        "tool": tool.name, "version": tool.version, "fingerprint": fingerprint(tool), "go": go_version,
        "built": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "binaries": binaries,
    }
    write_atomic(tool.directory / "build.json", (json.dumps(record, indent=2) + "\n").encode(), 0o644)
    total = sum(b["seconds"] for b in binaries.values())
    say(f"{what}: built in {total:.0f} s; record {tool.directory / 'build.json'}")
    return Built(bin_dir, record, cached=False)
