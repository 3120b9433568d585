"""The cluster file's backup section and its recovery plans: `restore` (every etcd member from one snapshot),
`quorum_loss` (a lost quorum with one survivor) and `rebuild` (a master whose disk is gone). One change at a time:
none of them beside another, an upgrade, a membership change or a CA rotation."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from generator import checks
from generator.schema import Problem

if TYPE_CHECKING:
    from generator.model import ClusterFile

# Intervals a calendar timer repeats exactly: minutes dividing an hour, hours dividing a day.
EVERY_MINUTES = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440)
KEEP = (1, 1000)
REPO = Path(__file__).resolve().parent.parent
PRIVATE_TOP = ("build", "backups")  # the repository's git-ignored directories a backup may go to


def planned(spec: ClusterFile) -> list[str]:
    """The recovery sections the file fills in."""
    return [name for name, value in (("restore", spec.restore.snapshot), ("quorum_loss", spec.quorum_loss.survivor),
                                     ("rebuild", spec.rebuild.node)) if value]


def check(spec: ClusterFile) -> list[Problem]:
    problems: list[Problem] = []

    def bad(path: str, value: object, expected: str) -> None:
        problems.append(Problem(path, value, expected))

    backup = spec.backup
    if backup.every_minutes not in EVERY_MINUTES:
        bad("backup.every_minutes", backup.every_minutes, "one of " + ", ".join(map(str, EVERY_MINUTES))
            + " (a timer repeats exactly only in minutes dividing an hour or hours dividing a day)")
    if not KEEP[0] <= backup.keep <= KEEP[1]:
        bad("backup.keep", backup.keep, f"{KEEP[0]} to {KEEP[1]} snapshots per member")
    if backup.copy_to:
        check_workstation_path(bad, "backup.copy_to", backup.copy_to)
        if not private_place(backup.copy_to):
            bad("backup.copy_to", backup.copy_to, "a directory outside the repository, or under its git-ignored "
                f"{' or '.join(d + '/' for d in PRIVATE_TOP)} (snapshots hold every Secret: never where git or the "
                "site would take them)")
    if spec.restore.snapshot:
        check_workstation_path(bad, "restore.snapshot", spec.restore.snapshot)
        if not spec.restore.snapshot.endswith(".db"):
            bad("restore.snapshot", spec.restore.snapshot, "an etcd snapshot as `invoke backups --fetch` copied it "
                "(etcd-<member>-<UTC time>.db, its .json beside it)")
    members = [n.name for n in spec.nodes if "etcd" in n.roles]
    survivor = spec.quorum_loss.survivor
    etcd = spec.components.etcd.version  # empty only when kubernetes_version, which pairs it, is no release
    if survivor and survivor not in members:
        bad("quorum_loss.survivor", survivor, f"the etcd member that kept its data, one of: {', '.join(members)}")
    elif survivor and etcd and not checks.etcd_at_least(etcd, (3, 4)):
        bad("quorum_loss.survivor", survivor, "etcd 3.4 or later (components.etcd.version): the lost members come back "
            "as learners, which earlier releases lack; restore from a snapshot instead")
    elif survivor and len(members) < 3:
        bad("quorum_loss.survivor", survivor, "a cluster of three or more etcd members (with fewer, a lost member "
            "is a lost quorum only when it is the last one: restore from a snapshot instead)")
    rebuilt = spec.rebuild.node
    masters = [n.name for n in spec.nodes if "master" in n.roles]
    if rebuilt and rebuilt not in masters:
        bad("rebuild.node", rebuilt, f"a master of the cluster file, one of: {', '.join(masters)}")
    elif rebuilt and len(masters) < 2:
        bad("rebuild.node", rebuilt, "a cluster of two or more masters (a single master rebuilt from nothing is a "
            "new cluster: deploy it, then restore a snapshot)")
    plans = planned(spec)
    others = [name for name, value in (("upgrade", spec.upgrade.from_),
                                       ("membership", spec.membership.joining or spec.membership.leaving),
                                       ("ca_rotation", spec.ca_rotation.authorities)) if value]
    if len(plans) > 1 or (plans and others):
        bad(plans[-1], ", ".join(plans + others), "one change at a time: recover first, then plan the next change "
            "(delete the other sections)")
    return problems


def private_place(value: str) -> bool:
    """A workstation path git and the site never take: outside the repository, or in its ignored PRIVATE_TOP."""
    path = PurePosixPath(value)
    if path.is_absolute():
        try:
            path = path.relative_to(REPO)
        except ValueError:
            return True
    return bool(path.parts) and path.parts[0] in PRIVATE_TOP


def check_workstation_path(bad: checks.BadFn, where: str, value: str) -> None:
    if not checks.WORKSTATION_PATH.fullmatch(value) or {"", ".", ".."} & set(value.split("/")[1:]):
        bad(where, value, "a path on the workstation of letters, digits and ._/+- (relative: to the repository), "
            "without '..'")
