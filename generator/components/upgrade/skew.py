"""What an upgrade changes in the release facts, and the version-skew rules it follows, as page text."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from generator.components.kube_apiserver.facts import facts as apiserver_facts
from generator.components.kube_controller_manager.facts import facts as controller_manager_facts
from generator.components.kube_scheduler.facts import facts as scheduler_facts
from generator.components.prerequisites.facts import etcd_version
from generator.components.prerequisites.facts import facts as download_facts
from generator.model import Cluster
from generator.text import Text, Texts
from generator.versions import ETCD_PAIRED, Release

TEXT = Texts.of_component(__file__)

FACTS: tuple[tuple[str, Callable[[Release], object]], ...] = (
    ("kube-apiserver", apiserver_facts),
    ("kube-controller-manager", controller_manager_facts),
    ("kube-scheduler", scheduler_facts),
    ("prerequisites", download_facts),
)


def shown(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(map(str, value)) or "—"
    return "—" if value is None else str(value)


def fact_changes(old: Release, new: Release) -> list[tuple[str, str, str, str]]:
    """(component, fact, value at `old`, value at `new`) for every version fact that differs."""
    rows = []
    for component, facts in FACTS:
        before, after = dataclasses.asdict(facts(old)), dataclasses.asdict(facts(new))
        rows += [(component, name, shown(before[name]), shown(after[name]))
                 for name in before if before[name] != after[name]]
    return rows


def facts_table(old: Release, new: Release) -> Text:
    rows = fact_changes(old, new)
    if not rows:
        return TEXT("upgrade.plan", "facts-unchanged", old=old, new=new)
    lines = "\n".join(f"| {c} | `{f}` | `{a}` | `{b}` |" for c, f, a, b in rows)
    return TEXT("upgrade.plan", "facts-table", old=old, new=new, lines=lines)


def rules(cluster: Cluster, old: Release) -> Text:
    """The version-skew rules, said for this cluster's two releases."""
    new = cluster.release
    etcd = etcd_version(cluster.spec.components.etcd.version)
    paired = ETCD_PAIRED.at(new)
    pairing = TEXT("upgrade.plan", "etcd-paired" if paired == etcd else "etcd-paired-other", new=new, paired=paired)
    lock_old, lock_new = scheduler_facts(old).lock, scheduler_facts(new).lock
    if lock_old == lock_new:
        lock = TEXT("upgrade.plan", "lock-same", lock_new=lock_new)
    else:
        lock = TEXT("upgrade.plan", "lock-changed", lock_old=lock_old, lock_new=lock_new)
    return TEXT("upgrade.plan", "skew-rules", old=old, new=new, etcd=etcd, pairing=pairing, lock=lock)
