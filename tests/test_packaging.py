"""What installing polyad installs: every package under polyad/, and the alert rules of the
top-level alerts/ folder as `polyad.alerts.shipped`. pyproject.toml lists the packages by hand
(setuptools' `find` cannot map alerts/ in), so a new package left off the list would be missing
from a wheel while the editable install the tests run in still imports it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

from polyad.alerts.rules import builtin_rule_files

REPO = Path(__file__).resolve().parent.parent
SHIPPED = "polyad.alerts.shipped"


def setuptools_table() -> dict[str, Any]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    table: dict[str, Any] = pyproject["tool"]["setuptools"]
    return table


def test_pyproject_lists_every_package_under_polyad() -> None:
    table = setuptools_table()
    on_disk = {".".join(init.parent.relative_to(REPO).parts)
               for init in (REPO / "polyad").rglob("__init__.py")}
    listed = set(table["packages"]) - {SHIPPED}
    assert (on_disk - listed, listed - on_disk) == (set(), set()), (
        "pyproject.toml's [tool.setuptools] packages must name every package under polyad/ "
        "(missing, then extra)")
    assert table["package-dir"] == {SHIPPED: "alerts"}
    assert SHIPPED in table["packages"] and table["package-data"][SHIPPED] == ["*.yml"]


def test_the_default_rules_are_the_alerts_folder() -> None:
    shipped = [(path.name, path.read_bytes()) for path in builtin_rule_files()]
    assert shipped == [(path.name, path.read_bytes())
                       for path in sorted((REPO / "alerts").glob("*.yml"))]
    assert shipped


def test_a_wheel_holds_every_module_and_the_shipped_rules(tmp_path: Path) -> None:
    # from a copy, as the Dockerfile copies the sources: setuptools' build/ folder would
    # otherwise keep files removed from the checkout and put them in later wheels
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("polyad", "alerts"):
        shutil.copytree(REPO / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
         str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=240, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (tmp_path / "dist").glob("polyad-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = {name for name in archive.namelist() if ".dist-info/" not in name}
    modules = {path.relative_to(REPO).as_posix() for path in (REPO / "polyad").rglob("*.py")}
    rules = {f"polyad/alerts/shipped/{path.name}" for path in (REPO / "alerts").glob("*.yml")}
    assert modules | rules | {"polyad/py.typed", "polyad/alerts/shipped/__init__.py"} <= names
