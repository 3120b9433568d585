"""How reviewable the built pages' code blocks are: a reader should see every line of a command without scrolling
sideways and every block without scrolling past a screen.

Measured from the HTML MkDocs wrote (the text the copy button copies), per page and per kind of block. The limits:
LINE_LIMIT characters a shown line may have (a longer command is split with `\\` continuations); BLOCK_LIMIT lines
a block may have, about what a 1366×768 laptop shows of a code block below its heading.
`python -m generator.site.reviewable [SITE]` prints the table and the totals.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

LINE_LIMIT = 120
BLOCK_LIMIT = 40
# What a block holds, from its highlight language: a command that runs (bash), a command shown to run by hand
# (shell, console), a sample of output (text), or an artifact shown as a file (anything else).
KINDS = {"bash": "command", "shell": "command", "console": "command", "text": "output"}


@dataclass(frozen=True)
class Block:
    lang: str
    text: str

    @property
    def kind(self) -> str:
        return KINDS.get(self.lang, "file")

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @property
    def longest(self) -> int:
        return max(len(line) for line in self.lines)

    @property
    def over(self) -> int:
        return sum(len(line) > LINE_LIMIT for line in self.lines)


class CodeBlocks(HTMLParser):
    """Each `div.highlight` code block's language and text, as the copy button copies it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._lang: str | None = None
        self._depth = 0
        self._in_code = False
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = (dict(attrs).get("class") or "").split()
        if tag == "div" and "highlight" in classes and not self._depth:
            self._lang = next((c.removeprefix("language-") for c in classes if c.startswith("language-")), "")
            self._depth = 1
        elif tag == "div" and self._depth:
            self._depth += 1
        elif tag == "code" and self._depth:
            self._in_code, self._text = True, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self._in_code:
            self._in_code = False
            self.blocks.append(Block(self._lang or "", "".join(self._text).rstrip("\n")))
        elif tag == "div" and self._depth:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_code:
            self._text.append(data)


def blocks(page: Path) -> list[Block]:
    parser = CodeBlocks()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.blocks


def pages(site: Path) -> Iterator[Path]:
    """Every built page of every cluster (and the home pages), not MkDocs' own assets."""
    for page in sorted(site.rglob("*.html")):
        if not {"assets", "search"} & set(page.relative_to(site).parts):
            yield page


@dataclass(frozen=True)
class Figures:
    longest: int
    over: int
    tallest: int

    @staticmethod
    def of(found: list[Block]) -> Figures:
        return Figures(max((b.longest for b in found), default=0), sum(b.over for b in found),
                       max((len(b.lines) for b in found), default=0))


def measure(site: Path) -> dict[str, dict[str, Figures]]:
    """Page (relative to `site`) → kind of block → its figures, for pages that have code blocks."""
    out: dict[str, dict[str, Figures]] = {}
    for page in pages(site):
        found = blocks(page)
        if found:
            out[page.relative_to(site).as_posix()] = {
                kind: Figures.of([b for b in found if b.kind == kind]) for kind in sorted({b.kind for b in found})}
    return out


def report(site: Path) -> str:
    measured = measure(site)
    rows = [f"{'page':70} {'kind':8} {'longest':>7} {'>' + str(LINE_LIMIT):>5} {'tallest':>7}"]
    totals: dict[str, list[int]] = {}
    for page, kinds in measured.items():
        for kind, f in kinds.items():
            if f.over or f.tallest > BLOCK_LIMIT:
                rows.append(f"{page:70} {kind:8} {f.longest:7} {f.over:5} {f.tallest:7}")
            total = totals.setdefault(kind, [0, 0, 0, 0])
            total[0] = max(total[0], f.longest)
            total[1] += f.over
            total[2] = max(total[2], f.tallest)
            total[3] += f.over > 0 or f.tallest > BLOCK_LIMIT
    rows.append(f"\n{len(measured)} pages with code blocks; over the limits ({LINE_LIMIT} characters, {BLOCK_LIMIT} "
                "lines) by kind:")
    rows += [f"  {kind:8} longest line {t[0]}, lines over {LINE_LIMIT}: {t[1]}, tallest block {t[2]} lines, "
             f"pages over a limit: {t[3]}" for kind, t in sorted(totals.items())]
    return "\n".join(rows)


if __name__ == "__main__":
    print(report(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("site")))
