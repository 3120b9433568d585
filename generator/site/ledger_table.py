"""The certificate ledger on a cluster's overview: one row per certificate, soonest expiry first, and a warning
for those within `renew_before_days` (or already expired)."""

from __future__ import annotations

import datetime as dt

from generator import ledger
from generator.model import Cluster
from generator.site.markdown import admonition
from generator.site.words import WORDS


def ledger_section(cluster: Cluster, lang: str, now: dt.datetime | None = None) -> str:
    w = WORDS[lang]
    entries = ledger.load(cluster)
    if not entries:
        return ""
    now = now or dt.datetime.now(dt.UTC)
    renew = cluster.spec.certificates.renew_before_days
    # One row per certificate (the same CA or key pair is copied to several nodes).
    by_serial: dict[tuple[str, str], list[ledger.Entry]] = {}
    for entry in entries:
        by_serial.setdefault((entry.serial, entry.kind), []).append(entry)
    rows, due = [], 0
    for copies in sorted(by_serial.values(), key=lambda c: (c[0].not_after, c[0].file)):
        first = copies[0]
        days = first.days_left(now)
        soon = days <= renew
        due += soon
        where = ", ".join(sorted({e.node or w["workstation_box"] for e in copies}))
        restart = ", ".join(sorted({s for e in copies for s in e.restart})) or "—"
        left = f"**{days:.0f} ⚠**" if soon else f"{days:.0f}"
        rows.append(f"| `{first.path.rsplit('/', 1)[-1]}` | {w['kind_' + first.kind]} | `{first.subject}` | "
                    f"{first.not_after[:10]} | {left} | `{first.signed_by}` | {where} | {restart} |")
    head = (f"| {w['file']} | {w['kind']} | {w['subject']} | {w['expires']} | {w['days_left']} | {w['signed_by']} "
            f"| {w['where']} | {w['restart']} |\n|---|---|---|---|---|---|---|---|")
    warning = admonition("warning", w["renew_due"].format(n=due, days=renew)) if due else ""
    intro = w["ledger_intro"].format(file=f"build/{cluster.name}/{ledger.LEDGER}", days=renew)
    return f"## {w['ledger']}\n\n{intro}\n\n{warning}{head}\n" + "\n".join(rows) + "\n"
