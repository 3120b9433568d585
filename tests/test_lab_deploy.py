"""`invoke deploy --cluster lab` end to end in the real lab with the real control plane (root; CI runs as root).

Through the real CLI: `invoke lab-up --cluster lab` (which builds, or finds in the cache, kube-apiserver,
kube-controller-manager, kube-scheduler and kubectl of the lab's release from the k8s.io/kubernetes Go module),
a full deploy (every chapter, nothing skipped), then this test's own checks: every HA property the run record
claims is read back from the executed notebooks (leases and the VIP moved, requests through the VIP kept
succeeding, the smoke Deployment survived a whole master), the binaries on the nodes are the ones built, etcd
is healthy over TLS, the VIP is on exactly one node; a second deploy that re-issues nothing, a deliberately
broken cluster file that stops the run at one step and `--from` that resumes it after the fix, renewal and a CA
rotation with 0 failed requests. The lab (tests/lab_support.py's `deployed`) stays up for the recovery drills.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import yaml
from cryptography import x509

from generator import catalog, kubebuild
from generator.components.verification import cis
from generator.model import REPO
from tests.lab_support import (
    BUILD,
    CLUSTER,
    ETCD_CLIENT_PORT,
    FIGURES,
    Deployed,
    chapter_run,
    etcdctl,
    failed_requests,
    invoke,
    kubectl,
    needs_root,
    newest_run,
    notebook_output,
    one,
    pki_snapshot,
    remote,
    run_dirs,
    runnable_steps,
    timed,
)

pytestmark = needs_root


def test_full_deploy_passes_with_nothing_skipped(deployed: Deployed) -> None:
    proc, summary = deployed.proc, deployed.summary
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert summary["result"] == "passed" and "failure" not in summary
    assert summary["chapters"] == [ch.id for ch in catalog.chapters(deployed.cluster)]
    steps = runnable_steps(deployed.cluster)
    assert any(steps.values()), "the catalog has steps that need the kube binaries: they must run here"
    outcomes = summary["steps"]
    assert [o for o in outcomes if o["status"] != "passed"] == []
    ran = {o["step"] for o in outcomes}
    assert ran == set(steps), f"steps that did not run: {set(steps) - ran}"
    # Each node-side step ran on every node it names, e.g. etcd.start on all three members at once.
    masters = sorted(n.name for n in deployed.cluster.masters)
    for step in ("kube-apiserver.start", "kube-controller-manager.start", "kube-scheduler.start"):
        assert sorted(o["node"] for o in outcomes if o["step"] == step) == masters, step
    start = [o["node"] for o in outcomes if o["step"] == "etcd.start"]
    assert sorted(start) == sorted(n.name for n in deployed.cluster.etcd_members)


FIGURE_NAMES = (
    "etcd_leader_failover_seconds", "vip_failover_seconds", "vip_answer_seconds", "kube_scheduler_failover_seconds",
    "kube_controller_manager_failover_seconds", "apiserver_backend_down_seconds", "apiserver_loss_requests",
    "apiserver_loss_failed_requests", "apiserver_loss_leader_changes", "master_loss_vip_seconds",
    "master_loss_api_seconds", "master_loss_leases_seconds", "master_recovery_seconds",
    "kube_scheduler_crash_restart_seconds", "kube_scheduler_crash_leader_seconds",
    "kube_apiserver_crash_restart_seconds", "crash_requests", "crash_failed_requests", "node_reboot_ssh_seconds",
    "node_reboot_units_seconds", "node_reboot_seconds", "reboot_requests", "reboot_failed_requests",
)


def test_every_failover_figure_is_in_the_run_record(deployed: Deployed) -> None:
    measured = {name: value for o in deployed.summary["steps"] for name, value in o["measured"].items()}
    missing = [name for name in FIGURE_NAMES if name not in measured]
    assert not missing, f"missing from summary.json: {missing}; have {measured}"
    FIGURES.update(measured)
    for name in FIGURE_NAMES:
        if name.endswith("_seconds"):
            assert measured[name] > 0, name
    by_step = {o["step"]: o["measured"] for o in deployed.summary["steps"] if o["measured"]}
    assert "kube_scheduler_failover_seconds" in by_step["kube-scheduler.failover"]
    assert "master_recovery_seconds" in by_step["verification.master-loss"]


def test_leaders_and_the_vip_really_moved(deployed: Deployed) -> None:
    masters = {n.name for n in deployed.cluster.masters}
    for chapter in ("etcd", "kube-controller-manager", "kube-scheduler"):
        text = notebook_output(deployed.run_dir, chapter)
        before, after = one(r"^leader before: (\S+)$", text)[1], one(r"^leader after: (\S+)$", text)[1]
        assert before != after and {before, after} <= masters | {n.name for n in deployed.cluster.etcd_members}
    moved = one(r"^VIP moved from (\S+) to (\S+)$", notebook_output(deployed.run_dir, "load-balancer"))
    assert moved[1] != moved[2] and {moved[1], moved[2]} <= masters


def test_losing_one_apiserver_loses_no_request_and_no_leader(deployed: Deployed) -> None:
    text = notebook_output(deployed.run_dir, "kube-apiserver")
    loss = one(r"^requests through the VIP while kube-apiserver on (\S+) stopped: (\d+), failed: (\d+)$", text)
    assert int(loss[2]) > 10, "the request loop hardly ran"
    assert int(loss[3]) == 0, f"{loss[3]} of {loss[2]} requests through the VIP failed"
    assert one(r"^haproxy on \S+: backend \S+ is (\S+)$", text)[1] == "DOWN"
    assert one(r"^leader locks that changed hands meanwhile: (\d+)$", text)[1] == "0"


def test_the_control_plane_survives_a_whole_master(deployed: Deployed) -> None:
    text = notebook_output(deployed.run_dir, "verification")
    lost = one(r"^losing (\S+) \(VIP holder\)", text)[1]
    assert one(r"^VIP now on: (\S+)$", text)[1] != lost
    leaders = one(r"^scheduler leader: (\S+); controller-manager leader: (\S+)$", text)
    assert lost not in (leaders[1], leaders[2]), f"a lock stayed with the lost master {lost}"
    one(r"^deployment\.apps/runbook-smoke$", text)
    recovered = one(rf"^services on {lost} after recovery: (.*)$", text)[1].split()
    assert recovered == ["active"] * 6, f"after recovery: {recovered}"


def test_the_smoke_deployment_was_scheduled_by_the_leader(deployed: Deployed) -> None:
    text = notebook_output(deployed.run_dir, "verification")
    one(r"^replicaset: runbook-smoke-\S+$", text)
    pod = one(r"^pod (runbook-smoke-\S+): Pending$", text)[1]
    event = one(r"^FailedScheduling (\S+) by default-scheduler\S* default-scheduler-(\S+): (.*)$", text)
    assert event[1] == pod, "the event is about another Pod than this run's"
    assert event[2] == one(r"^scheduler leader: (\S+)$", text)[1], "the event came from a scheduler not leading"


def test_secrets_are_encrypted_at_rest_and_the_scheduler_is_confined(deployed: Deployed) -> None:
    apiserver = notebook_output(deployed.run_dir, "kube-apiserver")
    one(r"^k8s:enc:secretbox:v1:key1:$", apiserver)
    one(r"^plaintext not in etcd$", apiserver)
    scheduler = notebook_output(deployed.run_dir, "kube-scheduler")
    block = scheduler[scheduler.index("# kube-scheduler.permissions"):]
    answers = re.findall(r"^(yes|no)$", block, re.MULTILINE)[:3]
    assert answers == ["yes", "yes", "no"], block[:2000]
    # anonymous /metrics is refused on every master, for both daemons with a secure port
    assert len(re.findall(r"^40[13]$", scheduler, re.MULTILINE)) == len(deployed.cluster.masters)
    manager = notebook_output(deployed.run_dir, "kube-controller-manager")
    assert len(re.findall(r"^40[13]$", manager, re.MULTILINE)) == len(deployed.cluster.masters)


def test_the_nodes_run_the_binaries_built_from_the_go_module(deployed: Deployed) -> None:
    record = json.loads((kubebuild.release_dir(deployed.cluster.release) / "build.json").read_text())
    bin_dir = deployed.cluster.spec.paths.bin_dir
    for node in deployed.cluster.masters:
        sums = remote(deployed.cluster, node, f"cd {bin_dir} && sha256sum {' '.join(kubebuild.DAEMONS)}")
        assert sums.returncode == 0, sums.stderr
        on_node = {name: digest for digest, name in (line.split() for line in sums.stdout.splitlines())}
        assert on_node == {name: record["binaries"][name]["sha256"] for name in kubebuild.DAEMONS}
        version = remote(deployed.cluster, node, f"{bin_dir}/kube-apiserver --version")
        assert version.stdout.strip() == f"Kubernetes {deployed.cluster.release.tag}"


def test_the_cis_benchmark_fails_only_what_the_page_explains(deployed: Deployed) -> None:
    """kube-bench on every master (verification.cis in clusters/lab.yaml): checks passed, and exactly the checks the
    page explains failed, counted in the run record and listed in the executed notebook."""
    figures = {o["node"]: o["measured"] for o in deployed.summary["steps"]
               if o["step"] == "verification.cis" and o["node"]}  # the workstation's part unpacks kube-bench
    assert sorted(figures) == sorted(n.name for n in deployed.cluster.masters), deployed.summary["steps"][-1]
    benchmark = cis.BENCHMARK.at(deployed.cluster.release)
    explained = cis.explained(benchmark)
    for node, measured in figures.items():
        assert measured["cis_pass"] > 0 and measured["cis_fail"] == len(explained), (node, measured)
    text = notebook_output(deployed.run_dir, "verification")
    assert set(re.findall(r"\[FAIL\] ([0-9.]+) ", text)) == set(explained), text[-3000:]
    for node in deployed.cluster.masters:
        one(rf"kube-bench {benchmark} on {node.name}: PASS=\d+ FAIL={len(explained)} WARN=\d+$", text)


def test_the_audit_log_names_who_did_what_and_never_a_secret(deployed: Deployed) -> None:
    """A ServiceAccount the admin creates is one `create` event (user admin, resource serviceaccounts, the object's
    name, the request's body) in the audit log of the one apiserver that served it; a Secret's value appears in no
    master's audit log at all, rotated files included, though its creation is recorded (metadata only)."""
    cluster = deployed.cluster
    token = uuid.uuid4().hex
    name = f"audit-probe-{token[:10]}"
    kubectl("create", "serviceaccount", name)
    kubectl("create", "secret", "generic", f"{name}-secret", f"--from-literal=password={token}")
    log = f"{cluster.spec.paths.log_dir}/kube-apiserver-audit.log"
    served, secret_events = {}, []
    for node in cluster.masters:
        found = remote(cluster, node, f"grep -h -- {shlex.quote(name)} {log}* || true").stdout.splitlines()
        events = [json.loads(line) for line in found]
        creates = [e for e in events if e["verb"] == "create" and e["objectRef"]["resource"] == "serviceaccounts"
                   and e["objectRef"].get("name") == name and e["stage"] == "ResponseComplete"]
        if creates:
            served[node.name] = creates
        secret_events += [e for e in events if e["objectRef"].get("resource") == "secrets"]
        leaked = remote(cluster, node, f"grep -l -- {token} {log}* || echo none").stdout.split()
        assert leaked == ["none"], f"the Secret's value is in {node.name}'s audit log: {leaked}"
    assert len(served) == 1, f"the create was recorded on {sorted(served)}, not on exactly one apiserver"
    (event,) = next(iter(served.values()))
    assert event["user"]["username"] == "admin" and event["responseStatus"]["code"] == 201, event
    assert event["requestObject"]["metadata"]["name"] == name, "a change's body is recorded (Request level)"
    assert secret_events and all("requestObject" not in e for e in secret_events), secret_events
    mode = remote(cluster, cluster.masters[0], f"stat -c %a {cluster.spec.paths.log_dir} {log}").stdout.split()
    assert mode == ["700", "600"], mode


def test_invoke_certs_finds_a_certificate_replaced_by_hand(deployed: Deployed) -> None:
    """On real nodes: after the deploy every file matches the ledger; a scheduler certificate swapped for the
    admin's on one node is named, alone, as differing; pushing it again restores the match."""
    cluster = deployed.cluster
    clean = invoke("certs", "--cluster", CLUSTER)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    total = len([line for line in clean.stdout.splitlines() if ": ok (" in line])
    assert total >= 10 * len(cluster.masters)
    node = cluster.masters[-1]
    target = f"{cluster.spec.paths.pki_dir}/kube-scheduler.pem"
    admin = (BUILD / "pki" / "admin.pem").read_text()
    swapped = remote(cluster, node, f"cp {target} {target}.saved && printf %s {shlex.quote(admin)} > {target}")
    assert swapped.returncode == 0, swapped.stderr
    try:
        found = invoke("certs", "--cluster", CLUSTER)
        assert found.returncode == 1
        problems = [line for line in found.stdout.splitlines() if ": ok (" not in line]
        assert problems == [line for line in problems if line.startswith(f"{node.name}:{target}: DIFFERS")]
        assert len(problems) == 1, found.stdout
    finally:
        remote(cluster, node, f"mv {target}.saved {target}")
    assert invoke("certs", "--cluster", CLUSTER).returncode == 0


def renewal_output(run_dir: Path) -> str:
    return notebook_output(run_dir, "renewal")


def leaf_serials() -> dict[str, str]:
    """The ledger's serial of every leaf certificate, by its file in the build (kubeconfigs included)."""
    entries = json.loads((BUILD / "ledger.json").read_text())["entries"]
    return {e["file"]: e["serial"] for e in entries if e["kind"] != "ca"}


def is_ca(pem: bytes) -> bool:
    """A CA certificate by what it says (basicConstraints), whatever its file is called (ca-next.pem of a rotation)."""
    try:
        constraints = x509.load_pem_x509_certificate(pem).extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def test_renewing_every_leaf_loses_no_request(deployed: Deployed) -> None:
    """The renewal chapter on real nodes: in the full deploy it found nothing to change; after
    `invoke render --renew-all` (new serials, the same keys and CAs) it restarts every service that reads a
    certificate, one node at a time, with 0 failed requests through the VIP; the nodes then hold the new
    certificates; run again, it restarts nothing."""
    cluster = deployed.cluster
    nodes = [n.name for n in cluster.spec.nodes if n in cluster.masters or n in cluster.etcd_members]
    for name in nodes:
        one(rf"^{name}: done: nothing to change$", renewal_output(deployed.run_dir))
    before_pki, before_serials = pki_snapshot(), leaf_serials()
    render = invoke("render", "--cluster", CLUSTER, "--renew-all")
    assert render.returncode == 0, render.stdout + render.stderr
    after_pki = pki_snapshot()
    kept = sorted(name for name in before_pki if after_pki[name] == before_pki[name])
    not_leaves = [name for name, data in before_pki.items()  # keys, CAs, the service-account public key
                  if b"BEGIN CERTIFICATE" not in data or is_ca(data)]
    assert kept == sorted(not_leaves), kept
    after_serials = leaf_serials()
    assert after_serials.keys() == before_serials.keys()
    assert [f for f, serial in before_serials.items() if after_serials[f] == serial] == []

    run_dir, measured = chapter_run("renew all", "deploy", "--cluster", CLUSTER, "--chapter", "renewal")
    assert measured["renewal_requests"] > 50, "the request loop hardly ran"
    assert measured["renewal_failed_requests"] == 0, failed_requests(run_dir, "renewal")
    text = renewal_output(run_dir)
    for node in cluster.masters:
        one(rf"^{node.name}: done: restarted etcd, restarted kube-apiserver, restarted kube-controller-manager, "
            "restarted kube-scheduler$", text)
    # The running scheduler's certificate on a node is the re-issued one (the chapter's own last step compared
    # every file with the ledger through `invoke certs`).
    node = cluster.masters[-1]
    serial = remote(cluster, node, f"openssl x509 -noout -serial -in {cluster.spec.paths.pki_dir}/kube-scheduler.pem")
    assert serial.stdout.strip().removeprefix("serial=").lower().lstrip("0") == after_serials["pki/kube-scheduler.pem"]

    runs = run_dirs()
    again = timed("deploy --chapter renewal (again)", "deploy", "--cluster", CLUSTER, "--chapter", "renewal")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    for name in nodes:
        one(rf"^{name}: done: nothing to change$", renewal_output(newest_run(runs)[0]))


def test_systemd_starts_a_crashed_daemon_again(deployed: Deployed) -> None:
    """The crash drill on real systemd: after `kill -KILL` of the scheduler leader and of one apiserver, each
    unit's restart counter went up and a new process runs — systemd's `Restart=always`, nothing of the lab's or the
    test's — and the scheduler's lock was taken again (by the restarted scheduler or another master's)."""
    text = notebook_output(deployed.run_dir, "verification")
    masters = {n.name for n in deployed.cluster.masters}
    for unit in ("kube-scheduler", "kube-apiserver"):
        crash = one(rf"^{unit} on (\S+): killed pid (\d+); systemd restarts: (\d+) -> (\d+), now pid (\d+), (\S+)$",
                    text)
        assert crash[1] in masters
        assert int(crash[4]) == int(crash[3]) + 1, f"{unit}: systemd restarted it {int(crash[4]) - int(crash[3])} times"
        assert crash[5] != crash[2] and int(crash[5]) > 0 and crash[6] == "active", crash[0]
    lock = one(r"^kube-scheduler lock after the crash: (\S+) \((moved|returned)\)$", text)
    assert lock[1] in masters
    measured = {name: v for o in deployed.summary["steps"] for name, v in o["measured"].items()}
    # The killed leader's lock must expire before anyone else may take it: longer than the restart.
    assert measured["kube_scheduler_crash_leader_seconds"] > measured["kube_scheduler_crash_restart_seconds"]
    assert measured["crash_requests"] > 10, "the request loop hardly ran"
    # A request the killed apiserver was serving dies with its connection (haproxy cannot retry it); new ones go
    # to the other apiservers. At most the one in flight may be lost.
    assert measured["crash_failed_requests"] <= 1, failed_requests(deployed.run_dir, "verification")


def test_a_rebooted_master_starts_its_units_in_order_and_rejoins(deployed: Deployed) -> None:
    text = notebook_output(deployed.run_dir, "verification")
    node = deployed.cluster.masters[-1].name
    one(rf"^{node} rebooted: boot id changed$", text)
    assert one(rf"^units on {node} after the reboot: (.*)$", text)[1].split() == ["active"] * 6
    order = one(r"^started in this order: (.*)$", text)[1].split()
    assert order.index("etcd") < order.index("kube-apiserver") < order.index("kube-controller-manager"), order
    assert order.index("kube-apiserver") < order.index("kube-scheduler"), order
    member = next(n for n in deployed.cluster.etcd_members if n.name == node)
    one(rf"^https://{re.escape(member.ip)}:{ETCD_CLIENT_PORT} is healthy", text[text.index("# verification.reboot\n"):])
    measured = {name: v for o in deployed.summary["steps"] for name, v in o["measured"].items()}
    assert 0 < measured["node_reboot_ssh_seconds"] <= measured["node_reboot_units_seconds"] \
        <= measured["node_reboot_seconds"]
    assert measured["reboot_requests"] > 10, "the request loop hardly ran"
    assert measured["reboot_failed_requests"] == 0, failed_requests(deployed.run_dir, "verification")


def test_etcd_is_healthy_over_tls_from_every_node(deployed: Deployed) -> None:
    cluster = deployed.cluster
    members = cluster.etcd_members
    urls = [f"https://{n.ip}:{ETCD_CLIENT_PORT}" for n in members]
    for node in members:
        health = remote(cluster, node, etcdctl(cluster, urls, "endpoint", "health") + " 2>&1")
        assert health.returncode == 0, health.stdout + health.stderr
        for url in urls:
            assert re.search(rf"^{re.escape(url)} is healthy", health.stdout, re.MULTILINE), health.stdout
        # TLS with client certificates for real: the same call without one is refused.
        anonymous = remote(cluster, node, etcdctl(cluster, urls[:1], "endpoint", "health", client_cert=None)
                           + " 2>&1")
        assert anonymous.returncode != 0, anonymous.stdout
        assert not re.search(rf"^{re.escape(urls[0])} is healthy", anonymous.stdout, re.MULTILINE), anonymous.stdout
        # Nor with a client certificate of the cluster CA (the scheduler's, on every master): not etcd's domain.
        if node in cluster.masters:
            stranger = remote(cluster, node, etcdctl(cluster, urls[:1], "endpoint", "health",
                                                     client_cert="kube-scheduler") + " 2>&1")
            assert stranger.returncode != 0, stranger.stdout
            assert not re.search(rf"^{re.escape(urls[0])} is healthy", stranger.stdout, re.MULTILINE), stranger.stdout
    # One cluster, not three: a key written through the first member is read back from the last one alone.
    token = f"written-on-{members[0].name}-{time.time_ns()}"
    put = remote(cluster, members[0], etcdctl(cluster, urls[:1], "put", "/lab-deploy-test/probe", token))
    assert put.stdout.strip() == "OK", put.stdout + put.stderr
    got = remote(cluster, members[-1], etcdctl(cluster, urls[-1:], "get", "/lab-deploy-test/probe",
                                                "--print-value-only"))
    assert got.stdout.strip() == token, got.stdout + got.stderr
    remote(cluster, members[0], etcdctl(cluster, urls[:1], "del", "/lab-deploy-test/probe"))


def test_the_vip_is_on_exactly_one_node_and_answers(deployed: Deployed) -> None:
    cluster = deployed.cluster
    vip, port = cluster.spec.api_server.vip, cluster.spec.api_server.port
    interface = cluster.spec.load_balancer.interface
    holders = []
    for node in cluster.masters:
        addrs = remote(cluster, node, f"ip -o -4 addr show dev {interface}")
        assert addrs.returncode == 0, addrs.stderr
        if re.search(rf"\binet {re.escape(vip)}/", addrs.stdout):
            holders.append(node.name)
    assert len(holders) == 1, f"VIP {vip} is on {holders}"
    with socket.create_connection((vip, port), timeout=5):
        pass


def test_a_second_deploy_passes_and_reissues_no_certificate(deployed: Deployed) -> None:
    before_pki = pki_snapshot()
    assert any(name.endswith("-key.pem") for name in before_pki) and "ca.pem" in before_pki
    before = run_dirs()
    proc = timed("deploy (second)", "deploy", "--cluster", CLUSTER)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    _, summary = newest_run(before)
    assert summary["result"] == "passed"
    after_pki = pki_snapshot()
    assert after_pki.keys() == before_pki.keys()
    changed = [name for name in before_pki if after_pki[name] != before_pki[name]]
    assert not changed, f"re-issued or rewritten on the second deploy: {changed}"
    second = {name: v for o in summary["steps"] for name, v in o["measured"].items()}
    FIGURES.update({f"{name} (second deploy)": v for name, v in second.items()})


def test_a_broken_cluster_file_stops_at_its_step_and_from_resumes_after_the_fix(deployed: Deployed,
                                                                                tmp_path: Path) -> None:
    """A realistic mistake: the cluster file names the ssh user of clusters/example.yaml, which these nodes lack.

    Same name, nodes and paths as clusters/lab.yaml (so the same build tree and nodes), a different file.
    """
    data = yaml.safe_load((REPO / "clusters" / "lab.yaml").read_text())
    assert data["ssh"]["user"] == "root"
    data["ssh"]["user"] = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())["ssh"]["user"]
    broken = tmp_path / "lab-wrong-user.yaml"
    broken.write_text(yaml.safe_dump(data, sort_keys=False))
    user = data["ssh"]["user"]
    before = run_dirs()
    proc = timed("deploy (broken, etcd chapter)", "deploy", "--cluster", str(broken), "--chapter", "etcd")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    message = proc.stderr
    first = re.search(r"^FAILED: chapter etcd, step (\S+) on (\S+): (.*)$", message, re.MULTILINE)
    assert first, message
    step, node = first[1], first[2].rstrip(":")
    assert step == "etcd.distribute", message
    assert node in {n.name for n in deployed.cluster.spec.nodes}, message
    ip = next(n.ip for n in deployed.cluster.spec.nodes if n.name == node)
    command = message.split("command:\n", 1)[1].split("output:", 1)[0].replace("\\\n", " ")  # as bash reads it
    assert re.search(rf"\bssh .*{re.escape(user)}@{re.escape(ip)} ", command), message
    assert "Permission denied" in message.split("output:", 1)[1], message
    assert f"--from {step}" in message and "Traceback" not in message
    _, summary = newest_run(before)
    assert summary["result"] == "failed" and summary["failure"]["step"] == step
    ran = [o["step"] for o in summary["steps"]]
    assert ran[-1] == step and "etcd.start" not in ran, "the run went on after the failed step"

    data["ssh"]["user"] = "root"
    broken.write_text(yaml.safe_dump(data, sort_keys=False))
    before = run_dirs()
    # The etcd chapter again, from the failed step (the chapters after it ran in the full and second deploys).
    resumed = timed("deploy (resumed --from)", "deploy", "--cluster", str(broken), "--chapter", "etcd", "--from", step)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    _, summary = newest_run(before)
    assert summary["result"] == "passed"
    ran = [o["step"] for o in summary["steps"]]
    assert ran[0] == step and "etcd.cert" not in ran and "etcd.failover" in ran
    FIGURES.update({f"{name} (resumed run)": v for o in summary["steps"] for name, v in o["measured"].items()})


