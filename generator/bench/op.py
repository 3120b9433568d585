"""The benchmark's operations, each run in a process of its own (generator.bench.measure.run) so that its CPU time
and peak memory are its own: `python -m generator.bench.op <name> '<json arguments>'`."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from generator.artifacts import build_dir
from generator.model import load


def build(clusters_dir: str, site_dir: str, runs_dir: str, staging: str, jobs: int | None = None) -> dict[str, object]:
    """What `invoke build-docs` does, for the clusters in clusters_dir."""
    from generator.site.build import build_site

    clusters = [load(str(p)) for p in sorted(Path(clusters_dir).glob("*.yaml"))]
    report = build_site(clusters, Path(site_dir), Path(runs_dir), jobs=jobs, staging=Path(staging))
    return {"rebuilt": len(report.rebuilt), "skipped": len(report.skipped)}


def render_cold(cluster_file: str) -> dict[str, object]:
    """A first render of one cluster: its build directory is removed first, so every key is generated."""
    from generator.render import render

    cluster = load(cluster_file)
    shutil.rmtree(build_dir(cluster), ignore_errors=True)
    render(cluster)
    return {"algo": cluster.spec.certificates.key.algo}


OPERATIONS = {"build": build, "render-cold": render_cold}

if __name__ == "__main__":
    name, args = sys.argv[1], json.loads(sys.argv[2])
    print(json.dumps(OPERATIONS[name](**args)))
