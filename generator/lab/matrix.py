"""`invoke lab-matrix`: the whole runbook in the lab for several releases, one after another, as a table.

Each release gets a cluster file derived from clusters/lab.yaml (its own name, so its own build tree and
namespaces; the lab's addresses, so only one lab is up at a time): lab-up (building the release's binaries
when they are not cached), a full deploy, lab-down. The results go to runs/lab-matrix/<UTC>.json and, with
--update-readme, into the README between the lab-matrix markers.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from generator import catalog, runs
from generator.components.etcd.facts import facts as etcd_facts
from generator.lab.layout import LabError
from generator.lab.verbs import down, up
from generator.model import CLUSTERS_DIR, REPO, Cluster, load
from generator.versions import ETCD_PAIRED, Release

RECORDS = REPO / "runs" / "lab-matrix"
MATRIX_DIR = RECORDS / "clusters"  # not under build/, which is never read as a cluster file
README = REPO / "bench" / "lab.md"  # the lab's record (the name of the flag that writes it is older)
BEGIN, END = "<!-- lab-matrix:begin -->", "<!-- lab-matrix:end -->"
# The seeds' era: the oldest release the lab has run end to end (endpoints lock, v1alpha1 scheduler config,
# insecure ports on loopback, componentstatuses). Older ones have no go.mod (see kubebuild.recipe).
OLD_RELEASE = "1.16.15"
# The figures the table shows, in this order, with their column headers.
FIGURES = (
    ("kube_scheduler_failover_seconds", "scheduler failover s"),
    ("kube_controller_manager_failover_seconds", "controller-manager failover s"),
    ("apiserver_loss_failed_requests", "failed requests, apiserver lost"),
    ("apiserver_loss_leader_changes", "leader changes, apiserver lost"),
    ("master_loss_api_seconds", "API back after master lost s"),
    ("master_loss_leases_seconds", "both leases moved s"),
    ("vip_failover_seconds", "VIP failover s"),
    ("etcd_leader_failover_seconds", "etcd failover s"),
)


def derived_cluster(release: Release) -> Cluster:
    """clusters/lab.yaml for `release`, named lab-1-16 and so on, written under runs/lab-matrix/clusters/, with the etcd
    kubeadm pairs with the release."""
    name = f"lab-{release.major}-{release.minor}"
    text = (CLUSTERS_DIR / "lab.yaml").read_text(encoding="utf-8").replace("build/lab/", f"build/{name}/")
    data = yaml.safe_load(text)
    data["name"], data["kubernetes_version"] = name, str(release)
    etcd = ETCD_PAIRED.at(release)
    if etcd_facts(etcd).etcdutl:  # the lab builds etcd from the /v3 Go modules, which came with etcdutl in 3.5
        data["components"]["etcd"]["version"] = etcd
        data["prerequisites"]["etcd_tarball"] = f"build/{name}/etcd-v{etcd}-linux-amd64.tar.gz"
    MATRIX_DIR.mkdir(parents=True, exist_ok=True)
    path = MATRIX_DIR / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load(str(path.relative_to(REPO)))


def run_release(release: Release, say: Callable[[str], None]) -> dict:
    cluster = derived_cluster(release)
    row: dict = {"release": str(release), "cluster": cluster.name}
    started = time.monotonic()
    try:
        up(cluster, say=say)
        row["lab_up_seconds"] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        result = runs.deploy(cluster, catalog.chapters(cluster))
        row["deploy_seconds"] = round(time.monotonic() - started, 1)
        row["run_record"] = str(result.directory.relative_to(REPO))
        row["result"] = result.summary["result"]
        row["chapters"] = chapter_status(result.summary)
        row["measured"] = {k: v for o in result.summary["steps"] for k, v in o["measured"].items()}
        row["skipped"] = sum(o["status"] == "skipped" for o in result.summary["steps"])
        if result.failure:
            row["failure"] = f"{result.failure.get('step', '?')}: {result.failure.get('failure', '')}"
    except LabError as err:
        row["result"], row["failure"] = "failed", f"lab: {err}"
    finally:
        started = time.monotonic()
        down(cluster, say=say)
        row["lab_down_seconds"] = round(time.monotonic() - started, 1)
    return row


def chapter_status(summary: dict) -> dict[str, str]:
    """Chapter id → failed (any step failed), else skipped (any step skipped), else passed; step ids start with
    their chapter's id."""
    statuses: dict[str, set[str]] = {}
    for outcome in summary["steps"]:
        statuses.setdefault(outcome["step"].split(".", 1)[0], set()).add(outcome["status"])
    return {chapter: next(s for s in ("failed", "skipped", "passed") if s in found)
            for chapter, found in statuses.items()}


def table(record: dict) -> str:
    """The README table: one row per release."""
    head = ["release", "date", "result", "chapters passed", *(label for _, label in FIGURES),
            "lab-up s", "deploy s", "lab-down s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in record["rows"]:
        chapters = row.get("chapters", {})
        passed = sum(status == "passed" for status in chapters.values())
        figures = [f"{row.get('measured', {}).get(key, '—'):g}" if key in row.get("measured", {}) else "—"
                   for key, _ in FIGURES]
        lines.append("| " + " | ".join([
            row["release"], record["date"][:10], row["result"] + (f" ({row['failure']})" if "failure" in row else ""),
            f"{passed}/{len(chapters)}", *figures, str(row.get("lab_up_seconds", "—")),
            str(row.get("deploy_seconds", "—")), str(row.get("lab_down_seconds", "—")),
        ]) + " |")
    return "\n".join(lines)


def update_readme(markdown: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the README's block between the `begin` and `end` markers with `markdown`."""
    text = README.read_text(encoding="utf-8")
    if begin not in text or end not in text:
        raise LabError(f"{README.relative_to(REPO)} has no {begin} … {end} block to update")
    before, rest = text.split(begin, 1)
    _, after = rest.split(end, 1)
    README.write_text(f"{before}{begin}\n{markdown}\n{end}{after}", encoding="utf-8")


def matrix(releases: list[Release], say: Callable[[str], None] = print) -> tuple[Path, dict]:
    record = {"date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "rows": []}
    for release in releases:
        say(f"== lab-matrix: Kubernetes {release}")
        record["rows"].append(run_release(release, say))
    RECORDS.mkdir(parents=True, exist_ok=True)
    path = RECORDS / f"{record['date'].replace(':', '').replace('-', '')[:15]}Z.json"
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path, record
