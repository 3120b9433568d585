"""Run records read back (runs/<cluster>/<UTC time>/: summary.json and an executed notebook per chapter), validated
before a page shows them.

A record is written from what the nodes printed, and anyone who can write runs/ can change it: a wrong type gave a
traceback, and its text reached the pages. Here the summary goes through the schema below (generator/stored.py:
the cluster file's one-line problems) and each notebook through nbformat's own JSON schema (the library that
writes them knows their shape best). Only directories named like a run's UTC time are records.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from generator import stored
from generator.checks import RFC1123_LABEL
from generator.model import REPO, Cluster
from generator.schema import Problem, shorten
from generator.versions import Release, parse_release

if TYPE_CHECKING:
    import nbformat

RUNS = REPO / "runs"
SUMMARY = "summary.json"
RUN_DIR = re.compile(r"[0-9]{8}T[0-9]{6}Z")  # runs.deploy's %Y%m%dT%H%M%SZ
SUMMARY_BYTES = 64 << 20  # a full deploy's is about 200 KB; output is kept only for a failed command
NOTEBOOK_BYTES = 64 << 20
CHAPTER_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
STEP_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}(\.[a-z0-9][a-z0-9-]{0,62})+")
FIGURE = re.compile(r"[a-z0-9_]{1,128}")  # the name part of generator/execute.py's MEASURED
Status = Literal["passed", "failed", "skipped"]
DELETE = "delete that run's directory (or restore it): a run record is what `invoke deploy` writes"


@dataclass(frozen=True, kw_only=True)
class Recorded:
    """What a step's outcome records (generator/execute.py's Outcome, as JSON)."""

    node: str | None = None
    started: str = ""
    seconds: float = 0.0
    commands: tuple[str, ...] = ()
    failure: str = ""
    output: str = ""
    measured: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class StepOutcome(Recorded):
    step: str
    status: Status


@dataclass(frozen=True, kw_only=True)
class Failure(Recorded):
    """The first failed step, and its chapter (or only the chapter, when its notebook failed outside a step)."""

    chapter: str
    step: str = ""
    status: Status = "failed"


@dataclass(frozen=True, kw_only=True)
class Summary:
    cluster: str
    release: str
    started: str
    chapters: tuple[str, ...]
    steps: tuple[StepOutcome, ...]
    result: Literal["passed", "failed"]
    failure: Failure | None = None
    finished: str = ""


@dataclass(frozen=True)
class Record:
    directory: Path
    summary: Summary

    def notebook(self, page: str) -> nbformat.NotebookNode | None:
        """The executed notebook of a chapter's page, validated; None if this run has none."""
        return read_notebook(self.directory / f"{page}.ipynb")


def utc_time(value: str) -> bool:
    try:
        return dt.datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def check_recorded(where: str, outcome: Recorded, step: str) -> list[Problem]:
    problems = []
    if step and not STEP_ID.fullmatch(step):
        problems.append(Problem(f"{where}.step", step, "a step id such as kube-scheduler.health"))
    if outcome.node is not None and not RFC1123_LABEL.fullmatch(outcome.node):
        problems.append(Problem(f"{where}.node", outcome.node, "a node name (an RFC 1123 label)"))
    if outcome.started and not utc_time(outcome.started):
        problems.append(Problem(f"{where}.started", outcome.started, "a time in ISO 8601 with its UTC offset"))
    if outcome.seconds < 0:
        problems.append(Problem(f"{where}.seconds", outcome.seconds, "a duration of 0 s or more"))
    problems += [Problem(f"{where}.measured", name, "a figure's name: lowercase letters, digits and '_'")
                 for name in outcome.measured if not FIGURE.fullmatch(name)]
    return problems


