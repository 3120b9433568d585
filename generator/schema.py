"""Turn plain YAML or JSON data into frozen dataclasses, collecting every problem with its field path."""

from __future__ import annotations

import dataclasses
import difflib
import math
import reprlib
import types
import typing
from dataclasses import dataclass, field
from typing import Any

MAX_LINE = 299  # a problem line, file name included: read at a glance, never a screenful
# reprlib stops after a few items and levels, so showing a huge or deeply shared value costs next to nothing
# (repr() of a YAML alias bomb would build gigabytes).
_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxdict, _SHORT.maxlist, _SHORT.maxtuple, _SHORT.maxset = 2, 4, 4, 4, 4
_SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 80, 80, 40


def printable(text: str) -> str:
    """`text` with every character a terminal would act on (a newline, an escape sequence) written as its escape."""
    return text if text.isprintable() else "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def shorten(value: Any, limit: int = 80) -> str:
    """`repr(value)`, at most `limit` characters, built without ever making the whole repr."""
    text = _SHORT.repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class Problem:
    path: str
    value: Any
    expected: str

    def render(self, source: str) -> str:
        """`source: field: value: expected` on one line of at most MAX_LINE characters (the value is cut first)."""
        path = self.path or "<top>"
        path = path if len(path) <= 100 else path[:99] + "…"  # real field paths are shorter; YAML keys may not be
        room = MAX_LINE - len(f"{source}: {path}: : {self.expected}")
        shown = "(missing)" if self.value is MISSING else shorten(self.value, min(80, max(room, 12)))
        line = f"{source}: {path}: {shown}: {self.expected}"
        return line if len(line) <= MAX_LINE else line[:MAX_LINE - 1] + "…"


class _Missing:
    def __repr__(self) -> str:
        return "(missing)"


MISSING: Any = _Missing()


def yaml_key(f: dataclasses.Field) -> str:
    """The key a field has in the cluster file ("kube-scheduler" for kube_scheduler when aliased)."""
    return f.metadata.get("key", f.name)


def alias(key: str, **kwargs: Any) -> Any:
    """A dataclass field whose YAML key differs from its Python name."""
    return field(metadata={"key": key}, **kwargs)


def join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else part


def optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def build(cls: type, data: Any, path: str, problems: list[Problem]) -> Any:
    """Build `cls` from `data`; append a Problem for each mismatch and return None for bad parts.

    Unknown keys are reported but do not stop the build: an object is returned whenever every field
    has a value of its declared type, so later checks can still look at it.
    """
    if not isinstance(data, dict):
        # A whole file that is not a mapping (a key, a password file given by mistake) is named by its type only
        shown = data if path else f"a {type(data).__name__}"
        problems.append(Problem(path, shown, f"expected a mapping of {cls.__name__} fields"))
        return None
    hints = typing.get_type_hints(cls)
    fields = {yaml_key(f): f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known fields: {', '.join(sorted(fields))}"
            problems.append(Problem(join(path, str(key)), data[key], f"unknown field; {hint}"))
    values: dict[str, Any] = {}
    failed = False
    for key, f in fields.items():
        sub = join(path, key)
        if key in data:
            value = convert(hints[f.name], data[key], sub, problems)
            failed |= value is None and (data[key] is not None or not optional(hints[f.name]))
            values[f.name] = value
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            problems.append(Problem(sub, MISSING, "required field"))
            failed = True
    if failed:
        return None
    return cls(**values)


def convert(hint: Any, value: Any, path: str, problems: list[Problem]) -> Any:
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        allowed = typing.get_args(hint)
        if value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):
            problems.append(Problem(path, value, "one of " + ", ".join(str(a) for a in allowed)))
            return None
        return value
    if origin is dict:
        key_hint, value_hint = typing.get_args(hint)
        if not isinstance(value, dict):
            problems.append(Problem(path, value, "expected a mapping"))
            return None
        converted = {convert(key_hint, k, path, problems): convert(value_hint, v, join(path, str(k)), problems)
                     for k, v in value.items()}
        return None if any(k is None or v is None for k, v in converted.items()) else converted
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return convert(options[0], value, path, problems)
    if origin in (list, tuple):
        (item,) = typing.get_args(hint)[:1]
        if not isinstance(value, list):
            problems.append(Problem(path, value, "expected a list"))
            return None
        items = [convert(item, v, join(path, i), problems) for i, v in enumerate(value)]
        if any(v is None for v in items):
            return None
        return items if origin is list else tuple(items)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, path, problems)
    if hint is bool:
        if not isinstance(value, bool):
            problems.append(Problem(path, value, "expected true or false"))
            return None
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(Problem(path, value, "expected an integer"))
            return None
        return value
    if hint is float:
        # JSON has one number type: 3 is a float's value too; NaN and infinities never are a measurement
        try:
            number = None if isinstance(value, bool) or not isinstance(value, int | float) else float(value)
        except OverflowError:  # an integer of hundreds of digits
            number = None
        if number is None or not math.isfinite(number):
            problems.append(Problem(path, value, "expected a finite number"))
            return None
        return number
    if hint is str:
        if not isinstance(value, str):
            problems.append(Problem(path, value, 'expected a string (put it in quotes: unquoted, 1.30 is the '
                                                 "number 1.3)"))
            return None
        return value
    raise TypeError(f"no converter for {hint!r}")
