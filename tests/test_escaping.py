"""Nothing from a file reaches a page as markup (issue 23: an `<img onerror>` in a run record ended up in
site/index.html). Markup is fed through each field that reaches a page, the site is built by the real build
(MkDocs with the project's mkdocs.yml and hooks, into temp directories) and the built HTML must show it as text:
run records and executed notebooks (through their validation, and with it bypassed: the escaping at the one place
pages are written must hold by itself), ledger fields, and every string field of the cluster file (refused)."""

from __future__ import annotations

import dataclasses
import html
import json
import shutil
import typing
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
import yaml

from generator import ledger, run_records
from generator.model import ClusterFile, ClusterFileError, Components, load
from generator.site.build import build_site
from generator.site.safe_html import checked
from generator.site.words import WORDS
from tests.conftest import FIXTURE_RUNS, REPO

MARKUP = "<img src=x onerror=alert(23)>"
SHOWN = html.escape(MARKUP, quote=False)  # how the page must show it: as text
ATTACKS = [MARKUP, "<script>alert(23)</script>", '<a href="javascript:alert(23)">x</a>', "<svg onload=alert(23)>",
           '<div class="x" onclick="alert(23)">', "<iframe src=//evil.example>"]


class Elements(HTMLParser):
    """What a browser would make of a built page: the elements and attributes an attack would add."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on") or name in ("href", "src") and value and (
                    "javascript:" in value.replace("\t", "").lower() or "evil.example" in value):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag in ("iframe", "svg") and any(name.startswith("on") for name, _ in attrs) or \
                tag == "img" and dict(attrs).get("src") == "x":
            self.found.append(f"<{tag} {attrs}>")

    def handle_data(self, data: str) -> None:
        if self.in_script and "alert(23)" in data:
            self.found.append(f"<script>{data[:40]}")

    def handle_endtag(self, tag: str) -> None:
        self.in_script = False


def raw_attacks(text: str) -> list[str]:
    """The attacks present as markup (elements, handlers, URLs) rather than text in a built page."""
    parser = Elements()
    parser.feed(text)
    return parser.found


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """The lab cluster's site built from a copy of the real lab record with markup in every free-text field: a
    notebook's markdown cell, its stream output, a step explanation (text/markdown) and an error output, plus a
    stream output that tries to close its code fence and open Markdown of its own."""
    root = tmp_path_factory.mktemp("escaping")
    runs = root / "runs"
    shutil.copytree(FIXTURE_RUNS, runs)
    record = next((runs / "lab").iterdir())
    path = record / "08-kube-scheduler.ipynb"
    nb = nbformat.read(path, as_version=4)
    hostile = (f"{MARKUP} [x](javascript:alert(23)) ![y](https://evil.example/t.png) {{ onclick=\"alert(23)\" }}\n\n"
               "<script>alert(23)</script>\n")
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(f"# heading {MARKUP}\n\n{hostile}"))
    code = next(c for c in nb.cells if c.cell_type == "code" and c.outputs)
    code.outputs += [
        nbformat.v4.new_output("stream", name="stdout", text=f"{MARKUP}\n````\n\n{MARKUP}\n\n````\n"),
        nbformat.v4.new_output("display_data", data={"text/markdown": hostile, "text/plain": MARKUP}),
        nbformat.v4.new_output("error", ename=MARKUP, evalue=MARKUP, traceback=[MARKUP]),
    ]
    nbformat.write(nb, path)
    site, staging = root / "site", root / "staging"
    build_site([load("lab")], site, runs, jobs=1, staging=staging)
    yield site, record


def pages(site: Path) -> dict[Path, str]:
    return {p: p.read_text(encoding="utf-8") for p in site.rglob("*.html")}


def test_notebook_text_is_shown_as_text_on_the_run_pages(built: tuple[Path, Path]) -> None:
    site, _ = built
    run_pages = {p: t for p, t in pages(site).items() if "last-run" in p.parts and "08-kube-scheduler" in p.parts}
    assert len(run_pages) == 2, sorted(run_pages)  # zh and en
    for path, text in run_pages.items():
        assert text.count(SHOWN) >= 5, path  # the heading, the cell, the outputs: each shown as text
        assert raw_attacks(text) == [], path


def test_no_page_of_the_site_carries_markup_from_the_record(built: tuple[Path, Path]) -> None:
    site, _ = built
    found = {str(p.relative_to(site)): raw_attacks(t) for p, t in pages(site).items() if raw_attacks(t)}
    assert found == {}


SUMMARY_FIELDS = ["release", "result", "failure.node", "failure.step", "measured", "status", "started"]


def mark(field: str) -> str:
    return f"<img src=x onerror=alert(23) title={field}>"


def marked(summary: run_records.Summary) -> run_records.Summary:
    """The summary with markup in every field a page shows (each its own), built without validation."""
    steps = list(summary.steps)
    steps[0] = dataclasses.replace(steps[0], measured={mark("measured"): 1.0},
                                   status=mark("status"))  # type: ignore[arg-type]
    failure = run_records.Failure(chapter="kube-scheduler", step=f"`{mark('failure.step')}",
                                  node=mark("failure.node"))
    return dataclasses.replace(summary, steps=tuple(steps), failure=failure, release=mark("release"),
                               result=mark("result"), started=mark("started"))  # type: ignore[arg-type]


def test_markup_past_validation_is_still_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation refuses markup in these fields (tests/test_run_records.py); here it is bypassed, and the pages
    written from the record must still show each field's markup as text: the escaping holds by itself."""
    real = run_records.last("lab", FIXTURE_RUNS)
    assert real is not None
    record = run_records.Record(real.directory, marked(real.summary))
    monkeypatch.setattr(run_records, "last", lambda name, root=None: record if name == "lab" else None)
    monkeypatch.setattr(run_records, "check", lambda *args: None)
    for lang in WORDS:  # the words a page looks status and result up by: the markup itself
        for field in ("status", "result"):
            monkeypatch.setitem(WORDS[lang], mark(field), mark(field))
    site = tmp_path / "site"
    build_site([load("lab")], site, FIXTURE_RUNS, jobs=1, staging=tmp_path / "staging")
    texts = pages(site)
    overview = texts[site / "clusters" / "lab" / "en" / "index.html"]
    for field in SUMMARY_FIELDS:
        # the start time is shown to the second: its first 19 characters
        shown = html.escape(mark(field)[:19], quote=False) + " UTC" if field == "started" else \
            html.escape(mark(field), quote=False)
        assert shown in overview, f"{field} is not shown as text"
    assert {str(p): raw_attacks(t) for p, t in texts.items() if raw_attacks(t)} == {}


