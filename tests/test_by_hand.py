"""The "by hand" tabs: the cfssl and kubectl commands shown beside `invoke render --phase cert|kubeconfig`, run for
real (Debian's golang-cfssl, the real kubectl the venv links), make certificates with the same subject, SANs and
usages, and kubeconfigs with the same structure, as the generator's."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from generator import catalog
from generator.model import load
from generator.render import make_artifacts
from generator.site.byhand import by_hand
from tests.conftest import page_sources

pytestmark = pytest.mark.skipif(not shutil.which("cfssl") or not shutil.which("cfssljson"),
                                reason="needs Debian's golang-cfssl (.ci/system-packages)")


def blocks(cluster) -> list[tuple[str, list[str]]]:
    """(step id, commands) of every by-hand tab of the cluster's pages, in page order."""
    artifacts = {a.path: a for a in make_artifacts(cluster)[0]}
    found = []
    for chapter in catalog.chapters(cluster):
        for step in chapter.steps:
            for command in step.local:
                if command.renders:
                    commands = by_hand(cluster, artifacts, *command.renders)
                    if commands:
                        found.append((step.id, commands))
    return found


@pytest.fixture(scope="module")
def made(example_build: Path, tmp_path_factory) -> Path:
    """A directory where the by-hand commands ran, given only what a reader has: the CA, ca-config.json and the
    CSR JSON files (the public files the pages show)."""
    work = tmp_path_factory.mktemp("by-hand")
    (work / "pki").mkdir()
    csrs = [p.name for p in (example_build / "pki").glob("*-csr.json")]
    cas = [name.removesuffix("-csr.json") for name in csrs if is_ca_request(example_build / "pki" / name)]
    assert len(cas) == 3, cas  # the cluster, etcd and front-proxy CAs: each signs its own domain's certificates
    for name in [*(f"{ca}{suffix}" for ca in cas for suffix in (".pem", "-key.pem", "-config.json")), *csrs]:
        shutil.copy(example_build / "pki" / name, work / "pki" / name)
    for step, commands in blocks(load("example")):
        assert commands[0] == "cd build/example", step
        for command in commands[1:]:
            if command.startswith("#"):
                continue
            proc = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=work, capture_output=True, text=True)
            assert proc.returncode == 0, f"{step}: {command}\n{proc.stdout}\n{proc.stderr}"
    return work


def is_ca_request(path: Path) -> bool:
    """A cfssl CSR for a CA (`cfssl gencert -initca`) has a "ca" section; a leaf's has not."""
    return "ca" in json.loads(path.read_text())


def cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def extension(c: x509.Certificate, kind: type) -> object | None:
    try:
        return c.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def test_every_cert_and_kubeconfig_phase_has_a_by_hand_tab() -> None:
    steps = {step for step, _ in blocks(load("example"))}
    for component in ("admin", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert f"{component}.cert" in steps, component
    assert {"admin.kubeconfig", "kube-scheduler.kubeconfig", "kube-controller-manager.kubeconfig"} <= steps


def test_cfssl_makes_the_same_certificates(example_build: Path, made: Path) -> None:
    csrs = sorted((example_build / "pki").glob("*-csr.json"))
    names = [p.name.removesuffix("-csr.json") for p in csrs if not is_ca_request(p)]
    assert len(names) >= 8
    for name in names:
        ours, theirs = cert(example_build / "pki" / f"{name}.pem"), cert(made / "pki" / f"{name}.pem")
        assert theirs.subject == ours.subject, name
        assert theirs.issuer == ours.issuer, name
        for kind in (x509.SubjectAlternativeName, x509.ExtendedKeyUsage):
            mine, cfssl = extension(ours, kind), extension(theirs, kind)
            assert (set(cfssl) if cfssl else None) == (set(mine) if mine else None), f"{name}: {kind.__name__}"
        usage = extension(theirs, x509.KeyUsage)
        assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign, name
        assert extension(theirs, x509.BasicConstraints).ca is False, name
        key = serialization.load_pem_private_key((made / "pki" / f"{name}-key.pem").read_bytes(), None)
        assert key.public_key().public_numbers() == theirs.public_key().public_numbers(), name


def test_node_copies_land_where_the_generator_puts_them(example_build: Path, made: Path) -> None:
    copies = [line.split()[-1] for _, commands in blocks(load("example")) for line in commands
              if line.startswith("install ")]
    assert copies
    for rel in copies:
        assert (example_build / rel).exists(), rel
        assert (made / rel).stat().st_mode & 0o777 == (example_build / rel).stat().st_mode & 0o777, rel


def shape(config: dict) -> dict:
    """A kubeconfig without its key material: names, server, and which certificate it embeds."""
    user = config["users"][0]
    client = x509.load_pem_x509_certificate(base64.b64decode(user["user"]["client-certificate-data"]))
    ca_data = config["clusters"][0]["cluster"]["certificate-authority-data"]
    ca = x509.load_pem_x509_certificate(base64.b64decode(ca_data))
    return {
        "clusters": [(c["name"], c["cluster"]["server"]) for c in config["clusters"]],
        "users": [u["name"] for u in config["users"]],
        "user_fields": sorted(user["user"]),
        "contexts": [(c["name"], c["context"]["cluster"], c["context"]["user"]) for c in config["contexts"]],
        "current": config["current-context"],
        "ca": ca.subject, "client": client.subject,
        "client_eku": set(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value),
    }


def test_kubectl_makes_the_same_kubeconfigs(example_build: Path, made: Path) -> None:
    made_configs = sorted(p.relative_to(made) for p in made.rglob("*.kubeconfig"))
    assert len(made_configs) >= 1 + 2 * len(load("example").masters)
    for rel in made_configs:
        ours = yaml.safe_load((example_build / rel).read_text())
        theirs = yaml.safe_load((made / rel).read_text())
        assert shape(theirs) == shape(ours), rel
        key = serialization.load_pem_private_key(base64.b64decode(theirs["users"][0]["user"]["client-key-data"]), None)
        client = x509.load_pem_x509_certificate(base64.b64decode(theirs["users"][0]["user"]["client-certificate-data"]))
        assert key.public_key().public_numbers() == client.public_key().public_numbers(), rel


def test_the_pages_show_these_commands(built_site: Path) -> None:
    pages = list(page_sources("example").glob("*.en.md"))
    assert len(pages) >= 10, "every chapter has an English page"
    # A tab indents its block, continued lines too: compared line by line without the indentation.
    def flat(text: str) -> str:
        return "\n".join(line.strip() for line in text.split("\n"))

    text = flat("\n".join(p.read_text() for p in pages))
    for step, commands in blocks(load("example")):
        for command in commands:
            assert flat(command) in text, f"{step}: {command[:60]} is not on the page"
