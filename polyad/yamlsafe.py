"""YAML as polyad reads every file, config and alert rules alike: the safe tags only, no anchors
or aliases, and no key given twice.

Aliases are refused as the parser meets them, before any value is built: nine lines of nine-fold
aliases ("billion laughs", 1 KB) otherwise expand to 9**9 strings when the config is validated,
5 GB and 80 s before it fails. An operator's file never needs them: writing the value out does.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, cast

import yaml
from yaml.error import Mark

__all__ = ["RefusedYaml", "StrictLoader", "load", "problem_of"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class RefusedYaml(yaml.MarkedYAMLError):
    """Well-formed YAML that polyad will not read: an anchor, an alias, a key given twice."""


class StrictLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that refuses anchors and aliases while composing, and a mapping key
    given twice while constructing (PyYAML keeps the last one without a word)."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        if isinstance(event, yaml.NodeEvent) and event.anchor is not None:
            sign = "*" if isinstance(event, yaml.AliasEvent) else "&"
            raise RefusedYaml(problem=f"{sign}{event.anchor}: anchors and aliases are not "
                              "allowed (polyad refuses them); write the value out in full",
                              problem_mark=cast("Mark", event.start_mark))
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False
                          ) -> dict[Hashable, Any]:
        self._refuse_repeated_keys(node)
        return super().construct_mapping(node, deep)

    def _refuse_repeated_keys(self, node: yaml.MappingNode) -> None:
        first_line: dict[object, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in first_line:
                raise RefusedYaml(problem=f"key {key!r} given twice (first on line "
                                  f"{first_line[key]}); keep one",
                                  problem_mark=key_node.start_mark)
            first_line[key] = line


def load(text: str) -> Any:
    """The document's value, as `yaml.safe_load` gives it; raises yaml.YAMLError (RefusedYaml
    for what polyad refuses)."""
    loader = StrictLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def problem_of(error: yaml.YAMLError) -> tuple[int, str]:
    """The line (from 1; 1 when YAML does not say) and what is wrong, in one line."""
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    reason = getattr(error, "problem", None) or str(error)
    if not isinstance(error, RefusedYaml):
        reason = f"not valid YAML: {reason}"
    return (mark.line + 1 if mark is not None else 1), " ".join(reason.split())
