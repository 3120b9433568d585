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
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtensionOID, NameOID

from generator import daemons, stored, yaml_text
from generator.artifacts import Artifact, Existing, build_dir
from generator.model import Cluster
from generator.pki import key_id
from generator.schema import Problem

LEDGER = "ledger.json"
LEDGER_BYTES = 16 << 20  # 32 nodes' worth is about 1 MB
REWRITE = "render again: it writes the ledger anew from the build"
KINDS = ("ca", "ca-bundle", "certificate", "kubeconfig")
SERIALS = re.compile(r"[0-9a-f]{1,40}(,[0-9a-f]{1,40})*")
SHA256 = re.compile(r"[0-9a-f]{64}")
CA_FILE = re.compile(r"pki/[A-Za-z0-9._-]{1,200}\.pem")
UNIT_NAME = re.compile(r"[A-Za-z0-9@._-]{1,255}")
MAX_NAME = 4096  # a subject, issuer or SAN as shown on the overview


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


def certificate_of(name: str, content: bytes) -> tuple[x509.Certificate, str] | None:
    """The certificate a .pem or .kubeconfig file holds (a kubeconfig's client certificate; a bundle's first), and
    its kind."""
    text = content.decode(errors="replace")
    if name.endswith(".kubeconfig"):
        users = (yaml_text.load(text) or {}).get("users") or [{}]
        data = (users[0].get("user") or {}).get("client-certificate-data")
        return (x509.load_pem_x509_certificate(base64.b64decode(data)), "kubeconfig") if data else None
    if name.endswith("-key.pem") or "BEGIN CERTIFICATE" not in text:
        return None
    certs = x509.load_pem_x509_certificates(content)
    try:
        is_ca = certs[0].extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return certs[0], ("ca-bundle" if len(certs) > 1 else "ca") if is_ca else "certificate"


def serials_and_end(content: bytes, cert: x509.Certificate, kind: str) -> tuple[str, dt.datetime]:
    """The serial and not-after of the file's certificate; of a bundle, all serials and the earliest not-after (the
    day a part of what it trusts stops being trusted)."""
    certs = x509.load_pem_x509_certificates(content) if kind == "ca-bundle" else [cert]
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


def restarts(cluster: Cluster, node_name: str, absolute: str) -> list[str]:
    """The services on the node that read `absolute`, by name."""
    node = cluster.node(node_name)
    return sorted(s.unit for s in daemons.on_node(cluster, node) if absolute in s.read_files(cluster, node))


def entries(cluster: Cluster, tree: dict[str, bytes]) -> list[Entry]:
    """The certificates of the build as this render leaves it (`tree`: every file the render's artifacts name, by
    path relative to the build, with the content it has once written): a file an earlier render left behind (a
    rotation's ca-signer.pem after it finished) is not expected on the nodes."""
    read = [(rel, found) for rel in sorted(tree) if rel.endswith((".pem", ".kubeconfig"))
            and (rel.count("/") == 1 and rel.startswith("pki/") or rel.startswith("nodes/"))
            for found in [certificate_of(rel, tree[rel])] if found]
    cas = {key_id(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER): rel for rel, (cert, kind) in read
           if kind == "ca" and rel.startswith("pki/")}
    result = []
    for rel, (cert, kind) in read:
        parts = rel.split("/")
        node, path = None, rel
        if parts[0] == "nodes":
            node, path = parts[1], "/" + "/".join(parts[2:])
        signer = cas.get(key_id(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER) or b"")
        if kind in ("ca", "ca-bundle"):
            signer = cas.get(key_id(cert, ExtensionOID.SUBJECT_KEY_IDENTIFIER))
        serial, end = serials_and_end(tree[rel], cert, kind)
        result.append(Entry(
            file=rel, node=node, path=path, kind=kind, subject=cert.subject.rfc4514_string(),
            sans=names(cert), serial=serial, not_after=end.isoformat(), issuer=common_name(cert.issuer),
            signed_by=signer or "unknown", sha256=hashlib.sha256(tree[rel]).hexdigest(),
            restart=restarts(cluster, node, path) if node else [],
        ))
    return sorted(result, key=lambda e: (e.not_after, e.file))


