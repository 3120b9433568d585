"""Every command reviewable (issue 25): folded lines are the same command to bash, named scripts are shown once as
the files that run, and each block says truly where it runs."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from generator import catalog, scripts, shell_fold, steps
from generator.execute import groups
from generator.model import REPO, Cluster, all_clusters
from generator.render import make_artifacts, render
from generator.site import cluster_pages
from generator.site.chapter import where_label
from generator.site.reviewable import BLOCK_LIMIT, LINE_LIMIT, blocks, pages
from generator.where import where

CLUSTERS = [c.name for c in all_clusters()]


def parsed(bodies: list[str]) -> list[str]:
    """How bash itself reads each text: the body of a function made of it, as `declare -f` prints it back
    (continuations gone, quoting kept exactly, layout normalised)."""
    source = "".join(f"f{i}() {{\n{body}\n}}\n" for i, body in enumerate(bodies))
    source += "".join(f"declare -f f{i}; echo '@@@'\n" for i in range(len(bodies)))
    out = subprocess.run(["bash"], input=source, capture_output=True, text=True, check=True).stdout
    return out.split("@@@\n")[:-1]


@pytest.fixture(scope="module")
def fold_calls() -> list[tuple[str, dict[str, Any]]]:
    """Every text the runbook folds (commands, remote commands inside their quotes, named scripts) for every cluster
    file, as it was before folding, with the folding's options."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(script: str, **options: Any) -> str:
        calls.append((script, options))
        return script

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(steps, "fold", record)
        for cluster in all_clusters():
            catalog.chapters(cluster)
            scripts.scripts(cluster)
    return calls


def test_folding_changes_no_command_bash_reads(fold_calls: list[tuple[str, dict[str, Any]]]) -> None:
    # An ssh prefix is folded with its opening quote (steps.remote): closed here, it is a command of its own.
    prefix = [set(options) == {"indent"} for _, options in fold_calls]
    folded = [(text + "'" * p, shell_fold.fold(text, **options) + "'" * p)
              for (text, options), p in zip(fold_calls, prefix, strict=True)]
    changed = [(before, after) for before, after in folded if before != after]
    assert len(changed) > 50, "the runbook has long commands: folding should have changed some"
    assert all(" \\\n" in after for _, after in changed)
    before, after = parsed([b for b, _ in changed]), parsed([a for _, a in changed])
    differing = [changed[i][1] for i in range(len(changed)) if before[i] != after[i]]
    assert not differing, f"{len(differing)} folded texts bash reads differently, the first:\n{differing[0]}"


def test_folding_breaks_nothing_inside_quotes() -> None:
    """Single-quoted text, double-quoted text, a comment and a here-document's body stay whole, however long; plain
    words are folded to the width."""
    single, double, comment, body = "'" + "a " * 80 + "'", '"' + "b " * 80 + '"', "# " + "c " * 80, "d " * 80
    for text, kept in ((f"echo {single}", single), (f"echo {double}", double), (f"true {comment}", comment),
                       (f"cat <<EOF\n{body}\nEOF", f"\n{body}\n")):
        assert kept in shell_fold.fold(text), text[:20]
    plain = "echo " + "word " * 40
    assert max(len(line) for line in shell_fold.fold(plain).split("\n")) <= shell_fold.WIDTH


@pytest.mark.parametrize("name", CLUSTERS)
def test_named_scripts_are_the_files_a_render_writes(name: str) -> None:
    """The scripts page shows each script's text once, byte for byte the file under build/<cluster>/bin/, and every
    script a block calls is one the page shows."""
    cluster = next(c for c in all_clusters() if c.name == name)
    files = cluster_pages(cluster, REPO / "runs")
    written = {a.path: a.content.decode() for a in make_artifacts(cluster)[0] if a.path.startswith(scripts.DIRECTORY)}
    assert f"{scripts.DIRECTORY}on-node.sh" in written
    for lang in ("zh", "en"):
        page = files[f"scripts.{lang}.md"]
        for path, text in written.items():
            assert f"```bash\n{text}```" in page, path
            assert page.count(text) == 1, path
            assert files[f"files/{path}"] == text
    shown = set(re.findall(r"bash (build/[\w.-]+/bin/[\w.-]+\.sh)", "\n".join(
        g.block for ch in catalog.chapters(cluster) for s in ch.steps for g in groups(s))))
    assert shown, "no step calls a named script"
    assert shown <= {f"build/{name}/{p}" for p in written}


