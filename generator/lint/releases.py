"""Lint rules that depend on the release: the same version facts the generator writes from, read the other way.

A flag, a config apiVersion or field, or a lock type is checked against the facts of the release (`facts.py` of
each component, `generator/versions.py`); every message names the release that added or removed what it finds, so
a directory made from an older guide gets the findings a reviewer would give.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import PurePosixPath

from generator.components.kube_apiserver.facts import ADMISSION_PLUGINS
from generator.components.kube_apiserver.facts import FLAGS as APISERVER_FLAGS
from generator.components.kube_controller_manager.facts import FLAGS as CONTROLLER_MANAGER_FLAGS
from generator.components.kube_controller_manager.facts import facts as controller_manager_facts
from generator.components.kube_scheduler.facts import CONFIG_API, CONFIG_APIS, CONFIG_FIELDS
from generator.components.kube_scheduler.facts import FLAGS as SCHEDULER_FLAGS
from generator.components.kube_scheduler.facts import facts as scheduler_facts
from generator.kubehelp import data
from generator.versions import FEATURE_GATES, LOCKS, OLDEST, Release, Span, every_minor, minor_text

Add = Callable[[str, str], None]

RULES: dict[str, str] = {
    "flag-removed": "a flag the release no longer has (the binary stops with `unknown flag`)",
    "flag-not-yet": "a flag of a later release than this one (the binary stops with `unknown flag`)",
    "flag-unknown": "a flag no measured release of the binary takes (a typo, or another program's)",
    "flag-deprecated": "a flag the release still takes but has deprecated",
    "gate-removed": "a feature gate the release no longer has (`unrecognized feature gate`)",
    "gate-not-yet": "a feature gate of a later release than this one (`unrecognized feature gate`)",
    "gate-unknown": "a feature gate no measured release of kube-apiserver has",
    "admission-plugin-removed": "an admission plugin the release no longer has (`plugin \"Name\" is unknown`)",
    "admission-plugin-not-yet": "an admission plugin of a later release than this one",
    "admission-plugin-unknown": "an admission plugin no measured release of kube-apiserver has",
    "config-api-version": "a KubeSchedulerConfiguration apiVersion the release does not read",
    "insecure-port-open": "the scheduler's or controller manager's plain-HTTP port beyond loopback while it exists",
    "lock-removed": "a leader-election lock type the release no longer has",
}
FLAG_FACTS: dict[str, dict[str, Span]] = {
    "kube-apiserver": APISERVER_FLAGS,
    "kube-controller-manager": CONTROLLER_MANAGER_FLAGS,
    "kube-scheduler": SCHEDULER_FLAGS,
}
# Every dated name, as `accepted.json` keys what the binaries take (gates are measured on kube-apiserver; the other
# daemons share its registry).
FACTS: dict[tuple[str, str], dict[str, Span]] = {
    **{(daemon, data.FLAGS): flags for daemon, flags in FLAG_FACTS.items()},
    ("kube-apiserver", data.GATES): FEATURE_GATES,
    ("kube-apiserver", data.PLUGINS): ADMISSION_PLUGINS,
}
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def exec_argv(text: str) -> list[str]:
    """ExecStart's words, continuation lines joined as systemd joins them (only a `\\` that ends the line)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("ExecStart="):
            command = line.removeprefix("ExecStart=")
            while command.endswith("\\") and i + 1 < len(lines):
                i += 1
                command = command[:-1] + " " + lines[i]
            try:
                return shlex.split(command)
            except ValueError:  # an unbalanced quote: still worth checking word by word
                return command.split()
    return []


def flag_values(argv: list[str]) -> dict[str, str]:
    """--name=value (or a bare --name, as "true") of every flag; the last one wins, as with pflag."""
    return {word.split("=", 1)[0]: word.split("=", 1)[1] if "=" in word else "true"
            for word in argv[1:] if word.startswith("--")}


def missing(daemon: str, kind: str, name: str, release: Release) -> tuple[str, str] | None:
    """("removed" | "not-yet" | "unknown", why) when `release` lacks the name: by the version facts, which say
    what replaces it, else by what the binaries were measured to take (accepted.json); None when it has it or
    neither knows."""
    span = FACTS.get((daemon, kind), {}).get(name) or (FEATURE_GATES.get(name) if kind == data.GATES else None)
    if span is not None:
        if span.holds(release):
            return None
        instead = f"; instead: {span.instead}" if span.instead else ""
        return ("removed" if span.removed_by(release) else "not-yet"), f"{span.why_not(release)}{instead}"
    if kind not in data.KINDS.get(daemon, ()):
        return None
    measured = data.committed()
    takes = measured.get(daemon, kind, release.minor_version)
    if takes is None or name in takes:
        return None
    seen = measured.releases_of(daemon, kind, name)
    later = [m for m in seen if m > release.minor_version]
    if later:
        return "not-yet", f"first taken by {minor_text(later[0])} (measured)"
    if seen:
        return "removed", f"last taken by {minor_text(seen[-1])} (measured)"
    first, last = measured.minors()[0], measured.minors()[-1]
    return "unknown", f"no release {minor_text(first)}-{minor_text(last)} takes it (measured)"


def listed(value: str) -> list[str]:
    """The names of a comma-separated list, gates without their `=true` and `kube:` component."""
    return [item.split("=", 1)[0].split(":", 1)[-1].strip() for item in value.split(",") if item.strip()]


