"""Run steps: print them (dry run) or execute them with bash, nodes in parallel, checks enforced."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TextIO

from generator.model import REPO
from generator.steps import Command, Step

COMMAND_TIMEOUT = 600
# When set, every outcome is appended to this file as one JSON line (the deploy run record reads it).
RECORD_ENV = "RUNBOOK_RECORD"
# A command may report a figure for the run record by printing `measured: <name>=<number>` on a line of its own.
MEASURED = re.compile(r"^measured: ([a-z0-9_]+)=([0-9]+(?:\.[0-9]+)?)$", re.MULTILINE)


def command_env() -> dict[str, str]:
    """The environment commands run in: this Python's bin directory first, so `invoke` is the project's."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


@dataclass(frozen=True)
class Group:
    """Commands shown in one code block: the step's local ones, or one node's."""

    step: Step
    node: str | None
    commands: tuple[Command, ...]

    @property
    def header(self) -> str:
        return f"# {self.step.id}" + (f" @ {self.node}" if self.node else "")

    @property
    def block(self) -> str:
        return "\n\n".join(c.run for c in self.commands)


def groups(step: Step, nodes: frozenset[str] | None = None) -> list[Group]:
    result = [Group(step, None, step.local)] if step.local else []
    for node, commands in step.per_node:
        if nodes is None or node.name in nodes:
            result.append(Group(step, node.name, commands))
    return result


def dry_run(steps: list[Step], nodes: frozenset[str] | None = None, out: TextIO = sys.stdout) -> None:
    """Print every command exactly as the runbook page shows it, in order."""
    for step in steps:
        for group in groups(step, nodes):
            out.write(f"{group.header}\n{group.block}\n\n")


@dataclass
class Outcome:
    step: str
    node: str | None
    status: str = "passed"
    started: str = ""  # UTC, ISO 8601: lines up a step with node logs (e.g. the lab's restarts)
    seconds: float = 0.0
    commands: list[str] = field(default_factory=list)
    failure: str = ""
    output: str = ""  # the failing command's output; empty when the step passed
    measured: dict[str, float] = field(default_factory=dict)


class StepFailed(Exception):
    def __init__(self, outcome: Outcome, command: str, output: str) -> None:
        self.outcome = outcome
        where = f" on {outcome.node}" if outcome.node else " on the workstation"
        super().__init__(
            f"step {outcome.step} failed{where}\ncommand:\n{command}\noutput:\n{output.rstrip() or '(none)'}\n"
            f"{outcome.failure}"
        )


def run_group(group: Group) -> tuple[Outcome, str, StepFailed | None]:
    """Run one group's commands in order; stop at the first failure. Returns its log text too."""
    outcome = Outcome(group.step.id, group.node, started=dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"))
    log: list[str] = [group.header]
    start = time.monotonic()
    for command in group.commands:
        outcome.commands.append(command.run)
        log.append(f"$ {command.run}")
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command.run], cwd=REPO, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=COMMAND_TIMEOUT, stdin=subprocess.DEVNULL, env=command_env(),
        )
        log.append(proc.stdout.rstrip("\n"))
        outcome.measured.update({name: float(value) for name, value in MEASURED.findall(proc.stdout)})
        problem = ""
        if proc.returncode != 0:
            problem = f"exit status {proc.returncode}"
        elif command.expect and not re.search(command.expect, proc.stdout, re.MULTILINE):
            problem = f"output does not match the expected pattern {command.expect!r}"
        if problem:
            outcome.status, outcome.failure, outcome.output = "failed", problem, proc.stdout
            outcome.seconds = time.monotonic() - start
            return outcome, "\n".join(log), StepFailed(outcome, command.run, proc.stdout)
    outcome.seconds = time.monotonic() - start
    return outcome, "\n".join(log), None


def record(outcomes: list[Outcome]) -> None:
    path = os.environ.get(RECORD_ENV)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as log:
        for outcome in outcomes:
            log.write(json.dumps(vars(outcome)) + "\n")


def skip_step(step: Step, reason: str, nodes: frozenset[str] | None = None, out: TextIO = sys.stdout) -> None:
    """Report a step as skipped (never as passed), with the reason, for each of its groups."""
    out.write(f"# {step.id}\nSKIPPED: {reason}\n")
    now = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    record([Outcome(step.id, g.node, "skipped", started=now, commands=[c.run for c in g.commands], failure=reason)
            for g in groups(step, nodes)])


def run_serial(groups: list[Group], out: TextIO) -> tuple[list[Outcome], StepFailed | None]:
    """One node after another, each log printed as soon as its node is done; nothing after a failure runs."""
    outcomes = []
    for group in groups:
        outcome, log, failed = run_group(group)
        out.write(log + "\n")
        out.flush()
        outcomes.append(outcome)
        if failed:
            return outcomes, failed
    return outcomes, None


def run_step(step: Step, nodes: frozenset[str] | None = None, out: TextIO = sys.stdout) -> list[Outcome]:
    """Local commands first, then every node's commands in parallel (one node after another for a serial step);
    logs are printed in node order."""
    all_groups = groups(step, nodes)
    outcomes: list[Outcome] = []
    local = [g for g in all_groups if g.node is None]
    remote = [g for g in all_groups if g.node is not None]
    for group in local:
        outcome, log, failed = run_group(group)
        out.write(log + "\n")
        outcomes.append(outcome)
        if failed:
            record(outcomes)
            raise failed
    if step.serial:
        done, failed = run_serial(remote, out)
        outcomes += done
        record(outcomes)
        if failed:
            raise failed
        return outcomes
    with ThreadPoolExecutor(max_workers=max(1, len(remote))) as pool:
        results = list(pool.map(run_group, remote))
    failures = []
    for outcome, log, failed in results:
        out.write(log + "\n")
        outcomes.append(outcome)
        if failed:
            failures.append(failed)
    out.flush()
    record(outcomes)
    if failures:
        raise failures[0]
    return outcomes
