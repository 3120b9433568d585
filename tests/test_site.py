"""The built site, checked the way a reader meets it: Chinese and English search run through Material's own search
worker, every page in both languages with a same-page switcher, copy buttons and per-master tabs, no key material
anywhere, and the cluster's inventory on its overview page.

Everything runs against site/ as `invoke build-docs` leaves it (the session fixture `built_site`): the top build at
site/ and one build per cluster at site/clusters/<name>/, each with zh at its root and en under en/."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from generator.site.build import STAGING

REPO = Path(__file__).resolve().parent.parent
NODE = shutil.which("node")
HARNESS = Path(__file__).with_name("search_worker_harness.js")
LANGS = ("zh", "en")
CJK = re.compile(r"[\u4e00-\u9fff]")
# Pages that exist once: MkDocs' 404 is served for both languages and uses absolute links on purpose.
SINGLE = {"404.html"}
NOT_PAGES = ("assets", "search", "en", "clusters")


# --------------------------------------------------------------------------------------------------------------------
# A small DOM over html.parser (no third-party parser in the venv)


VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None = None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element | str] = []

    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def iter(self):
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[Element]:
        return [e for e in self.iter() if (tag is None or e.tag == tag) and (cls is None or cls in e.classes())
                and all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: str) -> Element:
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag or '*'}> class={cls!r} {attrs} in <{self.tag}>"
        return found[0]

    def text(self) -> str:
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)


class TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(path: Path) -> Element:
    builder = TreeBuilder()
    builder.feed(path.read_text(encoding="utf-8"))
    builder.close()
    return builder.root


def page_config(doc: Element) -> dict:
    """Material's page configuration (`<script id="__config">`), which its JavaScript reads at start-up."""
    return json.loads(doc.find("script", id="__config").text())


def resolve(page: Path, href: str) -> Path:
    """The file a relative link on `page` opens (directory URLs open their index.html)."""
    parts = urlsplit(href)
    assert not parts.scheme and not parts.netloc and not parts.path.startswith("/"), (
        f"{page}: link {href!r} is not relative; it breaks when the site is opened from disk or a sub-path")
    target = (page.parent / unquote(parts.path)).resolve()
    return target / "index.html" if href.split("#")[0].endswith("/") or target.is_dir() else target


# --------------------------------------------------------------------------------------------------------------------
# The cluster file and the site's pages


@pytest.fixture(scope="module")
def cluster() -> dict:
    return yaml.safe_load((REPO / "clusters" / "example.yaml").read_text(encoding="utf-8"))


def masters(cluster: dict) -> list[dict]:
    return [n for n in cluster["nodes"] if "master" in n.get("roles", ["master", "etcd"])]


def builds(site: Path) -> list[Path]:
    """The roots of the site's MkDocs builds: the top one and each cluster's."""
    return [site, *sorted(p for p in (site / "clusters").iterdir() if p.is_dir())]


def cluster_root(site: Path, name: str = "example") -> Path:
    return site / "clusters" / name


def zh_pages(root: Path) -> set[Path]:
    """Pages of one build's default language (at its root), relative to that root."""
    return {p.relative_to(root) for p in root.rglob("*.html")
            if p.relative_to(root).parts[0] not in NOT_PAGES and p.name not in SINGLE}


def en_pages(root: Path) -> set[Path]:
    return {p.relative_to(root / "en") for p in (root / "en").rglob("*.html")}


def every_page(site: Path) -> list[tuple[Path, Path]]:
    """(build root, page relative to its language root) for every page of every build."""
    return [(root, rel) for root in builds(site) for rel in sorted(zh_pages(root))]


def lang_root(root: Path, lang: str) -> Path:
    return root if lang == "zh" else root / "en"


def scheduler_chapter(site: Path, lang: str) -> Path:
    found = sorted(lang_root(cluster_root(site), lang).glob("*kube-scheduler/index.html"))
    assert len(found) == 1, f"expected one kube-scheduler chapter for {lang}, found {found}"
    return found[0]


# --------------------------------------------------------------------------------------------------------------------
# 1. Search, through Material's own worker


def search_assets(site: Path, page: Path) -> tuple[Path, Path]:
    """The worker script and the index a page's search uses, resolved as Material's client does:
    `config.search` is the worker URL, the index is `new URL("search/search_index.json", config.base)`."""
    config = page_config(parse(page))
    worker = (page.parent / config["search"]).resolve()
    index = (page.parent / config["base"] / "search" / "search_index.json").resolve()
    assert worker.is_file(), f"{page}: search worker {config['search']} -> {worker} missing"
    assert index.is_file(), f"{page}: search index {index} missing"
    return worker, index


