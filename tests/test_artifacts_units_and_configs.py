"""What each master's daemon is started with: its systemd unit, checked with systemd-analyze, and the kube-scheduler
config and flags of every release, against the fields each kubescheduler.config.k8s.io apiVersion accepts.

Expectations come from clusters/example.yaml and from upstream facts written out here by hand (the scheduler's config
types of each apiVersion, its flags by release), never from the generator's own tables.
"""

from __future__ import annotations

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_invoke
from example_artifacts import EXAMPLE_FILE, MASTERS, find_one, node_dirs, run

# ---------------------------------------------------------------------------------------------------------------
# 1. systemd units


STANDIN_BINARY = """#!/bin/sh
# STAND-IN for a Kubernetes binary (kube-scheduler, ...), tests only: `systemd-analyze verify` insists the
# ExecStart binary exists and is executable, and there are no Kubernetes binaries on this machine. Never run.
exit 0
"""
BAD_WORDS = ("Unknown", "Failed", "does not take", "Ignoring", "Invalid", "not executable", "Missing", "bad")


def exec_start(unit_text: str) -> tuple[list[str], list[str]]:
    """(the ExecStart lines as written, the ExecStart argv after joining the continuations)."""
    lines = unit_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ExecStart="))
    block = [lines[start]]
    while block[-1].endswith("\\"):
        block.append(lines[start + len(block)])
    joined = " ".join(line.removesuffix("\\").strip() for line in block).removeprefix("ExecStart=")
    return block, joined.split()


def check_continuations(unit: Path) -> list[str]:
    text = unit.read_text()
    block, argv = exec_start(text)
    assert len(block) == len(argv), f"{unit}: expected the binary, then one flag per line"
    for line in block[:-1]:
        # a single backslash, after a space, and nothing after it (not even a blank: `does not take any arguments`)
        assert re.search(r"[^\\\s] \\$", line), f"{unit}: bad continuation {line!r}"
    assert not block[-1].endswith("\\")
    for line in block[1:]:
        assert re.fullmatch(r"  --[a-z0-9-]+(=\S+)?( \\)?", line), f"{unit}: {line!r}"
    assert all(line == line.rstrip() for line in text.splitlines()), f"{unit}: trailing whitespace"
    return argv


def systemd_verify(unit: Path, workdir: Path) -> tuple[int, list[str]]:
    """Copy `unit` into `workdir` with ExecStart's binary swapped for the stand-in; run systemd-analyze verify."""
    text = unit.read_text()
    _, argv = exec_start(text)
    binary = argv[0]
    assert binary.startswith("/"), f"{unit}: ExecStart needs an absolute path, got {binary!r}"
    standin = workdir / Path(binary).name
    standin.write_text(STANDIN_BINARY)
    standin.chmod(0o755)
    copy = workdir / unit.name
    copy.write_text(text.replace(f"ExecStart={binary}", f"ExecStart={standin}", 1))
    proc = run("systemd-analyze", "verify", str(copy), check=False, cwd=workdir)
    relevant = [line for line in (proc.stdout + proc.stderr).splitlines() if unit.name in line]
    return proc.returncode, relevant


def test_systemd_analyze_verify_every_unit(example_build, tmp_path):
    units = [u for n in node_dirs(example_build).values() for u in sorted(n.rglob("*.service"))]
    assert {u.name for u in units} >= {"kube-scheduler.service"}
    for node in node_dirs(example_build).values():
        assert Path(exec_start(find_one(node, "kube-scheduler.service").read_text())[1][0]).name == "kube-scheduler"
    for i, unit in enumerate(units):
        check_continuations(unit)
        workdir = tmp_path / str(i)
        workdir.mkdir()
        rc, relevant = systemd_verify(unit, workdir)
        assert rc == 0, relevant
        assert not [line for line in relevant if any(w in line for w in BAD_WORDS)], relevant


def test_systemd_analyze_catches_a_blank_after_the_backslash(example_build, tmp_path):
    """The check above can fail: the same tool flags seed-style damage (a space after `\\`)."""
    unit = find_one(next(iter(node_dirs(example_build).values())), "kube-scheduler.service")
    damaged = tmp_path / "src" / unit.name
    damaged.parent.mkdir()
    damaged.write_text(unit.read_text().replace(" \\\n", " \\ \n", 1))
    with pytest.raises(AssertionError):
        check_continuations(damaged)
    (tmp_path / "run").mkdir()
    _, relevant = systemd_verify(damaged, tmp_path / "run")
    assert any(w in line for line in relevant for w in BAD_WORDS), relevant


