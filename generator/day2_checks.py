"""The cluster file's day-2 sections: an upgrade (`upgrade.from`), a membership change (`membership`) or a CA
rotation (`ca_rotation`).

The file always describes the cluster as it will be; these sections say what runs today, so each check asks
whether the step from today to the file is one the runbook can take safely.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from generator import checks
from generator.schema import Problem
from generator.versions import ETCD_PAIRED, Release, parse_release

if TYPE_CHECKING:
    from generator.model import ClusterFile


def check(spec: ClusterFile) -> list[Problem]:
    problems: list[Problem] = []

    def bad(path: str, value: object, expected: str) -> None:
        problems.append(Problem(path, value, expected))

    membership = spec.membership
    if spec.upgrade.from_:
        check_upgrade(spec, bad)
        if membership.joining or membership.leaving:
            bad("membership", "a membership change", "none while an upgrade is planned: one change at a time "
                "(finish the upgrade, then change the members)")
    check_membership(spec, bad)
    check_ca_rotation(spec, bad)
    return problems


ROTATABLE = ("cluster",)  # trust domains whose CA the ca-rotation chapter replaces


def check_ca_rotation(spec: ClusterFile, bad: checks.BadFn) -> None:
    wanted = spec.ca_rotation.authorities
    for i, name in enumerate(wanted):
        if name not in ROTATABLE:
            bad(f"ca_rotation.authorities[{i}]", name, "'cluster' (rotating the etcd or front-proxy CA is not built "
                "yet)")
    if wanted and (spec.upgrade.from_ or spec.membership.joining or spec.membership.leaving):
        bad("ca_rotation", "a CA rotation", "none while an upgrade or a membership change is planned: one change at "
            "a time (finish that one, then rotate the CA)")


def check_upgrade(spec: ClusterFile, bad: checks.BadFn) -> None:
    current = parse_release(spec.upgrade.from_)
    target = parse_release(spec.kubernetes_version)
    if isinstance(current, str):
        bad("upgrade.from", spec.upgrade.from_, f"the release the masters run now: {current}")
    elif isinstance(target, Release):  # else kubernetes_version itself is reported
        if current >= target:
            bad("upgrade.from", spec.upgrade.from_, f"a release older than kubernetes_version ({target}), which is "
                "the one the masters move to (a downgrade is a restore from an etcd snapshot, not an upgrade)")
        elif current.major != target.major or target.minor - current.minor > 1:
            bad("upgrade.from", spec.upgrade.from_, f"{target.major}.{target.minor - 1}.x or {target.major}."
                f"{target.minor}.x: kube-apiserver moves one minor release at a time (upgrade to "
                f"{current.major}.{current.minor + 1} first)")
        elif not spec.components.etcd.version and ETCD_PAIRED.at(current) != ETCD_PAIRED.at(target):
            # the default follows kubernetes_version, but the upgrade chapter keeps etcd as it runs
            bad("components.etcd.version", "(not set)", f'the etcd the members run now, written out: "'
                f'{ETCD_PAIRED.at(current)}" ({current} is paired with etcd {ETCD_PAIRED.at(current)}, {target} with '
                f"{ETCD_PAIRED.at(target)}; the upgrade keeps etcd as it runs, and without a version the file would "
                "move it too)")


def check_membership(spec: ClusterFile, bad: checks.BadFn) -> None:
    joining, leaving = spec.membership.joining, spec.membership.leaving
    if len(joining) + len(leaving) > 1:
        bad("membership", f"{len(joining)} joining, {len(leaving)} leaving",
            "one node per change: etcd adds or removes one member at a time, and each change is checked before "
            "the next")
    names = {n.name: n for n in spec.nodes}
    for i, name in enumerate(joining):
        node = names.get(name)
        if node is None:
            bad(f"membership.joining[{i}]", name, f"the name of a node in `nodes` ({', '.join(names)})")
        elif "master" not in node.roles:
            bad(f"membership.joining[{i}]", name, "a node with the role 'master'")
        elif not any("master" in n.roles and n.name not in joining for n in spec.nodes):
            bad(f"membership.joining[{i}]", name, "a master joining a cluster whose other masters already run")
    taken = {checks.ip_key(n.ip): n.name for n in spec.nodes}
    if spec.api_server.vip:
        taken[checks.ip_key(spec.api_server.vip)] = "the VIP (api_server.vip)"
    for i, node in enumerate(leaving):
        where = f"membership.leaving[{i}]"
        if not checks.RFC1123_LABEL.fullmatch(node.name):
            bad(f"{where}.name", node.name, "an RFC 1123 label: lowercase letters, digits and '-', at most 63")
        elif node.name in names:
            bad(f"{where}.name", node.name, "a node `nodes` no longer lists (`nodes` is the cluster after the change)")
        address = checks.usable_address(bad, f"{where}.ip", node.ip)
        if address is not None and address in taken:
            bad(f"{where}.ip", node.ip, f"the address the leaving node has; {taken[address]} uses it")
        if "master" not in node.roles or not set(node.roles) <= set(checks.ROLES):
            bad(f"{where}.roles", list(node.roles), "'master', and 'etcd' if it is an etcd member")
