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
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import jieba
import jinja2
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from generator.site.layout import TOP_LINK, page_to_top

jieba.setLogLevel(logging.WARNING)

HEAD_ALTERNATE = re.compile(r'\s*<link rel="alternate" href="[^"]*" hreflang="[^"]*">')
CONFIG_SCRIPT = re.compile(r'(<script id="__config" type="application/json">)(.*?)(</script>)', re.DOTALL)


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


def on_env(env: jinja2.Environment, config: MkDocsConfig, files: Any) -> jinja2.Environment:
    env.bytecode_cache = BYTECODE
    return env


def languages(config: MkDocsConfig) -> tuple[str, list[str]]:
    """The default locale and the others, as mkdocs-static-i18n is configured."""
    entries = config.plugins["i18n"].config.languages
    default = next(lang.locale for lang in entries if lang.default)
    return default, [lang.locale for lang in entries if not lang.default and lang.build]


@event_priority(-150)  # after mkdocs-static-i18n's on_page_context (50), which sets the page's alternates
def on_page_context(context: dict[str, Any], page: Page, config: MkDocsConfig, nav: Any) -> dict[str, Any]:
    # mkdocs-static-i18n assigns the attribute (`config.extra.alternate = ...`), which the theme reads first
    for alternate in getattr(config.extra, "alternate", None) or []:
        if alternate["link"].startswith("/"):
            alternate["link"] = alternate["link"].lstrip("/") or "./"
    return context


def on_post_page(output: str, page: Page, config: MkDocsConfig) -> str:
    output = HEAD_ALTERNATE.sub("", output).replace(f'href="{TOP_LINK}"', f'href="{page_to_top(page.url)}"')
    default, others = languages(config)
    locale = next((lang for lang in others if page.url.startswith(f"{lang}/")), default)
    if locale == default:
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
