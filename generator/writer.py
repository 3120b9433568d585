"""A render's files under build/<cluster>/ as one transaction: every changed file is replaced, or none is.

Each changed file is first written to a temp file beside it (`.<name>.<random>.partial`, fsynced); only when all of
them are written does a journal listing them go in place (the commit point), then every temp file is renamed over
its target and the journal removed. An error while writing removes the temp files: the build is as it was. A kill
after the commit point leaves the journal: the next render (under the same lock) finishes the renames first, so
ca.pem never goes without ca-key.pem and no leaf refers to a CA that is not on disk. Temp files a kill leaves
behind are removed by the next render. Callers hold the cluster lock.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from generator.artifacts import TEMP_SUFFIX, Artifact, Confined, dir_modes, write_temp
from generator.errors import RunbookError

JOURNAL = ".render-journal.json"


class WriteError(RunbookError):
    pass


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(root: Path, staged: list[tuple[Path, Path]]) -> None:
    """Rename every temp file over its target: the journal says which, should this be cut short."""
    for parent in {target.parent for _, target in staged}:
        fsync_dir(parent)  # the temp files' names are on disk before the journal names them
    text = json.dumps([[str(tmp.relative_to(root)), str(target.relative_to(root))] for tmp, target in staged])
    journal = write_temp(root / JOURNAL, text.encode(), 0o600)
    os.replace(journal, root / JOURNAL)
    fsync_dir(root)
    for tmp, target in staged:
        os.replace(tmp, target)
    (root / JOURNAL).unlink()


def recover(root: Path) -> list[str]:
    """Finish the renames of a render killed after its commit point; notes saying so, if it was."""
    journal = root / JOURNAL
    try:
        pairs = json.loads(journal.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise WriteError(f"{journal}: unreadable ({err}); delete it and render again (renders are idempotent)") \
            from None
    if not (isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                                            for p in pairs)):
        raise WriteError(f"{journal}: not a list of [temp file, target] pairs; delete it and render again")
    moved, tree = 0, Confined(root)
    for tmp_rel, target_rel in pairs:
        # The journal is data on disk like any other: both paths are confined before anything is renamed.
        tmp, target = tree.path(tmp_rel), tree.path(target_rel)
        if tmp.parent != target.parent or not tmp.name.endswith(TEMP_SUFFIX):
            raise WriteError(f"{journal}: {tmp_rel!r} is not a temp file beside {target_rel!r}; delete the journal")
        if tmp.exists():
            try:
                os.replace(tmp, target)
            except OSError as err:
                raise WriteError(f"{target}: {err.strerror or err}; cannot finish the interrupted render that "
                                 f"{journal} records: fix that and render again") from None
            moved += 1
    journal.unlink()
    return [f"the previous render was killed while putting its files in place; finished it ({moved} file(s))"]


def confine(root: Path, artifacts: list[Artifact]) -> Confined:
    """Every artifact's path checked before anything is written or removed: a symlink, a file or a mount on the way
    (or where a file goes) is refused in one line (artifacts.Outside)."""
    tree = Confined(root)
    for artifact in artifacts:
        tree.path(artifact.path)
    return tree


def sweep(root: Path, artifacts: list[Artifact]) -> list[str]:
    """Remove the temp files an interrupted render left beside the artifacts (and nowhere else)."""
    confine(root, artifacts)
    names: dict[Path, set[str]] = {root: {JOURNAL}}
    for artifact in artifacts:
        target = root / artifact.path
        names.setdefault(target.parent, set()).add(target.name)
    stale = []
    for directory, wanted in names.items():
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue
        for entry in entries:
            if (entry.name.endswith(TEMP_SUFFIX) and entry.is_file(follow_symlinks=False)
                    and entry.name[1:].rsplit(".", 2)[0] in wanted):
                os.unlink(entry.path)
                stale.append(entry.name)
    return [f"removed {len(stale)} temp file(s) an interrupted render left"] if stale else []


def write_all(root: Path, artifacts: list[Artifact]) -> tuple[list[tuple[str, str]], list[str]]:
    """Write every artifact that differs, all or none; (path, what happened) for each one, and notes."""
    modes = dir_modes(artifacts)
    report: list[tuple[str, str]] = []
    staged: list[tuple[Path, Path]] = []
    created: list[Path] = []
    chmods: list[tuple[Path, int]] = []
    current, tree = "", confine(root, artifacts)
    try:
        for artifact in artifacts:
            current = artifact.path
            target = tree.path(artifact.path, modes, created)
            old = target.read_bytes() if target.exists() else None
            if old is None or old != artifact.content:
                staged.append((write_temp(target, artifact.content, artifact.mode), target))
                report.append((artifact.path, "created" if old is None else "updated"))
            elif target.stat().st_mode & 0o777 != artifact.mode:
                chmods.append((target, artifact.mode))
                report.append((artifact.path, "mode fixed"))
            else:
                report.append((artifact.path, "unchanged"))
        current = JOURNAL
        if staged:
            commit(root, staged)
    except BaseException as err:
        committed = (root / JOURNAL).exists()
        if not committed:  # before the commit point: undo everything
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            for directory in reversed(created):
                with contextlib.suppress(OSError):
                    directory.rmdir()
        if isinstance(err, OSError):
            after = "the next render finishes putting the files in place" if committed else \
                f"nothing was changed in {root}"
            raise WriteError(f"{err.filename or root / current}: {err.strerror or err}; {after}") from None
        raise
    for target, mode in chmods:
        os.chmod(target, mode)
    fixed = 0
    for rel, mode in modes.items():
        directory = root / rel if rel else root
        if directory.stat().st_mode & 0o777 != mode:
            os.chmod(directory, mode)
            fixed += 1
    notes = [f"set the mode of {fixed} director(ies): 0700 where secrets are, 0755 elsewhere"] if fixed else []
    return report, notes
