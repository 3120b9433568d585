"""etcd backups, continuously: on every member a systemd timer runs `etcd-backup`, which saves a snapshot of that
member, checks it with etcdutl (hash, revision, keys), keeps the newest `backup.keep` and writes a status file;
`invoke backups` reads the status files and copies the snapshots to the workstation.

One snapshot at a time cluster-wide: the members take turns. Member i of n runs at `i/n` of the interval past each
interval's start, so a snapshot (seconds on a control plane's database) never runs beside another one, and every
member keeps copies of its own, which survive the loss of any other member.
"""

from __future__ import annotations

import json
import re
import shlex

from generator.artifacts import Artifact, on_node
from generator.components.etcd.facts import EtcdFacts, facts
from generator.components.etcd.files import ETCDCTL_CLIENT, ID, Paths, client_url
from generator.context import RenderContext
from generator.model import Cluster, Node
from generator.steps import Command, Show, Step, for_each, on, push, sudo
from generator.text import Texts

TEXT = Texts.of_component(__file__)
UNIT = "etcd-backup"
SNAPSHOT_NAME = re.compile(r"etcd-(?P<member>[a-z0-9-]{1,63})-(?P<time>[0-9]{8}T[0-9]{6}Z)\.db")


class BackupPaths:
    """Where a member keeps its backups and what runs them."""

    def __init__(self, cluster: Cluster) -> None:
        p = cluster.spec.paths
        self.dir = f"{p.etcd_data_dir}-backup"
        self.status = f"{self.dir}/status.json"
        self.script = f"{p.bin_dir}/{UNIT}"
        self.service = f"{p.systemd_dir}/{UNIT}.service"
        self.timer = f"{p.systemd_dir}/{UNIT}.timer"

    def files(self) -> list[str]:
        return [self.script, self.service, self.timer]


def offset_seconds(cluster: Cluster, node: Node) -> int:
    """When in each interval this member's snapshot is due: the members evenly spread over it."""
    members = cluster.etcd_members
    return members.index(node) * cluster.spec.backup.every_minutes * 60 // len(members)


def on_calendar(every_minutes: int, offset: int) -> str:
    """systemd's OnCalendar= for every `every_minutes` (a divisor of 60, or whole hours dividing a day), `offset`
    seconds past each interval's start. A repetition must stay below its field's range (`/60` minutes, `/24` hours
    are refused), so once an hour and once a day are plain times."""
    minutes, seconds = divmod(offset, 60)
    if every_minutes < 60:
        return f"*-*-* *:{minutes:02d}/{every_minutes}:{seconds:02d}"
    if every_minutes == 60:
        return f"*-*-* *:{minutes:02d}:{seconds:02d}"
    hours, minutes = divmod(minutes, 60)
    repeat = "" if every_minutes == 24 * 60 else f"/{every_minutes // 60}"
    return f"*-*-* {hours:02d}{repeat}:{minutes:02d}:{seconds:02d}"


def json_string(value: str) -> str:
    """A JSON string literal for the script's status lines (the values are names and versions: no quoting needed
    beyond what json.dumps does, and shlex keeps it one shell word)."""
    return json.dumps(value)


def script(cluster: Cluster, node: Node, f: EtcdFacts) -> str:
    paths, backups = Paths(cluster), BackupPaths(cluster)
    keep = cluster.spec.backup.keep
    save = shlex.join([*f.etcdctl_env, paths.etcdctl, f"--endpoints={client_url(node)}", f"--cacert={paths.ca}",
                       f"--cert={paths.etcdctl_cert}", f"--key={paths.etcdctl_key}", "snapshot", "save"])
    check = (shlex.join([paths.etcdutl, "snapshot", "status"]) if f.etcdutl
             else shlex.join([*f.etcdctl_env, paths.etcdctl, "snapshot", "status"]))
    known = (f'"cluster":{json_string(cluster.name)},"member":{json_string(node.name)},'
             f'"etcd":{json_string(f.version)}')
    return f"""#!/bin/bash
# {UNIT} of etcd member {node.name} ({cluster.name}), written by the runbook compiler; {UNIT}.timer runs it.
# Saves a snapshot of this member, checks it, keeps the newest {keep}, and writes {backups.status}.
set -euo pipefail
umask 077
dir={shlex.quote(backups.dir)}
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
name=etcd-{node.name}-$(date -u -d "$now" +%Y%m%dT%H%M%SZ).db
part="$dir/.$name.part"
status() {{ printf '%s\\n' "$1" > "$dir/.status.json.part" && mv "$dir/.status.json.part" "$dir/status.json"; }}
failed() {{ status '{{{known},"result":"failed","time":"'"$now"'","message":"'"$1"'"}}'; exit 1; }}
mkdir -p "$dir" && chmod 700 "$dir"
trap 'rm -f "$part"' EXIT
{save} "$part" >/dev/null || failed "etcdctl snapshot save failed (journalctl -u {UNIT})"
check=$({check} "$part" -w json) || failed "the snapshot does not read back (journalctl -u {UNIT})"
sha=$(sha256sum "$part" | cut -d" " -f1)
bytes=$(stat -c %s "$part")
mv "$part" "$dir/$name"
record='{{{known},"result":"ok","time":"'"$now"'","file":"'"$name"'","sha256":"'"$sha"'","bytes":'"$bytes"',"snapshot":'"$check"'}}'
printf '%s\\n' "$record" > "$dir/$name.json"
status "$record"
ls -1t "$dir"/etcd-*.db | tail -n +{keep + 1} | while read -r old; do rm -f "$old" "$old.json"; done
echo "saved $name ($bytes bytes): $check"
"""


