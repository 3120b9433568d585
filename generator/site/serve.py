"""`invoke serve-docs`: site/ on 127.0.0.1, rebuilt (only what changed) when a source changes.

A poll of file times, not MkDocs' server: site/ is several MkDocs builds, and `mkdocs serve` serves one. What is lost
is live reload: after a rebuild the reader reloads the page."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from generator.browser import serve as serve_directory
from generator.errors import RunbookError
from generator.model import CLUSTERS_DIR, REPO, ClusterFileError
from generator.site import all_clusters
from generator.site.build import SITE, SiteReport, build_site

WATCHED = (CLUSTERS_DIR, REPO / "generator", REPO / "docs", REPO / "notebooks", REPO / "mkdocs.yml")
POLL_SECONDS = 1.0


def snapshot(roots: tuple[Path, ...]) -> dict[Path, int]:
    """Every watched file's mtime: a changed, added or removed file changes the snapshot."""
    files = [p for root in roots for p in ([root] if root.is_file() else root.rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts]
    return {p: p.stat().st_mtime_ns for p in files}


def rebuild(runs_root: Path, report: Callable[[SiteReport], None]) -> None:
    try:
        report(build_site(all_clusters(), SITE, runs_root))
    except ClusterFileError as err:  # the last good sub-sites stay served
        print(f"invalid cluster file (nothing rebuilt):\n{err}", flush=True)
    except RunbookError as err:  # e.g. MkDocs refused a page: that cluster keeps its last good sub-site
        print(f"error: {err}", flush=True)


def serve(port: int, runs_root: Path, report: Callable[[SiteReport], None]) -> None:
    """Build, serve and rebuild on change until interrupted."""
    seen = snapshot(WATCHED)
    rebuild(runs_root, report)
    with serve_directory(SITE, port) as url:
        print(f"serving {SITE} at {url} (Ctrl-C stops)", flush=True)
        try:
            while True:
                time.sleep(POLL_SECONDS)
                now = snapshot(WATCHED)
                if now != seen:
                    seen = now
                    rebuild(runs_root, report)
        except KeyboardInterrupt:
            pass
