"""STAND-IN for kube-apiserver, for tests only: there are no Kubernetes server binaries on this machine.

It is NOT kube-apiserver. It does the one thing the artifact tests need from one: terminate TLS on 127.0.0.1 with a
serving certificate issued by the cluster CA, *require* a client certificate signed by that CA (the way
kube-apiserver's `--client-ca-file` does), and answer a few GET paths with JSON that names the client certificate's
CN (user) and O (groups), so a test can see which identity a real `kubectl` presented. A CN outside `allowed_users`
gets 403 with a Status body, like an unauthorised user. Handshakes it refuses are recorded in `rejected`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LEASE_PATH = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-scheduler"
NAMESPACE_PATH = "/api/v1/namespaces/default"  # what the day-2 request loop asks for


def issue_serving_cert(ca_cert_pem: bytes, ca_key_pem: bytes, ip: str = "127.0.0.1") -> tuple[bytes, bytes]:
    """A serverAuth certificate for `ip`, signed with the given CA key (the test's own, not the generator's code)."""
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "standin-kube-apiserver")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _subject(peer: dict) -> tuple[str, list[str]]:
    cn, orgs = "", []
    for rdn in peer.get("subject", ()):
        for name, value in rdn:
            if name == "commonName":
                cn = value
            elif name == "organizationName":
                orgs.append(value)
    return cn, orgs


class _Handler(BaseHTTPRequestHandler):
    server: StandinApiserver

    def log_message(self, format: str, *args: object) -> None:
        return

    def _reply(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # http.server's naming
        cn, orgs = _subject(self.connection.getpeercert() or {})  # type: ignore[attr-defined]
        self.server.seen.append({"path": self.path, "cn": cn, "groups": orgs})
        who = {"username": cn, "groups": orgs}
        path = urlsplit(self.path).path  # kubectl may add ?timeout=...
        if self.server.unavailable:  # a test playing an apiserver that cannot serve for a while
            self._reply(503, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 503,
                              "message": "unavailable (stand-in)"})
        elif cn not in self.server.allowed_users:
            self._reply(403, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden",
                              "code": 403, "message": f'User "{cn}" cannot get path "{self.path}" (stand-in)'})
        elif path == "/version":
            self._reply(200, {"gitVersion": "v0.0.0-standin", "platform": "standin", "standin": True, "user": who})
        elif path == NAMESPACE_PATH:
            self._reply(200, {"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "default"},
                              "standin": True, "user": who})
        elif path == LEASE_PATH:
            self._reply(200, {"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
                              "metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
                              "spec": {"holderIdentity": f"standin_{cn}"}, "standin": True, "user": who})
        else:
            self._reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound",
                              "code": 404, "message": f"{self.path} (stand-in: /version, the lease, the namespace)"})


class StandinApiserver(ThreadingHTTPServer):
    """`with StandinApiserver(ca_path, ca_key_path, {"admin"}, tmpdir) as api:` serves on `api.url` (127.0.0.1, or
    another loopback address `ip`). While `unavailable` is set, every request gets 503."""

    daemon_threads = True

    def __init__(self, ca_path: Path, ca_key_path: Path, allowed_users: set[str], workdir: Path,
                 ip: str = "127.0.0.1") -> None:
        super().__init__((ip, 0), _Handler)
        self.ip = ip
        self.unavailable = False
        cert_pem, key_pem = issue_serving_cert(ca_path.read_bytes(), ca_key_path.read_bytes(), ip)
        (workdir / "standin-server.pem").write_bytes(cert_pem)
        key_file = workdir / "standin-server-key.pem"
        key_file.write_bytes(key_pem)
        key_file.chmod(0o600)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(workdir / "standin-server.pem", key_file)
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx.load_verify_locations(cafile=str(ca_path))
        self.allowed_users = allowed_users
        self.seen: list[dict] = []
        self.rejected: list[str] = []
        self._rejection = threading.Condition()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"https://{self.ip}:{self.port}"

    def finish_request(self, request, client_address) -> None:  # type: ignore[no-untyped-def]
        # The TLS handshake runs in the per-connection thread, so a refused client never blocks the listener.
        request.settimeout(10)
        try:
            tls = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as err:
            with self._rejection:
                self.rejected.append(str(err))
                self._rejection.notify_all()
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def wait_for_rejection(self, timeout: float = 20) -> list[str]:
        """The refused handshakes, once there is one: the refusing thread may still be recording it when the client
        has already seen the alert and exited."""
        with self._rejection:
            self._rejection.wait_for(lambda: self.rejected, timeout=timeout)
            return list(self.rejected)

    def __enter__(self) -> StandinApiserver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=10)
