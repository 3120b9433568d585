"""The scheduler's rehearsal (verification.scheduler_rehearsal) with the real kwok against a real control plane: etcd,
kube-apiserver, kube-controller-manager and kube-scheduler of the lab's release, each started from its rendered unit
on a loopback address (tests/test_kube_binaries.py's plane; no root). The step runs through `invoke step` as a
notebook cell runs it: every pod bound and Running, nothing left behind, also when it is interrupted midway; kwok's
rights are exactly what the rendered RBAC says. The failover half needs several masters and ssh: the lab's tests
(tests/test_lab_scheduler.py) cover it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from generator import kubebuild
from generator.artifacts import build_dir
from generator.checks import PODS_PER_FAKE_NODE
from generator.components.verification import rehearsal, rehearsal_files
from generator.kubebuild import tools
from generator.model import REPO, Cluster, load
from generator.render import make_artifacts
from tests.test_kube_binaries import (
    ELECTED_PORTS,
    LAB_RELEASE,
    ControlPlane,
    ca,
    cluster_file,
    control_plane,
    healthy,
    unit_argv,
)

NODES, PODS = 4, 40
CLEAN = "left behind: 0 nodes, 0 node leases, 0 namespaces, 0 RBAC objects"


def kwok_binary() -> Path:
    """kwok built from its Go module (cached; `make test` builds it with the lab's binaries)."""
    version = load("lab").spec.verification.kwok
    return tools.ensure(tools.kwok(f"v{version}"), say=lambda _: None).bin_dir / "kwok"


def rehearsal_file(tmp: Path, **rehearsal_settings: object) -> Path:
    return cluster_file(tmp, LAB_RELEASE, prefix="rehearsal", net="127.0.62",
                        advertised_net="198.51.100",
                        verification={"scheduler_rehearsal": {"nodes": NODES, "pods": PODS, "failover": False,
                                                              **rehearsal_settings}},
                        prerequisites={"kwok_binary": str(kwok_binary())})


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    tmp = tmp_path_factory.mktemp("rehearsal")
    with control_plane(tmp, LAB_RELEASE, rehearsal_file(tmp)) as running:
        # the workstation's kubectl, which the prerequisites chapter would unpack
        bin_dir = build_dir(running.cluster) / "bin"
        bin_dir.mkdir(exist_ok=True)  # the named scripts may be there already
        (bin_dir / "kubectl").symlink_to(kubebuild.release_dir(LAB_RELEASE) / "bin" / "kubectl")
        for name in ("etcd", "kube-apiserver"):
            running.run(unit_argv(running.unit(name)), name)
        answer = healthy(f"https://{running.node.ip}:6443/healthz", ca(running))
        assert answer == "ok", running.log("kube-apiserver")[-2000:]
        for name, port in ELECTED_PORTS:
            running.run(unit_argv(running.unit(name)), name)
            assert healthy(f"https://127.0.0.1:{port}/healthz", ca(running)) == "ok", running.log(name)[-2000:]
        yield running


def kubectl(cluster: Cluster, *args: str, kubeconfig: str = "pki/admin.kubeconfig") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(build_dir(cluster) / "bin" / "kubectl"), "--kubeconfig",
                           str(build_dir(cluster) / kubeconfig), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60)


def leftovers(cluster: Cluster) -> dict[str, list[str]]:
    """What a rehearsal may leave, read with the admin's kubectl: its nodes, their leases, its namespace, its RBAC."""
    key, value = rehearsal_files.LABEL
    found = {
        "nodes": kubectl(cluster, "get", "nodes", "-l", f"{key}={value}", "-o", "name").stdout.split(),
        "leases": [n for n in kubectl(cluster, "-n", "kube-node-lease", "get", "leases", "-o", "name").stdout.split()
                   if f"/{rehearsal_files.NODE_PREFIX}" in n],
        "namespace": kubectl(cluster, "get", "namespace", rehearsal_files.NAMESPACE, "--ignore-not-found", "-o",
                             "name").stdout.split(),
        "rbac": kubectl(cluster, "get", "-f", str(build_dir(cluster) / rehearsal_files.RBAC), "--ignore-not-found",
                        "-o", "name").stdout.split(),
    }
    return {what: names for what, names in found.items() if names}