def artifact(cluster: Cluster, artifacts: list[Artifact], written: list[Artifact]) -> Artifact:
    """ledger.json for the build as it is once `written` (a subset of the render's `artifacts`) is in place: computed
    before anything is written, so it goes in the render's one transaction (no secrets in it: it is published
    beside the pages)."""
    existing = Existing(build_dir(cluster))
    tree = {a.path: a.content for a in written}
    for a in artifacts:
        if a.path not in tree:
            content = existing.read(a.path)
            if content is not None:
                tree[a.path] = content
    body = {"cluster": cluster.name, "entries": [asdict(e) for e in entries(cluster, tree)]}
    return Artifact(LEDGER, (json.dumps(body, indent=2) + "\n").encode(), "certificates", "ca")


@dataclass(frozen=True)
class LedgerFile:
    """ledger.json as `artifact` writes it."""

    cluster: str
    entries: tuple[Entry, ...]


def check_entry(cluster: Cluster, where: str, entry: Entry) -> list[Problem]:
    """What `entries` would never have written: each field is shown on a page or used by `invoke certs`."""
    problems = []

    def bad(field: str, value: object, expected: str) -> None:
        problems.append(Problem(f"{where}.{field}", value, expected))

    parts = entry.file.split("/")
    if ".." in parts or "" in parts or not entry.file.endswith((".pem", ".kubeconfig")):
        bad("file", entry.file, "a .pem or .kubeconfig file under build/<cluster>/, no '..'")
    elif entry.node is None and (parts[0] != "pki" or len(parts) != 2 or entry.path != entry.file):
        bad("file", entry.file, "a file directly under pki/ (the workstation's copy), its `path` the same")
    elif entry.node is not None and (parts[:2] != ["nodes", entry.node] or entry.path != "/" + "/".join(parts[2:])):
        bad("path", entry.path, f"the path {entry.file} has on node {entry.node}")
    if entry.node is not None and entry.node not in {n.name for n in cluster.spec.nodes}:
        bad("node", entry.node, f"a node of {cluster.source} ({', '.join(n.name for n in cluster.spec.nodes)})")
    if entry.kind not in KINDS:
        bad("kind", entry.kind, "one of " + ", ".join(KINDS))
    try:
        expires = dt.datetime.fromisoformat(entry.not_after)
    except ValueError:
        expires = None
    if expires is None or expires.tzinfo is None:
        bad("not_after", entry.not_after, "a time in ISO 8601 with its UTC offset")
    if not SERIALS.fullmatch(entry.serial):
        bad("serial", entry.serial, "hexadecimal serials separated by ','")
    if not SHA256.fullmatch(entry.sha256):
        bad("sha256", entry.sha256, "64 hexadecimal digits")
    if entry.signed_by != "unknown" and not CA_FILE.fullmatch(entry.signed_by):
        bad("signed_by", entry.signed_by, "unknown or a CA file pki/<name>.pem")
    for i, unit in enumerate(entry.restart):
        if not UNIT_NAME.fullmatch(unit):
            bad(f"restart[{i}]", unit, "a systemd unit name (letters, digits and @._-)")
    for name, value in (("subject", entry.subject), ("issuer", entry.issuer), *(
            (f"sans[{i}]", san) for i, san in enumerate(entry.sans))):
        if len(value) > MAX_NAME or not value.isprintable():
            bad(name, value, f"printable text of at most {MAX_NAME} characters")
    return problems


def load(cluster: Cluster) -> list[Entry]:
    """The ledger's entries ([] before the first render); StoredFileError, one line naming the file, for one that is
    unreadable or not what a render writes (a tampered or truncated file would crash `invoke certs` and the page)."""
    return read(build_dir(cluster) / LEDGER, cluster)


def read(path: Path, cluster: Cluster) -> list[Entry]:
    """`load` of the ledger file at `path`."""

    def meaning(body: LedgerFile) -> list[Problem]:
        problems = []
        if body.cluster != cluster.name:
            problems.append(Problem("cluster", body.cluster, f"{cluster.name!r}, the cluster whose build holds it"))
        for i, entry in enumerate(body.entries):
            problems += check_entry(cluster, f"entries[{i}]", entry)
        return problems

    body = stored.load(path, LedgerFile, LEDGER_BYTES, REWRITE, meaning)
    return list(body.entries) if body else []