def run_worker(worker: Path, index: Path, *queries: str) -> dict[str, list[list[dict]]]:
    assert NODE, "node is required (listed in .ci/system-packages)"
    proc = subprocess.run([NODE, str(HARNESS), str(worker), str(index), *queries], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, f"search worker harness failed:\n{proc.stderr}"
    answer = json.loads(proc.stdout)
    assert answer["ready"]
    return answer["results"]


def result_pages(groups: list[list[dict]]) -> set[str]:
    """Material groups results by page; the page is the location without its #section."""
    return {item["location"].split("#")[0] for group in groups for item in group}


def holds_word(tokens: list[str], word: str) -> bool:
    """`word` is one token or a run of whole tokens (jieba cuts 调度器 into 调度 + 器; Material's client cuts the
    query the same way, along the tokens of the index)."""
    for start in range(len(tokens)):
        run = ""
        for token in tokens[start:]:
            run += token
            if run == word:
                return True
            if not word.startswith(run):
                break
    return False


def pages_with_token(index: dict, word: str) -> set[str]:
    """Pages whose indexed title or text holds `word` as whole tokens under the index's own separator."""
    separator = re.compile(index["config"]["separator"])
    found = set()
    for doc in index["docs"]:
        for field in (doc["title"], doc["text"]):
            text = re.sub(r"<[^>]+>", " ", field)
            if holds_word([t.lower() for t in separator.split(text) if t], word.lower()):
                found.add(doc["location"].split("#")[0])
    return found


def variant(index_path: Path, tmp_path: Path, name: str, change) -> Path:
    data = json.loads(index_path.read_text(encoding="utf-8"))
    change(data)
    out = tmp_path / f"{name}.json"
    out.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return out


ZH_WORDS = ("证书", "调度器")
EN_WORDS = ("certificate", "authority")


@pytest.fixture(scope="module")
def search(built_site: Path) -> dict:
    """The zh index with the Chinese queries (as the zh pages search)."""
    worker, index = search_assets(built_site, scheduler_chapter(built_site, "zh"))
    data = json.loads(index.read_text(encoding="utf-8"))
    return {"worker": worker, "index": index, "data": data, "results": run_worker(worker, index, *ZH_WORDS)}


@pytest.fixture(scope="module")
def en_search(built_site: Path) -> dict:
    """The en index with the English queries (as the en pages search); its locations are relative to en/."""
    worker, index = search_assets(built_site, scheduler_chapter(built_site, "en"))
    data = json.loads(index.read_text(encoding="utf-8"))
    return {"worker": worker, "index": index, "data": data, "results": run_worker(worker, index, *EN_WORDS)}


def test_each_language_searches_its_own_index(built_site: Path):
    # mkdocs-static-i18n merges both languages into one index; generator/site/hooks.py splits it per language, in
    # the cluster's own build
    root = cluster_root(built_site)
    zh = search_assets(built_site, scheduler_chapter(built_site, "zh"))
    en = search_assets(built_site, scheduler_chapter(built_site, "en"))
    assert zh[0] == en[0] and zh[0].parent == (root / "assets" / "javascripts" / "workers").resolve()
    assert zh[1] == (root / "search" / "search_index.json").resolve()
    assert en[1] == (root / "en" / "search" / "search_index.json").resolve()
    zh_docs = json.loads(zh[1].read_text(encoding="utf-8"))["docs"]
    en_docs = json.loads(en[1].read_text(encoding="utf-8"))["docs"]
    assert zh_docs and en_docs
    # an en location is relative to the en root (the en pages' search base), so it must open an en page
    for doc in en_docs:
        assert (root / "en" / doc["location"].split("#")[0]).exists(), doc["location"]
    assert not any(CJK.search(d["title"]) for d in en_docs if "clusters/" in d["location"])
    assert {d["location"] for d in zh_docs}.isdisjoint({"en/" + d["location"] for d in en_docs})


def test_index_is_built_for_chinese_segmentation(search: dict):
    config = search["data"]["config"]
    assert "zh" in config["lang"] and "en" in config["lang"]
    # the separator must split at U+200B, the mark jieba's words are joined with at build time ...
    assert re.split(config["separator"], "证书\u200b调度器") == ["证书", "调度器"]
    # ... and jieba must have run (Material segments only if it can import jieba)
    zh_docs = search["data"]["docs"]
    assert zh_docs and any("\u200b证书\u200b" in d["text"] for d in zh_docs)
    # lunr skips the pipeline for the wildcard terms Material queries with: a stemmer would index "certif" and
    # a typed "certificate" would never match it
    assert "stemmer" not in config["pipeline"]


@pytest.mark.parametrize("word", ZH_WORDS)
def test_chinese_query_finds_the_kube_scheduler_chapter(built_site: Path, search: dict, word: str):
    chapter = scheduler_chapter(built_site, "zh").parent.relative_to(cluster_root(built_site)).as_posix() + "/"
    found = result_pages(search["results"][word])
    expected = pages_with_token(search["data"], word)
    assert chapter in expected, f"{word} is not on the zh kube-scheduler chapter any more; pick another word"
    assert chapter in found, f"{word}: {sorted(found)}"
    assert expected <= found, f"{word}: pages holding it but not found: {sorted(expected - found)}"
    assert not any(p.startswith("en/") for p in found)


@pytest.mark.parametrize("word", EN_WORDS)
def test_english_query_finds_the_english_pages(en_search: dict, word: str):
    found = result_pages(en_search["results"][word])
    expected = pages_with_token(en_search["data"], word)
    assert expected, f"{word} is on no English page any more; pick another word"
    assert expected <= found, f"{word}: en pages holding it but not found: {sorted(expected - found)}"


def test_certificate_finds_the_english_kube_scheduler_chapter(built_site: Path, en_search: dict):
    chapter = scheduler_chapter(built_site, "en").parent.relative_to(cluster_root(built_site) / "en").as_posix() + "/"
    assert chapter in result_pages(en_search["results"]["certificate"])


# Negative controls: the same worker and queries on an index that is wrong in one known way must miss pages.
# They prove the assertions above can fail.


def test_control_separator_without_u200b_loses_chinese(search: dict, tmp_path: Path):
    def drop_u200b(data):
        data["config"]["separator"] = data["config"]["separator"].replace("\\u200b", "")
        assert "\\u200b" not in data["config"]["separator"]

    broken = variant(search["index"], tmp_path, "no-u200b", drop_u200b)
    results = run_worker(search["worker"], broken, *ZH_WORDS)
    expected = pages_with_token(search["data"], "证书")
    missed = expected - result_pages(results["证书"])
    # the word survives only where it happens to touch a space (a heading's last word); mid-sentence it is lost
    assert missed, "证书 found everywhere although the separator no longer splits jieba's words"
    assert result_pages(results["调度器"]) == set()


def test_control_unsegmented_text_loses_chinese(search: dict, tmp_path: Path):
    def unsegment(data):  # what the index looks like when jieba is not importable at build time
        for doc in data["docs"]:
            doc["title"] = doc["title"].replace("\u200b", "")
            doc["text"] = doc["text"].replace("\u200b", "")

    broken = variant(search["index"], tmp_path, "no-jieba", unsegment)
    results = run_worker(search["worker"], broken, "证书")
    assert pages_with_token(search["data"], "证书") - result_pages(results["证书"])


def test_control_stemmer_loses_english_words(en_search: dict, tmp_path: Path):
    def stem(data):
        data["config"]["pipeline"] = ["stemmer"]

    broken = variant(en_search["index"], tmp_path, "stemmer", stem)
    results = run_worker(en_search["worker"], broken, *EN_WORDS)
    assert result_pages(results["authority"]) == set()
    assert pages_with_token(en_search["data"], "certificate") - result_pages(results["certificate"])


# --------------------------------------------------------------------------------------------------------------------
# 2. Every page in both languages, and a switcher that stays on the page


def test_every_page_exists_in_both_languages(built_site: Path):
    assert Path("index.html") in zh_pages(built_site)
    example = cluster_root(built_site)
    assert scheduler_chapter(built_site, "zh").relative_to(example) in zh_pages(example)
    assert len(builds(built_site)) == 1 + len(list((REPO / "clusters").glob("*.yaml")))
    for root in builds(built_site):
        zh, en = zh_pages(root), en_pages(root)
        assert zh - en == set(), f"{root}: pages without an English version: {sorted(map(str, zh - en))}"
        assert en - zh == set(), f"{root}: pages without a Chinese version: {sorted(map(str, en - zh))}"


def test_pages_declare_their_language(built_site: Path):
    for root, rel in every_page(built_site):
        for lang in LANGS:
            html = parse(lang_root(root, lang) / rel).find("html")
            assert html.attrs.get("lang") == lang, f"{lang}/{rel}: <html lang={html.attrs.get('lang')!r}>"


def test_language_switcher_stays_on_the_same_page(built_site: Path):
    for root, rel in every_page(built_site):
        for lang in LANGS:
            page = lang_root(root, lang) / rel
            links = {a.attrs["hreflang"]: a.attrs["href"]
                     for a in parse(page).find_all("a", cls="md-select__link")}
            assert set(links) == set(LANGS), f"{page}: switcher offers {links}"
            for target_lang, href in links.items():
                target = resolve(page, href)
                assert target == (lang_root(root, target_lang) / rel).resolve(), (
                    f"{page}: {target_lang} link {href!r} opens {target}, not the same page")


def test_instant_navigation_is_off(built_site: Path):
    # navigation.instant swaps pages without reloading and leaves the language switcher pointing at the old page
    for root, rel in every_page(built_site):
        for lang in LANGS:
            assert "navigation.instant" not in page_config(parse(lang_root(root, lang) / rel))["features"]


def test_relative_links_resolve(built_site: Path):
    broken = []
    for root, rel in every_page(built_site):
        for lang in LANGS:
            page = lang_root(root, lang) / rel
            for element in parse(page).iter():
                for attr in ("href", "src"):
                    link = element.attrs.get(attr)
                    if not link or link.startswith(("#", "mailto:")) or urlsplit(link).scheme:
                        continue
                    if not urlsplit(link).path:
                        continue
                    target = resolve(page, link)
                    # nothing leaves the site: a link between builds stays inside site/
                    if not target.exists() or not target.is_relative_to(built_site.resolve()):
                        broken.append(f"{page.relative_to(built_site)}: {link}")
    assert not broken, "broken links:\n" + "\n".join(sorted(broken))


# --------------------------------------------------------------------------------------------------------------------
# 3. Copy buttons and per-master tabs


def test_code_blocks_have_copy_buttons(built_site: Path):
    for lang in LANGS:
        page = scheduler_chapter(built_site, lang)
        doc = parse(page)
        assert "content.code.copy" in page_config(doc)["features"]
        assert doc.find_all("div", cls="highlight"), f"{page}: no code blocks"
    for root, rel in every_page(built_site):
        for lang in LANGS:
            assert "content.code.copy" in page_config(parse(lang_root(root, lang) / rel))["features"]


@pytest.mark.parametrize("lang", LANGS)
def test_scheduler_chapter_has_one_tab_per_master(built_site: Path, cluster: dict, lang: str):
    names = [m["name"] for m in masters(cluster)]
    doc = parse(scheduler_chapter(built_site, lang))
    def labels(tab_set):
        return [label.text().strip() for label in tab_set.find("div", cls="tabbed-labels").find_all("label")]

    # the other tab sets put the by-hand commands beside `invoke render`
    sets = [s for s in doc.find_all("div", cls="tabbed-set") if set(labels(s)) & set(names)]
    assert sets, "no per-node tabs on the kube-scheduler chapter"
    for tab_set in sets:
        assert labels(tab_set) == names
        blocks = tab_set.find("div", cls="tabbed-content").find_all("div", cls="tabbed-block")
        assert len(blocks) == len(names)
        for node, block in zip(masters(cluster), blocks, strict=True):
            text = block.text()
            assert node["name"] in text or node["ip"] in text, f"tab {node['name']} shows another node:\n{text}"


# --------------------------------------------------------------------------------------------------------------------
# 4. Secrets


def published_files(roots: list[Path]) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.is_file()]


