"""The rendered example cluster as the tests/test_artifacts_*.py modules read it, with the tools a reader would use.

What more than one of those modules needs, and only that: the example's cluster file and the identities the built-in
RBAC names, `run` and `openssl`, where each master's files are, and a client certificate that some other CA signs.
Expectations come from the cluster file (clusters/example.yaml) and from upstream Kubernetes facts written out by hand,
never from the generator's own tables.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import yaml
from conftest import REPO
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

EXAMPLE_FILE = REPO / "clusters" / "example.yaml"
EXAMPLE = yaml.safe_load(EXAMPLE_FILE.read_text(encoding="utf-8"))
DEFAULT_ROLES = ("master", "etcd")  # a node without `roles` is a stacked master (README: smallest valid file)
MASTERS = [n for n in EXAMPLE["nodes"] if "master" in n.get("roles", DEFAULT_ROLES)]
SCHEDULER_USER = "system:kube-scheduler"  # the CN the built-in RBAC binds (system:kube-scheduler ClusterRole)
ADMIN_GROUP = "system:masters"  # the group the built-in cluster-admin binding names


def run(*cmd: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, **kwargs)
    if check:
        assert proc.returncode == 0, f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def openssl(*args: str, stdin: str | None = None) -> str:
    return run("openssl", *args, input=stdin).stdout


def key_of(cert: Path) -> Path:
    return cert.with_name(f"{cert.stem}-key.pem")


def node_dirs(build: Path) -> dict[str, Path]:
    """build/<cluster>/nodes/<master>/ for each master of the cluster file (a stale extra directory is ignored)."""
    dirs = {n["name"]: build / "nodes" / n["name"] for n in MASTERS}
    for name, path in dirs.items():
        assert path.is_dir(), f"no files rendered for master {name}"
    return dirs


def find_one(root: Path, name: str) -> Path:
    hits = sorted(root.rglob(name))
    assert len(hits) == 1, f"expected exactly one {name} under {root}, found {hits}"
    return hits[0]


def serial_hex(cert: Path) -> str:
    return openssl("x509", "-in", str(cert), "-noout", "-serial").strip().removeprefix("serial=")


def foreign_client_cert(cn: str, signer: tuple[bytes, bytes] | None = None) -> tuple[bytes, bytes]:
    """A clientAuth certificate for `cn`, signed by `signer` (cert, key PEM) or by a throw-away CA of its own."""
    now = dt.datetime.now(dt.UTC)
    if signer is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "some-other-ca")])
        ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(ca_key, hashes.SHA256()))
        issuer, signing_key = ca_cert.subject, ca_key
    else:
        issuer = x509.load_pem_x509_certificate(signer[0]).subject
        signing_key = serialization.load_pem_private_key(signer[1], password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ADMIN_GROUP),
                                     x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(signing_key, hashes.SHA256()))  # type: ignore[arg-type]
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
