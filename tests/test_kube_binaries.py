"""The real kube-apiserver, kube-controller-manager and kube-scheduler accept exactly what the generator writes.

For every release whose binaries `invoke kube-binaries` has built (the lab's release always: `make test` builds
it first), a one-master cluster is rendered on a loopback address with every path under a temporary directory,
and each daemon runs with the argv of its own rendered unit (ExecStart, continuation lines and all) next to a
real etcd (Debian's) started from its rendered unit too: each must serve /healthz. Then a flag the release does
not know and a config field its KubeSchedulerConfiguration does not know are added, and the binary's own error
message is asserted. No network namespace; traffic stays on 127.0.61.0/24 (from 1.37 on an address of
192.0.2.0/24 put on `lo`, as root: that kube-apiserver refuses to advertise a loopback address).

The cluster uses `load_balancer.kind: external` with the master itself as the address, so the flags rendered for
a load-balanced apiserver (shutdown delay, retry-after) are checked too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from generator import kubebuild, render
from generator.artifacts import build_dir
from generator.components.kube_apiserver.facts import facts as apiserver_facts
from generator.components.kube_scheduler.facts import CONFIG_APIS, CONFIG_FIELDS
from generator.components.kube_scheduler.facts import facts as scheduler_facts
from generator.kubebuild.gomod import Upstream, go_mod
from generator.kubebuild.recipe import recipe
from generator.kubebuild.toolchain import GoRunner
from generator.kubehelp import verb
from generator.model import Cluster, load
from generator.versions import Release
from tests.conftest import REPO, built_etcd, client_cert

LAB_RELEASE = load("lab").release
ETCD_VERSION, ETCD_BIN = built_etcd()


# Started from their units when built: the eras of the flags and config versions (v1alpha1 and the insecure ports,
# v1beta1, the newest two). What every other release takes is checked without starting it: tests/test_release_check.py
# against each binary's measured flags (generator/kubehelp/accepted.json). RUNBOOK_KUBE_RELEASES=all starts every
# release in the cache (~40 s each).
STARTED = {"1.16.15", "1.20.15", "1.35.4", "1.36.3", "1.37.2"}


def built_releases() -> list[Release]:
    """The lab's release, and each release of STARTED (or, with RUNBOOK_KUBE_RELEASES=all, any) built in the cache."""
    every = os.environ.get("RUNBOOK_KUBE_RELEASES") == "all"
    return sorted({LAB_RELEASE} | {r for r in verb.built() if every or str(r) in STARTED})


def unit_argv(unit: Path) -> list[str]:
    """ExecStart of a rendered unit as systemd would split it: continuation lines joined, then words."""
    lines = unit.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ExecStart="))
    command = ""
    for line in lines[start:]:
        command += line.removeprefix("ExecStart=").rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            break
    return shlex.split(command)


def healthy(url: str, ca: Path, timeout: float = 90) -> str:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, context=context, timeout=3) as answer:
                return answer.read().decode()
        except OSError as err:
            last = str(err)
            time.sleep(0.5)
    return f"no answer within {timeout} s: {last}"


