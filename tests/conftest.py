"""Shared fixtures: the repository root and a rendered copy of the example cluster in a temp build dir."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

# The shared lab's session fixture, for every lab test module that runs on it.
from tests.lab_support import deployed  # noqa: F401

REPO = Path(__file__).resolve().parent.parent
INVOKE = [sys.executable, "-m", "invoke"]
FIXTURE_RUNS = REPO / "tests" / "fixtures" / "runs"
# The venv's bin first, as the runbook executor does: `invoke`, and the real kubectl that .ci/real-kubectl links
# there when the image's kubectl is a dispatcher that would contact the kubeconfig's server.
os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])


def unfolded(text: str) -> str:
    """A folded command as one line per command again: each `\\`-newline and the next line's indentation removed,
    which is what the shell does with them."""
    return re.sub(r"\\\n[ \t]*", "", text)


def run_invoke(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")]))
    proc = subprocess.run([*INVOKE, *args], cwd=REPO, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"invoke {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def example_build() -> Path:
    """build/example/, rendered by the real task."""
    run_invoke("render", "--cluster", "example")
    return REPO / "build" / "example"


@pytest.fixture(scope="session")
def built_site() -> Path:
    """site/, built once per test session by the real `invoke build-docs` (mkdocs build --strict), with a real
    run record of the lab (tests/fixtures/runs/lab/: 135 steps passed, failover figures) as the lab's last run."""
    run_invoke("build-docs", "--runs-dir", str(FIXTURE_RUNS))
    return REPO / "site"


# Where `addressed_site` is built to be served: a sub-path of a host
SITE_URL = "https://runbooks.example.internal/k8s/runbooks/"


