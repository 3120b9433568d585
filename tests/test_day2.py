"""Day-2 chapters without a lab: the upgrade diff, the cluster file's day-2 checks, the order of the membership
chapter, the per-node diffs a change renders (and what they never show), serial and destructive steps, the request
loop against a stand-in apiserver, and pages and notebooks equal to what runs.

The lab runs the same chapters for real: tests/test_lab_day2.py (`invoke lab-day2`).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml

from generator import catalog, execute
from generator.model import REPO, Node, load
from generator.steps import Command, Step, Text
from tests.conftest import run_invoke, tree_digest

sys.path.insert(0, str(Path(__file__).parent))
from standin_apiserver import StandinApiserver  # noqa: E402

EXAMPLE = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
NEW = {"name": "k8s-master-04", "ip": "192.168.1.207"}


def example_file(directory: Path, name: str, release: str = "", **sections: object) -> Path:
    """clusters/example.yaml as `name`, at `release`, with `sections` replacing or adding top-level fields."""
    data = dict(EXAMPLE, name=name, **sections)
    if release:
        data["kubernetes_version"] = release
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def fresh_build():
    """Names of build/<name>/ trees a test makes; removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        shutil.rmtree(REPO / "build" / name, ignore_errors=True)
        shutil.rmtree(REPO / "runs" / name, ignore_errors=True)


def diff_of(name: str, chapter: str, node: str) -> str:
    return (REPO / "build" / name / chapter / node / "changes.diff").read_text()


# --- the upgrade diff -----------------------------------------------------------------------------------------------

def test_upgrade_plan_across_two_minors_shows_the_new_scheduler_config_and_refuses_the_skip(tmp_path: Path) -> None:
    # etcd written out: 1.20 and 1.22 pair different ones, which the checks would name too
    source = example_file(tmp_path, "plan-120", "1.20.15", components={"etcd": {"version": "3.4.13"}})
    proc = run_invoke("upgrade-plan", "--cluster", str(source), "--to", "1.22.17", check=False)
    assert proc.returncode == 1
    # v1beta2 arrived in 1.22 (kubernetes/kubernetes#99597); 1.20 reads v1beta1
    for node in EXAMPLE["nodes"]:
        section = proc.stdout.split(f"== {node['name']} ==", 1)[1].split("\n== ", 1)[0]
        assert "-apiVersion: kubescheduler.config.k8s.io/v1beta1" in section
        assert "+apiVersion: kubescheduler.config.k8s.io/v1beta2" in section
        assert "+++ /etc/kubernetes/kube-scheduler.yaml (1.22.17, 3 masters)" in section
    assert re.search(r"^upgrade\.from: 1\.20\.15: .*one minor release at a time \(upgrade to 1\.21 first\)$",
                     proc.stderr.splitlines()[-1].strip()), proc.stderr


def test_upgrade_to_1_24_drops_the_insecure_port_flag_and_writes_the_planned_file(tmp_path: Path,
                                                                                   fresh_build) -> None:
    source = example_file(tmp_path, "plan-123", "1.23.17")
    source.write_text("# kept comment\n" + source.read_text())
    planned = tmp_path / "plan-123-up.yaml"
    fresh_build.append("plan-123")
    proc = run_invoke("upgrade-plan", "--cluster", str(source), "--to", "1.24.17", "--out", str(planned))
    # --insecure-port was removed in 1.24 (kubernetes/kubernetes#106859): the 1.24 unit must not carry it
    removed = re.findall(r"^-  --insecure-port=0 \\$", proc.stdout, re.MULTILINE)
    assert len(removed) == len(EXAMPLE["nodes"])
    assert not re.search(r"^\+.*--insecure-port", proc.stdout, re.MULTILINE)
    text = planned.read_text()
    assert text.startswith("# kept comment\n") and 'kubernetes_version: "1.24.17"' in text
    model = load(str(planned))
    assert str(model.release) == "1.24.17" and model.spec.upgrade.from_ == "1.23.17"
    run_invoke("render", "--cluster", str(planned))
    node = EXAMPLE["nodes"][0]["name"]
    assert diff_of("plan-123", "upgrade", node) in proc.stdout  # the page shows what upgrade-plan printed


