"""`invoke certs`: the certificates and kubeconfigs on the nodes, compared with the ledger, one line each.

Per node one ssh connection runs a short script that prints, for every file the ledger places on that node, its
sha256 and (for a certificate, or a kubeconfig's client certificate) serial and not-after as openssl reads them.
A file is a problem when it is missing, differs from the ledger (replaced by hand, or never pushed since the
last render), has expired, or expires within `certificates.renew_before_days`.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TextIO

from generator import ledger
from generator.errors import Reported
from generator.model import REPO, Cluster
from generator.steps import remote, sudo

OPENSSL_DATE = "%b %d %H:%M:%S %Y %Z"
LINE = re.compile(r"^(?P<path>/\S+) (?P<sha>[0-9a-f]{64}|missing)(?: serial=(?P<serial>[0-9A-Fa-f]+))?"
                  r"(?: notAfter=(?P<after>.+))?$")


@dataclass(frozen=True)
class Finding:
    entry: ledger.Entry
    problem: str  # "" when the file is as the ledger says and not near its expiry
    detail: str

    @property
    def line(self) -> str:
        where = f"{self.entry.node}:{self.entry.path}"
        return f"{where}: {self.problem or 'ok'} ({self.detail})"


def node_script(entries: Iterable[ledger.Entry]) -> str:
    """Shell for one node: `<path> <sha256> serial=<hex> notAfter=<date>` per file, `<path> missing` if absent."""
    lines = []
    for e in entries:
        cert = (f"grep client-certificate-data {shlex.quote(e.path)} | awk '{{print $2}}' | base64 -d"
                if e.kind == "kubeconfig" else f"cat {shlex.quote(e.path)}")
        lines.append(
            f"if [ -f {shlex.quote(e.path)} ]; then "
            f"printf '%s %s ' {shlex.quote(e.path)} \"$(sha256sum < {shlex.quote(e.path)} | cut -d' ' -f1)\"; "
            f"{cert} | openssl x509 -noout -serial -enddate | tr '\\n' ' ' | sed 's/ $//'; echo; "
            f"else echo {shlex.quote(e.path)} missing; fi"
        )
    return "\n".join(lines)


def read_node(cluster: Cluster, node_name: str, entries: list[ledger.Entry]) -> dict[str, dict[str, str]]:
    node = cluster.node(node_name)
    script = node_script(entries)
    command = f"{remote(cluster, node, f'{sudo(cluster)}sh -c {shlex.quote(script)}')}"
    proc = subprocess.run(command, shell=True, cwd=REPO, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{node_name}: could not read its certificates (exit {proc.returncode}): "
                           f"{(proc.stderr or proc.stdout).strip()[:200]}")
    found = {}
    for line in proc.stdout.splitlines():
        match = LINE.match(line.strip())
        if match:
            found[match["path"]] = {k: v for k, v in match.groupdict().items() if v}
    return found


def judge(cluster: Cluster, entry: ledger.Entry, seen: dict[str, str] | None, now: dt.datetime) -> Finding:
    renew = cluster.spec.certificates.renew_before_days
    if seen is None or seen.get("sha") == "missing":
        return Finding(entry, "MISSING on the node", f"ledger: {entry.file}")
    after = dt.datetime.strptime(seen["after"], OPENSSL_DATE).replace(tzinfo=dt.UTC)
    days = (after - now).total_seconds() / 86400
    detail = f"serial {seen.get('serial', '?').lower()}, expires {after:%Y-%m-%d}, {days:.0f} days left"
    if seen["sha"] != entry.sha256:
        return Finding(entry, "DIFFERS from the ledger", f"{detail}; ledger serial {entry.serial}: replaced by "
                              f"hand, or not pushed since the last render ({entry.file})")
    if days <= 0:
        return Finding(entry, "EXPIRED", detail)
    if days <= renew:
        return Finding(entry, f"EXPIRES within renew_before_days ({renew})", detail)
    return Finding(entry, "", detail)


def report(cluster: Cluster, out: TextIO) -> None:
    """`invoke certs`: one line per file on the nodes, then the count; Reported when one needs action."""
    try:
        findings = check(cluster)
    except RuntimeError as err:
        raise Reported(f"certs: {err}") from None
    for finding in findings:
        out.write(f"{finding.line}\n")
    problems = [f for f in findings if f.problem]
    if problems:
        raise Reported(f"certs: {len(problems)} of {len(findings)} need action (`invoke render` re-issues what is "
                       "expiring; the renewal chapter pushes and restarts one master at a time)")
    out.write(f"certs: all {len(findings)} certificates and kubeconfigs on the nodes match the ledger\n")


def check(cluster: Cluster, now: dt.datetime | None = None) -> list[Finding]:
    """Every ledger entry that lives on a node, as found there."""
    now = now or dt.datetime.now(dt.UTC)
    entries = [e for e in ledger.load(cluster) if e.node]
    if not entries:
        raise RuntimeError(f"no ledger with node files in build/{cluster.name}/ (run `invoke render` first)")
    findings = []
    for node in sorted({e.node for e in entries if e.node}):
        mine = [e for e in entries if e.node == node]
        seen = read_node(cluster, node, mine)
        findings += [judge(cluster, e, seen.get(e.path), now) for e in mine]
    return findings
