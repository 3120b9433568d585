"""Seeded fuzzing of the cluster-file loader: thousands of mutated files through the real `load`.

Every file must end in a Cluster or a ClusterFileError whose lines are each under 300 characters and start with the
file's path: no other exception, no run over 5 s (a SIGALRM safety bound, not a timing assertion). Files it accepts
must also give a runbook (the step catalog), so a value validation lets through cannot crash what comes after.
The mutations are byte, line and value edits of the two shipped cluster files plus known-hostile snippets (YAML
tags, alias bombs, deep nesting, huge numbers, NUL and non-UTF-8 bytes, zone ids, traversal paths, ssh options).
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from generator import catalog
from generator.model import ClusterFileError, load
from tests.conftest import REPO

SEED = 20240909
FILES = 8_000
LIMIT_SECONDS = 5
BASES = [(REPO / "clusters" / name).read_bytes() for name in ("example.yaml", "lab.yaml")]
BOMB = b"a: &a [x, x, x, x, x, x, x, x, x]\n" + b"".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n".encode() for i in range(8))
SNIPPETS = [
    b"!!timestamp abc", b"!!int ''", b"!!bool maybe", b"!!binary x", b"!!python/object:os.system x", b"! x",
    b"&a [*a]", b"*nope", b"<<: *a", b"? [a, b]\n: c", b"[" * 3000, b"{" * 50, b"9" * 5000, b"1" * 25, b"0022",
    b"1:20", b"0x1F", b"1_000", b".inf", b".nan", b"2001-13-45", b"\x00", b"\xff\xfe", b"\xc3", b"\t", b"\r",
    b"\x1b[31m", b"\xe2\x80\xae", b"a" * 20000, b"::ffff:192.168.1.204", b"0.0.0.0", b"255.255.255.255",
    b"fd00::%$(id);x/112", b"/../../../../docs/leak", b"/", b"--", b"9999999999999999999s", b"ProxyCommand=touch x",
    b"~", b"null", b"- - - -", b"---\n", b"...\n", b"%YAML 1.1\n", b"|\n  x", b">-\n  x", b"'", b'"', b"#",
    BOMB,
]
VALUES: list[Any] = [
    None, True, 0, -1, 65536, 10**18, 1.5, "", " ", "x" * 2000, "\n", "$(reboot)", "a`b`", "é", "中文",
    "::ffff:10.0.0.1", "127.0.0.1", "0.0.0.0", "fe80::1%eth0", "/", "/../x", "/etc", "build/../../x", [], [1, [2]],
    {}, {"a": {"b": {"c": 1}}}, ["ProxyCommand=x", "LocalCommand=y"], [{"name": "n", "ip": "10.0.0.1"}] * 40,
]


def paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    """Every (key, index) path into parsed YAML data."""
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += paths(value, (*prefix, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            found += paths(value, (*prefix, i))
    return found


def set_value(rng: random.Random, source: bytes) -> bytes:
    data = yaml.safe_load(source)
    where = rng.choice(paths(data)[1:])
    parent = data
    for part in where[:-1]:
        parent = parent[part]
    if rng.random() < 0.2 and isinstance(parent, dict):
        parent[rng.choice(["extra", "vpi", 1, "nodes"])] = rng.choice(VALUES)  # unknown or retyped keys
    else:
        parent[where[-1]] = rng.choice(VALUES)
    return yaml.safe_dump(data, allow_unicode=True).encode()


def mutate(rng: random.Random, source: bytes) -> bytes:
    kind = rng.randrange(7)
    at = rng.randrange(len(source) + 1)
    if kind == 0:  # flip one byte
        if not source:
            return source
        i = rng.randrange(len(source))
        return source[:i] + bytes([rng.randrange(256)]) + source[i + 1:]
    if kind == 1:  # insert a hostile snippet
        return source[:at] + rng.choice(SNIPPETS) + source[at:]
    if kind == 2:  # delete a span
        return source[:at] + source[at + rng.randrange(1, 40):]
    if kind == 3:  # duplicate a span
        return source[:at] + source[at:at + rng.randrange(1, 80)] * rng.randrange(2, 5) + source[at:]
    lines = source.split(b"\n")
    if kind == 4 and len(lines) > 1:  # move a line, or change its indentation
        line = lines.pop(rng.randrange(len(lines)))
        lines.insert(rng.randrange(len(lines) + 1), b" " * rng.choice([0, 1, 2, 4]) + line.lstrip(b" "))
        return b"\n".join(lines)
    if kind == 5:  # a value of a shipped file replaced after parsing (earlier mutations are dropped)
        return set_value(rng, rng.choice(BASES))
    return source[:at] + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 6))) + source[at:]


class Slow(Exception):
    pass


def on_alarm(signum: int, frame: object) -> None:
    raise Slow(f"load took more than {LIMIT_SECONDS} s")


def test_fuzzed_cluster_files_get_one_clear_line_each(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    source = tmp_path / "fuzz.yaml"
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    slowest = 0.0
    previous = signal.signal(signal.SIGALRM, on_alarm)
    started = time.monotonic()
    try:
        for i in range(FILES):
            body = rng.choice(BASES)
            for _ in range(rng.choice([1, 1, 2, 3])):
                body = mutate(rng, body)
            source.write_bytes(body)
            begin = time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, LIMIT_SECONDS)
            try:
                cluster = load(str(source))
                catalog.chapters(cluster)
                outcomes["accepted"] += 1
            except ClusterFileError as err:
                outcomes["rejected"] += 1
                for line in str(err).splitlines():
                    if len(line) >= 300 or not line.startswith(f"{source}: "):
                        failures.append(f"file {i}: unclear line ({len(line)} chars): {line[:200]!r}")
            except Exception as err:  # noqa: BLE001 - this is what the test counts
                outcomes[type(err).__name__] += 1
                failures.append(f"file {i}: {type(err).__name__}: {str(err)[:200]} <- {body[:300]!r}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            slowest = max(slowest, time.monotonic() - begin)
    finally:
        signal.signal(signal.SIGALRM, previous)
    print(f"\nfuzz: {FILES} files (seed {SEED}) in {time.monotonic() - started:.1f} s, slowest "
          f"{slowest * 1000:.0f} ms: {dict(outcomes)}")
    assert not failures, f"{len(failures)} of {FILES} files:\n" + "\n".join(failures[:20])
    # The mutations must reach both sides of the loader, or the test proves nothing.
    assert outcomes["accepted"] > FILES // 20 and outcomes["rejected"] > FILES // 2, dict(outcomes)


@pytest.mark.parametrize("snippet", SNIPPETS, ids=range(len(SNIPPETS)))
def test_each_hostile_snippet_in_place_of_a_value(tmp_path: Path, snippet: bytes) -> None:
    """Each snippet as the ssh user's value: a clean rejection (one that parses as a login name may pass)."""
    source = tmp_path / "hostile.yaml"
    source.write_bytes(BASES[0].replace(b"user: kube", b"user: " + snippet))
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, LIMIT_SECONDS)
    try:
        load(str(source))
    except ClusterFileError as err:
        lines = str(err).splitlines()
        assert lines and all(len(line) < 300 and line.startswith(f"{source}: ") for line in lines), lines
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