def test_upgrade_plan_to_1_37_names_what_the_units_carry_that_1_37_dropped(tmp_path: Path, fresh_build) -> None:
    source = example_file(tmp_path, "plan-136", "1.36.3", components={"etcd": {"version": "3.6.8"}},
                          certificates={"key": {"algo": "ecdsa", "size": 256}})
    fresh_build.append("plan-136")
    proc = run_invoke("upgrade-plan", "--cluster", str(source), "--to", "1.37.2")
    heading = "flags, feature gates and admission plugins the units carry now that 1.37.2 does not take"
    assert f"{heading} (the upgrade's units drop them):\n  none\n" in proc.stdout  # the generator wrote none of them
    run_invoke("render", "--cluster", str(source))
    units = REPO / "build" / "plan-136" / "nodes" / "k8s-master-02" / "etc" / "systemd" / "system"
    # what a hand-made 1.36 unit may carry: each removed in 1.37 (CHANGELOG-1.37: #138002, #137755, #138907, #139008)
    manager, apiserver = units / "kube-controller-manager.service", units / "kube-apiserver.service"
    manager.write_text(manager.read_text().replace("--v=2", "--concurrent-service-syncs=5 --v=2"))
    apiserver.write_text(apiserver.read_text().replace(
        "--enable-admission-plugins=NodeRestriction", "--enable-admission-plugins=NodeRestriction,"
        "PodGroupWorkloadExists --feature-gates=kube:SidecarContainers=true,APIServerTracing=true,AllAlpha=false"))
    proc = run_invoke("upgrade-plan", "--cluster", str(source), "--to", "1.37.2")
    named = proc.stdout.split(heading)[1].split("\n\n")[0].splitlines()[1:]
    assert sorted(line.split(": ")[0].strip() + ": " + line.split(": ")[1] for line in named) == [
        "kube-apiserver (k8s-master-02): --enable-admission-plugins PodGroupWorkloadExists",
        "kube-apiserver (k8s-master-02): --feature-gates APIServerTracing",
        "kube-apiserver (k8s-master-02): --feature-gates SidecarContainers",
        "kube-controller-manager (k8s-master-02): --concurrent-service-syncs"], proc.stdout
    assert all("removed in 1.37; instead: " in line for line in named), named
    assert "--tracing-config-file" in next(line for line in named if "APIServerTracing" in line)


def test_an_upgrade_that_would_move_etcd_is_refused_with_the_version_to_write(tmp_path: Path) -> None:
    # 1.36 is paired with etcd 3.6.8 and 1.37 with 3.7.0 (kubeadm v1.36.3 and v1.37.2): the chapter keeps etcd
    proc = run_invoke("upgrade-plan", "--cluster", str(example_file(tmp_path, "plan-etcd", "1.36.3")), "--to",
                      "1.37.2", "--out", str(tmp_path / "out.yaml"), check=False)
    assert proc.returncode == 1 and not (tmp_path / "out.yaml").exists()
    assert "+ETCD_VERSION=v3.7.0" in proc.stdout  # what the file would do without a version
    assert 'components.etcd.version: (not set): the etcd the members run now, written out: "3.6.8"' in proc.stderr


