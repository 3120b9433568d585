"""Files read back from disk are input too: the ledger, a rotation's state, run records, site stamps, the lab's state.

Each is read within limits (a regular file, not a FIFO that would hang the read nor a symlink placed there, at most
a size, JSON without NaN and not nested deeper than a bound) and then validated against a schema: the dataclasses of
generator/schema.py, the very machinery the cluster file goes through, so a problem reads the same way — one line
naming the file, the field, the value and what was expected — and no second validation library is needed (pydantic
would bring its own error format and a dependency for four small schemas). A file that fails is never taken for
"absent": the caller says what the file is for and what to do.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from generator import schema
from generator.errors import RunbookError
from generator.schema import MAX_LINE, Problem, printable

T = TypeVar("T")
MAX_DEPTH = 32  # the deepest state file (a run record's measured figures) is 4 levels down
KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
         (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink"))


class StoredFileError(RunbookError):
    """A file the product wrote and reads back is unreadable or not what it wrote; the message is one line."""


class NotAFile(OSError):
    """Something other than a regular file where one is read (its kind is in the message)."""


def kind(mode: int) -> str:
    return next((name for test, name in KINDS if test(mode)), "not a regular file")


def read_limited(path: Path, limit: int, follow: bool = True) -> bytes:
    """At most `limit` + 1 bytes of the regular file at `path` (the caller sees it is too big). NotAFile for a
    FIFO, device, socket or directory (and a symlink unless `follow`); FileNotFoundError and other OSErrors as
    the system says them. Opened without blocking, so a FIFO is named, never waited on."""
    info = os.stat(path) if follow else os.lstat(path)
    if not stat.S_ISREG(info.st_mode):
        raise NotAFile(f"{kind(info.st_mode)}, not a regular file")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode  # what was opened, should the path have changed since the stat
        if not stat.S_ISREG(mode):
            raise NotAFile(f"{kind(mode)}, not a regular file")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def line(source: str, problems: list[Problem], remedy: str) -> str:
    """The first problem as `source: field: value: expected`, how many more there are, and what to do: one line."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    tail = f"{more}; {remedy}" if remedy else more
    first = printable(problems[0].render(source))  # the expectation may quote the file's own values
    room = MAX_LINE - len(tail)
    return (first if len(first) <= room else first[:max(room - 1, 0)] + "…") + tail


def depth_problem(data: Any) -> Problem | None:
    """A Problem if JSON data nests deeper than MAX_DEPTH (checked without recursion)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if depth > MAX_DEPTH:
            return Problem("", f"{depth} levels", f"at most {MAX_DEPTH} levels of nesting")
        if isinstance(value, dict):
            pending += [(v, depth + 1) for v in value.values()]
        elif isinstance(value, list):
            pending += [(v, depth + 1) for v in value]
    return None


def refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json(path: Path, limit: int, remedy: str) -> Any:
    """The JSON data of `path`; StoredFileError (one line) when it is no file, too big, not UTF-8 or not JSON.
    FileNotFoundError passes through: whether a missing file is fine is the caller's to say."""
    source = str(path)
    try:
        raw = read_limited(path, limit, follow=False)
    except FileNotFoundError:
        raise
    except OSError as err:
        reason = str(err) if isinstance(err, NotAFile) else f"cannot read it ({err.strerror or err})"
        raise StoredFileError(line(source, [Problem("", "the file", reason)], remedy)) from None
    if len(raw) > limit:
        raise StoredFileError(line(source, [Problem("", f"more than {limit} bytes", "a file of the size the product "
                                                    "writes")], remedy))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise StoredFileError(line(source, [Problem("", f"byte {err.start}", f"0x{raw[err.start]:02x} is not "
                                                    "UTF-8")], remedy)) from None
    try:
        data = json.loads(text, parse_constant=refuse_constant)
    except json.JSONDecodeError as err:
        raise StoredFileError(line(source, [Problem("", f"line {err.lineno}, column {err.colno}",
                                                    f"not JSON: {err.msg}")], remedy)) from None
    except (ValueError, RecursionError) as err:  # NaN/Infinity, an integer of thousands of digits, deep nesting
        reason = "nested too deeply" if isinstance(err, RecursionError) else str(err)
        raise StoredFileError(line(source, [Problem("", "the file", f"not JSON the product writes: {reason}")],
                                   remedy)) from None
    deep = depth_problem(data)
    if deep is not None:
        raise StoredFileError(line(source, [deep], remedy))
    return data


def build(cls: type[T], data: Any, source: str, remedy: str,
          meaning: Callable[[T], list[Problem]] | None = None) -> T:
    """`cls` from JSON data, its types checked as the cluster file's are, then `meaning`'s checks; StoredFileError
    with the first problem on one line otherwise."""
    problems: list[Problem] = []
    value = schema.build(cls, data, "", problems)
    if value is not None and not problems and meaning is not None:
        problems = meaning(value)
    if problems or value is None:
        raise StoredFileError(line(source, problems or [Problem("", "the file", f"a {cls.__name__}")], remedy))
    return value


def load(path: Path, cls: type[T], limit: int, remedy: str, meaning: Callable[[T], list[Problem]] | None = None,
         ) -> T | None:
    """The validated content of `path`, or None when there is no such file."""
    try:
        data = read_json(path, limit, remedy)
    except FileNotFoundError:
        return None
    return build(cls, data, str(path), remedy, meaning)