def test_unit_flags_point_at_files_that_exist_on_the_node(example_build):
    by_name = {n["name"]: n for n in MASTERS}
    for name, node in node_dirs(example_build).items():
        argv = check_continuations(find_one(node, "kube-scheduler.service"))
        flags = dict(a.removeprefix("--").split("=", 1) for a in argv[1:] if "=" in a)
        for flag in ("config", "tls-cert-file", "tls-private-key-file", "client-ca-file",
                     "authentication-kubeconfig", "authorization-kubeconfig"):
            if flag in flags:
                assert (node / flags[flag].lstrip("/")).is_file(), f"{name}: --{flag}={flags[flag]} not rendered"
        assert "config" in flags
        config = yaml.safe_load((node / flags["config"].lstrip("/")).read_text())
        assert (node / config["clientConnection"]["kubeconfig"].lstrip("/")).is_file()
        # CIS 1.4.2: the scheduler serves health and metrics on the node only, never on its network address
        assert flags["bind-address"] == "127.0.0.1", name
        assert by_name[name]["ip"] not in find_one(node, "kube-scheduler.service").read_text(), name


# ---------------------------------------------------------------------------------------------------------------
# 2. KubeSchedulerConfiguration per release: only the fields its apiVersion accepts
#
# Written by hand from upstream: kubescheduler.config.k8s.io types.go of each version (staging/src/k8s.io/
# kube-scheduler/config/<version>/types.go; before 1.14 pkg/scheduler/apis/config/v1alpha1), component-base's
# LeaderElectionConfiguration / ClientConnectionConfiguration, and the release history of the scheduler.

GROUP = "kubescheduler.config.k8s.io"
# every boundary: 1.13 secure port, 1.17/1.20 lock defaults, 1.19/1.22/1.23/1.25 apiVersions, 1.28 hybrid locks gone
RELEASES = ["1.12", "1.13", "1.16", "1.17", "1.18", "1.19", "1.20", "1.21", "1.22", "1.23", "1.24", "1.25", "1.28",
            "1.30", "1.36"]


def expected_api(minor: int) -> str:
    if minor <= 18:
        return f"{GROUP}/v1alpha1"  # removed in 1.19 (#89298)
    if minor <= 21:
        return f"{GROUP}/v1beta1"
    if minor == 22:
        return f"{GROUP}/v1beta2"
    if minor <= 24:
        return f"{GROUP}/v1beta3"
    return f"{GROUP}/v1"  # before 1.23 `v1` meant the legacy kind: Policy


def expected_lock(minor: int) -> str:
    if minor <= 16:
        return "endpoints"
    if minor <= 19:
        return "endpointsleases"  # #84084
    return "leases"  # #94603; endpoints/configmaps removed 1.24, *leases hybrids removed 1.28


DEBUGGING = {"enableProfiling", "enableContentionProfiling"}
BEFORE_V1BETA3 = {"healthzBindAddress", "metricsBindAddress"}
COMMON_TOP = {"apiVersion", "kind", "leaderElection", "clientConnection", "percentageOfNodesToScore", *DEBUGGING}
TOP_FIELDS = {
    # only the fields 1.12's v1alpha1 already had, so one config suits every v1alpha1 release
    # (plugins, pluginConfig, bindTimeoutSeconds, pod*BackoffSeconds came during its life)
    "v1alpha1": COMMON_TOP | BEFORE_V1BETA3 | {"schedulerName", "algorithmSource", "hardPodAffinitySymmetricWeight",
                                               "disablePreemption"},
    "v1beta1": COMMON_TOP | BEFORE_V1BETA3 | {"podInitialBackoffSeconds", "podMaxBackoffSeconds", "profiles",
                                              "extenders"},
    "v1beta2": COMMON_TOP | BEFORE_V1BETA3 | {"parallelism", "podInitialBackoffSeconds", "podMaxBackoffSeconds",
                                              "profiles", "extenders"},
    "v1beta3": COMMON_TOP | {"parallelism", "podInitialBackoffSeconds", "podMaxBackoffSeconds", "profiles",
                             "extenders"},
    "v1": COMMON_TOP | {"parallelism", "podInitialBackoffSeconds", "podMaxBackoffSeconds", "profiles", "extenders"},
}
ELECTION = {"leaderElect", "leaseDuration", "renewDeadline", "retryPeriod", "resourceLock"}
# v1alpha1 embeds the older LeaderElectionConfiguration (no resourceName) plus lockObjectName/Namespace
ELECTION_FIELDS = {"v1alpha1": ELECTION | {"lockObjectName", "lockObjectNamespace"}}
ELECTION_DEFAULT = ELECTION | {"resourceName", "resourceNamespace"}
CLIENT_FIELDS = {"kubeconfig", "acceptContentTypes", "contentType", "qps", "burst"}


