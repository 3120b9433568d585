"""`invoke backups`: each etcd member's newest snapshot, from the status file its backup timer writes, one line each
(OK, STALE, FAILED or MISSING), and the workstation's copies; `--fetch` copies the snapshots off the nodes.

What a node says is input like any other: a status file is read within limits and checked field by field before a
line or a copy is made of it, and a snapshot is copied only when its bytes have the sha256 the node recorded.
The workstation keeps, under `backup.copy_to` (default build/<cluster>/backups, 0700), `<member>/<snapshot>.db`
(0600) with its `.json` beside it, the newest `backup.keep` per member, and `workstation/`: the cluster file and
build/<cluster>/pki as of the last fetch — what rebuilding a master or restoring a cluster needs besides etcd.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import shlex
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from generator.artifacts import build_dir, write_atomic
from generator.components.etcd.backup import SNAPSHOT_NAME, BackupPaths, copy_dir
from generator.errors import Reported, RunbookError
from generator.model import REPO, Cluster, Node
from generator.steps import remote, sudo

STATUS_LIMIT = 64 * 1024  # bytes of a status file; a real one is ~400
SHA256 = re.compile(r"[0-9a-f]{64}")
TIME = "%Y-%m-%dT%H:%M:%SZ"
OK, STALE, FAILED, MISSING = "OK", "STALE", "FAILED", "MISSING"
WORKSTATION = "workstation"


class BackupError(RunbookError):
    """A backup that cannot be read, copied or trusted; the message names it and what is wrong."""


@dataclass(frozen=True)
class Snapshot:
    """A member's newest snapshot as its status file (or a copy's .json) describes it."""

    cluster: str
    member: str
    file: str
    time: dt.datetime
    sha256: str
    bytes: int
    revision: int
    hash: int
    keys: int

    @property
    def record(self) -> dict:
        return {"cluster": self.cluster, "member": self.member, "result": "ok", "file": self.file,
                "time": self.time.strftime(TIME), "sha256": self.sha256, "bytes": self.bytes,
                "snapshot": {"revision": self.revision, "hash": self.hash, "totalKey": self.keys}}


@dataclass(frozen=True)
class Reading:
    """What a member's status file says: a snapshot, or why there is none."""

    snapshot: Snapshot | None
    problem: str = ""  # FAILED or MISSING's reason


def parse_record(text: str, where: str) -> dict:
    if len(text.encode()) > STATUS_LIMIT:
        raise BackupError(f"{where}: larger than {STATUS_LIMIT} bytes: not a backup status")
    try:
        record = json.loads(text, parse_constant=lambda name: None)
    except ValueError as err:
        raise BackupError(f"{where}: not JSON ({err.msg} at line {err.lineno})") from None
    if not isinstance(record, dict):
        raise BackupError(f"{where}: expected a JSON object, found {type(record).__name__}")
    return record


def snapshot_of(record: dict, where: str) -> Snapshot:
    """The fields a snapshot's record must have, each with its type and shape; BackupError naming the first wrong."""
    def field(name: str, kind: type, source: dict | None = None) -> object:
        value = (record if source is None else source).get(name)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise BackupError(f"{where}: {name}: expected {kind.__name__}, found {type(value).__name__}")
        return value

    snapshot = field("snapshot", dict)
    assert isinstance(snapshot, dict)
    name = str(field("file", str))
    match = SNAPSHOT_NAME.fullmatch(name)
    if not match or match["member"] != record.get("member"):
        raise BackupError(f"{where}: file: {name[:80]!r} is not etcd-<member>-<UTC time>.db of its member")
    sha = str(field("sha256", str))
    if not SHA256.fullmatch(sha):
        raise BackupError(f"{where}: sha256: expected 64 hex digits")
    try:
        taken = dt.datetime.strptime(str(field("time", str)), TIME).replace(tzinfo=dt.UTC)
    except ValueError:
        raise BackupError(f"{where}: time: expected UTC as {TIME}") from None
    numbers = [int(field(n, int, snapshot)) for n in ("revision", "hash", "totalKey")]  # type: ignore[call-overload]
    size = int(field("bytes", int))  # type: ignore[call-overload]
    if min(*numbers, size) < 0:
        raise BackupError(f"{where}: a negative count")
    return Snapshot(cluster=str(field("cluster", str)), member=str(field("member", str)), file=name, time=taken,
                    sha256=sha, bytes=size, revision=numbers[0], hash=numbers[1], keys=numbers[2])


