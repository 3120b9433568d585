"""build_site (generator/site/build.py): one MkDocs build per cluster, redone only when that cluster's inputs changed.

Two clusters made from the example are built into a temp site by the real render, page writer and MkDocs (two
worker processes); each test changes one input and reads the report and the files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from generator.artifacts import BUILD_DIR
from generator.model import Cluster, load
from generator.site import mkdocs_config, single_site_sources
from generator.site.build import SiteReport, build_site, run_all
from generator.site.stamp import STAMP
from tests.conftest import REPO, cluster_file, tree_digest

NAMES = ("site-inc-a", "site-inc-b")


@dataclass
class Area:
    files: dict[str, Path]
    runs: Path
    site: Path
    staging: Path

    def clusters(self, names: tuple[str, ...] = NAMES) -> list[Cluster]:
        return [load(str(self.files[name])) for name in names]

    def build(self, names: tuple[str, ...] = NAMES) -> SiteReport:
        return build_site(self.clusters(names), self.site, self.runs, jobs=2, staging=self.staging)

    def sub_site(self, name: str) -> Path:
        return self.site / "clusters" / name


@pytest.fixture(scope="module")
def area(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("site-build")
    (root / "runs").mkdir()
    yield Area({name: cluster_file(root, name) for name in NAMES}, root / "runs", root / "site", root / "staging")
    for name in NAMES:
        shutil.rmtree(BUILD_DIR / name, ignore_errors=True)


@pytest.fixture(scope="module")
def cold(area: Area) -> SiteReport:
    return area.build()


def test_a_cold_build_builds_every_cluster_and_the_top(area: Area, cold: SiteReport):
    assert sorted(cold.rebuilt) == sorted(NAMES) and cold.skipped == [] and cold.top_rebuilt
    for name in NAMES:
        for page in ("index.html", "en/index.html", "search/search_index.json", "en/search/search_index.json", STAMP):
            assert (area.sub_site(name) / page).is_file(), f"{name}: {page} missing"
    assert (area.site / "index.html").is_file() and (area.site / "en" / "index.html").is_file()
    assert not list(area.site.glob("clusters/.*")), "a temp directory of a build was left behind"


def test_the_theme_is_on_disk_once(area: Area, cold: SiteReport):
    bundles = [next(root.glob("assets/javascripts/bundle.*.js")) for root in
               (area.site, *(area.sub_site(name) for name in NAMES))]
    assert len({b.read_bytes() for b in bundles}) == 1
    assert len({b.stat().st_ino for b in bundles}) == 1, "each build holds its own copy of the theme"
    css = area.sub_site(NAMES[0]) / "assets" / "runbook.css"
    assert css.read_text() == (REPO / "docs" / "assets" / "runbook.css").read_text(), "a shared file lost its content"


def test_an_unchanged_build_rebuilds_nothing(area: Area, cold: SiteReport):
    before = tree_digest(area.site)
    report = area.build()
    assert report.rebuilt == [] and sorted(report.skipped) == sorted(NAMES) and not report.top_rebuilt
    assert tree_digest(area.site) == before, "an unchanged build rewrote files of the site"


def test_a_changed_cluster_file_rebuilds_only_that_cluster(area: Area, cold: SiteReport):
    other = tree_digest(area.sub_site(NAMES[1]))
    stamp = (area.sub_site(NAMES[0]) / STAMP).read_text()
    with area.files[NAMES[0]].open("a", encoding="utf-8") as fh:
        fh.write("# a comment changes the file's bytes\n")
    report = area.build()
    assert report.rebuilt == [NAMES[0]] and report.skipped == [NAMES[1]]
    assert not report.top_rebuilt, "the home pages' summary did not change"
    assert (area.sub_site(NAMES[0]) / STAMP).read_text() != stamp
    assert tree_digest(area.sub_site(NAMES[1])) == other


def test_a_deleted_artifact_is_rendered_again(area: Area, cold: SiteReport):
    artifact = BUILD_DIR / NAMES[1] / "environment.sh"
    assert artifact.is_file()
    artifact.unlink()
    report = area.build()
    assert report.rebuilt == [NAMES[1]] and report.skipped == [NAMES[0]]
    assert artifact.is_file()


def test_a_sub_site_without_its_stamp_is_built_again(area: Area, cold: SiteReport):
    # what an interrupted build leaves: the stamp is the last thing written
    (area.sub_site(NAMES[0]) / STAMP).unlink()
    report = area.build()
    assert report.rebuilt == [NAMES[0]] and (area.sub_site(NAMES[0]) / STAMP).is_file()


def test_the_single_tree_holds_the_same_pages(area: Area, cold: SiteReport, tmp_path: Path):
    """What the benchmark builds with one plain `mkdocs build`: the staged pages of each cluster, under clusters/."""
    docs = tmp_path / "docs"
    pages = single_site_sources(area.clusters(), docs, area.runs)
    for name in NAMES:
        staged = area.staging / "clusters" / name
        mds = sorted(p.relative_to(staged) for p in staged.rglob("*.md"))
        assert mds and all((docs / "clusters" / name / rel).read_text() == (staged / rel).read_text() for rel in mds)
        assert len([p for p in pages if f"clusters/{name}/" in p.as_posix()]) == len(mds)
    config = mkdocs_config(tmp_path, docs, tmp_path / "site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-f", str(config)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "site" / "clusters" / NAMES[0] / "index.html").is_file()


def test_a_removed_cluster_loses_its_sub_site(area: Area, cold: SiteReport):
    report = area.build(NAMES[:1])
    assert report.removed == [NAMES[1]] and report.skipped == [NAMES[0]] and report.top_rebuilt
    assert not area.sub_site(NAMES[1]).exists() and not (area.staging / "clusters" / NAMES[1]).exists()
    assert NAMES[1] not in (area.site / "index.html").read_text(encoding="utf-8")
    assert NAMES[0] in (area.site / "index.html").read_text(encoding="utf-8")


def record_pid(directory: Path, index: int) -> None:
    """A task for run_all: long enough that every process gets some, and says which process ran it."""
    time.sleep(0.3)
    (directory / str(index)).write_text(str(os.getpid()))


def fail(message: str) -> None:
    raise RuntimeError(message)


def test_run_all_runs_every_task_once_here_and_in_workers(tmp_path: Path):
    run_all([(record_pid, (tmp_path, i)) for i in range(12)], workers=3)
    ran = {p.name: p.read_text() for p in tmp_path.iterdir()}
    assert sorted(ran, key=int) == [str(i) for i in range(12)]
    pids = set(ran.values())
    assert str(os.getpid()) in pids, "the calling process took tasks too"
    assert len(pids) == 3, f"two spawned workers and this process: {pids}"


def test_run_all_starts_nothing_after_a_failure(tmp_path: Path):
    with pytest.raises(RuntimeError, match="boom"):
        run_all([(fail, ("boom",)), *[(record_pid, (tmp_path, i)) for i in range(20)]], workers=1)
    assert not list(tmp_path.iterdir()), "tasks queued after the failed one ran"
    with pytest.raises(RuntimeError, match="worker"):
        tasks = [(record_pid, (tmp_path, 0)), (fail, ("worker",)), *[(record_pid, (tmp_path, i)) for i in range(1, 40)]]
        run_all(tasks, workers=2)
    assert len(list(tmp_path.iterdir())) < 40, "every task ran although one had failed"


def test_a_second_build_waits_for_the_first(area: Area, cold: SiteReport):
    from filelock import FileLock

    from generator.site.build import LOCK

    script = ("import sys; from pathlib import Path; from generator.model import load; "
              "from generator.site.build import build_site; "
              "r = build_site([load(a) for a in sys.argv[1:3]], Path(sys.argv[3]), Path(sys.argv[4]), jobs=2, "
              "staging=Path(sys.argv[5])); print(len(r.rebuilt) + len(r.skipped))")
    args = [*(str(area.files[n]) for n in NAMES), str(area.site), str(area.runs), str(area.staging)]
    lock = FileLock(area.staging / LOCK)
    with lock:
        build = subprocess.Popen([sys.executable, "-c", script, *args], cwd=REPO, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = build.stderr.readline()
        assert f"in use by pid {os.getpid()}" in line and "waiting" in line, line
        time.sleep(1)
        assert build.poll() is None, "the second build did not wait"
    out, err = build.communicate(timeout=300)
    assert build.returncode == 0, err
    assert out.strip() == "2", out
    assert all((area.sub_site(name) / "index.html").is_file() for name in NAMES)


def test_the_theme_listing_kept_for_the_process_is_mkdocs_own(tmp_path: Path):
    """generator/site/hooks.py keeps MkDocs' listing of the theme's files for the process; each build must still get
    exactly what MkDocs' own add_files_from_theme gives it, a docs file of the same path winning over the theme's."""
    from mkdocs.config import load_config
    from mkdocs.structure.files import File, Files

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "index.md").write_text("# x\n", encoding="utf-8")
    config = load_config(str(mkdocs_config(tmp_path, docs, tmp_path / "site")))  # loads the hooks
    env = config.theme.get_env()
    own = Files([])
    Files.add_files_from_theme.__wrapped__(own, env, config)  # MkDocs' own method, kept by the hooks
    overridden = next(f.src_uri for f in own if f.src_uri.endswith(".css"))
    expected = sorted((f.src_uri, f.abs_src_path) for f in own if f.src_uri != overridden)
    for _ in range(2):  # the first build of a process lists the theme, the next ones reuse the listing
        docs_file = File(overridden, str(docs), config.site_dir, config.use_directory_urls)
        files = Files([docs_file])
        files.add_files_from_theme(env, config)
        assert files.get_file_from_path(overridden) is docs_file
        assert sorted((f.src_uri, f.abs_src_path) for f in files if f is not docs_file) == expected
    assert len(expected) > 20, "Material ships its assets as theme files"
