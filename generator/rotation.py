"""A CA rotation's phases, recorded in the build: which CA the verifiers trust and which one signs.

A rotation of the cluster CA goes through three phases, each entered by `invoke rotate-ca --phase P` and then
rendered by every later `invoke render` (so ordinary renders between the chapter's rounds keep producing the
phase's files):

- `trust`: a new CA is made beside the old one, once (`pki/ca-next.pem`, `pki/ca-next-key.pem`, key 0600), and the
  old pair is copied into `pki/archive/`. Every file that verifies with the cluster CA holds both: `pki/ca.pem`
  (old first, so it still pairs with `pki/ca-key.pem`), the nodes' `ca.pem`, every kubeconfig's CA data. The old
  CA still signs; the controller manager signs with a single-certificate copy of it (`ca-signer.pem` on the masters:
  kube-controller-manager refuses a signing file holding two certificates).
- `reissue`: the new CA signs: every leaf of the domain is issued again with its own key, and the controller
  manager's signing pair becomes the new CA's. The verifiers still trust both.
- `drop`: the new CA becomes `pki/ca.pem`/`pki/ca-key.pem` alone, and everything that verified with both trusts it
  alone: anything still holding a certificate the old CA signed is refused. The old pair stays in `pki/archive/`.

`pki/rotation.json` holds the phase reached; it only moves forward, so running the chapter again after it
succeeded changes nothing.
"""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

from generator import day2, pki, stored, writer
from generator.artifacts import Artifact, Existing, Outside, build_dir, ensure_root
from generator.errors import RunbookError
from generator.lock import cluster_lock
from generator.model import Cluster
from generator.schema import Problem

STATE = "pki/rotation.json"
Phase = Literal["trust", "reissue", "drop"]
PHASES: tuple[str, ...] = typing.get_args(Phase)
STATE_BYTES = 4096  # the product writes about 40
RESTORE = "restore it from backup: it records how far the CA rotation went, and a render never guesses"
ROTATED = pki.CLUSTER_CA  # the one CA a rotation replaces so far (day2_checks.ROTATABLE)
SIGNER = "ca-signer.pem"  # on the masters, during a rotation: the signing CA alone, for kube-controller-manager


def next_cert(ca: pki.CaSpec) -> str:
    return f"pki/{ca.name}-next.pem"


def next_key(ca: pki.CaSpec) -> str:
    return f"pki/{ca.name}-next-key.pem"


def archived(ca: pki.CaSpec, serial: str, suffix: str) -> str:
    return f"pki/archive/{ca.name}-{serial}{suffix}"


def first_pem(bundle: bytes) -> bytes:
    """The first certificate of a trust bundle (the pair's own); any other file as it is (check_ca judges it)."""
    try:
        certs = x509.load_pem_x509_certificates(bundle)
    except ValueError:
        return bundle
    return certs[0].public_bytes(serialization.Encoding.PEM) if len(certs) > 1 else bundle


def serial_of(cert_pem: bytes) -> str:
    return format(x509.load_pem_x509_certificate(cert_pem).serial_number, "x")


@dataclass(frozen=True)
class State:
    """pki/rotation.json: the CA a rotation replaces and the phase it reached."""

    authority: Literal["ca"]  # ROTATED.name: the one CA rotated so far
    phase: Phase


def read_state(root: Path) -> State | None:
    """The phase recorded under `root`, or None before any rotation. A file that is unreadable or not what
    `advance` writes stops everything with one line: taken for "no rotation", a render would quietly roll a
    rotation back (ca.pem the old CA alone, leaves re-issued by it). So does a missing file once the new CA exists."""
    path = root / STATE
    state = stored.load(path, State, STATE_BYTES, RESTORE)
    if state is None and any((root / rel).exists() or (root / rel).is_symlink()
                             for rel in (next_cert(ROTATED), next_key(ROTATED))):
        raise stored.StoredFileError(stored.line(str(path), [Problem("", "missing", f"the state of the CA rotation "
                                     f"that made {root / next_cert(ROTATED)}")], RESTORE))
    return state


