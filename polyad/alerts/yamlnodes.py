"""YAML read as a node tree rather than plain values, so that every value keeps its line.

Rule files are checked field by field and each mistake is reported as `FILE:LINE`; plain
`yaml.safe_load` output has lost the lines by then. Anchors and aliases are refused as in every
file polyad reads (`polyad.yamlsafe`); a key given twice is reported by `entries`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.constructor import SafeConstructor

from polyad.yamlsafe import StrictLoader

__all__ = ["Entry", "compose_file", "describe", "entries", "line_of", "plain"]


class _Loader(StrictLoader):
    """YAML 1.1 as polyad reads it, but `1e9` is a number too (1.1 wants `1.0e+9`): thresholds
    in bits per second are written that way."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


@dataclass(frozen=True, slots=True)
class Entry:
    """One `key: value` of a mapping; `line` is the key's, counted from 1."""

    key: str
    line: int
    node: yaml.Node

    @property
    def value(self) -> object:
        return plain(self.node)


def compose_file(path: Path) -> yaml.Node | None:
    """The file's node tree (None when it is empty); raises OSError, UnicodeDecodeError or
    yaml.YAMLError."""
    return yaml.compose(path.read_text(encoding="utf-8"), Loader=_Loader)


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def plain(node: yaml.Node) -> object:
    """The value `yaml.safe_load` would give for this node: str, int, float, bool, list, …"""
    return SafeConstructor().construct_object(node, deep=True)


def describe(value: object) -> str:
    """A value as an error message shows it: `a list`, `nothing`, `true`, `'90%'`."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value)


def entries(node: yaml.MappingNode) -> tuple[dict[str, Entry], list[Entry]]:
    """The mapping's entries by key, and the entries whose key came earlier too."""
    found: dict[str, Entry] = {}
    repeated: list[Entry] = []
    for key_node, value_node in node.value:
        entry = Entry(str(plain(key_node)), line_of(key_node), value_node)
        if entry.key in found:
            repeated.append(entry)
        else:
            found[entry.key] = entry
    return found, repeated
