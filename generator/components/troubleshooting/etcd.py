"""etcd's trust: the errors of a client etcd refuses, and the risk of an etcd that admits every cluster certificate."""

from __future__ import annotations

import shlex

from generator import pki, trust
from generator.components.troubleshooting.errors import Error, journal, lint
from generator.model import Cluster
from generator.steps import pki_file
from generator.text import Texts

TEXT = Texts.of_component(__file__)


def etcd_signer(cluster: Cluster) -> pki.CaSpec:
    return trust.signer(trust.layout(cluster), pki.ETCD_CA)


ERRORS: tuple[Error, ...] = (
    Error(
        id="etcd-deadline",
        message="context deadline exceeded",
        **TEXT.fields("etcd-deadline"),
        confirm=lambda c: [
            journal(c, "etcd", "bad certificate\\|didn't provide a certificate\\|unknown authority"),
            shlex.join(["openssl", "verify", "-CAfile", pki_file(c, f"{etcd_signer(c).name}.pem"),
                        pki_file(c, "etcdctl.pem")]),
        ],
    ),
    Error(
        id="etcd-shares-cluster-ca",
        message="etcdctl --cert=admin.pem --key=admin-key.pem get /registry/secrets --prefix --keys-only",
        **TEXT.fields("etcd-shares-cluster-ca"),
        confirm=lambda c: [
            shlex.join(["openssl", "verify", "-CAfile", pki_file(c, f"{etcd_signer(c).name}.pem"),
                        pki_file(c, "admin.pem")]),
            lint(c),
        ],
        seen_in=("seed 001", "seed 002", "seed 003", "seed 004"),
        lint_rules=("etcd-shares-cluster-ca",),
    ),
)
