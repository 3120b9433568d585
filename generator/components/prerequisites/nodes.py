"""The prerequisites' node steps: the cluster's variables (environment.sh), each node's clock against the
workstation's, swap off, and the install directories on each node."""

from __future__ import annotations

import re
import shlex

from generator.artifacts import rel_build
from generator.components.prerequisites.files import ENVIRONMENT, ID, etcd_bin_dir
from generator.model import Cluster, Node
from generator.steps import (
    Command,
    Script,
    Show,
    Step,
    for_each,
    on,
    remote,
    render,
    script_header,
    scripts_dir,
    ssh_prefix,
    sudo,
)
from generator.text import Texts

TEXT = Texts.of_component(__file__)


def on_node_script(cluster: Cluster) -> Script:
    """`on-node.sh [--stdin] NODE COMMAND`: COMMAND run on NODE over ssh as the cluster file says (what the other
    scripts and the drills use to reach a node by its name); stdin stays on the workstation unless --stdin."""
    return Script(
        "on-node.sh", **TEXT.fields("script.on-node", user=cluster.spec.ssh.user), body="\n".join([
            *script_header("on-node.sh [--stdin] NODE COMMAND: run COMMAND on NODE over ssh"),
            'input=/dev/null',
            'if [ "$1" = --stdin ]; then input=/dev/stdin; shift; fi',
            'case "$1" in',
            *(f'    {n.name}) exec {ssh_prefix(cluster, n)} "$2" <"$input" ;;' for n in cluster.spec.nodes),
            f'    *) echo "not a node of {cluster.name}: $1" >&2; exit 1 ;;',
            "esac",
        ]),
        directory=scripts_dir(cluster))


def on_node_function(cluster: Cluster) -> list[str]:
    """Shell function: `on_node NAME CMD` runs CMD on a node (on-node.sh)."""
    return [on_node_script(cluster).function("on_node")]


def environment_step(cluster: Cluster) -> Step:
    path = f"{rel_build(cluster)}/{ENVIRONMENT}"
    script = f'source {shlex.quote(path)} && echo "${{#NODE_NAMES[@]}} nodes: ${{NODE_NAMES[*]}}"'
    names = " ".join(n.name for n in cluster.spec.nodes)
    return Step(
        **TEXT.step("prerequisites.environment"),
        shows=(Show(ENVIRONMENT, "sh", (("", ENVIRONMENT),)),),
        local=(
            render(cluster, ID, "config"),
            Command(f"bash -n {shlex.quote(path)} && bash -c {shlex.quote(script)}",
                    expect=rf"^{len(cluster.spec.nodes)} nodes: {re.escape(names)}$",
                    example=f"{len(cluster.spec.nodes)} nodes: {names}"),
        ),
    )


MAX_CLOCK_SKEW = 1  # seconds; etcd members warn about a clock difference above 1 s between them


def ntp_status() -> str:
    """Remote shell, information only: does an NTP client report the clock synchronised?

    timedatectl (systemd >= 239), else chrony, else ntpd's ntpstat.
    """
    return (
        'if timedatectl show -p NTPSynchronized --value 2>/dev/null | grep -qx yes; '
        'then echo "NTP: synchronized (timedatectl)"; '
        'elif chronyc -n tracking 2>/dev/null | grep -q "^Leap status *: Normal"; '
        'then echo "NTP: synchronized (chronyc)"; '
        'elif ntpstat >/dev/null 2>&1; then echo "NTP: synchronized (ntpstat)"; '
        'else echo "NTP: no client reports the clock synchronized (timedatectl, chronyc, ntpstat)"; fi'
    )


