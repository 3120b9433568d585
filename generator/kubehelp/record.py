"""Measure what one release's built daemons accept and add it to `accepted.json` (`invoke release-check --record`).

Per daemon: the names `--help` lists, then the binary asked (`probe.py`) about every flag an earlier measured
release took, the version facts name or the generator writes for this release but `--help` does not list (hidden
because deprecated, or gone). kube-apiserver's gates likewise: `--help` lists alpha and beta gates only, so each gate
an earlier release took or the facts name is asked about. A gate first listed by a later release was added then
(gates enter as alpha), so it is not asked about: the oldest release measured knows only the GA gates the facts
name.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from generator.kubehelp import data, parse, probe, written
from generator.lint.releases import FACTS
from generator.versions import Release

ProbeFailed = probe.ProbeFailed


def help_text(binary: Path) -> str:
    proc = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0 or "--" not in proc.stdout:
        raise ProbeFailed(f"{binary} --help exited {proc.returncode}: {(proc.stdout + proc.stderr).strip()[-500:]}")
    return proc.stdout


def earlier(accepted: data.Accepted, daemon: str, kind: str, release: Release) -> set[str]:
    before = [m for m in accepted.minors() if m < release.minor_version]
    return set().union(*(accepted.names.get((daemon, kind, m), frozenset()) for m in before))


def measure(release: Release, bin_dir: Path, accepted: data.Accepted) -> dict[tuple[str, str], frozenset[str]]:
    writes = written.flags(release)
    found: dict[tuple[str, str], frozenset[str]] = {}
    for daemon in data.DAEMONS:
        binary = bin_dir / daemon
        listed = parse.parse(help_text(binary))
        known = earlier(accepted, daemon, data.FLAGS, release) | set(FACTS[(daemon, data.FLAGS)]) | set(writes[daemon])
        candidates = {name: writes[daemon].get(name, "1") for name in sorted(known - set(listed.flags))}
        hidden = probe.flags(binary, candidates)
        found[(daemon, data.FLAGS)] = frozenset(listed.flags) | hidden.accepted
        found[(daemon, data.DEPRECATED)] = hidden.deprecated
        if data.GATES in data.KINDS[daemon]:
            asked = earlier(accepted, daemon, data.GATES, release) | set(FACTS[(daemon, data.GATES)])
            hidden_gates = probe.feature_gates(binary, asked - listed.feature_gates)
            found[(daemon, data.GATES)] = listed.feature_gates | hidden_gates
            found[(daemon, data.PLUGINS)] = listed.admission_plugins
    return found


def record(release: Release, bin_dir: Path, accepted: data.Accepted) -> None:
    accepted.record(release.minor_version, release.tag, measure(release, bin_dir, accepted))