def readable(path: Path) -> str:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return data.decode("utf-8", errors="replace")


def leaks(roots: list[Path], needles: list[str]) -> list[str]:
    found = []
    for path in published_files(roots):
        text = readable(path)
        flat = re.sub(r"\s+", "", text)  # catches base64 re-wrapped at another width
        for needle in needles:
            if needle in text or re.sub(r"\s+", "", needle) in flat:
                found.append(f"{path}: {needle[:24]}...")
    return found


def key_needles(build: Path) -> list[str]:
    """Fragments of the actual private keys: each key's 2nd PEM line and a slice of each kubeconfig's key data."""
    # PEM armour and an embedded kubeconfig key value (base64 of "-----BEGIN"); the bare field name may appear
    # in prose, as in the troubleshooting chapter's seed-003 entry
    needles = ["PRIVATE KEY-----", "client-key-data: LS0tLS1CRUdJTi"]
    keys = sorted(build.rglob("*-key.pem"))
    assert keys, f"no private keys under {build}"
    for key in keys:
        lines = key.read_text().splitlines()
        assert lines[0].startswith("-----BEGIN") and len(lines[1]) >= 40
        needles.append(lines[1])
    for kubeconfig in sorted(build.rglob("*.kubeconfig")):
        for user in yaml.safe_load(kubeconfig.read_text())["users"]:
            data = user["user"].get("client-key-data", "")
            assert len(data) > 200, f"{kubeconfig}: no embedded key"
            needles.append(data[100:160])
    return needles


