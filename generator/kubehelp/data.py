"""`accepted.json`: per daemon and kind, each name with the releases whose binaries accept it.

A name's releases are spans over the measured minor releases: "1.15-1.23" (every measured release from 1.15 to
1.23), "1.24" (that one), "1.30-" (from 1.30 to the newest measured), several joined by ",". Open spans keep the
file's diff, when a release is added, to what that release changed. `measured` names the patch release each minor
was measured on. Names only: upstream's help text is not ours to copy.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from generator.versions import minor_text

DATA = Path(__file__).with_name("accepted.json")
DAEMONS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
# Minors between 1.15 (the first with a go.mod) and the newest whose binaries have not been built and asked here:
# release-check cannot vouch for them, and their version facts rest on the upstream changelogs alone. Measuring one
# (`invoke kube-binaries --release R`, then `invoke release-check --record --release R`; a build is 3-5 min once
# another release's Go build cache is there) means taking it off this list; tests/test_release_check.py holds the two
# together. Every minor is measured (2026-12-07); where the proxy refuses a module of a minor's newest patch, an older
# patch was (kube-binaries names the module).
NOT_MEASURED: tuple[tuple[int, int], ...] = ()
FLAGS, DEPRECATED, GATES, PLUGINS = "flags", "deprecated_flags", "feature_gates", "admission_plugins"
# Gates and plugins are read from kube-apiserver (the other daemons share its gate registry; only it admits).
KINDS = {"kube-apiserver": (FLAGS, DEPRECATED, GATES, PLUGINS),
         "kube-controller-manager": (FLAGS, DEPRECATED), "kube-scheduler": (FLAGS, DEPRECATED)}

Minor = tuple[int, int]


def parse_minor(text: str) -> Minor:
    major, minor = text.split(".")
    return int(major), int(minor)


@dataclass
class Accepted:
    measured: dict[Minor, str] = field(default_factory=dict)  # minor -> the tag measured, e.g. "v1.37.2"
    names: dict[tuple[str, str, Minor], frozenset[str]] = field(default_factory=dict)  # (daemon, kind, minor)

    def minors(self) -> list[Minor]:
        return sorted(self.measured)

    def get(self, daemon: str, kind: str, minor: Minor) -> frozenset[str] | None:
        """What the release accepts, or None when it was not measured."""
        if minor not in self.measured:
            return None
        return self.names.get((daemon, kind, minor), frozenset())

    def record(self, minor: Minor, tag: str, found: dict[tuple[str, str], frozenset[str]]) -> None:
        """One release's measurement, replacing any earlier one of that minor."""
        self.measured[minor] = tag
        for (daemon, kind), names in found.items():
            self.names[(daemon, kind, minor)] = names

    def releases_of(self, daemon: str, kind: str, name: str) -> list[Minor]:
        return [m for m in self.minors() if name in self.names.get((daemon, kind, m), frozenset())]


def spans(present: list[Minor], measured: list[Minor]) -> str:
    """The measured minors in `present` as runs: "1.15-1.23,1.25-"."""
    runs: list[list[Minor]] = []
    for i, minor in enumerate(measured):
        if minor not in present:
            continue
        if runs and measured.index(runs[-1][-1]) == i - 1:
            runs[-1].append(minor)
        else:
            runs.append([minor])
    texts = []
    for run in runs:
        first, last = minor_text(run[0]), minor_text(run[-1])
        if run[-1] == measured[-1]:
            texts.append(f"{first}-")
        else:
            texts.append(first if run[0] == run[-1] else f"{first}-{last}")
    return ",".join(texts)


def expand(text: str, measured: list[Minor]) -> set[Minor]:
    found: set[Minor] = set()
    for run in text.split(","):
        first, _, last = run.partition("-")
        low = parse_minor(first)
        high = measured[-1] if run.endswith("-") else parse_minor(last) if last else low
        found |= {m for m in measured if low <= m <= high}
    return found


def load(path: Path = DATA) -> Accepted:
    if not path.exists():
        return Accepted()
    raw = json.loads(path.read_text())
    accepted = Accepted(measured={parse_minor(m): tag for m, tag in raw["measured"].items()})
    minors = accepted.minors()
    for daemon, kinds in KINDS.items():
        for kind in kinds:
            by_minor: dict[Minor, set[str]] = {m: set() for m in minors}
            for name, text in raw.get(daemon, {}).get(kind, {}).items():
                for minor in expand(text, minors):
                    by_minor[minor].add(name)
            for minor, names in by_minor.items():
                accepted.names[(daemon, kind, minor)] = frozenset(names)
    return accepted


@functools.cache
def committed() -> Accepted:
    """accepted.json as committed, read once per process (lint and upgrade-plan ask it per flag)."""
    return load()


def dumps(accepted: Accepted) -> str:
    minors = accepted.minors()
    out: dict[str, object] = {"measured": {minor_text(m): accepted.measured[m] for m in minors}}
    for daemon, kinds in KINDS.items():
        section: dict[str, dict[str, str]] = {}
        for kind in kinds:
            every = set().union(*(accepted.names.get((daemon, kind, m), frozenset()) for m in minors))
            section[kind] = {name: spans(accepted.releases_of(daemon, kind, name), minors) for name in sorted(every)}
        out[daemon] = section
    return json.dumps(out, indent=1, sort_keys=False) + "\n"
