"""Bad cluster files: each is clusters/example.yaml with one mistake, run through the real `invoke render`.

Every case must exit non-zero with one line per problem (`<file>: <field path>: <value>: <expected>`),
no traceback, and leave an existing build/example/ byte-for-byte and mtime-for-mtime untouched.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, run_invoke

from generator.versions import supported_range

EXAMPLE = (REPO / "clusters" / "example.yaml").read_text(encoding="utf-8")
SUPPORTED = supported_range()  # "1.12 to 1.36"

Edit = Callable[[str], str]


def text(old: str, new: str) -> Edit:
    """Replace one exact piece of the example's text (for mistakes only raw YAML can show)."""

    def edit(source: str) -> str:
        assert source.count(old) == 1, f"{old!r} must occur once in clusters/example.yaml"
        return source.replace(old, new)

    return edit


def _walk(data: Any, path: str, create: bool) -> tuple[Any, str | int]:
    """The container holding the last part of `path` ("a.b[1].c"), and that part."""
    parts: list[str | int] = []
    for piece in path.split("."):
        name, *indexes = re.split(r"\[(\d+)\]", piece)
        parts.append(name)
        parts += [int(i) for i in indexes if i]
    for part in parts[:-1]:
        if create and isinstance(part, str) and part not in data:
            data[part] = {}
        data = data[part]
    return data, parts[-1]


def setting(*pairs: tuple[str, Any]) -> Edit:
    """Set fields of the parsed example ("nodes[1].ip", value), creating sections as needed."""

    def edit(source: str) -> str:
        data = yaml.safe_load(source)
        for path, value in pairs:
            parent, last = _walk(data, path, create=True)
            parent[last] = value
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    return edit


def deleting(path: str) -> Edit:
    def edit(source: str) -> str:
        data = yaml.safe_load(source)
        parent, last = _walk(data, path, create=False)
        del parent[last]
        return yaml.safe_dump(data, sort_keys=False)

    return edit


def case(case_id: str, edit: Edit, field: str, *fragments: str, problems: int = 1) -> Any:
    """One row: how to spoil the example, the field path the error must name, words it must contain,
    and how many problem lines the file has in all."""
    return pytest.param(edit, field, fragments, problems, id=case_id)


def port_cases() -> list[Any]:
    fixed = {10259: "kube-scheduler", 2379: "etcd client", 2380: "etcd peer", 10257: "kube-controller-manager"}
    rows = []
    for port, owner in fixed.items():
        rows.append(case(f"haproxy-port-{port}", setting(("api_server.port", port)), "api_server.port", owner))
        rows.append(case(f"stats-port-{port}", setting(("load_balancer.stats_port", port)),
                         "load_balancer.stats_port", owner))
    return rows


EXTERNAL = ("load_balancer.kind", "external")
# every address of the example in IPv6, for the cases that need a single-family IPv6 cluster
IPV6 = (("nodes[0].ip", "fd00::4"), ("nodes[1].ip", "fd00::5"), ("nodes[2].ip", "fd00::6"),
        ("api_server.vip", "fd00::10"), ("network.service_cidr", "fd00:96::/112"),
        ("components.kube-controller-manager.cluster_cidr", "fd01::/56"))
LEADER = "components.kube-scheduler.leader_election"
CM_LEADER = "components.kube-controller-manager.leader_election"

