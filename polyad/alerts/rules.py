"""Alert rules: the model, the loader, and where the rule files are.

A rule compares one catalog metric, named by its `GET /metrics` path, with a threshold. With no
files configured, polyad runs the rules it ships: the repository's top-level `alerts/` folder,
installed as the package `polyad.alerts.shipped`.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path

from polyad.alerts.loader import load_rules
from polyad.alerts.model import PLACEHOLDER, Rule, RuleError, RuleGroup, render_template

__all__ = [
    "PLACEHOLDER",
    "Rule",
    "RuleError",
    "RuleGroup",
    "builtin_rule_files",
    "load_rules",
    "render_template",
    "resolve_rule_files",
]

_GLOB_MAGIC = re.compile(r"[*?\[]")


def builtin_rule_files() -> list[Path]:
    """The rule files polyad ships, `alerts/*.yml`: in a wheel under polyad/alerts/shipped/, in an
    editable install the repository's own folder."""
    directory = files("polyad.alerts.shipped")
    return sorted(Path(str(entry)) for entry in directory.iterdir() if entry.name.endswith(".yml"))


def resolve_rule_files(patterns: Sequence[str], base: Path) -> list[Path]:
    """The files `patterns` (globs, relative to `base`) name; no patterns: the built-in rules.

    A pattern without wildcards is kept even when it names no file, so that loading it says so
    instead of silently loading nothing.
    """
    if not patterns:
        return builtin_rule_files()
    found: set[str] = set()
    for pattern in patterns:
        if _GLOB_MAGIC.search(pattern):
            matches = glob.glob(pattern, root_dir=base, recursive=True)
            found.update(os.path.normpath(base / match) for match in matches
                         if (base / match).is_file())
        else:
            found.add(os.path.normpath(base / pattern))
    return [Path(path) for path in sorted(found)]
