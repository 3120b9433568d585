"""`invoke bench`: the site build against plain MkDocs, incremental rebuilds, notebooks against their steps, and a
cold render with RSA against ECDSA keys, measured side by side in one run on distinct clusters (generator.bench.fleet).

Each figure is CPU seconds of a process of its own and the descendants it waited for (generator.bench.measure), the
wall time beside it; pairs are measured one right after the other, and every pair is repeated, because these
machines are noisy: the report gives min / median / max of each ratio over the repeats, never a single run.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import yaml

from generator.artifacts import BUILD_DIR
from generator.bench import fleet
from generator.bench.measure import Sample, operation, run
from generator.model import REPO, load
from generator.site import mkdocs_config, single_site_sources

RESULTS = REPO / "bench" / "results.md"
# `invoke bench --scheduler` writes its own block (generator/bench/scheduler.py); the fleet's run keeps it.
SCHEDULER_BLOCK = ("<!-- bench-scheduler:begin -->", "<!-- bench-scheduler:end -->")


def spread(values: list[float], unit: str = "") -> str:
    return " / ".join(f"{v:.3g}{unit}" for v in (min(values), statistics.median(values), max(values)))


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in ("mkdocs", "mkdocs-material", "mkdocs-static-i18n"))
    return (f"{cpu}, {os.cpu_count()} cores, {mem} MiB; Python {platform.python_version()}; {versions}; "
            f"PYTHONDONTWRITEBYTECODE={os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r}")


def site_round(root: Path, count: int, jobs: int | None) -> dict[str, Sample]:
    """One repeat at `count` clusters: a build from nothing (every key generated), an unchanged rebuild, a rebuild
    after one field of one cluster changed, the site alone again from nothing (the artifacts rendered already), and
    plain MkDocs on the same pages right after that."""
    clusters_dir, site_dir, runs_dir, staging = root / "clusters", root / "site", root / "runs", root / "staging"

    def clean_site() -> None:
        for directory in (site_dir, staging, root / "plain-docs", root / "plain-site"):
            shutil.rmtree(directory, ignore_errors=True)

    clean_site()
    for name in fleet.names(count):
        shutil.rmtree(BUILD_DIR / name, ignore_errors=True)
    build = operation("build", clusters_dir=str(clusters_dir), site_dir=str(site_dir), runs_dir=str(runs_dir),
                      staging=str(staging), jobs=jobs)
    samples = {"cold": run(build), "unchanged": run(build)}
    fleet.change_one_field(clusters_dir / f"{fleet.names(count)[count // 2]}.yaml")
    samples["one_changed"] = run(build)
    clean_site()
    samples["site_cold"] = run(build)
    models = [load(str(p)) for p in sorted(clusters_dir.glob("*.yaml"))]
    single_site_sources(models, root / "plain-docs", runs_dir)
    config = mkdocs_config(root, root / "plain-docs", root / "plain-site")
    samples["plain"] = run([sys.executable, "-m", "mkdocs", "build", "--quiet", "-f", str(config)])
    return samples


def site_rows(counts: list[int], repeats: int, jobs: int | None, log: Callable[[str], None]) -> list[str]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="runbook-bench-") as tmp:
        for count in counts:
            root = Path(tmp) / str(count)
            fleet.write(root / "clusters", count)
            (root / "runs").mkdir()
            rounds = []
            for repeat in range(repeats):
                log(f"  {count} clusters, repeat {repeat + 1}/{repeats}")
                rounds.append(site_round(root, count, jobs))
            for name in fleet.names(count):
                shutil.rmtree(BUILD_DIR / name, ignore_errors=True)

            def cpu(key: str, rounds: list[dict[str, Sample]] = rounds) -> list[float]:
                return [r[key].cpu for r in rounds]

            def ratio(key: str, base: str) -> str:
                return spread([a / b for a, b in zip(cpu(key), cpu(base), strict=True)])

            site = cpu("site_cold")
            rows.append(
                f"| {count} | {ratio('site_cold', 'plain')} | {ratio('cold', 'plain')} | {spread(site, ' s')} "
                f"({spread([r['site_cold'].wall for r in rounds], ' s')} wall) | {spread(cpu('plain'), ' s')} | "
                f"{spread([c / count for c in site], ' s')} | {spread([r['cold'].rss_mib for r in rounds], ' MiB')} "
                f"| {ratio('unchanged', 'cold')} | {ratio('one_changed', 'cold')} |")
    return rows


def notebook_table(figures: dict[str, float | int | str]) -> str:
    """The kube-scheduler notebook's dry run against its steps in one process (generator.notebook_bench)."""
    steps = figures["steps_one_process_median_s"]
    return "\n".join([
        f"{figures['chapter']} chapter, {figures['steps']} steps, dry run, {figures['repeats']} repeats "
        "(min / median):",
        "",
        "| run | seconds | / steps in one process |",
        "|---|---|---|",
        f"| its steps in one new process | {figures['steps_one_process_min_s']:.2f} / {steps:.2f} | 1 |",
        f"| the notebook in deploy's kernel (every chapter after the first) | "
        f"{figures['notebook_deploy_kernel_min_s']:.2f} / {figures['notebook_deploy_kernel_median_s']:.2f} | "
        f"{figures['notebook_deploy_kernel_over_steps']:.2f} |",
        f"| the notebook in a new kernel (`papermill` by hand) | {figures['notebook_min_s']:.2f} / "
        f"{figures['notebook_median_s']:.2f} | {figures['notebook_over_steps']:.2f} |",
    ])


