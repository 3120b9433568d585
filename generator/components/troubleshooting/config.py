"""Errors of the scheduler's and the controller manager's configuration: the leader lock RBAC lets them take and
the lock types a release still has, the fields and the kubeconfig of the config file, and the insecure ports they
no longer serve."""

from __future__ import annotations

import shlex

from generator.components.admin.files import kubectl
from generator.components.troubleshooting.errors import Error, journal, lint, master, remote
from generator.steps import pki_file, sudo
from generator.text import Texts

TEXT = Texts.of_component(__file__)

LEASE_FORBIDDEN = Error(
    id="lease-forbidden",
    message='leases.coordination.k8s.io "kube-scheduler" is forbidden: User "kube-scheduler" cannot get '
    'resource "leases" in API group "coordination.k8s.io" in the namespace "kube-system"',
    **TEXT.fields("lease-forbidden"),
    confirm=lambda c: [
        shlex.join(["openssl", "x509", "-in", pki_file(c, "kube-scheduler.pem"), "-noout", "-subject"]),
        f"{kubectl(c)} auth can-i get leases.coordination.k8s.io/kube-scheduler -n kube-system "
        "--as system:kube-scheduler",
        lint(c),
    ],
    seen_in=("seed 001",),
    lint_rules=("kubeconfig-cn",),
)

LOCK_REMOVED = Error(
    id="lock-removed",
    message='resourceLock value must be "leases"',
    **TEXT.fields("lock-removed"),
    confirm=lambda c: [
        remote(c, master(c), f"grep -n resourceLock {c.spec.paths.config_dir}/kube-scheduler.yaml"),
        lint(c),
    ],
    seen_in=("seed 002",),
    lint_rules=("lock-removed",),
)

STRICT_DECODING = Error(
    id="strict-decoding",
    message='strict decoder error for ...: unknown field "bindTimeoutSeconds"',
    **TEXT.fields("strict-decoding"),
    confirm=lambda c: [journal(c, "kube-scheduler", "unknown field"), lint(c)],
    seen_in=("seed 002",),
    lint_rules=("config-unknown-field",),
)

NO_CONFIGURATION = Error(
    id="no-configuration",
    message="invalid configuration: no configuration has been provided",
    **TEXT.fields("no-configuration"),
    confirm=lambda c: [
        remote(c, master(c), f"grep -n kubeconfig: {c.spec.paths.config_dir}/kube-scheduler.yaml"),
        lint(c),
    ],
    lint_rules=("config-without-kubeconfig",),
)

INSECURE_PORT_GONE = Error(
    id="insecure-port-gone",
    message="dial tcp 127.0.0.1:10251: connect: connection refused",
    **TEXT.fields("insecure-port-gone"),
    confirm=lambda c: [remote(c, master(c), f'{sudo(c)}ss -ltnp | grep -E "kube-(sched|contr)"')],
    seen_in=("seed 002", "seed 004"),
)
