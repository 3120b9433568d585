"""Build the site: one MkDocs build per cluster into site/clusters/<name>/ and a small top build into site/.

Why per cluster: MkDocs' cost grew faster than the page count (every page's navigation listed every cluster, and
mkdocs-static-i18n's search pass compares every zh entry with every en entry), and one site rebuilt everything for
one changed cluster. A cluster's build now holds only its own pages, so its time and memory do not depend on how many
clusters there are, and its stamp (generator/site/stamp.py) lets an unchanged cluster skip render, pages and MkDocs.

Builds run through MkDocs' Python API in this process and `jobs - 1` spawned workers (run_all), several clusters per
process: MkDocs, Material and jieba's dictionary are loaded once per process instead of once per cluster (a `mkdocs
build` process per cluster pays that start-up each time), and Material's templates are compiled once per process
(hooks.py). Workers live for the whole build: their peak RSS levels off (133 to 152 MiB over 16 builds; `invoke
bench` reports it at each fleet size). They are not recycled after N builds: ProcessPoolExecutor's
max_tasks_per_child deadlocks on Python 3.11–3.13 once a worker retires with builds still queued (CPython gh-115634;
it hung `invoke bench` at 100 clusters on 2 cores, 32 builds per worker).
A script that calls build_site needs the `if __name__ == "__main__":` guard: workers are spawned, not forked (a
forked worker would inherit whatever the caller holds, locks included).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import logging
import multiprocessing
import os
import queue
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

import yaml

from generator import catalog, notebooks, run_records
from generator.errors import RunbookError
from generator.lock import waiting_lock
from generator.model import REPO, Cluster
from generator.render import render
from generator.site import all_clusters, assets, cluster_pages, top_pages, write_tree
from generator.site.last_run import RUN_PAGES, run_pages
from generator.site.layout import CLUSTER_KEY, CLUSTERS, DEFAULT, NOTEBOOKS, START, TOP_LINK, cluster_path
from generator.site.scripts_page import PAGE as SCRIPTS_PAGE
from generator.site.stamp import STAMP, cluster_stamp, generator_fingerprint, matches, pages_stamp
from generator.site.words import WORDS

SITE = REPO / "site"
STAGING = REPO / "build" / ".site"
SHARED = "shared-assets"  # in the staging directory: share_assets
LOCK = "site.lock"  # in the staging directory
# how the navigation names the link back to the top site (mkdocs.yml's nav_translations has the zh words)
BACK = "Clusters"


class SiteError(RunbookError):
    """A build MkDocs refused (strict mode: a warning is an error)."""


@dataclass
class SiteReport:
    rebuilt: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    top_rebuilt: bool = False

    def summary(self) -> str:
        """One line: what was rebuilt, skipped and removed."""
        parts = [f"rebuilt {len(self.rebuilt)} cluster(s)" + (f" ({', '.join(self.rebuilt)})" if self.rebuilt else ""),
                 f"{len(self.skipped)} unchanged", f"home pages {'rebuilt' if self.top_rebuilt else 'unchanged'}"]
        if self.removed:
            parts.append(f"removed {', '.join(self.removed)}")
        return "site: " + ", ".join(parts)


def build_docs(runs_root: Path, jobs: int | None, out: TextIO, site_url: str = "") -> None:
    """`invoke build-docs`: every cluster file's site and the home pages (Reported when the notebooks drifted: the
    site publishes them)."""
    notebooks.check()
    report = build_site(all_clusters(), SITE, runs_root, jobs, site_url=site_url)
    out.write(f"{report.summary()}\nsite built: {SITE}/index.html (serve it: invoke serve-docs)\n")


def nav(cluster: Cluster, runs_root: Path) -> list:
    """The cluster's own pages, and a way back to the top site (made page-relative by generator/site/hooks.py)."""
    chapters = catalog.chapters(cluster)
    items: list = ["index.md", f"{START}.md", *(f"{ch.page}.md" for ch in chapters), f"{SCRIPTS_PAGE}.md"]
    runs = run_pages(cluster, chapters, runs_root)
    if runs:
        items.append({"Last run": [f"{RUN_PAGES}/{page}.md" for page in runs]})
    return [*items, {BACK: TOP_LINK}]


