"""Renders that meet a bad build directory, through the real `invoke render`: a write error, a hostile umask, a
symlink out of the tree, a CA that is not the one the leaves came from, a render killed half-way through its
commit. Each ends in one clear line or a repaired build, and certificates are checked with openssl."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import (
    INVOKE,
    REPO,
    assert_certificates_verify,
    certificates,
    cluster_file,
    run_invoke,
    tree_digest,
)

from generator.artifacts import PUBLIC, Artifact
from generator.writer import JOURNAL


@pytest.fixture
def rendered(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A cluster rendered by the real task: (cluster file, build directory), removed afterwards."""
    name = f"faults-{uuid.uuid4().hex[:8]}"
    source = cluster_file(tmp_path, name)
    run_invoke("render", "--cluster", str(source))
    yield source, REPO / "build" / name
    shutil.rmtree(REPO / "build" / name, ignore_errors=True)


def one_error(proc: subprocess.CompletedProcess) -> str:
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in output, output
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    return errors[0]


def leftovers(build: Path) -> list[Path]:
    return [p for p in build.rglob("*") if p.name.endswith(".partial") or p.name == JOURNAL]


def limit_file_size() -> None:
    """In the child: files may not grow past 4 KiB (kubeconfigs are bigger), and EFBIG is an error, not a signal."""
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_a_write_error_half_way_changes_nothing_and_names_the_file(rendered: tuple[Path, Path]) -> None:
    """Every leaf is to be issued again (another OU); writing fails at the first kubeconfig, after several certificates
    were already written to temp files (root ignores permissions, a file-size limit does not)."""
    source, build = rendered
    source.write_text(source.read_text() + "certificates:\n  subject: {OU: Elsewhere}\n")
    before = tree_digest(build)

    proc = subprocess.run([*INVOKE, "render", "--cluster", str(source)], cwd=REPO, capture_output=True, text=True,
                          preexec_fn=limit_file_size)

    error = one_error(proc)
    assert ".kubeconfig" in error and "File too large" in error and f"nothing was changed in {build}" in error
    assert tree_digest(build) == before
    assert not leftovers(build)
    again = run_invoke("render", "--cluster", str(source))
    assert "updated" in again.stdout and not leftovers(build)
    assert_certificates_verify(build)


def test_directory_modes_do_not_depend_on_the_umask(tmp_path: Path) -> None:
    name = f"faults-{uuid.uuid4().hex[:8]}"
    build = REPO / "build" / name
    try:
        subprocess.run([*INVOKE, "render", "--cluster", str(cluster_file(tmp_path, name))], cwd=REPO, check=True,
                       capture_output=True, preexec_fn=lambda: os.umask(0))
        assert build.stat().st_mode & 0o777 == 0o700
        for path in build.rglob("*"):
            mode = path.stat().st_mode & 0o777
            if path.is_dir():
                # units are 0600 too (CIS) but hold no secret: their directory stays 0755
                holds_secret = any(f.is_file() and f.stat().st_mode & 0o777 == 0o600
                                   and f.suffix not in (".service", ".timer") for f in path.iterdir())
                assert mode == (0o700 if holds_secret else 0o755), f"{path}: {oct(mode)}"
            else:
                assert mode in (0o600, 0o644), f"{path}: {oct(mode)}"
        assert (build / "cluster.lock").stat().st_mode & 0o777 == 0o600
    finally:
        shutil.rmtree(build, ignore_errors=True)


def test_a_symlink_out_of_the_build_tree_is_refused(rendered: tuple[Path, Path], tmp_path: Path) -> None:
    source, build = rendered
    outside = tmp_path / "outside"
    outside.mkdir()
    config = build / "nodes" / "k8s-master-01" / "etc" / "kubernetes"
    shutil.rmtree(config)
    config.symlink_to(outside)
    (build / "environment.sh").unlink()
    (build / "environment.sh").symlink_to(tmp_path / "profile")
    (tmp_path / "profile").write_text("mine\n")
    before = tree_digest(build)

    error = one_error(run_invoke("render", "--cluster", str(source), check=False))

    assert "symlink" in error and ("environment.sh" in error or str(config) in error), error
    assert not any(outside.iterdir()) and (tmp_path / "profile").read_text() == "mine\n"
    assert tree_digest(build) == before


def test_a_ca_certificate_of_another_key_is_one_line(rendered: tuple[Path, Path], tmp_path: Path) -> None:
    """Restoring the wrong ca.pem: refused, naming both files and the fix; nothing changes."""
    source, build = rendered
    other = cluster_file(tmp_path, f"faults-other-{uuid.uuid4().hex[:8]}")
    other_build = REPO / "build" / other.stem
    try:
        run_invoke("render", "--cluster", str(other))
        shutil.copy(other_build / "pki" / "ca.pem", build / "pki" / "ca.pem")
        before = tree_digest(build)
        error = one_error(run_invoke("render", "--cluster", str(source), check=False))
        assert f"{build}/pki/ca.pem was not made from {build}/pki/ca-key.pem" in error
        assert "restore both from the same backup" in error
        assert tree_digest(build) == before
    finally:
        shutil.rmtree(other_build, ignore_errors=True)


