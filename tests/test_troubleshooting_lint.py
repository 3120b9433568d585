"""`invoke lint` finds each known mistake injected into a freshly rendered artifact directory, and nothing in a
fresh one; the troubleshooting chapter covers every known error and renders with no executable step."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import shlex
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from generator import notebooks, site
from generator.components.troubleshooting import chapter as troubleshooting
from generator.model import load
from tests.conftest import REPO, run_invoke

# The messages of the last table of the project's version facts (shared/VERSIONS.md), as fragments.
VERSIONS_TABLE = [
    "cannot parse dnsName",
    "found a certificate rather than a key",
    "legacy Common Name",
    "failed to unmarshal configuration",
    "no key usage available",
    "does not take any arguments",
    'cannot get resource "leases"',
    'resourceLock value must be "leases"',
    "unknown field",
    "no configuration has been provided",
    "has expired or is not yet valid",
    "10251",
]


@pytest.fixture(scope="module")
def cluster_file(tmp_path_factory: pytest.TempPathFactory):
    spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    spec["name"] = f"lint-{uuid.uuid4().hex[:8]}"
    spec["nodes"] = [{"name": f"cp-{i}", "ip": f"10.77.0.{10 + i}"} for i in range(1, 4)]
    spec["api_server"]["vip"] = "10.77.0.100"
    path = tmp_path_factory.mktemp("cluster") / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    run_invoke("render", "--cluster", str(path))
    yield path, spec
    shutil.rmtree(REPO / "build" / spec["name"], ignore_errors=True)


@pytest.fixture()
def copy(cluster_file, tmp_path: Path) -> Path:
    """A fresh copy of the rendered directory at tmp/build/<name> (modes kept), so build/<name>-relative commands
    run from tmp see it."""
    _, spec = cluster_file
    target = tmp_path / "build" / spec["name"]
    shutil.copytree(REPO / "build" / spec["name"], target)
    return target


def lint(directory: Path) -> tuple[int, list[tuple[str, str]], str]:
    proc = run_invoke("lint", "--dir", str(directory), check=False)
    found = [tuple(line.split(": ", 2)[:2]) for line in proc.stdout.splitlines() if line.startswith(str(directory))]
    return proc.returncode, found, proc.stdout + proc.stderr


def node_file(copy: Path, spec: dict, absolute: str) -> Path:
    return copy / "nodes" / spec["nodes"][0]["name"] / absolute.lstrip("/")


def openssl_cert(tmp: Path, *ext: str) -> bytes:
    args = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(tmp / "k.pem"),
            "-out", str(tmp / "c.pem"), "-days", "30", "-subj", "/CN=injected"]
    for e in ext:
        args += ["-addext", e]
    subprocess.run(args, check=True, capture_output=True)
    return (tmp / "c.pem").read_bytes()


def expired_cert() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin")])
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(past)
            .not_valid_after(past + dt.timedelta(days=365)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def edit(path: Path, change: Callable[[str], str]) -> None:
    before = path.read_text()
    after = change(before)
    assert after != before, f"injection did not change {path}"
    mode = path.stat().st_mode
    path.write_text(after)
    path.chmod(mode & 0o777)


def edit_yaml(path: Path, change: Callable[[dict], None]) -> None:
    def apply(text: str) -> str:
        body = yaml.safe_load(text)
        change(body)
        return yaml.safe_dump(body, sort_keys=False)
    edit(path, apply)


def scheduler_kubeconfig(spec: dict) -> str:
    return "/etc/kubernetes/kube-scheduler.kubeconfig"


def inject_key_is_cert(copy: Path, spec: dict, tmp: Path) -> Path:
    path = node_file(copy, spec, scheduler_kubeconfig(spec))

    def swap(body: dict) -> None:
        user = body["users"][0]["user"]
        user["client-key-data"] = user["client-certificate-data"]
    edit_yaml(path, swap)
    return path


def inject_kubeconfig_cn(copy: Path, spec: dict, tmp: Path) -> Path:
    path = node_file(copy, spec, scheduler_kubeconfig(spec))
    admin = (copy / "pki" / "admin.pem").read_bytes()

    def swap(body: dict) -> None:
        body["users"][0]["user"]["client-certificate-data"] = base64.b64encode(admin).decode()
    edit_yaml(path, swap)
    return path


def inject_trailing_dot(copy: Path, spec: dict, tmp: Path) -> Path:
    path = copy / "pki" / "kube-apiserver.pem"
    path.write_bytes(openssl_cert(tmp, "subjectAltName=DNS:kubernetes.default.svc.cluster.local."))
    return path


def inject_server_no_san(copy: Path, spec: dict, tmp: Path) -> Path:
    path = copy / "pki" / "kube-apiserver.pem"
    path.write_bytes(openssl_cert(tmp, "extendedKeyUsage=serverAuth", "basicConstraints=CA:FALSE"))
    return path


def inject_expired(copy: Path, spec: dict, tmp: Path) -> Path:
    path = copy / "pki" / "admin.pem"
    path.write_bytes(expired_cert())
    return path


def inject_json_comment(copy: Path, spec: dict, tmp: Path) -> Path:
    path = copy / "pki" / "ca-config.json"
    edit(path, lambda t: t.replace("{", "{\n  // profiles used by cfssl gencert -profile=kubernetes", 1))
    return path


def inject_json_trailing_comma(copy: Path, spec: dict, tmp: Path) -> Path:
    path = copy / "pki" / "ca-config.json"
    edit(path, lambda t: t.rstrip()[:-1].rstrip() + ",\n}\n")
    return path


def unit(copy: Path, spec: dict) -> Path:
    return node_file(copy, spec, "/etc/systemd/system/kube-scheduler.service")


def inject_backslash_space(copy: Path, spec: dict, tmp: Path) -> Path:
    edit(unit(copy, spec), lambda t: t.replace(" \\\n", " \\ \n", 1))
    return unit(copy, spec)


def inject_restart(copy: Path, spec: dict, tmp: Path) -> Path:
    edit(unit(copy, spec), lambda t: re.sub(r"^Restart=.*$", "Restart=on", t, count=1, flags=re.MULTILINE))
    return unit(copy, spec)


def inject_wantedby(copy: Path, spec: dict, tmp: Path) -> Path:
    edit(unit(copy, spec), lambda t: t.replace("WantedBy=multi-user.target", "WantedBy=multi-user.targe"))
    return unit(copy, spec)


def config(copy: Path, spec: dict) -> Path:
    return node_file(copy, spec, "/etc/kubernetes/kube-scheduler.yaml")


def inject_old_field(copy: Path, spec: dict, tmp: Path) -> Path:
    # seed 002's v1alpha1 field in this release's v1 config
    edit_yaml(config(copy, spec), lambda body: body.update(bindTimeoutSeconds=600))
    return config(copy, spec)


def inject_no_kubeconfig(copy: Path, spec: dict, tmp: Path) -> Path:
    edit_yaml(config(copy, spec), lambda body: body.pop("clientConnection"))
    return config(copy, spec)


def inject_endpoints_lock(copy: Path, spec: dict, tmp: Path) -> Path:
    edit_yaml(config(copy, spec), lambda body: body["leaderElection"].update(resourceLock="endpoints"))
    return config(copy, spec)


def inject_key_mode(copy: Path, spec: dict, tmp: Path) -> Path:
    path = copy / "pki" / "admin-key.pem"
    path.chmod(0o644)
    return path


def inject_fullwidth_space(copy: Path, spec: dict, tmp: Path) -> Path:
    path = node_file(copy, spec, "/etc/keepalived/keepalived.conf")
    edit(path, lambda t: re.sub(r"^(\s*priority \d+)$", "\\1\u3000\u3000# 优先级", t, count=1, flags=re.MULTILINE))
    return path


INJECTIONS = {
    "key-is-certificate": inject_key_is_cert,
    "kubeconfig-cn": inject_kubeconfig_cn,
    "san-trailing-dot": inject_trailing_dot,
    "server-cert-no-san": inject_server_no_san,
    "cert-expired": inject_expired,
    "json-comment": inject_json_comment,
    "json-invalid": inject_json_trailing_comma,
    "unit-backslash-space": inject_backslash_space,
    "unit-restart": inject_restart,
    "unit-wantedby": inject_wantedby,
    "config-unknown-field": inject_old_field,
    "config-without-kubeconfig": inject_no_kubeconfig,
    "lock-removed": inject_endpoints_lock,
    "key-mode": inject_key_mode,
    "non-ascii-space": inject_fullwidth_space,
}


def test_a_fresh_render_has_no_findings(copy: Path) -> None:
    rc, found, out = lint(copy)
    assert rc == 0 and found == [], out
    assert "no findings" in out


@pytest.mark.parametrize("rule", sorted(INJECTIONS))
def test_each_injected_mistake_is_found_exactly_there(rule: str, copy: Path, cluster_file, tmp_path: Path) -> None:
    _, spec = cluster_file
    path = INJECTIONS[rule](copy, spec, tmp_path)
    rc, found, out = lint(copy)
    assert rc == 1, out
    assert found == [(str(path), rule)], out


def test_every_rule_has_an_injection_test_and_a_troubleshooting_entry() -> None:
    from generator.lint import RULES
    from tests.test_lint_releases import INJECTIONS as RELEASE_INJECTIONS  # on renders of other releases

    assert not set(INJECTIONS) & set(RELEASE_INJECTIONS)
    assert set(INJECTIONS) | set(RELEASE_INJECTIONS) == set(RULES)
    covered = {r for e in troubleshooting.ERRORS for r in e.lint_rules}
    assert covered - set(RULES) == set(), "troubleshooting names a rule lint does not have"
    assert set(RULES) - covered <= {"key-mode"}, "a lint rule without its error in the troubleshooting chapter"


def test_every_entry_a_topic_module_defines_is_on_the_page() -> None:
    from generator.components.troubleshooting import certificates, config, load_balancer, units

    defined = {f"{m.__name__}.{name}" for m in (certificates, config, load_balancer, units)
               for name, value in vars(m).items() if isinstance(value, troubleshooting.Error)}
    listed = {f"{m.__name__}.{name}" for m in (certificates, config, load_balancer, units)
              for name, value in vars(m).items() if any(value is e for e in troubleshooting.ERRORS)}
    assert len(defined) >= 19
    assert defined == listed, f"defined but not in troubleshooting.ERRORS: {sorted(defined - listed)}"
    assert len(set(map(id, troubleshooting.ERRORS))) == len(troubleshooting.ERRORS), "an entry listed twice"


def test_a_v1_only_field_in_an_older_config_is_found(tmp_path: Path) -> None:
    spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    spec["name"] = f"lint-old-{uuid.uuid4().hex[:8]}"
    spec["kubernetes_version"] = "1.22.17"  # writes kubescheduler.config.k8s.io/v1beta2
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(spec))
    try:
        run_invoke("render", "--cluster", str(path), "--component", "kube-scheduler")
        build = REPO / "build" / spec["name"]
        target = tmp_path / "copy"
        shutil.copytree(build, target)
    finally:
        shutil.rmtree(REPO / "build" / spec["name"], ignore_errors=True)
    conf = target / "nodes" / spec["nodes"][0]["name"] / "etc/kubernetes/kube-scheduler.yaml"
    assert yaml.safe_load(conf.read_text())["apiVersion"].endswith("/v1beta2")
    rc, found, out = lint(target)
    assert rc == 0, out
    edit_yaml(conf, lambda body: body.update(delayCacheUntilActive=True))
    rc, found, out = lint(target)
    assert rc == 1 and found == [(str(conf), "config-unknown-field")], out


def test_the_lock_rule_follows_the_release(copy: Path, cluster_file) -> None:
    """endpoints is only wrong from 1.24 on: with environment.sh saying 1.23, the lock is no finding (the v1
    config of this 1.30 render is, on each master: 1.23 reads v1beta3)."""
    _, spec = cluster_file
    inject_endpoints_lock(copy, spec, copy)
    edit(copy / "environment.sh", lambda t: re.sub(r"^KUBE_VERSION=.*$", "KUBE_VERSION=v1.23.17", t,
                                                  flags=re.MULTILINE))
    rc, found, out = lint(copy)
    assert {rule for _, rule in found} == {"config-api-version"} and len(found) == len(spec["nodes"]), out


def test_lint_needs_a_directory() -> None:
    proc = run_invoke("lint", "--dir", "/nonexistent/build/x", check=False)
    assert proc.returncode == 1
    assert "not a directory" in proc.stderr


# --- the troubleshooting chapter ---------------------------------------------------------------------------------


def test_every_error_of_the_version_facts_is_covered() -> None:
    text = [" ".join([e.message, e.symptom.en, e.cause.en]) for e in troubleshooting.ERRORS]
    for fragment in VERSIONS_TABLE:
        assert any(fragment in t for t in text), fragment


def test_every_entry_is_complete_in_both_languages(cluster_file) -> None:
    path, spec = cluster_file
    cluster = load(str(path))
    ids = [e.id for e in troubleshooting.ERRORS]
    assert len(ids) == len(set(ids))
    for error in troubleshooting.ERRORS:
        for field in (error.title, error.symptom, error.cause, error.fix):
            assert field.zh.strip() and field.en.strip(), error.id
            assert field.zh != field.en, error.id
        commands = error.confirm(cluster)
        assert commands, error.id
        for command in commands:
            shlex.split(command)  # well-formed shell words
            assert "192.168.1." not in command  # built from this cluster, not the example


def test_the_chapter_renders_with_no_executable_step(cluster_file) -> None:
    path, spec = cluster_file
    cluster = load(str(path))
    chapter = troubleshooting.chapter(cluster)
    assert chapter.steps == ()
    for lang in ("zh", "en"):
        page = site.chapter_page(chapter, {}, cluster, lang)
        assert "```bash" not in page
        assert page.count("```console") >= len(troubleshooting.ERRORS) + 1  # + the lint call
        for error in troubleshooting.ERRORS:
            assert error.title[lang] in page and error.message in page
        # a node's diagnostic goes to that node, as the cluster file's ssh user
        assert f"{spec['ssh']['user']}@{spec['nodes'][0]['ip']}" in page
    nb = notebooks.chapter_notebook(chapter)
    assert not [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("step(")]
    out = run_invoke("deploy", "--cluster", str(path), "--chapter", "troubleshooting", "--dry-run").stdout
    assert out == ""


def test_confirm_commands_reveal_the_injected_mistakes(copy: Path, cluster_file, tmp_path: Path) -> None:
    """Run the workstation diagnostics against a broken copy (from tmp, where build/<name> is the copy)."""
    path, spec = cluster_file
    cluster = load(str(path))
    by_id = {e.id: e for e in troubleshooting.ERRORS}

    def run(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True)

    json_check = by_id["json-comment"].confirm(cluster)[0]
    assert run(json_check).stdout.strip() == "valid"
    inject_json_comment(copy, spec, tmp_path)
    assert run(json_check).returncode != 0

    inject_trailing_dot(copy, spec, tmp_path)
    san = run(by_id["dns-trailing-dot"].confirm(cluster)[0])
    assert "DNS:kubernetes.default.svc.cluster.local." in san.stdout

    # node diagnostics run over ssh: run their remote part here, on the copy's files
    (remote,) = [shlex.split(c)[-1] for c in by_id["key-is-certificate"].confirm(cluster) if "client-key-data" in c]
    kubeconfig = node_file(copy, spec, scheduler_kubeconfig(spec))
    on_copy = (remote.replace("sudo ", "").replace(f"{cluster.spec.paths.bin_dir}/kubectl", "kubectl")
               .replace(f"{cluster.spec.paths.config_dir}/kube-scheduler.kubeconfig", str(kubeconfig)))
    assert re.match(r"^-----BEGIN (RSA |EC )?PRIVATE KEY-----$", run(on_copy).stdout), run(on_copy)
    inject_key_is_cert(copy, spec, tmp_path)
    assert run(on_copy).stdout.strip() == "-----BEGIN CERTIFICATE-----"

    # the unit check runs on a node over ssh: run its remote part here, on the copy's unit
    remote = shlex.split(by_id["unit-backslash-space"].confirm(cluster)[0])[-1]
    unit_path = unit(copy, spec)
    on_copy = remote.replace(f"{cluster.spec.paths.systemd_dir}/kube-apiserver.service",
                             str(unit_path))
    assert run(on_copy).stdout == ""
    inject_backslash_space(copy, spec, tmp_path)
    hit = run(on_copy).stdout
    assert re.match(r"^\d+:.*\\ $", hit), hit


def test_the_json_comment_is_what_cfssl_style_parsers_reject(copy: Path, cluster_file, tmp_path: Path) -> None:
    _, spec = cluster_file
    path = inject_json_comment(copy, spec, tmp_path)
    with pytest.raises(json.JSONDecodeError):
        json.loads(path.read_text())
