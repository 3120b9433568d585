"""`invoke kube-binaries`: a release's kube binaries, and the cluster's etcd, built (or found in the cache) and listed
with their sha256s."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from generator.errors import Reported
from generator.kubebuild import tools
from generator.kubebuild.build import Built, ensure
from generator.kubebuild.toolchain import BuildFailed, Unavailable
from generator.versions import Release

if TYPE_CHECKING:
    from generator.model import Cluster


def report(release: Release, etcd_version: str | None, out: TextIO, kwok_version: str | None = None,
           kube_bench_version: str | None = None) -> None:
    """Build or find the release's kube binaries (and etcd, etcdctl and etcdutl at `etcd_version`, kube-bench at
    `kube_bench_version` and kwok at `kwok_version`, when given), printing progress, then one line per binary with
    its sha256; Reported when one cannot be built."""
    def say(line: str) -> None:
        print(line, file=out, flush=True)

    wanted: list[tuple[str, Callable[[], Built]]] = [(f"kube binaries {release.tag}", lambda: ensure(release, say))]
    if etcd_version is not None:
        etcd = tools.etcd(etcd_version)
        wanted.append((f"etcd {etcd.version}", lambda: tools.ensure(etcd, say)))
    if kube_bench_version is not None:
        kube_bench = tools.kube_bench(f"v{kube_bench_version}")
        wanted.append((f"kube-bench {kube_bench.version}", lambda: tools.ensure(kube_bench, say)))
    if kwok_version is not None:
        kwok = tools.kwok(f"v{kwok_version}")
        wanted.append((f"kwok {kwok.version}", lambda: tools.ensure(kwok, say)))
    for what, build in wanted:
        try:
            built = build()
        except (Unavailable, BuildFailed) as err:
            raise Reported(f"kube-binaries: {what}: {err}") from None
        for name, entry in built.record["binaries"].items():
            say(f"  {name:24} sha256 {entry['sha256']}  built in {entry['seconds']} s")
        say(f"{what}: {built.bin_dir}")


def report_cluster(cluster: Cluster, out: TextIO) -> None:
    """report() for what a cluster file needs built: its release and etcd, kube-bench when it asks for the CIS
    benchmark, kwok when it asks for the scheduler's rehearsal."""
    verification = cluster.spec.verification
    report(cluster.release, cluster.spec.components.etcd.version, out,
           kwok_version=verification.kwok if verification.scheduler_rehearsal is not None else None,
           kube_bench_version=verification.kube_bench if verification.cis else None)
