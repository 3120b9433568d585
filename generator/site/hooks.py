"""MkDocs hooks (mkdocs.yml `hooks:`): what Material and mkdocs-static-i18n do not do for a bilingual intranet site.

- One search index per language (in each build: the top site's and each cluster's). mkdocs-static-i18n merges every
  language into `search/search_index.json`, so an English query listed Chinese pages. After it has written that
  file, each language gets its own index under its own root (`search/`, `en/search/`), and the pages of a
  non-default language point Material's client at it: the client fetches `search/search_index.json` relative to
  `__config.base` and resolves hits against the same base.
- No request for a missing `sitemap.xml`. Material fetches `sitemap.xml` beside every `<link rel=alternate>` of a
  page's head; mkdocs-static-i18n makes those links page-specific, so each page asked for two files that do not
  exist. The head links go; the language switcher in the header keeps its per-page links. The base of a
  non-default language gets a copy of the sitemap Material fetches from there.
- `extra.alternate` is configured with absolute links, as mkdocs-static-i18n asks; on the home pages, where it does
  not replace them with the page's own alternates, they are made site-root-relative again so the switcher works under
  a sub-path too (the theme's `url` filter turns them into page-relative links).
- A cluster's navigation links back to the top site in the page's language (generator/site/layout.py, TOP_LINK).
- Compiled templates are kept for the process (ProcessBytecodeCache), and so is the list of the theme's files
  (add_files_from_theme).
- jieba (Material's Chinese segmentation) is silenced: it logs "Building prefix dict" on every build.
- Chinese headings keep their words in their ids (`#证书台账`, not Python-Markdown's ASCII-only `#_1`), and each
  page's heading links are titled in the page's language (the toc extension has one title for every page).
- Material's search dialog gets a name (axe-core: aria-dialog-name). On the top site it also says what it searches:
  not the clusters' pages, which each cluster's own search covers (README: why no merged index).
- One 404 page for the whole site, the top build's (generator/site/theme/404.html, in both languages): a server has
  one error page per site, and a cluster build's would point at that cluster's pages from wherever it is served.
  Its links are absolute, under the site's address when the build is given one (`invoke build-docs --site-url`), as
  the server may send it in answer to any URL; so are a sitemap's, which is why a build without an address writes
  none (mkdocs-static-i18n's template would write `<loc>None01-prerequisites/</loc>`).
"""

from __future__ import annotations

import html
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jieba
import jinja2
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url
from pymdownx.slugs import slugify

from generator.site.layout import CLUSTER_KEY, TOP_LINK, lang_dir, page_to_top
from generator.site.words import WORDS

jieba.setLogLevel(logging.WARNING)

HEAD_ALTERNATE = re.compile(r'\s*<link rel="alternate" href="[^"]*" hreflang="[^"]*">')
CONFIG_SCRIPT = re.compile(r'(<script id="__config" type="application/json">)(.*?)(</script>)', re.DOTALL)
SWITCHER_LINK = re.compile(r'href="(/[^"]*)" hreflang=')
SEARCH_DIALOG = '<div class="md-search" data-md-component="search" role="dialog"'
SEARCH_RESULTS = '<div class="md-search-result" data-md-component="search-result">'
THEME = Path(__file__).with_name("theme")
# Set here, not in mkdocs.yml: the builds' configs are written with yaml.safe_dump, which cannot hold a function.
SLUGIFY = slugify(case="lower")


class ProcessBytecodeCache(jinja2.BytecodeCache):
    """Material's templates compiled once per process: MkDocs makes a new Jinja environment for every build (and
    mkdocs-static-i18n one per language), and a worker builds many clusters. Keyed by name and source checksum."""

    def __init__(self) -> None:
        self.store: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if bucket.key in self.store:
            bucket.bytecode_from_string(self.store[bucket.key])

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.store[bucket.key] = bucket.bytecode_to_string()


BYTECODE = ProcessBytecodeCache()


THEME_FILES: dict[tuple[tuple[str, ...], tuple[str, ...]], list[tuple[str, str]]] = {}
# MkDocs loads this file once per path it is named by (mkdocs.yml's relative one, generated configs' absolute
# one), so a process may run it twice: wrap MkDocs' own method, never the wrapper
LIST_THEME_FILES = getattr(Files.add_files_from_theme, "__wrapped__", Files.add_files_from_theme)


def add_files_from_theme(self: Files, env: jinja2.Environment, config: MkDocsConfig) -> None:
    """MkDocs' Files.add_files_from_theme with the theme's listing kept for the process. MkDocs walks the theme's
    14,500 files (Material's icons) and matches each against ~15 patterns in every build, twice per cluster with two
    languages: kept, 10 clusters in one process took 3 % less CPU (16.75 → 16.21 s, 17.86 → 17.34 s, paired runs) and
    the same bytes. The listing depends only on the theme's directories and static templates, which do not change
    while a process builds; which listed file a build takes is still decided per build, as MkDocs does: a docs file
    of the same path wins."""
    key = (tuple(config.theme.dirs), tuple(config.theme.static_templates))
    if key not in THEME_FILES:
        listed = Files([])
        LIST_THEME_FILES(listed, env, config)
        THEME_FILES[key] = [(file.src_uri, file.src_dir) for file in listed]
    for path, directory in THEME_FILES[key]:
        if self.get_file_from_path(path) is None:
            self.append(File(path, directory, config.site_dir, config.use_directory_urls))


