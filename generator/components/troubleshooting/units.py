"""Errors of the systemd units: how a unit is written (a continuation, WantedBy=, Restart=) and the flags its
ExecStart passes that the release does not have (a removed admission plugin, an unknown flag)."""

from __future__ import annotations

from generator.components.troubleshooting.errors import Error, journal, lint, master, push_again, remote
from generator.model import Cluster
from generator.steps import sudo
from generator.text import Texts

TEXT = Texts.of_component(__file__)


def unit(cluster: Cluster, name: str) -> str:
    return f"{cluster.spec.paths.systemd_dir}/{name}.service"


UNIT_BACKSLASH_SPACE = Error(
    id="unit-backslash-space",
    message='Error: "kube-apiserver" does not take any arguments, got ["\\\\"]',
    **TEXT.fields("unit-backslash-space"),
    confirm=lambda c: [
        remote(c, master(c), f'grep -nE "\\\\\\\\[[:space:]]+$" {unit(c, "kube-apiserver")}'),
        remote(c, master(c), f"systemd-analyze verify {unit(c, 'kube-apiserver')}"),
        lint(c),
    ],
    lint_rules=("unit-backslash-space",),
)

INITIALIZERS = Error(
    id="initializers",
    message='enable-admission-plugins plugin "Initializers" is unknown',
    **TEXT.fields("initializers"),
    confirm=lambda c: [
        remote(c, master(c), f'grep -o "enable-admission-plugins=[^ ]*" {unit(c, "kube-apiserver")}'),
        lint(c),
    ],
    seen_in=("seed 004",),
    lint_rules=("admission-plugin-removed", "admission-plugin-not-yet", "admission-plugin-unknown"),
)

UNKNOWN_GATE = Error(
    id="unknown-feature-gate",
    message='"command failed" err="unrecognized feature gate: SidecarContainers"',
    **TEXT.fields("unknown-feature-gate"),
    confirm=lambda c: [journal(c, "kube-apiserver", "unrecognized feature gate"), lint(c)],
    lint_rules=("gate-removed", "gate-not-yet", "gate-unknown"),
)

UNKNOWN_FLAG = Error(
    id="unknown-flag",
    message="Error: unknown flag: --insecure-port",
    **TEXT.fields("unknown-flag"),
    confirm=lambda c: [journal(c, "kube-apiserver", "unknown flag"), lint(c)],
    seen_in=("seed 002", "seed 003", "seed 004"),
    lint_rules=("flag-removed", "flag-not-yet", "flag-unknown", "flag-deprecated"),
    repair=lambda c: push_again(c, "kube-apiserver", "kube-apiserver"),
)

INLINE_COMMENT = Error(
    id="inline-comment",
    message='Error: "kube-scheduler" does not take any arguments, got ["#" "leader"]',
    **TEXT.fields("inline-comment"),
    confirm=lambda c: [journal(c, "kube-scheduler", "does not take any arguments"),
                       remote(c, master(c), f"grep -n '#' {unit(c, 'kube-scheduler')}"), lint(c)],
    seen_in=("seed 001",),
    repair=lambda c: push_again(c, "kube-scheduler", "kube-scheduler"),
)

PORT_IN_USE = Error(
    id="port-in-use",
    message="listen tcp 127.0.0.1:10259: bind: address already in use",
    **TEXT.fields("port-in-use"),
    confirm=lambda c: [journal(c, "kube-scheduler", "address already in use"),
                       remote(c, master(c), f"{sudo(c)}ss -Htlnp 'sport = :10259'")],
    repair=lambda c: [remote(c, master(c), f"{sudo(c)}fuser -k -n tcp 10259; {sudo(c)}systemctl restart "
                                           "kube-scheduler && systemctl is-active kube-scheduler")],
)

WANTEDBY_TYPO = Error(
    id="wantedby-typo",
    message="WantedBy=multi-user.targe",
    **TEXT.fields("wantedby-typo"),
    confirm=lambda c: [remote(c, master(c), f'grep -n "^WantedBy=" {unit(c, "kube-apiserver")}'), lint(c)],
    seen_in=("seed 004",),
    lint_rules=("unit-wantedby",),
)

RESTART_VALUE = Error(
    id="restart-value",
    message="Failed to parse service restart specifier, ignoring: on",
    **TEXT.fields("restart-value"),
    confirm=lambda c: [remote(c, master(c), f"systemd-analyze verify {unit(c, 'kube-controller-manager')}"),
                       lint(c)],
    seen_in=("seed 004",),
    lint_rules=("unit-restart",),
)