def test_rotating_the_cluster_ca_loses_no_request(deployed: Deployed, tmp_path: Path) -> None:
    """The CA rotation chapter on real nodes, planned in a copy of clusters/lab.yaml: refused without
    `--allow-destructive`; with it, three rounds (trust both, re-issue, drop the old), each restarting what reads
    the cluster CA one master at a time, with 0 failed requests through the VIP. Afterwards admin reaches
    `/readyz` with the new CA alone, and the old CA's admin certificate is refused by the apiservers (401), while
    every file on the nodes matches the ledger (the chapter's last step). Run again, it restarts nothing."""
    cluster = deployed.cluster
    planned = tmp_path / f"{CLUSTER}.yaml"
    planned.write_text((REPO / "clusters" / f"{CLUSTER}.yaml").read_text() + "ca_rotation:\n  authorities: [cluster]\n")
    old = {name: tmp_path / name for name in ("ca.pem", "admin.pem", "admin-key.pem")}
    for name, path in old.items():
        shutil.copy(BUILD / "pki" / name, path)
    refused = invoke("deploy", "--cluster", str(planned), "--chapter", "ca-rotation")
    assert refused.returncode == 1 and "--allow-destructive" in refused.stderr, refused.stdout + refused.stderr

    run_dir, measured = chapter_run("CA rotation", "deploy", "--cluster", str(planned), "--chapter", "ca-rotation",
                                    "--allow-destructive")
    assert measured["ca_rotation_requests"] > 50, "the request loop hardly ran"
    assert measured["ca_rotation_failed_requests"] == 0, failed_requests(run_dir, "ca-rotation")
    text = notebook_output(run_dir, "ca-rotation")
    assert len(re.findall(r"^k8s-master-\d+: done: restarted kube-apiserver, restarted kube-controller-manager, "
                          r"restarted kube-scheduler$", text, re.MULTILINE)) == 3 * len(cluster.masters), text[-3000:]

    new_ca = (BUILD / "pki" / "ca.pem").read_bytes()
    assert new_ca.count(b"BEGIN CERTIFICATE") == 1 and new_ca not in old["ca.pem"].read_bytes()
    on_node = remote(cluster, cluster.masters[0], f"cat {cluster.spec.paths.pki_dir}/ca.pem").stdout.encode()
    assert on_node == new_ca
    kubectl = shlex.join([str(BUILD / "bin" / "kubectl"), "--kubeconfig", str(BUILD / "pki" / "admin.kubeconfig")])
    ready = subprocess.run(f"{kubectl} get --raw /readyz", shell=True, cwd=REPO, capture_output=True, text=True,
                           timeout=60)
    assert ready.stdout.strip() == "ok", ready.stdout + ready.stderr

    def status(cert: Path, key: Path) -> str:
        return subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                               "--cacert", str(BUILD / "pki" / "ca.pem"), "--cert", str(cert), "--key", str(key),
                               f"{cluster.api_endpoint}/api/v1/namespaces/default"],
                              capture_output=True, text=True, timeout=30).stdout

    assert status(old["admin.pem"], old["admin-key.pem"]) == "401"
    assert status(BUILD / "pki" / "admin.pem", BUILD / "pki" / "admin-key.pem") == "200"

    runs = run_dirs()
    again = timed("deploy --chapter ca-rotation (again)", "deploy", "--cluster", str(planned), "--chapter",
                  "ca-rotation", "--allow-destructive")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    text = notebook_output(newest_run(runs)[0], "ca-rotation")
    one(r"^cluster CA: the rotation is done", text)
    nodes = [n.name for n in cluster.control_plane]
    assert len(re.findall(r"^k8s-master-\d+: done: nothing to change$", text, re.MULTILINE)) == 3 * len(nodes)


