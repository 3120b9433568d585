"""Side-by-side timings in one run: what the generator adds to MkDocs, and what a re-render costs."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from generator.artifacts import BUILD_DIR
from generator.model import CLUSTERS_DIR, Cluster, load
from generator.render import render
from generator.site import mkdocs_config, write_site_sources


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench(clusters: int = 10) -> dict[str, float]:
    """Render `clusters` copies of the example cold and warm, write their pages, build them with MkDocs."""
    base = yaml.safe_load((CLUSTERS_DIR / "example.yaml").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="runbook-bench-") as tmp:
        root = Path(tmp)
        models: list[Cluster] = []
        for i in range(clusters):
            spec = dict(base, name=f"bench-{i:03d}")
            path = root / f"bench-{i:03d}.yaml"
            path.write_text(yaml.safe_dump(spec), encoding="utf-8")
            models.append(load(str(path)))
        try:
            cold = timed(lambda: [render(m) for m in models])
            warm = timed(lambda: [render(m) for m in models])
            docs = root / "docs"
            pages = timed(lambda: write_site_sources(models, docs))
            config = mkdocs_config(root, docs, root / "site")
            mkdocs = timed(lambda: subprocess.run(
                [sys.executable, "-m", "mkdocs", "build", "--quiet", "-f", str(config)], check=True,
                capture_output=True,
            ))
        finally:
            for model in models:
                shutil.rmtree(BUILD_DIR / model.name, ignore_errors=True)
    return {"clusters": clusters, "render_cold_s": cold, "render_warm_s": warm, "warm_over_cold": warm / cold,
            "write_pages_s": pages, "mkdocs_build_s": mkdocs, "pages_over_mkdocs": pages / mkdocs}
