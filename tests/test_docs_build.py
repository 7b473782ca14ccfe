"""The docs site builds in strict mode (docs/conf.py): a broken link, a page left out of every
table of contents or any other warning fails `make test`, as it fails `make docs`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_the_docs_site_builds_without_a_warning(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-E", "-b", "html",
         str(DOCS), str(tmp_path / "html")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    for page in ("index", "fleet", "reference/configuration", "reference/api"):
        assert (tmp_path / "html" / f"{page}.html").exists(), page
    assert list((tmp_path / "html" / "_downloads").rglob("openapi.json"))
