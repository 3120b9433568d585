"""The example's kubeconfigs, read by a real kubectl: names, server, the embedded key, certificate and CA; then a
real mutual-TLS request by kubectl with each of them.

The only fake is tests/standin_apiserver.py, a clearly labelled stand-in for kube-apiserver on 127.0.0.1 so that a
real `kubectl` can make a real mutual-TLS request; it is the only server ever contacted.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from example_artifacts import (
    ADMIN_GROUP,
    EXAMPLE,
    SCHEDULER_USER,
    find_one,
    foreign_client_cert,
    key_of,
    node_dirs,
    openssl,
    run,
)
from standin_apiserver import LEASE_PATH, StandinApiserver


def api_endpoint() -> str:
    api = EXAMPLE["api_server"]
    return f"https://{api.get('external_address') or api['vip']}:{api['port']}"


# ---------------------------------------------------------------------------------------------------------------
# 1. kubeconfigs as kubectl reads them


@functools.cache
def kubectl_binary() -> str:
    """The installed kubectl. Google Cloud SDK's `kubectl` is a *dispatcher*: before every command, even
    `config view`, it asks the kubeconfig's server for /version to pick `kubectl.<major>.<minor>` beside it, which
    would send traffic to the cluster's real address. There we call the newest versioned kubectl directly."""
    found = shutil.which("kubectl")
    assert found, "kubectl is not installed (.ci/system-packages installs kubernetes-client)"
    real = Path(found).resolve()
    versioned = [p for p in real.parent.glob("kubectl.*") if re.fullmatch(r"kubectl\.\d+\.\d+", p.name)]
    if versioned:
        return str(max(versioned, key=lambda p: tuple(int(x) for x in p.name.split(".")[1:])))
    return str(real)


