"""Release-style etcd and kubernetes-server tarballs from local binaries, and the tools the cluster file asks for
(kube-bench, kwok) where its prerequisites expect them."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

from generator import kubebuild
from generator.kubebuild import tools
from generator.lab.layout import Lab, LabError, repo_path
from generator.lab.state import remember

KUBE_SERVER_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
KUBE_OPTIONAL_BINARIES = ("kubectl", "kubelet", "kube-proxy", "kubeadm")  # packed when present


def pack(target: Path, members: list[tuple[str, Path]], state: dict) -> str:
    """A gzip tarball of `members` (name in archive, file); rebuilt only when a source changed."""
    stamp = [[name, str(src), src.stat().st_size, src.stat().st_mtime_ns] for name, src in members]
    stamp_file = target.with_name(target.name + ".lab-stamp")
    remember(state, target)
    remember(state, stamp_file)
    if target.exists() and stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp:
        return "unchanged"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    with tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
        dirs: set[str] = set()
        for name, src in members:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(src.stat().st_mtime)
                    tar.addfile(info)
            info = tar.gettarinfo(str(src), arcname=name)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o755
            with src.open("rb") as f:
                tar.addfile(info, f)
    os.replace(tmp, target)
    stamp_file.write_text(json.dumps(stamp))
    return "packed"


def etcd_tarball(the_lab: Lab, state: dict, say: Callable[[str], None]) -> None:
    """prerequisites.etcd_tarball: etcd, etcdctl and etcdutl of components.etcd.version, built from etcd's Go modules
    (cached) and laid out like the upstream release tarball."""
    spec = the_lab.cluster.spec
    if not spec.prerequisites.etcd_tarball:
        say("  note: prerequisites.etcd_tarball is empty: the runbook would download etcd, "
            "which the lab cannot reach")
        return
    version = spec.components.etcd.version.lstrip("v")
    top = f"etcd-v{version}-linux-amd64"
    target = repo_path(spec.prerequisites.etcd_tarball)
    if target.name != f"{top}.tar.gz":
        raise LabError(f"prerequisites.etcd_tarball should be named {top}.tar.gz (the upstream name of "
                       f"components.etcd.version {version}), not {target.name}")
    try:
        built = tools.ensure(tools.etcd(version), say=lambda line: say(f"  {line}"))
    except (kubebuild.Unavailable, kubebuild.BuildFailed) as err:
        raise LabError(f"building etcd {version} from its Go modules failed: {err}") from None
    members = [(f"{top}/{name}", built.bin_dir / name) for name in sorted(built.record["binaries"])]
    status = pack(target, members, state)
    say(f"  etcd tarball {status}: {spec.prerequisites.etcd_tarball} (etcd {version} built from go.etcd.io/etcd)")


def server_tarball(the_lab: Lab, kube_bin_dir: str | None, state: dict, say: Callable[[str], None]) -> None:
    """prerequisites.server_tarball, laid out like kubernetes-server-linux-amd64.tar.gz, from --kube-bin-dir or
    else from the binaries `invoke kube-binaries` builds for the cluster's release (built now if not cached)."""
    spec = the_lab.cluster.spec
    state.pop("kube_binaries_missing", None)
    if not kube_bin_dir:
        try:
            kube_bin_dir = str(kubebuild.ensure(the_lab.cluster.release, say=lambda line: say(f"  {line}")).bin_dir)
        except kubebuild.Unavailable as err:
            state["kube_binaries"] = False
            state["kube_binaries_missing"] = str(err)
            say(f"  no kube binaries: {err}; steps that need them will be reported as skipped")
            return
        except kubebuild.BuildFailed as err:
            raise LabError(f"building the kube binaries of {the_lab.cluster.release.tag} failed: {err}") from None
    if not spec.prerequisites.server_tarball:
        raise LabError("--kube-bin-dir needs prerequisites.server_tarball in the cluster file "
                       "(where the lab packs kubernetes-server-linux-amd64.tar.gz)")
    source = Path(kube_bin_dir).expanduser().resolve()
    missing = [b for b in KUBE_SERVER_BINARIES if not os.access(source / b, os.X_OK)]
    if missing:
        raise LabError(f"--kube-bin-dir {source} lacks executable {', '.join(missing)}")
    members = [(f"kubernetes/server/bin/{b}", source / b) for b in KUBE_SERVER_BINARIES + KUBE_OPTIONAL_BINARIES
               if os.access(source / b, os.X_OK)]
    if not os.access(source / "kubectl", os.X_OK):
        # The runbook unpacks kubectl from the same tarball; take this machine's if the directory has none.
        host_kubectl = shutil.which("kubectl")
        if not host_kubectl:
            raise LabError(f"--kube-bin-dir {source} has no kubectl and neither has this machine")
        members.append(("kubernetes/server/bin/kubectl", Path(host_kubectl).resolve()))
        say(f"  note: kubectl taken from {host_kubectl} ({source} has none)")
    target = repo_path(spec.prerequisites.server_tarball)
    status = pack(target, members, state)
    state["kube_binaries"] = True
    names = ", ".join(name.rsplit("/", 1)[1] for name, _ in members)
    say(f"  kubernetes server tarball {status}: {spec.prerequisites.server_tarball} ({names})")


