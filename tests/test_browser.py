"""The built site as a reader meets it, in Debian's Chromium (Playwright) against site/ served on 127.0.0.1.

Every request the browser makes is seen by a route (tests/conftest.py, `context`): one to any other host is recorded
and aborted, so a page that still loads a web font or script from outside fails here instead of hanging on an
intranet."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest
import yaml
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from generator import browser, catalog
from generator.model import load
from generator.render import make_artifacts
from generator.site.layout import cluster_path
from generator.site.topology import topology_svg
from generator.site.words import WORDS
from tests.conftest import FIXTURE_RUNS, REPO
from tests.test_parity import dry_run_blocks

pytestmark = pytest.mark.skipif(not Path(browser.CHROMIUM).exists(), reason="needs Debian's chromium (.ci)")
LANGS = ("zh", "en")
CLUSTERS = sorted(p.stem for p in (REPO / "clusters").glob("*.yaml"))
RUN = next((FIXTURE_RUNS / "lab").iterdir())


def chapters(cluster: str):
    return catalog.chapters(load(cluster))


def url(base: str, lang: str, cluster: str, path: str = "") -> str:
    """A page of a cluster's own build (site/clusters/<name>/, en under its en/)."""
    return base + cluster_path(cluster, lang) + path


def all_pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).parent.as_posix() + "/" for p in site.rglob("index.html")
                  if not {"assets", "search"} & set(p.relative_to(site).parts))


# --------------------------------------------------------------------------------------------------------------------
# Self-contained: every page loads with nothing from outside, and no request fails


def test_every_page_loads_without_reaching_outside(built_site: Path, base: str, context, page):
    pages = all_pages(built_site)
    assert len(pages) >= 2 * len(CLUSTERS) * (len(chapters("example")) + 1)
    for path in pages:
        response = page.goto(base + path.removeprefix("./"), wait_until="load")
        assert response.ok, path
        assert page.locator("article h1").count() == 1, f"{path}: no content"
    assert context.outside == [], f"requests to other hosts: {sorted(set(context.outside))}"
    assert page.failed == [], f"failed requests (e.g. a missing sitemap.xml): {page.failed}"


def test_control_an_outside_request_is_caught(base: str, context, page):
    before = len(context.outside)
    page.goto(base, wait_until="load")
    page.evaluate("fetch('https://fonts.googleapis.com/css?family=Roboto').catch(() => null)")
    page.wait_for_timeout(200)  # lets the request reach the route; nothing is asserted about time
    assert len(context.outside) == before + 1
    context.outside.pop()


# --------------------------------------------------------------------------------------------------------------------
# The switcher, per-language search, copy buttons, tabs


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_switcher_round_trip_on_every_chapter(base: str, page, cluster: str):
    for chapter in chapters(cluster):
        start = url(base, "zh", cluster, f"{chapter.page}/")
        page.goto(start)
        for lang, expected in (("en", url(base, "en", cluster, f"{chapter.page}/")), ("zh", start)):
            page.locator(".md-header__option .md-select").hover()
            page.locator(f"a.md-select__link[hreflang={lang}]").click()
            page.wait_for_load_state("load")
            assert page.url == expected
            assert page.locator("html").get_attribute("lang") == lang