def kubectl_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.pop("KUBECONFIG", None)
    env.update(HOME=str(home), NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    return env


def kubectl(home: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    if args[0] != "config":  # only the stand-in on 127.0.0.1 is ever contacted
        config = yaml.safe_load(Path(args[args.index("--kubeconfig") + 1]).read_text())
        assert {c["cluster"]["server"].split("/")[2].rsplit(":", 1)[0] for c in config["clusters"]} == {"127.0.0.1"}
    return run(kubectl_binary(), *args, check=check, env=kubectl_env(home), timeout=60)


VIEW = ('{.current-context}{"\\n"}{.contexts[0].name}{"\\n"}{.contexts[0].context.user}{"\\n"}{.users[0].name}'
        '{"\\n"}{.contexts[0].context.cluster}{"\\n"}{.clusters[0].name}{"\\n"}{.clusters[0].cluster.server}')


def kubeconfigs(build: Path) -> list[tuple[Path, str]]:
    """(file, the user it must authenticate as)."""
    found = [(build / "pki" / "admin.kubeconfig", "admin")]
    found += [(find_one(n, "kube-scheduler.kubeconfig"), SCHEDULER_USER) for n in node_dirs(build).values()]
    return found


def test_kubectl_reads_every_kubeconfig(example_build, tmp_path):
    sched = EXAMPLE.get("components", {}).get("kube-scheduler", {})
    assert sched.get("kubeconfig_server", "vip") == "vip", "this test expects the example to go through the VIP"
    for path, user in kubeconfigs(example_build):
        out = kubectl(tmp_path, "config", "view", "--kubeconfig", str(path), "--minify", "-o", f"jsonpath={VIEW}")
        current, context, ctx_user, user_name, ctx_cluster, cluster_name, server = out.stdout.split("\n")
        # kubeadm naming: cluster `kubernetes`, context `<user>@kubernetes`
        assert current == context == f"{user}@kubernetes", path
        assert ctx_user == user_name == user, path
        assert ctx_cluster == cluster_name == "kubernetes", path
        assert server == api_endpoint(), path


def b64_field(home: Path, path: Path, field: str) -> bytes:
    out = kubectl(home, "config", "view", "--kubeconfig", str(path), "--minify", "--raw",
                  "-o", f"jsonpath={{{field}}}").stdout
    assert out, f"{path}: {field} is empty"
    return base64.b64decode(out, validate=True)


def all_kubeconfigs(build: Path) -> list[Path]:
    found = sorted((build / "pki").glob("*.kubeconfig"))
    for node in node_dirs(build).values():
        found += sorted(node.rglob("*.kubeconfig"))
    return found


def test_every_kubeconfig_embeds_a_key_its_cert_and_the_ca(example_build, tmp_path):
    ca = (example_build / "pki" / "ca.pem").read_bytes()
    configs = all_kubeconfigs(example_build)
    assert {p for p, _ in kubeconfigs(example_build)} <= set(configs)
    for path in configs:
        key = b64_field(tmp_path, path, ".users[0].user.client-key-data")
        cert = b64_field(tmp_path, path, ".users[0].user.client-certificate-data")
        # seed 003's mistake was a certificate in the key slot
        assert re.match(rb"-----BEGIN (RSA |EC )?PRIVATE KEY-----\n", key), (path, key[:40])
        assert b"CERTIFICATE" not in key, path
        assert cert.startswith(b"-----BEGIN CERTIFICATE-----\n"), path
        assert b64_field(tmp_path, path, ".clusters[0].cluster.certificate-authority-data") == ca, path
        assert openssl("pkey", "-pubout", stdin=key.decode()) == openssl("x509", "-noout", "-pubkey",
                                                                          stdin=cert.decode()), path
        # kubeadm convention: the kubeconfig user is named after the certificate's CN, the identity RBAC sees
        user = kubectl(tmp_path, "config", "view", "--kubeconfig", str(path), "--minify",
                       "-o", "jsonpath={.users[0].name}").stdout
        subject_line = openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253", stdin=cert.decode()).strip()
        assert re.match(rf"subject=CN={re.escape(user)}(,|$)", subject_line), (path, user, subject_line)
        # the embedded pair is a pair on disk in the same place (the workstation's pki/, or that node's tree)
        rel = path.relative_to(example_build)
        home = example_build / "pki" if rel.parts[0] == "pki" else example_build / "nodes" / rel.parts[1]
        same = [c for c in home.rglob("*.pem") if c.read_bytes() == cert]
        assert same, f"{path}: its certificate is not among the files beside it"
        assert key_of(same[0]).read_bytes() == key, path


# ---------------------------------------------------------------------------------------------------------------
# 2. a real mutual-TLS request by kubectl, against the labelled stand-in for kube-apiserver


@pytest.fixture
def standin(example_build, tmp_path):
    with StandinApiserver(example_build / "pki" / "ca.pem", example_build / "pki" / "ca-key.pem",
                          {SCHEDULER_USER, "admin"}, tmp_path) as api:
        yield api


def pointed_at(standin: StandinApiserver, source: Path, home: Path) -> Path:
    """A private copy of `source` whose cluster `kubernetes` points at the stand-in (the original is untouched)."""
    copy = home / f"copy-{source.name}"
    shutil.copyfile(source, copy)
    copy.chmod(0o600)
    kubectl(home, "config", "set-cluster", "kubernetes", f"--server={standin.url}", "--kubeconfig", str(copy))
    return copy


def test_kubectl_mtls_as_kube_scheduler(example_build, standin, tmp_path):
    for node in node_dirs(example_build).values():
        config = pointed_at(standin, find_one(node, "kube-scheduler.kubeconfig"), tmp_path)
        version = json.loads(kubectl(tmp_path, "--kubeconfig", str(config), "get", "--raw", "/version").stdout)
        assert version["standin"] is True
        assert version["user"] == {"username": SCHEDULER_USER, "groups": [SCHEDULER_USER]}
        lease = json.loads(kubectl(tmp_path, "--kubeconfig", str(config), "get", "--raw", LEASE_PATH).stdout)
        assert lease["user"]["username"] == SCHEDULER_USER
    assert standin.seen and {s["cn"] for s in standin.seen} == {SCHEDULER_USER}
    assert any(s["path"] == LEASE_PATH for s in standin.seen)
    assert standin.rejected == []


def test_kubectl_mtls_as_admin(example_build, standin, tmp_path):
    config = pointed_at(standin, example_build / "pki" / "admin.kubeconfig", tmp_path)
    version = json.loads(kubectl(tmp_path, "--kubeconfig", str(config), "get", "--raw", "/version").stdout)
    assert version["user"] == {"username": "admin", "groups": [ADMIN_GROUP]}
    assert {(s["cn"], tuple(s["groups"])) for s in standin.seen} == {("admin", (ADMIN_GROUP,))}


def with_credentials(home: Path, config: Path, cert_pem: bytes, key_pem: bytes) -> None:
    (home / "c.pem").write_bytes(cert_pem)
    (home / "k.pem").write_bytes(key_pem)
    kubectl(home, "config", "set-credentials", kubectl(home, "config", "view", "--kubeconfig", str(config),
                                                        "-o", "jsonpath={.users[0].name}").stdout,
            f"--client-certificate={home / 'c.pem'}", f"--client-key={home / 'k.pem'}", "--embed-certs=true",
            "--kubeconfig", str(config))


def test_kubectl_with_a_client_cert_from_another_ca_is_refused(example_build, standin, tmp_path):
    config = pointed_at(standin, example_build / "pki" / "admin.kubeconfig", tmp_path)
    with_credentials(tmp_path, config, *foreign_client_cert("admin"))
    proc = kubectl(tmp_path, "--kubeconfig", str(config), "--request-timeout=20s", "get", "--raw", "/version",
                   check=False)
    assert proc.returncode != 0
    # TLS 1.3: kubectl may read the server's alert (bad certificate) or, having already written, a reset
    assert re.search(r"tls|certificate|connection reset|broken pipe|EOF", proc.stderr, re.I), proc.stderr
    assert standin.seen == [], "no request may get through with a certificate the CA did not sign"
    rejected = standin.wait_for_rejection()
    assert rejected and any("certificate" in r.lower() for r in rejected), rejected


def test_kubectl_as_an_unknown_user_of_the_same_ca_is_forbidden(example_build, standin, tmp_path):
    """The identity check is real: a valid certificate with another CN gets 403, so the positive tests mean it."""
    config = pointed_at(standin, example_build / "pki" / "admin.kubeconfig", tmp_path)
    signer = ((example_build / "pki/ca.pem").read_bytes(), (example_build / "pki/ca-key.pem").read_bytes())
    with_credentials(tmp_path, config, *foreign_client_cert("intruder", signer))
    proc = kubectl(tmp_path, "--kubeconfig", str(config), "get", "--raw", "/version", check=False)
    assert proc.returncode != 0 and "Forbidden" in proc.stderr, proc.stderr
    assert standin.seen and {s["cn"] for s in standin.seen} == {"intruder"}


def test_kubectl_refuses_a_certificate_in_the_key_slot(example_build, standin, tmp_path):
    """Seed 003's mistake, reproduced on a copy: kubectl fails before any request is made."""
    config = pointed_at(standin, example_build / "pki" / "admin.kubeconfig", tmp_path)
    cert = (example_build / "pki" / "admin.pem").read_bytes()
    with_credentials(tmp_path, config, cert, cert)
    proc = kubectl(tmp_path, "--kubeconfig", str(config), "get", "--raw", "/version", check=False)
    assert proc.returncode != 0
    assert "found a certificate rather than a key" in proc.stderr, proc.stderr
    assert standin.seen == []