def service(cluster: Cluster) -> str:
    backups = BackupPaths(cluster)
    return f"""[Unit]
Description=etcd snapshot of this member, checked; the newest {cluster.spec.backup.keep} kept
Documentation=https://etcd.io/docs/latest/op-guide/recovery/
After=etcd.service

[Service]
Type=oneshot
ExecStart={backups.script}
Nice=10
IOSchedulingClass=idle
"""


def timer(cluster: Cluster, node: Node) -> str:
    every = cluster.spec.backup.every_minutes
    return f"""[Unit]
Description=etcd snapshot of this member every {every} minutes

[Timer]
OnCalendar={on_calendar(every, offset_seconds(cluster, node))}
AccuracySec=1s
Persistent=true

[Install]
WantedBy=timers.target
"""


def artifacts(ctx: RenderContext) -> list[Artifact]:
    cluster = ctx.cluster
    f = facts(cluster.spec.components.etcd.version)
    backups = BackupPaths(cluster)
    files: list[Artifact] = []
    for node in cluster.etcd_members:
        files += [
            Artifact(on_node(node, backups.script), script(cluster, node, f).encode(), ID, "unit"),
            Artifact(on_node(node, backups.service), service(cluster).encode(), ID, "unit", private=True),
            Artifact(on_node(node, backups.timer), timer(cluster, node).encode(), ID, "unit", private=True),
        ]
    return files


def invoke_backups(cluster: Cluster, *options: str) -> str:
    return shlex.join(["invoke", "backups", "--cluster", cluster.ref, *options])


def timer_step(cluster: Cluster) -> Step:
    backups = BackupPaths(cluster)
    s = sudo(cluster)
    every = cluster.spec.backup.every_minutes
    start = (f"{s}chmod 0755 {backups.script} && {s}systemctl daemon-reload && "
             f"{s}systemctl enable --now {UNIT}.timer && {s}systemctl start {UNIT}.service && "
             f"{s}cat {backups.status}")
    when = ", ".join(f"{n.name} {on_calendar(every, offset_seconds(cluster, n))}" for n in cluster.etcd_members)
    first = cluster.etcd_members[0]
    return Step(
        **TEXT.step(f"{ID}.backup-timer", every=every, keep=cluster.spec.backup.keep, dir=backups.dir, when=when,
                    unit=UNIT, client=ETCDCTL_CLIENT.name),
        shows=(Show(f"{UNIT}.timer", "ini", tuple((n.name, on_node(n, backups.timer)) for n in cluster.etcd_members)),
               Show(f"{UNIT}.service", "ini", ((first.name, on_node(first, backups.service)),)),
               # "sh", not "bash": a bash block on a page is a command that runs (tests/test_parity.py)
               Show(UNIT, "sh", ((first.name, on_node(first, backups.script)),))),
        per_node=for_each(cluster.etcd_members, lambda node: [
            push(cluster, node, backups.files()),
            on(cluster, node, start, expect=r'"result":"ok"',
               example=f'{{"cluster":"{cluster.name}","member":"{node.name}","result":"ok","time":'
                       f'"2026-12-07T04:20:00Z","file":"etcd-{node.name}-20261207T042000Z.db",…}}'),
        ]),
        # one member after another: one snapshot at a time, as the timers take them
        serial=True,
    )


def fetch_step(cluster: Cluster) -> Step:
    return Step(
        **TEXT.step(f"{ID}.backup-fetch", copy_to=copy_dir(cluster)),
        local=(Command(invoke_backups(cluster, "--fetch"), expect=r"^backups: copied \d+ snapshots?",
                       example=f"{cluster.etcd_members[0].name}: copied etcd-{cluster.etcd_members[0].name}-"
                               "20261207T042000Z.db (sha256 checked)\nbackups: copied 3 snapshots, the cluster "
                               "file and the PKI to build/…/backups\nmeasured: backup_newest_age_seconds=42.0"),),
    )


def check_step(cluster: Cluster) -> Step:
    return Step(
        **TEXT.step(f"{ID}.backups", every=cluster.spec.backup.every_minutes),
        local=(Command(invoke_backups(cluster), expect=r"^backups: all \d+ up to date$",
                       example=f"{cluster.etcd_members[0].name}: OK: etcd-{cluster.etcd_members[0].name}-"
                               "20261207T042000Z.db, 42 s old, revision 1187, 2.4 MB\nbackups: all 4 up to date"),),
    )


def copy_dir(cluster: Cluster) -> str:
    """The workstation's directory for the copies, as commands and pages name it."""
    return cluster.spec.backup.copy_to or f"build/{cluster.name}/backups"


def steps(cluster: Cluster) -> tuple[Step, ...]:
    return (timer_step(cluster), fetch_step(cluster), check_step(cluster))
