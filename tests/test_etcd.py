"""The etcd chapter against the real thing: Debian's etcd 3.4 runs a 3-member TLS cluster from the generated units.

Three members listen on loopback addresses (127.0.5.1-3) of this machine. Their flags are read from the rendered
units' ExecStart; only what cannot be shared on one machine is changed: each member's data directory, the
certificate paths (pointed at each node's build tree instead of /etc/kubernetes/pki) and the extra
https://127.0.0.1:2379 listener (three processes cannot all bind it).

The chapter's health, status, leader and failover steps then run through the real executor. They reach the
members with `ssh`, so a labelled STAND-IN `ssh` on PATH runs each remote command on this machine as the node
its address names (file paths moved into that node's build tree, `systemctl stop|start etcd` acting on the
member's process). Network traffic stays on 127.0.5.0/24.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, built_etcd, client_cert, run_invoke

ETCD_VERSION, ETCD_BIN = built_etcd()
ETCD = str(ETCD_BIN / "etcd")
ETCDCTL = str(ETCD_BIN / "etcdctl")
MEMBERS = {"etcd-a": "127.0.5.1", "etcd-b": "127.0.5.2", "etcd-c": "127.0.5.3"}
PKI_DIR = "/etc/kubernetes/pki"
NAME = f"etcd-test-{os.getpid()}"
ETCD_CA = "etcd-ca"  # upstream's separate etcd CA (kubeadm: etcd/ca), the default layout

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs openssl (.ci/system-packages)")


@pytest.fixture(scope="module")
def cluster_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """A 3-member cluster on loopback addresses, rendered by the real `invoke render`; (cluster file, build dir)."""
    tmp = tmp_path_factory.mktemp("etcd")
    spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    spec["name"] = NAME
    spec["nodes"] = [{"name": name, "ip": ip} for name, ip in MEMBERS.items()]
    spec["api_server"]["vip"] = "127.0.5.10"
    spec["ssh"] = {"user": "root"}
    spec["paths"] = {"etcd_data_dir": str(tmp / "data")}
    spec["components"] = {"etcd": {"bin_dir": str(ETCD_BIN), "version": ETCD_VERSION}}
    path = tmp / f"{NAME}.yaml"
    path.write_text(yaml.safe_dump(spec))
    build = REPO / "build" / NAME
    try:
        run_invoke("render", "--cluster", str(path))
        yield path, build
    finally:
        shutil.rmtree(build, ignore_errors=True)


def pki(build: Path, name: str) -> str:
    return str(build / "pki" / f"{name}.pem")


def openssl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", *args], capture_output=True, text=True)


def test_certificates_chain_usage_and_names(cluster_file: tuple[Path, Path]) -> None:
    _, build = cluster_file
    ca = pki(build, ETCD_CA)
    for name, ip in MEMBERS.items():
        for kind in ("server", "peer"):
            cert = pki(build, f"etcd-{kind}-{name}")
            assert openssl("verify", "-CAfile", ca, cert).stdout.strip().endswith(": OK")
            # etcd's own trust domain: the cluster CA did not sign it
            assert openssl("verify", "-CAfile", pki(build, "ca"), cert).returncode != 0
            eku = openssl("x509", "-in", cert, "-noout", "-ext", "extendedKeyUsage").stdout
            assert "TLS Web Server Authentication" in eku and "TLS Web Client Authentication" in eku, eku
            for good in (ip, "127.0.0.1"):
                assert "does match" in openssl("x509", "-in", cert, "-noout", "-checkip", good).stdout
            assert "does match" in openssl("x509", "-in", cert, "-noout", "-checkhost", name).stdout
            for other, other_ip in MEMBERS.items():
                if other != name:  # one certificate per member: it must not vouch for another member
                    assert "does NOT match" in openssl("x509", "-in", cert, "-noout", "-checkip", other_ip).stdout
    client = pki(build, "apiserver-etcd-client")
    assert openssl("verify", "-CAfile", ca, client).stdout.strip().endswith(": OK")
    subject = openssl("x509", "-in", client, "-noout", "-subject", "-nameopt", "sep_multiline").stdout
    assert "CN=kube-apiserver-etcd-client" in subject and "O=system:masters" in subject, subject
    eku = openssl("x509", "-in", client, "-noout", "-ext", "extendedKeyUsage").stdout
    assert "TLS Web Client Authentication" in eku and "Server Authentication" not in eku, eku


def test_keys_are_private_and_on_the_right_nodes(cluster_file: tuple[Path, Path]) -> None:
    _, build = cluster_file
    keys = list((build / "pki").glob("etcd-*-key.pem")) + [build / "pki" / "apiserver-etcd-client-key.pem"]
    for name in MEMBERS:
        node_pki = build / "nodes" / name / PKI_DIR.lstrip("/")
        # The contract with kube-apiserver: this pair on every master, under these names.
        for file in ("apiserver-etcd-client.pem", "apiserver-etcd-client-key.pem", "etcd-server.pem",
                     "etcd-server-key.pem", "etcd-peer.pem", "etcd-peer-key.pem", f"{ETCD_CA}.pem"):
            assert (node_pki / file).is_file(), node_pki / file
        # the etcd CA's key never leaves the workstation
        assert not (node_pki / f"{ETCD_CA}-key.pem").exists()
        assert (node_pki / f"{ETCD_CA}.pem").read_bytes() == (build / "pki" / f"{ETCD_CA}.pem").read_bytes()
        keys += list(node_pki.glob("*-key.pem"))
    assert len(keys) >= 4 * len(MEMBERS)
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE((build / "pki" / "apiserver-etcd-client.pem").stat().st_mode) == 0o644


def unit_argv(unit: Path) -> list[str]:
    """ExecStart of a unit as argv, continuation lines joined the way systemd joins them."""
    lines = unit.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ExecStart="))
    command = lines[start][len("ExecStart="):]
    i = start
    while command.endswith("\\"):
        i += 1
        command = command[:-1] + " " + lines[i].strip()
    return shlex.split(command)


def test_unit_passes_systemd_analyze(cluster_file: tuple[Path, Path], tmp_path: Path) -> None:
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze missing")
    _, build = cluster_file
    unit = build / "nodes" / "etcd-a" / "etc/systemd/system/etcd.service"
    copy = tmp_path / "etcd.service"
    shutil.copy(unit, copy)
    proc = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "etcd.service" not in proc.stderr, proc.stderr  # no complaint about this unit
    assert "Type=notify" in unit.read_text()
    assert unit_argv(unit)[0] == ETCD


def member_argv(build: Path, name: str, data: Path) -> list[str]:
    """The unit's command line with only the machine-sharing adjustments (see the module docstring)."""
    argv = unit_argv(build / "nodes" / name / "etc/systemd/system/etcd.service")
    node_root = build / "nodes" / name
    out = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "--data-dir":
            arg = f"--data-dir={data}"
        elif value.startswith(PKI_DIR + "/"):
            target = node_root / value.lstrip("/")
            assert target.is_file(), f"{arg} names a file the node's build tree does not have"
            arg = f"{key}={target}"
        elif key == "--listen-client-urls":
            urls = value.split(",")
            assert "https://127.0.0.1:2379" in urls and f"https://{MEMBERS[name]}:2379" in urls, arg
            arg = f"{key}=https://{MEMBERS[name]}:2379"
        out.append(arg)
    return out


