"""What a reader hits, in Debian's Chromium (Playwright) against the built site: axe-core's serious findings on each
kind of page, the certificate ledger at 1366 px and on A4, the 404 page at a sub-path, the notebooks as pages, and
what the top site's search says it covers.

axe-core comes from npm (tests/axe/package.json, installed by `make axe`, which `make test` runs) and is injected
into the page under test only: the site never carries it."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator import browser, catalog
from generator.model import load
from generator.site.words import WORDS
from tests.conftest import FIXTURE_RUNS, REPO, SITE_URL
from tests.test_browser import search, url

pytestmark = pytest.mark.skipif(not Path(browser.CHROMIUM).exists(), reason="needs Debian's chromium (.ci)")
AXE = REPO / "tests" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
# axe-core's two highest impacts: what a reader with a screen reader, the keyboard or low vision cannot get past
SERIOUS = ("serious", "critical")
LAPTOP = {"width": 1366, "height": 768}
A4 = {"width": 794, "height": 1123}  # 210 × 297 mm at 96 px per inch
RUN = next((FIXTURE_RUNS / "lab").iterdir())


def chapter_page(cluster: str, chapter_id: str) -> str:
    return next(ch.page for ch in catalog.chapters(load(cluster)) if ch.id == chapter_id) + "/"


def kinds_of_page() -> dict[str, str]:
    """One page of each kind the site has, by what it is → its path under the site."""
    return {
        "home": "", "home (en)": "en/", "start here": "start/", "version facts": "en/versions/",
        "notebook": "notebooks/kube-scheduler/", "overview with the ledger": "clusters/example/",
        "cluster start here": "clusters/example/en/start/",
        "chapter with node tabs": "clusters/example/" + chapter_page("example", "kube-scheduler"),
        "chapter with by-hand tabs": "clusters/example/en/" + chapter_page("example", "ca"),
        "day-2 chapter that cannot be undone": "clusters/example-rotate/" + chapter_page("example-rotate",
                                                                                        "ca-rotation"),
        "troubleshooting": "clusters/example/" + chapter_page("example", "troubleshooting"),
        "last run": "clusters/lab/", "last run's notebook": "clusters/lab/last-run/"
        + next(ch.page for ch in catalog.chapters(load("lab")) if (RUN / f"{ch.page}.ipynb").exists()) + "/",
        "404": "404.html",
    }


def serious(page) -> list[str]:
    assert AXE.is_file(), "axe-core is missing: `make axe` installs it (npm ci --prefix tests/axe)"
    page.add_script_tag(path=str(AXE))
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']})")["violations"]
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in found if v["impact"] in SERIOUS]


@pytest.mark.parametrize("kind", kinds_of_page())
def test_axe_finds_nothing_serious(base: str, page, kind: str):
    page.set_viewport_size(LAPTOP)
    page.goto(base + kinds_of_page()[kind], wait_until="load")
    assert serious(page) == [], kind


def test_control_axe_reports_what_the_site_fixed(base: str, page):
    # the theme's unnamed search dialog and grey code text, as they were before the site named and darkened them
    page.goto(base + kinds_of_page()["chapter with node tabs"], wait_until="load")
    page.evaluate("document.querySelector('.md-search').removeAttribute('aria-label');"
                  "document.body.style.setProperty('--md-code-hl-generic-color', '#0000008a')")
    found = serious(page)
    assert any(f.startswith("aria-dialog-name") for f in found) and any(f.startswith("color-contrast") for f in found)


def test_the_site_never_carries_axe(built_site: Path):
    assert not [p for p in built_site.rglob("*") if "axe" in p.name.lower()]


# --------------------------------------------------------------------------------------------------------------------
# The certificate ledger


def ledger_overflow(page) -> list[int]:
    """How far the ledger (and any table in the article) runs past its box, in px."""
    return page.evaluate("[...document.querySelectorAll('.runbook-ledger, .md-typeset__scrollwrap')]"
                         ".map(e => e.scrollWidth - e.clientWidth).filter(d => d > 1)")


@pytest.mark.parametrize("lang", ("zh", "en"))
def test_the_ledger_fits_a_laptop_and_a4_and_opens_on_demand(base: str, page, lang: str):
    page.set_viewport_size(LAPTOP)
    page.goto(url(base, lang, "example"), wait_until="load")
    ledger = page.locator(".runbook-ledger")
    assert ledger_overflow(page) == [] and ledger.locator("tbody tr").count() > 10
    first = ledger.locator("details").first
    assert not first.locator("dl").is_visible()
    first.locator("summary").click()
    assert first.locator("dl").is_visible() and "CN=" in first.locator("dl").inner_text()
    assert ledger_overflow(page) == []
    # paper: A4's width, print styles, every row's details open (Material opens every <details> for print)
    page.set_viewport_size(A4)
    page.emulate_media(media="print")
    page.reload(wait_until="load")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")
    assert ledger_overflow(page) == []
    assert page.evaluate("[...document.querySelectorAll('.runbook-ledger details')].every(d => d.open)")


def test_control_eight_columns_do_not_fit(base: str, page):
    page.set_viewport_size(LAPTOP)
    page.goto(url(base, "en", "example"), wait_until="load")
    page.evaluate("document.querySelectorAll('.runbook-ledger tr').forEach(r => { for (let i = 0; i < 4; i++) "
                  "r.insertAdjacentHTML('beforeend', '<td><code>CN=kube-controller-manager,O=system</code></td>') })")
    assert ledger_overflow(page)


def test_the_ledger_scrolls_from_the_keyboard(base: str, page):
    page.set_viewport_size({"width": 360, "height": 740})  # a phone: the table is wider than the screen
    page.goto(url(base, "en", "example"), wait_until="load")
    ledger = page.locator(".runbook-ledger")
    assert ledger_overflow(page)
    ledger.focus()
    assert page.evaluate("document.activeElement.classList.contains('runbook-ledger')")
    page.keyboard.press("ArrowRight")
    assert ledger.evaluate("e => e.scrollLeft") > 0


# --------------------------------------------------------------------------------------------------------------------
# 404 at a sub-path


def missing_page(site: Path, page) -> tuple[int, list[str]]:
    """Ask the site served under SITE_URL's path for a page it does not have; the answer's status, and every
    request of the page that failed."""
    prefix = "/" + SITE_URL.split("/", 3)[3]
    with browser.serve(site, prefix=prefix) as root:
        answer = page.goto(root + "clusters/example/en/no-such-chapter/", wait_until="load")
        failed = [f for f in page.failed if "no-such-chapter" not in f]
        status = answer.status
        if not failed:  # the page's links lead into the site under the sub-path
            for link in page.locator("article a").all():
                with page.expect_navigation():
                    link.click()
                assert page.url.startswith(root) and page.locator("article h1").count() == 1, page.url
                page.go_back()
    return status, failed


def test_the_404_page_works_at_a_sub_path(addressed_site: Path, page):
    status, failed = missing_page(addressed_site, page)
    assert status == 404 and failed == []


def test_control_the_404_page_of_a_site_without_its_address_breaks_at_a_sub_path(built_site: Path, page):
    status, failed = missing_page(built_site, page)
    assert status == 404 and any("/assets/" in f for f in failed)


# --------------------------------------------------------------------------------------------------------------------
# Notebooks as pages, and what the top site's search covers


def test_a_chapter_opens_its_notebook_as_a_page_that_downloads_it(base: str, page):
    page.goto(url(base, "en", "example", chapter_page("example", "kube-scheduler")), wait_until="load")
    page.locator("article .admonition.tip a").first.click()
    page.wait_for_load_state("load")
    assert page.url == base + "en/notebooks/kube-scheduler/"
    assert 'step("kube-scheduler.cert")' in page.locator("article").inner_text()
    with page.expect_download() as download:
        page.locator("article a[download]").click()
    assert Path(download.value.path()).read_bytes() == (REPO / "notebooks" / "kube-scheduler.ipynb").read_bytes()


@pytest.mark.parametrize("lang", ("zh", "en"))
def test_the_top_search_says_what_it_covers_and_where_each_cluster_is_searched(base: str, page, lang: str):
    page.goto(base + ("en/" if lang == "en" else ""), wait_until="load")
    hits = search(page, "rotation" if lang == "en" else "轮换")
    assert any(href.rstrip("/").endswith("start") or "/start/" in href for href, _ in hits), hits
    scope = page.locator(".runbook-search-scope")
    assert scope.is_visible() and scope.inner_text().startswith(WORDS[lang]["search_scope"][:12])
    scope.locator("a").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("#clusters") and page.locator("#clusters").is_visible()


def test_a_cluster_search_says_nothing_of_scope(base: str, page):
    page.goto(url(base, "en", "example"), wait_until="load")
    assert page.locator(".runbook-search-scope").count() == 0