def site_address(url: str) -> str:
    """The address the site is served at (`--site-url`), ending in `/`; "" when not given."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SiteError(f"--site-url {url!r}: expected the site's address, e.g. https://runbooks.example.internal/k8s/")
    return url if url.endswith("/") else f"{url}/"


def write_config(path: Path, docs: Path, site: Path, pages: list | None = None, cluster: str = "",
                 site_url: str = "") -> Path:
    """mkdocs.yml with this build's directories (absolute), its navigation when given, and for a cluster's build
    its name (in every page's title and header) and address."""
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    config.update(docs_dir=str(docs), site_dir=str(site), hooks=[str(REPO / "generator" / "site" / "hooks.py")])
    if pages:
        config["nav"] = pages
        # the link back to the top site is outside this build's docs: MkDocs reports it, as information
        config["validation"] = {"nav": {"not_found": "info"}}
    if cluster:
        config["extra"][CLUSTER_KEY] = cluster
        i18n = next(p["i18n"] for p in config["plugins"] if isinstance(p, dict) and "i18n" in p)
        for language in i18n["languages"]:
            language["site_name"] = WORDS[language["locale"]]["cluster_site"].format(cluster=cluster)
        site_url = site_url and f"{site_url}{cluster_path(cluster, DEFAULT)}"
    if site_url:
        config["site_url"] = site_url
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def mkdocs_build(config: Path, what: str) -> None:
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import MkDocsException

    logging.getLogger("mkdocs").setLevel(logging.WARNING)
    try:
        build(load_config(str(config)))
    except MkDocsException as err:
        raise SiteError(f"MkDocs refused the site of {what}: {err}") from None


def share_assets(built: Path, store: Path) -> None:
    """Every build carries the same theme files (2.6 MB; 260 MB at 100 clusters): each becomes a hard link to one
    copy in `store`, named by its content, so the disk holds the theme once. The first build's copy becomes the
    shared one; builds running at once race safely (link creation is atomic). Where links cannot be made (`store` on
    another file system), the copies stay."""
    store.mkdir(parents=True, exist_ok=True)
    for path in sorted((built / "assets").rglob("*")):
        if not path.is_file():
            continue
        shared = store / hashlib.sha256(path.read_bytes()).hexdigest()
        try:
            os.link(path, shared)
        except FileExistsError:
            temp = path.with_name(f".{path.name}.link")
            temp.unlink(missing_ok=True)
            os.link(shared, temp)
            temp.replace(path)
        except OSError:
            return


def prune_shared(store: Path) -> None:
    """Shared theme files no build links to any more (an older Material's)."""
    for path in store.iterdir() if store.exists() else []:
        if path.stat().st_nlink == 1:
            path.unlink()


def replace_dir(new: Path, old: Path) -> None:
    """Put the built `new` where `old` was: two renames, so the old sub-site stays whole until the new one is."""
    trash = old.with_name(f".{old.name}.old")
    shutil.rmtree(trash, ignore_errors=True)
    if old.exists():
        old.rename(trash)
    new.rename(old)
    shutil.rmtree(trash, ignore_errors=True)


def build_cluster(cluster: Cluster, site_dir: Path, runs_root: Path, staging: Path, fingerprint: str,
                  site_url: str) -> None:
    """Render one cluster, stage its pages and build its sub-site; the stamp goes in last."""
    artifacts = render(cluster).artifacts
    docs = staging / CLUSTERS / cluster.name
    write_tree(docs, cluster_pages(cluster, runs_root, artifacts) | assets())
    target = site_dir / CLUSTERS / cluster.name
    temp = target.with_name(f".{cluster.name}.tmp")
    shutil.rmtree(temp, ignore_errors=True)
    config = write_config(staging / CLUSTERS / f"{cluster.name}.yml", docs, temp, nav(cluster, runs_root),
                          cluster.name, site_url)
    mkdocs_build(config, cluster.name)
    share_assets(temp, staging / SHARED)
    replace_dir(temp, target)
    # computed after the render, which may have written build/<name>/: the next build compares against this
    (target / STAMP).write_text(cluster_stamp(cluster, fingerprint, runs_root), encoding="utf-8")


def top_nav(files: dict[str, str]) -> list:
    """The home page, the way in, the version facts, and the notebooks in chapter order."""
    notebooks = [f"{NOTEBOOKS}/{i}.md" for i in catalog.chapter_ids() if f"{NOTEBOOKS}/{i}.ipynb" in files]
    return ["index.md", f"{START}.md", "versions.md", {"Notebooks": notebooks}]


def build_top(files: dict[str, str], stamp: str, site_dir: Path, staging: Path, site_url: str) -> None:
    """The top build (home pages, the way in, version facts, notebooks) into site/, beside clusters/."""
    docs, built = staging / "top", staging / "top-site"
    write_tree(docs, files)
    shutil.rmtree(built, ignore_errors=True)
    mkdocs_build(write_config(staging / "top.yml", docs, built, top_nav(files), site_url=site_url), "the home pages")
    share_assets(built, staging / SHARED)
    site_dir.mkdir(parents=True, exist_ok=True)
    (site_dir / STAMP).unlink(missing_ok=True)
    for entry in site_dir.iterdir():
        if entry.name != CLUSTERS and not (built / entry.name).exists():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for entry in built.iterdir():
        target = site_dir / entry.name
        if target.is_dir():
            replace_dir(entry, target)
        else:
            entry.replace(target)
    (site_dir / STAMP).write_text(stamp, encoding="utf-8")


def remove_stale(names: set[str], site_dir: Path, staging: Path) -> list[str]:
    """Sub-sites (and staged sources) of clusters whose file is gone, and leftovers of interrupted builds."""
    removed = []
    for root in (site_dir / CLUSTERS, staging / CLUSTERS):
        for entry in sorted(root.iterdir()) if root.exists() else []:
            if entry.name.removesuffix(".yml") in names:
                continue
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
            if root == site_dir / CLUSTERS and not entry.name.startswith("."):
                removed.append(entry.name)
    return removed


def build_site(clusters: list[Cluster], site_dir: Path, runs_root: Path, jobs: int | None = None,
               staging: Path | None = None, site_url: str = "") -> SiteReport:
    """Render (when needed), write the pages and build every cluster's sub-site whose stamp differs, and the top
    site when its pages changed. `jobs`: worker processes (default: the machine's cores). `site_url`: the address
    the site will be served at, if known (the 404 page and the sitemaps need it: generator/site/hooks.py)."""
    site_url = site_address(site_url)
    staging = staging or STAGING
    staging.mkdir(parents=True, exist_ok=True)
    # two builds at once would remove each other's staged pages and sub-sites: the second waits, then finds the
    # first one's work done (the stamps)
    with waiting_lock(staging / LOCK, f"the site's staging directory {staging}", None):
        return build_locked(clusters, site_dir, runs_root, jobs, staging, site_url)


def build_locked(clusters: list[Cluster], site_dir: Path, runs_root: Path, jobs: int | None,
                 staging: Path, site_url: str) -> SiteReport:
    fingerprint = generator_fingerprint(site_url)
    todo = [c for c in clusters
            if not matches(site_dir / CLUSTERS / c.name, cluster_stamp(c, fingerprint, runs_root))]
    # Every run record a page will show is read and validated before anything is removed or written: a bad one is
    # one line naming its file, and the site stays as it was. (A sub-site whose stamp matches was built from the
    # very same record.)
    top = top_pages(clusters, runs_root)
    for cluster in todo:
        run_records.check(cluster, [chapter.page for chapter in catalog.chapters(cluster)], runs_root)
    top_stamp = pages_stamp(top, fingerprint)
    top_rebuilt = not matches(site_dir, top_stamp)
    report = SiteReport(removed=remove_stale({c.name for c in clusters}, site_dir, staging), top_rebuilt=top_rebuilt)
    report.rebuilt = [c.name for c in todo]
    report.skipped = [c.name for c in clusters if c.name not in report.rebuilt]
    tasks = [(build_cluster, (c, site_dir, runs_root, staging, fingerprint, site_url)) for c in todo]
    if report.top_rebuilt:
        tasks.append((build_top, (top, top_stamp, site_dir, staging, site_url)))
    run_all(tasks, min(jobs or os.cpu_count() or 1, len(tasks)))
    prune_shared(staging / SHARED)
    return report


def run_all(tasks: list[tuple[Callable[..., None], tuple]], workers: int) -> None:
    """Run every task on `workers` processes, this one among them: `workers - 1` are spawned and kept busy by a
    thread here, while this process takes tasks from the same queue (a spawned worker costs ~2 s CPU of imports and
    first-build warm-up, ~15 % of a 10-cluster site on 2 cores). After a failure no task starts; the first error is
    raised once those running have ended."""
    pending: queue.SimpleQueue = queue.SimpleQueue()
    for task in tasks:
        pending.put(task)
    failed = threading.Event()
    errors: list[BaseException] = []

    def next_task() -> tuple[Callable[..., None], tuple] | None:
        try:
            return None if failed.is_set() else pending.get_nowait()
        except queue.Empty:
            return None

    def keep_busy(pool: concurrent.futures.Executor, size: int) -> None:
        running: set[concurrent.futures.Future] = set()
        while True:
            while len(running) < size and (task := next_task()) is not None:
                running.add(pool.submit(task[0], *task[1]))
            if not running:
                return
            done, running = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in done:
                if future.exception() is not None:
                    errors.append(future.exception())
                    failed.set()

    with contextlib.ExitStack() as stack:
        if workers > 1:
            pool = stack.enter_context(concurrent.futures.ProcessPoolExecutor(
                workers - 1, mp_context=multiprocessing.get_context("spawn")))
            dispatcher = threading.Thread(target=keep_busy, args=(pool, workers - 1), daemon=True)
            dispatcher.start()
            stack.callback(dispatcher.join)
        while (task := next_task()) is not None:
            try:
                task[0](*task[1])
            except BaseException:
                failed.set()
                raise
    if errors:
        raise errors[0]
