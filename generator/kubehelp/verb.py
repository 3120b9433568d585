"""`invoke release-check`: record what built releases accept (with `record`), then check the generator against all
that `accepted.json` holds."""

from __future__ import annotations

import time
from collections.abc import Callable

from generator import kubebuild
from generator.artifacts import write_atomic
from generator.kubehelp import check, data, record
from generator.versions import Release, minor_text, parse_release

Say = Callable[[str], None]


def built() -> list[Release]:
    """Every release whose four binaries are in the build cache, sha256s checked."""
    root = kubebuild.cache_root() / "kube"
    found = []
    for directory in sorted(root.glob("v*")) if root.exists() else []:
        release = parse_release(directory.name)
        if isinstance(release, Release) and kubebuild.build.cached(directory, None):
            found.append(release)
    return sorted(found)


def record_releases(releases: list[Release], say: Say) -> None:
    """Measure each (oldest first: a release's probes ask about what the ones before it took) and save."""
    accepted = data.load()
    for release in sorted(releases):
        start = time.monotonic()
        record.record(release, kubebuild.release_dir(release) / "bin", accepted)
        minor = release.minor_version
        counts = ", ".join(f"{daemon} {len(accepted.get(daemon, data.FLAGS, minor) or ())} flags"
                           for daemon in data.DAEMONS)
        say(f"recorded {release.tag}: {counts}, {len(accepted.get('kube-apiserver', data.GATES, minor) or ())} "
            f"gates, {len(accepted.get('kube-apiserver', data.PLUGINS, minor) or ())} admission plugins "
            f"({time.monotonic() - start:.1f} s)")
        write_atomic(data.DATA, data.dumps(accepted).encode(), 0o644)


def report(say: Say) -> int:
    """Print the findings; the number of errors."""
    accepted = data.load()
    findings, checked = check.check(accepted)
    for finding in findings:
        if finding.error:
            say(f"error: {finding}")
    notes: dict[tuple[tuple[int, int], str, str], list[str]] = {}
    for finding in findings:
        if not finding.error:  # one line per release, daemon and kind: the names it dropped
            notes.setdefault((finding.minor, finding.daemon, finding.message), []).append(finding.name)
    for (minor, daemon, message), names in notes.items():
        say(f"note: {minor_text(minor)} {daemon}: {message}: {', '.join(names)}")
    errors = sum(f.error for f in findings)
    notes = len(findings) - errors
    tags = ", ".join(accepted.measured[m] for m in accepted.minors())
    say(f"release-check: {len(checked)} releases measured ({tags}), {sum(checked.values())} flags, gates and "
        f"plugins the generator writes checked; {errors} errors, {notes} removals the version facts do not date")
    return errors
