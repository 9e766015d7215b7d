"""The ``txt`` format: ``<chat>/messages.txt``, a plain transcript for reading and grepping.

One line per message, ``[2024-05-01 12:34:56 UTC] Alice: text``; continuation lines indented
by four spaces; replies, forwards, media and service actions in brackets; a separator line at
each new UTC day. See docs/formats.md.
"""

from __future__ import annotations

import tgx
from tgx.specs import FormatSpec, FormatWriter, RenderContext


def _writer(context: RenderContext) -> FormatWriter:
    """The writer, imported when a chat is rendered (not to list formats or build `tgx --help`)."""
    from .writer import TxtWriter

    return TxtWriter(context)


@tgx.hookimpl
def tgx_register_formats() -> FormatSpec:
    return FormatSpec(
        name="txt",
        factory=_writer,
        description="messages.txt: a plain-text transcript, one line per message",
    )
