"""Certificate renewal without a lab: what `invoke render --renew-all` re-issues (read back with the real openssl),
what a changed SAN re-issues and how the render says so, and which files the renewal chapter pushes for which
service, checked against the ledger's own record of which units read each file. The lab test
(tests/test_lab_deploy.py) runs the chapter on real nodes with a request loop through the VIP.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from generator import catalog, ledger
from generator.components.renewal.chapter import ID as RENEWAL
from generator.components.renewal.chapter import changes
from generator.model import load
from tests.conftest import REPO, cluster_file, run_invoke

NAME = "renewal-test"


@pytest.fixture()
def rendered(tmp_path: Path):
    path = cluster_file(tmp_path, NAME)
    run_invoke("render", "--cluster", str(path))
    yield path
    shutil.rmtree(REPO / "build" / NAME, ignore_errors=True)


def openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def leaf_certificates(build: Path) -> dict[str, tuple[str, str]]:
    """Every leaf certificate file in pki/ → (serial, public key), as openssl reads them."""
    found = {}
    for path in sorted((build / "pki").glob("*.pem")):
        text = path.read_text()
        if "BEGIN CERTIFICATE" not in text or "CA:TRUE" in openssl("x509", "-in", str(path), "-noout", "-text"):
            continue
        found[path.name] = (openssl("x509", "-in", str(path), "-noout", "-serial"),
                            openssl("x509", "-in", str(path), "-noout", "-pubkey"))
    return found


def test_renew_all_gives_every_leaf_a_new_serial_and_keeps_keys_and_cas(rendered: Path) -> None:
    build = REPO / "build" / NAME
    before = leaf_certificates(build)
    cas = {p.name: p.read_bytes() for p in (build / "pki").glob("*ca*.pem")}
    keys = {p.name: p.read_bytes() for p in (build / "pki").glob("*-key.pem")}
    assert len(before) >= 8 and len(cas) >= 6
    out = run_invoke("render", "--cluster", str(rendered), "--renew-all").stdout
    after = leaf_certificates(build)
    assert after.keys() == before.keys()
    for name, (serial, public) in before.items():
        assert after[name][0] != serial and after[name][1] == public, name
    assert {p.name: p.read_bytes() for p in (build / "pki").glob("*ca*.pem")} == cas
    assert {p.name: p.read_bytes() for p in (build / "pki").glob("*-key.pem")} == keys
    assert len(re.findall(r"certificate issued \(renewal requested\)$", out, re.MULTILINE)) == len(before)
    # A plain render afterwards keeps them all: renewal is done once, not on every render.
    again = run_invoke("render", "--cluster", str(rendered)).stdout
    assert re.search(r": \d+ unchanged$", again.strip()) and "certificate issued" not in again, again


def test_a_changed_node_ip_reissues_exactly_the_certificates_that_name_it(rendered: Path) -> None:
    cluster = load(str(rendered))
    old_ip, new_ip = cluster.masters[-1].ip, "192.168.1.216"
    before = {e.file: e for e in ledger.load(cluster)}
    naming = {f for f, e in before.items() if old_ip in e.sans}
    assert {"pki/kube-apiserver.pem", f"nodes/{cluster.masters[-1].name}/etc/kubernetes/pki/etcd-server.pem"} <= naming
    rendered.write_text(rendered.read_text().replace(f"ip: {old_ip}", f"ip: {new_ip}"))
    out = run_invoke("render", "--cluster", str(rendered)).stdout
    after = {e.file: e for e in ledger.load(load(str(rendered)))}
    assert {f for f in before if after[f].serial != before[f].serial} == naming
    assert all(new_ip in after[f].sans and old_ip not in after[f].sans for f in naming)
    # One note per re-issued certificate, saying which SANs came and went.
    reasons = re.findall(r"^  note: \S+: certificate issued \((.*)\)$", out, re.MULTILINE)
    assert len(reasons) == len({before[f].serial for f in naming}), out
    assert set(reasons) == {f"SANs changed: +IP:{new_ip} -IP:{old_ip}"}, out


def test_the_chapter_pushes_for_each_service_what_the_ledger_says_restarts_it(rendered: Path) -> None:
    cluster = load(str(rendered))
    by_node = {node.name: {c.unit: set(c.files) for c in changes(cluster, node)} for node in cluster.control_plane}
    assert set(by_node) == {n.name for n in cluster.masters} | {n.name for n in cluster.etcd_members}
    checked = 0
    for entry in ledger.load(cluster):
        for unit in entry.restart:
            assert entry.node is not None
            assert entry.path in by_node[entry.node][unit], (entry.node, unit, entry.path)
            checked += 1
    assert checked >= 10 * len(cluster.masters)
    # Only certificates, keys and kubeconfigs: units and configs are another change's to push.
    pushed = {f for units in by_node.values() for files in units.values() for f in files}
    assert pushed and all(f.endswith((".pem", ".kubeconfig")) for f in pushed)
    readers = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")  # etcd first: the apiserver's
    assert all(list(units) == [u for u in readers if u in units] for units in by_node.values())
    assert {u for units in by_node.values() for u in units} == set(readers)


def test_the_chapter_exists_only_while_no_other_change_is_planned() -> None:
    plain = [ch.id for ch in catalog.chapters(load("example"))]
    assert plain[-1] == RENEWAL
    for planned in ("example-upgrade", "example-grow", "example-rotate"):
        assert RENEWAL not in [ch.id for ch in catalog.chapters(load(planned))], planned


def test_renewal_notebook_steps_are_the_chapter_steps() -> None:
    notebook = json.loads((REPO / "notebooks" / "renewal.ipynb").read_text())
    cells = [c["source"] if isinstance(c["source"], str) else "".join(c["source"]) for c in notebook["cells"]]
    ids = [m for cell in cells for m in re.findall(r'^step\("([^"]+)"\)$', cell)]
    chapter = next(ch for ch in catalog.chapters(load("example")) if ch.id == RENEWAL)
    assert ids == [s.id for s in chapter.steps]
    assert ids[1].endswith("requests-start") and ids[-2].endswith("requests-stop")
