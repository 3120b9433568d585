"""The CIS step's facts against kube-bench's own cfg/ tree (its Go module, which the lab's build fetches too): the
benchmark each release is checked against, and the id each explained check has in each benchmark."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from generator import kubebuild
from generator.components.verification import cis
from generator.kubebuild.toolchain import GoRunner
from generator.model import Verification
from generator.versions import every_minor

# What each explained check checks, as the benchmarks word it (ids move between benchmarks, words barely), written
# from the benchmarks' text apart from cis.EXPLAINED.
WORDS = {
    "etcd-data-owner": r"etcd data directory ownership is set to etcd:etcd",
    "admin-conf-mode": r"(admin\.conf|default administrative credential) file permissions",
    "admin-conf-owner": r"(admin\.conf|default administrative credential) file ownership",
    "pod-security-policy": r"admission control plugin PodSecurityPolicy is set",
    "scheduler-profiling": r"--profiling argument is set to false",
}
SECTION = {"scheduler-profiling": "1.4."}  # the scheduler's own; the other daemons have a profiling check too


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    module = f"github.com/aquasecurity/kube-bench@v{Verification().kube_bench}"
    try:
        found = GoRunner(tmp_path_factory.mktemp("kube-bench") / "src").download(module)
    except kubebuild.Unavailable as err:
        pytest.skip(f"{module}: {err}")
    return Path(found["Dir"]) / "cfg"


def checks(cfg: Path, benchmark: str) -> dict[str, str]:
    """A benchmark's master checks: id → text."""
    master = yaml.safe_load((cfg / benchmark / "master.yaml").read_text(encoding="utf-8"))
    return {check["id"]: check["text"] for group in master["groups"] for check in group["checks"]}


def test_each_release_gets_the_benchmark_kube_bench_maps_it_to(cfg: Path) -> None:
    mapping = yaml.safe_load((cfg / "config.yaml").read_text(encoding="utf-8"))["version_mapping"]
    newest = max((k for k in mapping if re.fullmatch(r"1\.\d+", k)), key=lambda k: int(k.split(".")[1]))
    for release in every_minor():
        key = f"{release.major}.{release.minor}"
        # releases before kube-bench's first entry get its first benchmark, those after its last its last
        expected = mapping.get(key) or (mapping["1.15"] if release.minor < 15 else mapping[newest])
        assert cis.BENCHMARK.at(release) == expected, key


@pytest.mark.parametrize("benchmark", sorted({value for _, value in cis.BENCHMARK.changes}))
def test_each_explained_check_has_its_benchmarks_id(cfg: Path, benchmark: str) -> None:
    listed = checks(cfg, benchmark)
    found = {}
    for what, words in WORDS.items():
        ids = [i for i, text in listed.items() if re.search(words, text) and i.startswith(SECTION.get(what, ""))]
        assert len(ids) <= 1, (benchmark, what, ids)
        found.update({ids[0]: what} if ids else {})
    assert cis.explained(benchmark) == found


def test_the_page_explains_each_check_under_its_own_id() -> None:
    """1.16's benchmark (cis-1.6) fails PodSecurityPolicy as 1.2.16, 1.19's (cis-1.20) as 1.2.15; 1.25's has none."""
    assert cis.explained("cis-1.6")["1.2.16"] == cis.explained("cis-1.20")["1.2.15"] == "pod-security-policy"
    assert "pod-security-policy" not in cis.explained("cis-1.7").values()
    assert list(cis.explained("cis-1.12")) == ["1.1.12", "1.1.13", "1.1.14", "1.4.1"]
