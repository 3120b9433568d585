"""The CAs and leaf certificates, made with `cryptography` the way cfssl and kubeadm make them."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import secrets
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from generator.errors import RunbookError
from generator.model import Cluster

BACKDATE = dt.timedelta(minutes=5)
EKU = {
    "client": (ExtendedKeyUsageOID.CLIENT_AUTH,),
    "server": (ExtendedKeyUsageOID.SERVER_AUTH,),
    "client-server": (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH),
}
CFSSL_USAGES = {"client": ("client auth",), "server": ("server auth",), "client-server": ("server auth", "client auth")}
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class CaSpec:
    """A certificate authority and its trust domain. `name` is the cfssljson -bare name (NAME.pem, NAME-key.pem,
    NAME-csr.json, and NAME-config.json with a profile for each usage it signs)."""

    name: str
    cn: str
    title: str
    usages: tuple[str, ...]


# The three trust domains of upstream's "PKI certificates and requirements" (kubeadm's CNs for the two others).
CLUSTER_CA = CaSpec("ca", "kubernetes-ca", "cluster CA", tuple(EKU))
ETCD_CA = CaSpec("etcd-ca", "etcd-ca", "etcd CA", ("client", "client-server"))
FRONT_PROXY_CA = CaSpec("front-proxy-ca", "front-proxy-ca", "front-proxy CA", ("client",))


@dataclass(frozen=True)
class CertSpec:
    """What a leaf certificate must say. `name` is the cfssljson -bare name: NAME.pem, NAME-key.pem. `ca` is its
    trust domain: the CA that signs it in the separate layout (the single layout signs everything with CLUSTER_CA)."""

    name: str
    cn: str
    org: str | None
    usage: str
    ips: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    ca: CaSpec = CLUSTER_CA


# The etcd domain's client certificate that kube-apiserver presents to etcd. etcd's component issues it and
# kube-apiserver reads it (CONTRACT: this name, CN and O; {pki_dir}/apiserver-etcd-client{,-key}.pem on masters);
# trust.py tells the two layouts apart by the CA that signed it.
APISERVER_ETCD_CLIENT = CertSpec(
    name="apiserver-etcd-client", cn="kube-apiserver-etcd-client", org="system:masters", usage="client", ca=ETCD_CA,
)


@dataclass(frozen=True)
class Authority:
    """A CA as a render holds it: its spec and its certificate and key (PEM)."""

    spec: CaSpec
    cert_pem: bytes
    key_pem: bytes


@dataclass(frozen=True)
class Issued:
    cert_pem: bytes
    key_pem: bytes
    note: str


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_key(cluster: Cluster) -> PrivateKey:
    spec = cluster.spec.certificates.key
    if spec.algo == "ecdsa":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=spec.size)


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


def load_key(pem: bytes) -> PrivateKey:
    """A key from our own 0600 build tree (ValueError if it is not an RSA or ECDSA private key in PEM).

    Keys are read back only from there, never from outside: skipping the RSA consistency check (85% of a
    re-render's time) is safe here; the key is still checked against its certificate.
    """
    key = serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError(f"a {type(key).__name__}, not an RSA or ECDSA key")
    return key


def key_id(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    """The certificate's subject key identifier, or the authority key identifier it names (`oid` says which)."""
    try:
        value = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    return value.key_identifier if oid == ExtensionOID.AUTHORITY_KEY_IDENTIFIER else value.digest


def check_ca(cert_pem: bytes, key_pem: bytes, cert_file: str, key_file: str) -> None:
    """The CA pair on disk belongs together; else one line naming both files and the fix."""
    try:
        cert, key = x509.load_pem_x509_certificate(cert_pem), load_key(key_pem)
    except ValueError as err:
        raise RunbookError(f"{cert_file} or {key_file} is unreadable ({err}); restore both from the same "
                           "backup") from None
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        raise RunbookError(f"{cert_file} was not made from {key_file} (another CA's certificate or key); restore "
                           "both from the same backup: certificates signed by one would not verify with the other")


def serial() -> int:
    # cfssl: 20 random bytes with the top bit clear, so the DER integer stays positive
    return int.from_bytes(secrets.token_bytes(20), "big") >> 1


def subject(cluster: Cluster, cn: str, org: str | None) -> x509.Name:
    s = cluster.spec.certificates.subject
    attrs = [
        x509.NameAttribute(NameOID.COUNTRY_NAME, s.C),
        x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, s.ST),
        x509.NameAttribute(NameOID.LOCALITY_NAME, s.L),
    ]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    attrs += [
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, s.OU),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ]
    return x509.Name(attrs)


def make_ca(cluster: Cluster, ca: CaSpec) -> Authority:
    key = new_key(cluster)
    name = subject(cluster, ca.cn, None)
    start = now() - BACKDATE
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=cluster.spec.certificates.ca_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_encipherment=True, key_cert_sign=True, crl_sign=True,
                content_commitment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Authority(ca, cert.public_bytes(serialization.Encoding.PEM), key_pem(key))


def sans(spec: CertSpec) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in spec.dns]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in spec.ips]
    return names


