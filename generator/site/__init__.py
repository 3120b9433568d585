"""Runbook pages (Markdown for MkDocs Material, zh and en) written from the catalog, the artifacts and run records.

docs/ holds committed sources (the version facts, assets/) beside what this package writes: docs/index.*.md,
docs/clusters/ and docs/notebooks/. Files are written only when their text changed and stale ones are removed, so
`mkdocs serve` (watching docs/) rebuilds once per real change.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from generator import catalog
from generator.model import CLUSTERS_DIR, REPO, Cluster, load
from generator.render import make_artifacts, render
from generator.runs import RUNS
from generator.site.chapter import chapter_page
from generator.site.last_run import RUN_PAGES, run_pages
from generator.site.overview import home_page, overview_page
from generator.site.words import LANGS

DOCS = REPO / "docs"
GENERATED = ("clusters", "notebooks", "index.zh.md", "index.en.md")
# Set by `invoke serve-docs`: the MkDocs hook (generator/site/hooks.py) refreshes the pages before each build.
SERVE_ENV = "RUNBOOK_SERVE"


def cluster_pages(cluster: Cluster, runs_root: Path) -> dict[str, str]:
    """Path under docs/clusters/<name>/ → text, for one cluster: pages in both languages and public files."""
    artifacts = {a.path: a for a in make_artifacts(cluster)[0]}
    chapters = catalog.chapters(cluster)
    files: dict[str, str] = {}
    for chapter in chapters:
        for step in chapter.steps:
            for show in step.shows:
                for _, path in show.paths:
                    if not artifacts[path].public or ".." in PurePosixPath(path).parts or path.startswith("/"):
                        raise ValueError(f"{path} is shown on a page but is not a public artifact "
                                         "(artifacts.PUBLIC); secrets never reach docs/")
                    files[f"files/{path}"] = artifacts[path].content.decode()
    for lang in LANGS:
        files[f"index.{lang}.md"] = overview_page(cluster, chapters, lang, runs_root)
        for chapter in chapters:
            files[f"{chapter.page}.{lang}.md"] = chapter_page(chapter, artifacts, cluster, lang)
    for page, texts in run_pages(cluster, chapters, runs_root).items():
        for lang, text in texts.items():
            files[f"{RUN_PAGES}/{page}.{lang}.md"] = text
    return files


def write_site_sources(clusters: list[Cluster], docs: Path = DOCS, runs_root: Path = RUNS) -> list[Path]:
    """Write the generated part of `docs` (and, for another directory than docs/, copy the committed part).
    Returns the pages written."""
    wanted: dict[Path, str] = {}
    for lang in LANGS:
        wanted[docs / f"index.{lang}.md"] = home_page(clusters, lang, runs_root)
    for cluster in clusters:
        for rel, text in cluster_pages(cluster, runs_root).items():
            wanted[docs / "clusters" / cluster.name / rel] = text
    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        wanted[docs / "notebooks" / notebook.name] = notebook.read_text(encoding="utf-8")
    if docs.resolve() != DOCS.resolve():
        for source in DOCS.rglob("*"):
            rel = source.relative_to(DOCS)
            if source.is_file() and rel.parts[0] not in GENERATED:
                wanted[docs / rel] = source.read_text(encoding="utf-8")
    for root in (docs / "clusters", docs / "notebooks"):
        for stale in [p for p in root.rglob("*") if p.is_file() and p not in wanted] if root.exists() else []:
            stale.unlink()
    for path, text in wanted.items():
        write(path, text)
    return [p for p in wanted if p.suffix == ".md"]


def write(path: Path, text: str) -> Path:
    """Write only a changed text: unchanged files keep their mtime and do not wake `mkdocs serve` again."""
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path


def all_clusters() -> list[Cluster]:
    return [load(str(p)) for p in sorted(CLUSTERS_DIR.glob("*.yaml"))]


def refresh(runs_root: Path = RUNS) -> None:
    """Render every cluster and rewrite the pages: `invoke serve-docs` runs this before every rebuild."""
    clusters = all_clusters()
    for cluster in clusters:
        render(cluster)
    write_site_sources(clusters, runs_root=runs_root)


def mkdocs_config(root: Path, docs: Path, site: Path) -> Path:
    """An mkdocs.yml for pages written elsewhere (bench, tests): the project's, with absolute paths."""
    config = root / "mkdocs.yml"
    config.write_text(f"INHERIT: {REPO / 'mkdocs.yml'}\ndocs_dir: {docs}\nsite_dir: {site}\n"
                      f"hooks:\n  - {REPO / 'generator' / 'site' / 'hooks.py'}\n", encoding="utf-8")
    return config


__all__ = ["DOCS", "all_clusters", "chapter_page", "mkdocs_config", "refresh", "write_site_sources"]