@pytest.fixture(scope="session")
def addressed_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example cluster's site built for SITE_URL (`invoke build-docs --site-url`), in a directory of its own:
    its 404 page and sitemaps name that address."""
    from generator.model import load
    from generator.site.build import build_site

    root = tmp_path_factory.mktemp("addressed")
    build_site([load("example")], root / "site", FIXTURE_RUNS, jobs=1, staging=root / "staging", site_url=SITE_URL)
    return root / "site"


def built_etcd() -> tuple[str, Path]:
    """(version, bin directory) of the etcd clusters/lab.yaml installs, built from etcd's Go modules (cached; `make
    test` builds it before the tests, so this only finds it)."""
    from generator.kubebuild import tools
    from generator.model import load

    version = load("lab").spec.components.etcd.version
    return version, tools.ensure(tools.etcd(version), say=lambda _: None).bin_dir


def page_sources(cluster: str) -> Path:
    """Where `invoke build-docs` stages a cluster's Markdown pages (zh and en) for its own MkDocs build."""
    from generator.site.build import STAGING
    from generator.site.layout import CLUSTERS
    return STAGING / CLUSTERS / cluster


def cluster_file(directory: Path, name: str, extra: str = "") -> Path:
    """clusters/example.yaml renamed `name` (plus `extra` YAML appended), written as <directory>/<name>.yaml."""
    text = (REPO / "clusters" / "example.yaml").read_text(encoding="utf-8").replace("name: example", f"name: {name}")
    path = directory / f"{name}.yaml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def unreachable_cluster(directory: Path, name: str) -> Path:
    """The example cluster as `name`, its nodes on loopback addresses where nothing listens: ssh is refused at once,
    so a remote step fails for real without any traffic leaving the machine; no server tarball (those steps skip)."""
    spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    spec["name"] = name
    spec["nodes"] = [{"name": f"lo-{i}", "ip": f"127.0.9.{i}"} for i in (1, 2, 3)]
    spec["api_server"]["vip"] = "127.0.9.100"
    spec["ssh"] = {"user": "root", "options": ["BatchMode=yes", "ConnectTimeout=2", "StrictHostKeyChecking=no",
                                                "UserKnownHostsFile=/dev/null"]}
    spec["prerequisites"] = {"server_tarball": f"build/{name}/no-such-kubernetes-server.tar.gz"}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def authorities(build: Path) -> list[Path]:
    """The CA certificates under build/<cluster>/pki: those openssl reads CA:TRUE in."""
    def constraints(path: Path) -> str:
        return subprocess.run(["openssl", "x509", "-in", str(path), "-noout", "-ext", "basicConstraints"],
                              capture_output=True, text=True).stdout

    return sorted(p for p in (build / "pki").glob("*.pem")
                  if p.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----") and "CA:TRUE" in constraints(p))


def certificates(build: Path) -> dict[Path, Path]:
    """Every leaf certificate under build/<cluster>/pki (not the CAs, not service-account.pem, a public key), and the
    one CA there that openssl verifies it against: each leaf must verify against exactly one."""
    cas = authorities(build)
    leaves = sorted(p for p in (build / "pki").glob("*.pem")
                    if p not in cas and p.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----"))
    assert cas and leaves, f"no CA or no certificates under {build}/pki"
    signer: dict[Path, list[Path]] = {leaf: [] for leaf in leaves}
    for ca in cas:
        proc = subprocess.run(["openssl", "verify", "-CAfile", str(ca), *map(str, leaves)], capture_output=True,
                              text=True)
        for leaf in leaves:
            if f"{leaf}: OK\n" in proc.stdout:
                signer[leaf].append(ca)
    unverified = {str(leaf): [c.name for c in found] for leaf, found in signer.items() if len(found) != 1}
    assert not unverified, f"leaves that verify against no CA, or more than one: {unverified}"
    return {leaf: found[0] for leaf, found in signer.items()}


def assert_certificates_verify(build: Path) -> None:
    """openssl: every leaf verifies against one CA under pki/, and each CA's certificate is that of its key."""
    certificates(build)
    for ca in authorities(build):
        pub = [subprocess.run(argv, capture_output=True, text=True, check=True).stdout for argv in (
            ["openssl", "x509", "-in", str(ca), "-noout", "-pubkey"],
            ["openssl", "pkey", "-in", str(ca.with_name(f"{ca.stem}-key.pem")), "-pubout"])]
        assert pub[0] == pub[1], f"{ca.name} does not belong to {ca.stem}-key.pem"


def tree_digest(*roots: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry under the roots: sha256 of its content and mtime, or "dir" for a directory (whose mtime changes
    when a temp file comes and goes), and its mode. A lab's node disks (build/<lab>/nodes-root/) are left out."""
    entries = {}
    for root in roots:
        for path in sorted(root.rglob("*")) if root.exists() else []:
            if "nodes-root" in path.parts:  # a running lab's node disks: its daemons write there all the time
                continue
            st = path.lstat()
            if path.is_symlink():  # e.g. a lab node's unit links, which point inside the node, not here
                entries[str(path)] = (f"-> {os.readlink(path)}", st.st_mode, st.st_mtime_ns)
            elif path.is_dir():
                entries[str(path)] = ("dir", st.st_mode, 0)
            elif not stat.S_ISREG(st.st_mode):  # overlayfs whiteouts (character devices) in a lab's work dirs
                entries[str(path)] = ("special", st.st_mode, st.st_mtime_ns)
            else:
                entries[str(path)] = (hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode, st.st_mtime_ns)
    return entries


def client_cert(ca: Path, directory: Path, subject: str) -> Path:
    """A clientAuth certificate for `subject` ("/O=group/CN=user") that the CA `ca` (path without .pem: ca.pem and
    ca-key.pem beside each other) signs with the openssl CLI; its key is beside it, cfssljson-style."""
    stem = directory / subject.rsplit("=", 1)[-1]
    cert, key, request, ext = (Path(f"{stem}{suffix}") for suffix in (".pem", "-key.pem", ".csr", ".ext"))
    ext.write_text("extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature,keyEncipherment\n")
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(request), "-subj", subject], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(request), "-CA", f"{ca}.pem", "-CAkey", f"{ca}-key.pem",
                    "-CAcreateserial", "-CAserial", str(directory / "serial"), "-days", "1", "-extfile", str(ext),
                    "-out", str(cert)], check=True, capture_output=True)
    return cert


# --------------------------------------------------------------------------------------------------------------------
# The browser tests' Chromium (tests/test_browser*.py): the built site served on 127.0.0.1


@pytest.fixture(scope="module")
def base(built_site: Path):
    from generator import browser

    with browser.serve(built_site) as url:
        yield url


@pytest.fixture(scope="module")
def context(base: str):
    """A browser context in which every request to another host is recorded (`context.outside`) and aborted."""
    from generator import browser

    with browser.chromium(viewport={"width": 1280, "height": 900}, accept_downloads=True) as ctx:
        ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base.rstrip("/"))
        outside: list[str] = []

        def route(r):
            if urlsplit(r.request.url).hostname in ("127.0.0.1", "localhost"):
                r.continue_()
            else:
                outside.append(r.request.url)
                r.abort()

        ctx.route("**/*", route)
        ctx.outside = outside
        yield ctx


@pytest.fixture()
def page(context):
    """A tab; `tab.failed` lists every response of status 400 or more."""
    tab = context.new_page()
    tab.failed = []
    tab.on("response", lambda r: tab.failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    yield tab
    tab.close()
