"""Bilingual text: every string a reader sees exists once per language of the site (zh, en).

A `Text` holds the two. A component's prose lives beside its code in one YAML file (its folder's `text.yaml`, or
`<module>.yaml` beside a shared module), read by `Texts`: one entry per chapter or step, keyed by its id; each field
of an entry (title, intro, explain, warnings, or a named part a step chooses between) has both languages side by
side, so a change to one shows the other in the same diff. Values the code knows (a node's name, a release, a port)
are `{placeholders}` filled in with `str.format` (attribute access such as `{cluster.release}` included; a literal
brace is written twice); a placeholder given a Text takes each language's own string.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from string import Formatter
from typing import Any

import yaml

LANGS = ("zh", "en")
STEP_FIELDS = ("title", "explain", "warnings", "destructive")
CHAPTER_FIELDS = ("title", "intro", "notebook_title")


@dataclass(frozen=True)
class Text:
    zh: str
    en: str

    def __getitem__(self, lang: str) -> str:
        return getattr(self, lang)

    def __add__(self, other: Text) -> Text:
        return Text(zh=self.zh + other.zh, en=self.en + other.en)

    def format(self, **values: Any) -> Text:
        """Each language's string with its `{placeholders}` filled in."""
        def filled(lang: str) -> str:
            return self[lang].format_map({k: v[lang] if isinstance(v, Text) else v for k, v in values.items()})
        return Text(zh=filled("zh"), en=filled("en"))


def placeholders(template: str) -> set[str]:
    """The names a template fills in (`{cluster.release}` names `cluster`)."""
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in Formatter().parse(template) if field}


class TextFileError(ValueError):
    """A text file that is not one entry per id, each field a {zh, en} pair or a list of them."""


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML's safe loader, refusing a key written twice in one mapping (YAML would keep the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        twice = sorted({str(k) for k in keys if keys.count(k) > 1})
        if twice:
            raise TextFileError(f"line {node.start_mark.line + 1}: {', '.join(twice)} written twice")
        return super().construct_mapping(node, deep=deep)


def _text(value: Any, where: str) -> Text:
    if not (isinstance(value, dict) and set(value) == set(LANGS) and all(isinstance(value[k], str) for k in LANGS)):
        raise TextFileError(f"{where}: expected both languages, {' and '.join(LANGS)}, as strings")
    if placeholders(value["zh"]) != placeholders(value["en"]):
        raise TextFileError(f"{where}: the languages fill in different values: "
                            f"{sorted(placeholders(value['zh']))} and {sorted(placeholders(value['en']))}")
    return Text(zh=value["zh"], en=value["en"])


Field = Text | tuple[Text, ...]


class Texts:
    """The prose of one component (or shared module), read from `path` when first asked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, dict[str, Field]] | None = None
        self.asked: set[tuple[str, str]] = set()  # (entry, field) read so far: tests find what nothing reads

    @staticmethod
    def at(path: Path) -> Texts:
        """The reader of the text file at `path` (one per file, whichever module asks)."""
        return _texts(path)

    @staticmethod
    def of_component(module_file: str) -> Texts:
        """The text.yaml in the folder of a component's module (one reader per file, whichever module asks)."""
        return _texts(Path(module_file).with_name("text.yaml"))

    @staticmethod
    def of_module(module_file: str) -> Texts:
        """<module>.yaml beside a shared module."""
        return _texts(Path(module_file).with_suffix(".yaml"))

    def entries(self) -> dict[str, dict[str, Field]]:
        if self._entries is None:
            try:
                data = yaml.load(self.path.read_text(encoding="utf-8"), Loader=_Loader)
            except TextFileError as err:
                raise TextFileError(f"{self.path}: {err}") from None
            if not isinstance(data, dict):
                raise TextFileError(f"{self.path}: expected one entry per id")
            entries: dict[str, dict[str, Field]] = {}
            for key, fields in data.items():
                if not isinstance(fields, dict):
                    raise TextFileError(f"{self.path}: {key}: expected its fields")
                entries[str(key)] = {
                    name: tuple(_text(v, f"{self.path}: {key}.{name}[{i}]") for i, v in enumerate(value))
                    if isinstance(value, list) else _text(value, f"{self.path}: {key}.{name}")
                    for name, value in fields.items()
                }
            self._entries = entries
        return self._entries

    def entry(self, key: str, names: tuple[str, ...] | None = None) -> dict[str, Field]:
        """The entry `key`: all its fields, or those of `names` it has."""
        try:
            fields = self.entries()[key]
        except KeyError:
            raise KeyError(f"{self.path} has no entry {key!r}") from None
        chosen = {name: field for name, field in fields.items() if names is None or name in names}
        self.asked.update((key, name) for name in chosen)
        return chosen

    def __call__(self, key: str, part: str, /, **values: Any) -> Text:
        """One field of an entry, filled in."""
        field = self.entry(key, (part,)).get(part)
        if not isinstance(field, Text):
            raise KeyError(f"{self.path}: {key} has no text {part!r}")
        return field.format(**values)

    def step(self, key: str, /, step_id: str | None = None, **values: Any) -> dict[str, Any]:
        """A step's id and its prose, as Step's fields: `Step(**TEXT.step(...), local=...)`. The entry's key is the
        step's id, except in a shared module's file, whose steps' ids name the component using them (`step_id`)."""
        entry = self.entry(key, STEP_FIELDS)
        found: dict[str, Any] = {"id": step_id or key}
        for name in STEP_FIELDS:
            field = entry.get(name)
            if isinstance(field, tuple):
                found[name] = tuple(t.format(**values) for t in field)
            elif field is not None:
                found[name] = field.format(**values)
        return found

    def as_written(self, key: str) -> dict[str, Text]:
        """Every field of an entry that is one Text, placeholders unfilled: for code that fills them in itself."""
        return {name: field for name, field in self.entry(key).items() if isinstance(field, Text)}

    def fields(self, key: str, /, **values: Any) -> dict[str, Text]:
        """Every field of an entry that is one Text, filled in (an error's title, symptom, cause and fix)."""
        return {name: field.format(**values) for name, field in self.entry(key).items() if isinstance(field, Text)}

    def chapter(self, chapter_id: str, /, **values: Any) -> dict[str, Any]:
        """A chapter's id, title and intro (and its notebook's title, when the page's names this cluster)."""
        entry = self.entry(chapter_id, CHAPTER_FIELDS)
        found: dict[str, Any] = {"id": chapter_id}
        for name in CHAPTER_FIELDS:
            field = entry.get(name)
            if isinstance(field, Text):
                found[name] = field.format(**values)
        return found


def enumeration(items: Iterable[str]) -> Text:
    """Names listed as each language lists them: "a、b、c" and "a, b, c"."""
    names = list(items)
    return Text(zh="、".join(names), en=", ".join(names))


@functools.cache
def _texts(path: Path) -> Texts:
    return Texts(path)


NO_TEXT = Text(zh="", en="")  # a placeholder's value where a variant says nothing