def test_no_key_files_published(built_site: Path):
    for root in (built_site, REPO / "docs", REPO / "notebooks", STAGING):
        bad = [p for p in root.rglob("*") if p.name.endswith(("-key.pem", ".kubeconfig", ".key"))]
        assert not bad, f"secret files published: {bad}"


def test_no_private_key_material_published(built_site: Path):
    needles = key_needles(REPO / "build" / "example")
    found = leaks([built_site, REPO / "docs", REPO / "notebooks", STAGING], needles)
    assert not found, "private key material published:\n" + "\n".join(found)


def test_control_leak_scan_finds_a_planted_key(built_site: Path, tmp_path: Path):
    build = REPO / "build" / "example"
    key = sorted(build.rglob("*-key.pem"))[0]
    body = "".join(key.read_text().splitlines()[1:-1])
    (tmp_path / "page.html").write_text("<pre>" + "\n".join(body[i:i + 76] for i in range(0, len(body), 76)))
    with gzip.open(tmp_path / "x.json.gz", "wt") as fh:
        fh.write(sorted(build.rglob("*.kubeconfig"))[0].read_text())
    found = leaks([tmp_path], key_needles(build))
    assert any("page.html" in f for f in found) and any("x.json.gz" in f for f in found), found


# --------------------------------------------------------------------------------------------------------------------
# 5. Home and overview pages


