"""Disaster recovery drilled on the shared lab (after tests/test_lab_deploy.py, before the teardown), on real systemd:
the backup timers, a restore from a snapshot, a lost quorum with a survivor, a master rebuilt from nothing.

Each drill writes objects first (ConfigMaps, a Secret, a Deployment) and records their resourceVersions, then
asserts what must be there afterwards — everything up to the snapshot for a restore, everything with a survivor or a
rebuilt master — Secrets still `k8s:enc:` in etcd, both leases held, `/readyz` through the VIP, one etcd cluster ID;
the chapters' run records hold the recovery times (`<chapter>_rto_seconds`) and the restore's RPO.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid
from pathlib import Path

import yaml

from generator import backups
from generator.components.kube_apiserver.checks import STORED_PREFIX
from generator.model import REPO, Cluster, Node
from tests.lab_support import (
    BUILD,
    CLUSTER,
    FIGURES,
    Deployed,
    chapter_run,
    etcdctl,
    invoke,
    kubectl,
    needs_root,
    notebook_output,
    one,
    remote,
)

pytestmark = needs_root

def write_objects(prefix: str) -> dict[str, str]:
    """A ConfigMap, a Secret and a Deployment named after `prefix`; {kind/name: uid}. The uid, not the
    resourceVersion: the deployment controller keeps updating a Deployment's status after it is created, while an
    object made again under the same name gets a new uid."""
    kubectl("create", "configmap", f"{prefix}-config", f"--from-literal=written={prefix}")
    kubectl("create", "secret", "generic", f"{prefix}-secret", f"--from-literal=token={prefix}-{uuid.uuid4().hex}")
    kubectl("create", "deployment", f"{prefix}-app", "--image=registry.invalid/none:1", "--replicas=1")
    found = {}
    for kind, suffix in (("configmap", "config"), ("secret", "secret"), ("deployment", "app")):
        name = f"{prefix}-{suffix}"
        found[f"{kind}/{name}"] = kubectl("get", kind, name, "-o", "jsonpath={.metadata.uid}").stdout
    return found


def still_there(objects: dict[str, str]) -> dict[str, str]:
    """Of `objects`, those that exist now with the same uid (the object restored, not one made again)."""
    found = {}
    for ref, version in objects.items():
        kind, name = ref.split("/")
        proc = kubectl("get", kind, name, "-o", "jsonpath={.metadata.uid}", check=False)
        if proc.returncode == 0 and proc.stdout == version:
            found[ref] = version
    return found


def planned(tmp_path: Path, section: dict) -> Path:
    """clusters/lab.yaml with a recovery section, as the operator would write it (a copy: the lab's file stays)."""
    data = yaml.safe_load((REPO / "clusters" / f"{CLUSTER}.yaml").read_text())
    data.update(section)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{CLUSTER}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    rendered = invoke("render", "--cluster", str(path))
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr
    return path


def back_to_the_lab_file() -> None:
    """Render clusters/lab.yaml again: the section deleted, as each chapter's page asks."""
    rendered = invoke("render", "--cluster", CLUSTER)
    assert rendered.returncode == 0, rendered.stdout + rendered.stderr


def assert_whole(cluster: Cluster) -> None:
    """`/readyz` through the VIP, both leases held by a master and renewed lately, every etcd member healthy in one
    cluster, and a Secret written through the API stored encrypted in etcd."""
    assert kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
    masters = {n.name for n in cluster.masters}
    for lease in ("kube-scheduler", "kube-controller-manager"):
        end = time.monotonic() + 60
        while True:
            holder, renewed = kubectl("-n", "kube-system", "get", "lease", lease, "-o",
                                      "jsonpath={.spec.holderIdentity} {.spec.renewTime}").stdout.split()
            when = dt.datetime.strptime(renewed[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
            age = (dt.datetime.now(dt.UTC) - when).total_seconds()
            if holder.split("_")[0] in masters and age < 20 or time.monotonic() > end:
                break
            time.sleep(1)
        assert holder.split("_")[0] in masters and age < 20, (lease, holder, renewed)
    urls = [f"https://{n.ip}:2379" for n in cluster.etcd_members]
    status = remote(cluster, cluster.etcd_members[0], etcdctl(cluster, urls, "endpoint", "status", "-w", "json"))
    ids = {entry["Status"]["header"]["cluster_id"] for entry in json.loads(status.stdout)}
    assert len(ids) == 1 and len(json.loads(status.stdout)) == len(urls), status.stdout


def secret_in_etcd(cluster: Cluster, name: str) -> str:
    """The first bytes of a Secret as etcd stores it: the encryption provider's prefix, which is text (what follows
    is ciphertext, not text)."""
    node = cluster.etcd_members[0]
    key = f"/registry/secrets/default/{name}"
    proc = remote(cluster, node, etcdctl(cluster, [f"https://{node.ip}:2379"], "get", key, "--print-value-only")
                  + f" | head -c {len(STORED_PREFIX)}")
    return proc.stdout


def held_by(cluster: Cluster, node: Node, objects: dict[str, str], timeout: float = 30) -> bool:
    """Whether `node`'s own etcd member holds every one of `objects` (a serializable read: that member's data
    only), polled up to `timeout` seconds."""
    keys = [f"/registry/{kind}s/default/{name}" for kind, name in (ref.split("/") for ref in objects)]
    endpoint = [f"https://{node.ip}:2379"]
    end = time.monotonic() + timeout
    while True:
        present = all(remote(cluster, node, etcdctl(cluster, endpoint, "get", key, "--consistency=s", "--keys-only"))
                      .stdout.strip() == key for key in keys)
        if present or time.monotonic() > end:
            return present
        time.sleep(1)


def member_statuses(cluster: Cluster) -> dict[str, str]:
    lines, _ = backups.report(cluster)
    return {line.split(":")[0]: line.split(":")[1].strip() for line in lines if not line.startswith("backups:")}


def wait_for_status(cluster: Cluster, node: str, wanted: str, timeout: float) -> dict[str, str]:
    end = time.monotonic() + timeout
    while True:
        statuses = member_statuses(cluster)
        if statuses[node] == wanted or time.monotonic() > end:
            return statuses
        time.sleep(5)


def test_backup_timers_take_snapshots_and_a_stopped_one_goes_stale(deployed: Deployed) -> None:
    """After the deploy every member's timer keeps taking snapshots by itself (every minute in the lab): each newest
    snapshot is younger than the deploy's end; a member whose timer is stopped for longer than its interval and a
    half is STALE and `invoke backups` exits 1; started again, it is OK again."""
    cluster = deployed.cluster
    deployed_at = time.time()
    end = time.monotonic() + 150
    while True:
        readings = {n.name: backups.read_status(cluster, n).snapshot for n in cluster.etcd_members}
        if all(s and s.time.timestamp() > deployed_at for s in readings.values()) or time.monotonic() > end:
            break
        time.sleep(5)
    assert all(s and s.time.timestamp() > deployed_at for s in readings.values()), readings
    ages = [time.time() - s.time.timestamp() for s in readings.values() if s]
    FIGURES["timer-made snapshot age (s)"] = max(ages)
    # The workstation's copy of the PKI and the cluster file is as old as the last fetch: the day-2 tests since the
    # deploy (renewal, the CA rotation, other cluster files) changed them, which `invoke backups` must say.
    before = invoke("backups", "--cluster", CLUSTER)
    assert before.returncode == 1, before.stdout
    one(r"^workstation: STALE: \d+ file\(s\) changed since the copy of ", before.stdout)
    fetched = invoke("backups", "--cluster", CLUSTER, "--fetch")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    ok = invoke("backups", "--cluster", CLUSTER)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert len(re.findall(r"^k8s-master-\d+: OK: etcd-k8s-master-\d+-\d{8}T\d{6}Z\.db", ok.stdout, re.M)) == 3
    one(r"^workstation: OK: ", ok.stdout)

    stopped = cluster.etcd_members[-1]
    assert remote(cluster, stopped, "systemctl stop etcd-backup.timer").returncode == 0
    try:
        statuses = wait_for_status(cluster, stopped.name, "STALE", backups.stale_after(cluster) + 90)
        assert statuses[stopped.name] == "STALE", statuses
        assert [v for k, v in statuses.items() if k != stopped.name and k != "workstation"] == ["OK", "OK"]
        stale = invoke("backups", "--cluster", CLUSTER)
        assert stale.returncode == 1, stale.stdout
        one(rf"^{stopped.name}: STALE: etcd-{stopped.name}-\S+\.db, \d+ s old", stale.stdout)
    finally:
        assert remote(cluster, stopped, "systemctl start etcd-backup.timer").returncode == 0
    assert wait_for_status(cluster, stopped.name, "OK", 90)[stopped.name] == "OK"


def snapshot_now(cluster: Cluster) -> Path:
    """A snapshot taken now by the first member's backup service, copied to the workstation; its path there."""
    node = cluster.etcd_members[0]
    assert remote(cluster, node, "systemctl start etcd-backup.service").returncode == 0
    fetched = invoke("backups", "--cluster", CLUSTER, "--fetch")
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    snap = backups.read_status(cluster, node).snapshot
    assert snap is not None
    return backups.copies_root(cluster) / node.name / snap.file


def refused(path: Path, wrong: str) -> None:
    """The restore chapter with a wrong snapshot stops at its first step, before anything is destroyed."""
    proc = invoke("deploy", "--cluster", str(path), "--chapter", "restore", "--allow-destructive")
    assert proc.returncode == 1, proc.stdout
    assert "step restore.check" in proc.stderr and wrong in proc.stderr, proc.stderr


def test_restoring_a_snapshot_keeps_what_it_holds_and_loses_what_came_after(deployed: Deployed,
                                                                             tmp_path: Path) -> None:
    cluster = deployed.cluster
    before = write_objects("before-snapshot")
    snapshot = snapshot_now(cluster)
    after = write_objects("after-snapshot")

    # Wrong snapshots are refused, naming the snapshot and what is wrong, and nothing is stopped.
    record = json.loads(snapshot.with_name(snapshot.name + ".json").read_text())
    wrong = {"another cluster's": {**record, "cluster": "other"}, "older than the retention":
             {**record, "time": "2020-01-01T00:00:00Z"}}
    for what, content in wrong.items():
        copy = tmp_path / what.replace(" ", "-").replace("'", "") / snapshot.name
        copy.parent.mkdir()
        copy.write_bytes(snapshot.read_bytes())
        copy.with_name(copy.name + ".json").write_text(json.dumps(content))
        refused(planned(tmp_path / f"plan-{copy.parent.name}", {"restore": {"snapshot": str(copy)}}),
                "of cluster 'other'" if what == "another cluster's" else what)
    corrupt = tmp_path / "corrupt" / snapshot.name
    corrupt.parent.mkdir()
    data = bytearray(snapshot.read_bytes())
    data[len(data) // 2] ^= 0xFF
    corrupt.write_bytes(bytes(data))
    corrupt.with_name(corrupt.name + ".json").write_text(json.dumps(record))
    refused(planned(tmp_path / "plan-corrupt", {"restore": {"snapshot": str(corrupt)}}), "corrupt")
    refused(planned(tmp_path / "plan-missing", {"restore": {"snapshot": str(tmp_path / "none" / snapshot.name)}}),
            "no such file")
    assert still_there(after) == after, "a refused restore changed the cluster"

    path = planned(tmp_path / "plan", {"restore": {"snapshot": str(snapshot.relative_to(REPO))}})
    run_dir, measured = chapter_run("restore", "deploy", "--cluster", str(path), "--chapter", "restore",
                                    "--allow-destructive")
    assert still_there(before) == before, "an object the snapshot holds did not come back unchanged"
    assert still_there(after) == {}, "an object written after the snapshot survived the restore"
    FIGURES["objects lost (restore; 3 written after the snapshot)"] = len(after) - len(still_there(after))
    assert measured["restore_rto_seconds"] > 0 and measured["restore_rpo_seconds"] > 0
    text = notebook_output(run_dir, "restore")
    assert len(re.findall(r"^k8s-master-\d+: restored from snapshot [0-9a-f]{8}$", text, re.M)) == 3
    one(r"^etcd cluster IDs seen by the members: \d+$", text)
    assert secret_in_etcd(cluster, "before-snapshot-secret") == STORED_PREFIX
    assert_whole(cluster)
    back_to_the_lab_file()


def test_a_lost_quorum_comes_back_from_its_survivor_with_nothing_lost(deployed: Deployed, tmp_path: Path) -> None:
    cluster = deployed.cluster
    survivor, *gone = cluster.etcd_members
    written = write_objects("before-quorum-loss")
    path = planned(tmp_path, {"quorum_loss": {"survivor": survivor.name}})
    # While a majority answers, nothing is forced.
    proc = invoke("deploy", "--cluster", str(path), "--chapter", "quorum-loss", "--allow-destructive")
    assert proc.returncode == 1 and "quorum still present: " in proc.stderr, proc.stdout + proc.stderr
    assert kubectl("get", "--raw", "/readyz").stdout.strip() == "ok"
    # A write is acknowledged once a majority has it, which may be the two members about to be wiped: what the
    # chapter keeps is what the survivor holds, so the disks go once the survivor has every object.
    assert held_by(cluster, survivor, written), f"{survivor.name} never held {sorted(written)}"

    for node in gone:  # two members' disks lost: their etcd data is gone
        wiped = remote(cluster, node, f"systemctl stop etcd && rm -rf {cluster.spec.paths.etcd_data_dir}")
        assert wiped.returncode == 0, wiped.stderr
    run_dir, measured = chapter_run("quorum loss", "deploy", "--cluster", str(path), "--chapter", "quorum-loss",
                                    "--allow-destructive")
    assert still_there(written) == written, "an object was lost although the survivor had it"
    FIGURES["objects lost (quorum loss)"] = len(written) - len(still_there(written))
    assert measured["quorum_loss_rto_seconds"] > 0
    text = notebook_output(run_dir, "quorum-loss")
    one(r"^members of the forced cluster: 1$", text)
    for node in cluster.etcd_members:
        one(rf"^{node.name}: --initial-cluster-state=existing$", text)
    one(r"^etcd cluster IDs seen by the members: \d+$", text)
    for node in gone:  # the one-time unit is gone again; the member runs from its own unit
        assert remote(cluster, node, "test -e /etc/systemd/system/etcd-join.service").returncode == 1
    assert remote(cluster, survivor, "test -e /etc/systemd/system/etcd-force-new-cluster.service").returncode == 1
    assert secret_in_etcd(cluster, "before-quorum-loss-secret") == STORED_PREFIX
    assert_whole(cluster)
    back_to_the_lab_file()


def test_a_master_rebuilt_from_nothing_serves_again(deployed: Deployed, tmp_path: Path) -> None:
    cluster = deployed.cluster
    node = cluster.masters[-1]
    written = write_objects("before-rebuild")
    wiped = invoke("lab-wipe-node", "--cluster", CLUSTER, "--node", node.name)
    assert wiped.returncode == 0, wiped.stdout + wiped.stderr
    empty = remote(cluster, node, f"ls {cluster.spec.paths.config_dir} {cluster.spec.paths.etcd_data_dir} 2>&1; "
                                  "systemctl is-active etcd")
    assert "No such file or directory" in empty.stdout and empty.stdout.split()[-1] != "active", empty.stdout
    path = planned(tmp_path, {"rebuild": {"node": node.name}})
    run_dir, measured = chapter_run("rebuild", "deploy", "--cluster", str(path), "--chapter", "rebuild",
                                    "--allow-destructive")
    assert measured["rebuild_rto_seconds"] > 0
    text = notebook_output(run_dir, "rebuild")
    one(r"^Member +[0-9a-f]+ removed from cluster +[0-9a-f]+$", text)
    units = remote(cluster, node, "systemctl is-enabled etcd kube-apiserver kube-controller-manager kube-scheduler "
                                  "haproxy keepalived | xargs; systemctl is-active etcd kube-apiserver "
                                  "kube-controller-manager kube-scheduler haproxy keepalived | xargs")
    assert units.stdout.split("\n")[:2] == [" ".join(["enabled"] * 6), " ".join(["active"] * 6)], units.stdout
    # the very certificates the workstation holds, not new ones
    pki = cluster.spec.paths.pki_dir
    on_node = remote(cluster, node, f"cat {pki}/kube-apiserver.pem").stdout
    assert on_node == (BUILD / "nodes" / node.name / pki.lstrip("/") / "kube-apiserver.pem").read_text()
    assert still_there(written) == written
    assert_whole(cluster)
    back_to_the_lab_file()
