"""Issue 9's reproducers through the real CLI: each hostile cluster file (or file name) is refused in one line per
problem naming the file and the field, no traceback, within a safety bound, and build/, docs/ and site/ are
byte for byte what they were. Plus what must stay accepted, and `ssh -G` (the real ssh) on the allowed options."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from conftest import INVOKE, REPO, tree_digest

from generator import ssh_options
from generator.model import load

EXAMPLE = (REPO / "clusters" / "example.yaml").read_text(encoding="utf-8")
LAB_OPTIONS = yaml.safe_load((REPO / "clusters" / "lab.yaml").read_text(encoding="utf-8"))["ssh"]["options"]
SAFETY = 60  # seconds: the alias bomb took 120 s and 2.7 GB before
PUBLISHED = (REPO / "build", REPO / "docs", REPO / "site")


def renamed(body: str) -> str:
    return body.replace("name: example", "name: hostile-never-rendered")


def with_text(old: str, new: str) -> Callable[[], bytes]:
    return lambda: renamed(EXAMPLE).replace(old, new).encode()


def alias_bomb() -> bytes:
    """Nine levels of nine aliases each ("billion laughs") as the node list."""
    lines = ['lol0: &lol0 "lol"'] + [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]" for i in range(1, 10)]
    return (renamed(EXAMPLE).replace("nodes:\n", "x-bomb:\n  " + "\n  ".join(lines) + "\nnodes: *lol9\nold:\n")
            .encode())


CASES = [
    pytest.param(with_text("ssh:\n", "paths: {config_dir: /../../../../docs/leak}\nssh:\n"), "paths.config_dir",
                 "'..'", id="1-traversal-into-docs"),
    pytest.param(with_text("ssh:\n", "paths: {systemd_dir: /../../../../../../etc/systemd/system}\nssh:\n"),
                 "paths.systemd_dir", "'..'", id="1-traversal-to-the-workstation"),
    pytest.param(with_text("  user: kube", "  user: kube\n  options: [ProxyCommand=touch, PermitLocalCommand=yes]"),
                 "ssh.options[0]", "runs a local command", id="5-ssh-proxycommand"),
    pytest.param(with_text("ssh:\n", 'network: {service_cidr: "fd00::%$(id);x/112"}\nssh:\n'),
                 "network.service_cidr", "CIDR", id="6-zone-id-in-a-unit"),
    pytest.param(with_text("  user: kube", "  user: !!timestamp abc"), "<top>", "!!timestamp", id="7-tag-timestamp"),
    pytest.param(with_text("  port: 8443", "  port: !!int ''"), "<top>", "!!int", id="7-tag-int"),
    pytest.param(with_text("  user: kube", "  user: !!bool maybe"), "<top>", "!!bool", id="7-tag-bool"),
    pytest.param(with_text("kubernetes_version", "x: " + "[" * 2000 + "]" * 2000 + "\nkubernetes_version"),
                 "<top>", "deeper than 20", id="7-deep-nesting"),
    pytest.param(lambda: renamed(EXAMPLE).replace("kube", "ku\udcff", 1).encode("utf-8", "surrogateescape"),
                 "<top>", "0xff is not UTF-8", id="7-bad-byte"),
    pytest.param(with_text("  port: 8443", "  port: " + "9" * 5000), "<top>", "5000 characters", id="7-huge-int"),
    pytest.param(with_text("  user: kube", "  user: ku\0be"), "<top>", "U+0000", id="7-nul"),
    pytest.param(alias_bomb, "<top>", "more than 10000 YAML values", id="8-alias-bomb"),
    pytest.param(with_text("  user: kube", "  user: " + "x" * 20_000_000), "<top>", "more than 262144 bytes",
                 id="8-20-MB-string"),
    pytest.param(with_text("  user: kube", "  user: " + "x" * 200_000), "<top>", "200000 characters",
                 id="8-long-string"),
    pytest.param(with_text("192.168.1.205", "'::ffff:192.168.1.204'"), "nodes[1].ip", "IPv4-mapped",
                 id="low-ipv4-mapped-duplicate"),
    pytest.param(with_text("ssh:\n", "paths: {etcd_data_dir: /}\nssh:\n"), "paths.etcd_data_dir",
                 "system directory", id="low-etcd-data-dir-root"),
    # issue 23: options with which ssh writes a file stay in the cluster's own build directory
    *(pytest.param(with_text("  user: kube", f"  user: kube\n  options: [{option}]"), "ssh.options[0]",
                   "ssh writes to it", id=f"23-ssh-writes-{i}")
      for i, option in enumerate(["UserKnownHostsFile=clusters/example.yaml", "ControlPath=docs/cm-%C",
                                  "UserKnownHostsFile=~/.ssh/known_hosts", "ControlPath=build/lab/ssh/cm-%C",
                                  "UserKnownHostsFile=/tmp/known", "ControlPath=/dev/null"])),
]


def refused(argv: list[str], env: dict[str, str] | None = None) -> list[str]:
    """Run the CLI; it must refuse with one line per problem and no traceback; return the problem lines."""
    before = tree_digest(*PUBLISHED)
    proc = subprocess.run([*INVOKE, *argv], cwd=REPO, capture_output=True, text=True, timeout=SAFETY,
                          env={**os.environ, **(env or {})})
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in output, output[:3000]
    assert proc.stderr.startswith("invalid cluster file:\n"), output[:3000]
    lines = proc.stderr.splitlines()[1:]
    assert lines and all(len(line) < 300 for line in lines), lines
    assert tree_digest(*PUBLISHED) == before, "build/, docs/ or site/ changed"
    return lines


@pytest.mark.parametrize(("make", "field", "fragment"), CASES)
def test_hostile_cluster_file_is_refused(tmp_path: Path, make: Callable[[], bytes], field: str,
                                         fragment: str) -> None:
    source = tmp_path / "hostile.yaml"
    source.write_bytes(make())
    env = {"PYTHONOPTIMIZE": "1"}  # validation must not rely on assert
    lines = refused(["render", "--cluster", str(source)], env)
    assert all(line.startswith(f"{source}: ") for line in lines), lines
    named = [line for line in lines if line.startswith(f"{source}: {field}: ")]
    assert named and any(fragment in line for line in named), lines
    assert not (REPO / "build" / "hostile-never-rendered").exists() and not (REPO / "docs" / "leak").exists()


@pytest.mark.parametrize("name", ["x`<img src=x onerror=alert(101)>`.yaml", "a\nrm -rf ~\n.yaml", "$(id).yaml",
                                  "-x.yaml"])
def test_a_file_name_that_is_not_a_safe_name_is_refused(tmp_path: Path, name: str) -> None:
    """4: the file name reached the pages as markup and environment.sh as a command line."""
    source = tmp_path / name
    source.write_text(renamed(EXAMPLE), encoding="utf-8")
    ref = name if name.startswith("-") else str(source)
    (line,) = refused(["render", f"--cluster={ref}"])
    assert "not markup, shell syntax or control characters" in line and "\n" not in line
    assert not (REPO / "build" / "hostile-never-rendered").exists()


def test_build_docs_refuses_a_hostile_file_name_in_clusters() -> None:
    """The same file dropped into clusters/: build-docs stops before writing a page."""
    source = REPO / "clusters" / "x`<img src=x onerror=alert(101)>`.yaml"
    source.write_text(renamed(EXAMPLE), encoding="utf-8")
    try:
        (line,) = refused(["build-docs"])
    finally:
        source.unlink()
    assert line.startswith(repr(str(source))[:40]) and "rename the file" in line


ACCEPTED_OPTIONS = [*LAB_OPTIONS, "ProxyJump=admin@bastion.example.com:2222,10.0.0.9", "Port=2222", "User=kube",
                    "ServerAliveInterval=15", "IdentityFile=~/.ssh/id_ed25519", "UserKnownHostsFile=/dev/null"]


def ssh_config(options: list[str]) -> dict[str, str]:
    """What the real ssh would use (`ssh -G`, no config files, nothing sent anywhere)."""
    argv = ["ssh", "-F", "none", "-G"] + [arg for option in options for arg in ("-o", option)] + ["root@10.0.0.1"]
    proc = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=SAFETY)
    return dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)


def test_the_allowed_ssh_options_make_ssh_run_nothing_locally() -> None:
    assert [ssh_options.problem(option) for option in ACCEPTED_OPTIONS] == [""] * len(ACCEPTED_OPTIONS)
    config = ssh_config(ACCEPTED_OPTIONS)
    assert config["permitlocalcommand"] == "no" and config["proxyjump"].startswith("admin@bastion.example.com")
    assert not {"proxycommand", "localcommand", "knownhostscommand", "pkcs11provider"} & set(config), config
    # the same probe does see a refused option: the assertion above can fail
    refused_options = ["ProxyCommand=touch", "PermitLocalCommand=yes", "LocalCommand=touch"]
    assert all(ssh_options.problem(option) for option in refused_options)
    assert {"proxycommand", "localcommand"} <= set(ssh_config(refused_options))


def test_what_stays_accepted(tmp_path: Path) -> None:
    """One-machine test clusters (loopback nodes other than 127.0.0.1), shared binary and unit directories, and
    every option above; the shipped example and lab files."""
    data = yaml.safe_load(renamed(EXAMPLE))
    data["nodes"] = [{"name": f"lo-{i}", "ip": f"127.0.9.{i}"} for i in (1, 2, 3)]
    data["api_server"]["vip"] = "127.0.9.100"
    # the lab's own files are under build/lab/; this cluster's under its own build directory
    data["ssh"]["options"] = [option.replace("build/lab/", "build/hostile-never-rendered/")
                              for option in ACCEPTED_OPTIONS]
    data["paths"] = {"bin_dir": "/usr/local/bin", "systemd_dir": "/usr/lib/systemd/system",
                     "etcd_data_dir": "/var/lib/etcd-main"}
    source = tmp_path / "edge.yaml"
    source.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load(str(source)).spec.paths.bin_dir == "/usr/local/bin"
    assert load("example").name == "example" and load("lab").spec.ssh.options == tuple(LAB_OPTIONS)


def test_a_fifo_as_the_cluster_file_is_refused_without_waiting(tmp_path: Path) -> None:
    """Issue 23: `open()` of a FIFO waits for a writer, so render hung; now the file's kind is the problem."""
    source = tmp_path / "pipe.yaml"
    os.mkfifo(source)
    (line,) = refused(["render", "--cluster", str(source)])
    assert line == f"{source}: <top>: {str(source)!r}: a FIFO (named pipe), not a regular file: a cluster file is a " \
                   "plain file"