def kwok_processes(cluster: Cluster) -> list[str]:
    """Running kwok processes of this cluster (their command line names its kubeconfig)."""
    marker = str(Path(rehearsal.path(cluster, rehearsal_files.KUBECONFIG)))
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline and "kwok" in cmdline.split(" ", 1)[0]:
            found.append(f"{proc.name}: {cmdline}")
    return found


def step_command(cluster: Cluster) -> list[str]:
    return [sys.executable, "-m", "invoke", "step", "--cluster", str(cluster.source), "--step", rehearsal.STEP]


def test_the_rendered_files_agree_with_each_other_and_keep_the_secret(tmp_path: Path) -> None:
    cluster = load(str(rehearsal_file(tmp_path)))
    artifacts = {a.path: a for a in make_artifacts(cluster)[0]}
    assert artifacts[rehearsal_files.KUBECONFIG].secret and not artifacts[rehearsal_files.KUBECONFIG].public
    assert artifacts["pki/kwok-key.pem"].secret
    for rel in (rehearsal_files.STAGES, rehearsal_files.RBAC, rehearsal_files.NODE, rehearsal_files.WORKLOAD):
        assert artifacts[rel].public, rel
    config = yaml.safe_load(artifacts[rehearsal_files.KUBECONFIG].content)
    assert config["clusters"][0]["cluster"]["server"] == cluster.api_endpoint
    stages = list(yaml.safe_load_all(artifacts[rehearsal_files.STAGES].content))
    assert [(s["kind"], s["spec"]["resourceRef"]["kind"]) for s in stages] == [("Stage", "Node"), ("Stage", "Pod")]
    assert not any(s["spec"]["next"].get("delete") or s["spec"]["next"].get("event") for s in stages)
    # the rights: read nodes and pods, patch their status, leases in kube-node-lease alone; nothing deleted
    rules = {(doc["kind"], doc["metadata"].get("namespace")): doc["rules"]
             for doc in yaml.safe_load_all(artifacts[rehearsal_files.RBAC].content) if "rules" in doc}
    granted = {(ns, resource, verb) for (_, ns), rule_list in rules.items() for rule in rule_list
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert {verb for _, _, verb in granted} <= {"get", "list", "watch", "patch", "create", "update"}
    assert {(r, v) for ns, r, v in granted if v in ("patch", "create", "update")} == {
        ("nodes/status", "patch"), ("pods/status", "patch"), ("leases", "create"), ("leases", "update")}
    assert {ns for ns, r, _ in granted if r == "leases"} == {"kube-node-lease"}
    # the node kwok manages is the one the rehearsal's pods select and tolerate, and no other pod does
    (node,) = yaml.safe_load_all(artifacts[rehearsal_files.NODE].content)
    workload = list(yaml.safe_load_all(artifacts[rehearsal_files.WORKLOAD].content))
    annotation = "=".join(node["metadata"]["annotations"].popitem())
    assert f"--manage-nodes-with-annotation-selector={annotation}" in rehearsal.script(cluster)
    (taint,) = node["spec"]["taints"]
    assert taint["effect"] == "NoSchedule"
    assert node["status"]["capacity"]["pods"] == str(PODS_PER_FAKE_NODE)
    deployments = [d for d in workload if d["kind"] == "Deployment"]
    assert [d["metadata"]["name"] for d in deployments] == [rehearsal_files.BURST, rehearsal_files.FAILOVER_BURST]
    for deployment in deployments:
        spec = deployment["spec"]["template"]["spec"]
        assert spec["nodeSelector"].items() <= node["metadata"]["labels"].items()
        assert spec["tolerations"] == [{"key": taint["key"], "operator": "Equal", "value": taint["value"],
                                        "effect": "NoSchedule"}]
        assert deployment["spec"]["replicas"] == 0


def test_kwok_may_do_what_the_rbac_grants_and_nothing_else(plane: ControlPlane) -> None:
    cluster = plane.cluster
    rbac = str(build_dir(cluster) / rehearsal_files.RBAC)

    def can(*args: str) -> str:
        return kubectl(cluster, "auth", "can-i", *args, kubeconfig=rehearsal_files.KUBECONFIG).stdout.strip()

    assert can("watch", "pods") == "no", "kwok has rights before the rehearsal grants them"
    assert kubectl(cluster, "apply", "-f", rbac).returncode == 0
    try:
        for allowed in (("watch", "nodes"), ("patch", "nodes", "--subresource=status"), ("list", "pods", "-A"),
                        ("patch", "pods", "--subresource=status", "-n", "default"),
                        ("create", "leases", "-n", "kube-node-lease"), ("update", "leases", "-n", "kube-node-lease")):
            assert can(*allowed) == "yes", allowed
        for refused in (("create", "nodes"), ("patch", "nodes"), ("delete", "nodes"), ("delete", "pods", "-A"),
                        ("create", "pods", "-n", "default"), ("get", "secrets", "-A"), ("create", "events", "-A"),
                        ("update", "leases", "-n", "kube-system"), ("create", "leases", "-n", "default")):
            assert can(*refused) == "no", refused
    finally:
        assert kubectl(cluster, "delete", "-f", rbac).returncode == 0
    assert can("watch", "pods") == "no"


def test_the_real_scheduler_binds_every_pod_and_nothing_is_left(plane: ControlPlane) -> None:
    cluster = plane.cluster
    proc = subprocess.run(step_command(cluster), cwd=REPO, capture_output=True, text=True, timeout=700)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-2000:]
    assert f"simulated nodes Ready: {NODES} of {NODES}" in out
    burst = re.search(r"^burst: (\d+) pods, (\d+) Running, (\d+) left Pending, (\d+) bound twice, (\d+) Scheduled "
                      r"events; leader changes: kube-scheduler (\d+), kube-controller-manager (\d+)$", out, re.M)
    assert burst, out[-3000:]
    assert [int(g) for g in burst.groups()] == [PODS, PODS, 0, 0, PODS, 0, 0]
    rate = float(re.search(r"^measured: scheduler_pods_per_second=([\d.]+)$", out, re.M)[1])
    assert rate > 0
    assert CLEAN in out.splitlines()
    assert leftovers(cluster) == {} and kwok_processes(cluster) == []


