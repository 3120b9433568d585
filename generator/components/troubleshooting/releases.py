"""Errors of a config from another release: a version the release does not read, YAML that does not parse, the
insecure port left open. Messages as the built 1.16, 1.20 and 1.36 binaries print them (measured)."""

from __future__ import annotations

from generator.components.troubleshooting.errors import Error, journal, lint, master, remote
from generator.steps import sudo
from generator.text import Texts

TEXT = Texts.of_component(__file__)

ERRORS: tuple[Error, ...] = (
    Error(
        id="config-version",
        message='no kind "KubeSchedulerConfiguration" is registered for version '
                '"kubescheduler.config.k8s.io/v1alpha1"',
        **TEXT.fields("config-version"),
        confirm=lambda c: [journal(c, "kube-scheduler", "is registered for version"), lint(c)],
        seen_in=("seed 002",),
        lint_rules=("config-api-version",),
    ),
    Error(
        id="yaml-invalid",
        message="yaml: line 6: did not find expected ',' or ']'",
        **TEXT.fields("yaml-invalid"),
        confirm=lambda c: [journal(c, "kube-scheduler", "yaml: line"), lint(c)],
        lint_rules=("yaml-invalid",),
    ),
    Error(
        id="insecure-port-open",
        message="Serving healthz insecurely on [::]:10251",
        **TEXT.fields("insecure-port-open"),
        confirm=lambda c: [remote(c, master(c), f'{sudo(c)}ss -ltnp | grep -E ":1025[12] "'), lint(c)],
        seen_in=("seed 001", "seed 002", "seed 003"),
        lint_rules=("insecure-port-open",),
    ),
)
