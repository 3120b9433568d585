"""The step catalog itself: every step explained in both languages, ids unique, chapters in PRODUCT.md's order."""

from __future__ import annotations

import re

import pytest

from generator import catalog
from generator.model import load

CJK = re.compile(r"[\u4e00-\u9fff]")
ORDER = ["prerequisites", "ca", "load-balancer", "admin", "etcd", "kube-apiserver", "kube-controller-manager",
         "kube-scheduler", "verification", "troubleshooting", "renewal"]


@pytest.fixture(scope="module", params=["example", "lab"])
def chapters(request):
    return catalog.chapters(load(request.param))


def test_chapters_follow_the_deployment_order(chapters) -> None:
    assert [ch.id for ch in chapters] == ORDER


def test_step_ids_are_unique_and_belong_to_their_chapter(chapters) -> None:
    ids = [s.id for ch in chapters for s in ch.steps]
    assert len(ids) == len(set(ids))
    for chapter in chapters:
        assert all(s.id.startswith(f"{chapter.id}.") for s in chapter.steps), chapter.id


def test_every_text_exists_in_chinese_and_english(chapters) -> None:
    texts = []
    for chapter in chapters:
        texts += [(chapter.id, chapter.title), (chapter.id, chapter.intro)]
        for step in chapter.steps:
            texts += [(step.id, step.title), (step.id, step.explain)] + [(step.id, w) for w in step.warnings]
    for where, text in texts:
        assert text.zh.strip() and text.en.strip(), where
        assert CJK.search(text.zh), f"{where}: the zh text has no Chinese: {text.zh[:60]!r}"
        prose = re.sub(r"`[^`]*`", "", text.en)  # quoting a seed's Chinese config line in code is fine
        assert not CJK.search(prose), f"{where}: the en text has Chinese: {text.en[:60]!r}"
        assert text.zh != text.en, where


def test_every_check_pattern_compiles(chapters) -> None:
    for chapter in chapters:
        for step in chapter.steps:
            commands = list(step.local) + [c for _, cs in step.per_node for c in cs]
            for command in commands:
                if command.expect:
                    re.compile(command.expect)


def test_every_checked_command_shows_a_sample_that_passes_its_own_check(chapters) -> None:
    # The page shows `example` as what the reader should see; the executor checks `expect`. A sample that its own
    # check would reject teaches the reader the wrong thing.
    for chapter in chapters:
        for step in chapter.steps:
            for command in list(step.local) + [c for _, cs in step.per_node for c in cs]:
                if command.expect:
                    assert command.example, f"{step.id}: {command.run[:60]!r} checks its output but shows no sample"
                    assert re.search(command.expect, command.example, re.MULTILINE), (
                        f"{step.id}: the sample {command.example!r} does not match {command.expect!r}")
