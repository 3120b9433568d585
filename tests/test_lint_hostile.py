"""`invoke lint --dir` on hostile files (issue 23: deep nesting and wrong types gave tracebacks): each ends in
`path: rule: message` lines, one per finding, or none, never a traceback; then a seeded fuzz of a rendered
directory's own files through the same linter, with 0 uncaught exceptions."""

from __future__ import annotations

import os
import random
import re
import shutil
from pathlib import Path

import pytest

from generator import lint
from generator.versions import parse_release
from tests.conftest import run_invoke

KUBECONFIG = "apiVersion: v1\nkind: Config\n"
SCHEDULER = "kind: KubeSchedulerConfiguration\napiVersion: kubescheduler.config.k8s.io/v1\n"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
HOSTILE = {
    "users-a-string.kubeconfig": (KUBECONFIG + "users: x\n", None),
    "users-numbers.kubeconfig": (KUBECONFIG + "users: [1, 2]\n", None),
    "user-a-list.kubeconfig": (KUBECONFIG + "users: [{name: a, user: [1]}]\n", None),
    "users-a-mapping.kubeconfig": (KUBECONFIG + "users: {a: 1}\n", None),
    "fields-of-wrong-types.yaml": (SCHEDULER.replace("kubescheduler.config.k8s.io/v1", "[1]") + "clientConnection: x"
                                   "\nleaderElection: {resourceLock: [1]}\n", "config-api-version"),
    "deep.yaml": ("[" * 5000 + "]" * 5000, "yaml-invalid"),
    "deep.json": ("[" * 5000 + "]" * 5000, "json-invalid"),
    "timestamp-tag.yaml": ("a: !!timestamp abc\n", "yaml-invalid"),
    "huge-integer.yaml": ("a: " + "9" * 5000 + "\n", "yaml-invalid"),
    "alias-bomb.yaml": (BOMB, "yaml-invalid"),
    "nan.json": ('{"a": NaN}', "json-invalid"),
    "nul.yaml": ("a: \x00\n", "yaml-invalid"),
    "newline-key.yaml": (SCHEDULER + '"a\\nb\\u001b[2J": 1\n', "config-unknown-field"),
}


def findings(out: str, shown: str) -> list[tuple[str, str]]:
    lines = [line for line in out.splitlines() if not line.startswith("lint: ")]
    parsed = [re.fullmatch(rf"({re.escape(shown)}/[^:]+): ([a-z0-9-]+): (.+)", line) for line in lines]
    assert all(parsed) and all(line.isprintable() for line in lines), lines
    return [(match[1], match[2]) for match in parsed if match]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_file_is_a_finding_or_nothing_never_a_traceback(tmp_path: Path, name: str) -> None:
    text, rule = HOSTILE[name]
    (tmp_path / name).write_text(text, encoding="utf-8")
    proc = run_invoke("lint", "--dir", str(tmp_path), "--release", "1.30.4", check=False)
    assert "Traceback" not in proc.stdout + proc.stderr and proc.returncode in (0, 1), proc.stdout + proc.stderr
    found = findings(proc.stdout, str(tmp_path))
    assert (rule, proc.returncode) == (None, 0) if rule is None else (rule, str(tmp_path / name)) in {
        (r, p) for p, r in found}, proc.stdout


def test_links_fifos_and_deep_trees_are_walked_safely(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")  # read, it would block
    (tmp_path / "loop").symlink_to(tmp_path)
    (tmp_path / "elsewhere.json").symlink_to("/etc/hostname")
    levels = [tmp_path]
    for _ in range(1500):  # deeper than Path.rglob (and shutil.rmtree) can recurse
        levels.append(levels[-1] / "d")
        levels[-1].mkdir()
    (levels[-1] / "bad.json").write_text("{", encoding="utf-8")
    try:
        proc = run_invoke("lint", "--dir", str(tmp_path), check=False)
    finally:
        (levels[-1] / "bad.json").unlink()
        for level in reversed(levels[1:]):
            level.rmdir()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert [rule for _, rule in findings(proc.stdout, str(tmp_path))] == ["json-invalid"]


def mutate(rng: random.Random, text: str) -> str:
    at = rng.randrange(len(text) + 1)
    kind = rng.randrange(5)
    if kind == 0:
        return text[:at] + rng.choice(["[" * 300, "{", "!!timestamp x", "*a", "&a [*a]", "9" * 5000, "\x00", "- -",
                                       ": :", "\t", "NaN", "users: 5", "user: [1]", "kind: Config"]) + text[at:]
    if kind == 1:
        return text[:at] + text[at + rng.randrange(1, 60):]
    if kind == 2:
        return text[:at] + text[at:at + rng.randrange(1, 60)] * rng.randrange(2, 4) + text[at:]
    if kind == 3:
        lines = text.splitlines()
        i = rng.randrange(len(lines)) if lines else 0
        return "\n".join(lines[:i] + [" " * rng.randrange(4) + line for line in lines[i:i + 1]] + lines[i + 1:])
    return text[:at] + "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 8))) + text[at:]


def test_fuzzed_configs_of_a_rendered_directory_never_traceback(example_build: Path, tmp_path: Path) -> None:
    sources = [p for p in sorted(example_build.rglob("*")) if p.is_file() and p.suffix in lint.TEXT_SUFFIXES
               and "downloads" not in p.parts and p.stat().st_size < 20_000]
    rng = random.Random(2323)
    release = parse_release("1.30.4")
    errors: list[str] = []
    for i in range(1500):
        source = rng.choice(sources)
        text = source.read_text(encoding="utf-8", errors="replace")
        for _ in range(rng.choice([1, 2, 3])):
            text = mutate(rng, text)
        directory = tmp_path / str(i)
        directory.mkdir()
        (directory / source.name).write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            for finding in lint.lint(directory, "d", None, release):
                assert str(finding).isprintable(), finding
        except Exception as err:  # noqa: BLE001 - what this test counts
            errors.append(f"{source.name} #{i}: {type(err).__name__}: {str(err)[:160]}")
        shutil.rmtree(directory)
    assert errors == [], "\n".join(errors[:20])
