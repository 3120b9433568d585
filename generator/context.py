"""What a component needs to make its artifacts: the cluster, the CA, and earlier files to reuse."""

from __future__ import annotations

import copy
from collections.abc import Callable

from generator import pki
from generator.artifacts import Artifact, Existing
from generator.errors import RunbookError
from generator.model import Cluster
from generator.writer import JOURNAL

CA_CERT = "pki/ca.pem"
CA_KEY = "pki/ca-key.pem"


class RenderContext:
    def __init__(self, cluster: Cluster, existing: Existing) -> None:
        self.cluster = cluster
        self.existing = existing
        self.notes: list[str] = []
        # Keyed by the whole spec: a sibling context (below) may ask for another version of the same certificate.
        self._issued: dict[pki.CertSpec, pki.Issued] = {}
        self._secrets: dict[str, bytes] = {}
        cert, key = existing.read(CA_CERT), existing.read(CA_KEY)
        if cert and key:
            pki.check_ca(cert, key, str(existing.root / CA_CERT), str(existing.root / CA_KEY))
            self.ca_cert, self.ca_key = cert, key
        elif cert or key:
            # Half a CA is never silently replaced: every certificate in the cluster hangs on it. (Renders write
            # the pair in one transaction, so only a hand-made change gets here.)
            missing, present = (CA_KEY, CA_CERT) if cert else (CA_CERT, CA_KEY)
            if (existing.root / JOURNAL).exists():
                raise RunbookError(f"{existing.root / missing} is not in place yet: a render was killed while writing "
                                   "the CA; `invoke render` for this cluster finishes it")
            raise RunbookError(f"{existing.root / missing} is missing but {existing.root / present} exists; restore "
                               "the pair from backup (a new CA would invalidate every certificate on the nodes)")
        else:
            self.ca_cert, self.ca_key = pki.make_ca(cluster)
            self.notes.append("CA: created a new CA (back up pki/ca-key.pem)")

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
            issued = pki.issue(self.cluster, self.ca_cert, self.ca_key, spec, old_cert, old_key)
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