def wanted_tool(the_lab: Lab, field: str, make: Callable[[str], tools.Tool], name: str, version: str,
                say: Callable[[str], None]) -> tools.Built | None:
    """A tool the cluster file asks for, built from its Go module (cached), when prerequisites.`field` says where
    lab-up puts it; None (with a note) when it is left to download, which the lab cannot reach."""
    if not getattr(the_lab.cluster.spec.prerequisites, field):
        say(f"  note: prerequisites.{field} is empty: the runbook would download {name}, which the lab cannot reach")
        return None
    try:
        return tools.ensure(make(f"v{version}"), say=lambda line: say(f"  {line}"))
    except (kubebuild.Unavailable, kubebuild.BuildFailed) as err:
        raise LabError(f"building {name} {version} from its Go module failed: {err}") from None


def kube_bench_tarball(the_lab: Lab, state: dict, say: Callable[[str], None]) -> None:
    """prerequisites.kube_bench_tarball when the cluster file asks for the CIS benchmark: kube-bench built from its
    Go module (cached) with its cfg/ tree, laid out like the upstream release tarball."""
    spec = the_lab.cluster.spec
    version = spec.verification.kube_bench
    if not spec.verification.cis or not (built := wanted_tool(the_lab, "kube_bench_tarball", tools.kube_bench,
                                                               "kube-bench", version, say)):
        return
    cfg = built.bin_dir.parent / "cfg"
    members = [("kube-bench", built.bin_dir / "kube-bench")]
    members += [(f"cfg/{p.relative_to(cfg)}", p) for p in sorted(cfg.rglob("*")) if p.is_file()]
    status = pack(repo_path(spec.prerequisites.kube_bench_tarball), members, state)
    say(f"  kube-bench tarball {status}: {spec.prerequisites.kube_bench_tarball} (built from "
        f"github.com/aquasecurity/kube-bench v{version})")


def kwok_binary(the_lab: Lab, state: dict, say: Callable[[str], None]) -> None:
    """prerequisites.kwok_binary when the cluster file asks for the scheduler's rehearsal: kwok built from its Go
    module (cached), copied where the runbook runs it from."""
    spec = the_lab.cluster.spec
    version = spec.verification.kwok
    if spec.verification.scheduler_rehearsal is None or not (built := wanted_tool(the_lab, "kwok_binary", tools.kwok,
                                                                                   "kwok", version, say)):
        return
    source, target = built.bin_dir / "kwok", repo_path(spec.prerequisites.kwok_binary)
    if target.is_dir() or target.is_symlink():
        raise LabError(f"prerequisites.kwok_binary {spec.prerequisites.kwok_binary} is a directory or a link: name a "
                       "file of its own (lab-up copies kwok there)")
    remember(state, target)
    if target.exists() and target.read_bytes() == source.read_bytes():
        status = "unchanged"
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, tmp)
        tmp.chmod(0o755)
        os.replace(tmp, target)
        status = "copied"
    say(f"  kwok {status}: {spec.prerequisites.kwok_binary} (built from sigs.k8s.io/kwok v{version})")
