"""What the page shows is what runs: the built HTML's bash blocks equal `invoke deploy --dry-run`, in order."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import yaml

from generator.site.reviewable import blocks
from tests.conftest import REPO, run_invoke

CHAPTERS = ["prerequisites", "ca", "load-balancer", "admin", "etcd", "kube-apiserver", "kube-controller-manager",
            "kube-scheduler", "verification", "troubleshooting"]


def page_blocks(path: Path) -> list[str]:
    """Text of every `language-bash` block, as the copy button would copy it."""
    return [block.text for block in blocks(path) if block.lang == "bash"]


def dry_run_blocks(*args: str) -> list[str]:
    """Split `deploy --dry-run` output into blocks: each starts after a `# <step id>[ @ node]` header."""
    out = run_invoke("deploy", "--cluster", "example", "--dry-run", *args).stdout
    blocks = re.split(r"^# [a-z0-9.-]+(?: @ [a-z0-9-]+)?\n", out, flags=re.MULTILINE)
    assert blocks[0] == "", f"dry run starts with something other than a step header: {blocks[0][:80]!r}"
    return [b.rstrip("\n") for b in blocks[1:]]


def chapter_html(site: Path, lang: str, page: str) -> Path:
    """The example cluster is its own build under site/clusters/example/: zh at its root, en under en/."""
    root = site / "clusters" / "example"
    return (root if lang == "zh" else root / "en") / page / "index.html"


def page_names(site: Path) -> dict[str, str]:
    found = {p.name.split("-", 1)[1]: p.name for p in (site / "clusters" / "example").iterdir()
             if p.is_dir() and re.match(r"^\d\d-", p.name)}
    return found


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_chapter_page_shows_exactly_what_dry_run_prints(built_site: Path, lang: str) -> None:
    pages = page_names(built_site)
    assert set(CHAPTERS) <= set(pages), f"chapters missing from the site: {set(CHAPTERS) - set(pages)}"
    shown: list[str] = []
    for chapter in sorted(pages, key=lambda c: pages[c]):
        shown += page_blocks(chapter_html(built_site, lang, pages[chapter]))
    executed = dry_run_blocks()
    assert len(shown) == len(executed)
    for i, (page, run) in enumerate(zip(shown, executed, strict=True)):
        assert page == run, f"block {i} differs:\npage:\n{page}\ndry run:\n{run}"


def test_one_chapter_dry_run_matches_its_page(built_site: Path) -> None:
    page = page_blocks(chapter_html(built_site, "zh", page_names(built_site)["kube-scheduler"]))
    assert page == dry_run_blocks("--chapter", "kube-scheduler")


def test_zh_and_en_pages_show_the_same_commands(built_site: Path) -> None:
    for page in page_names(built_site).values():
        zh = page_blocks(chapter_html(built_site, "zh", page))
        en = page_blocks(chapter_html(built_site, "en", page))
        assert zh == en, page
        # troubleshooting's diagnostics are console blocks, never run: its page has no bash block
        assert zh or page.endswith("-troubleshooting"), f"{page} shows no command"


def test_commands_reach_every_master_by_the_ssh_user_of_the_cluster_file() -> None:
    spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    user = spec.get("ssh", {}).get("user", "root")
    blocks = dry_run_blocks("--chapter", "kube-scheduler")
    text = "\n".join(blocks)
    for node in spec["nodes"]:
        assert f"{user}@{node['ip']}" in text
    # the seeds copied each IP by hand three times; here each node's block names only that node
    per_node = [b for b in blocks if "ssh " in b and "leader()" not in b]
    for block in per_node:
        ips = {n["ip"] for n in spec["nodes"] if n["ip"] in block}
        assert len(ips) == 1, block


def test_node_subset_limits_the_fan_out() -> None:
    spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    first, others = spec["nodes"][0], spec["nodes"][1:]
    out = run_invoke("step", "--cluster", "example", "--step", "kube-scheduler.status", "--dry-run",
                     "--nodes", first["name"]).stdout
    assert first["ip"] in out
    assert not any(n["ip"] in out for n in others)


def test_dry_run_touches_nothing(tmp_path: Path) -> None:
    source = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    source["name"] = "dry-only"
    cluster = tmp_path / "dry-only.yaml"
    cluster.write_text(yaml.safe_dump(source))
    run_invoke("deploy", "--cluster", str(cluster), "--dry-run")
    assert not (REPO / "build" / "dry-only").exists()


def test_html_unescaping_is_not_hiding_differences(built_site: Path) -> None:
    # the kube-scheduler page quotes jsonpath with '"' and pipes with '|': both must survive HTML escaping
    blocks = page_blocks(chapter_html(built_site, "zh", page_names(built_site)["kube-scheduler"]))
    assert any('{"\\n"}' in b for b in blocks)
    assert any(" | " in b for b in blocks)
    assert not any(html.unescape(b) != b and "&" in b for b in blocks)


def test_ipv6_nodes_are_bracketed_in_every_url(tmp_path: Path) -> None:
    source = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    source["name"] = "ipv6-only"
    source["nodes"] = [{"name": f"m{i}", "ip": f"fd00::{i}"} for i in (1, 2, 3)]
    source["api_server"]["vip"] = "fd00::100"
    source["network"] = {"service_cidr": "fd00:96::/112"}
    source["components"] = {"kube-controller-manager": {"cluster_cidr": "fd01::/56"}}  # pods in the nodes' family
    cluster = tmp_path / "ipv6-only.yaml"
    cluster.write_text(yaml.safe_dump(source))
    out = run_invoke("deploy", "--cluster", str(cluster), "--dry-run").stdout
    urls = re.findall(r"https?://[^\s'\"/,]+", out)
    assert urls
    for url in urls:
        host = url.split("://", 1)[1]
        assert host.startswith("[") or "::" not in host, url
    assert "https://[fd00::1]:6443/healthz" in out and "https://[fd00::100]:8443/" in out