def etcdctl(build: Path, *args: str, endpoints: list[str] | None = None, cert: str | None = "apiserver-etcd-client",
            timeout: float = 15) -> subprocess.CompletedProcess:
    eps = endpoints or [f"https://{ip}:2379" for ip in MEMBERS.values()]
    cmd = [ETCDCTL, f"--endpoints={','.join(eps)}", f"--cacert={pki(build, ETCD_CA)}", "--dial-timeout=2s",
           "--command-timeout=4s"]
    if cert:  # a name under pki/, or a path; the key is beside it (cfssljson -bare naming)
        path = cert if cert.startswith("/") else pki(build, cert)
        cmd += [f"--cert={path}", f"--key={path.removesuffix('.pem')}-key.pem"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout)


def statuses(build: Path, endpoints: list[str] | None = None) -> list[dict]:
    proc = etcdctl(build, "endpoint", "status", "-w", "json", endpoints=endpoints)
    return json.loads(proc.stdout) if proc.stdout.strip().startswith("[") else []


def leaders(status: list[dict]) -> set[str]:
    """Endpoints whose member says it is the leader."""
    return {s["Endpoint"] for s in status if s["Status"]["header"]["member_id"] == s["Status"]["leader"]}


def wait_for(predicate, seconds: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


SSH_STANDIN = r"""#!/usr/bin/env bash
# STAND-IN for ssh (the members are processes on this machine, not hosts): runs the runbook's remote command
# here as the node the address names; `systemctl stop|start etcd` act on that member's test process.
set -u
ip="${{@: -2:1}}"; ip="${{ip#*@}}"; remote="${{@: -1}}"
case "$remote" in
  *"systemctl stop etcd"*)
    pid=$(cat "{state}/pid-$ip"); kill "$pid"
    for _ in $(seq 1 200); do grep -qs '^State:[[:space:]]*[^Z]' "/proc/$pid/status" || exit 0; sleep 0.1; done
    exit 1 ;;
  *"systemctl start etcd"*) exec "{state}/start-$ip.sh" ;;
esac
remote="${{remote//sudo /}}"
pki="{pki_dir}/"; moved="$(cat "{state}/root-$ip")$pki"
remote="${{remote//"$pki"/$moved}}"
exec bash -c "$remote"
"""


def test_three_member_tls_cluster(cluster_file: tuple[Path, Path], tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from generator import execute
    from generator.catalog import find_step
    from generator.components.etcd.checks import leader_filter
    from generator.model import load

    path, build = cluster_file
    model = load(str(path))
    state = tmp_path / "state"
    state.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(SSH_STANDIN.format(state=state, pki_dir=PKI_DIR))
    (bin_dir / "ssh").chmod(0o755)
    for name, ip in MEMBERS.items():
        argv = member_argv(build, name, tmp_path / f"data-{name}")
        (state / f"root-{ip}").write_text(str(build / "nodes" / name))
        # Starts the member detached and records its PID (used for the first start and by `systemctl start`).
        script = state / f"start-{ip}.sh"
        script.write_text(f"#!/bin/sh\nsetsid {shlex.join(argv)} >>{tmp_path / name}.log 2>&1 </dev/null &\n"
                          f"echo $! >{state}/pid-{ip}\necho $! >>{state}/all-pids\n")
        script.chmod(0o755)

    def log_tail() -> str:
        return "\n".join(f"--- {n}\n" + (tmp_path / f"{n}.log").read_text(errors="replace")[-1500:]
                         for n in MEMBERS)

    def healthy() -> subprocess.CompletedProcess | None:
        proc = etcdctl(build, "endpoint", "health")
        return proc if proc.returncode == 0 else None

    def name_of(endpoint: str) -> str:
        return next(n for n, ip in MEMBERS.items() if endpoint == f"https://{ip}:2379")

    try:
        for ip in MEMBERS.values():  # all at once, as the runbook's parallel start does
            subprocess.run([str(state / f"start-{ip}.sh")], check=True)
        health = wait_for(healthy, 30)
        assert health, f"cluster never became healthy\n{log_tail()}"
        for ip in MEMBERS.values():
            assert f"https://{ip}:2379 is healthy" in health.stdout + health.stderr

        members = etcdctl(build, "member", "list", "-w", "json")
        assert sorted(m["name"] for m in json.loads(members.stdout)["members"]) == sorted(MEMBERS)
        status = statuses(build)
        assert len(status) == 3 and len(leaders(status)) == 1, status
        old = name_of(leaders(status).pop())

        # The runbook's leader filter, fed with real `endpoint status -w fields` output.
        fields = etcdctl(build, "endpoint", "status", "-w", "fields")
        named = subprocess.run(["bash", "-c", leader_filter(model)], input=fields.stdout, capture_output=True,
                               text=True)
        assert named.stdout.strip() == old

        assert etcdctl(build, "put", "/runbook/etcd-test", "round-trip").stdout.strip() == "OK"
        got = etcdctl(build, "get", "/runbook/etcd-test", "--print-value-only")
        assert got.stdout.strip() == "round-trip"

        # --client-cert-auth: a client that shows no certificate gets nothing, even with the right CA...
        one = [f"https://{MEMBERS['etcd-a']}:2379"]
        anonymous = etcdctl(build, "get", "/runbook/etcd-test", cert=None, endpoints=one)
        assert anonymous.returncode != 0 and "round-trip" not in anonymous.stdout
        # ...nor does one whose certificate another CA signed.
        key, crt = tmp_path / "intruder-key.pem", tmp_path / "intruder.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(crt), "-subj", "/CN=intruder", "-days", "1", "-addext", "extendedKeyUsage=clientAuth"],
                       check=True, capture_output=True)
        intruder = subprocess.run([ETCDCTL, f"--endpoints={one[0]}", f"--cacert={pki(build, ETCD_CA)}",
                                   f"--cert={crt}", f"--key={key}", "--dial-timeout=2s", "--command-timeout=4s",
                                   "get", "/runbook/etcd-test"], capture_output=True, text=True, timeout=15)
        assert intruder.returncode != 0 and "round-trip" not in intruder.stdout

        # Three trust domains: the cluster CA's client certificates are no etcd clients. Neither the admin's (the
        # cluster CA signed it, O=system:masters), nor one with the apiserver's very name that the cluster CA signed
        # (what a CSR approved by mistake would give): the CA decides, not the name...
        borrowed = str(client_cert(build / "pki" / "ca", tmp_path, "/O=system:masters/CN=kube-apiserver-etcd-client"))
        for refused in ("admin", borrowed):
            attempt = etcdctl(build, "get", "/runbook/etcd-test", "--print-value-only", cert=refused, endpoints=one)
            assert attempt.returncode != 0 and "round-trip" not in attempt.stdout, (refused, attempt.stdout)
        log = (tmp_path / "etcd-a.log").read_text(errors="replace")
        assert "certificate signed by unknown authority" in log, log[-2000:]
        # ...while the apiserver's own etcd client certificate (the etcd CA's) reads and writes.
        accepted = etcdctl(build, "put", "/runbook/etcd-apiserver", "accepted", cert="apiserver-etcd-client",
                           endpoints=one)
        assert accepted.returncode == 0 and accepted.stdout.strip() == "OK", accepted.stdout + accepted.stderr

        # The runbook's own check steps, run by the real executor (checks and expect patterns enforced),
        # reaching the members through the ssh stand-in; the failover step stops the leader and starts it again.
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        out = io.StringIO()
        for step_id in ("etcd.health", "etcd.endpoint-status", "etcd.leader", "etcd.failover"):
            try:
                execute.run_step(find_step(model, step_id), out=out)
            except execute.StepFailed as err:
                pytest.fail(f"{err}\n{log_tail()}")
        printed = out.getvalue()
        assert f"leader before: {old}" in printed, printed

        # Independently of the script's own output: another member leads now, and the stopped one is back.
        def settled() -> set[str]:
            status = statuses(build)
            return leaders(status) if len(status) == 3 and healthy() else set()

        now = wait_for(settled, 30)
        assert len(now) == 1 and name_of(next(iter(now))) != old, f"{now}\n{printed}\n{log_tail()}"
        got = etcdctl(build, "get", "/runbook/etcd-test", "--print-value-only")
        assert got.stdout.strip() == "round-trip"
    finally:
        pids = (state / "all-pids").read_text().split() if (state / "all-pids").exists() else []
        for pid in pids:  # only the members this test started, by PID
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
