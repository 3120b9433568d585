"""The rendered artifacts, checked with the real tools a reader would use: openssl, kubectl, systemd-analyze.

Expectations come from the cluster file (clusters/example.yaml) and from upstream Kubernetes facts written out here
by hand (kubeadm/cfssl certificate conventions; the kubescheduler.config.k8s.io types of each apiVersion; flags by
release), never from the generator's own tables. The only fake is tests/standin_apiserver.py, a clearly labelled
stand-in for kube-apiserver on 127.0.0.1 so that a real `kubectl` can make a real mutual-TLS request.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from conftest import REPO, run_invoke
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from standin_apiserver import LEASE_PATH, StandinApiserver

EXAMPLE_FILE = REPO / "clusters" / "example.yaml"
EXAMPLE = yaml.safe_load(EXAMPLE_FILE.read_text(encoding="utf-8"))
DEFAULT_ROLES = ("master", "etcd")  # a node without `roles` is a stacked master (README: smallest valid file)
MASTERS = [n for n in EXAMPLE["nodes"] if "master" in n.get("roles", DEFAULT_ROLES)]
SCHEDULER_USER = "system:kube-scheduler"  # the CN the built-in RBAC binds (system:kube-scheduler ClusterRole)
ADMIN_GROUP = "system:masters"  # the group the built-in cluster-admin binding names
CLIENT_AUTH = "TLS Web Client Authentication"
SERVER_AUTH = "TLS Web Server Authentication"


def api_endpoint() -> str:
    api = EXAMPLE["api_server"]
    return f"https://{api.get('external_address') or api['vip']}:{api['port']}"


def run(*cmd: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, **kwargs)
    if check:
        assert proc.returncode == 0, f"{' '.join(cmd)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def openssl(*args: str, stdin: str | None = None) -> str:
    return run("openssl", *args, input=stdin).stdout


# ---------------------------------------------------------------------------------------------------------------
# files of the rendered example


def certificates(build: Path) -> list[Path]:
    """Every PEM certificate in pki/ and in each master's tree (keys and public keys are not certificates)."""
    found = [*sorted((build / "pki").glob("*.pem"))]
    for node in node_dirs(build).values():
        found += sorted(node.rglob("*.pem"))
    return [p for p in found if p.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")]


def is_ca(cert: Path) -> bool:
    return "CA:TRUE" in openssl("x509", "-in", str(cert), "-noout", "-ext", "basicConstraints")


def leaf_certs(build: Path) -> list[Path]:
    return [p for p in certificates(build) if not is_ca(p)]


def key_of(cert: Path) -> Path:
    return cert.with_name(f"{cert.stem}-key.pem")


def node_dirs(build: Path) -> dict[str, Path]:
    """build/<cluster>/nodes/<master>/ for each master of the cluster file (a stale extra directory is ignored)."""
    dirs = {n["name"]: build / "nodes" / n["name"] for n in MASTERS}
    for name, path in dirs.items():
        assert path.is_dir(), f"no files rendered for master {name}"
    return dirs


def find_one(root: Path, name: str) -> Path:
    hits = sorted(root.rglob(name))
    assert len(hits) == 1, f"expected exactly one {name} under {root}, found {hits}"
    return hits[0]


def test_every_master_has_its_files(example_build):
    for node in node_dirs(example_build).values():
        for name in ("ca.pem", "kube-scheduler.pem", "kube-scheduler-key.pem", "kube-scheduler.kubeconfig",
                     "kube-scheduler.yaml", "kube-scheduler.service"):
            find_one(node, name)


# ---------------------------------------------------------------------------------------------------------------
# 1. chain of trust: openssl verify


# Upstream's "PKI certificates and requirements": etcd (its members and its clients) and the front proxy each have
# a CA of their own; everything else hangs on the cluster CA. By file name, cfssljson -bare style.
CAS = ("ca.pem", "etcd-ca.pem", "front-proxy-ca.pem")
CA_CN = {"ca.pem": "kubernetes-ca", "etcd-ca.pem": "etcd-ca", "front-proxy-ca.pem": "front-proxy-ca"}  # kubeadm's


def domain_ca(cert: Path) -> str:
    if cert.name.startswith(("etcd-", "etcdctl", "apiserver-etcd-client")):
        return "etcd-ca.pem"
    return "front-proxy-ca.pem" if cert.name.startswith("front-proxy-client") else "ca.pem"


def test_openssl_verifies_every_leaf_against_its_own_ca_only(example_build):
    certs = leaf_certs(example_build)
    names = {str(p.relative_to(example_build)) for p in certs}
    assert {"pki/admin.pem", "pki/kube-scheduler.pem", "pki/apiserver-etcd-client.pem",
            "pki/front-proxy-client.pem"} <= names, names
    for node in node_dirs(example_build).values():
        assert find_one(node, "kube-scheduler.pem") in certs
    for cert in certs:
        for ca_name in CAS:
            ca = example_build / "pki" / ca_name
            # -x509_strict also rejects what Go's x509 would (e.g. a missing AKI, a bad basicConstraints)
            proc = run("openssl", "verify", "-x509_strict", "-CAfile", str(ca), str(cert), check=False)
            if ca_name == domain_ca(cert):
                assert proc.returncode == 0 and proc.stdout.strip() == f"{cert}: OK", proc.stdout + proc.stderr
            else:  # a certificate of one trust domain is worth nothing in another
                assert proc.returncode != 0, f"{cert} verifies against {ca_name}"
    for ca_name in CAS:
        # each CA is self-signed and verifies as its own anchor; every master carries the very same CA bytes
        ca = example_build / "pki" / ca_name
        assert run("openssl", "verify", "-x509_strict", "-CAfile", str(ca), str(ca)).stdout.strip() == f"{ca}: OK"
        for node in node_dirs(example_build).values():
            assert find_one(node, ca_name).read_bytes() == ca.read_bytes()
            if ca_name != "ca.pem":  # the controller manager signs with the cluster CA; the others stay at home
                assert not list(node.rglob(ca_name.replace(".pem", "-key.pem")))


def test_certificate_purposes_as_openssl_sees_them(example_build):
    ca = str(example_build / "pki" / "ca.pem")
    admin = str(example_build / "pki" / "admin.pem")
    scheduler = str(example_build / "pki" / "kube-scheduler.pem")
    for purpose in ("sslclient", "sslserver"):  # the scheduler cert is its client identity AND serves 10259
        assert run("openssl", "verify", "-purpose", purpose, "-CAfile", ca, scheduler).stdout.strip().endswith("OK")
    assert run("openssl", "verify", "-purpose", "sslclient", "-CAfile", ca, admin).stdout.strip().endswith("OK")
    # admin is a client certificate only: openssl must refuse it as a server certificate
    refused = run("openssl", "verify", "-purpose", "sslserver", "-CAfile", ca, admin, check=False)
    assert refused.returncode != 0 and "unsuitable certificate purpose" in refused.stdout + refused.stderr


def test_a_certificate_from_another_ca_fails_openssl_verify(example_build, tmp_path):
    """The check above can fail: the same tool rejects a leaf signed by some other CA."""
    stranger = tmp_path / "stranger.pem"
    stranger.write_bytes(foreign_client_cert(SCHEDULER_USER)[0])
    proc = run("openssl", "verify", "-CAfile", str(example_build / "pki" / "ca.pem"), str(stranger), check=False)
    assert proc.returncode != 0 and "unable to get local issuer certificate" in proc.stdout + proc.stderr


# ---------------------------------------------------------------------------------------------------------------
# 2. each key belongs to its certificate


def test_every_key_matches_its_certificate(example_build):
    certs = [*(example_build / "pki" / ca for ca in CAS), *leaf_certs(example_build)]
    for cert in certs:
        key = key_of(cert)
        assert key.is_file(), f"{cert} has no {key.name} beside it (cfssljson -bare naming)"
        from_cert = openssl("x509", "-in", str(cert), "-noout", "-pubkey")
        from_key = openssl("pkey", "-in", str(key), "-pubout")
        assert "BEGIN PUBLIC KEY" in from_cert
        assert from_cert == from_key, f"{key} is not the key of {cert}"
    # and the node copies are the workstation's pair, byte for byte
    for node in node_dirs(example_build).values():
        for name in ("kube-scheduler.pem", "kube-scheduler-key.pem"):
            assert find_one(node, name).read_bytes() == (example_build / "pki" / name).read_bytes()


def test_a_mismatched_key_is_detected(example_build):
    """The comparison above can fail: the admin key against the scheduler certificate differs."""
    from_cert = openssl("x509", "-in", str(example_build / "pki/kube-scheduler.pem"), "-noout", "-pubkey")
    from_key = openssl("pkey", "-in", str(example_build / "pki/admin-key.pem"), "-pubout")
    assert from_cert != from_key


# ---------------------------------------------------------------------------------------------------------------
# 3. what each certificate says, read with `openssl x509 -text`


def extension(text: str, name: str) -> tuple[bool, str] | None:
    """(critical, value) of the `X509v3 <name>` block of `openssl x509 -text`, or None when absent."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        head = line.strip()
        if head.startswith(f"X509v3 {name}:"):
            indent = len(line) - len(line.lstrip())
            body = []
            for nxt in lines[i + 1:]:
                if len(nxt) - len(nxt.lstrip()) <= indent:
                    break
                body.append(nxt.strip())
            return head.endswith("critical"), " ".join(body)
    return None


def subject(cert: Path) -> dict[str, list[str]]:
    line = openssl("x509", "-in", str(cert), "-noout", "-subject", "-nameopt", "RFC2253").strip()
    assert line.startswith("subject=")
    result: dict[str, list[str]] = {}
    for part in re.split(r"(?<!\\),", line.removeprefix("subject=")):
        key, _, value = part.partition("=")
        result.setdefault(key, []).append(value)
    return result


def ext_list(value: str) -> set[str]:
    return {v.strip() for v in value.split(",") if v.strip()}


def key_id(value: str) -> str:
    return value.removeprefix("keyid:").strip().upper()


def openssl_date(cert: Path, which: str) -> dt.datetime:
    line = openssl("x509", "-in", str(cert), "-noout", f"-{which}").strip()
    return dt.datetime.strptime(line.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z").replace(tzinfo=dt.UTC)


def serial_hex(cert: Path) -> str:
    return openssl("x509", "-in", str(cert), "-noout", "-serial").strip().removeprefix("serial=")


def test_ca_certificates(example_build):
    keys = set()
    for ca_name in CAS:
        ca = example_build / "pki" / ca_name
        text = openssl("x509", "-in", str(ca), "-noout", "-text")
        assert extension(text, "Basic Constraints") == (True, "CA:TRUE")
        critical, usage = extension(text, "Key Usage") or (False, "")
        assert critical and {"Certificate Sign", "CRL Sign"} <= ext_list(usage)
        ski = extension(text, "Subject Key Identifier")
        assert ski and re.fullmatch(r"([0-9A-F]{2}:){19}[0-9A-F]{2}", key_id(ski[1]))
        assert subject(ca) == subject_of_issuer(ca)  # self-signed
        keys.add(openssl("x509", "-in", str(ca), "-noout", "-pubkey"))
        assert subject(ca)["CN"] == [CA_CN[ca_name]]
        assert stat_mode(example_build / "pki" / ca_name.replace(".pem", "-key.pem")) == 0o600
    assert len(keys) == len(CAS), "three CAs, three keys"


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def subject_of_issuer(cert: Path) -> dict[str, list[str]]:
    line = openssl("x509", "-in", str(cert), "-noout", "-issuer", "-nameopt", "RFC2253").strip()
    result: dict[str, list[str]] = {}
    for part in re.split(r"(?<!\\),", line.removeprefix("issuer=")):
        key, _, value = part.partition("=")
        result.setdefault(key, []).append(value)
    return result


def check_leaf(build: Path, cert: Path, eku: set[str]) -> str:
    """The conventions every leaf shares; returns the -text dump for the caller's own checks."""
    ca = build / "pki" / domain_ca(cert)
    text = openssl("x509", "-in", str(cert), "-noout", "-text")
    ca_text = openssl("x509", "-in", str(ca), "-noout", "-text")
    assert extension(text, "Basic Constraints") == (True, "CA:FALSE"), cert
    critical, usage = extension(text, "Key Usage") or (False, "")
    assert critical and ext_list(usage) == {"Digital Signature", "Key Encipherment"}, (cert, usage)
    found = extension(text, "Extended Key Usage")
    assert found and ext_list(found[1]) == eku, (cert, found)
    ski, aki, ca_ski = (extension(text, "Subject Key Identifier"), extension(text, "Authority Key Identifier"),
                        extension(ca_text, "Subject Key Identifier"))
    assert ski and aki and ca_ski
    assert key_id(aki[1]) == key_id(ca_ski[1]), "AKI must be the CA's SKI"
    # SKI = SHA-1 of the subjectPublicKey (RFC 5280 4.2.1.2 method 1, what Go and cfssl compute)
    public = x509.load_pem_x509_certificate(cert.read_bytes()).public_key()
    expected = x509.SubjectKeyIdentifier.from_public_key(public).digest.hex(":").upper()  # type: ignore[arg-type]
    assert key_id(ski[1]) == expected
    assert subject_of_issuer(cert) == subject(ca)
    bits = re.search(r"Public-Key: \((\d+) bit\)", text)
    assert bits, cert
    assert int(bits[1]) >= (2048 if "rsaEncryption" in text else 256), (cert, bits[1])
    # validity: back-dated for clock skew (the file was written right after issuing), and inside the CA's life
    not_before = openssl_date(cert, "startdate")
    written = dt.datetime.fromtimestamp(cert.stat().st_mtime, dt.UTC)
    assert not_before <= written - dt.timedelta(minutes=1), f"{cert}: NotBefore {not_before} is not back-dated"
    assert openssl_date(cert, "enddate") <= openssl_date(ca, "enddate")
    return text


def sans(text: str) -> tuple[set[str], set[str]]:
    found = extension(text, "Subject Alternative Name")
    assert found, "no SAN extension"
    entries = ext_list(found[1])
    ips = {e.removeprefix("IP Address:") for e in entries if e.startswith("IP Address:")}
    dns = {e.removeprefix("DNS:") for e in entries if e.startswith("DNS:")}
    return ips, dns


def test_admin_certificate(example_build):
    cert = example_build / "pki" / "admin.pem"
    check_leaf(example_build, cert, {CLIENT_AUTH})
    names = subject(cert)
    assert names["CN"] == ["admin"]
    assert names["O"] == [ADMIN_GROUP]


def test_kube_scheduler_certificate(example_build):
    for cert in [example_build / "pki" / "kube-scheduler.pem", *(find_one(n, "kube-scheduler.pem")
                                                                  for n in node_dirs(example_build).values())]:
        text = check_leaf(example_build, cert, {CLIENT_AUTH, SERVER_AUTH})
        names = subject(cert)
        assert names["CN"] == [SCHEDULER_USER] and names["O"] == [SCHEDULER_USER]
        ips, dns = sans(text)
        assert {"127.0.0.1", *(n["ip"] for n in MASTERS)} <= ips, ips
        assert all(not d.endswith(".") and d for d in dns), dns  # x509: cannot parse dnsName "x."


def test_serials_are_random_positive_and_about_20_bytes(example_build):
    certs = [example_build / "pki" / "ca.pem", example_build / "pki" / "admin.pem",
             example_build / "pki" / "kube-scheduler.pem"]
    serials = {}
    for cert in certs:
        text = openssl("x509", "-in", str(cert), "-noout", "-text")
        assert not re.search(r"Serial Number:\s*\(Negative\)|Serial Number: -", text), cert
        value = serial_hex(cert)
        assert re.fullmatch(r"[0-9A-F]+", value), value
        size = (len(value) + 1) // 2
        # cfssl: 20 random bytes, top bit clear; leading zero bytes may shorten it a little, never lengthen
        assert 16 <= size <= 20, (cert, value)
        assert int(value, 16) > 0 and int(value, 16).bit_length() <= 159
        serials[cert.name] = value
    assert len(set(serials.values())) == len(serials), serials


# ---------------------------------------------------------------------------------------------------------------
# 4. file modes


def must_be_secret(path: Path) -> bool:
    """Keys (cfssljson writes NAME-key.pem 0600), kubeconfigs (they embed a key), anything with a private key."""
    return path.name.endswith(("-key.pem", ".kubeconfig")) or b"PRIVATE KEY" in path.read_bytes()


def must_be_public(path: Path) -> bool:
    """Certificates, units, CSR/CA JSON and the scheduler's config: read by daemons and people, no secrets."""
    return (path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----") or path.suffix in (".service", ".json")
            or path.name == "kube-scheduler.yaml")


def test_secrets_are_0600_everything_else_0644(example_build):
    secret, public = [], []
    files = [p for p in sorted(example_build.rglob("*")) if p.is_file()]
    masters = node_dirs(example_build)
    for path in files:
        rel = path.relative_to(example_build)
        if rel.parts[0] == "nodes" and rel.parts[1] not in masters:
            continue  # not a master of this cluster file: left by some other render, not ours to judge
        assert not path.name.startswith("."), f"leftover temp file from an interrupted write: {rel}"
        mode = path.stat().st_mode & 0o777
        if must_be_secret(path):
            assert mode == 0o600, f"{rel}: {oct(mode)}"
            secret.append(rel)
        elif must_be_public(path):
            assert mode == 0o644, f"{rel}: {oct(mode)}"
            public.append(rel)
        else:  # other kinds (e.g. a config holding a password) may be either, but never writable by others
            assert mode in (0o600, 0o644), f"{rel}: {oct(mode)}"
            if mode == 0o644:
                assert not re.search(rb"(?im)^\s*(- )?(secret|password|token):\s*\S", path.read_bytes()), rel
    names = {p.name for p in public}
    assert {"ca.pem", "admin.pem", "kube-scheduler.pem", "kube-scheduler.yaml", "kube-scheduler.service",
            "ca-config.json"} <= names, names
    assert {"ca-key.pem", "admin-key.pem", "kube-scheduler-key.pem", "admin.kubeconfig",
            "kube-scheduler.kubeconfig"} <= {p.name for p in secret}


# ---------------------------------------------------------------------------------------------------------------
# 5. kubeconfigs as kubectl reads them


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
# 6. a real mutual-TLS request by kubectl, against the labelled stand-in for kube-apiserver


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


def foreign_client_cert(cn: str, signer: tuple[bytes, bytes] | None = None) -> tuple[bytes, bytes]:
    """A clientAuth certificate for `cn`, signed by `signer` (cert, key PEM) or by a throw-away CA of its own."""
    now = dt.datetime.now(dt.UTC)
    if signer is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "some-other-ca")])
        ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                   .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(ca_key, hashes.SHA256()))
        issuer, signing_key = ca_cert.subject, ca_key
    else:
        issuer = x509.load_pem_x509_certificate(signer[0]).subject
        signing_key = serialization.load_pem_private_key(signer[1], password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ADMIN_GROUP),
                                     x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(signing_key, hashes.SHA256()))  # type: ignore[arg-type]
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


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


