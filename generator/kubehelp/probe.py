"""Ask a built binary about names its `--help` does not show: deprecated flags and GA or deprecated feature gates.

Every daemon parses its flags (and, through them, `--feature-gates`) before it acts on `--version`, so
`<daemon> --name=value --version` prints the version when the daemon takes the flag and stops with
`unknown flag: --name` when it does not; a value it cannot parse stops it with `invalid argument ... for
"--name" flag`, which still shows the flag exists. A deprecated flag is taken with `Flag --name has been
deprecated` on stderr. Gates likewise: `unrecognized feature gate: Name` for one the release does not have;
`cannot set feature gate Name to ...` (locked) or `Name is enabled, but depends on ...` for one it has. Many
names go in one run; each refusal names one, which is set aside and the run repeated, so a release costs one run
per name it refuses (~0.1 s each).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

UNKNOWN_FLAG = re.compile(r"unknown flag: (--[a-z0-9][a-z0-9.-]*)")
BAD_VALUE = re.compile(r'invalid argument "[^"]*" for "(?:-[A-Za-z0-9], )?(--[a-z0-9][a-z0-9.-]*)" flag')
NEEDS_VALUE = re.compile(r"flag needs an argument: '?-?-?(?:[A-Za-z0-9]' in -[A-Za-z0-9])?(--[a-z0-9][a-z0-9.-]*)")
DEPRECATED = re.compile(r"Flag (--[a-z0-9][a-z0-9.-]*) has been deprecated")
UNKNOWN_GATE = re.compile(r"unrecognized feature gate: ([A-Za-z0-9]+)")
# refusals that show the gate exists: locked to its default, or needing a gate left off
KNOWN_GATE = re.compile(r"cannot set feature gate ([A-Za-z0-9]+) to|([A-Za-z0-9]+) is enabled, but depends on")
# Flags never probed: they act (print and exit) before or instead of --version.
NOT_PROBED = {"--help", "--version"}
# A value of the type pflag names in --help, so most flags parse and a run takes several at once; any other value
# still answers whether the flag exists (one run more).
VALUE_BY_TYPE = {"": "true", "int": "1", "int32": "1", "int64": "1", "uint": "1", "uint32": "1", "float": "1",
                 "float32": "1", "float64": "1", "duration": "1s", "ip": "127.0.0.1", "string": "x", "strings": "x",
                 "stringSlice": "x", "stringArray": "x", "Level": "1", "severity": "2", "portRange": "30000-32767",
                 "mapStringString": "a=b", "stringToString": "a=b", "ipNet": "10.0.0.0/8", "cidrs": "10.0.0.0/8"}


class ProbeFailed(Exception):
    """The binary answered in a way this module does not read; the message has its output."""


@dataclass(frozen=True)
class Flags:
    accepted: frozenset[str]
    deprecated: frozenset[str]


def run(binary: Path, args: list[str]) -> tuple[bool, str]:
    """(printed its version, everything it printed), run in an empty directory so nothing lands in the tree."""
    with tempfile.TemporaryDirectory(prefix="kubehelp-") as cwd:
        proc = subprocess.run([str(binary), *args, "--version"], capture_output=True, text=True, cwd=cwd,
                              stdin=subprocess.DEVNULL, timeout=60, check=False)
    output = proc.stdout + proc.stderr
    return proc.returncode == 0 and "Kubernetes v" in proc.stdout, output


def flags(binary: Path, candidates: dict[str, str]) -> Flags:
    """Which of `candidates` (flag -> value to pass) the binary takes, and which of those it calls deprecated."""
    left = {name: value for name, value in candidates.items() if name not in NOT_PROBED}
    accepted: set[str] = set()
    deprecated: set[str] = set()
    while left:
        ok, output = run(binary, [f"{name}={value}" for name, value in left.items()])
        deprecated |= {name for name in DEPRECATED.findall(output) if name in left}
        if ok:
            accepted |= set(left)
            break
        unknown, bad = UNKNOWN_FLAG.search(output), BAD_VALUE.search(output) or NEEDS_VALUE.search(output)
        if unknown and unknown[1] in left:
            del left[unknown[1]]
        elif bad and bad[1] in left:
            accepted.add(bad[1])
            del left[bad[1]]
        else:
            raise ProbeFailed(f"{binary.name} with {len(left)} probed flags: {output.strip()[-800:]}")
    return Flags(frozenset(accepted), frozenset(deprecated & accepted))


def feature_gates(binary: Path, candidates: set[str]) -> frozenset[str]:
    """Which of the `candidates` gate names the binary knows (set to true; a locked one is known all the same)."""
    left = set(candidates)
    accepted: set[str] = set()
    while left:
        ok, output = run(binary, [f"--feature-gates={','.join(f'{g}=true' for g in sorted(left))}"])
        if ok:
            accepted |= left
            break
        unknown, known = UNKNOWN_GATE.search(output), KNOWN_GATE.search(output)
        name = known and (known[1] or known[2])
        if unknown and unknown[1] in left:
            left.discard(unknown[1])
        elif name in left:
            accepted.add(name)
            left.discard(name)
        else:
            raise ProbeFailed(f"{binary.name} with {len(left)} probed gates: {output.strip()[-800:]}")
    return frozenset(accepted)
