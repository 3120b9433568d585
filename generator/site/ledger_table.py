"""The certificate ledger on a cluster's overview: one row per certificate, soonest expiry first, and a warning
for those within `renew_before_days` (or already expired).

Four columns fit a laptop's content column (1366 px) and an A4 page: file, where (a node, the workstation, or how
many nodes hold copies), kind, expiry with the days left. The rest of a row (subject, signing CA, the nodes and
paths, what restarts when it changes) opens under the file's name; paper gets them open (Material opens every
`<details>` for print). An HTML table, each row on one line: every value from
the ledger is escaped here. Its wrapper scrolls on a narrower screen and takes the keyboard's focus to do so.
"""

from __future__ import annotations

import datetime as dt
import html

from generator import ledger
from generator.model import Cluster
from generator.site.markdown import admonition
from generator.site.words import WORDS


def code(text: str) -> str:
    return f"<code>{html.escape(text)}</code>"


def row(copies: list[ledger.Entry], days: float, soon: bool, lang: str) -> str:
    w = WORDS[lang]
    first = copies[0]
    places = sorted({e.node or w["workstation_box"] for e in copies})
    restart = ", ".join(sorted({s for e in copies for s in e.restart})) or "—"
    paths = sorted({e.path for e in copies})
    details = "".join(f"<dt>{html.escape(label)}</dt><dd>{value}</dd>" for label, value in (
        (w["subject"], code(first.subject)), (w["signed_by"], code(first.signed_by)),
        (w["where"], html.escape(", ".join(places))), (w["path"], "<br>".join(map(code, paths))),
        (w["restart"], html.escape(restart))))
    nodes = sorted({e.node for e in copies if e.node})
    where = " + ".join(([nodes[0]] if len(nodes) == 1 else [w["n_nodes"].format(n=len(nodes))] if nodes else [])
                       + ([w["workstation_box"]] if any(e.node is None for e in copies) else []))
    left = f"<strong>{days:.0f} ⚠</strong>" if soon else f"{days:.0f}"
    name = code(first.path.rsplit("/", 1)[-1])
    return (f"<tr><td><details><summary>{name}</summary><dl>{details}</dl></details></td>"
            f"<td>{html.escape(where)}</td><td>{html.escape(w['kind_' + first.kind])}</td>"
            f"<td>{first.not_after[:10]} ({left})</td></tr>")


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
        days = copies[0].days_left(now)
        soon = days <= renew
        due += soon
        rows.append(row(copies, days, soon, lang))
    head = "".join(f"<th>{html.escape(w[key])}</th>" for key in ("file", "where", "kind", "expires"))
    warning = admonition("warning", w["renew_due"].format(n=due, days=renew)) if due else ""
    intro = w["ledger_intro"].format(file=f"build/{cluster.name}/{ledger.LEDGER}", days=renew)
    table = (f'<div class="runbook-ledger" role="region" tabindex="0" aria-label="{html.escape(w["ledger"])}">\n'
             f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(rows) + "\n</tbody>\n</table>\n</div>\n")
    return f"## {w['ledger']}\n\n{intro}\n\n{warning}{table}"