def skew_awk() -> str:
    """awk over the node's `date +%s.%N`, read at some instant between the workstation's t0 and t1.

    The clocks agree within `limit` exactly when that reading lies in [t0 - limit, t1 + limit]: a slow ssh
    round trip never fails the check; the printed offset (the middle of the round trip) is good to ± half of it.
    """
    return (
        '$1 !~ /^[0-9]+[.][0-9]+$/ { print "no time from the node: " $0; exit 1 } '
        '{ printf "clock offset from the workstation: %+.3f s (± %.3f s, half the ssh round trip)\\n", '
        '$1 - (t0 + t1) / 2, (t1 - t0) / 2; '
        'if ($1 >= t0 - limit && $1 <= t1 + limit) print "clock skew OK (limit " limit " s)"; '
        'else { print "clock skew TOO LARGE (limit " limit " s)"; exit 1 } }'
    )


def clock_check(cluster: Cluster, node: Node) -> Command:
    """On the workstation: the node's clock against this one's (ssh round trip), NTP status as information."""
    clock = f"date +%s.%N; {ntp_status()}"
    script = "\n".join([
        "t0=$(date +%s.%N)",
        f"reply=$({remote(cluster, node, clock)}) || {{ echo \"$reply\"; exit 1; }}",
        "t1=$(date +%s.%N)",
        'tail -n +2 <<< "$reply"',
        f'head -n 1 <<< "$reply" | awk -v t0="$t0" -v t1="$t1" -v limit={MAX_CLOCK_SKEW} '
        f"{shlex.quote(skew_awk())}",
    ])
    return Command(script, expect=r"^clock skew OK ", example=(
        "NTP: synchronized (timedatectl)\nclock offset from the workstation: +0.012 s (± 0.004 s, half the ssh round "
        "trip)\nclock skew OK (limit 1 s)"))


def time_step(cluster: Cluster) -> Step:
    return Step(
        **TEXT.step("prerequisites.time", MAX_CLOCK_SKEW=MAX_CLOCK_SKEW),
        per_node=for_each(cluster.spec.nodes, lambda node: [clock_check(cluster, node)]),
    )


def swap_check() -> str:
    """Remote shell: active swap devices (util-linux `swapon --show`; /proc/swaps where --show is too old)."""
    return (
        's=$(swapon --show --noheadings 2>/dev/null || tail -n +2 /proc/swaps); '
        'if [ -z "$s" ]; then echo "swap off"; else echo "swap ON: $s"; fi'
    )


def swap_step(cluster: Cluster) -> Step:
    return Step(
        **TEXT.step("prerequisites.swap"),
        per_node=for_each(cluster.spec.nodes, lambda node: [on(cluster, node, swap_check(), expect=r"^swap off$",
                                                                      example="swap off")]),
    )


def node_dirs(cluster: Cluster, node: Node) -> list[str]:
    p = cluster.spec.paths
    wanted: list[str] = []
    if "master" in node.roles:
        wanted += [p.bin_dir, p.config_dir, p.pki_dir, p.log_dir]
    if "etcd" in node.roles:
        wanted += [etcd_bin_dir(cluster), p.pki_dir]
    return list(dict.fromkeys(wanted))


def directories_step(cluster: Cluster) -> Step:
    p = cluster.spec.paths
    s = sudo(cluster)

    def make(node: Node) -> list[Command]:
        dirs = node_dirs(cluster, node)
        if "etcd" in node.roles:
            make = (f"{s}mkdir -p {shlex.join([*dirs, p.etcd_data_dir])} && {s}chmod 700 "
                      f"{shlex.quote(p.etcd_data_dir)} && {s}stat -c \"%a %n\" {shlex.join([*dirs, p.etcd_data_dir])}")
            return [on(cluster, node, make, expect=rf"^700 {re.escape(p.etcd_data_dir)}$",
                       example=f"755 {dirs[0]}\n700 {p.etcd_data_dir}")]
        make = f"{s}mkdir -p {shlex.join(dirs)} && {s}stat -c \"%a %n\" {shlex.join(dirs)}"
        return [on(cluster, node, make, expect=rf"^\d+ {re.escape(dirs[0])}$", example=f"755 {dirs[0]}")]

    return Step(
        **TEXT.step("prerequisites.directories", p=p),
        per_node=for_each(cluster.spec.nodes, make),
    )
