"""The site's own words (headings, labels, table columns) in both languages, from words.yaml beside this module.
A component's text lives with it; some words are filled in by the page that uses them (`{ref}`)."""

from __future__ import annotations

from generator.text import LANGS, Texts

__all__ = ["LANGS", "WORDS"]
WORDS: dict[str, dict[str, str]] = {
    lang: {name: text[lang] for name, text in Texts.of_module(__file__).as_written("site").items()} for lang in LANGS
}
