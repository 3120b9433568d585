"""Nothing a page quotes from a file becomes markup: the one place every page of every build is written as HTML, the
Markdown conversion, escapes it (mkdocs.yml lists this extension).

Pages quote run records, executed notebooks, the ledger and the cluster file; a node's output ends up in a run
record, so any of them may hold `<img src=x onerror=...>`. Python-Markdown passes raw HTML through, and its links,
images and attribute lists (`{ onclick=... }`) take any URL and any attribute. Here:

- raw HTML in a page (a block or an inline tag) is kept only when every tag and attribute is one the generator
  itself writes (the topology's SVG, the home page's filter, the notebook link: ALLOWED) and every URL in it is
  relative (the generator links only within the site); it is then written out anew from what was parsed, so what
  the browser reads is exactly what was checked. Anything else is escaped and shows as the text it is;
- on every element Markdown makes, event handlers, styles and the like are dropped, a link keeps its URL only when
  it is relative or http(s)/mailto, and an image only a relative one (nothing on the site reaches outside it).

Code blocks, inline code and the other extensions' output are escaped by their own extensions and are not touched.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from xml.etree.ElementTree import Element

from markdown import Extension, Markdown
from markdown.inlinepatterns import HTML_RE, HtmlInlineProcessor
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor

COMMON = {"class", "title", "role", "aria-label"}
SVG_SHAPE = {"x", "y", "width", "height", "rx", "fill", "stroke", "x1", "y1", "x2", "y2", "text-anchor", "font-size"}
# Tag → the attributes it may carry, as the generator writes them (generator/site/topology.py, overview.py,
# ledger_table.py, chapter.py); lower case, as HTMLParser reports them (browsers restore SVG's viewBox).
ALLOWED: dict[str, set[str]] = {
    "a": COMMON | {"href"},
    "div": COMMON | {"markdown", "tabindex"},
    # the certificate ledger (generator/site/ledger_table.py)
    "table": set(), "thead": set(), "tbody": set(), "tr": set(), "th": set(), "td": set(),
    "details": set(), "summary": set(), "dl": set(), "dt": set(), "dd": set(), "code": set(), "br": set(),
    "strong": set(),
    "span": COMMON,
    "svg": COMMON | {"xmlns", "viewbox", "width", "height"},
    "title": set(), "rect": SVG_SHAPE, "line": SVG_SHAPE, "text": SVG_SHAPE,
    "input": COMMON | {"type", "placeholder", "data-column"},
    "select": COMMON | {"data-column"},
    "option": {"value"},
}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "poster", "background", "cite", "data",
                  "srcset", "ping"}
LINK_SCHEMES = {"http", "https", "mailto"}
INERT = {"href": "#", "src": "data:,"}  # a link to this page, an empty image: what a refused URL becomes
# Attributes Markdown and its extensions put on elements (toc, attr_list's `{ download }`, tables, tabbed, admonition).
SAFE_ATTRIBUTES = {"id", "class", "title", "alt", "href", "src", "name", "download", "type", "checked", "for",
                   "tabindex", "data-tabs", "width", "height", "align", "lang", "dir", "colspan", "rowspan", "role",
                   "aria-label", "open"}
SCHEME = re.compile(r"([a-z][a-z0-9+.-]*):")
INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")  # browsers drop these inside a URL's scheme ("java\tscript:")


def scheme(url: str) -> str | None:
    match = SCHEME.match(INVISIBLE.sub("", url).lower())
    return match[1] if match else None


def relative(url: str) -> bool:
    """A URL within the site: no scheme, not protocol-relative (`//host`)."""
    return scheme(url) is None and not INVISIBLE.sub("", url).replace("\\", "/").startswith("//")


def url_allowed(attribute: str, url: str) -> bool:
    """A link Markdown makes may leave the site by http(s)/mailto; anything that loads (src) stays inside it."""
    if attribute == "href":
        return relative(url) or scheme(url) in LINK_SCHEMES
    return attribute == "src" and relative(url)


class Rewriter(HTMLParser):
    """Parses a raw HTML fragment; `html` is it written anew, or None when anything in it is not allowed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.allowed = True

    def tag(self, tag: str, attrs: list[tuple[str, str | None]], end: str) -> None:
        if tag not in ALLOWED or any(name not in ALLOWED[tag] or name in URL_ATTRIBUTES and not relative(value or "")
                                     for name, value in attrs):
            self.allowed = False
            return
        written = "".join(f" {name}" if value is None else f' {name}="{html.escape(value)}"' for name, value in attrs)
        self.out.append(f"<{tag}{written}{end}>")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tag(tag, attrs, "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tag(tag, attrs, " /")

    def handle_endtag(self, tag: str) -> None:
        if tag in ALLOWED:
            self.out.append(f"</{tag}>")
        else:
            self.allowed = False

    def handle_data(self, data: str) -> None:
        self.out.append(html.escape(data, quote=False))

    def refuse(self, *_: object) -> None:
        self.allowed = False

    handle_comment = handle_decl = handle_pi = unknown_decl = refuse

    @property
    def html(self) -> str | None:
        return "".join(self.out) if self.allowed else None


def checked(fragment: str) -> str:
    """The fragment written anew if all of it is the generator's kind of HTML, else escaped: shown as text."""
    parser = Rewriter()
    parser.feed(fragment)
    parser.close()
    rewritten = parser.html
    return html.escape(fragment) if rewritten is None or parser.rawdata else rewritten


class CheckedInlineHtml(HtmlInlineProcessor):
    """An inline tag (`<img ...>` in a table cell or a paragraph), checked before it is stashed as raw HTML."""

    def handleMatch(self, m: re.Match[str], data: str) -> tuple[str, int, int]:  # noqa: N802 (Markdown's name)
        raw = self.backslash_unescape(self.unescape(m.group(1)))
        return self.md.htmlStash.store(checked(raw)), m.start(0), m.end(0)


class CheckedHtmlBlocks(Preprocessor):
    """Runs the registered raw-HTML block preprocessor (md_in_html's) with every block it stashes checked. An element
    md_in_html builds for `<div markdown>` is left to CleanAttributes, like every other element."""

    def __init__(self, md: Markdown, inner: Preprocessor) -> None:
        super().__init__(md)
        self.inner = inner

    def run(self, lines: list[str]) -> list[str]:
        stash = self.md.htmlStash
        store = stash.store

        def store_checked(block: str | Element) -> str:
            return store(checked(block) if isinstance(block, str) else block)

        stash.store = store_checked  # type: ignore[method-assign]
        try:
            return self.inner.run(lines)
        finally:
            del stash.store  # the class's own method again


class CleanAttributes(Treeprocessor):
    """On every element: only attributes Markdown's extensions set (no on*, no style), URLs as url_allowed says."""

    def run(self, root: Element) -> None:
        for element in root.iter():
            for name, value in list(element.attrib.items()):
                lowered = name.lower()
                if lowered in INERT:
                    if not url_allowed(lowered, value):  # MkDocs wants every link and image to keep a URL
                        element.attrib[name] = INERT[lowered]
                elif lowered not in SAFE_ATTRIBUTES and not lowered.startswith("aria-") or lowered in URL_ATTRIBUTES:
                    del element.attrib[name]


class SafeHtmlExtension(Extension):
    def extendMarkdown(self, md: Markdown) -> None:  # noqa: N802 (Markdown's name)
        md.inlinePatterns.register(CheckedInlineHtml(HTML_RE, md), "html", 90)
        md.preprocessors.register(CheckedHtmlBlocks(md, md.preprocessors["html_block"]), "html_block", 20)
        # after attr_list (8) and toc (5), before the final unescape (0)
        md.treeprocessors.register(CleanAttributes(md), "runbook_clean_attributes", 1)


def makeExtension(**kwargs: object) -> SafeHtmlExtension:  # noqa: N802 (how Python-Markdown loads an extension)
    return SafeHtmlExtension(**kwargs)
