"""Kubernetes release parsing and per-release fact tables.

Facts live here as data (one table per component), never as `if` chains in templates.
Sources are listed in docs/versions.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

OLDEST = (1, 12)
NEWEST = (1, 37)

_RELEASE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")
# The release a runbook installs is a patch release: "1.30" alone would pick neither the tarball to download
# (dl.k8s.io/v1.30.?/) nor what `kube-apiserver --version` must print, so it is asked for, never assumed.


@dataclass(frozen=True, order=True)
class Release:
    major: int
    minor: int
    patch: int

    @property
    def minor_version(self) -> tuple[int, int]:
        return (self.major, self.minor)

    @property
    def tag(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


def supported_range() -> str:
    return f"{OLDEST[0]}.{OLDEST[1]} to {NEWEST[0]}.{NEWEST[1]}"


def parse_release(text: str) -> Release | str:
    """A Release, or a sentence saying what is wrong with `text`."""
    match = _RELEASE.match(text.strip())
    if not match:
        return f'expected a release such as "1.30.4" or "v1.30.4"; supported: {supported_range()}'
    major, minor = int(match[1]), int(match[2])
    if not OLDEST <= (major, minor) <= NEWEST:
        return f"unsupported Kubernetes release; supported: {supported_range()}"
    if match[3] is None:
        return (f"{major}.{minor} is a minor release, not one to install: write its patch release too, e.g. "
                f'"{major}.{minor}.0" or a later patch (the patch names the tarball and the version every binary '
                "reports)")
    return Release(major, minor, int(match[3]))


Value = TypeVar("Value")


class Timeline(Generic[Value]):
    """One fact's value over releases: each entry holds from its minor release until the next entry."""

    def __init__(self, *changes: tuple[tuple[int, int], Value]) -> None:
        minors = [minor for minor, _ in changes]
        assert minors[0] == OLDEST, "a timeline starts at the oldest supported release"
        assert minors == sorted(minors), "timeline entries must be in release order"
        self.changes = changes

    def at(self, release: Release) -> Value:
        value = self.changes[0][1]
        for minor, candidate in self.changes:
            if minor <= release.minor_version:
                value = candidate
        return value


@dataclass(frozen=True)
class Span:
    """The releases something exists in: from `added` (the oldest supported release if it always did) until
    `removed` (None: still there). `deprecated`: from when the binary warns that it will go. `instead`: what
    replaces it once removed, as `invoke upgrade-plan` and lint say it ("" when nothing needs to)."""

    added: tuple[int, int] = OLDEST
    removed: tuple[int, int] | None = None
    deprecated: tuple[int, int] | None = None
    instead: str = ""

    def holds(self, release: Release) -> bool:
        return self.added <= release.minor_version and (self.removed is None or release.minor_version < self.removed)

    def removed_by(self, release: Release) -> bool:
        return self.removed is not None and release.minor_version >= self.removed

    def not_yet(self, release: Release) -> bool:
        return release.minor_version < self.added

    def why_not(self, release: Release) -> str:
        """Why `release` lacks it: "removed in 1.24", "added in 1.23" (empty when it has it)."""
        if self.removed is not None and self.removed_by(release):
            return f"removed in {minor_text(self.removed)}"
        return f"added in {minor_text(self.added)}" if self.not_yet(release) else ""


def minor_text(minor: tuple[int, int]) -> str:
    return f"{minor[0]}.{minor[1]}"


def every_minor() -> list[Release]:
    """The first release of every supported minor: what a fact table is checked against."""
    return [Release(OLDEST[0], minor, 0) for minor in range(OLDEST[1], NEWEST[1] + 1)]


# klog's flags for writing log files, in every component: removed in 1.26 (#112120, KEP-2845); systemd's journal
# collects stderr in every release. Measured: the 1.16 and 1.20 binaries take each, the 1.36 ones stop with
# `unknown flag` (tests/test_kube_binaries.py); `--add-dir-header` came with klog v1 in 1.16 (the 1.15 binaries
# refuse it: generator/kubehelp/accepted.json).
KLOG_FILE_FLAGS = {flag: Span(removed=(1, 26)) for flag in (
    "--logtostderr", "--alsologtostderr", "--log-dir", "--log-file", "--log-file-max-size", "--skip-headers",
    "--skip-log-headers", "--stderrthreshold")} | {"--add-dir-header": Span(added=(1, 16), removed=(1, 26))}