CASES = [
    # syntax
    case("malformed-yaml", text("  vip: 192.168.1.210", "  vip: 192.168.1.210: x"), "<top>",
         "malformed YAML", "line 11, column 21"),
    case("duplicate-yaml-key", text("load_balancer:\n", "ssh:\n  user: root\nload_balancer:\n"), "<top>",
         "duplicate key 'ssh'", "line 13"),
    case("empty-file", lambda source: "", "<top>", "mapping"),
    case("not-a-mapping", lambda source: "- example\n", "<top>", "mapping"),
    # typos: unknown fields at any depth
    case("typo-top-level", text("kubernetes_version:", "kubernets_version:"), "kubernets_version",
         "unknown field", "kubernetes_version", problems=2),  # and kubernetes_version is missing
    case("typo-api_server.vpi", text("  vip:", "  vpi:"), "api_server.vpi", "unknown field", "'vip'",
         problems=2),  # and api_server.vip is missing
    case("typo-lease_durtion", setting((f"{LEADER}.lease_durtion", "15s")), f"{LEADER}.lease_durtion",
         "unknown field", "'lease_duration'"),
    case("typo-node-field", setting(("nodes[0].addr", "192.168.1.204")), "nodes[0].addr", "unknown field"),
    # addresses
    case("ip-invalid", setting(("nodes[1].ip", "192.168.1.300")), "nodes[1].ip", "'192.168.1.300'",
         "IPv4 or IPv6"),
    case("ip-duplicate", setting(("nodes[2].ip", "192.168.1.204")), "nodes[2].ip", "nodes[0]"),
    case("ip-duplicate-ipv6-spelling", setting(*IPV6, ("nodes[0].ip", "fd00::4"), ("nodes[1].ip", "fd00:0:0::4")),
         "nodes[1].ip", "nodes[0]"),
    case("ip-ipv6-scope-shell", setting(("nodes[0].ip", "fe80::1%$(reboot)")), "nodes[0].ip", "address"),
    case("vip-invalid", setting(("api_server.vip", "192.168.1")), "api_server.vip", "address"),
    case("vip-is-node-ip", setting(("api_server.vip", "192.168.1.205")), "api_server.vip", "k8s-master-02"),
    case("vip-missing-with-3-masters", deleting("api_server.vip"), "api_server.vip", "3 masters"),
    case("service-cidr", setting(("network.service_cidr", "10.254.0.1/16")), "network.service_cidr", "CIDR"),
    # issue 23: the address plan as kube-apiserver and kube-controller-manager check it
    case("no-etcd-member", setting(*((f"nodes[{i}].roles", ["master"]) for i in range(3))), "nodes",
         "at least one node with the role 'etcd'"),
    case("nodes-of-two-families", setting(("nodes[2].ip", "fd00::6")), "nodes[2].ip",
         "an IPv4 address like nodes[0].ip"),
    case("service-cidr-other-family", setting(("network.service_cidr", "fd00:96::/112")), "network.service_cidr",
         "an IPv4 network", "service IP family must match public address family"),
    case("service-cidr-too-small", setting(("network.service_cidr", "10.254.0.0/30")), "network.service_cidr",
         "at least 8 addresses"),
    case("service-cidr-too-large", setting(("network.service_cidr", "10.0.0.0/8")), "network.service_cidr",
         "/12 or longer", "for 32-bit addresses, the mask must be >= 12"),
    case("service-cidr-ipv6-too-large", setting(*IPV6, ("network.service_cidr", "fd00:96::/96")),
         "network.service_cidr", "/108 or longer"),
    case("service-cidr-holds-a-node", setting(("network.service_cidr", "192.168.0.0/16")), "network.service_cidr",
         "it holds nodes[0] (192.168.1.204), nodes[1] (192.168.1.205), nodes[2] (192.168.1.206) and 1 more"),
    case("pod-cidr-other-family", setting(("components.kube-controller-manager.cluster_cidr", "fd01::/56")),
         "components.kube-controller-manager.cluster_cidr", "an IPv4 network"),
    case("pod-cidr-smaller-than-a-node-range", setting(("components.kube-controller-manager.cluster_cidr",
                                                        "172.30.0.0/25")),
         "components.kube-controller-manager.cluster_cidr", "/24 or shorter", "--node-cidr-mask-size"),
    case("pod-cidr-ipv6-too-large", setting(*IPV6, ("components.kube-controller-manager.cluster_cidr", "fd01::/40")),
         "components.kube-controller-manager.cluster_cidr", "/48 or longer", "the node CIDR size is too big"),
    case("pod-cidr-holds-the-vip", setting(("api_server.vip", "172.30.0.5")),
         "components.kube-controller-manager.cluster_cidr", "it holds the VIP (api_server.vip) (172.30.0.5)"),
    # names
    case("node-name-duplicate", setting(("nodes[1].name", "k8s-master-01")), "nodes[1].name", "nodes[0]"),
    case("node-name-uppercase", setting(("nodes[0].name", "K8S-Master-01")), "nodes[0].name", "RFC 1123"),
    case("node-name-underscore", setting(("nodes[0].name", "k8s_master_01")), "nodes[0].name", "RFC 1123"),
    case("node-name-too-long", setting(("nodes[0].name", "m" * 64)), "nodes[0].name", "at most 63"),
    case("node-name-newline", setting(("nodes[0].name", "k8s-master-01\n")), "nodes[0].name", "RFC 1123"),
    case("cluster-name-invalid", setting(("name", "Example_Cluster")), "name", "RFC 1123"),
    case("cluster-domain-trailing-dot", setting(("network.cluster_domain", "cluster.local.")),
         "network.cluster_domain", "trailing dot"),
    case("node-role-unknown", setting(("nodes[2].roles", ["master", "worker"])), "nodes[2].roles[1]", "etcd"),
    # ports
    case("haproxy-on-apiserver-port", setting(("api_server.port", 6443)), "api_server.port", "secure_port"),
    case("stats-port-is-haproxy-port", setting(("load_balancer.stats_port", 8443)), "load_balancer.stats_port",
         "api_server.port"),
    case("secure-port-on-etcd", setting(("api_server.secure_port", 2379)), "api_server.secure_port", "etcd"),
    case("port-out-of-range", setting(("ssh.port", 70000)), "ssh.port", "65535"),
    *port_cases(),
    # releases
    case("version-too-old", setting(("kubernetes_version", "1.11")), "kubernetes_version", SUPPORTED),
    case("version-too-new", setting(("kubernetes_version", "1.99")), "kubernetes_version", SUPPORTED),
    case("version-latest", setting(("kubernetes_version", "latest")), "kubernetes_version", SUPPORTED),
    case("version-unquoted-float", text('"1.30.4"', "1.30"), "kubernetes_version", "quotes"),
    case("certificates-layout", setting(("certificates.layout", "three")), "certificates.layout", "'three'",
         "separate", "single"),
    # a minor alone names no tarball and no `--version`: the patch is asked for, with an example of that minor
    case("version-without-patch", setting(("kubernetes_version", "1.30")), "kubernetes_version",
         "'1.30'", "patch release", '"1.30.0"'),
    case("version-without-patch-v", setting(("kubernetes_version", "v1.16")), "kubernetes_version", '"1.16.0"'),
    # characters that would break a shell command
    case("shell-ssh-user", setting(("ssh.user", "kube;rm -rf /")), "ssh.user", "'kube;rm -rf /'"),
    case("shell-ssh-user-newline", setting(("ssh.user", "kube\n")), "ssh.user", "login name"),
    case("shell-path-space", setting(("paths.bin_dir", "/opt/kube bin")), "paths.bin_dir", "no spaces"),
    case("shell-path-substitution", setting(("paths.pki_dir", "/etc/kubernetes/$(reboot)")), "paths.pki_dir",
         "no shell syntax"),
    case("shell-path-newline", setting(("paths.config_dir", "/etc/kubernetes\n")), "paths.config_dir",
         "absolute path"),
    case("shell-ssh-option-backtick", setting(("ssh.options", ["StrictHostKeyChecking=no`reboot`"])),
         "ssh.options[0]", "no shell syntax"),
    case("shell-interface", setting(("load_balancer.interface", "eth0;reboot")), "load_balancer.interface",
         "interface"),
    case("shell-subject", setting(("certificates.subject.OU", "System$(reboot)")), "certificates.subject.OU",
         "letters"),
    # types and required fields
    case("type-port-string", setting(("api_server.port", "8443")), "api_server.port", "integer"),
    case("type-roles-not-list", setting(("nodes[0].roles", "master")), "nodes[0].roles", "list"),
    case("type-nodes-not-list", setting(("nodes", "k8s-master-01")), "nodes", "list"),
    case("type-section-null", text("ssh:\n  user: kube\n", "ssh:\n"), "ssh", "mapping"),
    case("type-bool-for-string", setting(("name", True)), "name", "string"),
    case("missing-nodes", deleting("nodes"), "nodes", "required field"),
    case("missing-node-ip", deleting("nodes[1].ip"), "nodes[1].ip", "required field"),
    case("nodes-empty", setting(("nodes", [])), "nodes", "at least one node"),
    # leader election
    case("renew-equals-lease", setting((f"{LEADER}.renew_deadline", "5s")), f"{LEADER}.renew_deadline",
         "lease_duration"),
    case("renew-longer-than-lease", setting((f"{LEADER}.lease_duration", "2s")), f"{LEADER}.renew_deadline",
         "lease_duration"),
    case("duration-unitless", setting((f"{LEADER}.retry_period", "2")), f"{LEADER}.retry_period", '"15s"'),
    # load balancer
    case("external-without-address", setting(EXTERNAL), "api_server.external_address", "external"),
    case("external-address-trailing-dot", setting(EXTERNAL, ("api_server.external_address", "lb.example.com.")),
         "api_server.external_address", "trailing dot"),
    case("external-address-with-haproxy", setting(("api_server.external_address", "lb.example.com")),
         "api_server.external_address", "haproxy-keepalived"),
    case("lb-kind-unknown", setting(("load_balancer.kind", "nginx")), "load_balancer.kind", "external"),
    # settings of the other components
    case("apiserver-extra-san-trailing-dot", setting(("components.kube-apiserver.extra_sans", ["api.example.com."])),
         "components.kube-apiserver.extra_sans[0]", "trailing dot"),
    case("apiserver-node-port-range", setting(("components.kube-apiserver.service_node_port_range", "32767-30000")),
         "components.kube-apiserver.service_node_port_range", "30000-32767"),
    case("controller-manager-renew", setting((f"{CM_LEADER}.renew_deadline", "15s")), f"{CM_LEADER}.renew_deadline",
         "kube-controller-manager"),
    case("controller-manager-cidr-overlap", setting(("components.kube-controller-manager.cluster_cidr",
                                                     "10.254.128.0/17")),
         "components.kube-controller-manager.cluster_cidr", "network.service_cidr"),
    case("shell-etcd-version", setting(("components.etcd.version", "3.5.15;reboot")), "components.etcd.version",
         "3.2.0 or later"),
    # kube-apiserver 1.37 refuses to advertise a loopback or link-local address (kubernetes#138102); 1.36 took it
    case("loopback-master-1-37", setting(("kubernetes_version", "1.37.2"), ("nodes[1].ip", "127.0.9.2")), "nodes[1].ip",
         "127.0.9.2", "not loopback nor link-local", "kubernetes#138102"),
    case("link-local-master-1-37", setting(("kubernetes_version", "1.37.2"), ("nodes[2].ip", "169.254.7.7")),
         "nodes[2].ip", "not loopback nor link-local"),
    case("shell-etcd-bin-dir", setting(("components.etcd.bin_dir", "/opt/etcd bin")), "components.etcd.bin_dir",
         "no spaces"),
    case("shell-tarball", setting(("prerequisites.server_tarball", "k8s.tar.gz`reboot`")),
         "prerequisites.server_tarball", "no shell syntax"),
    # YAML the loader refuses before any Python object is made: one line with the position
    case("yaml-tag-timestamp", text("user: kube", "user: !!timestamp abc"), "<top>", "!!timestamp", "line 9"),
    case("yaml-tag-int-empty", text("port: 8443", "port: !!int ''"), "<top>", "!!int", "line 12"),
    case("yaml-tag-bool", text("user: kube", "user: !!bool maybe"), "<top>", "!!bool"),
    case("yaml-octal-port", text("port: 8443", "port: 0443"), "<top>", "plain decimal", "line 12"),
    case("yaml-huge-integer", text("port: 8443", "port: " + "9" * 5000), "<top>", "5000 characters"),
    case("yaml-deep-nesting", lambda source: source + "x: " + "[" * 2000 + "]" * 2000 + "\n", "<top>",
         "deeper than 20"),
    case("yaml-recursive-alias", lambda source: source + "x: &a [*a]\n", "<top>", "contains it"),
    case("yaml-nul", text("user: kube", "user: ku\0be"), "<top>", "U+0000", "line 9, column 11"),
    # addresses nothing can use
    case("ip-ipv4-mapped-duplicate", setting(("nodes[1].ip", "::ffff:192.168.1.204")), "nodes[1].ip",
         "IPv4-mapped", "192.168.1.204"),
    case("ip-unspecified", setting(("nodes[0].ip", "0.0.0.0")), "nodes[0].ip", "0.0.0.0"),
    case("vip-localhost", setting(("api_server.vip", "127.0.0.1")), "api_server.vip", "127.0.0.1"),
    case("vip-unspecified", setting(("api_server.vip", "0.0.0.0")), "api_server.vip", "one machine"),
    case("vip-broadcast", setting(("api_server.vip", "255.255.255.255")), "api_server.vip", "255.255.255.255"),
    case("vip-multicast", setting(("api_server.vip", "224.0.0.18")), "api_server.vip", "multicast"),
    case("service-cidr-zone", setting(("network.service_cidr", "fd00::%$(id);x/112")), "network.service_cidr",
         "CIDR"),
    case("cluster-cidr-zone", setting(("components.kube-controller-manager.cluster_cidr", "fd01::%eth0/64")),
         "components.kube-controller-manager.cluster_cidr", "CIDR"),
    case("interface-option-like", setting(("load_balancer.interface", "--")), "load_balancer.interface",
         "starting with a letter or digit"),
    case("too-many-nodes", setting(("nodes", [{"name": f"n{i}", "ip": f"10.0.1.{i}", "roles": ["etcd"]}
                                              for i in range(1, 40)] + [{"name": "m", "ip": "10.0.2.1"}])),
         "nodes", "'40 nodes'", "at most 32"),
    case("lease-duration-huge", setting((f"{LEADER}.lease_duration", "9999999999999999999s")),
         f"{LEADER}.lease_duration", '"300s"'),
    case("retry-period-jitter", setting((f"{LEADER}.retry_period", "9s")), f"{LEADER}.retry_period", "1.2"),
    # paths: normalised, and never the system's own directories
    case("path-traversal", setting(("paths.config_dir", "/../../../../docs/leak")), "paths.config_dir", "'..'"),
    case("path-dot", setting(("paths.pki_dir", "/etc/kubernetes/./pki")), "paths.pki_dir", "normalised"),
    case("path-double-slash", setting(("paths.log_dir", "/var//log/kubernetes")), "paths.log_dir", "'//'"),
    case("etcd-data-dir-root", setting(("paths.etcd_data_dir", "/")), "paths.etcd_data_dir", "system directory"),
    case("config-dir-etc", setting(("paths.config_dir", "/etc")), "paths.config_dir", "system directory"),
    case("log-dir-proc", setting(("paths.log_dir", "/proc/sys/kernel")), "paths.log_dir", "system directory"),
    case("etcd-bin-dir-traversal", setting(("components.etcd.bin_dir", "/opt/../../usr")), "components.etcd.bin_dir",
         "'..'"),
    case("tarball-traversal", setting(("prerequisites.etcd_tarball", "build/../../etcd.tar.gz")),
         "prerequisites.etcd_tarball", "'..'"),
    # ssh options: an allow-list, and those that run or load something are refused saying so
    case("ssh-proxycommand", setting(("ssh.options", ["ProxyCommand=touch"])), "ssh.options[0]",
         "runs a local command"),
    case("ssh-localcommand", setting(("ssh.options", ["PermitLocalCommand=yes", "LocalCommand=touch"])),
         "ssh.options[0]", "LocalCommand", problems=2),
    case("ssh-knownhostscommand", setting(("ssh.options", ["KnownHostsCommand=/bin/true"])), "ssh.options[0]",
         "local command"),
    case("ssh-include", setting(("ssh.options", ["Include=/tmp/cfg"])), "ssh.options[0]", "another ssh configuration"),
    case("ssh-hostname", setting(("ssh.options", ["Hostname=evil.example.com"])), "ssh.options[0]", "other host"),
    case("ssh-pkcs11", setting(("ssh.options", ["PKCS11Provider=/tmp/x.so"])), "ssh.options[0]", "library"),
    case("ssh-unknown-option", setting(("ssh.options", ["Foo=bar"])), "ssh.options[0]", "allows"),
    case("ssh-space-form", setting(("ssh.options", ["ConnectTimeout 5"])), "ssh.options[0]", "Key=value"),
    case("ssh-bad-value", setting(("ssh.options", ["StrictHostKeyChecking=maybe"])), "ssh.options[0]",
         "accept-new"),
    case("ssh-proxyjump-option", setting(("ssh.options", ["ProxyJump=-oProxyCommand=x"])), "ssh.options[0]",
         "[user@]host"),
    # certificates
    case("key-size-rsa-1024", setting(("certificates.key.size", 1024)), "certificates.key.size", "2048"),
    case("key-size-ecdsa", setting(("certificates.key.algo", "ecdsa")), "certificates.key.size", "256"),
    case("key-algo", setting(("certificates.key.algo", "dsa")), "certificates.key.algo", "ecdsa"),
]


