"""The generator and its version facts against what each measured release's binaries accept (`accepted.json`).

Errors (`invoke release-check` exits 1): a flag, gate or admission plugin the generator writes for a release that
its binary does not take (the daemon would stop at start), and a version fact (a `Span` in a component's
`facts.py` or in `versions.py`) that says a release has or lacks a name when its binary says otherwise. Reported
beside them: each name a release dropped that the facts do not know, so that lint and `invoke upgrade-plan`
cannot name it with what replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.kubehelp import data, written
from generator.lint.releases import FACTS
from generator.versions import Release, Span, minor_text

NOUN = {data.FLAGS: "flag", data.GATES: "feature gate", data.PLUGINS: "admission plugin"}


@dataclass(frozen=True, order=True)
class Finding:
    minor: tuple[int, int]
    daemon: str
    name: str
    message: str
    error: bool

    def __str__(self) -> str:
        return f"{minor_text(self.minor)} {self.daemon}: {self.name}: {self.message}"


def measured_release(accepted: data.Accepted, minor: tuple[int, int]) -> Release:
    major, minor_number, patch = (int(x) for x in accepted.measured[minor].lstrip("v").split("."))
    return Release(major, minor_number, patch)


def generator_findings(accepted: data.Accepted, minor: tuple[int, int]) -> tuple[list[Finding], int]:
    """What the generator writes for `minor` that its binary does not take; and how many names were checked."""
    release = measured_release(accepted, minor)
    writes = written.flags(release)
    wanted: list[tuple[str, str, set[str]]] = [(d, data.FLAGS, set(f)) for d, f in writes.items()]
    wanted += [("kube-apiserver", data.GATES, gates) for gates in written.feature_gates(writes).values()]
    wanted.append(("kube-apiserver", data.PLUGINS, written.admission_plugins(writes)))
    findings, checked = [], 0
    for daemon, kind, names in wanted:
        takes = accepted.get(daemon, kind, minor) or frozenset()
        checked += len(names)
        findings += [Finding(minor, daemon, name, f"the generator writes this {NOUN[kind]}; the {release.tag} "
                             f"binary does not take it", error=True) for name in sorted(names - takes)]
    return findings, checked


def facts_findings(accepted: data.Accepted) -> list[Finding]:
    """Each Span of the version facts against every measured release."""
    findings = []
    for (daemon, kind), spans in FACTS.items():
        for name, span in spans.items():
            for minor in accepted.minors():
                release = measured_release(accepted, minor)
                has = name in (accepted.get(daemon, kind, minor) or frozenset())
                if span.holds(release) != has:
                    said = "has" if span.holds(release) else f"lacks ({span.why_not(release)})"
                    findings.append(Finding(minor, daemon, name, f"the version facts say {release} {said} this "
                                            f"{NOUN[kind]}; its binary {'takes' if has else 'does not take'} it",
                                            error=True))
    return findings


def removal_findings(accepted: data.Accepted) -> list[Finding]:
    """Names a measured release dropped (its measured predecessor took them) that the facts do not date."""
    findings = []
    minors = accepted.minors()
    for before, minor in zip(minors, minors[1:], strict=False):
        for daemon, kinds in data.KINDS.items():
            for kind in kinds:
                if kind == data.DEPRECATED:
                    continue
                gone = (accepted.get(daemon, kind, before) or frozenset()) - (accepted.get(daemon, kind, minor)
                                                                              or frozenset())
                spans = FACTS.get((daemon, kind), {})
                findings += [Finding(minor, daemon, name, f"{NOUN[kind]} dropped (last taken by "
                                     f"{minor_text(before)}), not in the version facts", error=False)
                             for name in sorted(gone) if not dated(spans.get(name), before, minor)]
    return findings


def dated(span: Span | None, before: tuple[int, int], minor: tuple[int, int]) -> bool:
    """Do the facts put the removal between the two measured releases?"""
    return span is not None and span.removed is not None and before < span.removed <= minor


def check(accepted: data.Accepted) -> tuple[list[Finding], dict[tuple[int, int], int]]:
    """Every finding, errors first, and per measured release how many names the generator writes were checked."""
    findings: list[Finding] = []
    checked = {}
    for minor in accepted.minors():
        found, checked[minor] = generator_findings(accepted, minor)
        findings += found
    findings += facts_findings(accepted) + removal_findings(accepted)
    return sorted(findings, key=lambda f: (not f.error, f)), checked