@pytest.mark.parametrize(("sections", "path", "says"), [
    ({"upgrade": {"from": "1.31.0"}}, "upgrade.from", "a release older than kubernetes_version"),
    ({"upgrade": {"from": "1.28.3"}}, "upgrade.from", "one minor release at a time (upgrade to 1.29 first)"),
    ({"membership": {"joining": ["k8s-master-09"]}}, "membership.joining[0]", "the name of a node in `nodes`"),
    ({"membership": {"leaving": [{"name": "old", "ip": "192.168.1.205"}]}}, "membership.leaving[0].ip",
     "k8s-master-02 uses it"),
    ({"membership": {"leaving": [{"name": "k8s-master-03", "ip": "192.168.1.99"}]}}, "membership.leaving[0].name",
     "a node `nodes` no longer lists"),
    ({"membership": {"leaving": [{"name": "a", "ip": "192.168.1.98"}, {"name": "b", "ip": "192.168.1.99"}]}},
     "membership", "one node per change"),
    ({"upgrade": {"from": "1.29.9"}, "membership": {"leaving": [{"name": "old", "ip": "192.168.1.99"}]},
      "components": {"etcd": {"version": "3.5.15"}}}, "membership", "one change at a time"),
    # without a version etcd follows kubernetes_version: 1.29 is paired with 3.5.16, 1.30 with 3.5.15 (kubeadm)
    ({"upgrade": {"from": "1.29.9"}}, "components.etcd.version", 'the etcd the members run now, written out: "3.5.16"'),
])
def test_a_day2_section_that_cannot_work_is_one_line(tmp_path: Path, sections: dict, path: str, says: str) -> None:
    name = "bad-day2"
    proc = run_invoke("render", "--cluster", str(example_file(tmp_path, name, **sections)), check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "invalid cluster file:" and len(lines) == 2, proc.stderr
    assert lines[1].startswith(f"{tmp_path / name}.yaml: {path}: ") and says in lines[1], lines[1]
    assert not (REPO / "build" / name).exists()


# --- the membership chapter's order ---------------------------------------------------------------------------------

def chapter_steps(path: Path, chapter: str) -> dict[str, Step]:
    found = next(ch for ch in catalog.chapters(load(str(path))) if ch.id == chapter)
    return {s.id: s for s in found.steps}


def before(steps: dict[str, Step], *ids: str) -> None:
    order = list(steps)
    positions = [order.index(f"membership.{i}") for i in ids]
    assert positions == sorted(positions), f"expected in this order: {ids}; chapter: {order}"


def test_a_joining_master_is_added_to_etcd_before_its_member_starts(tmp_path: Path) -> None:
    path = example_file(tmp_path, "grow", nodes=[*EXAMPLE["nodes"], NEW], membership={"joining": [NEW["name"]]})
    steps = chapter_steps(path, "membership")
    ids = list(steps)
    assert ids[0] == "membership.plan" and ids[1] == "membership.requests-start"
    assert ids[-1] == "membership.requests-stop"
    before(steps, "snapshot", "prepare", "distribute-load-balancer", "distribute-etcd", "etcd-add", "etcd-start",
           "control-plane", "rolling", "load-balancer-start", "etcd-members", "load-balancer", "election")
    staying = [n["name"] for n in EXAMPLE["nodes"]]
    assert [n.name for n, _ in steps["membership.etcd-add"].per_node] == [staying[0]]  # a running member adds it
    distribute = [i.removeprefix("membership.") for i in ids if i.startswith("membership.distribute-")]
    assert distribute == ["distribute-load-balancer", "distribute-etcd", "distribute-kube-apiserver",
                          "distribute-kube-controller-manager", "distribute-kube-scheduler"]
    for step in ("prepare", *distribute, "etcd-start", "control-plane", "load-balancer-start"):
        assert [n.name for n, _ in steps[f"membership.{step}"].per_node] == [NEW["name"]], step
    rolling = steps["membership.rolling"]
    assert rolling.serial and [n.name for n, _ in rolling.per_node] == staying
    assert not [s.id for s in steps.values() if s.destructive]


def test_a_leaving_master_leaves_etcd_last_and_only_with_the_flag(tmp_path: Path) -> None:
    old = {"name": "k8s-master-03", "ip": "192.168.1.206"}
    path = example_file(tmp_path, "shrink", nodes=EXAMPLE["nodes"][:2], membership={"leaving": [old]})
    steps = chapter_steps(path, "membership")
    before(steps, "plan", "requests-start", "snapshot", "retire-load-balancer", "retire-control-plane", "rolling",
           "etcd-remove", "etcd-members", "load-balancer", "requests-stop")
    assert [s.id for s in steps.values() if s.destructive] == ["membership.etcd-remove"]
    remove = steps["membership.etcd-remove"]
    assert remove.serial and [n.name for n, _ in remove.per_node] == [EXAMPLE["nodes"][0]["name"], old["name"]]
    assert [n.name for n, _ in steps["membership.rolling"].per_node] == [n["name"] for n in EXAMPLE["nodes"][:2]]
    assert {n.name for n, _ in steps["membership.retire-control-plane"].per_node} == {old["name"]}


def etcdctl_removed(member: int, cluster: int) -> str:
    """What `etcdctl member remove` prints: etcdctl formats both ids with Go's %16x, so an id of fewer than 16 hex
    digits is padded with spaces."""
    return f"Member {member:16x} removed from cluster {cluster:16x}"


@pytest.mark.parametrize("member", [0x8E9E05C52164694D, 0x740F1E54FB440AC, 0x5F3])
def test_the_etcd_remove_steps_accept_every_member_id_etcdctl_prints(tmp_path: Path, member: int) -> None:
    printed = etcdctl_removed(member, 0x78447E0E257D25D2)
    old = {"name": "k8s-master-03", "ip": "192.168.1.206"}
    shrink = example_file(tmp_path, "shrink", nodes=EXAMPLE["nodes"][:2], membership={"leaving": [old]})
    step = chapter_steps(shrink, "membership")["membership.etcd-remove"]
    (leave,) = [c for _, commands in step.per_node for c in commands if "removed from cluster" in (c.expect or "")]
    assert re.search(leave.expect, printed), (leave.expect, printed)
    rebuild = example_file(tmp_path, "rebuild", rebuild={"node": EXAMPLE["nodes"][-1]["name"]})
    found = next(ch for ch in catalog.chapters(load(str(rebuild))) if ch.id == "rebuild")
    (remove,) = next(s for s in found.steps if s.id == "rebuild.etcd-remove").local
    assert re.search(remove.expect, f"{printed}\n166cb32f4eb251d0, started, k8s-master-01, …", re.MULTILINE), \
        (remove.expect, printed)


# --- the diffs a planned change renders -----------------------------------------------------------------------------

def test_growing_re_issues_exactly_the_certificates_naming_the_masters(tmp_path: Path, fresh_build) -> None:
    name = "grow-diff"
    fresh_build.append(name)
    run_invoke("render", "--cluster", str(example_file(tmp_path, name)))
    grow = example_file(tmp_path, name, nodes=[*EXAMPLE["nodes"], NEW], membership={"joining": [NEW["name"]]})
    first = run_invoke("render", "--cluster", str(grow)).stdout
    reissued = dict(re.findall(r"note: (\S+): certificate issued \(SANs changed: (.*)\)$", first, re.MULTILINE))
    assert set(reissued) == {"kube-apiserver", "kube-controller-manager", "kube-scheduler"}
    for added in reissued.values():  # the new master's address, and its name where the spec lists names
        assert f"+IP:{NEW['ip']}" in added.split() and set(added.split()) <= {f"+IP:{NEW['ip']}", f"+DNS:{NEW['name']}"}
    assert "note: etcd-server-k8s-master-04: certificate issued (new)" in first
    assert "ca" not in {n.split(":")[0] for n in re.findall(r"note: (\S+)", first)}
    for node in EXAMPLE["nodes"]:
        text = diff_of(name, "membership", node["name"])
        assert f"# certificate re-issued: /etc/kubernetes/pki/kube-apiserver.pem: SANs +IP:{NEW['ip']}\n" in text
        assert re.search(rf"^\+    server {NEW['name']} {re.escape(NEW['ip'])}:6443 ", text, re.MULTILINE)
        assert re.search(rf"^\+        {re.escape(NEW['ip'])}$", text, re.MULTILINE)  # keepalived's unicast_peer
        assert "etcd-server.pem" not in text  # their own etcd certificates name only themselves
    added = diff_of(name, "membership", NEW["name"]).splitlines()
    assert added and all(line.startswith("# added: /") for line in added)
    build = REPO / "build" / name
    password = (build / "pki" / "haproxy-stats-password").read_text().strip()
    encryption_key = (build / "pki" / "encryption-key.b64").read_text().strip()
    for diff in build.glob("membership/**/*.diff"):
        text = diff.read_text()
        assert "PRIVATE KEY" not in text and "client-key-data" not in text, diff
        assert password not in text and encryption_key not in text, diff
    second = run_invoke("render", "--cluster", str(grow)).stdout
    assert re.search(r": \d+ unchanged$", second.strip()), second  # the diffs are stable: re-render writes nothing


def test_a_joining_member_joins_an_existing_etcd_cluster(tmp_path: Path, fresh_build) -> None:
    name = "grow-unit"
    fresh_build.append(name)
    grow = example_file(tmp_path, name, nodes=[*EXAMPLE["nodes"], NEW], membership={"joining": [NEW["name"]]})
    run_invoke("render", "--cluster", str(grow))
    for node in [*EXAMPLE["nodes"], NEW]:
        unit = (REPO / "build" / name / "nodes" / node["name"] / "etc/systemd/system/etcd.service").read_text()
        state = "existing" if node is NEW else "new"
        assert f"--initial-cluster-state={state} " in unit, node["name"]
        assert unit.count("=https://192.168.1.") >= 4 and f"{NEW['name']}=https://{NEW['ip']}:2380" in unit


def test_leaving_shows_the_address_dropped_from_the_certificates(tmp_path: Path, fresh_build) -> None:
    name = "shrink-diff"
    fresh_build.append(name)
    old = EXAMPLE["nodes"][2]
    run_invoke("render", "--cluster", str(example_file(tmp_path, name)))
    shrink = example_file(tmp_path, name, nodes=EXAMPLE["nodes"][:2], membership={"leaving": [old]})
    run_invoke("render", "--cluster", str(shrink))
    text = diff_of(name, "membership", EXAMPLE["nodes"][0]["name"])
    assert f"# certificate re-issued: /etc/kubernetes/pki/kube-apiserver.pem: SANs -IP:{old['ip']}\n" in text
    assert re.search(rf"^-    server {old['name']} ", text, re.MULTILINE)
    gone = diff_of(name, "membership", old["name"]).splitlines()
    assert gone and all(line.startswith("# removed: /") for line in gone)


# --- serial and destructive steps -----------------------------------------------------------------------------------

def test_a_serial_step_stops_at_the_first_node_that_fails(tmp_path: Path) -> None:
    log = tmp_path / "ran"
    nodes = [Node(name, f"10.9.9.{i}") for i, name in enumerate(("a", "b", "c"), 1)]
    commands = {"a": f"echo a >> {log}", "b": "exit 3", "c": f"echo c >> {log}"}

    def step(serial: bool) -> Step:
        return Step(id="test.rolling", title=Text(zh="测试", en="test"), explain=Text(zh="测试", en="test"),
                    per_node=tuple((n, (Command(commands[n.name]),)) for n in nodes), serial=serial)

    with pytest.raises(execute.StepFailed) as failed:
        execute.run_step(step(serial=True), out=open(tmp_path / "out", "w"))
    assert failed.value.outcome.node == "b"
    assert log.read_text() == "a\n", "a serial step went on after a node failed"
    log.unlink()
    with pytest.raises(execute.StepFailed):
        execute.run_step(step(serial=False), out=open(tmp_path / "out", "w"))
    assert sorted(log.read_text().split()) == ["a", "c"]  # the parallel fan-out runs every node


def test_what_cannot_be_undone_runs_only_when_asked(tmp_path: Path) -> None:
    name = "shrink-flag"
    old = EXAMPLE["nodes"][2]
    path = example_file(tmp_path, name, nodes=EXAMPLE["nodes"][:2], membership={"leaving": [old]})
    refused = run_invoke("step", "--cluster", str(path), "--step", "membership.etcd-remove", check=False)
    assert refused.returncode == 1 and refused.stdout == ""
    assert "refusing to run what cannot be undone without --allow-destructive" in refused.stderr
    assert "membership.etcd-remove: `member remove` cannot be undone" in refused.stderr
    printed = run_invoke("step", "--cluster", str(path), "--step", "membership.etcd-remove", "--dry-run").stdout
    assert "member remove" in printed
    deploy = run_invoke("deploy", "--cluster", str(path), "--chapter", "membership", check=False)
    assert deploy.returncode == 1 and "--allow-destructive" in deploy.stderr
    grow = example_file(tmp_path, "grow-full", nodes=[*EXAMPLE["nodes"], NEW], membership={"joining": [NEW["name"]]})
    full = run_invoke("deploy", "--cluster", str(grow), check=False)
    assert full.returncode == 1 and "--chapter membership" in full.stderr
    for cluster in (name, "grow-full"):
        assert not (REPO / "runs" / cluster).exists() and not (REPO / "build" / cluster).exists()


# --- the request loop -----------------------------------------------------------------------------------------------

def wait_for(condition, what: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"still waiting for {what}"
        time.sleep(0.1)


def test_the_request_loop_counts_every_request_and_each_failure(tmp_path: Path, fresh_build) -> None:
    """Against tests/standin_apiserver.py (a labelled stand-in) on 127.0.0.2, which answers 503 for a while."""
    name = "loop-test"
    fresh_build.append(name)
    sections = {"nodes": [{"name": "m1", "ip": "127.0.9.1"}], "load_balancer": {"kind": "external"},
                "upgrade": {"from": "1.29.0"}, "components": {"etcd": {"version": "3.5.16"}}}  # 1.29's, kept
    path = example_file(tmp_path, name, api_server={"external_address": "127.0.0.2", "port": 8443}, **sections)
    run_invoke("render", "--cluster", str(path))
    pki = REPO / "build" / name / "pki"
    log = REPO / "build" / name / "rollout" / "upgrade.log"
    pid = log.with_suffix(".pid")
    with StandinApiserver(pki / "ca.pem", pki / "ca-key.pem", {"admin"}, tmp_path, ip="127.0.0.2") as api:
        path = example_file(tmp_path, name, api_server={"external_address": api.ip, "port": api.port}, **sections)
        started = run_invoke("step", "--cluster", str(path), "--step", "upgrade.requests-start").stdout
        assert re.search(r"^request loop upgrade: pid \d+, first answer: 200$", started, re.MULTILINE), started
        again = run_invoke("step", "--cluster", str(path), "--step", "upgrade.requests-start").stdout
        assert "request loop upgrade already runs" in again
        def codes() -> list[str]:
            return [fields[1] for fields in map(str.split, log.read_text().splitlines()) if len(fields) > 1]
        wait_for(lambda: len(codes()) >= 5, "five answers")
        api.unavailable = True
        # counted by their status: a request in flight when the flag turned may still be answered 200
        wait_for(lambda: codes().count("503") >= 3, "three refused requests")
        api.unavailable = False
        mark = len(codes())
        wait_for(lambda: codes()[mark:].count("200") >= 3, "three more answers")
        stopped = run_invoke("step", "--cluster", str(path), "--step", "upgrade.requests-stop").stdout
    assert not pid.exists(), "the loop did not end"
    answers = [line.split()[1] for line in log.read_text().splitlines()]
    failed = sum(code != "200" for code in answers)
    assert failed >= 3 and set(answers) == {"200", "503"}
    assert f"requests through the VIP during upgrade: {len(answers)}, failed: {failed}" in stopped
    assert f"measured: upgrade_requests={len(answers)}\nmeasured: upgrade_failed_requests={failed}" in stopped
    assert len(re.findall(r"^failed request at [0-9.]+: HTTP 503$", stopped, re.MULTILINE)) == min(failed, 20)
    assert all(entry["cn"] == "admin" for entry in api.seen)  # the loop presents the admin certificate
    repeat = run_invoke("step", "--cluster", str(path), "--step", "upgrade.requests-stop").stdout
    assert f"during upgrade: {len(answers)}, failed: {failed}" in repeat  # stopping again reports the same run


# --- pages and notebooks equal what runs ----------------------------------------------------------------------------

@pytest.mark.parametrize(("cluster", "chapter"), [("example-upgrade", "upgrade"), ("example-grow", "membership"),
                                                  ("example-rotate", "ca-rotation")])
def test_day2_pages_show_exactly_what_dry_run_prints(built_site: Path, cluster: str, chapter: str) -> None:
    from tests.test_parity import page_blocks

    printed = run_invoke("deploy", "--cluster", cluster, "--chapter", chapter, "--dry-run").stdout
    executed = [b.rstrip("\n") for b in re.split(r"^# [a-z0-9.-]+(?: @ [a-z0-9-]+)?\n", printed,
                                                  flags=re.MULTILINE)[1:]]
    # the cluster's own build: zh at its root, en under en/
    own = built_site / "clusters" / cluster
    (page,) = [p.name for p in own.iterdir() if p.name.endswith(f"-{chapter}")]
    for root in (own, own / "en"):
        assert page_blocks(root / page / "index.html") == executed


def test_a_destructive_step_says_so_on_both_pages(tmp_path: Path, fresh_build) -> None:
    from generator.render import make_artifacts
    from generator.site.chapter import chapter_page

    old = EXAMPLE["nodes"][2]
    model = load(str(example_file(tmp_path, "shrink-page", nodes=EXAMPLE["nodes"][:2],
                                  membership={"leaving": [old]})))
    fresh_build.append("shrink-page")
    chapter = next(ch for ch in catalog.chapters(model) if ch.id == "membership")
    artifacts = {a.path: a for a in make_artifacts(model)[0]}
    for lang, title, flag in (("zh", "不可撤销的操作", "`--allow-destructive`"),
                              ("en", "Cannot be undone", "`--allow-destructive`")):
        page = chapter_page(chapter, artifacts, model, lang)
        section = page.split("{ #membership-etcd-remove }", 1)[1].split("\n## ", 1)[0]
        assert f'!!! danger "{title}"' in section and flag in section
        assert page.count("!!! danger") == 1


def test_the_membership_notebook_runs_a_leaving_cluster_as_deploy_prints_it(tmp_path: Path) -> None:
    old = EXAMPLE["nodes"][2]
    path = example_file(tmp_path, "shrink-notebook", nodes=EXAMPLE["nodes"][:2], membership={"leaving": [old]})
    out = tmp_path / "membership.ipynb"
    papermill.execute_notebook(str(REPO / "notebooks" / "membership.ipynb"), str(out),
                               parameters={"cluster": str(path), "dry_run": True}, cwd=str(REPO),
                               kernel_name="python3", progress_bar=False, shutdown_kernel="immediate")
    executed = nbformat.read(out, as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" and
                      c.source.startswith("step(") for o in c.outputs if o.output_type == "stream")
    expected = run_invoke("deploy", "--cluster", str(path), "--chapter", "membership", "--dry-run").stdout
    lacking = re.findall(r"^# (\S+)\nnot part of the shrink-notebook runbook: nothing to do\n", printed, re.MULTILINE)
    assert "membership.etcd-add" in lacking and "membership.etcd-remove" not in lacking  # joining steps only
    assert re.sub(r"^# \S+\nnot part of the shrink-notebook runbook: nothing to do\n", "", printed,
                  flags=re.MULTILINE) == expected


def test_day2_notebooks_hold_nothing_of_the_clusters_they_were_made_from() -> None:
    from generator import day2, notebooks

    example = load(notebooks.TEXT_CLUSTER)
    # every name, address and release of the example cluster and of the day-2 variants the cells come from
    words = {str(c.release) for c in [example, *day2.examples(example)]}
    words |= {n.name for c in day2.examples(example) for n in (*c.spec.nodes, *c.spec.membership.leaving)}
    words |= {n.ip for n in example.spec.nodes} | {c.spec.upgrade.from_ for c in day2.examples(example)} - {""}
    for chapter in ("upgrade", "membership"):
        text = (REPO / "notebooks" / f"{chapter}.ipynb").read_text()
        assert text.count('step(\\"') >= 9, chapter
        assert not [w for w in words if w in text], f"{chapter}.ipynb names {[w for w in words if w in text]}"


@pytest.mark.parametrize(("out", "says"), [
    ("planned", "a file path ending in .yaml"),
    ("{tmp}", "a directory; give the file to write"),
    ("{tmp}/as-a-dir.yaml", "a directory; give the file to write"),
    ("{tmp}/pipe.yaml", "not a regular file"),
    ("{tmp}/link.yaml", "a symlink"),
    ("{tmp}/no-such-dir/planned.yaml", "no-such-dir is not a directory"),
    ("planned.yaml", "inside the repository only the cluster's own file"),
    ("clusters/example-1.31.yaml", "inside the repository only the cluster's own file"),
    ("build/example/planned.yaml", "inside the repository only the cluster's own file"),
    ("site/planned.yaml", "inside the repository only the cluster's own file"),
])
def test_upgrade_plan_out_is_checked_before_anything_is_written(tmp_path: Path, out: str, says: str) -> None:
    """Issue 23: `--out` with a directory or a bare name gave a traceback or wrote to the wrong place."""
    (tmp_path / "as-a-dir.yaml").mkdir()
    os.mkfifo(tmp_path / "pipe.yaml")
    (tmp_path / "link.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    out = out.format(tmp=tmp_path)
    watched = [REPO / "clusters", REPO / "build", REPO / "site", REPO / "docs", tmp_path]
    before = tree_digest(*watched)
    proc = run_invoke("upgrade-plan", "--cluster", "example", "--to", "1.31.2", "--out", out, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.strip().startswith(f"error: --out {out!r}: ") and says in proc.stderr, proc.stderr
    assert not proc.stdout and tree_digest(*watched) == before


def test_upgrade_plan_may_plan_a_cluster_file_of_clusters_in_place(fresh_build) -> None:
    source = REPO / "clusters" / "plan-in-place.yaml"
    source.write_text((REPO / "clusters" / "example.yaml").read_text().replace("name: example", "name: plan-in-place")
                      + 'components:\n  etcd:\n    version: "3.5.15"  # 1.30 and 1.31 pair different ones\n')
    fresh_build.append("plan-in-place")
    try:
        run_invoke("upgrade-plan", "--cluster", "plan-in-place", "--to", "1.31.2", "--out", str(source))
        assert load("plan-in-place").spec.upgrade.from_ == "1.30.4"
    finally:
        source.unlink()
