"""The built site's way in and what every page carries, read from the HTML `invoke build-docs` leaves (as
tests/test_site.py does): the start pages and their chapter map, the notebooks as pages, the certificate ledger's
markup, the cluster's name in every title and header, readable Chinese heading ids, the theme's words in the page's
language, one 404 page and a sitemap only where the site's address is known (`--site-url`)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree

import nbformat
import pytest

from generator import catalog, day2
from generator.model import load
from generator.site.chapter import notebook_command
from generator.site.notebook_pages import every_chapter
from generator.site.words import WORDS
from tests.conftest import REPO, SITE_URL
from tests.test_site import (
    LANGS,
    Element,
    builds,
    cluster_root,
    every_page,
    lang_root,
    parse,
    resolve,
    scheduler_chapter,
    zh_pages,
)

CLUSTERS = sorted(p.stem for p in (REPO / "clusters").glob("*.yaml"))
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


def start_page(root: Path, lang: str) -> Path:
    return lang_root(root, lang) / "start" / "index.html"


def chapter_map(page: Path) -> list[tuple[list[str], Path | None, str]]:
    """The start page's chapter map: per row its cells' text, where its link leads, and the link's fragment."""
    table = next(t for t in parse(page).find("article").find_all("table")
                 if [th.text().strip() for th in t.find_all("th")][0] == "#")
    rows = []
    for tr in table.find("tbody").find_all("tr"):
        links = tr.find_all("a")
        href = links[0].attrs["href"] if links else ""
        rows.append(([td.text().strip() for td in tr.find_all("td")], resolve(page, href) if href else None,
                     urlsplit(href).fragment))
    return rows


# --------------------------------------------------------------------------------------------------------------------
# The way in


@pytest.mark.parametrize("lang", LANGS)
def test_the_top_start_page_maps_every_chapter_to_a_runbook_that_has_it(built_site: Path, lang: str):
    rows = chapter_map(start_page(built_site, lang))
    chapters = every_chapter()
    assert [int(cells[0]) for cells, _, _ in rows] == [c.number for c in chapters] == list(range(1, len(chapters) + 1))
    assert len(chapters) == len(catalog.chapter_ids())
    for (cells, target, _), chapter in zip(rows, chapters, strict=True):
        assert cells[1] == chapter.title[lang]
        if target is None:  # no runbook of the site has it: no cluster file plans that change
            assert cells[3] == "—" and chapter.id not in {day2.planned(load(c)) for c in CLUSTERS}, chapter.id
            continue
        assert target.is_file(), f"{chapter.id}: {target}"
        cluster, page = target.relative_to(built_site / "clusters").parts[0], target.parent.name
        assert page == chapter.page and target.parent.parent == lang_root(cluster_root(built_site, cluster), lang)
        assert chapter.id in {c.id for c in catalog.chapters(load(cluster))}, f"{cluster} has no {chapter.id}"
    planned = {c: day2.planned(load(c)) for c in CLUSTERS}
    for change in (day2.UPGRADE, day2.MEMBERSHIP, day2.CA_ROTATION):
        assert change in planned.values(), f"no cluster file plans {change}: the map links none"


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_a_cluster_start_page_links_its_own_chapters_and_the_map_for_the_others(built_site: Path, cluster: str):
    model = load(cluster)
    own = {c.id: c for c in catalog.chapters(model)}
    for lang in LANGS:
        root = lang_root(cluster_root(built_site, cluster), lang)
        page = start_page(cluster_root(built_site, cluster), lang)
        for (cells, target, fragment), chapter in zip(chapter_map(page), every_chapter(), strict=True):
            if chapter.id in own:
                assert target == (root / own[chapter.id].page / "index.html").resolve(), chapter.id
            else:
                assert target == start_page(built_site, lang).resolve() and fragment == "chapter-map", chapter.id
                assert "*" in cells[3]
        blocks = [code.text().strip() for code in parse(page).find("article").find_all("code")]
        assert f"invoke check-workstation --cluster {shlex.quote(model.ref)}" in blocks
        assert notebook_command(next(iter(own.values())), model) in blocks


@pytest.mark.parametrize("lang", LANGS)
def test_the_home_page_and_every_overview_lead_to_their_start_page(built_site: Path, lang: str):
    for root in builds(built_site):
        home = lang_root(root, lang) / "index.html"
        targets = [resolve(home, a.attrs["href"]) for a in parse(home).find("article").find_all("a")
                   if a.attrs.get("href", "").startswith("start")]
        assert start_page(root, lang).resolve() in targets, home


# --------------------------------------------------------------------------------------------------------------------
# Notebooks as pages


@pytest.mark.parametrize("lang", LANGS)
def test_each_notebook_is_a_page_with_a_link_that_downloads_it(built_site: Path, lang: str):
    for source in sorted((REPO / "notebooks").glob("*.ipynb")):
        page = lang_root(built_site, lang) / "notebooks" / source.stem / "index.html"
        article = parse(page).find("article")
        (download,) = [a for a in article.find_all("a") if "download" in a.attrs]
        assert resolve(page, download.attrs["href"]).read_bytes() == source.read_bytes()
        code = "\n".join(pre.text() for pre in article.find_all("pre"))
        for cell in nbformat.read(source, as_version=4).cells:
            if cell.cell_type == "code":
                assert all(line in code for line in cell.source.splitlines()), f"{source.name}: {cell.source}"