def snapshot(root: Path) -> dict[str, tuple[bytes | None, int, int]]:
    """Every entry under root: bytes (None for directories), mtime in ns and mode."""
    entries = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        entries[str(path.relative_to(root))] = (None if path.is_dir() else path.read_bytes(), st.st_mtime_ns,
                                                st.st_mode)
    return entries


def problem_lines(output: str, source: Path) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(f"{source}: ")]


def assert_rejected(proc: Any, source: Path) -> list[str]:
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "Traceback" not in output, output
    assert "invalid cluster file:" in proc.stderr, output
    lines = problem_lines(output, source)
    assert lines, f"no line starts with the file path {source}:\n{output}"
    return lines


@pytest.mark.parametrize(("edit", "field", "fragments", "problems"), CASES)
def test_bad_cluster_file_is_rejected_and_build_untouched(example_build: Path, tmp_path: Path, edit: Edit,
                                                          field: str, fragments: tuple[str, ...],
                                                          problems: int) -> None:
    source = tmp_path / "bad.yaml"
    body = edit(EXAMPLE)
    source.write_text(body, encoding="utf-8")
    named = re.search(r"(?m)^name: ([a-z0-9-]+)$", body)  # not yaml.safe_load: some bodies make it raise
    other = REPO / "build" / named[1] if named else None
    other_existed = other is not None and other.exists()
    before = snapshot(example_build)
    assert before, "the example_build fixture rendered nothing"

    proc = run_invoke("render", "--cluster", str(source), check=False)

    lines = assert_rejected(proc, source)
    named = [line for line in lines if line.startswith(f"{source}: {field}: ")]
    assert named, f"no problem names {field!r}:\n" + "\n".join(lines)
    for fragment in fragments:
        assert any(fragment in line for line in named), f"{fragment!r} not in:\n" + "\n".join(named)
    assert len(lines) == problems, "expected one line per problem:\n" + "\n".join(lines)
    assert snapshot(example_build) == before, "build/example changed although the file was rejected"
    if other is not None and not other_existed:
        assert not other.exists(), f"{other} was created although the file was rejected"