def check_names(add: Add, binary: str, flags: dict[str, str], release: Release) -> None:
    """Feature gates (any daemon: the facts; kube-apiserver: also the measurements) and admission plugins."""
    gate_owner = binary if binary == "kube-apiserver" else ""  # gates are measured on kube-apiserver only
    for gate in listed(flags.get("--feature-gates", "")):
        found = missing(gate_owner, data.GATES, gate, release)
        if found:
            add(f"gate-{found[0]}", f"--feature-gates {gate}: {found[1]}, this is {release}: {binary} stops with "
                f"`unrecognized feature gate: {gate}`")
    if binary != "kube-apiserver":
        return
    for flag in ("--enable-admission-plugins", "--disable-admission-plugins", "--admission-control"):
        for plugin in listed(flags.get(flag, "")):
            found = missing(binary, data.PLUGINS, plugin, release)
            if found:
                add(f"admission-plugin-{found[0]}", f"{flag} {plugin}: {found[1]}, this is {release}: {binary} "
                    f"stops with `plugin \"{plugin}\" is unknown`")


def check_unit(add: Add, text: str, release: Release | None) -> None:
    argv = exec_argv(text)
    binary = PurePosixPath(argv[0]).name if argv else ""
    flags = flag_values(argv)
    if release is None or binary not in FLAG_FACTS:
        return
    for flag in flags:
        found = missing(binary, data.FLAGS, flag, release)
        span = FLAG_FACTS[binary].get(flag)
        if found:
            add(f"flag-{found[0]}", f"{flag}: {found[1]}, this is {release}: {binary} stops with `unknown flag: "
                f"{flag}`")
        elif span is not None and span.deprecated is not None and release.minor_version >= span.deprecated:
            since = "every supported release" if span.deprecated == OLDEST else minor_text(span.deprecated)
            add("flag-deprecated", f"{flag}: deprecated in {since}; {release} still takes it, a later release "
                f"may not (`{binary} --help` names what replaces it)")
    check_names(add, binary, flags, release)
    if binary == "kube-scheduler" and "--config" not in flags:
        # Flags alone: --address/--port decide the insecure port (with --config only the config file does).
        sf = scheduler_facts(release)
        if sf.insecure_loopback and sf.insecure_port:
            check_bind(add, release, "kube-scheduler", "--address/--port", flags.get("--address", "0.0.0.0"),
                       flags.get("--port", str(sf.insecure_port)))
    if binary == "kube-controller-manager":
        port = controller_manager_facts(release).insecure_port
        if port:
            check_bind(add, release, binary, "--address/--port", flags.get("--address", "0.0.0.0"),
                       flags.get("--port", str(port)))
    lock = flags.get("--leader-elect-resource-lock")
    if lock:
        check_lock(add, release, lock, "--leader-elect-resource-lock")


def check_bind(add: Add, release: Release, binary: str, setting: str, host: str, port: str, note: str = "") -> None:
    """The plain-HTTP port (/metrics and /healthz without authentication) is off (port 0) or on loopback."""
    if port.strip() != "0" and host.strip() not in LOOPBACK:
        add("insecure-port-open", f"{setting} {host}:{port}: {binary} {release} serves plain HTTP without "
            f"authentication there{note}; bind it to 127.0.0.1, where `kubectl get componentstatuses` probes it")


def check_lock(add: Add, release: Release | None, lock: str, where: str) -> None:
    span = LOCKS.get(lock)
    if release is not None and span is not None and span.removed_by(release):
        add("lock-removed", f"{where}={lock}: {span.why_not(release)}, this is {release}; use leases")


def field_gone_in(field: str) -> tuple[int, int] | None:
    """The first release whose written config version lacks a field the previous one had."""
    before = False
    for release in every_minor():
        has = field in CONFIG_FIELDS[CONFIG_API.at(release).rsplit("/", 1)[-1]]
        if before and not has:
            return release.minor_version
        before = has
    return None


def check_scheduler_config(add: Add, body: dict, release: Release | None) -> None:
    """The apiVersion against the release, the fields against the version the release reads, the insecure port
    against the release's facts."""
    api = str(body.get("apiVersion", ""))
    span = CONFIG_APIS.get(api)
    if release is None or span is not None and span.holds(release):
        check_fields(add, body, api, None)
    else:
        reads = CONFIG_API.at(release)
        when = span.why_not(release) if span is not None else "no release 1.12-1.36 reads it"
        add("config-api-version", f"apiVersion {api}: {when}, this is {release}, which reads {reads}: kube-scheduler "
            "stops with `no kind \"KubeSchedulerConfiguration\" is registered for version`")
        check_fields(add, body, reads, release)
    if release is not None:
        sf = scheduler_facts(release)
        if sf.insecure_loopback and sf.insecure_port:
            default = f"0.0.0.0:{sf.insecure_port}"  # what an absent or empty field means
            for key in ("healthzBindAddress", "metricsBindAddress"):
                host, _, port = str(body.get(key) or default).rpartition(":")
                check_bind(add, release, "kube-scheduler", key, host, port,
                           " (with --config only this field counts: --port and --address are ignored)")


def check_fields(add: Add, body: dict, api: str, release: Release | None) -> None:
    """Fields the version `api` does not have; for a config of another release, the release each went in."""
    known = CONFIG_FIELDS.get(api.rsplit("/", 1)[-1])
    if known is None:
        return
    for key in body:
        if key not in known:
            gone = field_gone_in(str(key)) if release is not None else None
            when = f"gone in {minor_text(gone)}; " if gone else ""
            add("config-unknown-field", f"{key}: {when}{api} has no such field (strict decoder error: unknown "
                "field)")