@pytest.mark.parametrize("lang", LANGS)
def test_home_page_lists_the_example_cluster(built_site: Path, cluster: dict, lang: str):
    home = lang_root(built_site, lang) / "index.html"
    article = parse(home).find("article")
    links = [a for a in article.find_all("a") if a.text().strip() == cluster["name"]]
    assert links, f"{home}: no link to the {cluster['name']} cluster"
    assert resolve(home, links[0].attrs["href"]) == lang_root(cluster_root(built_site), lang) / "index.html"
    row = links[0].parent.parent
    assert row.tag == "tr" and cluster["kubernetes_version"] in [td.text().strip() for td in row.find_all("td")]


@pytest.mark.parametrize("lang", LANGS)
def test_overview_has_inventory_and_topology(built_site: Path, cluster: dict, lang: str):
    page = lang_root(cluster_root(built_site), lang) / "index.html"
    article = parse(page).find("article")
    inventory = [t for t in article.find_all("table")
                 if "IP" in [th.text().strip() for th in t.find_all("th")]]
    assert len(inventory) == 1, f"{page}: expected one table with an IP column"
    rows = [[td.text().strip() for td in tr.find_all("td")] for tr in inventory[0].find("tbody").find_all("tr")]
    assert [(r[0], r[1]) for r in rows] == [(n["name"], n["ip"]) for n in cluster["nodes"]]
    svg = article.find("svg", aria_label="topology")
    labels = [t.text() for t in svg.find_all("text")]
    for node in masters(cluster):
        assert node["name"] in labels and node["ip"] in labels, f"{node['name']} missing from the topology"
    assert any(cluster["api_server"]["vip"] in label for label in labels)


# --------------------------------------------------------------------------------------------------------------------
# 6. One build per cluster: its navigation, its search


def nav_targets(page: Path) -> list[Path]:
    """Where the links of a page's navigation (Material's primary nav) lead, anchors on the page itself left out."""
    nav = parse(page).find("nav", cls="md-nav--primary")
    return [resolve(page, a.attrs["href"]) for a in nav.find_all("a") if not a.attrs.get("href", "#").startswith("#")]


def test_cluster_navigation_holds_its_own_pages_and_the_way_back(built_site: Path):
    for root in builds(built_site)[1:]:
        for rel in sorted(zh_pages(root)):
            for lang in LANGS:
                page = lang_root(root, lang) / rel
                targets = nav_targets(page)
                home = (lang_root(built_site, lang) / "index.html").resolve()
                assert home in targets, f"{page}: no way back to the {lang} home page"
                others = [t for t in targets if t != home and not t.is_relative_to(lang_root(root, lang).resolve())]
                assert not others, f"{page}: navigation leads out of its cluster ({lang}): {others}"
                own = {(lang_root(root, lang) / p).resolve() for p in zh_pages(root)}
                assert {t for t in targets if t != home} <= own


def test_the_top_site_searches_only_its_own_pages(built_site: Path):
    # a merged index of every cluster would be tens of MB at 100 clusters, fetched by every reader of the home page
    for lang in LANGS:
        docs = json.loads((lang_root(built_site, lang) / "search" / "search_index.json").read_text("utf-8"))["docs"]
        assert docs and not any(d["location"].startswith("clusters/") for d in docs)
