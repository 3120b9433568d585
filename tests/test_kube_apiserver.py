"""kube-apiserver artifacts checked with the real tools that consume them: openssl, kubectl, systemd-analyze.

Expectations come from the test's own cluster file and from upstream release facts (PR numbers in comments),
never from the generator's output. Network traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import base64
import ipaddress
import shutil
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run_invoke

NAME = "kapi-test"
SERVICE_CIDR = "10.96.0.0/12"
DOMAIN = "corp.internal"
EXTRA_DNS = "api.corp.example"
EXTRA_IP = "203.0.113.7"
PKI_DIR = "/etc/kubernetes/pki"
CONFIG_DIR = "/etc/kubernetes"
UNIT_DIR = "/etc/systemd/system"


def write_cluster(path: Path, name: str, version: str | None = None) -> dict:
    spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    spec["name"] = name
    if version:
        spec["kubernetes_version"] = version
    spec["network"] = {"service_cidr": SERVICE_CIDR, "cluster_domain": DOMAIN}
    spec["paths"] = {"pki_dir": PKI_DIR, "config_dir": CONFIG_DIR, "systemd_dir": UNIT_DIR}
    spec["components"] = {
        "kube-apiserver": {"extra_sans": [EXTRA_DNS, EXTRA_IP]},
        "kube-controller-manager": {"cluster_cidr": "10.244.0.0/16"},
    }
    path.write_text(yaml.safe_dump(spec))
    return spec


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict, Path]]:
    """A fresh cluster (own CA) rendered by the real `invoke render`; build/<name>/ removed afterwards."""
    path = tmp_path_factory.mktemp("cluster") / f"{NAME}.yaml"
    spec = write_cluster(path, NAME)
    build = REPO / "build" / NAME
    shutil.rmtree(build, ignore_errors=True)
    run_invoke("render", "--cluster", str(path))
    yield spec | {"_file": str(path)}, build
    shutil.rmtree(build, ignore_errors=True)


def masters(spec: dict) -> list[dict]:
    return [n for n in spec["nodes"] if "master" in n.get("roles", ["master", "etcd"])]


def node_path(build: Path, node: dict, absolute: str) -> Path:
    return build / "nodes" / node["name"] / absolute.lstrip("/")


def openssl(*args: str) -> str:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


def extensions(cert: Path) -> str:
    return openssl("x509", "-in", str(cert), "-noout", "-subject", "-ext",
                   "subjectAltName,extendedKeyUsage,keyUsage,basicConstraints")


# --- certificates -----------------------------------------------------------------------------------------------

def test_certificates_chain_to_the_cluster_ca(rendered: tuple[dict, Path]) -> None:
    _, build = rendered
    for name in ("kube-apiserver", "apiserver-kubelet-client"):
        out = openssl("verify", "-CAfile", str(build / "pki" / "ca.pem"), str(build / "pki" / f"{name}.pem"))
        assert out.strip().endswith(": OK"), out


def test_serving_certificate_is_server_only_with_cn_kubernetes(rendered: tuple[dict, Path]) -> None:
    _, build = rendered
    out = extensions(build / "pki" / "kube-apiserver.pem")
    assert "CN = kubernetes" in out or "CN=kubernetes" in out
    assert "TLS Web Server Authentication" in out
    assert "TLS Web Client Authentication" not in out
    assert "Digital Signature" in out and "Key Encipherment" in out
    assert "CA:FALSE" in out


def test_kubelet_client_certificate_is_client_only_and_not_system_masters(rendered: tuple[dict, Path]) -> None:
    _, build = rendered
    out = extensions(build / "pki" / "apiserver-kubelet-client.pem")
    assert "TLS Web Client Authentication" in out
    assert "TLS Web Server Authentication" not in out
    assert "system:masters" not in out


def test_serving_certificate_lists_every_name_a_client_uses(rendered: tuple[dict, Path]) -> None:
    spec, build = rendered
    out = extensions(build / "pki" / "kube-apiserver.pem")
    san_line = out.split("Subject Alternative Name:", 1)[1]
    first_service_ip = str(next(iter(ipaddress.ip_network(SERVICE_CIDR).hosts())))
    wanted_ips = [n["ip"] for n in masters(spec)] + [spec["api_server"]["vip"], "127.0.0.1", first_service_ip,
                                                       EXTRA_IP]
    wanted_dns = ["kubernetes", "kubernetes.default", "kubernetes.default.svc", f"kubernetes.default.svc.{DOMAIN}",
                  EXTRA_DNS]
    for ip in wanted_ips:
        assert f"IP Address:{ip}" in san_line, ip
    for dns in wanted_dns:
        assert f"DNS:{dns}," in san_line + ",", dns
    assert "DNS:kubernetes.default.svc.cluster.local" not in san_line  # the domain follows the cluster file
    assert not any(part.strip().endswith(".") for part in san_line.split(","))


# --- the real kubectl against a stand-in TLS server --------------------------------------------------------------

class StandIn:
    """STAND-IN, NOT kube-apiserver: a TLS server on 127.0.0.1 presenting a generated certificate and key.

    It answers GET /version with a fixed JSON body. With `client_ca` it requires a client certificate signed by
    that CA and records the subject it saw, the way kube-apiserver's --client-ca-file authenticates users.
    """

    BODY = b'{"major":"1","minor":"30","gitVersion":"v1.30.0-standin"}'

    def __init__(self, cert: Path, key: Path, client_ca: Path | None = None) -> None:
        self.subjects: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                peer = self.connection.getpeercert()  # type: ignore[attr-defined]
                if peer:
                    outer.subjects.append(str(peer.get("subject")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(outer.BODY)))
                self.end_headers()
                self.wfile.write(outer.BODY)

            def log_message(self, *args: object) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        if client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(str(client_ca))
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> StandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def kubectl_version(kubeconfig: Path, port: int, server_name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), "--server", f"https://127.0.0.1:{port}",
         "--tls-server-name", server_name, "--request-timeout", "10s", "get", "--raw", "/version"],
        capture_output=True, text=True,
    )


def test_real_kubectl_accepts_the_certificate_for_every_name(rendered: tuple[dict, Path]) -> None:
    spec, build = rendered
    pki = build / "pki"
    names = [spec["api_server"]["vip"], *(n["ip"] for n in masters(spec)), f"kubernetes.default.svc.{DOMAIN}",
             "kubernetes", "127.0.0.1", EXTRA_DNS]
    with StandIn(pki / "kube-apiserver.pem", pki / "kube-apiserver-key.pem") as server:
        for name in names:
            proc = kubectl_version(pki / "admin.kubeconfig", server.port, name)
            assert proc.returncode == 0, f"{name}: {proc.stderr}"
            assert "v1.30.0-standin" in proc.stdout
        for wrong in ("not-in-the-sans.example", "kubernetes.default.svc.cluster.local", "192.0.2.99"):
            proc = kubectl_version(pki / "admin.kubeconfig", server.port, wrong)
            assert proc.returncode != 0, wrong
            assert "x509" in proc.stderr and "certificate is valid for" in proc.stderr, proc.stderr


# --- encryption config and service-account keys ----------------------------------------------------------------

def test_encryption_key_is_32_random_bytes_kept_0600(rendered: tuple[dict, Path]) -> None:
    _, build = rendered
    key_file = build / "pki" / "encryption-key.b64"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.b64decode(key_file.read_text().strip(), validate=True)) == 32


def test_encryption_config_uses_the_v1_format_of_1_13_and_later(rendered: tuple[dict, Path]) -> None:
    spec, build = rendered
    key = (build / "pki" / "encryption-key.b64").read_text().strip()
    for node in masters(spec):
        path = node_path(build, node, f"{CONFIG_DIR}/encryption-config.yaml")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        doc = yaml.safe_load(path.read_text())
        # apiserver.config.k8s.io/v1 EncryptionConfiguration since 1.13 (kubernetes #67383)
        assert (doc["apiVersion"], doc["kind"]) == ("apiserver.config.k8s.io/v1", "EncryptionConfiguration")
        resource = doc["resources"][0]
        assert resource["resources"] == ["secrets"]
        first = resource["providers"][0]
        (provider, body), = first.items()
        assert provider in ("secretbox", "aescbc", "aesgcm")
        assert body["keys"][0]["secret"] == key
        assert resource["providers"][-1] == {"identity": {}}


def test_secrets_are_stable_across_re_renders(rendered: tuple[dict, Path]) -> None:
    spec, build = rendered
    watched = [build / "pki" / "encryption-key.b64", build / "pki" / "service-account-key.pem",
               node_path(build, masters(spec)[0], f"{CONFIG_DIR}/encryption-config.yaml"),
               node_path(build, masters(spec)[0], f"{PKI_DIR}/service-account-key.pem")]
    before = [p.read_bytes() for p in watched]
    run_invoke("render", "--cluster", spec["_file"])
    run_invoke("render", "--cluster", spec["_file"], "--component", "kube-apiserver", "--phase", "config")
    assert [p.read_bytes() for p in watched] == before


def test_service_account_key_pair_matches(rendered: tuple[dict, Path]) -> None:
    spec, build = rendered
    derived = openssl("pkey", "-in", str(build / "pki" / "service-account-key.pem"), "-pubout")
    assert derived.strip() == (build / "pki" / "service-account.pem").read_text().strip()
    for node in masters(spec):
        on_node = node_path(build, node, f"{PKI_DIR}/service-account-key.pem")
        assert stat.S_IMODE(on_node.stat().st_mode) == 0o600
        assert on_node.read_bytes() == (build / "pki" / "service-account-key.pem").read_bytes()


def test_private_keys_on_nodes_are_0600(rendered: tuple[dict, Path]) -> None:
    spec, build = rendered
    for node in masters(spec):
        for name in ("kube-apiserver-key.pem", "apiserver-kubelet-client-key.pem"):
            assert stat.S_IMODE(node_path(build, node, f"{PKI_DIR}/{name}").stat().st_mode) == 0o600


# --- units -------------------------------------------------------------------------------------------------------

def exec_flags(unit: str) -> list[str]:
    """The ExecStart arguments, joined across backslash continuations, as systemd reads them."""
    text = unit.replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    return line.split()[1:]


def verify_unit(tmp: Path, unit_file: Path, binary: str) -> subprocess.CompletedProcess:
    """systemd-analyze verify, with ExecStart pointed at a STAND-IN executable (the real binary is not here)."""
    standin = tmp / "standin-binary"
    standin.write_text("#!/bin/sh\n# STAND-IN for a Kubernetes binary, used only by systemd-analyze verify\nexit 0\n")
    standin.chmod(0o755)
    text = unit_file.read_text()
    assert f"ExecStart={binary} " in text
    copy = tmp / unit_file.name
    copy.write_text(text.replace(f"ExecStart={binary} ", f"ExecStart={standin} "))
    return subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)


def test_units_pass_systemd_analyze_verify(rendered: tuple[dict, Path], tmp_path: Path) -> None:
    spec, build = rendered
    for node in masters(spec):
        unit = node_path(build, node, f"{UNIT_DIR}/kube-apiserver.service")
        proc = verify_unit(tmp_path, unit, "/opt/kubernetes/bin/kube-apiserver")
        assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr
        flags = exec_flags(unit.read_text())
        assert f"--bind-address={node['ip']}" in flags and f"--advertise-address={node['ip']}" in flags
        assert f"--secure-port={spec['api_server'].get('secure_port', 6443)}" in flags


def test_a_broken_continuation_is_caught_by_systemd_analyze(rendered: tuple[dict, Path], tmp_path: Path) -> None:
    # the check above can fail: one space after a backslash (the seeds' error) makes systemd complain
    spec, build = rendered
    unit = node_path(build, masters(spec)[0], f"{UNIT_DIR}/kube-apiserver.service")
    broken = tmp_path / "broken" / "kube-apiserver.service"
    broken.parent.mkdir()
    broken.write_text(unit.read_text().replace(" \\\n", " \\ \n", 1))
    proc = verify_unit(broken.parent, broken, "/opt/kubernetes/bin/kube-apiserver")
    assert proc.stderr.strip() != ""


# --- flags by release, from upstream facts -------------------------------------------------------------------------

VERSIONS = ["1.12.10", "1.18.20", "1.19.16", "1.22.17", "1.23.17", "1.24.17", "1.25.16", "1.28.15", "1.36.0"]
NEVER = (
    "Initializers",          # admission plugin removed in 1.14 (#72972), alpha API never on by default
    "--enable-swagger-ui",   # inert since 1.14 (#72924), removed in 1.24 (#105032)
    "--kubelet-https",       # deprecated 1.19 (#91630), removed 1.22 (#101178)
    "--log-dir", "--logtostderr", "--alsologtostderr",  # klog flags removed in 1.26 (#112120)
    "--insecure-bind-address", "--address",             # inert since 1.20 (#95856), removed 1.24
)


def minor(version: str) -> int:
    return int(version.split(".")[1])


def render_in_memory(tmp_path: Path, version: str) -> tuple[dict, dict[str, bytes]]:
    """All artifacts for the test cluster at `version`, computed by the generator without writing anything."""
    from generator.model import load
    from generator.render import make_artifacts

    path = tmp_path / f"ver-{version.replace('.', '-')}.yaml"
    spec = write_cluster(path, f"kapi-ver-{minor(version)}", version)
    artifacts, _ = make_artifacts(load(str(path)))
    return spec, {a.path: a.content for a in artifacts}


@pytest.mark.parametrize("version", VERSIONS)
def test_apiserver_flags_by_release(tmp_path: Path, version: str) -> None:
    spec, files = render_in_memory(tmp_path, version)
    m = minor(version)
    first = masters(spec)[0]
    flags = exec_flags(files[f"nodes/{first['name']}{UNIT_DIR}/kube-apiserver.service"].decode())
    names = {f.split("=", 1)[0] for f in flags}
    joined = " ".join(flags)
    for never in NEVER:
        assert never not in joined, never
    # --insecure-port=0 needed until the flag's removal in 1.24 (#95856 made it inert in 1.20)
    assert ("--insecure-port=0" in flags) == (m < 24)
    # --encryption-provider-config from 1.13 (#71206); the experimental name removed in 1.24 (#108423)
    expected_encryption = "--encryption-provider-config" if m >= 13 else "--experimental-encryption-provider-config"
    assert f"{expected_encryption}={CONFIG_DIR}/encryption-config.yaml" in flags
    assert ({"--encryption-provider-config", "--experimental-encryption-provider-config"} & names
            == {expected_encryption})
    # --service-account-issuer and --service-account-signing-key-file are required from 1.20 (#95896)
    if m >= 20:
        assert {"--service-account-issuer", "--service-account-signing-key-file"} <= names
        issuer = next(f for f in flags if f.startswith("--service-account-issuer=")).split("=", 1)[1]
        assert issuer.startswith("https://")
    assert f"--service-account-key-file={PKI_DIR}/service-account.pem" in flags
    # etcd: the client pair issued by the etcd chapter, checked against etcd's own CA, every etcd member on 2379
    assert f"--etcd-cafile={PKI_DIR}/etcd-ca.pem" in flags
    # the front proxy (upstream's aggregation-layer flags, present in every release since 1.7; kubeadm's names)
    for flag in (f"--requestheader-client-ca-file={PKI_DIR}/front-proxy-ca.pem",
                 "--requestheader-allowed-names=front-proxy-client",
                 "--requestheader-extra-headers-prefix=X-Remote-Extra-", "--requestheader-group-headers=X-Remote-Group",
                 "--requestheader-username-headers=X-Remote-User",
                 f"--proxy-client-cert-file={PKI_DIR}/front-proxy-client.pem",
                 f"--proxy-client-key-file={PKI_DIR}/front-proxy-client-key.pem"):
        assert flag in flags, flag
    assert f"--client-ca-file={PKI_DIR}/ca.pem" in flags  # the API's clients: the cluster CA, never the others
    assert f"--etcd-certfile={PKI_DIR}/apiserver-etcd-client.pem" in flags
    assert f"--etcd-keyfile={PKI_DIR}/apiserver-etcd-client-key.pem" in flags
    etcd_ips = [n["ip"] for n in spec["nodes"] if "etcd" in n.get("roles", ["master", "etcd"])]
    assert f"--etcd-servers={','.join(f'https://{ip}:2379' for ip in etcd_ips)}" in flags
    assert f"--service-cluster-ip-range={SERVICE_CIDR}" in flags
    assert "--authorization-mode=Node,RBAC" in flags
    # the encryption config format of the release: EncryptionConfiguration from 1.13 (#67383)
    config = yaml.safe_load(files[f"nodes/{first['name']}{CONFIG_DIR}/encryption-config.yaml"])
    if m >= 13:
        assert (config["apiVersion"], config["kind"]) == ("apiserver.config.k8s.io/v1", "EncryptionConfiguration")
    else:
        assert (config["apiVersion"], config["kind"]) == ("v1", "EncryptionConfig")


@pytest.mark.parametrize("version,path", [("1.12.10", "/healthz"), ("1.15.12", "/healthz"),
                                          ("1.16.15", "/readyz?verbose"), ("1.30.4", "/readyz?verbose")])
def test_readiness_goes_through_the_endpoint_with_readyz_from_1_16(tmp_path: Path, version: str, path: str) -> None:
    # /readyz was added in 1.16 (#78458)
    from generator.catalog import find_step
    from generator.model import load

    file = tmp_path / "ready.yaml"
    spec = write_cluster(file, "kapi-ready", version)
    step = find_step(load(str(file)), "kube-apiserver.ready")
    (command,) = step.local
    assert "admin.kubeconfig" in command.run
    assert f"--raw '{path}'" in command.run or f"--raw {path}" in command.run
    assert not any(n["ip"] in command.run for n in spec["nodes"])  # the kubeconfig's endpoint, not one master


def test_kubelet_rbac_is_idempotent_and_names_the_client_certificate_user(rendered: tuple[dict, Path]) -> None:
    from generator.catalog import find_step
    from generator.model import load

    spec, build = rendered
    step = find_step(load(spec["_file"]), "kube-apiserver.kubelet-rbac")
    create, verify = step.local
    cn = openssl("x509", "-in", str(build / "pki" / "apiserver-kubelet-client.pem"), "-noout", "-subject",
                 "-nameopt", "multiline").split("commonName", 1)[1].split("=", 1)[1].strip()
    assert f"--user={cn}" in create.run and "--clusterrole=system:kubelet-api-admin" in create.run
    # re-running must not fail on AlreadyExists: it checks first (or applies)
    assert "||" in create.run or "apply" in create.run
    assert verify.expect and cn in verify.expect