# Feature gates whose life ends inside the supported releases, as `--feature-gates` of any daemon takes them
# (kube-apiserver, kube-controller-manager and kube-scheduler share one registry): a gate a release no longer has
# stops the daemon with `unrecognized feature gate: Name`. The generator sets none; lint and `invoke upgrade-plan`
# name these in units written by hand. Dated by the built binaries (generator/kubehelp/accepted.json); 1.37's from
# pkg/features/kube_features.go and k8s.io/apiserver pkg/features of v1.36.3 against v1.37.2, #138907, #137755,
# #139520, #135336, #139217, #140226 (CHANGELOG-1.37).
ALWAYS_ON = "nothing: the behaviour is always on; delete the gate"
FEATURE_GATES = {
    "APIServerTracing": Span(added=(1, 22), removed=(1, 37),
                             instead="nothing: tracing is always available; configure it with --tracing-config-file"),
    "AnonymousAuthConfigurableEndpoints": Span(added=(1, 31), removed=(1, 37), instead=(
        "nothing: always on; limit anonymous access with `anonymous` in the --authentication-config file")),
    "AnyVolumeDataSource": Span(added=(1, 18), removed=(1, 37), instead=ALWAYS_ON),
    "AuthorizeNodeWithSelectors": Span(added=(1, 31), removed=(1, 37), instead=ALWAYS_ON),
    "AuthorizeWithSelectors": Span(added=(1, 31), removed=(1, 37), instead=ALWAYS_ON),
    "BtreeWatchCache": Span(added=(1, 32), removed=(1, 37), instead=ALWAYS_ON),
    "ConsistentListFromCache": Span(added=(1, 28), removed=(1, 37), instead=ALWAYS_ON),
    "GangScheduling": Span(added=(1, 35), removed=(1, 37), instead="the GenericWorkload gate"),
    "JobBackoffLimitPerIndex": Span(added=(1, 28), removed=(1, 37), instead=ALWAYS_ON),
    "JobPodReplacementPolicy": Span(added=(1, 28), removed=(1, 37), instead=ALWAYS_ON),
    "JobSuccessPolicy": Span(added=(1, 30), removed=(1, 37), instead=ALWAYS_ON),
    "LogarithmicScaleDown": Span(added=(1, 21), removed=(1, 37), instead=ALWAYS_ON),
    "OrderedNamespaceDeletion": Span(added=(1, 30), removed=(1, 37), instead=ALWAYS_ON),
    "PodLifecycleSleepAction": Span(added=(1, 29), removed=(1, 37), instead=ALWAYS_ON),
    "PodLifecycleSleepActionAllowZero": Span(added=(1, 32), removed=(1, 37), instead=ALWAYS_ON),
    "PreventStaticPodAPIReferences": Span(added=(1, 34), removed=(1, 37), instead=ALWAYS_ON),
    "RelaxedDNSSearchValidation": Span(added=(1, 32), removed=(1, 37), instead=ALWAYS_ON),
    "ResilientWatchCacheInitialization": Span(added=(1, 31), removed=(1, 37), instead=ALWAYS_ON),
    "RetryGenerateName": Span(added=(1, 30), removed=(1, 37), instead=ALWAYS_ON),
    "SchedulerQueueingHints": Span(added=(1, 28), removed=(1, 37), instead=ALWAYS_ON),
    "SidecarContainers": Span(added=(1, 28), removed=(1, 37), instead=ALWAYS_ON),
    "StreamingCollectionEncodingToJSON": Span(added=(1, 33), removed=(1, 37), instead=ALWAYS_ON),
    "StreamingCollectionEncodingToProtobuf": Span(added=(1, 33), removed=(1, 37), instead=ALWAYS_ON),
    "StructuredAuthenticationConfiguration": Span(added=(1, 29), removed=(1, 37), instead=(
        "nothing: always on; --authentication-config takes the AuthenticationConfiguration file")),
    "WorkloadAwarePreemption": Span(added=(1, 36), removed=(1, 37), instead="the GenericWorkload gate"),
}
# client-go's leader-election lock types, for kube-scheduler and kube-controller-manager alike: `endpoints` and
# `configmaps` removed in 1.24 (#106852), the migration locks `endpointsleases`/`configmapsleases` in 1.28 (#117558).
LOCKS = {
    "endpoints": Span(removed=(1, 24)),
    "configmaps": Span(removed=(1, 24)),
    "endpointsleases": Span(removed=(1, 28)),
    "configmapsleases": Span(removed=(1, 28)),
    "leases": Span(),
}
# The etcd release each Kubernetes minor release is tested with: kubeadm's `SupportedEtcdVersion` for its own minor
# (cmd/kubeadm/app/constants/constants.go of the newest patch of each minor, read in the module source; 1.35 and
# 1.37 name it by `DefaultEtcdVersion`: 1.35's table is keyed by skew, 1.37's stops at 1.36 and falls back to its
# newest entry). The image suffix ("3.6.8-0") dropped. The default of `components.etcd.version`.
ETCD_PAIRED = Timeline(
    ((1, 12), "3.2.24"), ((1, 14), "3.3.10"), ((1, 16), "3.3.15"), ((1, 17), "3.4.3"), ((1, 19), "3.4.13"),
    ((1, 22), "3.5.6"), ((1, 25), "3.5.9"), ((1, 26), "3.5.10"), ((1, 27), "3.5.12"), ((1, 28), "3.5.15"),
    ((1, 29), "3.5.16"), ((1, 30), "3.5.15"), ((1, 31), "3.5.24"), ((1, 34), "3.6.5"), ((1, 35), "3.6.6"),
    ((1, 36), "3.6.8"), ((1, 37), "3.7.0"),
)