def test_build_docs_is_not_hung_by_a_fifo_left_in_clusters() -> None:
    source = REPO / "clusters" / "left-behind.yaml"
    os.mkfifo(source)
    try:
        (line,) = refused(["build-docs"])
    finally:
        source.unlink()
    assert line.startswith(f"{source}: ") and "a FIFO (named pipe)" in line


@pytest.mark.parametrize("secret", ["pki/encryption-key.b64", "pki/ca-key.pem", "admin.kubeconfig"])
def test_a_file_under_build_is_never_read_as_a_cluster_file(example_build: Path, secret: str) -> None:
    """Issue 23: `--cluster build/x/pki/encryption-key.b64` printed the key in the problem line."""
    path = next(p for p in [example_build / secret, *example_build.rglob(Path(secret).name)] if p.is_file())
    content = path.read_text()
    (line,) = refused(["render", "--cluster", str(path.relative_to(REPO))])
    assert "refused unread: build/ holds what render wrote" in line
    assert not any(part in line for part in content.split() if len(part) >= 8)


def test_a_key_given_as_the_cluster_file_is_not_echoed(tmp_path: Path) -> None:
    """Outside build/ too: a file that is one YAML string (a password file) is named by its type, not its text."""
    source = tmp_path / "password.yaml"
    source.write_text("s3cr3t-Passw0rd-never-shown\n")
    (line,) = refused(["render", "--cluster", str(source)])
    assert "s3cr3t" not in line and "'a str': expected a mapping of ClusterFile fields" in line