add_files_from_theme.__wrapped__ = LIST_THEME_FILES  # type: ignore[attr-defined]
Files.add_files_from_theme = add_files_from_theme  # type: ignore[method-assign]


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    config.mdx_configs.setdefault("toc", {})["slugify"] = SLUGIFY
    if str(THEME) not in config.theme.dirs:
        config.theme.dirs.insert(0, str(THEME))
    return config


def on_env(env: jinja2.Environment, config: MkDocsConfig, files: Any) -> jinja2.Environment:
    env.bytecode_cache = BYTECODE
    return env


def languages(config: MkDocsConfig) -> tuple[str, list[str]]:
    """The default locale and the others, as mkdocs-static-i18n is configured."""
    entries = config.plugins["i18n"].config.languages
    default = next(lang.locale for lang in entries if lang.default)
    return default, [lang.locale for lang in entries if not lang.default and lang.build]


def page_locale(page: Page, config: MkDocsConfig) -> str:
    default, others = languages(config)
    return next((lang for lang in others if page.url.startswith(f"{lang}/")), default)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    # MkDocs makes a Markdown converter per page from these settings
    config.mdx_configs["toc"]["permalink_title"] = WORDS[page_locale(page, config)]["permalink"]
    return markdown


def name_search_dialog(output: str, lang: str) -> str:
    return output.replace(SEARCH_DIALOG, f'{SEARCH_DIALOG} aria-label="{WORDS[lang]["search"]}"', 1)


def say_search_scope(output: str, page: Page, lang: str) -> str:
    """On the top site's pages, the search panel says what it searches, and where each cluster's search is."""
    w = WORDS[lang]
    home = get_relative_url(lang_dir(lang) or ".", page.url).rstrip("/")
    note = (f'<p class="runbook-search-scope">{html.escape(w["search_scope"])} '
            f'<a href="{home}/#clusters">{html.escape(w["search_scope_link"])}</a></p>')
    return output.replace(SEARCH_RESULTS, note + SEARCH_RESULTS, 1)


def on_template_context(context: dict[str, Any], template_name: str, config: MkDocsConfig) -> dict[str, Any]:
    context["runbook_words"] = WORDS  # the 404 page's words, in both languages
    return context


def on_post_template(output: str, template_name: str, config: MkDocsConfig) -> str:
    """The theme's own pages; MkDocs writes none whose text is empty."""
    if template_name == "sitemap.xml":
        return output if config.site_url else ""
    default, _ = languages(config)
    building = config.plugins["i18n"].current_language
    if template_name == "404.html":
        # mkdocs-static-i18n renders the theme's pages once per language, each over the last: the default
        # language's 404 page, which holds both, is the one kept
        if building != default or config.extra.get(CLUSTER_KEY):
            return ""
        # the language switcher's links, configured site-root-absolute: under the site's address too
        base = urlsplit(config.site_url or "/").path
        output = HEAD_ALTERNATE.sub("", output)
        output = SWITCHER_LINK.sub(lambda m: f'href="{base}{m[1].lstrip("/")}" hreflang=', output)
    return name_search_dialog(output, building)


@event_priority(-150)  # after mkdocs-static-i18n's on_page_context (50), which sets the page's alternates
def on_page_context(context: dict[str, Any], page: Page, config: MkDocsConfig, nav: Any) -> dict[str, Any]:
    # mkdocs-static-i18n assigns the attribute (`config.extra.alternate = ...`), which the theme reads first
    for alternate in getattr(config.extra, "alternate", None) or []:
        if alternate["link"].startswith("/"):
            alternate["link"] = alternate["link"].lstrip("/") or "./"
    return context


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    output = HEAD_ALTERNATE.sub("", output).replace(f'href="{TOP_LINK}"', f'href="{page_to_top(page.url)}"')
    locale = page_locale(page, config)
    output = name_search_dialog(output, locale)
    if not config.extra.get(CLUSTER_KEY):
        output = say_search_scope(output, page, locale)
    if locale == languages(config)[0]:
        return output

    def rebase(match: re.Match[str]) -> str:
        data = json.loads(match[2])
        # with the trailing slash, or the client resolves "search/..." against the parent of the locale root
        data["base"] = f"{data['base']}/{locale}/"
        return match[1] + json.dumps(data, ensure_ascii=False) + match[3]

    return CONFIG_SCRIPT.sub(rebase, output, count=1)


@event_priority(-200)  # after mkdocs-static-i18n (-100), which writes the merged index last
def on_post_build(config: MkDocsConfig) -> None:
    site = Path(config.site_dir)
    merged_path = site / "search" / "search_index.json"
    if not merged_path.exists():
        return
    merged = json.loads(merged_path.read_text(encoding="utf-8"))
    default, others = languages(config)
    split: dict[str, list[dict[str, Any]]] = {lang: [] for lang in [default, *others]}
    for doc in merged["docs"]:
        lang = next((lang for lang in others if doc["location"].startswith(f"{lang}/")), default)
        if lang != default:
            doc = dict(doc, location=doc["location"].removeprefix(f"{lang}/"))
        split[lang].append(doc)
    for lang, docs in split.items():
        root = site if lang == default else site / lang
        (root / "search").mkdir(parents=True, exist_ok=True)
        index = {"config": merged["config"], "docs": docs}
        (root / "search" / "search_index.json").write_text(json.dumps(index, ensure_ascii=False), encoding="utf-8")
        if lang != default and (site / "sitemap.xml").exists():
            shutil.copyfile(site / "sitemap.xml", root / "sitemap.xml")
