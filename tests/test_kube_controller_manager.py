"""kube-controller-manager artifacts checked with openssl, the real kubectl and systemd-analyze.

Expectations come from the test's cluster file and upstream release facts (PR numbers in comments).
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_kube_apiserver import (
    PKI_DIR,
    UNIT_DIR,
    StandIn,
    exec_flags,
    extensions,
    kubectl_version,
    masters,
    minor,
    node_path,
    openssl,
    render_in_memory,
    verify_unit,
)
from tests.test_kube_apiserver import rendered as apiserver_rendered  # noqa: F401  (shared module fixture)

USER = "system:kube-controller-manager"
CONFIG_DIR = "/etc/kubernetes"


@pytest.fixture(scope="module")
def rendered(apiserver_rendered: tuple[dict, Path]) -> Iterator[tuple[dict, Path]]:  # noqa: F811
    yield apiserver_rendered


def test_certificate_chains_and_carries_both_usages(rendered: tuple[dict, Path]) -> None:
    spec, build = rendered
    cert = build / "pki" / "kube-controller-manager.pem"
    assert openssl("verify", "-CAfile", str(build / "pki" / "ca.pem"), str(cert)).strip().endswith(": OK")
    out = extensions(cert)
    assert f"CN = {USER}" in out and f"O = {USER}" in out
    assert "TLS Web Server Authentication" in out and "TLS Web Client Authentication" in out
    assert "Digital Signature" in out and "Key Encipherment" in out
    for node in masters(spec):
        assert f"IP Address:{node['ip']}" in out
    assert "IP Address:127.0.0.1" in out


def test_kubeconfig_presents_the_controller_manager_identity_to_a_tls_server(rendered: tuple[dict, Path]) -> None:
    spec, build = rendered
    pki = build / "pki"
    # the stand-in requires a client certificate from the cluster CA, as --client-ca-file does
    with StandIn(pki / "kube-apiserver.pem", pki / "kube-apiserver-key.pem", client_ca=pki / "ca.pem") as server:
        for node in masters(spec):
            kubeconfig = node_path(build, node, f"{CONFIG_DIR}/kube-controller-manager.kubeconfig")
            assert stat.S_IMODE(kubeconfig.stat().st_mode) == 0o600
            proc = kubectl_version(kubeconfig, server.port, spec["api_server"]["vip"])
            assert proc.returncode == 0, proc.stderr
        assert server.subjects and all(USER in s for s in server.subjects)


def test_signing_keys_on_masters(rendered: tuple[dict, Path]) -> None:
    spec, build = rendered
    ca_key = (build / "pki" / "ca-key.pem").read_bytes()
    sa_pub = (build / "pki" / "service-account.pem").read_text().strip()
    for node in masters(spec):
        on_node_ca = node_path(build, node, f"{PKI_DIR}/ca-key.pem")
        assert on_node_ca.read_bytes() == ca_key and stat.S_IMODE(on_node_ca.stat().st_mode) == 0o600
        sa_key = node_path(build, node, f"{PKI_DIR}/service-account-key.pem")
        assert openssl("pkey", "-in", str(sa_key), "-pubout").strip() == sa_pub


def test_units_pass_systemd_analyze_verify(rendered: tuple[dict, Path], tmp_path: Path) -> None:
    spec, build = rendered
    for node in masters(spec):
        unit = node_path(build, node, f"{UNIT_DIR}/kube-controller-manager.service")
        proc = verify_unit(tmp_path, unit, "/opt/kubernetes/bin/kube-controller-manager")
        assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr
        flags = exec_flags(unit.read_text())
        assert "--bind-address=127.0.0.1" in flags  # CIS 1.3.7: health and metrics on the node only
        assert f"--service-account-private-key-file={PKI_DIR}/service-account-key.pem" in flags
        assert f"--cluster-signing-key-file={PKI_DIR}/ca-key.pem" in flags
        assert "--cluster-cidr=10.244.0.0/16" in flags


VERSIONS = ["1.12.10", "1.18.20", "1.19.16", "1.22.17", "1.23.17", "1.24.17", "1.25.16", "1.28.15", "1.36.0"]


def expected_lock(m: int) -> str:
    # default lock: endpoints <= 1.16, endpointsleases 1.17-1.19 (#84084), leases from 1.20 (#94603)
    return "endpoints" if m <= 16 else "endpointsleases" if m <= 19 else "leases"


@pytest.mark.parametrize("version", VERSIONS)
def test_controller_manager_flags_by_release(tmp_path: Path, version: str) -> None:
    spec, files = render_in_memory(tmp_path, version)
    m = minor(version)
    flags = exec_flags(files[f"nodes/{masters(spec)[0]['name']}{UNIT_DIR}/kube-controller-manager.service"].decode())
    names = {f.split("=", 1)[0] for f in flags}
    assert "--secure-port=10257" in flags  # secure serving from 1.12 (#67069)
    # the insecure port exists until 1.22 (#96216; flags removed in 1.24, #106860): kept on loopback, where
    # componentstatuses probes it, never switched off (that would read Unhealthy) nor open to the network
    if m <= 21:
        assert {"--address=127.0.0.1", "--port=10252"} <= set(flags), flags
    else:
        assert not names & {"--port", "--address"}, flags
    # --cluster-signing-duration from 1.19 (#91154); the experimental flag removed in 1.25 (#108476)
    duration = "--cluster-signing-duration" if m >= 19 else "--experimental-cluster-signing-duration"
    assert duration in names
    assert {"--cluster-signing-duration", "--experimental-cluster-signing-duration"} & names == {duration}
    lock = next(f for f in flags if f.startswith("--leader-elect-resource-lock=")).split("=", 1)[1]
    assert lock == expected_lock(m)
    if m >= 24:
        assert lock not in ("endpoints", "configmaps")  # removed in 1.24 (#106852)
    if m >= 28:
        assert lock not in ("endpointsleases", "configmapsleases")  # removed in 1.28 (#117558)
    for flag in ("--leader-elect=true", "--use-service-account-credentials=true",
                 "--controllers=*,bootstrapsigner,tokencleaner", f"--root-ca-file={PKI_DIR}/ca.pem",
                 f"--cluster-signing-cert-file={PKI_DIR}/ca.pem", "--service-cluster-ip-range=10.96.0.0/12"):
        assert flag in flags, flag
    kubeconfig = f"{CONFIG_DIR}/kube-controller-manager.kubeconfig"
    for flag in ("--kubeconfig", "--authentication-kubeconfig", "--authorization-kubeconfig"):
        assert f"{flag}={kubeconfig}" in flags
    assert not {"--log-dir", "--logtostderr", "--alsologtostderr"} & names  # removed in 1.26 (#112120)


@pytest.mark.parametrize("version,obj", [("1.16.15", "endpoints"), ("1.19.16", "endpoints"),
                                         ("1.20.15", "lease"), ("1.30.4", "lease")])
def test_leader_is_read_from_the_object_of_the_release(tmp_path: Path, version: str, obj: str) -> None:
    from generator.catalog import find_step
    from generator.model import load
    from tests.test_kube_apiserver import write_cluster

    file = tmp_path / "leader.yaml"
    write_cluster(file, "kcm-leader", version)
    cluster = load(str(file))
    (query,) = find_step(cluster, "kube-controller-manager.leader").local
    assert f"-n kube-system get {obj} kube-controller-manager " in query.run
    (failover,) = find_step(cluster, "kube-controller-manager.failover").local
    assert "systemctl stop kube-controller-manager" in failover.run
    assert "systemctl start kube-controller-manager" in failover.run