def test_every_problem_in_one_file_is_reported(example_build: Path, tmp_path: Path) -> None:
    spoil = setting(
        ("ssh.usr", "kube"),
        ("nodes[1].ip", "192.168.1.300"),
        ("nodes[2].name", "K8S-Master-03"),
        ("network.cluster_domain", "cluster.local."),
        ("load_balancer.stats_port", 10259),
        (f"{LEADER}.renew_deadline", "20s"),
        ("certificates.key.size", 1024),
        ("kubernetes_version", "1.99"),
    )
    source = tmp_path / "many.yaml"
    source.write_text(spoil(EXAMPLE), encoding="utf-8")
    before = snapshot(example_build)

    lines = assert_rejected(run_invoke("render", "--cluster", str(source), check=False), source)

    fields = ["ssh.usr", "nodes[1].ip", "nodes[2].name", "network.cluster_domain", "load_balancer.stats_port",
              f"{LEADER}.renew_deadline", "certificates.key.size", "kubernetes_version"]
    for field in fields:
        assert sum(line.startswith(f"{source}: {field}: ") for line in lines) == 1, field
    assert len(lines) == len(fields), "\n".join(lines)
    assert snapshot(example_build) == before


def test_unsupported_version_names_the_supported_range(tmp_path: Path) -> None:
    for version in ("1.11", "1.99.0", "v2.0.1", "latest"):
        source = tmp_path / "version.yaml"
        source.write_text(setting(("kubernetes_version", version), ("name", "never-rendered"))(EXAMPLE))
        lines = assert_rejected(run_invoke("render", "--cluster", str(source), check=False), source)
        assert len(lines) == 1 and lines[0].startswith(f"{source}: kubernetes_version: {version!r}: "), lines
        assert f"supported: {SUPPORTED}" in lines[0], lines[0]
    assert not (REPO / "build" / "never-rendered").exists()