@pytest.mark.parametrize("lang", LANGS)
def test_a_chapter_page_links_its_notebook_page(built_site: Path, lang: str):
    page = scheduler_chapter(built_site, lang)
    links = [a.attrs["href"] for a in parse(page).find("article").find_all("a") if "notebooks/" in a.attrs["href"]]
    assert [resolve(page, href) for href in links] == [
        lang_root(built_site, lang) / "notebooks" / "kube-scheduler" / "index.html"]


# --------------------------------------------------------------------------------------------------------------------
# The ledger, titles and headers, heading ids, the theme's words


@pytest.mark.parametrize("lang", LANGS)
def test_the_ledger_has_four_columns_and_the_rest_on_demand(built_site: Path, lang: str):
    article = parse(lang_root(cluster_root(built_site), lang) / "index.html").find("article")
    region = article.find("div", cls="runbook-ledger")
    assert region.attrs["tabindex"] == "0" and region.attrs["role"] == "region"
    assert region.attrs["aria-label"] == WORDS[lang]["ledger"]
    assert len(region.find("thead").find_all("th")) == 4
    rows = region.find("tbody").find_all("tr")
    assert rows
    for row in rows:
        details = row.find("details")
        assert [dt.text() for dt in details.find_all("dt")] == [
            WORDS[lang][k] for k in ("subject", "signed_by", "where", "path", "restart")]


def header_title(doc: Element) -> str:
    return doc.find(cls="md-header__topic").text().strip()


def test_every_cluster_page_names_its_cluster_in_its_title_and_header(built_site: Path):
    for root in builds(built_site)[1:]:
        for rel in sorted(zh_pages(root)):
            for lang in LANGS:
                doc = parse(lang_root(root, lang) / rel)
                assert root.name in doc.find("title").text(), f"{root.name}/{lang}/{rel}"
                assert root.name in header_title(doc), f"{root.name}/{lang}/{rel}"


def test_chinese_headings_have_readable_ids(built_site: Path):
    for root, rel in every_page(built_site):
        for element in parse(root / rel).iter():
            if re.fullmatch(r"h[1-6]", element.tag) and "id" in element.attrs:
                assert not re.fullmatch(r"_\d+", element.attrs["id"]), f"{root}/{rel}: {element.text().strip()}"
    ledger = parse(cluster_root(built_site) / "index.html").find(id=WORDS["zh"]["ledger"])
    assert ledger.tag == "h2"


def test_theme_words_are_in_the_page_language(built_site: Path):
    for root, rel in every_page(built_site):
        for lang in LANGS:
            page = lang_root(root, lang) / rel
            text = page.read_text(encoding="utf-8")
            doc = parse(page)
            titles = {a.attrs.get("title") for a in doc.find_all("a", cls="headerlink")}
            assert titles <= {WORDS[lang]["permalink"]}, f"{page}: {titles}"
            assert doc.find("div", cls="md-search").attrs.get("aria-label") == WORDS[lang]["search"]
            assert "Made with" not in text and "squidfunk" not in text, page


def test_chinese_labels_end_with_a_full_width_colon(built_site: Path):
    w = WORDS["zh"]
    text = "".join(p.read_text(encoding="utf-8") for p in cluster_root(built_site).glob("*/index.html"))
    for key in ("expect", "workstation", "per_node"):
        assert f"{w[key]}：" in text and f"{w[key]}:" not in text, key


# --------------------------------------------------------------------------------------------------------------------
# 404 and sitemaps


def test_without_an_address_one_bilingual_404_page_and_no_sitemap(built_site: Path):
    assert sorted(p.relative_to(built_site).as_posix() for p in built_site.rglob("404.html")) == ["404.html"]
    assert not list(built_site.rglob("sitemap.xml*"))
    doc = parse(built_site / "404.html")
    assert {p.attrs.get("lang") for p in doc.find("article").find_all("p")} == set(LANGS)
    assert not any("None" in p.read_text(encoding="utf-8") for p in built_site.rglob("*.xml"))


def site_file(site: Path, url: str) -> Path:
    """The file an absolute URL under SITE_URL opens."""
    assert url.startswith(SITE_URL) or url.startswith(urlsplit(SITE_URL).path), url
    rel = url.removeprefix(SITE_URL).removeprefix(urlsplit(SITE_URL).path)
    return site / rel / "index.html" if rel.endswith("/") or not rel else site / rel


def test_with_an_address_every_sitemap_location_is_a_page_under_it(addressed_site: Path):
    for root in builds(addressed_site):
        tree = ElementTree.parse(root / "sitemap.xml")
        locations = [loc.text for loc in tree.iter(f"{SITEMAP}loc")]
        rel = root.relative_to(addressed_site).as_posix()
        base = SITE_URL if rel == "." else f"{SITE_URL}{rel}/"
        assert len(locations) == len(zh_pages(root)) * len(LANGS), root
        for loc in locations:
            assert loc.startswith(base) and site_file(addressed_site, loc).is_file(), loc


def test_with_an_address_the_404_page_links_under_it(addressed_site: Path):
    assert sorted(p.relative_to(addressed_site).as_posix() for p in addressed_site.rglob("404.html")) == ["404.html"]
    doc = parse(addressed_site / "404.html")
    links = [e.attrs.get("href") or e.attrs.get("src") for e in doc.iter() if e.attrs.get("href") or e.attrs.get("src")]
    inside = [link for link in links if not urlsplit(link).scheme and not link.startswith("#")]
    assert inside
    for link in inside:
        assert link.startswith(urlsplit(SITE_URL).path), link
        assert site_file(addressed_site, link.split("#")[0]).exists(), link
