"""The vendored uPlot (polyad/console/static/vendor/uplot/) is what scripts/vendor-uplot.sh
fetched: the version the script pins, byte for byte (VERSION records each file's sha256), with
its MIT licence, and nothing in it that would load from outside the agent under a strict CSP."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
SCRIPT = REPO / "scripts" / "vendor-uplot.sh"
VENDOR = REPO / "polyad" / "console" / "static" / "vendor" / "uplot"
UPSTREAM = {"uPlot.iife.min.js", "uPlot.min.css", "LICENSE"}
RERUN = "rerun scripts/vendor-uplot.sh rather than editing the vendored copy"


def pinned(name: str) -> str:
    match = re.search(rf"^{name}=(\S+)$", SCRIPT.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"scripts/vendor-uplot.sh must set {name}= at the top"
    return match.group(1)


def recorded() -> tuple[dict[str, str], dict[str, str]]:
    """VERSION's fields ("version", "integrity") and its sha256 lines, by file name."""
    fields: dict[str, str] = {}
    digests: dict[str, str] = {}
    for line in (VENDOR / "VERSION").read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        if key == "sha256":
            name, _, digest = value.partition(" ")
            digests[name] = digest
        else:
            fields[key] = value
    return fields, digests


def test_the_vendor_folder_holds_the_upstream_files_and_version_only() -> None:
    assert {path.name for path in VENDOR.iterdir()} == UPSTREAM | {"VERSION"}, RERUN


def test_version_is_the_one_the_script_pins() -> None:
    fields, _ = recorded()
    assert fields == {"version": pinned("VERSION"), "integrity": pinned("INTEGRITY")}, RERUN
    assert re.fullmatch(r"\d+\.\d+\.\d+", fields["version"])
    assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", fields["integrity"])


def test_the_files_are_the_ones_the_script_copied() -> None:
    _, digests = recorded()
    assert set(digests) == UPSTREAM, RERUN
    actual = {name: hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
              for name in UPSTREAM}
    assert actual == digests, RERUN


def test_the_licence_is_mit_naming_the_author() -> None:
    text = (VENDOR / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("The MIT License")
    assert re.search(r"Copyright \(c\) \d{4} Leon Sorokin", text)
    assert "Permission is hereby granted, free of charge" in text
    assert "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND" in text


def test_the_build_defines_the_global_uplot_of_that_version() -> None:
    text = (VENDOR / "uPlot.iife.min.js").read_text(encoding="utf-8")
    version = pinned("VERSION")
    assert text.startswith(f"/*! https://github.com/leeoniya/uPlot (v{version}) */\n")
    assert "\nvar uPlot=function(){" in text


def test_nothing_loads_from_outside_the_agent() -> None:
    # a strict CSP (default-src 'self') would block, and an offline console would miss, any of
    # these; a source map is only fetched by developer tools, but none is shipped either
    script = (VENDOR / "uPlot.iife.min.js").read_text(encoding="utf-8")
    assert not re.search(r"[#@]\s*source(Mapping)?URL", script)
    style = (VENDOR / "uPlot.min.css").read_text(encoding="utf-8")
    assert "@import" not in style
    assert "url(" not in style
