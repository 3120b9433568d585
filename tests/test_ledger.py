"""The certificate ledger (build/<cluster>/ledger.json) and `invoke certs`' verdicts, with the real openssl.

The ledger is read back by render from the files it wrote; these tests compare it with what openssl says of the
same files, follow a re-issue into it, and run the very script `invoke certs` sends to each node against local
copies (the lab test runs it over ssh on real nodes, and tampers with one).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from generator import certs, ledger
from generator.model import load
from generator.site.ledger_table import ledger_section
from tests.conftest import REPO, run_invoke, tree_digest

NAME = "ledger-test"


@pytest.fixture()
def rendered(tmp_path: Path):
    spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    spec["name"] = NAME
    spec.setdefault("certificates", {})["key"] = {"algo": "ecdsa", "size": 256}
    path = tmp_path / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump(spec))
    run_invoke("render", "--cluster", str(path))
    yield path, spec
    shutil.rmtree(REPO / "build" / NAME, ignore_errors=True)


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def test_every_certificate_in_the_build_is_in_the_ledger_as_openssl_reads_it(rendered) -> None:
    path, _ = rendered
    cluster = load(str(path))
    build = REPO / "build" / NAME
    on_disk = {str(p.relative_to(build)) for p in build.rglob("*.pem")
               if not p.name.endswith("-key.pem") and "BEGIN CERTIFICATE" in p.read_text()}
    on_disk |= {str(p.relative_to(build)) for p in build.rglob("*.kubeconfig")}
    entries = {e.file: e for e in ledger.load(cluster)}
    assert set(entries) == on_disk
    for name in ("pki/kube-apiserver.pem", "nodes/k8s-master-02/etc/kubernetes/pki/kube-scheduler.pem"):
        serial = openssl("x509", "-in", str(build / name), "-noout", "-serial").strip().split("=")[1]
        assert entries[name].serial == serial.lower().lstrip("0")
        assert entries[name].signed_by == "pki/ca.pem" and entries[name].kind == "certificate"
    assert entries["pki/ca.pem"].kind == "ca" and entries["pki/ca.pem"].signed_by == "pki/ca.pem"
    assert all(e.node is None for e in entries.values() if e.file.startswith("pki/"))


def test_restarts_follow_the_units_and_the_configs_they_name(rendered) -> None:
    path, _ = rendered
    entries = {e.file: e for e in ledger.load(load(str(path)))}
    node = "nodes/k8s-master-01"
    # named only in the KubeSchedulerConfiguration, which the unit names with --config
    assert entries[f"{node}/etc/kubernetes/kube-scheduler.kubeconfig"].restart == ["kube-scheduler"]
    assert entries[f"{node}/etc/kubernetes/kube-controller-manager.kubeconfig"].restart == [
        "kube-controller-manager"]
    assert entries[f"{node}/etc/kubernetes/pki/apiserver-etcd-client.pem"].restart == ["kube-apiserver"]
    # a new build has three trust domains: etcd and the apiserver's etcd client check etcd's own CA
    assert set(entries[f"{node}/etc/kubernetes/pki/ca.pem"].restart) == {
        "kube-apiserver", "kube-controller-manager", "kube-scheduler"}
    assert set(entries[f"{node}/etc/kubernetes/pki/etcd-ca.pem"].restart) == {"etcd", "kube-apiserver"}
    assert entries[f"{node}/etc/kubernetes/pki/apiserver-etcd-client.pem"].signed_by == "pki/etcd-ca.pem"
    assert entries["pki/admin.pem"].restart == []  # the workstation's own: nothing to restart


def test_a_reissued_certificate_reaches_the_ledger(rendered) -> None:
    path, spec = rendered
    before = {e.file: e.serial for e in ledger.load(load(str(path)))}
    spec["components"] = {"kube-apiserver": {"extra_sans": ["api.example.internal"]}}
    path.write_text(yaml.safe_dump(spec))
    run_invoke("render", "--cluster", str(path))
    after = {e.file: e for e in ledger.load(load(str(path)))}
    changed = {f for f in before if before[f] != after[f].serial}
    assert changed and all(f.endswith("/kube-apiserver.pem") for f in changed), changed
    assert "api.example.internal" in after["pki/kube-apiserver.pem"].sans


def copy_of(entry: ledger.Entry, build: Path, tmp: Path) -> ledger.Entry:
    """The entry, as if the node kept its file under `tmp` (the script reads absolute paths)."""
    target = tmp / entry.path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(build / entry.file, target)
    return ledger.Entry(**{**entry.__dict__, "path": str(target)})


def test_the_node_script_and_its_verdicts(rendered, tmp_path: Path) -> None:
    path, _ = rendered
    cluster = load(str(path))
    build = REPO / "build" / NAME
    mine = [e for e in ledger.load(cluster) if e.node == "k8s-master-01"]
    local = [copy_of(e, build, tmp_path) for e in mine]
    scheduler = next(e for e in local if e.path.endswith("/kube-scheduler.pem"))
    kubeconfig = next(e for e in local if e.path.endswith("/kube-scheduler.kubeconfig"))
    Path(kubeconfig.path).unlink()  # missing on the "node"
    shutil.copy(build / "pki/admin.pem", scheduler.path)  # replaced by hand
    out = subprocess.run(["sh", "-c", certs.node_script(local)], capture_output=True, text=True, check=True).stdout
    seen = {}
    for line in out.splitlines():
        match = certs.LINE.match(line)
        assert match, line
        seen[match["path"]] = {k: v for k, v in match.groupdict().items() if v}
    now = dt.datetime.now(dt.UTC)
    verdicts = {e.path: certs.judge(cluster, e, seen.get(e.path), now).problem for e in local}
    assert verdicts.pop(kubeconfig.path) == "MISSING on the node"
    assert verdicts.pop(scheduler.path) == "DIFFERS from the ledger"
    assert set(verdicts.values()) == {""}, verdicts
    renew = cluster.spec.certificates.renew_before_days
    leaf = next(e for e in local if e.path.endswith("/kube-apiserver.pem"))
    days = leaf.days_left(now)
    soon = now + dt.timedelta(days=days - renew + 1)
    assert certs.judge(cluster, leaf, seen[leaf.path], soon).problem.startswith("EXPIRES within")
    assert certs.judge(cluster, leaf, seen[leaf.path], now + dt.timedelta(days=days + 1)).problem == "EXPIRED"


def test_the_overview_table_warns_of_what_is_due(rendered) -> None:
    path, _ = rendered
    cluster = load(str(path))
    entries = ledger.load(cluster)
    now = dt.datetime.now(dt.UTC)
    fresh = [line for line in ledger_section(cluster, "en", now).splitlines() if line.startswith("<tr><td>")]
    assert fresh and not any("⚠" in row for row in fresh)
    later = now + dt.timedelta(days=min(e.days_left(now) for e in entries if e.kind != "ca") - 1)
    warned = ledger_section(cluster, "zh", later)
    rows = [line for line in warned.splitlines() if line.startswith("<tr><td>")]
    # a row per certificate and per kubeconfig carrying one (the same client certificate), CA rows unmarked
    assert sum("⚠" in row for row in rows) == len({(e.serial, e.kind) for e in entries if e.kind != "ca"})
    assert rows.index(next(r for r in rows if "⚠" in r)) == 0, "the soonest expiry comes first"


def tamper(body: dict, how: str) -> object:
    entry = body["entries"][0]
    if how == "entries-a-string":
        body["entries"] = "x"
    elif how == "kind-unknown":
        entry["kind"] = "<b>cert</b>"
    elif how == "not-after-garbage":
        entry["not_after"] = "tomorrow"
    elif how == "node-unknown":
        entry["node"], entry["file"] = "k8s-master-99", entry["file"].replace("k8s-master-01", "k8s-master-99")
    elif how == "sans-a-number":
        entry["sans"] = 7
    elif how == "missing-field":
        del entry["sha256"]
    elif how == "other-cluster":
        body["cluster"] = "example"
    elif how == "deep":
        entry["subject"] = json.loads("[" * 900 + "]" * 900)
    return body


@pytest.mark.parametrize(("how", "said"), [
    ("entries-a-string", "entries: 'x': expected a list"),
    ("kind-unknown", "entries[0].kind: '<b>cert</b>': one of ca, ca-bundle, certificate, kubeconfig"),
    ("not-after-garbage", "entries[0].not_after: 'tomorrow': a time in ISO 8601"),
    ("node-unknown", "entries[0].node: 'k8s-master-99': a node of"),
    ("sans-a-number", "entries[0].sans: 7: expected a list"),
    ("missing-field", "entries[0].sha256: (missing): required field"),
    ("other-cluster", f"cluster: 'example': '{NAME}', the cluster whose build holds it"),
    ("deep", "at most 32 levels of nesting"),
])
def test_a_tampered_ledger_is_one_line_naming_it(rendered, how: str, said: str) -> None:
    """Issue 23: a tampered ledger.json gave a traceback (`invoke certs`, the overview page)."""
    path, _ = rendered
    build = REPO / "build" / NAME
    ledger_file = build / "ledger.json"
    body = json.loads(ledger_file.read_text())
    body["entries"].sort(key=lambda e: e["node"] is None)  # a node's entry first: node-unknown needs one
    ledger_file.write_text(json.dumps(tamper(body, how)))
    before = tree_digest(build)
    proc = run_invoke("certs", "--cluster", str(path), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"error: {ledger_file}: ") and said in line, line
    assert line.endswith("render again: it writes the ledger anew from the build") and len(line) < 320, line
    assert tree_digest(build) == before
    assert run_invoke("render", "--cluster", str(path)).returncode == 0
    assert ledger.load(load(str(path)))  # the render wrote it anew


def test_the_overview_table_escapes_what_the_ledger_holds(rendered) -> None:
    # a subject is whatever the cluster file's names make it: the page must show it as text, never as markup (a
    # unit name is checked when the ledger is read: see test_a_tampered_ledger_is_one_line_naming_it)
    path, _ = rendered
    cluster = load(str(path))
    file = REPO / "build" / NAME / ledger.LEDGER
    body = json.loads(file.read_text())
    body["entries"][0]["subject"] = 'CN=<img src=x onerror="alert(1)">'
    file.write_text(json.dumps(body))
    table = ledger_section(cluster, "en")
    assert "<img" not in table and "<b>" not in table
    assert "CN=&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in table