def reached(root: Path) -> str | None:
    state = read_state(root)
    return state.phase if state else None


def phase(cluster: Cluster) -> str | None:
    """The phase in effect (trust or reissue), or None: no rotation, or one that reached `drop` (finished)."""
    now = reached(build_dir(cluster))
    return now if now in PHASES[:2] else None


def check_forward(existing: Existing, now: str, new_ca: bytes) -> None:
    """The build shows no later phase than the recorded one (phases only move forward: a state file set back by
    hand would have the next render undo what the rotation did on the nodes)."""
    path = existing.root / STATE
    later = ""
    if first_pem(existing.read(f"pki/{ROTATED.name}.pem") or b"") == new_ca:
        later = f"drop (pki/{ROTATED.name}.pem is the new CA alone)"
    elif now == "trust":
        new_key_id = pki.key_id(x509.load_pem_x509_certificate(new_ca), ExtensionOID.SUBJECT_KEY_IDENTIFIER)
        for leaf in sorted(existing.root.glob("pki/*.pem")):
            try:
                cert = x509.load_pem_x509_certificate(existing.read(f"pki/{leaf.name}") or b"")
            except (ValueError, Outside):
                continue  # a key, a bundle's second half, a file check_ca or pki.issue judges
            if leaf.name != f"{ROTATED.name}-next.pem" and \
                    pki.key_id(cert, ExtensionOID.AUTHORITY_KEY_IDENTIFIER) == new_key_id:
                later = f"reissue (pki/{leaf.name} is signed by the new CA)"
                break
    if later:
        raise stored.StoredFileError(stored.line(str(path), [Problem("phase", now, f"the phase the build is in; it "
                                     f"shows {later}, and phases only move forward")], RESTORE))


@dataclass(frozen=True)
class Rotating:
    """What a render needs of a rotation in progress: its phase and the new CA."""

    phase: str
    next: pki.Authority


def rotating(existing: Existing, cluster: Cluster) -> Rotating | None:
    """The rotation in effect for this render (None outside trust and reissue), its new CA checked as a pair."""
    now = phase(cluster)
    if now is None:
        return None
    cert, key = existing.read(next_cert(ROTATED)), existing.read(next_key(ROTATED))
    root = existing.root
    if not (cert and key):
        raise RunbookError(f"{root / STATE} says the CA rotation is in phase {now}, but {root / next_cert(ROTATED)} "
                           f"or {root / next_key(ROTATED)} is missing; restore both from backup")
    pki.check_ca(cert, key, str(root / next_cert(ROTATED)), str(root / next_key(ROTATED)))
    check_forward(existing, now, cert)
    return Rotating(now, pki.Authority(ROTATED, cert, key))


SAYS = {
    "trust": "every ca.pem and kubeconfig trusts the old and the new CA; the old one signs",
    "reissue": "the new CA signs (leaves issued again, same keys); everything still trusts both",
}


def notes(cluster: Cluster, now: Rotating | None) -> list[str]:
    """The render's line about a planned or running rotation (none when nothing is planned or running)."""
    if now is not None:
        return [f"{ROTATED.title}: rotation phase {now.phase}: {SAYS[now.phase]}"]
    if day2.planned(cluster) != day2.CA_ROTATION:
        return []
    if reached(build_dir(cluster)) == "drop":
        return [f"{ROTATED.title}: rotation done (phase drop reached; the old CA is in pki/archive/): delete the "
                "cluster file's ca_rotation section"]
    return [f"{ROTATED.title}: rotation planned, not started: the ca-rotation chapter starts it"]