def test_ledger_fields_are_text_on_the_overview(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_load = ledger.load

    def tampered(cluster: object) -> list[ledger.Entry]:
        entries = real_load(cluster)
        fields = {"subject": MARKUP, "signed_by": MARKUP, "path": f"/x/{MARKUP}", "node": MARKUP,
                  "restart": [MARKUP], "issuer": MARKUP}
        return [dataclasses.replace(entries[0], **fields), *entries[1:]]

    monkeypatch.setattr(ledger, "load", tampered)
    site = tmp_path / "site"
    build_site([load("lab")], site, tmp_path / "no-runs", jobs=1, staging=tmp_path / "staging")
    overview = (site / "clusters" / "lab" / "en" / "index.html").read_text(encoding="utf-8")
    assert overview.count(SHOWN) >= 3 and raw_attacks(overview) == []


def string_fields(cls: type, prefix: str = "") -> Iterator[str]:
    """Every string field of the cluster file, as a field path (list items as [0])."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        key = field.metadata.get("key", field.name)
        hint, path = hints[field.name], f"{prefix}{key}"
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if hint is str or args == [str] and typing.get_origin(hint) is not tuple:
            yield path
        elif typing.get_origin(hint) is tuple and args[0] is str:
            yield f"{path}[0]"
        elif typing.get_origin(hint) is tuple and dataclasses.is_dataclass(args[0]):
            yield from string_fields(args[0], f"{path}[0].")
        elif dataclasses.is_dataclass(hint):
            yield from string_fields(hint, f"{path}.")


FIELDS = list(string_fields(ClusterFile))


def test_the_walk_finds_the_cluster_files_strings() -> None:
    assert {"name", "nodes[0].ip", "ssh.options[0]", "membership.leaving[0].name", "upgrade.from",
            "components.kube-scheduler.leader_election.lease_duration"} <= set(FIELDS)
    assert len(FIELDS) >= 40 and Components  # every section is walked


def set_field(data: dict, field: str, value: object) -> None:
    """data["a"]["b"][0]["c"] = value for "a.b[0].c", making sections and one-item lists as needed."""
    steps: list[str | int] = []
    for piece in field.split("."):
        name, _, index = piece.partition("[")
        steps += [name, 0] if index else [name]
    node: typing.Any = data
    for here, after in zip(steps, steps[1:], strict=False):
        if isinstance(here, int):
            node = node[here]
        else:
            node = node.setdefault(here, [] if isinstance(after, int) else {})
            if isinstance(after, int) and not node:
                node.append(None)
    node[steps[-1]] = value


@pytest.mark.parametrize("field", FIELDS)
def test_markup_in_any_string_of_the_cluster_file_is_refused(tmp_path: Path, field: str) -> None:
    data = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    data["name"] = "escaping"
    if field.startswith("membership.leaving"):
        data["membership"] = {"leaving": [{"name": "k8s-master-04", "ip": "192.168.1.207"}]}
    set_field(data, field, MARKUP)
    source = tmp_path / "escaping.yaml"
    source.write_text(yaml.safe_dump(data))
    with pytest.raises(ClusterFileError) as refused:
        load(str(source))
    named = (f"{source}: {field}", f"{source}: {field.removesuffix('[0]')}: ")  # a list of roles: the list
    assert any(line.startswith(named) for line in str(refused.value).splitlines()), str(refused.value)


@pytest.mark.parametrize("fragment", [
    MARKUP, '<a href="javascript:alert(1)">x</a>', '<a href=" java\tscript:alert(1)">x</a>', '<div onclick="x">',
    '<svg><script>alert(1)</script></svg>', "<!-- x -->", '<a href="//evil.example/x">x</a>', "<img",
    '<span class="x" style="background:url(https://evil.example)">',
])
def test_the_checker_escapes_what_the_generator_never_writes(fragment: str) -> None:
    assert checked(fragment) == html.escape(fragment)


def test_the_checker_keeps_the_generators_own_html() -> None:
    own = ('<div class="runbook-filter"><input type="search" data-column="0" placeholder="a" aria-label="a">'
           '<select data-column="1" aria-label="b"><option value="">c &amp; d</option></select></div>')
    assert checked(own) == own
    assert checked('<a href="../../notebooks/x.ipynb">x</a>') == '<a href="../../notebooks/x.ipynb">x</a>'


def test_the_fixture_record_is_valid_as_is() -> None:
    """The control for the run-page tests: the untouched lab record passes validation."""
    record = run_records.last("lab", FIXTURE_RUNS)
    assert record is not None and record.summary.result == "passed"
    assert json.loads((record.directory / "summary.json").read_text())["cluster"] == "lab"
