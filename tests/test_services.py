"""The daemons' descriptors (generator/service.py, listed in generator/daemons.py) against what the render writes:
the files a service says it reads are the ones its unit names, its ports are in its unit or config, and the
deployment order starts nothing before what it starts after."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from generator import daemons, ledger
from generator.artifacts import Artifact
from generator.model import load
from generator.render import make_artifacts, render

CONFIG_FLAG = re.compile(r"--config=(\S+)")
DAEMONS = ("haproxy", "keepalived", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


def variants(directory: Path) -> list[str]:
    """The example cluster at the oldest, a middle and the newest release, and with etcd on nodes of its own."""
    base = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    made = []
    for name, changes in (
        ("svc-old", {"kubernetes_version": "1.12.10"}),
        ("svc-mid", {"kubernetes_version": "1.22.17"}),
        ("svc-new", {"kubernetes_version": "1.36.3"}),
        ("svc-separate", {"nodes": [{"name": f"m{i}", "ip": f"10.0.0.{i}", "roles": ["master"]} for i in (1, 2, 3)]
                          + [{"name": f"e{i}", "ip": f"10.0.1.{i}", "roles": ["etcd"]} for i in (1, 2, 3)]}),
    ):
        path = directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**base, "name": name, **changes}))
        made.append(str(path))
    return made


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> list:
    return [load(ref) for ref in ["example", *variants(tmp_path_factory.mktemp("services"))]]


def on_node(artifacts: list[Artifact], node: str) -> dict[str, str]:
    prefix = f"nodes/{node}/"
    return {"/" + a.path.removeprefix(prefix): a.content.decode(errors="replace") for a in artifacts
            if a.path.startswith(prefix)}


def named_by_unit(files: dict[str, str], unit_path: str) -> set[str]:
    """The node's files that a unit names, directly or in a --config file it names: what the daemon reads (the
    way the ledger found its restarts before the descriptors said them)."""
    text = files[unit_path]
    texts = [text, *(files[c] for c in CONFIG_FLAG.findall(text) if c in files)]
    return {path for path in files if path != unit_path and any(path in t for t in texts)} | {unit_path}


def test_the_deployment_order_starts_nothing_before_what_it_starts_after() -> None:
    units = [s.unit for s in daemons.SERVICES]
    assert units == list(DAEMONS) and len(set(units)) == len(units)
    for i, service in enumerate(daemons.SERVICES):
        assert set(service.after) <= set(units[:i]), service.unit
    assert daemons.start_order(list(daemons.SERVICES)) == list(daemons.SERVICES)
    # an order that breaks `after` is put right: keepalived tracks haproxy, the apiserver needs etcd
    shuffled = [daemons.KUBE_APISERVER, daemons.KUBE_SCHEDULER, daemons.ETCD, *reversed(daemons.LOAD_BALANCER)]
    assert [s.unit for s in daemons.start_order(shuffled)] == ["etcd", "kube-apiserver", "kube-scheduler", "haproxy",
                                                               "keepalived"]


def test_what_a_service_reads_is_what_its_unit_names(clusters: list) -> None:
    checked = 0
    for cluster in clusters:
        artifacts, _ = make_artifacts(cluster)
        for node in cluster.spec.nodes:
            files = on_node(artifacts, node.name)
            for service in daemons.on_node(cluster, node):
                listed = list(service.files(cluster, node))
                assert set(service.read_files(cluster, node)) <= set(listed), service.unit
                assert all(path in files for path in listed), (cluster.name, node.name, service.unit)
                unit = f"{cluster.spec.paths.systemd_dir}/{service.unit}.service"
                if unit in files:  # haproxy and keepalived come with Debian's units
                    assert set(service.read_files(cluster, node)) == named_by_unit(files, unit), (
                        cluster.name, node.name, service.unit)
                    checked += 1
    assert checked >= 4 * 3 * 4  # four clusters, three masters (or members), four units with a unit file each


def test_the_ledger_restarts_what_reads_the_file(clusters: list) -> None:
    cluster = clusters[1]  # 1.12: the scheduler reads its certificate only from 1.13, on its secure port
    artifacts = render(cluster).artifacts
    units = cluster.spec.paths.systemd_dir
    on_nodes = [e for e in ledger.load(cluster) if e.node is not None]
    for entry in on_nodes:
        files = on_node(artifacts, entry.node)
        expected = sorted(s.unit for s in daemons.SERVICES if f"{units}/{s.unit}.service" in files
                          and entry.path in named_by_unit(files, f"{units}/{s.unit}.service"))
        assert entry.restart == expected, entry.path
    assert len(on_nodes) >= 3 * 10 and any(not e.restart for e in on_nodes)  # etcdctl's pair restarts nothing


def test_each_port_is_in_what_the_service_runs_with(clusters: list) -> None:
    for cluster in clusters:
        artifacts, _ = make_artifacts(cluster)
        for service in daemons.running(cluster):
            node = service.nodes(cluster)[0]
            files = on_node(artifacts, node.name)
            text = "\n".join(files[f] for f in service.files(cluster, node))
            for port in service.ports(cluster):
                assert re.search(rf"[:=]{port.number}\b", text), (cluster.name, service.unit, port.number)


def test_a_cluster_without_a_vip_runs_no_load_balancer(tmp_path: Path) -> None:
    base = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    path = tmp_path / "solo.yaml"
    path.write_text(yaml.safe_dump({**base, "name": "solo", "nodes": [{"name": "solo", "ip": "10.0.0.9"}],
                                    "api_server": {}}))
    cluster = load(str(path))
    assert [s.unit for s in daemons.on_node(cluster, cluster.masters[0])] == list(DAEMONS[2:])
    assert [s.unit for s in daemons.elected(cluster)] == ["kube-controller-manager", "kube-scheduler"]