def test_an_interrupted_rehearsal_removes_what_it_made(plane: ControlPlane, tmp_path: Path) -> None:
    """SIGTERM to the step's process group (what stopping a notebook cell or a terminal's ^C does) once its pods
    exist: the EXIT trap stops kwok and removes the pods, nodes, leases, namespace and rights, and its temporary
    directory."""
    cluster = plane.cluster
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = subprocess.Popen(step_command(cluster), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, env=dict(os.environ, TMPDIR=str(scratch)))
    key, value = rehearsal_files.LABEL
    deadline = time.monotonic() + 300
    made: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None:
        made = kubectl(cluster, "get", "pods", "-n", rehearsal_files.NAMESPACE, "-o", "name").stdout.split()
        if made:
            break
        time.sleep(0.2)
    assert made and proc.poll() is None, "the step ended before its pods existed"
    assert kubectl(cluster, "get", "nodes", "-l", f"{key}={value}", "-o", "name").stdout.split()
    assert kwok_processes(cluster), "kwok should be running while the pods exist"
    os.killpg(proc.pid, signal.SIGTERM)
    while time.monotonic() < deadline:  # the trap outlives the invoke process it ran under
        proc.poll()  # reaped, or the group would live on as that zombie
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the interrupted step's processes did not end")
    assert leftovers(cluster) == {}
    assert kwok_processes(cluster) == []
    assert list(scratch.iterdir()) == [], "the step's temporary directory was left"


def test_the_exit_trap_runs_after_the_reader_of_the_output_is_gone(tmp_path: Path) -> None:
    """When a step is interrupted, its reader (invoke, a notebook) is gone before bash reports, on stderr, the
    foreground command the signal killed. That write must not end bash before its EXIT trap: it did in one
    interrupted rehearsal in three, leaving the simulated nodes behind. Here the reader closes first and only the
    foreground command is killed, so bash always writes the report into the closed pipe."""
    ran = tmp_path / "ran"
    script = "\n".join([f"on_exit() {{ echo ran > {ran}; }}", rehearsal.traps("on_exit"), "sleep 60", "echo after"])
    proc = subprocess.Popen(["bash", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    proc.stdout.close()
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    deadline = time.monotonic() + 30
    while not children.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.05)
    sleep = int(children.read_text().split()[0])
    os.kill(sleep, signal.SIGTERM)
    assert proc.wait(timeout=30) != -signal.SIGPIPE
    assert ran.read_text() == "ran\n", "the EXIT trap did not run"
