"""The test suite as a few groups of modules run at the same time, each in a checkout of its own (`invoke test`).

Most of a lab test's time is waiting — for a lease to expire, a VIP to move, a node to boot — while the machine's
cores could run the CPU-bound rest of the suite. Tests write build/<cluster>/, site/ and runs/ of the checkout they
run in, so two pytest processes in one checkout would overwrite each other's files: the first group runs in place,
each other group in a copy of the working tree as it is (uncommitted changes included, ignored files left out).
pytest-xdist's workers share one checkout, which is why it is not used for this.

On a machine that has not built the tools yet (the lab's kube release, etcd, kube-bench and kwok: about 15 min of
Go builds cold, measured 2026-12-07), the first group, which needs none of them, runs while they build; the others
start once the lab's release, etcd and kube-bench are there, and kwok builds while they run (test_rehearsal waits
for it on its build lock when it gets there first). With every tool cached, all groups start at once.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Modules that share one lab (a machine holds one lab of a name at a time), in the order they need it: about 29 min
# of the suite's 59 (`pytest --durations=0`, 2026-12-07), mostly waiting.
LAB = ("test_lab.py", "test_lab_deploy.py", "test_lab_recovery.py", "test_lab_repair.py", "test_lab_teardown.py",
       "test_lab_day2.py")
# About half of the other 30 min: the browser, the real daemons (each on a loopback net of its own) and the fuzzers.
THIRD = ("test_browser.py", "test_browser_reader.py", "test_fuzz_loader.py", "test_kube_binaries.py",
         "test_escaping.py", "test_lock.py", "test_rehearsal.py", "test_load_balancer.py", "test_etcd.py",
         "test_release_check.py")
GROUPS: tuple[tuple[str, ...], ...] = (
    (),  # in place: every module another group does not name (test_notebooks.py clones this checkout with git)
    LAB,
    THIRD,
)
# Installed, not tracked, and needed by a group's tests: linked into each copy.
LINKED = ("tests/axe/node_modules",)


@dataclass
class Running:
    name: str
    process: subprocess.Popen
    log: Path
    started: float


def tracked_and_new(root: Path) -> list[str]:
    """The working tree's files git would commit: tracked ones and untracked ones not ignored."""
    # safe.directory: CI runs as root in a clone another user may own
    out = subprocess.run(["git", "-c", "safe.directory=*", "ls-files", "-z", "--cached", "--others",
                          "--exclude-standard"], cwd=root,
                         capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name and (root / name).is_file()]


def copy_tree(root: Path, target: Path) -> None:
    """The working tree's files as they are now (see tracked_and_new), modes and times kept."""
    for name in tracked_and_new(root):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target / name)


def copy_checkout(root: Path, target: Path) -> None:
    copy_tree(root, target)
    for name in LINKED:
        if (root / name).exists():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            (target / name).symlink_to(root / name)
    # the copy's own .pyc files, which this machine's processes read but do not write (generator.runs.precompile)
    subprocess.run([sys.executable, "-c", "from generator.runs import precompile; precompile()"], cwd=target,
                   check=True)


def modules(group: tuple[str, ...]) -> list[str]:
    """pytest's arguments for a group: its modules, or for the in-place group every module no other group names."""
    if group:
        return [f"tests/{name}" for name in group]
    return [arg for other in GROUPS if other for name in other for arg in ("--ignore", f"tests/{name}")]


class Tools(threading.Thread):
    """The tools the groups after the first need, built (or found in the cache) in this order: the lab's release,
    etcd and kube-bench (what `invoke kube-binaries --cluster lab` builds), then kwok. `ready` is set once the first
    three are there or could not be built (`failed` says which); the build's output goes to `log`."""

    def __init__(self, log: Path) -> None:
        super().__init__(daemon=True)
        self.log = log
        self.ready = threading.Event()
        self.failed = ""
        self.started = time.monotonic()
        self.shown = 0  # characters of the log printed when `ready` was set

    def run(self) -> None:
        from generator.errors import Reported
        from generator.kubebuild import BuildFailed, Unavailable, tools, verb
        from generator.model import load

        with self.log.open("w", encoding="utf-8") as out:
            try:
                lab = load("lab")
                verb.report_cluster(lab, out)
            except Reported as err:
                self.failed = str(err)
            finally:
                self.ready.set()
            if self.failed:
                return
            try:
                tools.ensure(tools.kwok(f"v{lab.spec.verification.kwok}"),
                             say=lambda line: print(line, file=out, flush=True))
            except (Unavailable, BuildFailed) as err:
                print(f"kwok: {err} (test_rehearsal says so again)", file=out, flush=True)


def start(index: int, group: tuple[str, ...], work: Path, extra: list[str]) -> Running:
    root = REPO
    if index:
        root = work / f"checkout-{index}"
        copy_checkout(REPO, root)
    log = work / f"group-{index}.log"
    name = " ".join(group) or "the rest"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *modules(group), *extra]
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=root, stdout=out, stderr=subprocess.STDOUT)
    print(f"tests: group {index} started in {root}: {name}", flush=True)
    return Running(name, process, log, time.monotonic())


def run(extra: list[str]) -> int:
    """Run the groups, the first at once and the others once the tools they need are built (see Tools), print each
    group's output whole as it ends, and return the worst exit status. The copies are removed when every group
    passed; otherwise they stay (a failed lab test's build/lab/ is in one), and the last line names where."""
    work = Path(tempfile.mkdtemp(prefix="runbook-tests-"))
    running: list[Running] = []
    tools = Tools(work / "tools.log")
    worst = 0
    try:
        running.append(start(0, GROUPS[0], work, extra))
        tools.start()
        tools.ready.wait()
        printed = tools.log.read_text(encoding="utf-8", errors="replace")
        sys.stdout.write(printed)
        tools.shown = len(printed)
        print(f"tests: tools ready after {time.monotonic() - tools.started:.0f} s", flush=True)
        if tools.failed:
            print(f"tests: the other groups need tools that could not be built: {tools.failed}", flush=True)
            worst = 1
        else:
            running += [start(index, group, work, extra) for index, group in enumerate(GROUPS) if index]
        pending = list(running)
        while pending:
            for group in [g for g in pending if g.process.poll() is not None]:
                pending.remove(group)
                worst = max(worst, group.process.returncode)
                print(f"\n===== {group.name}: exit {group.process.returncode} after "
                      f"{time.monotonic() - group.started:.0f} s =====", flush=True)
                sys.stdout.write(group.log.read_text(encoding="utf-8", errors="replace"))
                sys.stdout.flush()
            time.sleep(1)
        tools.join()
        sys.stdout.write(tools.log.read_text(encoding="utf-8", errors="replace")[tools.shown:])
    finally:
        for group in running:
            if group.process.poll() is None:
                group.process.terminate()
                group.process.wait()
    if worst:
        print(f"tests: the groups' checkouts and logs are kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return worst