def advance(cluster: Cluster, wanted: str) -> list[str]:
    """Enter phase `wanted` (one line per thing done), or say why nothing is to do; only ever forward."""
    if wanted not in PHASES:
        raise RunbookError(f"--phase {wanted!r}: one of {', '.join(PHASES)}")
    if day2.planned(cluster) != day2.CA_ROTATION:
        raise RunbookError(f"{cluster.source}: ca_rotation: plan the rotation first (`ca_rotation: {{authorities: "
                           "[cluster]}`), one change at a time")
    root = build_dir(cluster)
    ensure_root(root)
    with cluster_lock(cluster):
        writer.recover(root)
        done = reached(root)
        at = PHASES.index(done) if done else -1
        step = PHASES.index(wanted)
        existing = Existing(root)
        if done in PHASES[:2]:
            check_forward(existing, done, existing.read(next_cert(ROTATED)) or b"")
        if done == "drop":
            return [f"{ROTATED.title}: the rotation is done (phase drop reached): nothing to do; delete the "
                    "cluster file's ca_rotation section"]
        if step <= at:
            return [f"{ROTATED.title}: phase {done} reached already: nothing to do for {wanted}"]
        if step > at + 1:
            raise RunbookError(f"--phase {wanted}: run phase {PHASES[at + 1]} first (the rotation is "
                               f"{'not started' if at < 0 else f'in phase {done}'})")
        old_cert, old_key = existing.read(f"pki/{ROTATED.name}.pem"), existing.read(f"pki/{ROTATED.name}-key.pem")
        if not (old_cert and old_key):
            raise RunbookError(f"{root}/pki/{ROTATED.name}.pem: no CA to rotate; render and deploy the cluster first")
        own = first_pem(old_cert)
        pki.check_ca(own, old_key, str(root / f"pki/{ROTATED.name}.pem"), str(root / f"pki/{ROTATED.name}-key.pem"))
        # The key first, unchanged but for `drop`: it keeps pki/ a 0700 directory whatever else this writes.
        key_rel = f"pki/{ROTATED.name}-key.pem"
        files = [Artifact(key_rel, old_key, "ca", "ca", secret=True)]
        lines = []
        if wanted == "trust":
            serial = serial_of(own)
            files += [Artifact(archived(ROTATED, serial, ".pem"), own, "ca", "ca"),
                      Artifact(archived(ROTATED, serial, "-key.pem"), old_key, "ca", "ca", secret=True)]
            lines.append(f"{ROTATED.title}: copied the old pair into pki/archive/ (serial {serial}; never deleted)")
            if existing.read(next_cert(ROTATED)) or existing.read(next_key(ROTATED)):
                raise RunbookError(f"{root / next_cert(ROTATED)} exists before the rotation started: a new CA is made "
                                   "once and never replaced; move it away if it is not this rotation's")
            new = pki.make_ca(cluster, ROTATED)
            files += [Artifact(next_cert(ROTATED), new.cert_pem, "ca", "ca"),
                      Artifact(next_key(ROTATED), new.key_pem, "ca", "ca", secret=True)]
            lines.append(f"{ROTATED.title}: made the new CA {next_cert(ROTATED)} (serial {serial_of(new.cert_pem)}; "
                         f"back up {next_key(ROTATED)})")
        elif wanted == "drop":
            cert, key = existing.read(next_cert(ROTATED)), existing.read(next_key(ROTATED))
            if not (cert and key) or not existing.read(archived(ROTATED, serial_of(own), "-key.pem")):
                raise RunbookError(f"{root / next_cert(ROTATED)}, its key or the archived old pair is missing; "
                                   "restore them from backup before dropping the old CA")
            files = [Artifact(f"pki/{ROTATED.name}.pem", cert, "ca", "ca"),
                     Artifact(key_rel, key, "ca", "ca", secret=True)]
            lines.append(f"{ROTATED.title}: pki/{ROTATED.name}.pem is the new CA alone (the old one: "
                         f"{archived(ROTATED, serial_of(own), '.pem')})")
        files.append(Artifact(STATE, (json.dumps({"authority": ROTATED.name, "phase": wanted}) + "\n").encode(),
                              "ca", "ca"))
        writer.write_all(root, files)
        return [*lines, f"{ROTATED.title}: rotation phase {wanted} (recorded in {STATE}); render to write its files"]