def render_rows(repeats: int) -> list[str]:
    """A cold render of one three-master cluster with RSA-2048 keys and with ECDSA P-256 keys, paired."""
    with tempfile.TemporaryDirectory(prefix="runbook-bench-keys-") as tmp:
        files = {}
        for algo, size in (("rsa", 2048), ("ecdsa", 256)):
            spec = dict(fleet.spec(0), name=f"{fleet.PREFIX}key-{algo}",
                        certificates={"key": {"algo": algo, "size": size}})
            files[algo] = Path(tmp) / f"{algo}.yaml"
            files[algo].write_text(yaml.safe_dump(spec), encoding="utf-8")
        samples: dict[str, list[Sample]] = {"rsa": [], "ecdsa": []}
        try:
            for _ in range(repeats):
                for algo, path in files.items():
                    samples[algo].append(run(operation("render-cold", cluster_file=str(path))))
        finally:
            for algo in files:
                shutil.rmtree(BUILD_DIR / f"{fleet.PREFIX}key-{algo}", ignore_errors=True)
    rsa, ecdsa = ([s.cpu for s in samples[a]] for a in ("rsa", "ecdsa"))
    return [f"| RSA-2048 | {spread(rsa, ' s')} | 1 |",
            f"| ECDSA P-256 | {spread(ecdsa, ' s')} | {spread([e / r for e, r in zip(ecdsa, rsa, strict=True)])} |"]


def bench(counts: list[int], repeats: int = 3, jobs: int | None = None,
          log: Callable[[str], None] = print) -> str:
    """Measure everything, write bench/results.md, return its text."""
    from generator.notebook_bench import notebook_vs_steps

    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    log("site builds")
    site = site_rows(counts, repeats, jobs, log)
    log("notebook against its steps")
    notebook = notebook_vs_steps("kube-scheduler", repeats=repeats)
    log("cold renders, RSA against ECDSA")
    keys = render_rows(repeats)
    command = (f"invoke bench --clusters {','.join(map(str, counts))} --repeats {repeats}"
               + (f" --jobs {jobs}" if jobs else ""))
    text = "\n".join([
        "# Benchmark results",
        "",
        f"`{command}`, {started}. Machine: {machine()}.",
        "",
        "Every figure is min / median / max over the repeats; ratios are taken per repeat, from two runs made one "
        "right after the other. CPU seconds include every process the measured one waited for (MkDocs workers).",
        "",
        "## The site: `build-docs` against plain MkDocs on the same pages",
        "",
        "`site` is `build-docs` with the artifacts already rendered and no site yet (what the generator adds to "
        "MkDocs); `from nothing` renders every cluster first, generating its keys (see the last table). Rebuilds are "
        "measured against the build from nothing.",
        "",
        "| clusters | site / plain MkDocs (CPU) | from nothing / plain MkDocs | site, CPU | plain MkDocs, CPU "
        "| site CPU per cluster | peak RSS (largest process) | unchanged rebuild / cold | one cluster changed / cold |",
        "|---|---|---|---|---|---|---|---|---|",
        *site,
        "",
        "## A notebook against its steps",
        "",
        notebook_table(notebook),
        "",
        "## A cold render of one three-master cluster",
        "",
        "| keys | CPU | / RSA |",
        "|---|---|---|",
        *keys,
        "",
    ])
    RESULTS.parent.mkdir(exist_ok=True)
    # another benchmark's figures, from another run: kept as they are
    kept = scheduler_block(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else ""
    RESULTS.write_text(text + (f"\n{kept}\n" if kept else ""), encoding="utf-8")
    return text


def scheduler_block(text: str) -> str:
    """The scheduler's part of the results, its heading included (written by generator/bench/scheduler.py); ''
    when `text` has none."""
    begin, end = SCHEDULER_BLOCK
    if begin not in text or end not in text.split(begin, 1)[1]:
        return ""
    start = text.index(begin)
    return text[start:text.index(end, start) + len(end)]
