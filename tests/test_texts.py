"""The prose beside the components (generator/text.py): every text file holds both languages of every field with the
same placeholders, a broken one is refused with a line naming the entry, step-building code holds no prose of its
own, and no text is left that no cluster's runbook reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from generator import catalog, notebook_runtime, notebooks
from generator.model import load
from generator.render import render
from generator.site import cluster_pages
from generator.text import Text, TextFileError, Texts, placeholders

GENERATOR = REPO / "generator"
TEXT_FILES = sorted({*GENERATOR.glob("components/**/text.yaml"), *GENERATOR.glob("components/*.yaml"),
                     GENERATOR / "site" / "words.yaml", GENERATOR / "notebooks.yaml"})
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_text_file_has_both_languages_with_the_same_placeholders() -> None:
    assert len(TEXT_FILES) >= 20
    fields = 0
    for path in TEXT_FILES:
        for key, entry in Texts.at(path).entries().items():
            for name, field in entry.items():
                for text in field if isinstance(field, tuple) else (field,):
                    assert bool(text.zh) == bool(text.en), f"{path}: {key}.{name} is empty in one language"
                    assert placeholders(text.zh) == placeholders(text.en), f"{path}: {key}.{name}"
                    fields += 1
    assert fields > 500


@pytest.mark.parametrize(("body", "said"), [
    ("a:\n  title: {zh: 标题}\n", "a.title: expected both languages"),
    ("a:\n  title: {zh: '{x} 个', en: '{y} of them'}\n", "a.title: the languages fill in different values"),
    ("a:\n  title: {zh: 甲, en: A}\na:\n  title: {zh: 乙, en: B}\n", "a written twice"),
    ("- a\n", "expected one entry per id"),
])
def test_a_broken_text_file_is_refused_with_the_entry_named(tmp_path: Path, body: str, said: str) -> None:
    path = tmp_path / "text.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(TextFileError, match=re.escape(said)):
        Texts(path).entries()


def test_a_text_fills_each_language_with_its_own_value() -> None:
    word = Text(zh="加入", en="joins")
    assert Text(zh="{node} {verb}集群（{n} 台）", en="{node} {verb} the cluster ({n})").format(
        node="m4", verb=word, n=4) == Text(zh="m4 加入集群（4 台）", en="m4 joins the cluster (4)")


def test_no_component_module_holds_prose() -> None:
    """Every sentence a reader sees exists in Chinese too, so a module without Chinese holds no paragraph."""
    modules = sorted(GENERATOR.glob("components/**/*.py"))
    assert len(modules) > 40
    assert [str(m.relative_to(REPO)) for m in modules if CJK.search(m.read_text(encoding="utf-8"))] == []


def own_policy(directory: Path) -> Path:
    path = directory / "audit-policy.yaml"
    path.write_text("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n")
    return path


def cluster_files(directory: Path) -> list[str]:
    """Clusters whose runbooks between them take every path through the texts: each minor release, each layout and
    topology, each day-2 change."""
    base = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    nodes = base["nodes"]

    def variant(name: str, **changes: object) -> str:
        path = directory / f"{name}.yaml"
        path.write_text(yaml.safe_dump({**base, "name": name, **changes}))
        return str(path)

    files = [f"clusters/{n}.yaml" for n in ("example", "example-grow", "example-rotate", "example-upgrade", "lab")]
    files += [variant(f"tx-1-{minor}", kubernetes_version=f"1.{minor}.1") for minor in range(12, 38)]
    files += [
        variant("tx-single", certificates={"layout": "single"}),
        variant("tx-solo", nodes=nodes[:1], api_server={}),
        variant("tx-external", api_server={"external_address": "lb.example.com", "port": 8443},
                load_balancer={"kind": "external"}),
        variant("tx-separate", nodes=[{**n, "roles": ["master"]} for n in nodes]
                + [{"name": f"etcd-{i}", "ip": f"10.0.1.{i}", "roles": ["etcd"]} for i in (1, 2, 3)]),
        variant("tx-leave", nodes=nodes[:2], membership={"leaving": [nodes[2]]}),
        variant("tx-local", components={"kube-scheduler": {"kubeconfig_server": "local"},
                                        "kube-controller-manager": {"kubeconfig_server": "local"}}),
        variant("tx-lock", kubernetes_version="1.20.15", upgrade={"from": "1.19.16"}),
        # etcd written out: 1.35 and 1.36 pair different ones (the skew rules name the new release's)
        variant("tx-same", kubernetes_version="1.36.3", upgrade={"from": "1.35.4"},
                components={"etcd": {"version": "3.6.6"}}),
        variant("tx-etcd34", components={"etcd": {"version": "3.4.23"}}),
        variant("tx-etcd33", kubernetes_version="1.16.15", components={"etcd": {"version": "3.3.25"}}),
        variant("tx-restore", restore={"snapshot": "build/tx-restore/backups/k8s-master-01/etcd-snapshot.db"}),
        variant("tx-quorum", quorum_loss={"survivor": nodes[0]["name"]}),
        variant("tx-rebuild", rebuild={"node": nodes[-1]["name"]}),
        variant("tx-cis", verification={"cis": True}),
        variant("tx-audit", components={"kube-apiserver": {"audit": {"policy_file": str(own_policy(directory))}}}),
    ]
    return files


def test_no_text_is_left_that_no_runbook_reads(tmp_path: Path) -> None:
    for ref in cluster_files(tmp_path):
        cluster = load(ref)
        catalog.chapters(cluster)
    # a build made with one CA, whose cluster file no longer says so, keeps it (the CA chapter says why)
    made = load(str(tmp_path / "tx-single.yaml"))
    render(made, component="ca")
    kept = yaml.safe_load((tmp_path / "tx-single.yaml").read_text())
    del kept["certificates"]
    (tmp_path / "tx-single.yaml").write_text(yaml.safe_dump(kept))
    catalog.chapters(load(str(tmp_path / "tx-single.yaml")))
    example = load("example")
    cluster_pages(example, REPO / "tests" / "fixtures" / "runs")
    notebooks.chapter_notebook(catalog.chapters(example)[0])
    assert "not part of this cluster's runbook" in notebook_runtime.explanation(None, None, example)
    unread = sorted(f"{path.relative_to(REPO)}: {key}.{name}" for path in TEXT_FILES
                    for key, entry in Texts.at(path).entries().items() for name in entry
                    if (key, name) not in Texts.at(path).asked)
    assert unread == []
