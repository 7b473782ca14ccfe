"""The /metrics document from the collectors' pieces: a piece that fails to render its sample
(a plugin's bug) leaves its fields empty and the rest of the document whole."""

from __future__ import annotations

from typing import Any

from structlog.testing import capture_logs

from polyad.collectors.base import JsonPiece, PieceModel
from polyad.views.render import _rendered


class Fields(PieceModel):
    value: int | None


def fragile(sample: Any) -> Fields:
    if sample is not None:
        raise KeyError("a field the plugin forgot")
    return Fields(value=None)


def test_a_piece_that_fails_to_render_gives_its_empty_fields() -> None:
    with capture_logs() as logs:
        rendered = _rendered("plugin", JsonPiece("plugin", Fields, fragile), {"sample": 1})
    assert rendered == Fields(value=None)
    assert [(log["event"], log["collector"]) for log in logs] == [
        ("collector piece not rendered", "plugin")]
