"""Bilingual text: a `Text` holds one string per language of the site (zh, en)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    def __getitem__(self, lang: str) -> str:
        return getattr(self, lang)
