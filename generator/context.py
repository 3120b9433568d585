"""What a component needs to make its artifacts: the cluster, its CAs, and earlier files to reuse."""

from __future__ import annotations

import copy
from collections.abc import Callable

from generator import pki, rotation, trust
from generator.artifacts import Artifact, Existing
from generator.errors import RunbookError
from generator.model import Cluster
from generator.writer import JOURNAL


class RenderContext:
    def __init__(self, cluster: Cluster, existing: Existing, renew_all: bool = False) -> None:
        self.cluster = cluster
        self.existing = existing
        self.renew_all = renew_all  # every leaf certificate gets a new serial and validity (its key stays)
        self.layout = trust.layout(cluster)
        self.notes: list[str] = []
        note = trust.layout_note(cluster)
        if note:
            self.notes.append(note)
        # Keyed by the whole spec: a sibling context (below) may ask for another version of the same certificate.
        self._issued: dict[pki.CertSpec, pki.Issued] = {}
        self._secrets: dict[str, bytes] = {}
        # The pairs at pki/<ca>.pem, and a CA rotation in progress (its new CA signs from the reissue phase on).
        self.authorities = tuple(self._load_or_make(ca) for ca in trust.authorities(self.layout))
        self.rotation = rotation.rotating(existing, cluster)
        self.notes += rotation.notes(cluster, self.rotation)

    def _load_or_make(self, ca: pki.CaSpec) -> pki.Authority:
        """The CA from an earlier render (checked as a pair), or a new one: made once, never re-made."""
        cert_rel, key_rel = f"pki/{ca.name}.pem", f"pki/{ca.name}-key.pem"
        root = self.existing.root
        cert, key = self.existing.read(cert_rel), self.existing.read(key_rel)
        if cert and key:
            cert = rotation.first_pem(cert)  # mid-rotation pki/<ca>.pem holds the new CA too
            pki.check_ca(cert, key, str(root / cert_rel), str(root / key_rel))
            return pki.Authority(ca, cert, key)
        if cert or key:
            # Half a CA is never silently replaced: every certificate of its domain hangs on it. (Renders write
            # the pair in one transaction, so only a hand-made change gets here.)
            missing, present = (key_rel, cert_rel) if cert else (cert_rel, key_rel)
            if (root / JOURNAL).exists():
                raise RunbookError(f"{root / missing} is not in place yet: a render was killed while writing the CA; "
                                   "`invoke render` for this cluster finishes it")
            raise RunbookError(f"{root / missing} is missing but {root / present} exists; restore the pair from "
                               "backup (a new CA would invalidate every certificate it signed on the nodes)")
        self.notes.append(f"{ca.title}: created a new CA (back up {key_rel})")
        return pki.make_ca(self.cluster, ca)

    def pair(self, ca: pki.CaSpec) -> pki.Authority:
        return next(a for a in self.authorities if a.spec == ca)

    def authority(self, domain: pki.CaSpec) -> pki.Authority:
        """The CA that signs `domain`'s certificates in this build's layout (a rotation's new CA once it reissues)."""
        wanted = trust.signer(self.layout, domain)
        if self.rotation and self.rotation.next.spec == wanted and self.rotation.phase == "reissue":
            return self.rotation.next
        return self.pair(wanted)

    def trusted(self, ca: pki.CaSpec) -> bytes:
        """What verifies with `ca` holds: its certificate, and a rotation's new CA after it while one is in progress
        (the pair's own certificate first, so pki/<ca>.pem still goes with pki/<ca>-key.pem)."""
        own = self.pair(ca).cert_pem
        return own + self.rotation.next.cert_pem if self.rotation and self.rotation.next.spec == ca else own

    @property
    def ca_cert(self) -> bytes:
        """The cluster CA's certificates: what kubeconfigs embed and the API's clients trust."""
        return self.trusted(trust.signer(self.layout, pki.CLUSTER_CA))

    @property
    def ca_key(self) -> bytes:
        return self.authority(pki.CLUSTER_CA).key_pem

    def sibling(self, cluster: Cluster) -> RenderContext:
        """A context for the same cluster in another shape (the release or the members it runs before a planned
        change), to compare two renders in memory: the same CA, secrets and existing files, and the same
        certificate wherever the two ask for the same spec. Its notes are its own; nothing it makes is written."""
        other = copy.copy(self)
        other.cluster, other.notes = cluster, []
        return other

    def certificate(self, spec: pki.CertSpec) -> pki.Issued:
        if spec not in self._issued:
            old_cert = self.existing.read(f"pki/{spec.name}.pem")
            old_key = self.existing.read(f"pki/{spec.name}-key.pem")
            issued = pki.issue(self.cluster, self.authority(spec.ca), spec, old_cert, old_key, self.renew_all)
            if issued.note != "kept":
                self.notes.append(f"{spec.name}: certificate issued ({issued.note})")
            self._issued[spec] = issued
        return self._issued[spec]

    def issued_specs(self) -> dict[bytes, pki.CertSpec]:
        """Each certificate this context (or a sibling) issued or kept, by its PEM: what it was made to say."""
        return {issued.cert_pem: spec for spec, issued in self._issued.items()}

    def secret(self, rel: str, make: Callable[[], bytes]) -> bytes:
        """A random secret (encryption key, password, key pair) made once and reused by every later render."""
        if rel not in self._secrets:
            old = self.existing.read(rel)
            if old is None:
                old = make()
                self.notes.append(f"{rel}: generated a new secret")
            self._secrets[rel] = old
        return self._secrets[rel]

    def certificate_files(self, spec: pki.CertSpec, component: str) -> list[Artifact]:
        """NAME.pem, NAME-key.pem and NAME-csr.json in the workstation's pki/ directory."""
        issued = self.certificate(spec)
        return [
            Artifact(f"pki/{spec.name}.pem", issued.cert_pem, component, "cert"),
            Artifact(f"pki/{spec.name}-key.pem", issued.key_pem, component, "cert", secret=True),
            Artifact(f"pki/{spec.name}-csr.json", pki.csr_json(self.cluster, spec).encode(), component, "cert"),
        ]