def test_two_cluster_files_with_one_name_are_refused_naming_both() -> None:
    """Issue 23: two files of clusters/ with the same `name` silently shared (and re-issued) one build and one
    sub-site. render of either, and build-docs, refuse naming both files."""
    twin = REPO / "clusters" / "example-twin.yaml"
    twin.write_text(EXAMPLE, encoding="utf-8")  # name: example, like clusters/example.yaml
    try:
        original = REPO / "clusters" / "example.yaml"
        for argv, file, other in ((["render", "--cluster", "example-twin"], twin, original),
                                  (["render", "--cluster", "example"], original, twin),
                                  (["build-docs"], original, twin)):  # build-docs: the second in name order
            (line,) = refused(argv)
            assert line.startswith(f"{file}: name: 'example': one cluster per name in clusters/: {other} has it too"), \
                line
    finally:
        twin.unlink()
    assert load("example").name == "example"  # the control: alone, it loads


def test_a_planned_copy_outside_clusters_keeps_its_name(tmp_path: Path) -> None:
    """What upgrade-plan --out writes (the same cluster, planned) may share the name: it is the same cluster."""
    copy = tmp_path / "example-planned.yaml"
    copy.write_text(EXAMPLE, encoding="utf-8")
    assert load(str(copy)).name == "example"


@pytest.mark.parametrize("argv", [
    ["step", "--step", "kube-scheduler.health"], ["step", "--step", "kube-scheduler.health", "--dry-run"],
    ["deploy", "--dry-run"], ["deploy"], ["deploy", "--chapter", "kube-scheduler"],
])
def test_an_unknown_node_name_is_refused_by_every_verb_that_takes_nodes(argv: list[str]) -> None:
    """Issue 23: `invoke step --nodes <a typo>` ran nothing and exited 0."""
    before = tree_digest(*PUBLISHED, REPO / "runs")
    proc = subprocess.run([*INVOKE, *argv, "--cluster", "example", "--nodes", "k8s-master-01,k8s-mastr-02"],
                          cwd=REPO, capture_output=True, text=True, timeout=SAFETY)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stdout + proc.stderr
    assert proc.stderr.strip() == f"error: --nodes 'k8s-mastr-02': not a node of {REPO}/clusters/example.yaml " \
                                  "(k8s-master-01, k8s-master-02, k8s-master-03)" and not proc.stdout
    assert tree_digest(*PUBLISHED, REPO / "runs") == before


def test_known_node_names_still_choose_the_nodes() -> None:
    proc = subprocess.run([*INVOKE, "step", "--cluster", "example", "--step", "kube-scheduler.health", "--dry-run",
                           "--nodes", "k8s-master-02"], cwd=REPO, capture_output=True, text=True, timeout=SAFETY)
    assert proc.returncode == 0 and "@ k8s-master-02" in proc.stdout and "@ k8s-master-01" not in proc.stdout
