"""The ``json`` format: ``<chat>/result.json``, compatible with Telegram Desktop's chat export.

Tools written for Telegram Desktop's ``result.json`` read it unchanged; see docs/format-json.md
for the layout and for what differs (UTC dates, overlapping entities, tgx's extra keys).
"""

from __future__ import annotations

import tgx
from tgx.specs import FormatSpec, FormatWriter, RenderContext


def _writer(context: RenderContext) -> FormatWriter:
    """The writer, imported when a chat is rendered (not to list formats or build `tgx --help`)."""
    from .writer import JsonWriter

    return JsonWriter(context)


@tgx.hookimpl
def tgx_register_formats() -> FormatSpec:
    return FormatSpec(
        name="json",
        factory=_writer,
        description="result.json in Telegram Desktop's export format (one file per chat, streamed)",
    )
