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
from generator.steps import Text
from generator.versions import ETCD_PAIRED, Release

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
        return Text(zh=f"{old} 与 {new} 之间，生成器记录的版本事实（docs/versions）没有变化。",
                    en=f"None of the version facts the generator keeps (docs/versions) differs between {old} and "
                       f"{new}.")
    lines = "\n".join(f"| {c} | `{f}` | `{a}` | `{b}` |" for c, f, a, b in rows)
    return Text(zh=f"| 组件 | 事实 | {old} | {new} |\n|---|---|---|---|\n{lines}",
                en=f"| component | fact | {old} | {new} |\n|---|---|---|---|\n{lines}")


def rules(cluster: Cluster, old: Release) -> Text:
    """The version-skew rules, said for this cluster's two releases."""
    new = cluster.release
    etcd = etcd_version(cluster.spec.components.etcd.version)
    paired = ETCD_PAIRED.at(new)
    pairing_zh = "，与它配套的版本相同" if paired == etcd else f"；Kubernetes {new} 配套的是 etcd {paired}"
    pairing_en = ", the one it is paired with" if paired == etcd else f"; Kubernetes {new} is paired with etcd {paired}"
    lock_old, lock_new = scheduler_facts(old).lock, scheduler_facts(new).lock
    if lock_old == lock_new:
        lock_zh, lock_en = f"两个版本的选主锁都是 `{lock_new}`。", f"Both releases use the `{lock_new}` lock."
    else:
        lock_zh = (f"选主锁从 `{lock_old}` 变成 `{lock_new}`：过渡期间新旧实例都写 `{lock_new}` 能读到的那个对象，"
                   "健康门槛读的也是它。")
        lock_en = (f"The election lock changes from `{lock_old}` to `{lock_new}`: while both run, old and new "
                   f"instances write the object `{lock_new}` reads, which is what the health gate reads too.")
    return Text(
        zh=(f"版本偏差规则，按本集群的 {old} → {new}：\n\n1. **etcd 先行（如有需要）**：etcd 单独定版本"
            f"（`components.etcd.version`，这里是 {etcd}{pairing_zh}），这次升级不改变它；若新版本需要更新的 etcd，"
            "要先逐个成员升级 etcd，再动 Kubernetes。\n2. **kube-apiserver 一次只升一个小版本**（集群文件的检查保证 "
            f"{old} → {new} 不跳版本），而且先于其他组件：第一轮逐台升级全部 kube-apiserver。\n3. **然后才是 "
            "kube-controller-manager 与 kube-scheduler**：它们经 API 入口可能连到任何一台 apiserver，"
            "所以不能比任何一台 apiserver 新；第二轮逐台升级它们。\n4. **kubectl 与 apiserver 最多差一个小版本**："
            f"运维机的 kubectl 在第一轮之前换成 {new}，与还没升级的 {old} 只差一个小版本；master 上的 kubectl "
            f"在第二轮随其他二进制一起更新。\n\n{lock_zh}"),
        en=(f"The version-skew rules, for this cluster's {old} → {new}:\n\n"
            f"1. **etcd first, if needed**: etcd has its own release (`components.etcd.version`, here {etcd}"
            f"{pairing_en}) and this upgrade keeps it; a release needing a newer etcd would have etcd upgraded "
            "first, member by member, before anything of Kubernetes.\n"
            f"2. **kube-apiserver one minor release at a time** (the cluster file's checks make sure {old} → {new} "
            "skips none), and before every other component: the first round upgrades every kube-apiserver, one "
            "master after another.\n"
            "3. **Then kube-controller-manager and kube-scheduler**: through the API endpoint they may reach any "
            "apiserver, so they must never be newer than one; the second round upgrades them.\n"
            f"4. **kubectl within one minor release of the apiservers**: the workstation's kubectl becomes {new} "
            f"before the first round, one minor release from the {old} apiservers not upgraded yet; the masters' "
            f"kubectl moves with the other binaries in the second round.\n\n{lock_en}"),
    )
