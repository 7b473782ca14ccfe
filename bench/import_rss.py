"""`python -m bench.import_rss MODULE [PACKAGE…]`: resident memory that importing MODULE adds, per
top-level package (each import's RSS growth less that of the imports it made), as one JSON line
in MB; each PACKAGE named is split one level deeper (polyad → polyad.api, polyad.config, …).
Imports only what it must before measuring; `python -m bench.profile imports` prints it."""

from __future__ import annotations

import builtins
import collections
import json
import os
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES


def group(module: str, split: frozenset[str]) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in split else parts[0]


def measure(root_module: str, split: frozenset[str] = frozenset()) -> dict[str, float]:
    growth: collections.Counter[str] = collections.Counter()
    nested_growth = [0]
    real_import = builtins.__import__

    def metered(name: str, globals: Mapping[str, object] | None = None,
                locals: Mapping[str, object] | None = None,
                fromlist: Sequence[str] | None = (), level: int = 0) -> ModuleType:
        package = str((globals or {}).get("__package__") or "") if level else name
        before = rss_bytes()
        nested_growth.append(0)
        try:
            return real_import(name, globals, locals, fromlist, level)
        finally:
            spent = rss_bytes() - before
            growth[group(package or name, split)] += spent - nested_growth.pop()
            nested_growth[-1] += spent

    start = rss_bytes()
    builtins.__import__ = metered
    try:
        real_import(root_module)
    finally:
        builtins.__import__ = real_import
    packages = {name: round(spent / 1e6, 1) for name, spent in growth.most_common()
                if spent >= 0.2e6}
    return {"interpreter": round(start / 1e6, 1), **packages,
            "total after import": round(rss_bytes() / 1e6, 1)}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(measure(sys.argv[1], frozenset(sys.argv[2:]))) + "\n")