def search(page, text: str) -> list[tuple[str, str]]:
    """Type a query as a reader does (real key presses) and return (href, page title) of every hit page."""
    page.locator(".md-search__input").click()
    page.locator(".md-search__input").press_sequentially(text, delay=20)
    # Material searches on keyup (and once when its worker is ready); Playwright types a character no key makes
    # (Chinese) as inserted text, with no keyup. A reader's input method commits with a key: so does this. Without
    # it, the query ran only if the index finished loading after the typing, a race a small index loses.
    page.locator(".md-search__input").press("End")
    page.wait_for_function("() => /\\d/.test(document.querySelector('.md-search-result__meta').textContent)")
    groups = page.locator("li.md-search-result__item")
    while True:  # Material renders more result pages as the list is scrolled; stop when scrolling adds none
        shown = groups.count()
        # Material adds 4 more each time the list's end comes into view anew: leave the end, then reach it
        page.evaluate("document.querySelector('.md-search__scrollwrap').scrollTop = 0")
        page.evaluate("new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        page.evaluate("(() => { const w = document.querySelector('.md-search__scrollwrap'); "
                      "w.scrollTop = w.scrollHeight; })()")
        try:
            page.wait_for_function(f"() => document.querySelectorAll('li.md-search-result__item').length > {shown}",
                                   timeout=2000)
        except PlaywrightTimeout:
            break
    return [(g.locator("a").first.get_attribute("href"), g.locator("h1").first.inner_text()) for g in groups.all()]


# What a Chinese reader types, and a chapter (by catalog id) that must be among the hits.
ZH_QUERIES = {"证书": "ca", "调度器": "kube-scheduler", "高可用": "kube-scheduler", "领导者": "kube-scheduler",
              "选主": "kube-controller-manager", "故障切换": "etcd"}


@pytest.mark.parametrize("word", ZH_QUERIES)
def test_chinese_search_finds_the_chapter_on_zh_pages_only(base: str, page, word: str):
    chapter = next(ch for ch in chapters("example") if ch.id == ZH_QUERIES[word])
    page.goto(url(base, "zh", "example", f"{chapter.page}/"))
    hits = search(page, word)
    assert hits, word
    assert not any("/en/" in href for href, _ in hits), f"{word}: English pages among the hits"
    assert any(f"/clusters/example/{chapter.page}/" in href for href, _ in hits), f"{word}: {hits}"
    # each hit names its cluster and chapter: the page titles are the chapter's title with the cluster's name
    for href, title in hits:
        cluster = re.search(r"/clusters/([^/]+)/", href)
        if cluster and "/last-run/" not in href:
            assert cluster[1] in title, f"{word}: hit {title!r} does not name its cluster ({href})"


def test_english_search_finds_english_pages_only(base: str, page):
    page.goto(url(base, "en", "example"))
    hits = search(page, "leader")
    assert hits and all("/en/" in href for href, _ in hits), hits


def test_copy_button_copies_exactly_the_block(base: str, page):
    chapter = next(ch for ch in chapters("example") if ch.id == "kube-scheduler")
    page.goto(url(base, "zh", "example", f"{chapter.page}/"))
    first = page.locator("div.language-bash").first
    first.hover()
    first.locator("button.md-code__button[data-md-type=copy]").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == dry_run_blocks("--chapter", "kube-scheduler")[0]


def test_node_tabs_stay_in_sync(base: str, page):
    chapter = next(ch for ch in chapters("example") if ch.id == "kube-scheduler")
    page.goto(url(base, "en", "example", f"{chapter.page}/"))
    node = load("example").masters[1]
    labels = page.locator(".tabbed-labels > label").filter(has_text=re.compile(f"^{re.escape(node.name)}$"))
    assert labels.count() >= 2

    def shown(i: int) -> str:
        tab_set = labels.nth(i).locator("xpath=ancestor::div[contains(@class,'tabbed-set')][1]")
        visible = tab_set.locator(".tabbed-block:visible")
        assert visible.count() == 1
        return visible.inner_text()

    last = labels.count() - 1
    assert node.ip not in shown(last)  # the first master's tab is open before the click
    labels.first.click()
    for i in range(labels.count()):  # every tab set on the page now shows the second master's block
        assert node.ip in shown(i) or node.name in shown(i), i


# --------------------------------------------------------------------------------------------------------------------
# Layout: wrapping commands, the topology, print


def test_commands_wrap_instead_of_being_cut(base: str, page):
    for chapter in chapters("example"):
        page.goto(url(base, "zh", "example", f"{chapter.page}/"))
        cut = page.evaluate("[...document.querySelectorAll('pre > code')].filter(c => c.scrollWidth > "
                            "c.clientWidth + 1).map(c => c.textContent.slice(0, 60))")
        assert cut == [], f"{chapter.page}: code cut off at 1280 px: {cut}"


def test_topology_names_every_node_the_vip_and_the_ports(base: str, page):
    spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    page.goto(url(base, "en", "example"))
    text = " ".join(page.locator("svg[aria-label=topology] text").all_text_contents())
    for node in spec["nodes"]:
        assert node["name"] in text and node["ip"] in text
    assert f"{spec['api_server']['vip']}:{spec['api_server']['port']}" in text
    for port in (spec["api_server"]["port"], 6443, 10257, 10259, 2379, 2380):
        assert f":{port}" in text


def test_topology_stays_readable_with_seven_masters(base: str, page, tmp_path: Path):
    spec = yaml.safe_load((REPO / "clusters" / "example.yaml").read_text())
    spec.update(name="seven", nodes=[{"name": f"master-{i}", "ip": f"192.168.1.{10 + i}"} for i in range(7)])
    (tmp_path / "seven.yaml").write_text(yaml.safe_dump(spec))
    svg = topology_svg(load(str(tmp_path / "seven.yaml")), "en")
    page.goto(url(base, "en", "example"))
    page.evaluate("svg => { document.querySelector('.runbook-topology').outerHTML = svg }", svg)
    sizes = page.evaluate("[...document.querySelectorAll('svg[aria-label=topology] text')]"
                          ".map(t => t.getBoundingClientRect().height)")
    assert len(sizes) > 7 and min(sizes) >= 12, f"text shrinks to {min(sizes):.1f} px"
    box = page.evaluate("(() => { const s = document.querySelector('svg[aria-label=topology]').getBoundingClientRect();"
                        " const a = document.querySelector('article').getBoundingClientRect();"
                        " return [s.right, a.right]; })()")
    assert box[0] <= box[1] + 1, "the topology runs out of the content column"


def test_print_view(base: str, page):
    chapter = next(ch for ch in chapters("example") if ch.id == "kube-scheduler")
    page.goto(url(base, "en", "example", f"{chapter.page}/"))
    page.emulate_media(media="print")
    assert "example" in page.title() and "example" in page.locator("article h1").inner_text()
    assert page.locator("article .md-code__button:visible").count() == 0, "copy icons on paper"
    cut = page.evaluate("[...document.querySelectorAll('pre > code')].filter(c => c.scrollWidth > "
                        "c.clientWidth + 1).length")
    assert cut == 0


# --------------------------------------------------------------------------------------------------------------------
# The home page at scale, the last run, downloads, secrets


def test_cluster_index_filters_by_name_release_and_result(base: str, page):
    page.goto(base)
    rows = page.locator(".runbook-clusters tbody tr")
    assert rows.count() == len(CLUSTERS)
    page.locator(".runbook-filter input").press_sequentially("lab")
    visible = [r.inner_text().split()[0] for r in rows.all() if r.is_visible()]
    assert visible == ["lab"]
    page.locator(".runbook-filter input").fill("")
    release = load("example").release
    page.locator(".runbook-filter select").first.select_option(str(release))
    same_release = sorted(name for name in CLUSTERS if load(name).release == release)  # example-grow shares it
    assert sorted(r.inner_text().split()[0] for r in rows.all() if r.is_visible()) == same_release
    assert len(same_release) < len(CLUSTERS)
    page.locator(".runbook-filter select").first.select_option("")
    page.locator(".runbook-filter select").nth(1).select_option(WORDS["zh"]["passed"])
    assert [r.inner_text().split()[0] for r in rows.all() if r.is_visible()] == ["lab"]  # the fixture's run


@pytest.mark.parametrize("lang", LANGS)
def test_last_run_panel_shows_the_run_record(base: str, page, lang: str):
    summary = json.loads((RUN / "summary.json").read_text())
    page.goto(url(base, lang, "lab"))
    text = page.locator("article").inner_text()
    assert summary["started"][:19].replace("T", " ") in text and summary["release"] in text
    for chapter in chapters("lab"):
        assert page.locator(f"article a[href='last-run/{chapter.page}/']").count() == 1, chapter.page
    figures = [(name, value) for o in summary["steps"] for name, value in o.get("measured", {}).items()]
    assert figures
    for name, value in figures:
        assert re.search(rf"{name}\s+{value:g}\b", text), f"{name}={value} not shown"
    page.locator("article a[href^='last-run/']").last.click()
    page.wait_for_load_state("load")
    assert "/last-run/" in page.url and page.locator("article pre").count() > 0


def test_public_artifacts_download_byte_identical(base: str, page):
    chapter = next(ch for ch in chapters("example") if ch.id == "kube-scheduler")
    page.goto(url(base, "en", "example", f"{chapter.page}/"))
    links = page.locator("article a[download]")
    assert links.count() >= 3
    for i in range(links.count()):
        href = links.nth(i).get_attribute("href")
        if not links.nth(i).is_visible():  # in a tab not shown
            continue
        with page.expect_download() as download:
            links.nth(i).click()
        rel = href.split("files/", 1)[1]
        assert Path(download.value.path()).read_bytes() == (REPO / "build" / "example" / rel).read_bytes(), rel


def test_no_url_of_the_site_serves_a_private_key(built_site: Path, base: str):
    for path in built_site.rglob("*"):
        if path.is_file():
            with urlopen(base + path.relative_to(built_site).as_posix()) as answer:
                assert b"PRIVATE KEY-----" not in answer.read(), path
    for cluster in CLUSTERS:
        for artifact in make_artifacts(load(cluster))[0]:
            if artifact.secret:
                for lang in LANGS:
                    with pytest.raises(HTTPError) as err:
                        urlopen(url(base, lang, cluster, f"files/{artifact.path}"))
                    assert err.value.code == 404