# ---------------------------------------------------------------------------------------------------------------
# 7. systemd units


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
        if "bind-address" in flags:
            assert flags["bind-address"] == by_name[name]["ip"]


# ---------------------------------------------------------------------------------------------------------------
# 8. KubeSchedulerConfiguration per release: only the fields its apiVersion accepts
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


# ---------------------------------------------------------------------------------------------------------------
# 9. idempotence


def snapshot(build: Path) -> dict[str, tuple[bytes, int, int]]:
    return {str(p.relative_to(build)): (p.read_bytes(), p.stat().st_mode & 0o777, p.stat().st_mtime_ns)
            for p in sorted(build.rglob("*")) if p.is_file()}


CHANGE_WORDS = re.compile(r"\b(created|updated|mode fixed|issued)\b")


def test_rendering_again_changes_nothing(example_build):
    run_invoke("render", "--cluster", "example")  # a first render of our own, then the one that must do nothing
    before = snapshot(example_build)
    proc = run_invoke("render", "--cluster", "example")
    assert not CHANGE_WORDS.search(proc.stdout), proc.stdout
    assert snapshot(example_build) == before  # same bytes, modes, and not even rewritten (mtime)


def test_deleting_one_leaf_reissues_only_it(tmp_path):
    name = f"vt-reissue-{os.getpid()}"
    cluster = tmp_path / f"{name}.yaml"
    cluster.write_text(re.sub(r"(?m)^name: .*$", f"name: {name}", EXAMPLE_FILE.read_text(encoding="utf-8")))
    build = REPO / "build" / name
    try:
        run_invoke("render", "--cluster", str(cluster))
        before = snapshot(build)
        old_cert = (build / "pki" / "kube-scheduler.pem").read_bytes()
        (build / "pki" / "kube-scheduler.pem").unlink()
        proc = run_invoke("render", "--cluster", str(cluster))
        after = snapshot(build)
        assert sorted(after) == sorted(before)
        new_cert = (build / "pki" / "kube-scheduler.pem").read_bytes()
        assert new_cert != old_cert
        old_serial = openssl("x509", "-noout", "-serial", stdin=old_cert.decode()).strip().removeprefix("serial=")
        assert serial_hex(build / "pki" / "kube-scheduler.pem") != old_serial  # a new certificate, not a copy
        # the CA and every key stay the very same bytes, and so does every other certificate
        for rel in after:
            if rel.endswith(("-key.pem", "ca.pem")) or rel == "pki/admin.pem":
                assert after[rel][0] == before[rel][0], rel
        # what changed is exactly what carried the old certificate (as PEM, or base64 inside a kubeconfig)
        carriers = {rel for rel, (data, _, _) in before.items()
                    if old_cert in data or base64.b64encode(old_cert) in data}
        changed = {rel for rel in after if after[rel][0] != before[rel][0]}
        # ... and the ledger, which describes every certificate: its entry now names the new serial
        assert changed == carriers | {"ledger.json"}
        entries = json.loads((build / "ledger.json").read_text())["entries"]
        scheduler = ("kube-scheduler.pem", "kube-scheduler.kubeconfig")
        serials = {e["serial"] for e in entries if e["file"].endswith(scheduler)}
        assert serials == {serial_hex(build / "pki" / "kube-scheduler.pem").lower().lstrip("0")}, serials
        assert "pki/kube-scheduler.pem" in changed and len(changed) > 1
        assert re.search(r"created\s+build/\S+/pki/kube-scheduler\.pem", proc.stdout), proc.stdout
        # same key, still valid against the same CA
        ca = str(build / "pki" / "ca.pem")
        assert run("openssl", "verify", "-CAfile", ca, str(build / "pki/kube-scheduler.pem")).stdout.endswith("OK\n")
        assert openssl("x509", "-in", str(build / "pki/kube-scheduler.pem"), "-noout", "-pubkey") == openssl(
            "pkey", "-in", str(build / "pki/kube-scheduler-key.pem"), "-pubout")
        # and once more: nothing left to do
        again = run_invoke("render", "--cluster", str(cluster))
        assert not CHANGE_WORDS.search(again.stdout), again.stdout
        assert snapshot(build) == after
    finally:
        shutil.rmtree(build, ignore_errors=True)
