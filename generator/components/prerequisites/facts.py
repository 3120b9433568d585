"""Where the release binaries come from, and what each release publishes beside them.

Sources (see the report of this component and docs/versions.md):
- dl.k8s.io serves https://dl.k8s.io/<tag>/kubernetes-server-linux-amd64.tar.gz for every release (seed 004).
- `.sha256` files beside the tarballs are published from the 1.17 cycle on (kubernetes/release#849, which
  enabled SHA256/SHA512 generation; 1.11-era downloads carried only .md5/.sha1, kubernetes/kubernetes#68555).
  Older releases list their hashes in CHANGELOG-1.x.md only.
- etcd releases on GitHub carry a SHA256SUMS asset listing every tarball.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.versions import Release, Timeline

SERVER_TARBALL = "kubernetes-server-linux-amd64.tar.gz"
# What the masters run; kubectl goes along so a master can be used for diagnosis too.
KUBE_DAEMONS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
KUBE_BINARIES = (*KUBE_DAEMONS, "kubectl")

# Does dl.k8s.io publish <tarball>.sha256 for this release?
PUBLISHED_SHA256 = Timeline(((1, 12), False), ((1, 17), True))


@dataclass(frozen=True)
class DownloadFacts:
    published_sha256: bool


def facts(release: Release) -> DownloadFacts:
    return DownloadFacts(published_sha256=PUBLISHED_SHA256.at(release))


def server_url(release: Release) -> str:
    return f"https://dl.k8s.io/{release.tag}/{SERVER_TARBALL}"


def etcd_version(version: str) -> str:
    """`3.5.15` or `v3.5.15` → `3.5.15`."""
    return version[1:] if version.startswith("v") else version


def etcd_binaries(version: str) -> tuple[str, ...]:
    """The release tarball's commands the runbook installs: etcd and etcdctl, and from 3.5 etcdutl (offline snapshot
    status and restore; from 3.6 on `etcdctl snapshot restore` is gone and etcdutl is the only way to restore)."""
    major, minor = (int(part) for part in etcd_version(version).split(".")[:2])
    return ("etcd", "etcdctl", "etcdutl") if (major, minor) >= (3, 5) else ("etcd", "etcdctl")


def etcd_tarball(version: str) -> str:
    return f"etcd-v{etcd_version(version)}-linux-amd64.tar.gz"


def etcd_url(version: str) -> str:
    v = etcd_version(version)
    return f"https://github.com/etcd-io/etcd/releases/download/v{v}/{etcd_tarball(v)}"


def etcd_sums_url(version: str) -> str:
    v = etcd_version(version)
    return f"https://github.com/etcd-io/etcd/releases/download/v{v}/SHA256SUMS"
