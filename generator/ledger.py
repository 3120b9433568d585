"""The certificate ledger: every certificate and kubeconfig a cluster uses, read back from its build tree.

`build/<cluster>/ledger.json` is rewritten by every render from the files render wrote (what gets pushed to the
nodes), never from memory: where each file lives (the workstation or which node, and its path there), subject,
SANs, serial, not-after, the CA that signed it, its sha256, and which services must restart when it changes
(those whose descriptor says they read it: generator/service.py). `invoke certs` compares the nodes' own files
with it over ssh.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from generator import daemons, yaml_text
from generator.artifacts import Artifact, build_dir
from generator.model import Cluster

LEDGER = "ledger.json"


@dataclass(frozen=True)
class Entry:
    file: str  # relative to build/<cluster>/
    node: str | None  # None: the workstation's own copy (pki/)
    path: str  # where it lives: the absolute path on the node, or the build path on the workstation
    kind: str  # "ca", "ca-bundle" (several CAs in one file: a CA rotation's), "certificate" or "kubeconfig"
    subject: str
    sans: list[str]
    serial: str  # a bundle's: every certificate's, in its order, joined by ","
    not_after: str  # ISO 8601, UTC; a bundle's: the earliest
    issuer: str
    signed_by: str  # the CA file (relative to build/<cluster>/) whose key signed it; itself for a CA
    sha256: str
    restart: list[str]

    def days_left(self, now: dt.datetime) -> float:
        return (dt.datetime.fromisoformat(self.not_after) - now).total_seconds() / 86400


def certificate_of(path: Path) -> tuple[x509.Certificate, str] | None:
    """The certificate a .pem or .kubeconfig file holds (a kubeconfig's client certificate; a bundle's first), and
    its kind."""
    text = path.read_text(errors="replace")
    if path.suffix == ".kubeconfig":
        users = (yaml_text.load(text) or {}).get("users") or [{}]
        data = (users[0].get("user") or {}).get("client-certificate-data")
        return (x509.load_pem_x509_certificate(base64.b64decode(data)), "kubeconfig") if data else None
    if path.name.endswith("-key.pem") or "BEGIN CERTIFICATE" not in text:
        return None
    certs = x509.load_pem_x509_certificates(text.encode())
    try:
        is_ca = certs[0].extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return certs[0], ("ca-bundle" if len(certs) > 1 else "ca") if is_ca else "certificate"


def serials_and_end(path: Path, cert: x509.Certificate, kind: str) -> tuple[str, dt.datetime]:
    """The serial and not-after of the file's certificate; of a bundle, all serials and the earliest not-after (the
    day a part of what it trusts stops being trusted)."""
    certs = x509.load_pem_x509_certificates(path.read_bytes()) if kind == "ca-bundle" else [cert]
    return ",".join(format(c.serial_number, "x") for c in certs), min(c.not_valid_after_utc for c in certs)


def names(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except x509.ExtensionNotFound:
        return []
    return [*ext.get_values_for_type(x509.DNSName), *(str(ip) for ip in ext.get_values_for_type(x509.IPAddress))]


def common_name(name: x509.Name) -> str:
    found = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(found[0].value) if found else name.rfc4514_string()


def key_id(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    return value.key_identifier if oid == ExtensionOID.AUTHORITY_KEY_IDENTIFIER else value.digest


def restarts(cluster: Cluster, node_name: str, absolute: str) -> list[str]:
    """The services on the node that read `absolute`, by name."""
    node = cluster.node(node_name)
    return sorted(s.unit for s in daemons.on_node(cluster, node) if absolute in s.read_files(cluster, node))


def entries(cluster: Cluster, rendered: set[str]) -> list[Entry]:
    """The certificates of the build tree that this render's artifacts (`rendered`, paths relative to the build)
    hold: a file an earlier render left behind (a rotation's ca-signer.pem after it finished) is not expected on
    the nodes."""
    root = build_dir(cluster)
    files = sorted((root / "pki").glob("*")) + sorted((root / "nodes").rglob("*"))
    read = [(f, found) for f in files if f.is_file() and f.suffix in (".pem", ".kubeconfig")
            and f.relative_to(root).as_posix() in rendered for found in [certificate_of(f)] if found]
    cas = {key_id(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER): f for f, (cert, kind) in read
           if kind == "ca" and f.parent == root / "pki"}
    result = []
    for f, (cert, kind) in read:
        rel = f.relative_to(root)
        node, path = None, str(rel)
        if rel.parts[0] == "nodes":
            node, path = rel.parts[1], "/" + "/".join(rel.parts[2:])
        signer = cas.get(key_id(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER) or b"")
        if kind in ("ca", "ca-bundle"):
            signer = cas.get(key_id(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER))
        serial, end = serials_and_end(f, cert, kind)
        result.append(Entry(
            file=str(rel), node=node, path=path, kind=kind, subject=cert.subject.rfc4514_string(),
            sans=names(cert), serial=serial, not_after=end.isoformat(), issuer=common_name(cert.issuer),
            signed_by=str(signer.relative_to(root)) if signer else "unknown",
            sha256=hashlib.sha256(f.read_bytes()).hexdigest(),
            restart=restarts(cluster, node, path) if node else [],
        ))
    return sorted(result, key=lambda e: (e.not_after, e.file))


def artifact(cluster: Cluster, rendered: set[str]) -> Artifact:
    """ledger.json for what is in the build tree now (no secrets in it: it is published beside the pages)."""
    body = {"cluster": cluster.name, "entries": [asdict(e) for e in entries(cluster, rendered)]}
    return Artifact(LEDGER, (json.dumps(body, indent=2) + "\n").encode(), "certificates", "ca")


def load(cluster: Cluster) -> list[Entry]:
    try:
        body = json.loads((build_dir(cluster) / LEDGER).read_text())
    except (OSError, ValueError):
        return []
    return [Entry(**e) for e in body.get("entries", [])]