def meaning(cluster_name: str) -> Callable[[Summary], list[Problem]]:
    def check(summary: Summary) -> list[Problem]:
        problems = []
        if summary.cluster != cluster_name:
            problems.append(Problem("cluster", summary.cluster, f"{cluster_name!r}, the cluster the record is filed "
                                                                "under"))
        release = parse_release(summary.release)
        if not isinstance(release, Release):
            problems.append(Problem("release", summary.release, f"a Kubernetes release: {release}"))
        for name in ("started", "finished"):
            value = getattr(summary, name)
            if (value or name == "started") and not utc_time(value):
                problems.append(Problem(name, value, "a time in ISO 8601 with its UTC offset"))
        problems += [Problem(f"chapters[{i}]", chapter, "a chapter id such as kube-scheduler")
                     for i, chapter in enumerate(summary.chapters) if not CHAPTER_ID.fullmatch(chapter)]
        for i, outcome in enumerate(summary.steps):
            problems += check_recorded(f"steps[{i}]", outcome, outcome.step)
        if summary.failure is not None:
            if not CHAPTER_ID.fullmatch(summary.failure.chapter):
                problems.append(Problem("failure.chapter", summary.failure.chapter, "a chapter id"))
            problems += check_recorded("failure", summary.failure, summary.failure.step)
        return problems

    return check


def last_dir(cluster_name: str, root: Path = RUNS) -> Path | None:
    """The newest run record's directory for a cluster (under `root`, runs/ by default), if any: a real directory
    named like a run's UTC time, holding a summary.json."""
    try:
        entries = list(os.scandir(root / cluster_name))
    except (FileNotFoundError, NotADirectoryError):
        return None
    runs = sorted(Path(e.path) for e in entries if RUN_DIR.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
                  and os.path.lexists(os.path.join(e.path, SUMMARY)))
    return runs[-1] if runs else None


def last(cluster_name: str, root: Path = RUNS) -> Record | None:
    """The newest run record of a cluster, its summary validated (StoredFileError, one line, if it is not one)."""
    directory = last_dir(cluster_name, root)
    if directory is None:
        return None
    data = stored.read_json(directory / SUMMARY, SUMMARY_BYTES, DELETE)
    return Record(directory, stored.build(Summary, data, str(directory / SUMMARY), DELETE, meaning(cluster_name)))


def read_notebook(path: Path) -> nbformat.NotebookNode | None:
    """An executed notebook, validated against nbformat 4's JSON schema; None if there is no such file.

    nbformat's own `validate` first "normalises" the notebook in place and crashes on one that is not shaped like a
    notebook at all, so its schema validators are called directly: the fast one, then jsonschema's for the words.
    """
    import nbformat
    from jsonschema.exceptions import best_match
    from nbformat.v4.rwbase import rejoin_lines
    from nbformat.validator import get_validator

    try:
        data = stored.read_json(path, NOTEBOOK_BYTES, DELETE)
    except FileNotFoundError:
        return None

    def refuse(problem: Problem) -> stored.StoredFileError:
        return stored.StoredFileError(stored.line(str(path), [problem], DELETE))

    if not isinstance(data, dict):
        raise refuse(Problem("", f"a {type(data).__name__}", "a notebook papermill wrote (a JSON object)"))
    if data.get("nbformat") != 4:
        raise refuse(Problem("nbformat", data.get("nbformat"), "4: a notebook papermill wrote"))
    minor = data.get("nbformat_minor")
    if not isinstance(minor, int) or isinstance(minor, bool) or not 0 <= minor <= nbformat.v4.nbformat_minor:
        raise refuse(Problem("nbformat_minor", minor, f"0 to {nbformat.v4.nbformat_minor}"))
    try:
        get_validator(version=4, version_minor=minor).validate(data)
    except nbformat.ValidationError:
        error = best_match(get_validator(version=4, version_minor=minor, name="jsonschema").iter_errors(data))
        where = ".".join(str(part) for part in error.absolute_path) if error else ""
        raise refuse(Problem(where, error.instance if error else "the notebook", "not what nbformat 4 allows: "
                             f"{shorten(error.message if error else 'invalid', 100)}")) from None
    return rejoin_lines(nbformat.from_dict(data))


def check(cluster: Cluster, pages: list[str], root: Path = RUNS) -> None:
    """Everything of the cluster's last run that its pages show, validated: its summary and these notebooks."""
    record = last(cluster.name, root)
    if record is not None:
        for page in pages:
            record.notebook(page)