def issue(cluster: Cluster, authority: Authority, spec: CertSpec, old_cert: bytes | None,
          old_key: bytes | None, renew: bool = False) -> Issued:
    """Reuse the existing certificate when it still says what `spec` asks and `authority` signed it; else issue one
    (keeping the key). `renew`: issue a new one anyway (a new serial and validity, the same key)."""
    ca_cert = x509.load_pem_x509_certificate(authority.cert_pem)
    reason = "new"
    if old_cert and old_key:
        try:
            reason = why_reissue(cluster, authority.spec, ca_cert, spec, x509.load_pem_x509_certificate(old_cert),
                                 load_key(old_key))
        except ValueError:
            reason, old_key = "the old certificate or key was unreadable", None
        if not reason and not renew:
            return Issued(old_cert, old_key, "kept")
        reason = reason or "renewal requested"
    key = load_key(old_key) if old_key and reason != "key type changed" else new_key(cluster)
    start = now() - BACKDATE
    days = cluster.spec.certificates.leaf_days
    end = min(start + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject(cluster, spec.cn, spec.org))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, key_encipherment=True, key_cert_sign=False, crl_sign=False,
                content_commitment=False, data_encipherment=False, key_agreement=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(list(EKU[spec.usage])), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
            ),
            critical=False,
        )
    )
    if spec.ips or spec.dns:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans(spec)), critical=False)
    cert = builder.sign(load_key(authority.key_pem), hashes.SHA256())
    return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem(key), reason)


def san_label(name: x509.GeneralName) -> str:
    """`IP:10.0.0.4` or `DNS:m4`, as `openssl x509 -text` and the day-2 diffs write a SAN."""
    return f"IP:{name.value}" if isinstance(name, x509.IPAddress) else f"DNS:{name.value}"


def why_reissue(cluster: Cluster, ca: CaSpec, ca_cert: x509.Certificate, spec: CertSpec,
                cert: x509.Certificate, key: PrivateKey) -> str:
    """Empty when `cert` can stay; otherwise the reason it must be re-issued."""
    wanted_key = cluster.spec.certificates.key
    if wanted_key.algo == "rsa" and not (isinstance(key, rsa.RSAPrivateKey) and key.key_size == wanted_key.size):
        return "key type changed"
    if wanted_key.algo == "ecdsa" and not isinstance(key, ec.EllipticCurvePrivateKey):
        return "key type changed"
    if cert.public_key().public_numbers() != key.public_key().public_numbers():
        return "key does not match certificate"
    if cert.issuer != ca_cert.subject:
        return "issued by another CA: push it to the nodes again"
    try:
        signer_id = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        signer_id = None
    if signer_id and signer_id != x509.SubjectKeyIdentifier.from_public_key(ca_cert.public_key()).digest:
        # a rotation's re-issue round, or another CA's pair restored by hand: the same words fit both
        return f"signed by another {ca.title} than pki/{ca.name}.pem; push it to the nodes again"
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return f"not signed by pki/{ca.name}.pem, whose name it carries; push it to the nodes again"
    if cert.subject != subject(cluster, spec.cn, spec.org):
        return "subject changed"
    try:
        present = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        present = set()
    if present != set(sans(spec)):
        added = [san_label(name) for name in sans(spec) if name not in present]
        removed = sorted(san_label(name) for name in present - set(sans(spec)))
        return "SANs changed: " + " ".join([*(f"+{a}" for a in added), *(f"-{r}" for r in removed)])
    eku = set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    if eku != set(EKU[spec.usage]):
        return "usage changed"
    if cert.not_valid_after_utc - now() < dt.timedelta(days=cluster.spec.certificates.renew_before_days):
        return "near expiry"
    return ""


def csr_json(cluster: Cluster, spec: CertSpec) -> str:
    """The cfssl CSR a reader can feed to `cfssl gencert -profile=kubernetes` for the same certificate."""
    s = cluster.spec.certificates
    name = {"C": s.subject.C, "ST": s.subject.ST, "L": s.subject.L}
    if spec.org:
        name["O"] = spec.org
    name["OU"] = s.subject.OU
    body = {
        "CN": spec.cn,
        "hosts": [*spec.ips, *spec.dns],
        "key": {"algo": s.key.algo, "size": s.key.size},
        "names": [name],
    }
    return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def ca_csr_json(cluster: Cluster, ca: CaSpec) -> str:
    s = cluster.spec.certificates
    body = {
        "CN": ca.cn,
        "key": {"algo": s.key.algo, "size": s.key.size},
        "names": [{"C": s.subject.C, "ST": s.subject.ST, "L": s.subject.L, "OU": s.subject.OU}],
        "ca": {"expiry": f"{s.ca_days * 24}h"},
    }
    return json.dumps(body, indent=2) + "\n"


def ca_config_json(cluster: Cluster, ca: CaSpec) -> str:
    hours = f"{cluster.spec.certificates.leaf_days * 24}h"
    # Profiles are named after CertSpec.usage and give exactly the extended key usages the generator issues, so
    # `cfssl gencert -profile=<usage>` makes the same certificate; a CA offers only the usages its domain needs.
    # `kubernetes` is the seeds' profile, kept for the cluster CA that the seeds' commands name.
    seeds = {"kubernetes": {"usages": ["signing", "key encipherment", "server auth", "client auth"],
                            "expiry": hours}} if ca == CLUSTER_CA else {}
    body = {
        "signing": {
            "default": {"expiry": hours},
            "profiles": {
                **seeds,
                **{usage: {"usages": ["signing", "key encipherment", *CFSSL_USAGES[usage]], "expiry": hours}
                   for usage in ca.usages},
            },
        }
    }
    return json.dumps(body, indent=2) + "\n"
