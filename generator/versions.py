"""Kubernetes release parsing and per-release fact tables.

Facts live here as data (one table per component), never as `if` chains in templates.
Sources are listed in docs/versions.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, TypeVar

OLDEST = (1, 12)
NEWEST = (1, 36)

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
    `removed` (None: still there). `deprecated`: from when the binary warns that it will go."""

    added: tuple[int, int] = OLDEST
    removed: tuple[int, int] | None = None
    deprecated: tuple[int, int] | None = None

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
# `unknown flag` (tests/test_kube_binaries.py).
KLOG_FILE_FLAGS = {flag: Span(removed=(1, 26)) for flag in (
    "--logtostderr", "--alsologtostderr", "--log-dir", "--log-file", "--log-file-max-size", "--skip-headers",
    "--skip-log-headers", "--stderrthreshold", "--add-dir-header")}
# client-go's leader-election lock types, for kube-scheduler and kube-controller-manager alike: `endpoints` and
# `configmaps` removed in 1.24 (#106852), the migration locks `endpointsleases`/`configmapsleases` in 1.28 (#117558).
LOCKS = {
    "endpoints": Span(removed=(1, 24)),
    "configmaps": Span(removed=(1, 24)),
    "endpointsleases": Span(removed=(1, 28)),
    "configmapsleases": Span(removed=(1, 28)),
    "leases": Span(),
}
