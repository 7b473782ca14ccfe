"""promtool, which `make test` installs with Debian's prometheus package: `check metrics` on an
exposition, and `test rules` on a unit-test document (promtool's own rule tests)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

__all__ = ["check_metrics", "promtool", "run_rule_tests"]


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make test` installs Debian's prometheus package"
    return path


def check_metrics(text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True,
                          text=True, timeout=30, check=False)


def run_rule_tests(unit: dict[str, Any], directory: Path) -> None:
    """Writes `unit` as directory/test.yml (its rule files relative to `directory`) and
    asserts that promtool passes it."""
    (directory / "test.yml").write_text(yaml.safe_dump(unit, allow_unicode=True))
    result = subprocess.run([promtool(), "test", "rules", "test.yml"], cwd=directory,
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
