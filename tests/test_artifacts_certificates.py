"""The example's certificates, checked with openssl: the chain of trust, each key against its certificate, and what
each certificate says (constraints, usages, key identifiers, subject, SANs, validity, serials).

Expectations come from clusters/example.yaml and from the kubeadm/cfssl certificate conventions, written out here by
hand, never from the generator's own tables.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from cryptography import x509
from example_artifacts import (
    ADMIN_GROUP,
    MASTERS,
    SCHEDULER_USER,
    find_one,
    foreign_client_cert,
    key_of,
    node_dirs,
    openssl,
    run,
    serial_hex,
)

CLIENT_AUTH = "TLS Web Client Authentication"
SERVER_AUTH = "TLS Web Server Authentication"


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
