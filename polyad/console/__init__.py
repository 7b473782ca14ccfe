"""The web console's files: `static/` (the page, its script and style, and uPlot, the chart
library, vendored under `static/vendor/uplot/` by scripts/vendor-uplot.sh with its licence and
version), read into memory once. They hold no data: the page fetches it with the user's token.

A fixed table of files, not a folder served from disk: no request path can name anything
outside it, and each file's ETag is worked out once.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

__all__ = ["INDEX", "ConsoleFile", "console_files"]

INDEX = "index.html"  # served at `/`; every other file at /console/<its path under static/>

# the types that matter to a browser under `X-Content-Type-Options: nosniff`, not the host's
# mime.types (which may lack one, or say text/plain for .js on an old host)
_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css",
          ".svg": "image/svg+xml", ".png": "image/png"}
_TEXT = ("text/", "image/svg+xml")


@dataclass(frozen=True, slots=True)
class ConsoleFile:
    body: bytes
    content_type: str
    charset: str | None
    etag: str          # quoted, as the header carries it


def _walk(folder: Traversable, prefix: str = "") -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for entry in folder.iterdir():
        name = f"{prefix}{entry.name}"
        if entry.is_dir():
            found.update(_walk(entry, f"{name}/"))
        elif not entry.name.startswith("."):
            found[name] = entry
    return found


def _content_type(name: str) -> str:
    suffix = name[name.rfind("."):] if "." in name.rsplit("/", 1)[-1] else ""
    if suffix in _TYPES:
        return _TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "text/plain"  # LICENSE, VERSION


def console_files() -> dict[str, ConsoleFile]:
    """Every file under static/, by its path there (`index.html`, `vendor/uplot/LICENSE` …)."""
    table = {}
    for name, entry in _walk(resources.files(__package__).joinpath("static")).items():
        body = entry.read_bytes()
        content_type = _content_type(name)
        table[name] = ConsoleFile(
            body, content_type,
            "utf-8" if content_type.startswith(_TEXT) else None,
            f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return table
