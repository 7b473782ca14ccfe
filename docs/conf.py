"""The docs site: Sphinx with MyST Markdown and the Furo theme (`make docs`, strict: a warning
fails the build). Chosen over MkDocs Material, whose own team put it in maintenance mode in
2025 for a successor; Sphinx is what aiohttp's docs are built with, and MyST lets the pages
stay plain Markdown that reads well on GitHub too."""

from __future__ import annotations

project = "polyad"
author = "polyad"
extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "reference/generate.py"]
html_theme = "furo"
html_title = "polyad"
html_static_path: list[str] = []
myst_heading_anchors = 3          # [text](page.md#a-heading) links resolve
suppress_warnings = ["myst.header"]  # a generated table's page starts at its own level
