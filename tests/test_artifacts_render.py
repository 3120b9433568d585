"""The rendered tree as files: every master gets its own, secrets are 0600 and the rest 0644, and rendering again
changes nothing, while a deleted certificate is re-issued alone (with what carries it, and the ledger).

Checked with the real tools (openssl) on build/example/ and on a renamed copy of clusters/example.yaml.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
from pathlib import Path

from conftest import REPO, run_invoke
from example_artifacts import EXAMPLE_FILE, find_one, node_dirs, openssl, run, serial_hex

# ---------------------------------------------------------------------------------------------------------------
# 1. each master's files


def test_every_master_has_its_files(example_build):
    for node in node_dirs(example_build).values():
        for name in ("ca.pem", "kube-scheduler.pem", "kube-scheduler-key.pem", "kube-scheduler.kubeconfig",
                     "kube-scheduler.yaml", "kube-scheduler.service"):
            find_one(node, name)


# ---------------------------------------------------------------------------------------------------------------
# 2. file modes


def must_be_secret(path: Path) -> bool:
    """Keys (cfssljson writes NAME-key.pem 0600), kubeconfigs (they embed a key), anything with a private key."""
    return path.name.endswith(("-key.pem", ".kubeconfig")) or b"PRIVATE KEY" in path.read_bytes()


def must_be_public(path: Path) -> bool:
    """Certificates, CSR/CA JSON and the scheduler's config: read by daemons and people, no secrets."""
    return (path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----") or path.suffix == ".json"
            or path.name == "kube-scheduler.yaml")


def must_be_root_only(path: Path) -> bool:
    """systemd units: no secret in them, but the CIS benchmark wants them 600 (1.1.x, 4.1.1) on the node."""
    return path.suffix in (".service", ".timer")


def test_secrets_are_0600_everything_else_0644(example_build):
    secret, public, root_only = [], [], []
    files = [p for p in sorted(example_build.rglob("*")) if p.is_file()]
    masters = node_dirs(example_build)
    for path in files:
        rel = path.relative_to(example_build)
        if rel.parts[0] == "nodes" and rel.parts[1] not in masters:
            continue  # not a master of this cluster file: left by some other render, not ours to judge
        assert not path.name.startswith("."), f"leftover temp file from an interrupted write: {rel}"
        mode = path.stat().st_mode & 0o777
        if must_be_secret(path):
            assert mode == 0o600, f"{rel}: {oct(mode)}"
            secret.append(rel)
        elif must_be_root_only(path):
            assert mode == 0o600, f"{rel}: {oct(mode)}"
            root_only.append(rel)
        elif must_be_public(path):
            assert mode == 0o644, f"{rel}: {oct(mode)}"
            public.append(rel)
        else:  # other kinds (e.g. a config holding a password) may be either, but never writable by others
            assert mode in (0o600, 0o644), f"{rel}: {oct(mode)}"
            if mode == 0o644:
                assert not re.search(rb"(?im)^\s*(- )?(secret|password|token):\s*\S", path.read_bytes()), rel
    names = {p.name for p in public}
    assert {"ca.pem", "admin.pem", "kube-scheduler.pem", "kube-scheduler.yaml", "ca-config.json"} <= names, names
    assert {"kube-scheduler.service", "kube-apiserver.service", "etcd.service", "etcd-backup.timer"} <= {
        p.name for p in root_only}
    assert {"ca-key.pem", "admin-key.pem", "kube-scheduler-key.pem", "admin.kubeconfig",
            "kube-scheduler.kubeconfig"} <= {p.name for p in secret}


# ---------------------------------------------------------------------------------------------------------------
# 3. idempotence


def snapshot(build: Path) -> dict[str, tuple[bytes, int, int]]:
    return {str(p.relative_to(build)): (p.read_bytes(), p.stat().st_mode & 0o777, p.stat().st_mtime_ns)
            for p in sorted(build.rglob("*")) if p.is_file()}


CHANGE_WORDS = re.compile(r"\b(created|updated|mode fixed|issued)\b")


def test_rendering_again_changes_nothing(example_build):
    run_invoke("render", "--cluster", "example")  # a first render of our own, then the one that must do nothing
    before = snapshot(example_build)
    proc = run_invoke("render", "--cluster", "example")
    assert not CHANGE_WORDS.search(proc.stdout), proc.stdout
    assert snapshot(example_build) == before  # same bytes, modes, and not even rewritten (mtime)


def test_deleting_one_leaf_reissues_only_it(tmp_path):
    name = f"vt-reissue-{os.getpid()}"
    cluster = tmp_path / f"{name}.yaml"
    cluster.write_text(re.sub(r"(?m)^name: .*$", f"name: {name}", EXAMPLE_FILE.read_text(encoding="utf-8")))
    build = REPO / "build" / name
    try:
        run_invoke("render", "--cluster", str(cluster))
        before = snapshot(build)
        old_cert = (build / "pki" / "kube-scheduler.pem").read_bytes()
        (build / "pki" / "kube-scheduler.pem").unlink()
        proc = run_invoke("render", "--cluster", str(cluster))
        after = snapshot(build)
        assert sorted(after) == sorted(before)
        new_cert = (build / "pki" / "kube-scheduler.pem").read_bytes()
        assert new_cert != old_cert
        old_serial = openssl("x509", "-noout", "-serial", stdin=old_cert.decode()).strip().removeprefix("serial=")
        assert serial_hex(build / "pki" / "kube-scheduler.pem") != old_serial  # a new certificate, not a copy
        # the CA and every key stay the very same bytes, and so does every other certificate
        for rel in after:
            if rel.endswith(("-key.pem", "ca.pem")) or rel == "pki/admin.pem":
                assert after[rel][0] == before[rel][0], rel
        # what changed is exactly what carried the old certificate (as PEM, or base64 inside a kubeconfig)
        carriers = {rel for rel, (data, _, _) in before.items()
                    if old_cert in data or base64.b64encode(old_cert) in data}
        changed = {rel for rel in after if after[rel][0] != before[rel][0]}
        # ... and the ledger, which describes every certificate: its entry now names the new serial
        assert changed == carriers | {"ledger.json"}
        entries = json.loads((build / "ledger.json").read_text())["entries"]
        scheduler = ("kube-scheduler.pem", "kube-scheduler.kubeconfig")
        serials = {e["serial"] for e in entries if e["file"].endswith(scheduler)}
        assert serials == {serial_hex(build / "pki" / "kube-scheduler.pem").lower().lstrip("0")}, serials
        assert "pki/kube-scheduler.pem" in changed and len(changed) > 1
        assert re.search(r"created\s+build/\S+/pki/kube-scheduler\.pem", proc.stdout), proc.stdout
        # same key, still valid against the same CA
        ca = str(build / "pki" / "ca.pem")
        assert run("openssl", "verify", "-CAfile", ca, str(build / "pki/kube-scheduler.pem")).stdout.endswith("OK\n")
        assert openssl("x509", "-in", str(build / "pki/kube-scheduler.pem"), "-noout", "-pubkey") == openssl(
            "pkey", "-in", str(build / "pki/kube-scheduler-key.pem"), "-pubout")
        # and once more: nothing left to do
        again = run_invoke("render", "--cluster", str(cluster))
        assert not CHANGE_WORDS.search(again.stdout), again.stdout
        assert snapshot(build) == after
    finally:
        shutil.rmtree(build, ignore_errors=True)
