"""Layers point down (DESIGN.md, principle 7): nothing below the HTTP layer imports `polyad.api`,
and the views hold no aiohttp. Read from the source with `ast`, imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "polyad"
# What may import the HTTP layer: the layer itself, what runs it, and the command line.
ABOVE_API = ("api", "server.py", "cli.py", "__main__.py")
# Named in DESIGN.md as below api/; listed so that a move cannot make the test pass vacuously.
BELOW_API = ("tasks", "alerts", "cache", "collectors", "views", "config", "security",
             "catalog.py", "snapshot.py", "sampler.py")


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, root: Path = PACKAGE) -> set[str]:
    """Every module `path` imports, anywhere in it, as absolute dotted names (`from a import b`
    counts as both `a` and `a.b`: b may be a module)."""
    package = module_name(path if path.name == "__init__.py" else path.parent, root)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def is_above_api(path: Path) -> bool:
    return path.relative_to(PACKAGE).parts[0] in ABOVE_API


def below_api() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if not is_above_api(path))


def imports_api(path: Path, root: Path = PACKAGE) -> list[str]:
    return sorted(name for name in imported_modules(path, root)
                  if name == "polyad.api" or name.startswith("polyad.api."))


@pytest.mark.parametrize("path", below_api(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_nothing_below_the_http_layer_imports_it(path: Path) -> None:
    found = imports_api(path)
    assert not found, f"{', '.join(found)}: a layer below api/ imports it (DESIGN.md, 7)"


@pytest.mark.parametrize("name", BELOW_API)
def test_the_layers_named_below_api_are_there_and_checked(name: str) -> None:
    path = PACKAGE / name
    assert path.exists(), f"polyad/{name} is not there: moved? update BELOW_API"
    checked = set(below_api())
    assert path in checked or any(p.is_relative_to(path) for p in checked)


@pytest.mark.parametrize("path", sorted((PACKAGE / "views").rglob("*.py")),
                         ids=lambda path: path.name)
def test_the_views_hold_no_aiohttp(path: Path) -> None:
    assert not [name for name in imported_modules(path)
                if name == "aiohttp" or name.startswith("aiohttp.")]


def test_the_check_sees_imports_in_functions_relative_ones_and_the_package_itself(
    tmp_path: Path,
) -> None:
    fake = tmp_path / "polyad"
    (fake / "tasks").mkdir(parents=True)
    late = fake / "tasks" / "late.py"
    late.write_text("def run():\n    from polyad.api.render import metrics_view\n")
    relative = fake / "tasks" / "relative.py"
    relative.write_text("from ..api import keys\n")
    whole = fake / "tasks" / "whole.py"
    whole.write_text("import polyad.api\nfrom polyad import api\n")
    clean = fake / "tasks" / "clean.py"
    clean.write_text("import polyad.apiary\nfrom polyad.views import render\n")
    assert imports_api(late, fake) == ["polyad.api.render", "polyad.api.render.metrics_view"]
    assert imports_api(relative, fake) == ["polyad.api", "polyad.api.keys"]
    assert imports_api(whole, fake) == ["polyad.api"]
    assert imports_api(clean, fake) == []
