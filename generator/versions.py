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