def go_duration(text: str) -> float:
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a Go duration: {text!r}"
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def allowed_top(version: str, minor: int) -> set[str]:
    fields = set(TOP_FIELDS[version])
    if version == "v1" and minor >= 28:
        fields.add("delayCacheUntilActive")
    return fields


@pytest.fixture(scope="module")
def release_builds(tmp_path_factory):
    """build/vt-1-XX-<pid>/ for every release, rendered by the real task from copies of the example; removed after."""
    workdir = tmp_path_factory.mktemp("releases")
    jobs = {}
    for release in RELEASES:
        name = f"vt-{release.replace('.', '-')}-{os.getpid()}"
        body = yaml.safe_load(EXAMPLE_FILE.read_text(encoding="utf-8"))
        body.update(name=name, kubernetes_version=f"{release}.0")
        # ECDSA keys: the config and flags do not depend on the key type, and 15 fresh PKIs stay cheap
        body.setdefault("certificates", {})["key"] = {"algo": "ecdsa", "size": 256}
        path = workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
        jobs[release] = (path, REPO / "build" / name)
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda job: run_invoke("render", "--cluster", str(job[0])), jobs.values()))
        yield {release: build for release, (_, build) in jobs.items()}
    finally:
        for _, build in jobs.values():
            shutil.rmtree(build, ignore_errors=True)


@pytest.mark.parametrize("release", RELEASES)
def test_scheduler_config_and_flags_by_release(release_builds, release):
    minor = int(release.split(".")[1])
    build = release_builds[release]
    for node in node_dirs(build).values():
        config = yaml.safe_load(find_one(node, "kube-scheduler.yaml").read_text())
        assert config["apiVersion"] == expected_api(minor)
        assert config["kind"] == "KubeSchedulerConfiguration"
        version = config["apiVersion"].split("/")[1]
        assert set(config) <= allowed_top(version, minor), set(config) - allowed_top(version, minor)
        assert set(config["clientConnection"]) <= CLIENT_FIELDS
        assert config["clientConnection"]["kubeconfig"], "--config ignores --kubeconfig: it must be in the file"
        election = config["leaderElection"]
        assert set(election) <= ELECTION_FIELDS.get(version, ELECTION_DEFAULT), set(election)
        assert election["leaderElect"] is True
        assert election["resourceLock"] == expected_lock(minor)
        name_key, ns_key = ("lockObjectName", "lockObjectNamespace") if version == "v1alpha1" else (
            "resourceName", "resourceNamespace")
        # RBAC lets system:kube-scheduler update only the lock named kube-scheduler in kube-system
        assert (election[name_key], election[ns_key]) == ("kube-scheduler", "kube-system")
        lease, renew, retry = (go_duration(election[k]) for k in ("leaseDuration", "renewDeadline", "retryPeriod"))
        assert lease > renew > 0 and retry > 0

        argv = check_continuations(find_one(node, "kube-scheduler.service"))
        flag_names = {a.removeprefix("--").split("=", 1)[0] for a in argv[1:]}
        assert "config" in flag_names
        # --port/--address are ignored once --config is given: never write them (they would only mislead)
        assert not flag_names & {"port", "address"}, argv
        if minor >= 23:
            assert "healthzBindAddress" not in config  # insecure serving gone (#96345), field gone in v1beta3
        elif minor >= 13:
            # the insecure port cannot be switched off from v1beta1's config: it must stay on loopback, where
            # componentstatuses probes it (measured with the 1.16 and 1.20 binaries, tests/test_kube_binaries.py)
            assert config["healthzBindAddress"] == config["metricsBindAddress"] == "127.0.0.1:10251"
        else:
            assert "secure-port" not in flag_names, argv  # 10251 is the only port: reachable from outside
            assert config["healthzBindAddress"] == "0.0.0.0:10251"
        if minor >= 13:
            assert "--secure-port=10259" in argv or "secure-port" not in flag_names
            assert {"authentication-kubeconfig", "authorization-kubeconfig"} <= flag_names, argv


def test_the_allowed_field_tables_can_fail():
    """A v1beta1-era field in a v1 config, or lockObjectName after v1alpha1, is outside the tables."""
    assert "healthzBindAddress" not in allowed_top("v1", 30)
    assert "lockObjectName" not in ELECTION_DEFAULT
    assert "resourceName" not in ELECTION_FIELDS["v1alpha1"]
    with pytest.raises(AssertionError):
        go_duration("15")