def test_leaves_of_another_ca_with_the_same_name_are_issued_again(rendered: tuple[Path, Path],
                                                                  tmp_path: Path) -> None:
    """Another CA's pair, same subject (issue 9: every later render crashed on x509.InvalidSignature)."""
    source, build = rendered
    other = cluster_file(tmp_path, f"faults-other-{uuid.uuid4().hex[:8]}")
    other_build = REPO / "build" / other.stem
    try:
        run_invoke("render", "--cluster", str(other))
        for name in ("ca.pem", "ca-key.pem"):
            shutil.copy(other_build / "pki" / name, build / "pki" / name)
        proc = run_invoke("render", "--cluster", str(source))
        # named by its key identifier ("signed by another cluster CA than pki/ca.pem"), or by its signature
        reissued = [line for line in proc.stdout.splitlines() if "certificate issued" in line and "pki/ca.pem" in line]
        # the cluster CA's leaves, not the etcd and front-proxy CAs' (their own pairs were not touched)
        signed = [leaf for leaf, ca in certificates(build).items() if ca.name == "ca.pem"]
        assert len(reissued) == len(signed) and len(signed) < len(certificates(build)), proc.stdout
        assert_certificates_verify(build)
    finally:
        shutil.rmtree(other_build, ignore_errors=True)


def test_a_render_killed_between_the_ca_files_is_finished(rendered: tuple[Path, Path]) -> None:
    """The state a kill -9 between the two renames of the CA leaves (issue 9: ca.pem without ca-key.pem, or the
    reverse, then "restore it from backup" forever): the next render finishes it and says so."""
    source, build = rendered
    ca = (build / "pki" / "ca.pem").read_bytes()
    temp = build / "pki" / ".ca.pem.k1ll3d.partial"
    (build / "pki" / "ca.pem").rename(temp)
    (build / JOURNAL).write_text(f'[["pki/{temp.name}", "pki/ca.pem"]]')

    proc = run_invoke("render", "--cluster", str(source))

    assert "the previous render was killed while putting its files in place; finished it (1 file(s))" in proc.stdout
    assert (build / "pki" / "ca.pem").read_bytes() == ca
    assert not leftovers(build)
    assert_certificates_verify(build)


def test_half_a_ca_without_a_journal_is_one_line(rendered: tuple[Path, Path]) -> None:
    source, build = rendered
    (build / "pki" / "ca-key.pem").unlink()
    before = tree_digest(build)
    error = one_error(run_invoke("render", "--cluster", str(source), check=False))
    assert f"{build}/pki/ca-key.pem is missing but {build}/pki/ca.pem exists; restore the pair" in error
    assert tree_digest(build) == before


@pytest.mark.parametrize(("path", "content", "secret", "public"), [
    ("pki/admin.pem", b"-----BEGIN CERTIFICATE-----", False, True),
    ("nodes/a/etc/systemd/system/etcd.service", b"[Unit]", False, True),
    ("pki/admin-key.pem", b"-----BEGIN EC PRIVATE KEY-----", True, False),
    ("pki/admin-key.pem", b"not flagged, still a key name", False, False),
    ("nodes/a/etc/kubernetes/admin.kubeconfig", b"apiVersion: v1", False, False),
    ("pki/odd.pem", b"-----BEGIN RSA PRIVATE KEY-----", False, False),
    ("nodes/a/etc/kubernetes/encryption-config.yaml", b"kind: EncryptionConfiguration", False, False),
    ("environment.sh", b"SSH_USER=kube", False, True),
])
def test_only_allow_listed_artifacts_are_public(path: str, content: bytes, secret: bool, public: bool) -> None:
    assert PUBLIC, "the allow-list is empty"
    assert Artifact(path, content, "x", "config", secret).public is public


@pytest.mark.parametrize("journal", ['[["../../outside.partial", "../../outside"]]', '[["pki/.x.partial"]]', "{"])
def test_a_tampered_journal_is_refused_in_one_line(rendered: tuple[Path, Path], tmp_path: Path,
                                                   journal: str) -> None:
    """The journal is data on disk: it can move nothing outside the tree, and a broken one is one clear line."""
    source, build = rendered
    (build / JOURNAL).write_text(journal)
    before = tree_digest(build, REPO / "docs")
    error = one_error(run_invoke("render", "--cluster", str(source), check=False))
    assert str(build / JOURNAL) in error or "not a plain relative path" in error, error
    assert tree_digest(build, REPO / "docs") == before