def run_on(cluster: Cluster, node: Node, command: str, timeout: float = 30) -> subprocess.CompletedProcess[bytes]:
    command_line = f"{remote(cluster, node, f'{sudo(cluster)}{command}')}"
    return subprocess.run(command_line, shell=True, cwd=REPO, capture_output=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


def read_status(cluster: Cluster, node: Node) -> Reading:
    paths = BackupPaths(cluster)
    where = f"{node.name}:{paths.status}"
    proc = run_on(cluster, node, f"head -c {STATUS_LIMIT + 1} {shlex.quote(paths.status)} 2>/dev/null || true")
    if proc.returncode != 0:
        raise BackupError(f"{node.name}: ssh failed (exit {proc.returncode}): "
                          f"{proc.stderr.decode(errors='replace').strip()[:200]}")
    text = proc.stdout.decode(errors="replace")
    if not text.strip():
        return Reading(None, f"no snapshot yet ({paths.status} is missing: is {node.name}'s etcd-backup.timer "
                             "installed?)")
    record = parse_record(text, where)
    if record.get("member") != node.name or record.get("cluster") != cluster.name:
        raise BackupError(f"{where}: names {str(record.get('member'))[:63]!r} of {str(record.get('cluster'))[:63]!r},"
                          f" not {node.name} of {cluster.name}")
    if record.get("result") == "failed":
        message = str(record.get("message", ""))
        return Reading(None, f"the last run failed at {str(record.get('time', '?'))[:20]}: "
                             f"{re.sub(r'[^ -~]', '?', message)[:160]}")
    if record.get("result") != "ok":
        raise BackupError(f"{where}: result: expected ok or failed")
    return Reading(snapshot_of(record, where))


def stale_after(cluster: Cluster) -> float:
    """Seconds after which a member's newest snapshot is overdue: its interval, plus half of it (at least a minute)
    for the run itself."""
    every = cluster.spec.backup.every_minutes * 60
    return every + max(60, every / 2)


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def member_line(cluster: Cluster, node: Node, reading: Reading, now: dt.datetime) -> tuple[str, bool]:
    """(the line, whether it needs action)."""
    snap = reading.snapshot
    if snap is None:
        verdict = FAILED if reading.problem.startswith("the last run failed") else MISSING
        return f"{node.name}: {verdict}: {reading.problem}", True
    age = (now - snap.time).total_seconds()
    verdict = STALE if age > stale_after(cluster) else OK
    return (f"{node.name}: {verdict}: {snap.file}, {age:.0f} s old, revision {snap.revision}, "
            f"{megabytes(snap.bytes)}", verdict != OK)


def copies_root(cluster: Cluster) -> Path:
    path = Path(copy_dir(cluster))
    return path if path.is_absolute() else REPO / path


def workstation_files(cluster: Cluster) -> list[tuple[str, Path]]:
    """What besides etcd a recovery needs from the workstation: the cluster file and the PKI (every CA, key and
    certificate the render made: a master rebuilt from nothing gets the very same ones)."""
    pki = build_dir(cluster) / "pki"
    files = [(f"pki/{p.relative_to(pki)}", p) for p in sorted(pki.rglob("*")) if p.is_file() and not p.is_symlink()]
    return [("cluster.yaml", cluster.source), *files]


def digests(files: list[tuple[str, Path]]) -> dict[str, str]:
    return {name: hashlib.sha256(path.read_bytes()).hexdigest() for name, path in files}


def workstation_line(cluster: Cluster) -> tuple[str, bool]:
    record = copies_root(cluster) / WORKSTATION / "workstation.json"
    if not record.is_file():
        return (f"{WORKSTATION}: MISSING: no copy of the cluster file and build/{cluster.name}/pki yet "
                f"(invoke backups --cluster {cluster.ref} --fetch makes one)"), True
    saved = parse_record(record.read_text(encoding="utf-8", errors="replace"), str(record))
    now = digests(workstation_files(cluster))
    differ = sorted(name for name in now.keys() | saved.get("files", {}).keys()
                    if now.get(name) != saved.get("files", {}).get(name))
    if differ:
        return (f"{WORKSTATION}: STALE: {len(differ)} file(s) changed since the copy of "
                f"{str(saved.get('time', '?'))[:20]} (first: {differ[0]})"), True
    copied = str(saved.get("time"))[:20]
    return f"{WORKSTATION}: OK: the cluster file and {len(now) - 1} PKI files as copied {copied}", False


def backups(cluster: Cluster, fetch_them: bool, restore_only: bool, out: TextIO) -> None:
    """`invoke backups`: the snapshot the restore section names, checked (`restore_only`); else, after copying the
    members' snapshots to the workstation (`fetch_them`), one line per member and the workstation's copy, and
    Reported (with nothing more to say) when one needs action."""
    if restore_only:
        if not cluster.spec.restore.snapshot:
            raise Reported(f"backups: {cluster.name} plans no restore (no restore.snapshot in its cluster file)")
        out.write("\n".join(check_restore(cluster)[0]) + "\n")
        return
    if fetch_them:
        out.write("".join(f"{line}\n" for line in fetch(cluster)))
    lines, action = report(cluster)
    out.write("\n".join(lines) + "\n")
    if action:
        raise Reported("")  # the lines say which


def report(cluster: Cluster) -> tuple[list[str], bool]:
    """One line per etcd member and one for the workstation's copy; whether any needs action."""
    now = dt.datetime.now(dt.UTC)
    lines, action = [], False
    for node in cluster.etcd_members:
        line, needs = member_line(cluster, node, read_status(cluster, node), now)
        lines.append(line)
        action |= needs
    line, needs = workstation_line(cluster)
    lines.append(line)
    action |= needs
    total = len(cluster.etcd_members) + 1
    lines.append(f"backups: {'some need action' if action else f'all {total} up to date'}")
    return lines, action


def fetch(cluster: Cluster) -> list[str]:
    """Copy each member's newest snapshot (and its record) to the workstation, checking its sha256; keep the newest
    `backup.keep` per member; copy the cluster file and the PKI. Lines to print; BackupError on the first problem."""
    root = copies_root(cluster)
    make_private_dir(root)
    now = dt.datetime.now(dt.UTC)
    lines, newest = [], []
    for node in cluster.etcd_members:
        reading = read_status(cluster, node)
        if reading.snapshot is None:
            raise BackupError(f"{node.name}: {reading.problem}")
        snap = reading.snapshot
        target = root / node.name / snap.file
        make_private_dir(target.parent)
        if target.is_file() and sha256_of(target) == snap.sha256:
            lines.append(f"{node.name}: {snap.file} already here")
        else:
            data = copy_from(cluster, node, f"{BackupPaths(cluster).dir}/{snap.file}", snap)
            write_atomic(target, data, 0o600)
            lines.append(f"{node.name}: copied {snap.file} ({megabytes(len(data))}, sha256 checked)")
        write_atomic(target.with_name(snap.file + ".json"), (json.dumps(snap.record) + "\n").encode(), 0o600)
        prune(target.parent, cluster.spec.backup.keep)
        newest.append(snap)
    saved = save_workstation(cluster, root, now)
    lines.append(f"backups: copied {len(newest)} snapshots, the cluster file and {saved} PKI files to "
                 f"{copy_dir(cluster)}")
    youngest = max(s.time for s in newest)
    lines.append(f"measured: backup_newest_age_seconds={(now - youngest).total_seconds():.1f}")
    lines.append(f"measured: backup_revision={max(s.revision for s in newest)}")
    return lines


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def copy_from(cluster: Cluster, node: Node, path: str, snap: Snapshot) -> bytes:
    proc = run_on(cluster, node, f"cat {shlex.quote(path)}", timeout=600)
    if proc.returncode != 0:
        raise BackupError(f"{node.name}:{path}: could not be read (exit {proc.returncode})")
    if len(proc.stdout) != snap.bytes or hashlib.sha256(proc.stdout).hexdigest() != snap.sha256:
        raise BackupError(f"{node.name}:{path}: its bytes are not those its record names (sha256 or size differ): "
                          "not copied")
    return proc.stdout


def make_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.is_symlink() or not path.is_dir():
        raise BackupError(f"{path}: expected a directory, found something else")
    os.chmod(path, 0o700)


def prune(directory: Path, keep: int) -> None:
    snapshots = sorted((p for p in directory.glob("etcd-*.db") if SNAPSHOT_NAME.fullmatch(p.name)),
                       key=lambda p: p.name, reverse=True)
    for old in snapshots[keep:]:
        old.unlink()
        old.with_name(old.name + ".json").unlink(missing_ok=True)


def save_workstation(cluster: Cluster, root: Path, now: dt.datetime) -> int:
    """The cluster file and the PKI as one tarball (0600), with their sha256s in workstation.json."""
    directory = root / WORKSTATION
    make_private_dir(directory)
    files = workstation_files(cluster)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, path in files:
            tar.add(path, arcname=name)
    write_atomic(directory / "workstation.tar.gz", buffer.getvalue(), 0o600)
    record = {"cluster": cluster.name, "time": now.strftime(TIME), "files": digests(files)}
    write_atomic(directory / "workstation.json", (json.dumps(record, indent=1) + "\n").encode(), 0o600)
    return len(files) - 1


def restore_source(cluster: Cluster) -> Path:
    path = Path(cluster.spec.restore.snapshot)
    return path if path.is_absolute() else REPO / path


def check_restore(cluster: Cluster, now: dt.datetime | None = None) -> tuple[list[str], Snapshot]:
    """The snapshot `restore.snapshot` names, checked before anything is destroyed: there, a regular file, its
    record beside it, of this cluster, its bytes those the record names, readable by etcdutl where the workstation
    has it, and within the retention. Lines to print and the snapshot; BackupError naming the snapshot and what is
    wrong."""
    now = now or dt.datetime.now(dt.UTC)
    given = cluster.spec.restore.snapshot
    path = restore_source(cluster)
    record = path.with_name(path.name + ".json")
    if not path.exists():
        raise BackupError(f"restore.snapshot {given}: no such file (invoke backups --cluster {cluster.ref} --fetch "
                          "copies the members' snapshots)")
    if path.is_symlink() or not path.is_file():
        raise BackupError(f"restore.snapshot {given}: not a regular file")
    if not record.is_file() or record.is_symlink():
        raise BackupError(f"restore.snapshot {given}: its record {record.name} is missing: only a snapshot `invoke "
                          "backups --fetch` copied (with its record) can be restored")
    snap = snapshot_of(parse_record(record.read_text(encoding="utf-8", errors="replace"), str(record)), str(record))
    if snap.cluster != cluster.name:
        raise BackupError(f"restore.snapshot {given}: a snapshot of cluster {snap.cluster[:63]!r}, not of "
                          f"{cluster.name}")
    if path.name != snap.file:
        raise BackupError(f"restore.snapshot {given}: its record names {snap.file}")
    if path.stat().st_size != snap.bytes or sha256_of(path) != snap.sha256:
        raise BackupError(f"restore.snapshot {given}: corrupt: its bytes are not those its record names (sha256 or "
                          "size differ)")
    etcdutl = Path(etcd_tools(cluster)) / "etcdutl"
    lines = []
    if etcdutl.is_file():
        proc = subprocess.run([str(etcdutl), "snapshot", "status", str(path), "-w", "json"], capture_output=True,
                              text=True, timeout=120, check=False)
        if proc.returncode != 0:
            said = proc.stderr.strip().splitlines()[-1][:160] if proc.stderr.strip() else "no message"
            raise BackupError(f"restore.snapshot {given}: corrupt: etcdutl cannot read it ({said})")
        lines.append(f"etcdutl reads it: {proc.stdout.strip()[:200]}")
    retention = dt.timedelta(minutes=cluster.spec.backup.every_minutes * cluster.spec.backup.keep)
    age = now - snap.time
    if age > retention:
        raise BackupError(f"restore.snapshot {given}: taken {snap.time.strftime(TIME)}, older than the retention "
                          f"({cluster.spec.backup.keep} snapshots every {cluster.spec.backup.every_minutes} min): "
                          "choose a newer one, or raise backup.keep to restore this one on purpose")
    lines.insert(0, f"snapshot {given}: of {cluster.name}, member {snap.member}, taken {snap.time.strftime(TIME)}, "
                    f"revision {snap.revision}, {megabytes(snap.bytes)}, sha256 checked")
    lines.append(f"everything written after {snap.time.strftime(TIME)} is lost: {age.total_seconds():.0f} s of "
                 "writes (the RPO of this restore)")
    lines.append(f"measured: restore_rpo_seconds={age.total_seconds():.1f}")
    return lines, snap


def etcd_tools(cluster: Cluster) -> str:
    """Where the prerequisites chapter unpacked the release's etcd commands on the workstation."""
    from generator.components.prerequisites.binaries import etcd_unpacked

    return str(REPO / etcd_unpacked(cluster))
