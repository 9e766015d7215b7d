"""The ``markdown`` format: ``<chat>/markdown/``, an Obsidian vault of one note per day or month.

Notes carry YAML front matter, a block id (``^m<id>``) on every message so replies link across
notes, media as embeds, and message text escaped so that nothing in it is taken as Markdown or
Obsidian syntax. See docs/formats.md.
"""

from __future__ import annotations

import tgx
from tgx.specs import FormatSpec, FormatWriter, OptionSpec, RenderContext


def _writer(context: RenderContext) -> FormatWriter:
    """The writer, imported when a chat is rendered (not to list formats or build `tgx --help`)."""
    from .writer import MarkdownWriter

    return MarkdownWriter(context)


@tgx.hookimpl
def tgx_register_formats() -> FormatSpec:
    return FormatSpec(
        name="markdown",
        factory=_writer,
        description="an Obsidian vault: one note per day (or month) under <chat>/markdown/",
        options=(
            OptionSpec("markdown-split", "One note per UTC day or per month", default="day",
                       choices=("day", "month")),
        ),
    )
