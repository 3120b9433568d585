"""The user's verbs: each parses its arguments and calls one function of the generator package, which does the
work and prints what it found (a failure it reports raises errors.Reported: its message, exit status 1)."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from invoke import Context, Exit, task

# notebooks (nbformat), runs (it imports notebooks) and site (its run pages read notebooks) are imported by the
# tasks that use them: every step's `invoke render` is a process of its own and would import nbformat for nothing.
from generator import deploy as deployment
from generator import render, single_step
from generator.model import REPO, load

os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
PIPE_CLOSED = 141  # the exit status of a command whose reader went away (128 + SIGPIPE)


def friendly(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the generator's expected failures into one clear message and exit status 1, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            # The reader stopped reading (`invoke deploy --dry-run | head`). Nothing more can reach stdout, and the
            # interpreter's last flush would raise again: point it at /dev/null, then end as a program killed by
            # SIGPIPE ends for the shell (128 + 13). Python ignores SIGPIPE so that subprocess pipes raise instead.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise Exit(code=PIPE_CLOSED) from None
        except Exception as err:
            message = single_step.failure_message(err)
            if message is None:
                raise
            raise Exit(message, code=1) from None

    return wrapper


@task(name="render", help={"cluster": "cluster name under clusters/ or a path", "component": "only this component",
            "phase": "only this phase: ca, cert, kubeconfig, config, unit",
            "renew_all": "issue every leaf certificate again (same keys; the renewal chapter pushes them)"})
@friendly
def render_(c: Context, cluster: str = "example", component: str = "", phase: str = "",
            renew_all: bool = False) -> None:
    """Render a cluster's artifacts into build/<cluster>/ (idempotent: unchanged files are left alone, and a
    certificate is re-issued only when its spec changed or it expires within renew_before_days)."""
    print(render.render(load(cluster), component or None, phase or None, renew_all).report())


@task(name="rotate-ca", help={"cluster": "cluster name under clusters/ or a path",
                              "phase": "trust, reissue or drop (generator/rotation.py); only ever forward"})
@friendly
def rotate_ca(c: Context, cluster: str = "example", phase: str = "") -> None:
    """Enter a phase of the CA rotation the cluster file plans (render afterwards to write the phase's files)."""
    from generator import rotation

    for line in rotation.advance(load(cluster), phase):
        print(line)


@task(help={"cluster": "cluster name under clusters/ or a path",
            "fetch": "also copy each member's newest snapshot, the cluster file and the PKI to the workstation",
            "check_restore": "only check the snapshot the cluster file's restore section names"})
@friendly
def backups(c: Context, cluster: str = "example", fetch: bool = False, check_restore: bool = False) -> None:
    """Each etcd member's newest snapshot (OK, STALE, FAILED, MISSING) and the workstation's copy, one line each;
    exit status 1 when one needs action."""
    from generator import backups as etcd_backups

    etcd_backups.backups(load(cluster), fetch, check_restore, sys.stdout)


@task(name="notebooks", help={"check": "fail if the committed notebooks differ from the generator's"})
@friendly
def notebooks_(c: Context, check: bool = False) -> None:
    """Write notebooks/<chapter>.ipynb from the step catalog, or check them for drift."""
    from generator import notebooks

    if check:
        print(notebooks.check())
        return
    for name in notebooks.write():
        print(f"  wrote notebooks/{name}")


@task(help={"runs_dir": "take each cluster's last run record from this directory (default: runs/)",
            "jobs": "build this many clusters at once (default: the machine's cores)",
            "site_url": "the address the site is served at, e.g. https://runbooks.example.internal/k8s/: the 404 "
                        "page then works under that path, and sitemap.xml is written"})
@friendly
def build_docs(c: Context, runs_dir: str = "", jobs: int = 0, site_url: str = "") -> None:
    """Build site/: per cluster (render, zh/en pages, `mkdocs build --strict`) into site/clusters/<name>/ when its
    inputs changed, and the home pages into site/."""
    from generator import runs
    from generator.site.build import build_docs as build

    build(Path(runs_dir) if runs_dir else runs.RUNS, jobs or None, sys.stdout, site_url)


@task(help={"port": "port on 127.0.0.1", "runs_dir": "last run records from here (default: runs/)"})
@friendly
def serve_docs(c: Context, port: int = 8000, runs_dir: str = "") -> None:
    """Serve site/ on 127.0.0.1 and rebuild what changed when a cluster file, the generator, docs/ or the notebooks
    change (reload the page to see it: there is no live reload)."""
    from generator import runs
    from generator.site.serve import serve

    serve(port, Path(runs_dir) if runs_dir else runs.RUNS, lambda report: print(report.summary(), flush=True))


@task(help={"out": "directory for the PNGs (default: screenshots/, which the README shows)"})
@friendly
def screenshots(c: Context, out: str = "screenshots") -> None:
    """Screenshots of the built site (run build-docs first) in Debian's Chromium: overview and kube-scheduler
    chapter of the example cluster, zh and en."""
    from generator import browser

    for path in browser.screenshots(REPO / out):
        print(f"  wrote {path.relative_to(REPO)}")


@task(help={"step": "step id, e.g. kube-scheduler.health", "dry_run": "print the commands only",
            "nodes": "comma-separated node names (default: all)",
            "missing_ok": "a step this cluster's runbook lacks is reported, not an error (notebooks)",
            "allow_destructive": "also run a step that cannot be undone (its page says what it destroys)"})
@friendly
def step(c: Context, cluster: str = "example", step: str = "", dry_run: bool = False, nodes: str = "",
         missing_ok: bool = False, allow_destructive: bool = False) -> None:
    """Run (or print) one step of the catalog."""
    single_step.run(cluster, step, dry_run, nodes, missing_ok, allow_destructive)


@task(help={"chapter": "only this chapter", "dry_run": "print every command in order, touch nothing",
            "nodes": "comma-separated node names (default: all)", "from_": "start at this step id",
            "allow_destructive": "also run the steps that cannot be undone (their pages say what they destroy)"})
@friendly
def deploy(c: Context, cluster: str = "example", chapter: str = "", dry_run: bool = False, nodes: str = "",
           from_: str = "", allow_destructive: bool = False) -> None:
    """Run the chapters' notebooks in order into runs/<cluster>/<time>/ (dry run: print what would run)."""
    deployment.deploy(cluster, chapter, dry_run, nodes, from_, allow_destructive)


@task(help={"cluster": "cluster name under clusters/ or a path", "to": "the release to upgrade to, e.g. 1.36.3",
            "out": "also write the cluster file that plans this upgrade here (the same file, comments kept)"})
@friendly
def upgrade_plan(c: Context, cluster: str = "example", to: str = "", out: str = "") -> None:
    """What upgrading a cluster's masters to --to changes: the version facts, and per node the diff of every file."""
    from generator.components.upgrade import plan
    from generator.versions import parse_release

    release = parse_release(to)
    if isinstance(release, str):
        raise Exit(f"upgrade-plan: --to {to!r}: {release}", code=1)
    plan.upgrade_plan(load(cluster), release, out, sys.stdout)


@task(help={"serial": "one pytest in this checkout, module after module, instead of the groups at once"})
def test(c: Context, serial: bool = False) -> None:
    """Run ruff and the test suite: its groups of modules at once, each in a checkout of its own, the tools the lab
    needs built meanwhile (tests/shards.py)."""
    c.run(f"{sys.executable} -m ruff check generator tests tasks.py")
    if serial:
        c.run(f"{sys.executable} -m invoke kube-binaries --cluster lab")
        c.run(f"{sys.executable} -m pytest -q", pty=False)
        return
    from tests import shards

    status = shards.run([])
    if status:
        raise Exit(code=status)


@task(help={"cluster": "the lab's cluster file (name under clusters/ or a path)",
            "kube_bin_dir": "a directory with kube-apiserver, kube-controller-manager, kube-scheduler (and kubectl)"})
@friendly
def lab_up(c: Context, cluster: str = "lab", kube_bin_dir: str = "") -> None:
    """Build the lab on this machine (root): one namespace, sshd and private mounts per node. Safe to re-run."""
    from generator import lab

    try:
        lab.up(load(cluster), kube_bin_dir or None)
    except lab.LabError as err:
        raise Exit(f"lab-up: {err}", code=1) from None


@task(help={"release": "Kubernetes release, e.g. 1.36.3 (default: the cluster's)",
            "cluster": "take the release, and the etcd to build too, from this cluster file (default: lab)"})
@friendly
def kube_binaries(c: Context, release: str = "", cluster: str = "lab") -> None:
    """Build kube-apiserver, -controller-manager, -scheduler and kubectl from the k8s.io/kubernetes Go module
    into a cache keyed by release (reused when present), and without --release also the cluster's etcd, etcdctl and
    etcdutl from etcd's Go modules (and kube-bench when it asks for the CIS benchmark, kwok when it asks for the
    scheduler's rehearsal); prints progress, time per binary and sha256s."""
    from generator.kubebuild import verb
    from generator.versions import parse_release

    if not release:
        verb.report_cluster(load(cluster), sys.stdout)
        return
    chosen = parse_release(release)
    if isinstance(chosen, str):
        raise Exit(f"kube-binaries: --release {release!r}: {chosen}", code=1)
    verb.report(chosen, None, sys.stdout)


@task(help={"record": "first measure built releases' binaries (`invoke kube-binaries`) into accepted.json",
            "release": "with --record: only this release, e.g. 1.37.2 (default: every release built)"})
@friendly
def release_check(c: Context, record: bool = False, release: str = "") -> None:
    """What each release's daemons accept (generator/kubehelp/accepted.json) against every flag, gate and admission
    plugin the generator writes for it and against the version facts; exit 1 on a mismatch."""
    from generator.kubehelp import verb
    from generator.versions import parse_release

    if release and not record:
        raise Exit("release-check: --release goes with --record (the check itself covers every measured release)",
                   code=1)
    if record:
        chosen = [parse_release(release)] if release else verb.built()
        bad = [r for r in chosen if isinstance(r, str)]
        if bad:
            raise Exit(f"release-check: --release {release!r}: {bad[0]}", code=1)
        missing = [r for r in chosen if r not in verb.built()]
        if missing or not chosen:
            raise Exit(f"release-check: no binaries for {missing[0].tag if missing else 'any release'}: run "
                       f"`invoke kube-binaries --release {missing[0] if missing else '1.37.2'}` first", code=1)
        verb.record_releases(chosen, print)
    if verb.report(print):
        raise Exit("release-check: the generator or its version facts disagree with the binaries (above)", code=1)


@task(help={"cluster": "the lab's cluster file (name under clusters/ or a path)"})
@friendly
def lab_down(c: Context, cluster: str = "lab") -> None:
    """Stop the lab's processes (by recorded PID) and remove its namespaces, links, bridge and files."""
    from generator import lab

    try:
        lab.down(load(cluster))
    except lab.LabError as err:
        raise Exit(f"lab-down: {err}", code=1) from None


@task(help={"cluster": "the lab's cluster file (name under clusters/ or a path)",
            "node": "the node whose disk is lost"})
@friendly
def lab_wipe_node(c: Context, cluster: str = "lab", node: str = "") -> None:
    """Lose a lab node's disk (root): it shuts down, its root file system is deleted, and it boots again as a fresh
    host with a new host key (known_hosts updated). What the rebuild chapter recovers from."""
    from generator import lab

    try:
        lab.wipe_node(load(cluster), node)
    except lab.LabError as err:
        raise Exit(f"lab-wipe-node: {err}", code=1) from None


@task(help={"cluster": "the lab's cluster file (name under clusters/ or a path)"})
@friendly
def lab_status(c: Context, cluster: str = "lab") -> None:
    """Per node: namespace present, sshd alive, ssh reachable (exit status 1 unless all are)."""
    from generator import lab

    try:
        lines, healthy = lab.status_lines(load(cluster))
    except lab.LabError as err:
        raise Exit(f"lab-status: {err}", code=1) from None
    print("\n".join(lines))
    if not healthy:
        raise Exit("lab is not healthy", code=1)


@task(help={"dir_": "an artifact directory, e.g. build/example (default: build/<cluster>)",
            "cluster": "cluster name or file: its release decides the version rules (default: environment.sh's)",
            "release": "the Kubernetes release to check against, e.g. 1.30.4 (a directory made by hand or a guide)"})
@friendly
def lint(c: Context, dir_: str = "", cluster: str = "", release: str = "") -> None:
    """Find known mistakes in a (hand-edited) artifact directory: one `path: rule: message` line each."""
    from generator import lint as linter
    from generator.versions import parse_release

    if not dir_ and not cluster:
        raise Exit("lint: give --dir build/<cluster> or --cluster <name>", code=1)
    if cluster and release:
        raise Exit("lint: give --cluster (its release counts) or --release, not both", code=1)
    chosen = parse_release(release) if release else None
    if isinstance(chosen, str):
        raise Exit(f"lint: --release {release!r}: {chosen}", code=1)
    model = load(cluster) if cluster else None
    shown = dir_ or f"build/{model.name if model else ''}"
    linter.report(Path(dir_) if dir_ else REPO / shown, shown, model, chosen, sys.stdout)


@task(help={"clusters": "comma-separated fleet sizes, e.g. 10,50,100 (distinct clusters: releases 1.20-1.34, "
                        "1, 3 or 5 masters)",
            "repeats": "how many times each pair is measured (min / median / max are reported)",
            "jobs": "MkDocs worker processes for build-docs (default: one per core)",
            "scheduler": "instead: the scheduler's drain and the controller manager's pod creation on a deployed "
                         "cluster, compiled client settings against upstream's",
            "cluster": "with --scheduler: the deployed cluster (its file asks for the scheduler's rehearsal)",
            "sizes": "with --scheduler: simulated nodes x pods, comma-separated"})
@friendly
def bench(c: Context, clusters: str = "10", repeats: int = 3, jobs: int = 0, scheduler: bool = False,
          cluster: str = "lab", sizes: str = "100x2000,250x5000") -> None:
    """Side by side in one run: build-docs against plain MkDocs, unchanged and one-cluster rebuilds, a notebook
    against its steps, RSA against ECDSA renders; or (--scheduler) the compiled scheduler and controller manager
    against upstream's client settings. Writes bench/results.md."""
    from generator.bench import RESULTS
    from generator.bench import bench as run_bench

    if scheduler:
        from generator.bench.scheduler import BenchError, parse_sizes
        from generator.bench.scheduler import bench as run_scheduler_bench

        if repeats < 1:
            raise Exit("bench: --repeats must be at least 1", code=1)
        try:
            chosen = parse_sizes(sizes)
            print(run_scheduler_bench(load(cluster), chosen, repeats))
        except BenchError as err:
            raise Exit(f"bench: {err}", code=1) from None
        print(f"written: {RESULTS.relative_to(REPO)}")
        return
    try:
        counts = [int(n) for n in clusters.split(",")]
    except ValueError:
        raise Exit(f"--clusters: expected comma-separated counts such as 10,50,100, not {clusters!r}", code=1) from None
    if not counts or min(counts) < 1 or repeats < 1:
        raise Exit("--clusters and --repeats must be at least 1", code=1)
    print(run_bench(counts, repeats, jobs or None))
    print(f"written: {RESULTS.relative_to(REPO)}")


@task(help={"releases": "comma-separated releases (default: the lab's and the oldest the lab runs, 1.16.15)",
            "update_readme": "write the table into README.md between the lab-matrix markers"})
@friendly
def lab_matrix(c: Context, releases: str = "", update_readme: bool = False) -> None:
    """Run the whole runbook in the lab for each release in turn (lab-up, deploy, lab-down); print the table."""
    from generator.lab import LabError
    from generator.lab.matrix import OLD_RELEASE, matrix, table
    from generator.lab.matrix import update_readme as write_readme
    from generator.versions import parse_release

    chosen = []
    for text in (releases.split(",") if releases else [str(load("lab").release), OLD_RELEASE]):
        release = parse_release(text.strip())
        if isinstance(release, str):
            raise Exit(f"lab-matrix: {text!r}: {release}", code=1)
        chosen.append(release)
    try:
        path, record = matrix(chosen)
    except LabError as err:
        raise Exit(f"lab-matrix: {err}", code=1) from None
    markdown = table(record)
    print(markdown)
    print(f"record: {path.relative_to(REPO)}")
    if update_readme:
        write_readme(markdown)
        print("README.md updated")
    if any(row["result"] != "passed" or row.get("skipped") for row in record["rows"]):
        raise Exit("lab-matrix: not every release passed with nothing skipped", code=1)


@task(help={"cluster": "cluster name under clusters/ or a path"})
@friendly
def certs(c: Context, cluster: str = "example") -> None:
    """Read every certificate and kubeconfig on the nodes over ssh and compare them with build/<cluster>/ledger.json:
    one line each; exit status 1 when one is missing, differs, has expired or expires within renew_before_days."""
    from generator import certs as node_certs

    node_certs.report(load(cluster), sys.stdout)


@task(name="check-workstation", help={"cluster": "cluster name under clusters/ or a path"})
@friendly
def check_workstation(c: Context, cluster: str = "example") -> None:
    """What this workstation needs to run the cluster's runbook, one line each: the programs its commands call, the
    release tarballs the cluster file names, ssh with a key and sudo without a password on every node. Changes
    nothing; exit status 1 when something is missing."""
    from generator import workstation

    workstation.report(load(cluster), sys.stdout)


@task(help={"update_readme": "write the table into README.md between the lab-day2 markers"})
def lab_day2(c: Context, update_readme: bool = False) -> None:
    """Day 2 in the lab (root, ~15 min plus the 1.36.3 and 1.37.2 builds when not cached): deploy 1.36.3, upgrade
    to 1.37.2, a fourth master joins and leaves, through tests/test_lab_day2.py; prints the figures as a table."""
    from generator.lab import day2

    status, path, record = day2.run()
    if record:
        markdown = day2.table(record, path.stem)
        print(markdown)
        print(f"record: {path.relative_to(REPO)}")
        if update_readme and status == 0:
            day2.write_readme(markdown)
            print("README.md updated")
    if status != 0:
        raise Exit(f"lab-day2: {day2.TEST} failed (exit status {status})", code=1)