def ssh_words(run: str) -> list[str]:
    """The words bash gives a command line (continuations removed), or [] when it is more than one simple command."""
    lexer = shlex.shlex(run.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words = list(lexer)
    return [] if any(set(w) <= set("|&;<>()") for w in words) else words


def reached_in_files(cluster: Cluster, text: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The nodes a text names as ssh targets, followed through the named scripts it calls as written to disk."""
    found = {n.name for n in cluster.spec.nodes
             if re.search(re.escape(f"{cluster.spec.ssh.user}@{n.ip}") + r"(?![\w.:\]])", text)}
    for called in set(re.findall(r"build/[\w.-]+/bin/[\w.-]+\.sh", text)) - seen:
        found |= reached_in_files(cluster, (REPO / called).read_text(), seen | {called})
    return found


@pytest.mark.parametrize("name", CLUSTERS)
def test_where_each_block_runs_is_what_its_commands_do(name: str) -> None:
    """A block labelled with a node is nothing but ssh to that node (its tab's, when it has one); any other block
    runs on the workstation and names exactly the nodes its text and the scripts it calls reach over ssh."""
    cluster = next(c for c in all_clusters() if c.name == name)
    render(cluster)  # the scripts on disk are those of this cluster file
    ips = {n.name: n.ip for n in cluster.spec.nodes}
    kinds = set()
    for chapter in catalog.chapters(cluster):
        for step in chapter.steps:
            for group in groups(step):
                found = where(cluster, group.commands)
                if found.node is not None:
                    kinds.add("node")
                    assert group.node in (None, found.node), (step.id, group.node)
                    for command in group.commands:
                        words = ssh_words(command.run)
                        assert words and words[0] == "ssh", (step.id, command.run[:120])
                        assert words[-2] == f"{cluster.spec.ssh.user}@{ips[found.node]}", (step.id, words[-2])
                else:
                    text = "\n".join(c.run for c in group.commands)
                    kinds.add("reaching" if found.reaches else "workstation")
                    assert set(found.reaches) == reached_in_files(cluster, text), (step.id, group.node)
                for lang, words in (("en", ("On ", "On the workstation")), ("zh", ("在", "在运维机上执行"))):
                    label = where_label(group, cluster, lang)
                    assert label.startswith(words[0])
                    assert (found.node or "") in label and all(n in label for n in found.reaches)
                    assert (found.node is None) == label.startswith(words[1])
    assert kinds == {"node", "reaching", "workstation"}


def test_no_page_says_on_each_node(built_site: Path) -> None:
    """The fixed label that stood above workstation commands is gone from every page."""
    for page in pages(built_site):
        text = page.read_text(encoding="utf-8")
        assert "On each node:" not in text and "每个节点分别执行" not in text, page


def longest_word(line: str) -> int | None:
    """The longest word of a shown line, a quoted string counting as one; None for a line of a text quoted across
    lines (its quotes do not pair up on the line)."""
    lexer = shlex.shlex(line.strip().removesuffix("\\"), posix=False)
    lexer.whitespace_split = True
    try:
        return max(len(word) for word in lexer)
    except ValueError:
        return None


def test_a_long_line_is_long_because_of_one_long_word(built_site: Path) -> None:
    """Every line over the limit in a command block of a cluster's pages holds one word (a quoted string counts as
    one: an awk program, a jsonpath, a URL list) longer than half the limit, which no continuation could split;
    a line of several ordinary words is folded, commands quoted twice included."""
    over, scanned = [], 0
    for page in pages(built_site):
        rel = page.relative_to(built_site).as_posix()
        if not rel.startswith("clusters/") or "last-run" in rel:
            continue
        for block in blocks(page):
            scanned += block.lang == "bash"
            for line in block.lines if block.lang == "bash" else []:
                if len(line) > LINE_LIMIT:
                    word = longest_word(line)
                    if word is not None and word <= LINE_LIMIT // 2:
                        over.append(f"{rel}: {line}")
    assert scanned > 100, "the cluster pages' command blocks were not found"
    assert not over, f"{len(over)} long lines of short words, the first: {over[:3]}"


# What only maintainers know: the guides the project started from by number, its own test files and modules.
INTERNAL = re.compile(r"\bseeds?\b|种子|\btests/|\btest_\w+\.py\b|\bgenerator/[\w/]+\.py\b", re.IGNORECASE)


def test_pages_use_reader_words_only(built_site: Path) -> None:
    """No page (chapters, scripts, start pages, version facts, notebooks as pages) names a seed, a test file or one
    of the generator's modules: a reader has none of them. A run record's pages are left out: they show what that
    run printed, in the words of its day."""
    found = []
    for page in pages(built_site):
        if "last-run" in page.relative_to(built_site).parts:
            continue
        text = re.sub(r"<[^>]+>", " ", page.read_text(encoding="utf-8"))
        found += [f"{page.relative_to(built_site)}: {m.group(0)}" for m in INTERNAL.finditer(text)]
    assert not found, f"{len(found)} internal words on pages, the first: {found[:5]}"


def test_no_command_block_is_taller_than_a_screen(built_site: Path) -> None:
    """Every command block of a cluster's chapters (what runs, and the by-hand commands beside it) has at most
    BLOCK_LIMIT lines: longer work is split into steps, into by-hand blocks each making one thing, or into a named
    script. The scripts page is left out: it shows each script whole, as the file that runs."""
    tall, scanned = [], 0
    for page in pages(built_site):
        rel = page.relative_to(built_site).as_posix()
        if not rel.startswith("clusters/") or "last-run" in rel or "/scripts/" in rel:
            continue
        for block in blocks(page):
            if block.kind == "command":
                scanned += 1
                if len(block.lines) > BLOCK_LIMIT:
                    tall.append(f"{rel}: {len(block.lines)} lines from {block.lines[0][:60]!r}")
    assert scanned > 500, "the cluster pages' command blocks were not found"
    assert not tall, f"{len(tall)} blocks taller than {BLOCK_LIMIT} lines: {tall[:4]}"