def test_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    source = tmp_path / "absent.yaml"
    lines = assert_rejected(run_invoke("render", "--cluster", str(source), check=False), source)
    assert len(lines) == 1 and "cannot read" in lines[0], lines


@pytest.fixture
def unique_cluster() -> Any:
    """A cluster name nobody else uses; its build/ directory is removed afterwards."""
    name = f"validation-{uuid.uuid4().hex[:10]}"
    yield name
    shutil.rmtree(REPO / "build" / name, ignore_errors=True)


def test_smallest_valid_file_is_accepted(tmp_path: Path, unique_cluster: str) -> None:
    source = tmp_path / "smallest.yaml"
    source.write_text(f'name: {unique_cluster}\nkubernetes_version: "1.30.4"\n'
                      "nodes:\n  - {name: solo, ip: 10.0.0.5}\n", encoding="utf-8")

    proc = run_invoke("render", "--cluster", str(source), check=False)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"rendered {unique_cluster} (1.30.4)" in proc.stdout
    built = REPO / "build" / unique_cluster
    assert any(p.is_file() for p in built.rglob("*"))
    # one master and no VIP: the scheduler talks to that master's own kube-apiserver
    kubeconfigs = [p.read_text() for p in built.rglob("kube-scheduler.kubeconfig")]
    assert kubeconfigs and all("server: https://10.0.0.5:6443" in k for k in kubeconfigs)
    assert not list(built.rglob("haproxy.cfg")) and not list(built.rglob("keepalived.conf"))
    dry = run_invoke("deploy", "--cluster", str(source), "--chapter", "load-balancer", "--dry-run").stdout
    assert "haproxy" not in dry and "keepalived" not in dry


