"""Lint a (possibly hand-edited) artifact directory for the mistakes a generator can see.

Each rule is one known way a control plane breaks (see the troubleshooting chapter): a kubeconfig whose key is a
certificate (seed 003), a DNS SAN with a trailing dot (seed 004), a comment in JSON (seed 001), a `\\` followed by
a space in a unit, a field the config's apiVersion does not know, and so on. The rules that depend on the release
(flags, config versions and fields, locks, the insecure port) are in `releases.py`. Findings are
`path: rule: message`, one per line.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from generator.checks import SINGLE
from generator.errors import Reported
from generator.lint import releases
from generator.loader import LimitedLoader, Refused
from generator.model import Cluster
from generator.schema import printable
from generator.versions import Release, parse_release

RULES: dict[str, str] = {
    "key-is-certificate": "a private key file or a kubeconfig's client key holds a certificate",
    "san-trailing-dot": "a certificate DNS SAN is empty or ends with a dot",
    "server-cert-no-san": "a server certificate without subjectAltName",
    "cert-expired": "a certificate outside its validity period",
    "json-comment": "a comment in a JSON file",
    "json-invalid": "a JSON file that does not parse",
    "unit-backslash-space": "a line continuation `\\` followed by whitespace in a systemd unit",
    "unit-restart": "an invalid Restart= value in a systemd unit",
    "unit-wantedby": "a WantedBy= that names no unit",
    "yaml-invalid": "a YAML file (a scheduler config, a kubeconfig) that does not parse",
    "config-unknown-field": "a KubeSchedulerConfiguration field its apiVersion (or the release's) does not have",
    "config-without-kubeconfig": "a KubeSchedulerConfiguration without clientConnection.kubeconfig",
    "kubeconfig-cn": "a component kubeconfig whose certificate CN is not the component's user",
    "key-mode": "a file holding a private key or secret readable by others than its owner",
    "non-ascii-space": "a full-width or non-breaking space in a configuration file",
    "etcd-shares-cluster-ca": "kube-apiserver's etcd CA is its client CA: every cluster certificate reaches etcd",
    **releases.RULES,
}

# Skipped while walking: release tarballs and what they unpack to.
SKIP_DIRS = {"downloads"}
MAX_BYTES = 2_000_000
TEXT_SUFFIXES = {".json", ".yaml", ".yml", ".service", ".cfg", ".conf", ".sh", ".kubeconfig", ".pem"}
RESTART_VALUES = {"no", "always", "on-success", "on-failure", "on-abnormal", "on-abort", "on-watchdog"}
UNIT_SUFFIX = re.compile(r"\.(target|service|socket|timer|path|mount|device|swap|slice|scope|automount)$")
ODD_SPACES = {"\u3000": "full-width space U+3000", "\u00a0": "no-break space U+00A0"}

COMPONENT_USERS = {"kube-scheduler": "system:kube-scheduler",
                   "kube-controller-manager": "system:kube-controller-manager"}


@dataclass(frozen=True, order=True)
class Finding:
    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.rule}: {self.message}"


class Linter:
    def __init__(self, root: Path, shown: str, release: Release | None, now: dt.datetime | None = None,
                 single_ca_chosen: bool = False) -> None:
        self.root = root
        self.shown = shown.rstrip("/")
        self.release = release
        # `certificates.layout: single` in the cluster file: one CA on purpose, the page warns; not a finding
        self.single_ca_chosen = single_ca_chosen
        self.now = now or dt.datetime.now(dt.UTC)
        self.findings: list[Finding] = []
        self._path = ""

    def add(self, rule: str, message: str) -> None:
        assert rule in RULES, rule
        # one line each, whatever a file's keys or a parser's message hold (newlines, terminal escapes)
        self.findings.append(Finding(printable(self._path), rule, printable(" ".join(message.split()))))

    def files(self) -> Iterator[Path]:
        """The text files under the root, in order: regular files only (no link, FIFO or device is opened), walked
        without recursion (a tree nested a thousand levels deep is still a tree)."""
        found, pending = [], [self.root]
        while pending:
            directory = pending.pop()
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                path = Path(entry.path)
                if entry.is_dir(follow_symlinks=False):
                    if not (directory == self.root and entry.name in SKIP_DIRS):
                        pending.append(path)
                elif entry.is_file(follow_symlinks=False) and path.suffix in TEXT_SUFFIXES and \
                        entry.stat(follow_symlinks=False).st_size <= MAX_BYTES:
                    found.append(path)
        return iter(sorted(found))

    def run(self) -> list[Finding]:
        for path in self.files():
            self._path = f"{self.shown}/{path.relative_to(self.root).as_posix()}"
            try:
                text = path.read_bytes().decode("utf-8", errors="replace")
            except OSError:  # gone or unreadable since the walk: nothing to judge
                continue
            self.check_spaces(text)
            self.check_mode(path, text)
            if path.suffix == ".json":
                self.check_json(text)
            elif path.suffix == ".service":
                self.check_unit(text)
            elif path.suffix == ".pem":
                self.check_pem(path, text)
            elif path.suffix in (".yaml", ".yml", ".kubeconfig"):
                self.check_yaml(path, text)
        return sorted(self.findings)

    # --- every text file ---------------------------------------------------------------------------------------

    def check_spaces(self, text: str) -> None:
        for number, line in enumerate(text.splitlines(), 1):
            for char, name in ODD_SPACES.items():
                if char in line:
                    self.add("non-ascii-space", f"line {number}: {name}; parsers do not treat it as a separator")
                    return

    def check_mode(self, path: Path, text: str) -> None:
        secret = "PRIVATE KEY-----" in text or "client-key-data:" in text or re.search(
            r"^kind:\s*EncryptionConfig(uration)?\s*$", text, re.MULTILINE) is not None
        mode = path.stat().st_mode & 0o777
        if secret and mode & 0o077:
            self.add("key-mode", f"mode {mode:o} holds a secret; make it 600")

    # --- JSON --------------------------------------------------------------------------------------------------

    def check_json(self, text: str) -> None:
        try:
            json.loads(text, parse_constant=not_json)
        except RecursionError:
            self.add("json-invalid", "nested too deeply to read (not a config the generator writes)")
        except json.JSONDecodeError as err:
            outside_strings = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
            comment = re.search(r"//|/\*|^\s*#", outside_strings, re.MULTILINE)
            if comment:
                line = outside_strings.count("\n", 0, comment.start()) + 1
                self.add("json-comment", f"line {line}: JSON has no comments (cfssl: failed to unmarshal)")
            else:
                self.add("json-invalid", f"line {err.lineno}: {err.msg}")
        except ValueError as err:  # NaN, Infinity, an integer of thousands of digits
            self.add("json-invalid", str(err))

    # --- systemd units -----------------------------------------------------------------------------------------

    def check_unit(self, text: str) -> None:
        for number, line in enumerate(text.splitlines(), 1):
            if re.search(r"\\[ \t]+$", line):
                self.add("unit-backslash-space",
                         f"line {number}: whitespace after `\\` ends the line; the next line is not continued")
            key, _, value = line.partition("=")
            if key.strip() == "Restart" and value.strip() not in RESTART_VALUES:
                self.add("unit-restart", f"line {number}: Restart={value.strip()} is not one of "
                         + ", ".join(sorted(RESTART_VALUES)))
            if key.strip() in ("WantedBy", "RequiredBy"):
                for target in value.split():
                    if not UNIT_SUFFIX.search(target):
                        self.add("unit-wantedby", f"line {number}: {key.strip()}={target} names no unit "
                                 "(multi-user.target?)")
        releases.check_unit(self.add, text, self.release)
        self.check_etcd_trust(releases.flag_values(releases.exec_argv(text)))

    def check_etcd_trust(self, flags: dict[str, str]) -> None:
        """--etcd-cafile names the CA of etcd's certificates: the same file as the API's client CA means one CA for
        both, and etcd then admits every client certificate that CA signs (seeds 001-004)."""
        etcd_ca, client_ca = flags.get("--etcd-cafile"), flags.get("--client-ca-file")
        if etcd_ca and etcd_ca == client_ca and not self.single_ca_chosen:
            self.add("etcd-shares-cluster-ca", f"--etcd-cafile and --client-ca-file are both {etcd_ca}: every "
                     "certificate that CA signs (the admin's, the scheduler's, kubelet certificates from the CSR "
                     "API) is an etcd client with full access, past RBAC; give etcd a CA of its own "
                     "(certificates.layout: separate, a CA rotation)")

    # --- certificates and keys ---------------------------------------------------------------------------------

    def check_pem(self, path: Path, text: str) -> None:
        has_cert = "-----BEGIN CERTIFICATE-----" in text
        if path.name.endswith("-key.pem") and has_cert and "PRIVATE KEY-----" not in text:
            self.add("key-is-certificate", "the key file holds a certificate, not a private key")
            return
        if has_cert:
            for cert in load_certs(text.encode()):
                self.check_cert(cert, "")

    def check_cert(self, cert: x509.Certificate, where: str) -> None:
        try:
            sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            sans = None
        except ValueError:  # extensions cryptography cannot parse (duplicated, malformed): no rule of lint's judges it
            return
        if sans is not None:
            for name in sans.get_values_for_type(x509.DNSName):
                if not name or name.endswith("."):
                    self.add("san-trailing-dot", f"{where}DNS SAN {name!r}: x509: cannot parse dnsName")
        elif is_server(cert):
            self.add("server-cert-no-san", f"{where}serverAuth certificate without SANs: clients reject it "
                     "(legacy Common Name field)")
        if cert.not_valid_after_utc < self.now:
            self.add("cert-expired", f"{where}expired {cert.not_valid_after_utc:%Y-%m-%d %H:%M}Z")
        elif cert.not_valid_before_utc > self.now:
            self.add("cert-expired", f"{where}not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M}Z")

    # --- YAML: kubeconfigs and component configs ---------------------------------------------------------------

    def check_yaml(self, path: Path, text: str) -> None:
        try:
            body = yaml.load(text, Loader=LintLoader)
        except Refused as err:  # past what lint reads: nothing is claimed about what the daemon makes of it
            mark = err.problem_mark
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            self.add("yaml-invalid", f"{where}{err.problem}; not read further (past lint's limits)")
            return
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
            self.add("yaml-invalid", f"{where}{getattr(err, 'problem', None) or err}; the daemon stops with "
                     "`yaml: line ...`, reading nothing of it")
            return
        if not isinstance(body, dict):
            return
        if body.get("kind") == "Config" and "users" in body:
            self.check_kubeconfig(path, body)
        elif body.get("kind") == "KubeSchedulerConfiguration":
            self.check_scheduler_config(body)

    def check_kubeconfig(self, path: Path, body: dict) -> None:
        users = body.get("users")
        for user in users if isinstance(users, list) else []:
            if not isinstance(user, dict) or not isinstance(user.get("user") or {}, dict):
                continue  # kubectl and the daemons refuse such a file with their own words; nothing here to add
            name = user.get("name", "?")
            data = (user.get("user") or {})
            key = decode(data.get("client-key-data"))
            if key is not None and b"-----BEGIN CERTIFICATE-----" in key and b"PRIVATE KEY-----" not in key:
                self.add("key-is-certificate", f"user {name}: client-key-data is a certificate, not a private key "
                         "(tls: found a certificate rather than a key)")
            cert_pem = decode(data.get("client-certificate-data"))
            for cert in load_certs(cert_pem or b""):
                self.check_cert(cert, f"user {name}: ")
                expected = COMPONENT_USERS.get(path.name.removesuffix(".kubeconfig"))
                cn = common_name(cert)
                if expected and cn != expected:
                    self.add("kubeconfig-cn", f"user {name}: certificate CN {cn!r}; the built-in RBAC only "
                             f"knows {expected!r}")

    def check_scheduler_config(self, body: dict) -> None:
        releases.check_scheduler_config(self.add, body, self.release)
        connection = body.get("clientConnection") or {}
        if not (isinstance(connection, dict) and connection.get("kubeconfig")):
            self.add("config-without-kubeconfig", "clientConnection.kubeconfig is not set; with --config the "
                     "--kubeconfig flag is ignored")
        election = body.get("leaderElection") or {}
        if isinstance(election, dict) and election.get("resourceLock"):
            releases.check_lock(self.add, self.release, str(election["resourceLock"]), "leaderElection.resourceLock")


def not_json(name: str) -> None:
    raise ValueError(f"{name} is not JSON (Go's encoding/json refuses it)")


class LintLoader(LimitedLoader):
    """YAML as lint reads it: the cluster file's loader's limits on depth and aliases (a file that passes them is
    never parsed), sized for configs and kubeconfigs (a kubeconfig's base64 is long); keys given twice and YAML's
    own integers as the daemons' parsers take them, an integer too long to convert past the limits."""

    max_depth, max_nodes, max_scalar = 64, 200_000, MAX_BYTES
    used_in = "the configs lint reads"
    depth_note = nodes_note = ""
    construct_mapping = yaml.SafeLoader.construct_mapping

    def construct_int(self, node: yaml.ScalarNode) -> int:
        try:
            return yaml.SafeLoader.construct_yaml_int(self, node)
        except ValueError:
            raise Refused(None, None, f"an integer of {len(node.value)} characters", node.start_mark) from None


LintLoader.add_constructor("tag:yaml.org,2002:int", LintLoader.construct_int)


def decode(data: object) -> bytes | None:
    if not isinstance(data, str):
        return None
    try:
        return base64.b64decode(data, validate=False)
    except ValueError:
        return None


def load_certs(pem: bytes) -> list[x509.Certificate]:
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", pem, re.DOTALL)
    certs = []
    for block in blocks:
        try:
            certs.append(x509.load_pem_x509_certificate(block))
        except ValueError:
            continue
    return certs


def is_server(cert: x509.Certificate) -> bool:
    try:
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return False
    return ExtendedKeyUsageOID.SERVER_AUTH in usage


def common_name(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def release_of(root: Path) -> Release | None:
    """The release recorded in environment.sh (written by the prerequisites component), if any."""
    try:
        text = (root / "environment.sh").read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^KUBE_VERSION=['\"]?(v?[0-9.]+)", text, re.MULTILINE)
    if not match:
        return None
    release = parse_release(match[1])
    return release if isinstance(release, Release) else None


def report(root: Path, shown: str, cluster: Cluster | None, release: Release | None, out: TextIO) -> None:
    """`invoke lint`: one `path: rule: message` line per finding; Reported when there is any."""
    findings = lint(root, shown, cluster, release)
    for finding in findings:
        out.write(f"{finding}\n")
    if findings:
        raise Reported(f"lint: {len(findings)} finding(s) in {shown}")
    out.write(f"lint: no findings in {shown}\n")


def lint(root: Path, shown: str | None = None, cluster: Cluster | None = None,
         release: Release | None = None) -> list[Finding]:
    """Every finding under `root`, paths written as `shown` (default: `root` as given) joined with the file. The
    release's rules apply for `release`, else the cluster's, else the one environment.sh records (if any)."""
    if not root.is_dir():
        raise ValueError(f"{root} is not a directory (render the cluster first: invoke render --cluster NAME)")
    release = release or (cluster.release if cluster else release_of(root))
    chosen = cluster is not None and cluster.spec.certificates.layout == SINGLE
    return Linter(root, shown if shown is not None else str(root), release, single_ca_chosen=chosen).run()
