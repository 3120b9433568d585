"""Errors of the PKI: a certificate's names (a SAN with a trailing dot, none at all), a key that is a certificate,
cfssl's JSON and profiles, validity against a node's clock, and a certificate the cluster CA did not sign."""

from __future__ import annotations

import shlex

from generator.components.troubleshooting.errors import Error, journal, lint, master, push_again, remote
from generator.steps import pki_file, sudo
from generator.text import Texts

TEXT = Texts.of_component(__file__)

DNS_TRAILING_DOT = Error(
    id="dns-trailing-dot",
    message='x509: cannot parse dnsName "kubernetes.default.svc.cluster.local."',
    **TEXT.fields("dns-trailing-dot"),
    confirm=lambda c: [
        shlex.join(["openssl", "x509", "-in", pki_file(c, "kube-apiserver.pem"), "-noout", "-ext",
                    "subjectAltName"]),
        lint(c),
    ],
    seen_in=("seed 004",),
    lint_rules=("san-trailing-dot",),
)

KEY_IS_CERTIFICATE = Error(
    id="key-is-certificate",
    message="tls: found a certificate rather than a key in the PEM for the private key",
    **TEXT.fields("key-is-certificate"),
    confirm=lambda c: [
        journal(c, "kube-scheduler", "found a certificate rather than a key"),
        remote(c, master(c), f"{sudo(c)}{c.spec.paths.bin_dir}/kubectl config view --raw --kubeconfig "
               f"{c.spec.paths.config_dir}/kube-scheduler.kubeconfig "
               '-o "jsonpath={.users[0].user.client-key-data}" | base64 -d | head -1'),
        lint(c),
    ],
    seen_in=("seed 003",),
    lint_rules=("key-is-certificate",),
    repair=lambda c: push_again(c, "kube-scheduler", "kube-scheduler"),
)

UNKNOWN_AUTHORITY = Error(
    id="unknown-authority",
    message="tls: failed to verify certificate: x509: certificate signed by unknown authority",
    **TEXT.fields("unknown-authority"),
    confirm=lambda c: [
        journal(c, "kube-scheduler", "signed by unknown authority"),
        remote(c, master(c), f"{sudo(c)}{c.spec.paths.bin_dir}/kubectl config view --raw --kubeconfig "
               f"{c.spec.paths.config_dir}/kube-scheduler.kubeconfig "
               "-o 'jsonpath={.clusters[0].cluster.certificate-authority-data}' | base64 -d | "
               f"openssl x509 -noout -subject; openssl x509 -noout -subject -in {c.spec.paths.pki_dir}/ca.pem"),
    ],
    repair=lambda c: push_again(c, "kube-scheduler", "kube-scheduler"),
)

LEGACY_COMMON_NAME = Error(
    id="legacy-common-name",
    message="x509: certificate relies on legacy Common Name field, use SANs instead",
    **TEXT.fields("legacy-common-name"),
    confirm=lambda c: [
        shlex.join(["openssl", "x509", "-in", pki_file(c, "kube-apiserver.pem"), "-noout", "-ext",
                    "subjectAltName"]),
    ],
    lint_rules=("server-cert-no-san",),
)

JSON_COMMENT = Error(
    id="json-comment",
    message="failed to unmarshal configuration: invalid character '/' looking for beginning of object key string",
    **TEXT.fields("json-comment"),
    confirm=lambda c: [
        f"python3 -m json.tool {shlex.quote(pki_file(c, 'ca-config.json'))} >/dev/null && echo valid",
        lint(c),
    ],
    seen_in=("seed 001",),
    lint_rules=("json-comment", "json-invalid"),
)

CFSSL_PROFILE = Error(
    id="cfssl-profile",
    message='{"code":5100,"message":"Invalid policy: no key usage available"}',
    **TEXT.fields("cfssl-profile"),
    confirm=lambda c: [
        "python3 -c " + shlex.quote('import json, sys; print(*json.load(open(sys.argv[1]))["signing"]["profiles"])')
        + " " + shlex.quote(pki_file(c, "ca-config.json")),
    ],
)

NOT_YET_VALID = Error(
    id="not-yet-valid",
    message="x509: certificate has expired or is not yet valid",
    **TEXT.fields("not-yet-valid"),
    confirm=lambda c: [
        shlex.join(["openssl", "x509", "-in", pki_file(c, "kube-apiserver.pem"), "-noout", "-dates"]),
        remote(c, master(c), "date -u; timedatectl show -p NTPSynchronized --value"),
        lint(c),
    ],
    lint_rules=("cert-expired",),
)

UNAUTHORIZED = Error(
    id="unauthorized",
    message="error: You must be logged in to the server (Unauthorized)",
    **TEXT.fields("unauthorized"),
    confirm=lambda c: [
        shlex.join(["openssl", "verify", "-CAfile", pki_file(c, "ca.pem"), pki_file(c, "admin.pem")]),
        f"sha256sum {shlex.quote(pki_file(c, 'ca.pem'))}; "
        + remote(c, master(c), f"sha256sum {c.spec.paths.pki_dir}/ca.pem"),
    ],
)