def test_valid_file_given_by_a_path(tmp_path: Path, unique_cluster: str) -> None:
    source = tmp_path / "by path" / "cluster.yml"
    source.parent.mkdir()
    source.write_text(EXAMPLE.replace("name: example", f"name: {unique_cluster}"), encoding="utf-8")
    relative = os.path.relpath(source, REPO)

    for ref in (str(source), str(relative)):
        proc = run_invoke("render", "--cluster", ref, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"rendered {unique_cluster} (1.30.4) into build/{unique_cluster}/" in proc.stdout
    assert (REPO / "build" / unique_cluster).is_dir()


def test_example_given_by_its_path_renders_the_same_build(example_build: Path) -> None:
    before = snapshot(example_build)
    proc = run_invoke("render", "--cluster", "clusters/example.yaml", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert snapshot(example_build) == before, "rendering the same cluster again must change nothing"


def test_service_network_sizes_follow_the_release(tmp_path: Path) -> None:
    """kube-apiserver refuses a service network of more than 2^20 addresses until 1.34 (the allocator's bitmap),
    and takes a /8 from 1.34 on; fewer than 8 addresses never."""
    from generator.model import ClusterFileError, load

    def loads(release: str, cidr: str) -> bool:
        data = yaml.safe_load(EXAMPLE)
        data.update(name="sizes", kubernetes_version=release, network={"service_cidr": cidr})
        source = tmp_path / "sizes.yaml"
        source.write_text(yaml.safe_dump(data))
        try:
            load(str(source))
        except ClusterFileError:
            return False
        return True

    assert loads("1.36.3", "10.0.0.0/8") and loads("1.34.0", "10.0.0.0/8")
    assert not loads("1.33.5", "10.0.0.0/8") and loads("1.33.5", "10.0.0.0/12")
    assert not loads("1.36.3", "10.254.0.0/30") and loads("1.36.3", "10.254.0.0/29")
