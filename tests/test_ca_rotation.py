"""CA rotation without a lab: a temp cluster rendered through the three phases (trust, reissue, drop), each checked
with the real openssl against the CA files the verifiers hold; the CA keys never re-made; every re-render in every
phase changes nothing; the phases only move forward; the chapter, its destructive round and its cluster-file
section. The lab scenario is tests/test_lab_day2.py's."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from generator import catalog, deploy, ledger
from generator.model import ClusterFileError, load
from tests.conftest import REPO, cluster_file, run_invoke, tree_digest

NAME = "carot-test"
PLAN = "ca_rotation:\n  authorities: [cluster]\n"
MASTER = "k8s-master-01"


@pytest.fixture()
def planned(tmp_path: Path) -> Iterator[Path]:
    path = cluster_file(tmp_path, NAME, PLAN)
    run_invoke("render", "--cluster", str(path))
    yield path
    shutil.rmtree(REPO / "build" / NAME, ignore_errors=True)


def build() -> Path:
    return REPO / "build" / NAME


def node_file(rel: str) -> Path:
    return build() / "nodes" / MASTER / "etc/kubernetes" / rel


def openssl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=check)


def verifies(ca_file: Path, cert: Path) -> bool:
    return openssl("verify", "-CAfile", str(ca_file), str(cert), check=False).stdout.strip() == f"{cert}: OK"


def certificates_in(path: Path) -> int:
    return path.read_text().count("BEGIN CERTIFICATE")


def cluster_leaves() -> list[Path]:
    """The leaf certificates under pki/ whose issuer, as openssl reads it, is the cluster CA (both CAs of a rotation
    carry its name)."""
    found = []
    for path in sorted((build() / "pki").glob("*.pem")):
        if not path.read_text().startswith("-----BEGIN CERTIFICATE-----"):
            continue
        text = openssl("x509", "-in", str(path), "-noout", "-issuer", "-ext", "basicConstraints").stdout
        if "CN = kubernetes-ca" in text and "CA:TRUE" not in text:
            found.append(path)
    assert len(found) >= 5, found
    return found


def embedded_ca(kubeconfig: Path) -> bytes:
    body = yaml.safe_load(kubeconfig.read_text())
    return base64.b64decode(body["clusters"][0]["cluster"]["certificate-authority-data"])


def rerender_changes_nothing(path: Path) -> None:
    out = run_invoke("render", "--cluster", str(path)).stdout
    summary = out.strip().splitlines()[-1]
    assert re.fullmatch(rf"rendered {NAME} \(\S+\) into build/{NAME}/: \d+ unchanged", summary), out


def rotate(path: Path, phase: str) -> str:
    out = run_invoke("rotate-ca", "--cluster", str(path), "--phase", phase).stdout
    run_invoke("render", "--cluster", str(path))
    return out


def test_three_phases_checked_with_openssl(planned: Path, tmp_path: Path) -> None:
    pki = build() / "pki"
    old_ca, old_key = (pki / "ca.pem").read_bytes(), (pki / "ca-key.pem").read_bytes()
    old_leaves = {leaf.name: leaf.read_bytes() for leaf in cluster_leaves()}
    pubkeys = {leaf.name: openssl("x509", "-in", str(leaf), "-noout", "-pubkey").stdout for leaf in cluster_leaves()}
    kept_old = tmp_path / "old-admin.pem"
    shutil.copy(pki / "admin.pem", kept_old)
    old_file = tmp_path / "old-ca.pem"
    old_file.write_bytes(old_ca)

    # 1. trust both: the old CA still signs; every verifier holds old + new.
    out = rotate(planned, "trust")
    assert "made the new CA pki/ca-next.pem" in out
    new_file = pki / "ca-next.pem"
    new_ca, new_key = new_file.read_bytes(), (pki / "ca-next-key.pem").read_bytes()
    assert (pki / "ca-next-key.pem").stat().st_mode & 0o777 == 0o600
    bundle = node_file("pki/ca.pem")
    assert certificates_in(bundle) == 2 and bundle.read_bytes().startswith(old_ca)
    assert (pki / "ca.pem").read_bytes() == bundle.read_bytes() and (pki / "ca-key.pem").read_bytes() == old_key
    for leaf in cluster_leaves():
        assert leaf.read_bytes() == old_leaves[leaf.name], leaf
        assert verifies(bundle, leaf) and not verifies(new_file, leaf), leaf
    for kubeconfig in [pki / "admin.kubeconfig", node_file("kube-controller-manager.kubeconfig"),
                       node_file("kube-scheduler.kubeconfig")]:
        assert embedded_ca(kubeconfig) == bundle.read_bytes(), kubeconfig
    assert node_file("pki/ca-signer.pem").read_bytes() == old_ca and node_file("pki/ca-key.pem").read_bytes() == old_key
    unit = (build() / "nodes" / MASTER / "etc/systemd/system/kube-controller-manager.service").read_text()
    assert "--cluster-signing-cert-file=/etc/kubernetes/pki/ca-signer.pem" in unit
    rerender_changes_nothing(planned)

    # 2. re-issue: the new CA signs every leaf (same keys); the verifiers still hold both.
    rotate(planned, "reissue")
    assert new_file.read_bytes() == new_ca and (pki / "ca-next-key.pem").read_bytes() == new_key  # never re-made
    for leaf in cluster_leaves():
        assert leaf.read_bytes() != old_leaves[leaf.name], leaf
        assert openssl("x509", "-in", str(leaf), "-noout", "-pubkey").stdout == pubkeys[leaf.name], leaf
        assert verifies(bundle, leaf) and verifies(new_file, leaf) and not verifies(old_file, leaf), leaf
    assert verifies(bundle, kept_old)  # a certificate the old CA signed is still accepted in this phase
    assert node_file("pki/ca-signer.pem").read_bytes() == new_ca and node_file("pki/ca-key.pem").read_bytes() == new_key
    rerender_changes_nothing(planned)

    # 3. drop the old: the new CA alone, the old pair archived.
    out = rotate(planned, "drop")
    assert "is the new CA alone" in out
    assert certificates_in(bundle) == 1 and bundle.read_bytes() == new_ca
    assert (pki / "ca.pem").read_bytes() == new_ca and (pki / "ca-key.pem").read_bytes() == new_key
    archived = {p.name: p.read_bytes() for p in (pki / "archive").iterdir()}
    assert old_key in archived.values() and old_ca in archived.values()
    for leaf in cluster_leaves():
        assert verifies(bundle, leaf), leaf
    assert not verifies(bundle, kept_old)
    unit = (build() / "nodes" / MASTER / "etc/systemd/system/kube-controller-manager.service").read_text()
    assert "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.pem" in unit
    rerender_changes_nothing(planned)
    # ca-signer.pem stays in the build, unused: a master deployed from now on never gets it, so `invoke certs`
    # must not expect it there
    assert node_file("pki/ca-signer.pem").is_file()
    listed = {e.file for e in ledger.load(load(str(planned)))}
    assert f"nodes/{MASTER}/etc/kubernetes/pki/ca.pem" in listed
    assert not [f for f in listed if f.endswith("ca-signer.pem") or "ca-next" in f], listed

    # Running the chapter's first step again after success: done, nothing changes.
    again = run_invoke("rotate-ca", "--cluster", str(planned), "--phase", "trust").stdout
    assert "the rotation is done" in again and new_file.read_bytes() == new_ca
    rerender_changes_nothing(planned)


def test_phases_only_move_forward_and_need_a_plan(planned: Path, tmp_path: Path) -> None:
    skip = run_invoke("rotate-ca", "--cluster", str(planned), "--phase", "reissue", check=False)
    assert skip.returncode == 1 and "run phase trust first" in skip.stderr and len(skip.stderr.splitlines()) == 1
    rotate(planned, "trust")
    new_ca = (build() / "pki" / "ca-next.pem").read_bytes()
    again = run_invoke("rotate-ca", "--cluster", str(planned), "--phase", "trust").stdout
    assert "phase trust reached already" in again and (build() / "pki" / "ca-next.pem").read_bytes() == new_ca
    (tmp_path / "other").mkdir()
    unplanned = cluster_file(tmp_path / "other", NAME)
    refused = run_invoke("rotate-ca", "--cluster", str(unplanned), "--phase", "reissue", check=False)
    assert refused.returncode == 1 and "plan the rotation first" in refused.stderr
    # An ordinary render of the file without the section keeps the phase's files: the rotation is in progress.
    out = run_invoke("render", "--cluster", str(unplanned)).stdout
    assert "rotation phase trust" in out and certificates_in(node_file("pki/ca.pem")) == 2


def test_ledger_lists_a_bundle_with_both_serials(planned: Path) -> None:
    rotate(planned, "trust")
    entries = {e.file: e for e in ledger.load(load(str(planned)))}
    entry = entries[f"nodes/{MASTER}/etc/kubernetes/pki/ca.pem"]
    serials = [openssl("x509", "-in", str(p), "-noout", "-serial").stdout.strip().split("=")[1].lower()
               for p in (build() / "pki" / "archive").glob("ca-*[0-9a-f].pem")]
    serials.append(openssl("x509", "-in", str(build() / "pki" / "ca-next.pem"), "-noout", "-serial")
                   .stdout.strip().split("=")[1].lower())
    assert entry.kind == "ca-bundle" and entry.serial.split(",") == [s.lstrip("0") for s in serials]


def test_chapter_rounds_and_the_destructive_drop(tmp_path: Path) -> None:
    cluster = load(str(cluster_file(tmp_path, NAME, PLAN)))
    chapter = next(ch for ch in catalog.chapters(cluster) if ch.id == "ca-rotation")
    ids = [s.id for s in chapter.steps]
    assert ids[0].endswith("requests-start") and ids[-2].endswith("requests-stop")
    assert ids.index("ca-rotation.trust") < ids.index("ca-rotation.reissue") < ids.index("ca-rotation.drop")
    assert {s.id for s in chapter.steps if s.destructive} == {"ca-rotation.drop", "ca-rotation.drop-restart"}
    assert "ca-rotation.drop" in deploy.destructive_refusal(list(chapter.steps))
    assert all(ch.id != "renewal" for ch in catalog.chapters(cluster))  # one change at a time
    assert all(ch.id != "ca-rotation" for ch in catalog.chapters(load(str(cluster_file(tmp_path, "plain")))))


def test_the_destructive_round_says_so_on_both_pages(planned: Path) -> None:
    from generator.render import make_artifacts
    from generator.site.chapter import chapter_page

    model = load(str(planned))
    chapter = next(ch for ch in catalog.chapters(model) if ch.id == "ca-rotation")
    artifacts = {a.path: a for a in make_artifacts(model)[0]}
    for lang, title in (("zh", "不可撤销的操作"), ("en", "Cannot be undone")):
        page = chapter_page(chapter, artifacts, model, lang)
        assert page.count("!!! danger") == 2 and page.count(f'!!! danger "{title}"') == 2
        for step in ("ca-rotation-drop", "ca-rotation-drop-restart"):
            section = page.split(f"{{ #{step} }}", 1)[1].split("\n## ", 1)[0]
            assert "`--allow-destructive`" in section and "pki/archive/" in section


@pytest.mark.parametrize(("extra", "problem"), [
    ("ca_rotation:\n  authorities: [etcd]\n", "ca_rotation.authorities[0]: 'etcd': 'cluster' (rotating the etcd"),
    (PLAN + "upgrade:\n  from: 1.29.0\ncomponents:\n  etcd: {version: 3.5.16}\n",
     "ca_rotation: 'a CA rotation': none while an upgrade"),
])
def test_bad_plans_say_one_line(tmp_path: Path, extra: str, problem: str) -> None:
    with pytest.raises(ClusterFileError) as err:
        load(str(cluster_file(tmp_path, NAME, extra)))
    assert problem in str(err.value) and len(str(err.value).splitlines()) == 1


def refused_line(path: Path, *verb: str) -> str:
    """`verb` (render by default) refuses with one `error:` line and changes nothing under build/<cluster>/."""
    before = tree_digest(build())
    proc = run_invoke(*(verb or ("render",)), "--cluster", str(path), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stdout + proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.strip()]
    assert line.startswith("error: ") and len(line) < 320, line
    assert tree_digest(build()) == before
    return line.removeprefix("error: ")


@pytest.mark.parametrize(("state", "said"), [
    ('{"authority": "ca", "phase": "trsut"}', "phase: 'trsut': one of trust, reissue, drop"),
    ('{"authority": "ca", "phase": "trust"', "not JSON"),
    ('{"authority": "etcd-ca", "phase": "trust"}', "authority: 'etcd-ca': one of ca"),
    ("\xff", "not UTF-8"),
    ('{"authority": "ca", "phase": "trust", "started": 1}', "started: 1: unknown field"),
])
def test_an_unreadable_rotation_state_stops_the_render(planned: Path, state: str, said: str) -> None:
    """Issue 23: mid-rotation, a misspelled or broken pki/rotation.json was read as "no rotation" and the render
    silently rolled the rotation back (ca.pem the old CA alone, leaves re-issued by it)."""
    rotate(planned, "trust")
    (build() / "pki" / "rotation.json").write_bytes(state.encode("latin-1"))
    line = refused_line(planned)
    assert line.startswith(f"{build()}/pki/rotation.json: ") and said in line, line
    assert "restore it from backup" in line
    assert refused_line(planned, "rotate-ca", "--phase", "reissue") == line


def test_a_lost_rotation_state_stops_the_render(planned: Path) -> None:
    rotate(planned, "trust")
    (build() / "pki" / "rotation.json").unlink()
    line = refused_line(planned)
    assert line.startswith(f"{build()}/pki/rotation.json: <top>: 'missing': the state of the CA rotation that made "
                           f"{build()}/pki/ca-next.pem"), line


@pytest.mark.parametrize(("reach", "written", "shows"), [
    ("reissue", "trust", "reissue (pki/"),
    ("drop", "trust", "drop (pki/ca.pem is the new CA alone)"),
    ("drop", "reissue", "drop (pki/ca.pem is the new CA alone)"),
])
def test_a_phase_written_backwards_is_refused(planned: Path, reach: str, written: str, shows: str) -> None:
    phases = ("trust", "reissue", "drop")
    for phase in phases[:phases.index(reach) + 1]:
        rotate(planned, phase)
    (build() / "pki" / "rotation.json").write_text(json.dumps({"authority": "ca", "phase": written}))
    line = refused_line(planned)
    assert line.startswith(f"{build()}/pki/rotation.json: phase: {written!r}: the phase the build is in; it shows "
                           f"{shows}"), line
    assert "phases only move forward" in line
