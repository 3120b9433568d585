"""Runbook pages (Markdown for MkDocs Material, zh and en) written from the catalog, the artifacts and run records.

The site is one small top build (home pages, version facts, notebooks) and one MkDocs build per cluster (see
generator/site/build.py). Each build's sources are staged in a directory of their own: the top one gets the committed
docs/ sources (version facts, assets/) beside the home pages; a cluster's gets its overview, chapters, last-run pages
and public files, plus assets/. Files are written only when their text changed and stale ones are removed.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from generator import catalog, scripts
from generator.artifacts import Artifact
from generator.model import REPO, Cluster, all_clusters
from generator.render import make_artifacts
from generator.runs import RUNS
from generator.site.chapter import chapter_page
from generator.site.last_run import RUN_PAGES, run_pages
from generator.site.layout import CLUSTERS, START
from generator.site.notebook_pages import every_chapter, notebook_files, notebook_pages
from generator.site.overview import home_page, overview_page
from generator.site.scripts_page import PAGE as SCRIPTS_PAGE
from generator.site.scripts_page import scripts_page
from generator.site.start import cluster_start_page, top_start_page
from generator.site.words import LANGS

DOCS = REPO / "docs"
# What older versions generated inside docs/: never taken for a committed source
GENERATED = ("clusters", "notebooks", "index.zh.md", "index.en.md")


def committed_docs() -> dict[str, str]:
    """docs/'s committed sources (version facts, assets/), by path relative to docs/."""
    return {p.relative_to(DOCS).as_posix(): p.read_text(encoding="utf-8") for p in sorted(DOCS.rglob("*"))
            if p.is_file() and p.relative_to(DOCS).parts[0] not in GENERATED}


def cluster_pages(cluster: Cluster, runs_root: Path, artifacts: list[Artifact] | None = None) -> dict[str, str]:
    """Path in the cluster's docs directory → text: pages in both languages and public files. `artifacts`: those a
    render just computed (else they are computed here, without writing)."""
    by_path = {a.path: a for a in (make_artifacts(cluster)[0] if artifacts is None else artifacts)}
    chapters = catalog.chapters(cluster)
    files: dict[str, str] = {}
    for chapter in chapters:
        for step in chapter.steps:
            for show in step.shows:
                for _, path in show.paths:
                    if not by_path[path].public or ".." in PurePosixPath(path).parts or path.startswith("/"):
                        raise ValueError(f"{path} is shown on a page but is not a public artifact "
                                         "(artifacts.PUBLIC); secrets never reach docs/")
                    files[f"files/{path}"] = by_path[path].content.decode()
    for script in scripts.scripts(cluster):
        files[f"files/{scripts.DIRECTORY}{script.name}"] = by_path[f"{scripts.DIRECTORY}{script.name}"].content.decode()
    every = every_chapter()
    for lang in LANGS:
        files[f"{SCRIPTS_PAGE}.{lang}.md"] = scripts_page(cluster, lang)
        files[f"index.{lang}.md"] = overview_page(cluster, chapters, lang, runs_root)
        files[f"{START}.{lang}.md"] = cluster_start_page(cluster, chapters, every, lang)
        for chapter in chapters:
            files[f"{chapter.page}.{lang}.md"] = chapter_page(chapter, by_path, cluster, lang)
    for page, texts in run_pages(cluster, chapters, runs_root).items():
        for lang, text in texts.items():
            files[f"{RUN_PAGES}/{page}.{lang}.md"] = text
    return files


def assets() -> dict[str, str]:
    """The site's own CSS and JavaScript, which every build (mkdocs.yml `extra_css`, `extra_javascript`) carries."""
    return {rel: text for rel, text in committed_docs().items() if rel.startswith("assets/")}


def top_pages(clusters: list[Cluster], runs_root: Path) -> dict[str, str]:
    """Path in the top build's docs directory → text: the home pages, the way in, the notebooks (as they are and as
    pages), docs/'s committed sources."""
    notebooks = notebook_files()
    files = {f"index.{lang}.md": home_page(clusters, lang, runs_root) for lang in LANGS}
    files |= {f"{START}.{lang}.md": top_start_page(clusters, every_chapter(notebooks), lang) for lang in LANGS}
    return files | notebook_pages(notebooks) | committed_docs()


def write_tree(root: Path, files: dict[str, str], keep: tuple[str, ...] = ()) -> None:
    """Make `root` hold exactly `files` (and whatever lies under the top-level names in `keep`)."""
    wanted = {root / rel for rel in files}
    for stale in sorted(root.rglob("*"), reverse=True) if root.exists() else []:
        if stale.relative_to(root).parts[0] in keep:
            continue
        if stale.is_file() and stale not in wanted:
            stale.unlink()
        elif stale.is_dir() and not any(stale.iterdir()):
            stale.rmdir()
    for rel, text in files.items():
        write(root / rel, text)


def write(path: Path, text: str) -> Path:
    """Write only a changed text: an unchanged file keeps its mtime."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path


def single_site_sources(clusters: list[Cluster], docs_dir: Path, runs_root: Path = RUNS) -> list[Path]:
    """The same pages as ONE plain MkDocs tree (the top pages, each cluster's under clusters/<name>/), for comparing
    against a plain `mkdocs build` (`mkdocs_config`). Links between the top and the clusters follow the per-cluster
    layout. Returns the pages written."""
    files = top_pages(clusters, runs_root)
    for cluster in clusters:
        files |= {f"{CLUSTERS}/{cluster.name}/{rel}": text for rel, text in cluster_pages(cluster, runs_root).items()}
    write_tree(docs_dir, files)
    return [docs_dir / rel for rel in files if rel.endswith(".md")]


def mkdocs_config(root: Path, docs: Path, site: Path) -> Path:
    """An mkdocs.yml for one plain tree written elsewhere (bench, tests): the project's, with absolute paths."""
    config = root / "mkdocs.yml"
    config.write_text(f"INHERIT: {REPO / 'mkdocs.yml'}\ndocs_dir: {docs}\nsite_dir: {site}\n"
                      f"hooks:\n  - {REPO / 'generator' / 'site' / 'hooks.py'}\n", encoding="utf-8")
    return config


__all__ = ["DOCS", "all_clusters", "assets", "chapter_page", "cluster_pages", "mkdocs_config", "single_site_sources",
           "top_pages", "write_tree"]