class ControlPlane:
    """One master's daemons, each started from its rendered unit, logs under the temporary directory."""

    def __init__(self, cluster: Cluster, root: Path) -> None:
        self.cluster, self.root = cluster, root
        self.node = cluster.masters[0]
        self.nodes_tree = build_dir(cluster) / "nodes" / self.node.name
        self.procs: list[subprocess.Popen[bytes]] = []

    def install(self) -> None:
        """Copy the node's rendered files to their absolute paths, all of which lie under `root`, but for those
        meant for `bin_dir`: here the shared binary cache, which is not the test's to write (etcd's backup script)."""
        bin_dir = Path(self.cluster.spec.paths.bin_dir)
        for path in self.nodes_tree.rglob("*"):
            if path.is_file():
                target = Path("/") / path.relative_to(self.nodes_tree)
                if bin_dir in target.parents:
                    continue
                assert self.root in target.parents, target
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
        data = Path(self.cluster.spec.paths.etcd_data_dir)
        data.mkdir(parents=True, exist_ok=True)
        data.chmod(0o700)

    def unit(self, name: str) -> Path:
        return Path(self.cluster.spec.paths.systemd_dir) / f"{name}.service"

    def run(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def node_ip(release: Release, net: str, advertised_net: str) -> str:
    """<net>.<minor>; from 1.37, whose kube-apiserver refuses to advertise a loopback address (#138102),
    <advertised_net>.<minor>, a TEST-NET address (RFC 5737, routed nowhere) put on `lo` while the test runs
    (loopback_address below)."""
    return f"{advertised_net if apiserver_facts(release).advertise_endpoint_ip else net}.{release.minor}"


@contextlib.contextmanager
def loopback_address(ip: str) -> Iterator[None]:
    """`ip` on the loopback interface (root) unless it is 127.x already; traffic to it never leaves the machine."""
    if ip.startswith("127."):
        yield
        return
    if os.geteuid() != 0:
        pytest.fail(f"{ip} must go on lo (root): this kube-apiserver refuses a loopback --advertise-address")
    subprocess.run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"], check=True, capture_output=True)
    try:
        yield
    finally:
        subprocess.run(["ip", "addr", "del", f"{ip}/32", "dev", "lo"], check=False, capture_output=True)


def cluster_file(tmp: Path, release: Release, prefix: str = "flags", net: str = "127.0.61",
                 advertised_net: str = "192.0.2", **extra: object) -> Path:
    """A one-master cluster of `release` on node_ip(), every node path under `tmp`, plus `extra` top-level
    sections."""
    ip = node_ip(release, net, advertised_net)
    spec = {
        "name": f"{prefix}-{release.major}-{release.minor}",
        "kubernetes_version": str(release),
        "nodes": [{"name": "flags-master", "ip": ip}],
        "api_server": {"external_address": ip, "port": 6443},
        "load_balancer": {"kind": "external"},
        "paths": {name: str(tmp / "node" / name.removesuffix("_dir")) for name in
                  ("config_dir", "pki_dir", "systemd_dir", "etcd_data_dir", "log_dir")}
        | {"bin_dir": str(kubebuild.release_dir(release) / "bin")},
        "components": {"etcd": {"version": ETCD_VERSION, "bin_dir": str(ETCD_BIN)}},
        **extra,
    }
    path = tmp / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@contextlib.contextmanager
def control_plane(tmp: Path, release: Release, path: Path | None = None) -> Iterator[ControlPlane]:
    """The plane of `path` (a cluster file from cluster_file(); by default the plain one), rendered and installed
    under `tmp`; its daemons stopped and its build directory removed at the end."""
    if not (kubebuild.release_dir(release) / "build.json").exists():
        pytest.fail(f"no binaries for {release.tag}: run `invoke kube-binaries --release {release}` (make test does)")
    cluster = load(str(path or cluster_file(tmp, release)))
    render.render(cluster)
    plane = ControlPlane(cluster, tmp / "node")
    try:
        with loopback_address(plane.node.ip):
            try:
                plane.install()
                yield plane
            finally:
                plane.stop()  # before its address goes
    finally:
        shutil.rmtree(build_dir(cluster), ignore_errors=True)


def ca(plane: ControlPlane) -> Path:
    return build_dir(plane.cluster) / "pki" / "ca.pem"


def get_as(plane: ControlPlane, path: str, cert: Path, headers: dict[str, str]) -> tuple[int, str]:
    """GET `path` from the plane's kube-apiserver with a client certificate (its key beside it) and headers."""
    context = ssl.create_default_context(cafile=str(ca(plane)))
    context.load_cert_chain(str(cert), str(cert.with_name(f"{cert.stem}-key.pem")))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(f"https://{plane.node.ip}:6443{path}", headers=headers)
    try:
        with opener.open(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


# What an aggregating front proxy sends: the user it vouches for. system:masters may list nodes whatever RBAC holds.
PROXIED = {"X-Remote-User": "proxied-user", "X-Remote-Group": "system:masters"}


def front_proxy_is_its_own_trust_domain(plane: ControlPlane, tmp: Path) -> None:
    """The real apiserver takes the user from X-Remote-User only from the front-proxy CA's front-proxy-client; a
    certificate of that very name from the cluster CA is just a user named front-proxy-client, with no rights."""
    pki = build_dir(plane.cluster) / "pki"
    status, body = get_as(plane, "/api/v1/nodes", pki / "front-proxy-client.pem", PROXIED)
    assert status == 200 and json.loads(body)["kind"] == "NodeList", (status, body[:500])
    impostor = client_cert(pki / "ca", tmp, "/CN=front-proxy-client")
    status, body = get_as(plane, "/api/v1/nodes", impostor, PROXIED)
    assert status == 403 and 'User "front-proxy-client"' in json.loads(body)["message"], (status, body[:500])


# Both serve on 127.0.0.1 only (CIS 1.3.7, 1.4.2).
ELECTED_PORTS = (("kube-controller-manager", 10257), ("kube-scheduler", 10259))


def client_connection(plane: ControlPlane, port: int) -> dict[str, float]:
    """qps and burst from the /configz of the daemon on 127.0.0.1:`port`, asked with the admin certificate."""
    pki = build_dir(plane.cluster) / "pki"
    context = ssl.create_default_context(cafile=str(ca(plane)))
    context.load_cert_chain(str(pki / "admin.pem"), str(pki / "admin-key.pem"))
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/configz", context=context, timeout=10) as answer:
        config = json.loads(answer.read())

    def find(value: object) -> dict | None:  # the one mapping with a kubeconfig and a qps, however deep
        if isinstance(value, dict):
            # releases before the configs had JSON tags report Go's field names (Kubeconfig, QPS, Burst)
            lower = {str(k).lower(): v for k, v in value.items()}
            if "kubeconfig" in lower and "qps" in lower:
                return lower
            return next((found for v in value.values() if (found := find(v)) is not None), None)
        return None

    found = find(config)
    assert found is not None, config
    return {"qps": found["qps"], "burst": found["burst"]}


@pytest.mark.parametrize("release", built_releases(), ids=str)
def test_every_daemon_serves_healthz_from_its_rendered_unit(tmp_path: Path, release: Release) -> None:
    with control_plane(tmp_path, release) as plane:
        ip = plane.node.ip
        plane.run(unit_argv(plane.unit("etcd")), "etcd")
        apiserver = plane.run(unit_argv(plane.unit("kube-apiserver")), "kube-apiserver")
        answer = healthy(f"https://{ip}:6443/healthz", ca(plane))
        assert answer == "ok", f"kube-apiserver {release}: {answer}\n{plane.log('kube-apiserver')[-3000:]}"
        assert apiserver.poll() is None
        front_proxy_is_its_own_trust_domain(plane, tmp_path)
        for name, port in ELECTED_PORTS:
            proc = plane.run(unit_argv(plane.unit(name)), name)
            answer = healthy(f"https://127.0.0.1:{port}/healthz", ca(plane))
            assert answer == "ok", f"{name} {release}: {answer}\n{plane.log(name)[-3000:]}"
            assert proc.poll() is None, f"{name} exited: {plane.log(name)[-3000:]}"
        # the client-side rate limits each binary read from its config or flags, as its /configz reports them
        settings = plane.cluster.spec.components
        for (name, port), client in zip(ELECTED_PORTS, (settings.kube_controller_manager.client_connection,
                                                       settings.kube_scheduler.client_connection), strict=True):
            assert client_connection(plane, port) == {"qps": client.qps, "burst": client.burst}, name
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            log = plane.log(name)
            assert "unknown flag" not in log and "strict decoding error" not in log, log[-2000:]


# A flag each release does not know, by the release the generator's facts date it to (docs/versions.*.md):
# kube-apiserver's --insecure-port and kube-scheduler's --port are gone in 1.24 (#106859, #106860 for the
# controller manager's); --shutdown-send-retry-after only exists from 1.23 (#101257).
def unknown_flag(name: str, release: Release) -> str:
    if release.minor_version >= (1, 24):
        return {"kube-apiserver": "--insecure-port=0", "kube-controller-manager": "--port=0",
                "kube-scheduler": "--port=0"}[name]
    if name == "kube-apiserver" and release.minor_version < (1, 23):
        return "--shutdown-send-retry-after=true"
    return "--no-such-flag-in-any-release=1"


@pytest.mark.parametrize("release", built_releases(), ids=str)
def test_a_flag_the_release_does_not_know_stops_the_daemon_with_its_own_message(tmp_path: Path,
                                                                                 release: Release) -> None:
    with control_plane(tmp_path, release) as plane:
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            flag = unknown_flag(name, release)
            proc = plane.run([*unit_argv(plane.unit(name)), flag], f"{name}-bad-flag")
            assert proc.wait(timeout=60) != 0
            assert f"unknown flag: {flag.split('=')[0]}" in plane.log(f"{name}-bad-flag"), name


@pytest.mark.parametrize("release", built_releases(), ids=str)
def test_an_unknown_scheduler_config_field_is_refused_where_decoding_is_strict(tmp_path: Path,
                                                                             release: Release) -> None:
    """Strict decoding from 1.17 on: an unknown field stops kube-scheduler; before, it is silently dropped."""
    with control_plane(tmp_path, release) as plane:
        config_path = Path(plane.cluster.spec.paths.config_dir) / "kube-scheduler.yaml"
        config = yaml.safe_load(config_path.read_text())
        config["noSuchField"] = 1
        config_path.write_text(yaml.safe_dump(config))
        proc = plane.run(unit_argv(plane.unit("kube-scheduler")), "kube-scheduler-bad-config")
        log_name = "kube-scheduler-bad-config"
        if release.minor_version >= (1, 17):
            assert proc.wait(timeout=60) != 0
            # 1.20: `unknown field: noSuchField`; 1.36: `strict decoding error: unknown field \"noSuchField\"`
            log = plane.log(log_name)
            assert re.search(r'unknown field:? \\?"?noSuchField', log), log[-2000:]
        else:
            time.sleep(5)
            assert proc.poll() is None, plane.log(log_name)[-2000:]


@pytest.mark.parametrize("release", built_releases(), ids=str)
def test_the_scheduler_config_api_version_is_the_one_the_binary_writes(tmp_path: Path, release: Release) -> None:
    """`kube-scheduler --write-config-to` writes its configuration in the version the binary serves."""
    kubeconfig = tmp_path / "kubeconfig"  # the flag needs one to parse; nothing is contacted on 127.0.0.1:1
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "unused"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    written = tmp_path / "written.yaml"
    binary = kubebuild.release_dir(release) / "bin" / "kube-scheduler"
    with contextlib.suppress(subprocess.TimeoutExpired):  # 1.16 writes the file, then waits for an apiserver
        subprocess.run([str(binary), f"--kubeconfig={kubeconfig}", f"--write-config-to={written}"],
                       capture_output=True, timeout=20, check=False)
    assert yaml.safe_load(written.read_text())["apiVersion"] == scheduler_facts(release).config_api


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# A value each flag of the facts tables parses with; a flag added to a table without one here fails the test below.
PROBE_VALUES = {
    "--insecure-port": "0", "--port": "0", "--insecure-bind-address": "127.0.0.1", "--address": "127.0.0.1",
    "--encryption-provider-config": "/nonexistent", "--experimental-encryption-provider-config": "/nonexistent",
    "--enable-swagger-ui": "false", "--kubelet-https": "true", "--shutdown-send-retry-after": "true",
    "--cluster-signing-duration": "1h", "--experimental-cluster-signing-duration": "1h",
    "--concurrent-service-syncs": "1",
    "--lock-object-name": "kube-scheduler", "--lock-object-namespace": "kube-system",
    "--kubeconfig": "/nonexistent", "--logtostderr": "true", "--alsologtostderr": "false",
    "--log-dir": "/nonexistent", "--log-file": "/nonexistent", "--log-file-max-size": "1", "--skip-headers": "false",
    "--skip-log-headers": "false", "--stderrthreshold": "2", "--add-dir-header": "false",
}


@pytest.mark.parametrize("release", built_releases(), ids=str)
def test_the_flag_facts_lint_uses_are_what_each_binary_takes(release: Release) -> None:
    """Each flag of the component facts (FLAGS: added, removed) against the real binary: flags are parsed before
    --version is acted on, so `<binary> --flag=value --version` prints the version, or stops with `unknown flag`."""
    from generator.lint.releases import FLAG_FACTS

    if not (kubebuild.release_dir(release) / "build.json").exists():
        pytest.fail(f"no binaries for {release.tag}: run `invoke kube-binaries --release {release}`")
    for binary, flags in FLAG_FACTS.items():
        for flag, span in flags.items():
            proc = subprocess.run([str(kubebuild.release_dir(release) / "bin" / binary),
                                   f"{flag}={PROBE_VALUES[flag]}", "--version"], capture_output=True, text=True,
                                  timeout=60)
            output = proc.stdout + proc.stderr
            if span.holds(release):
                assert f"Kubernetes {release.tag}" in output, f"{binary} {flag}: {output[-500:]}"
            else:
                assert f"unknown flag: {flag}" in output, f"{binary} {flag}: {output[-500:]}"


@pytest.mark.parametrize("release", built_releases(), ids=str)
def test_the_config_versions_lint_knows_are_the_ones_each_binary_reads(tmp_path: Path, release: Release) -> None:
    """Every KubeSchedulerConfiguration apiVersion of the facts against the real kube-scheduler: one it does not
    read stops it at once with `no kind ... is registered for version`; one it reads gets past decoding (the run is
    ended after a while: it goes on to wait for an apiserver, on 127.0.0.1:1 where nothing listens)."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "unused"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
    binary = kubebuild.release_dir(release) / "bin" / "kube-scheduler"
    for api, span in CONFIG_APIS.items():
        body = {"apiVersion": api, "kind": "KubeSchedulerConfiguration",
                "clientConnection": {"kubeconfig": str(kubeconfig)}, "leaderElection": {"leaderElect": False}}
        if "healthzBindAddress" in CONFIG_FIELDS[api.rsplit("/", 1)[-1]]:
            # where the version has the insecure port, it stays on loopback (its default is every interface)
            body["healthzBindAddress"] = body["metricsBindAddress"] = f"127.0.0.1:{free_port()}"
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump(body))
        try:
            proc = subprocess.run([str(binary), f"--config={config}", "--secure-port=0", "--bind-address=127.0.0.1"],
                                  capture_output=True, text=True, timeout=10)
            output = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as err:
            output = (err.stdout or b"").decode() + (err.stderr or b"").decode()
        refused = "is registered for version" in output
        assert refused != span.holds(release), f"{api} on {release}: {output[-800:]}"


# ------------------------------------------------------------------------------- the build recipe, no network

def upstream(go: str, staging: tuple[str, ...], pins: dict[str, str], required: dict[str, str]) -> Upstream:
    return Upstream(source=Path("/nonexistent"), go=go, godebug=(), staging=staging, pins=pins,
                    required=required, time="2022-01-19T17:22:08Z")


def test_go_mod_pins_staging_to_the_release_and_keeps_upstream_pins_raising_floors_and_relocating() -> None:
    old = recipe(Release(1, 16, 15))
    assert not isinstance(old, str)
    text = go_mod(old, upstream("1.12", ("k8s.io/api", "k8s.io/client-go"),
                                {"github.com/modern-go/reflect2": "v1.0.1", "github.com/google/uuid": "v1.1.1",
                                 "vbom.ml/util": "v0.0.0-20160121211510-db5cfe13f5cc"}, {}), local_source=True)
    lines = {line.strip() for line in text.splitlines()}
    assert "k8s.io/api => k8s.io/api v0.16.15" in lines and "k8s.io/client-go => k8s.io/client-go v0.16.15" in lines
    assert "k8s.io/kubernetes => ./kubernetes" in lines
    assert "github.com/google/uuid => github.com/google/uuid v1.1.1" in lines
    assert "github.com/modern-go/reflect2 => github.com/modern-go/reflect2 v1.0.2" in lines
    assert "vbom.ml/util => github.com/fvbommel/util v0.0.0-20160121211510-db5cfe13f5cc" in lines
    assert not any(line.startswith("vbom.ml/util => vbom.ml/util") for line in lines)
    assert "go 1.24" in lines and "godebug default=go1.12" in lines  # tool directive; the release's runtime
    new = recipe(Release(1, 36, 3))
    assert not isinstance(new, str)
    text = go_mod(new, upstream("1.26.0", ("k8s.io/api",), {}, {"github.com/modern-go/reflect2": "v1.0.3"}),
                  local_source=False)
    assert "go 1.26.0" in text.splitlines() and "reflect2" not in text and "./kubernetes" not in text


def test_releases_without_a_go_mod_are_refused_with_a_reason() -> None:
    refused = recipe(Release(1, 14, 10))
    assert isinstance(refused, str) and "go.mod" in refused and "--kube-bin-dir" in refused


def test_the_cache_is_trusted_only_when_every_sha256_matches(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(kubebuild.build.CACHE_ENV, str(tmp_path))
    release = Release(1, 36, 3)
    directory = kubebuild.release_dir(release)
    (directory / "bin").mkdir(parents=True)
    binaries = {}
    for name in kubebuild.COMMANDS:
        (directory / "bin" / name).write_bytes(name.encode())
        binaries[name] = {"sha256": kubebuild.build.sha256(directory / "bin" / name)}
    record = {"recipe_version": kubebuild.build.RECIPE_VERSION, "go_mod_sha256": "x", "built": "now",
              "binaries": binaries}
    (directory / "build.json").write_text(json.dumps(record))
    assert kubebuild.build.cached(directory, None) == record
    assert kubebuild.build.cached(directory, "another recipe") is None
    (directory / "bin" / "kubectl").write_bytes(b"changed")
    assert kubebuild.build.cached(directory, None) is None
    os.remove(directory / "bin" / "kubectl")
    assert kubebuild.build.cached(directory, None) is None
    assert REPO not in directory.parents  # the cache lives outside the repository


def test_a_module_version_the_proxy_refuses_is_one_line_naming_it(tmp_path: Path, monkeypatch) -> None:
    """What go prints when the proxy refuses a staging module of 1.32.13 (403, as measured on 2026-12-07), from a
    STAND-IN `go` (a shell script printing it): the proxy's refusals change over time, the message's shape does not."""
    printed = ("go: k8s.io/kubernetes/cmd/kube-controller-manager imports\n"
               "\tk8s.io/kubernetes/pkg/controller/endpointslice imports\n"
               "\tk8s.io/endpointslice/metrics: k8s.io/endpointslice@v0.32.13: reading "
               "https://proxy.golang.org/k8s.io/endpointslice/@v/v0.32.13.zip: 403 Forbidden\n"
               "\tserver response: This module version is not available.\n")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "go").write_text("#!/bin/sh\n"
                                         'if [ "$1" = env ]; then echo https://proxy.golang.org; exit 0; fi\n'
                                         f"cat >&2 <<'EOF'\n{printed}EOF\nexit 1\n")
    (tmp_path / "bin" / "go").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    go = GoRunner(tmp_path / "src")
    with pytest.raises(kubebuild.Unavailable) as refused:
        go.run(["get", "-tool", "k8s.io/kubernetes/cmd/kube-apiserver@v1.32.13"], what="resolve")
    assert str(refused.value) == ("the Go module proxy (https://proxy.golang.org) does not serve "
                                  "k8s.io/endpointslice@v0.32.13, which this build needs (an older patch release "
                                  "may be served whole)")
    assert go.refusal("go: downloading k8s.io/api v0.32.9\nbuild failed: syntax error") is None