def test_a_disk_that_fills_at_the_ledger_changes_nothing(rendered: tuple[Path, Path]) -> None:
    """Issue 23: the ledger was a second transaction: a disk full at ledger.json left the re-issued certificates
    written and said "nothing was changed". Here a new SAN re-issues kube-apiserver's certificate (small files) and
    the ledger (40 KB) is the one file past the limit: the render is one transaction, the message true."""
    source, build = rendered
    source.write_text(source.read_text() + "components:\n  kube-apiserver:\n    extra_sans: [api.example.com]\n")
    assert (build / "ledger.json").stat().st_size > 16384
    before = tree_digest(build)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (16384, 16384))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)

    proc = subprocess.run([*INVOKE, "render", "--cluster", str(source)], cwd=REPO, capture_output=True, text=True,
                          preexec_fn=limit)

    error = one_error(proc)
    assert error == f"error: {build}/ledger.json: File too large; nothing was changed in {build}", error
    assert tree_digest(build) == before and not leftovers(build)
    again = run_invoke("render", "--cluster", str(source))
    assert "updated   build/" in again.stdout and "ledger.json" in again.stdout and not leftovers(build)


def test_a_build_directory_that_is_a_symlink_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    """Issue 23: build/<name> as a symlink had a render write its 167 files, CA keys included, where it pointed."""
    name = f"faults-{uuid.uuid4().hex[:8]}"
    source = cluster_file(tmp_path, name)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    build = REPO / "build" / name
    build.symlink_to(elsewhere)
    try:
        before = tree_digest(REPO / "build")
        error = one_error(run_invoke("render", "--cluster", str(source), check=False))
        assert error == f"error: {build}: a symlink (to {elsewhere}), not a directory: everything of this cluster is " \
                        f"written into a real build/{name}/ only; move it away"
        assert not any(elsewhere.iterdir()) and tree_digest(REPO / "build") == before
    finally:
        build.unlink()


def test_a_file_where_the_build_directory_goes_is_refused(tmp_path: Path) -> None:
    name = f"faults-{uuid.uuid4().hex[:8]}"
    source = cluster_file(tmp_path, name)
    build = REPO / "build" / name
    build.write_text("not a directory\n")
    try:
        error = one_error(run_invoke("render", "--cluster", str(source), check=False))
        assert error.startswith(f"error: {build}: a file") and build.read_text() == "not a directory\n", error
    finally:
        build.unlink()


@pytest.mark.parametrize("where", ["pki", "nodes/k8s-master-02/etc"])
def test_a_file_where_a_directory_goes_is_refused_before_anything_is_written(rendered: tuple[Path, Path],
                                                                             where: str) -> None:
    source, build = rendered
    source.write_text(source.read_text() + "certificates:\n  subject: {OU: Elsewhere}\n")  # every leaf changes
    shutil.rmtree(build / where)
    (build / where).write_text("a file\n")
    before = tree_digest(build)
    error = one_error(run_invoke("render", "--cluster", str(source), check=False))
    assert error.startswith(f"error: {build / where}: expected a directory, found a file"), error
    assert tree_digest(build) == before


@pytest.mark.parametrize("kind", ["symlink", "directory", "fifo", "hard link"])
def test_a_lock_file_that_is_no_lock_file_is_refused(rendered: tuple[Path, Path], tmp_path: Path, kind: str) -> None:
    source, build = rendered
    lock, outside = build / "cluster.lock", tmp_path / "precious"
    outside.write_text("keep me\n")
    lock.unlink()
    if kind == "symlink":
        lock.symlink_to(outside)
    elif kind == "directory":
        lock.mkdir()
    elif kind == "fifo":
        os.mkfifo(lock)
    else:
        os.link(outside, lock)
    kept = outside.stat().st_mtime_ns
    before = tree_digest(build)
    error = one_error(run_invoke("render", "--cluster", str(source), check=False))
    found = {"symlink": "a symlink", "directory": "a directory", "fifo": "a FIFO (named pipe)",
             "hard link": "a hard link to another file"}[kind]
    assert error == f"error: {lock}: {found}, not a lock file; move it away (a run makes its own)"
    assert tree_digest(build) == before and outside.read_text() == "keep me\n" and outside.stat().st_mtime_ns == kept


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="mounts need root (CI runs as root)")
def test_a_file_system_mounted_in_the_build_is_refused(rendered: tuple[Path, Path]) -> None:
    """In a private mount namespace (nothing outside this test sees the mount): a tmpfs over build/<name>/pki."""
    source, build = rendered
    source.write_text(source.read_text() + "certificates:\n  subject: {OU: Elsewhere}\n")
    before = tree_digest(build)
    script = (f"mount -t tmpfs runbook-test {build / 'pki'} && "
              f"exec {' '.join(INVOKE)} render --cluster {source}")
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=REPO,
                          capture_output=True, text=True)
    error = one_error(proc)
    assert error.startswith(f"error: {build / 'pki'}: another file system is mounted here"), error
    assert tree_digest(build) == before
