"""Trust domains: the layout a cluster file asks for, the one an existing build keeps, and what a change says.

Each test renders its own cluster (a copy of clusters/example.yaml) with the real `invoke render` and reads the
result with openssl and the rendered units. The single layout is what every build was before separate CAs (the
seeds' layout): rendering with `certificates.layout: single` makes exactly such a build.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from generator import site
from generator.model import load
from tests.conftest import REPO, cluster_file, run_invoke, tree_digest

PKI = "/etc/kubernetes/pki"
FRONT_PROXY_FLAGS = ("--requestheader-client-ca-file", "--requestheader-allowed-names",
                     "--requestheader-extra-headers-prefix", "--requestheader-group-headers",
                     "--requestheader-username-headers", "--proxy-client-cert-file", "--proxy-client-key-file")


@pytest.fixture()
def name() -> Iterator[str]:
    unique = f"trust-{uuid.uuid4().hex[:8]}"
    yield unique
    shutil.rmtree(REPO / "build" / unique, ignore_errors=True)


def with_layout(tmp: Path, name: str, layout: str | None) -> Path:
    extra = f"certificates:\n  layout: {layout}\n" if layout else ""
    return cluster_file(tmp, name, extra)


def render(path: Path) -> str:
    return run_invoke("render", "--cluster", str(path)).stdout


def notes(output: str) -> list[str]:
    return [line.strip().removeprefix("note: ") for line in output.splitlines() if line.strip().startswith("note:")]


def flags(build: Path, unit: str) -> dict[str, str]:
    text = (build / "nodes" / "k8s-master-01" / "etc/systemd/system" / unit).read_text()
    return dict(m.groups() for m in re.finditer(r"(--[a-z-]+)=(\S+)", text))


def verifies(build: Path, ca: str, cert: str) -> bool:
    return subprocess.run(["openssl", "verify", "-CAfile", str(build / "pki" / ca), str(build / "pki" / cert)],
                          capture_output=True).returncode == 0


def test_the_single_layout_is_the_seeds_one_and_the_page_warns(tmp_path: Path, name: str) -> None:
    path = with_layout(tmp_path, name, "single")
    render(path)
    build = REPO / "build" / name
    assert not list((build / "pki").glob("etcd-ca*")) and not list((build / "pki").glob("front-proxy*"))
    for cert in ("admin.pem", "etcdctl.pem", "apiserver-etcd-client.pem", "etcd-server-k8s-master-01.pem"):
        assert verifies(build, "ca.pem", cert), cert  # one CA for everything: etcd admits the admin
    etcd, apiserver = flags(build, "etcd.service"), flags(build, "kube-apiserver.service")
    assert etcd["--trusted-ca-file"] == etcd["--peer-trusted-ca-file"] == f"{PKI}/ca.pem"
    assert apiserver["--etcd-cafile"] == apiserver["--client-ca-file"] == f"{PKI}/ca.pem"
    assert not set(FRONT_PROXY_FLAGS) & set(apiserver)
    pages = site.cluster_pages(load(str(path)), tmp_path)
    for lang, words in (("en", ("certificates.layout: single", "CA rotation", "past RBAC")),
                        ("zh", ("certificates.layout: single", "轮换 CA", "绕过 RBAC"))):
        assert all(word in pages[f"02-ca.{lang}.md"] for word in words), (lang, pages[f"02-ca.{lang}.md"])


def test_an_existing_single_ca_build_is_kept_with_one_line_saying_why(tmp_path: Path, name: str) -> None:
    render(with_layout(tmp_path, name, "single"))
    build = REPO / "build" / name
    before = tree_digest(build)
    unset = with_layout(tmp_path, name, None)  # the cluster file names no layout: the default would be separate
    out = render(unset)
    said = [n for n in notes(out) if "certificates.layout" in n]
    assert len(said) == 1 and "CA rotation" in said[0] and "no chapter yet" in said[0], out
    assert "\n" not in said[0]
    assert tree_digest(build) == before, "a single-CA build must render exactly as it was"
    # the pages say so too, and show the commands that match the build
    pages = site.cluster_pages(load(str(unset)), tmp_path)
    assert "this build was made so" in pages["02-ca.en.md"]
    assert f"build/{name}/pki/ca.pem build/{name}/pki/etcd-server" in pages["05-etcd.en.md"]  # openssl verify
    assert "etcd-ca" not in pages["05-etcd.en.md"]
    # and so does every later render, until the cluster file chooses
    assert said == [n for n in notes(render(unset)) if "certificates.layout" in n]


def test_asking_for_separate_cas_on_a_single_ca_build_rotates_etcd_and_says_so(tmp_path: Path, name: str) -> None:
    render(with_layout(tmp_path, name, "single"))
    build = REPO / "build" / name
    kept = {n: (build / "pki" / n).read_bytes() for n in ("ca.pem", "ca-key.pem", "admin.pem", "kube-scheduler.pem")}
    old_etcd = (build / "pki" / "apiserver-etcd-client.pem").read_bytes()
    out = render(with_layout(tmp_path, name, "separate"))
    said = [n for n in notes(out) if "certificates.layout" in n]
    assert len(said) == 1 and "CA rotation" in said[0] and "etcd and kube-apiserver chapters" in said[0], out
    assert {n: (build / "pki" / n).read_bytes() for n in kept} == kept, "the cluster CA and its leaves stay"
    assert (build / "pki" / "apiserver-etcd-client.pem").read_bytes() != old_etcd
    assert "apiserver-etcd-client: certificate issued (issued by another CA" in out
    for cert in ("etcdctl.pem", "apiserver-etcd-client.pem", "etcd-peer-k8s-master-02.pem"):
        assert verifies(build, "etcd-ca.pem", cert) and not verifies(build, "ca.pem", cert), cert
    assert verifies(build, "front-proxy-ca.pem", "front-proxy-client.pem")
    assert flags(build, "etcd.service")["--trusted-ca-file"] == f"{PKI}/etcd-ca.pem"
    assert set(FRONT_PROXY_FLAGS) <= set(flags(build, "kube-apiserver.service"))
    # done once: the next render has nothing more to say about the layout, nor to change
    again = render(with_layout(tmp_path, name, "separate"))
    assert not [n for n in notes(again) if "certificates.layout" in n or "issued" in n], again


def test_back_to_one_ca_is_a_rotation_too_said_once_and_no_ca_key_is_deleted(tmp_path: Path, name: str) -> None:
    render(with_layout(tmp_path, name, None))  # a new build: separate CAs
    build = REPO / "build" / name
    etcd_ca = {n: (build / "pki" / n).read_bytes() for n in ("etcd-ca.pem", "etcd-ca-key.pem")}
    single = with_layout(tmp_path, name, "single")
    out = render(single)
    said = [n for n in notes(out) if "certificates.layout" in n]
    assert len(said) == 1 and "CA rotation" in said[0] and "cluster CA" in said[0], out
    assert verifies(build, "ca.pem", "etcdctl.pem") and verifies(build, "ca.pem", "etcd-server-k8s-master-01.pem")
    assert {n: (build / "pki" / n).read_bytes() for n in etcd_ca} == etcd_ca  # left in place
    assert flags(build, "etcd.service")["--trusted-ca-file"] == f"{PKI}/ca.pem"
    again = render(single)  # done: the etcd CA's leftover files do not make it say so again
    assert not [n for n in notes(again) if "certificates.layout" in n or "issued" in n], again


def test_each_ca_is_made_once_and_half_of_one_is_never_replaced(tmp_path: Path, name: str) -> None:
    path = with_layout(tmp_path, name, None)
    first = render(path)
    made = [n for n in notes(first) if "created a new CA" in n]
    assert len(made) == 3, first  # cluster, etcd and front-proxy CAs
    build = REPO / "build" / name
    cas = {p.name: p.read_bytes() for p in (build / "pki").glob("*ca*.pem")}
    assert not [n for n in notes(render(path)) if "created a new CA" in n]
    assert {p.name: p.read_bytes() for p in (build / "pki").glob("*ca*.pem")} == cas
    (build / "pki" / "front-proxy-ca-key.pem").unlink()
    proc = run_invoke("render", "--cluster", str(path), check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "front-proxy-ca-key.pem is missing but" in lines[0], proc.stderr
    assert (build / "pki" / "front-proxy-ca.pem").read_bytes() == cas["front-proxy-ca.pem"]


def test_lint_names_the_single_ca_unless_the_cluster_file_chose_it(tmp_path: Path, name: str) -> None:
    chosen = with_layout(tmp_path, name, "single")
    render(chosen)
    build = REPO / "build" / name
    assert run_invoke("lint", "--cluster", str(chosen)).returncode == 0  # on purpose: the CA chapter warns instead
    # the same directory linted on its own (made by hand, say), or kept single without a choice: a finding per master
    (tmp_path / "unset").mkdir()
    unset = with_layout(tmp_path / "unset", name, None)
    for args in (("--dir", str(build)), ("--cluster", str(unset))):
        proc = run_invoke("lint", *args, check=False)
        lines = [line for line in proc.stdout.splitlines() if ": etcd-shares-cluster-ca: " in line]
        assert proc.returncode == 1 and len(lines) == 3, proc.stdout
        assert all("kube-apiserver.service" in line and "/etc/kubernetes/pki/ca.pem" in line for line in lines)
