"""Reading a cluster file: bytes → plain YAML data, within limits, every problem one short line.

PyYAML's SafeLoader constructs only plain types, but it has no limits and raises more than YAMLError (a 2,000-deep
list is a RecursionError, `!!timestamp abc` an AttributeError, a 5,000-digit integer a ValueError) and an alias bomb
expands into billions of items. No maintained YAML library adds size, depth and alias limits (ruamel.yaml has none;
strictyaml refuses the flow mappings our cluster files use), so the limits are added here, in the composer, before
any Python object is made: what is constructed afterwards is small by construction.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent, MappingStartEvent, ScalarEvent, SequenceStartEvent

from generator.schema import Problem, shorten
from generator.stored import NotAFile, read_limited

MAX_BYTES = 256 * 1024  # a cluster file is a few KB; the limit keeps PyYAML's pure-Python scanner well under 1 s
MAX_DEPTH = 20  # the deepest field (components.<name>.leader_election.<field>) is 4 levels down
MAX_NODES = 10_000  # YAML nodes after expanding aliases: 32 nodes with every field set need about 1,000
MAX_SCALAR = 1024  # characters; no field needs more (an ssh option or a path is far shorter)
# YAML 1.1 reads 0022 as octal 18, 1:20 as 80 and 1_000 as 1000; a cluster file's integers are plain decimal.
DECIMAL = re.compile(r"[-+]?(0|[1-9][0-9]{0,17})")


class Refused(yaml.MarkedYAMLError):
    """YAML that parses, but that a cluster file does not use (a tag, an alias loop) or that passes a limit."""


class LimitedLoader(yaml.SafeLoader):
    """SafeLoader with limits, no tags, decimal integers only, and a key given twice in one mapping refused. The
    limits and how the messages name what they are for are class attributes (lint reads configs with larger ones)."""

    max_depth, max_nodes, max_scalar = MAX_DEPTH, MAX_NODES, MAX_SCALAR
    used_in = "cluster files"
    depth_note = " (a cluster file needs 5)"
    nodes_note = "; a cluster file has a few hundred"

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.depth = 0
        self.composed = 0
        # expanded size (the node and everything under it, aliases counted in full) of every finished node
        self.sizes: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            node = super().compose_node(parent, index)
            if id(node) not in self.sizes:
                raise Refused(None, None, f"alias *{shorten(event.anchor, 40)} refers to a node that "
                                    "contains it", event.start_mark)
            return node
        if isinstance(event, ScalarEvent | SequenceStartEvent | MappingStartEvent) and event.tag is not None:
            tag = event.tag.replace("tag:yaml.org,2002:", "!!")
            raise Refused(None, None, f"YAML tag {shorten(tag, 40)} is not used in {self.used_in} "
                                "(write the plain value)", event.start_mark)
        if isinstance(event, ScalarEvent) and len(event.value) > self.max_scalar:
            raise Refused(None, None, f"a value of {len(event.value)} characters; no field takes more "
                                f"than {self.max_scalar}", event.start_mark)
        self.composed += 1
        self.depth += 1
        if self.depth > self.max_depth:
            raise Refused(None, None, f"nested deeper than {self.max_depth} levels{self.depth_note}",
                                event.start_mark)
        node = super().compose_node(parent, index)
        self.depth -= 1
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self.sizes[id(child)] for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self.sizes[id(key)] + self.sizes[id(value)] for key, value in node.value)
        if size > self.max_nodes or self.composed > self.max_nodes:
            raise Refused(None, None, f"more than {self.max_nodes} YAML values (aliases counted in full)"
                                f"{self.nodes_note}", event.start_mark)
        self.sizes[id(node)] = size
        return node

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        if not DECIMAL.fullmatch(node.value):
            raise Refused(None, None, f"{shorten(node.value, 40)}: write integers in plain decimal, at most "
                                   "18 digits (YAML 1.1 reads 0022 as 18, 1:20 as 80); quote text", node.start_mark)
        return int(node.value)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[object, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *defaults` may be overridden on purpose
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it
            if first is not key_node.start_mark:
                raise ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"duplicate key {shorten(key)} (first given on line {first.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


LimitedLoader.add_constructor("tag:yaml.org,2002:int", LimitedLoader.construct_yaml_int)
# A date-like scalar (2001-13-45) stays a string: no field is a date, and SafeLoader raises ValueError on bad ones.
LimitedLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def where(text: str, index: int) -> str:
    """Line and column (1-based) of character `index` of `text`."""
    line = text.count("\n", 0, index)
    return f"line {line + 1}, column {index - (text.rfind(chr(10), 0, index) + 1) + 1}"


def read(path: Path) -> tuple[Any, list[Problem]]:
    """The file's YAML data, or the problems that stop it from being read (then the data is None)."""
    try:
        raw = read_limited(path, MAX_BYTES)
    except NotAFile as err:  # a FIFO would block the read for ever (and `build-docs` with it)
        return None, [Problem("", str(path), f"{err}: a cluster file is a plain file")]
    except OSError as err:
        return None, [Problem("", str(path), f"cannot read the cluster file ({err.strerror or err})")]
    if len(raw) > MAX_BYTES:
        return None, [Problem("", f"more than {MAX_BYTES} bytes", "a cluster file of a few KB (at most 256 KiB)")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        before = raw[:err.start].decode("utf-8")  # valid up to the bad byte
        at = where(before, len(before))
        return None, [Problem("", at, f"byte 0x{raw[err.start]:02x} is not UTF-8; save the file as UTF-8")]
    try:
        return yaml.load(text, Loader=LimitedLoader), []
    except yaml.reader.ReaderError as err:
        at = where(text, err.position)
        code = err.character if isinstance(err.character, int) else ord(err.character)
        return None, [Problem("", at, f"character U+{code:04X} is not allowed in YAML (a control character "
                                      "such as NUL); remove it")]
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "the whole file"
        reason = getattr(err, "problem", None) or "not YAML"
        return None, [Problem("", at, reason if isinstance(err, Refused) else f"malformed YAML: {reason}")]
