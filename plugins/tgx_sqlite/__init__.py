"""The ``sqlite`` format: ``<chat>/messages.sqlite``, a documented, queryable copy of the chat.

Tables ``chats``, ``users``, ``messages``, ``media``, ``reactions``, ``entities`` and the
full-text index ``messages_fts`` (FTS5, kept in sync by triggers). Schema in docs/formats.md.
"""

from __future__ import annotations

import tgx
from tgx.specs import FormatSpec, FormatWriter, RenderContext


def _writer(context: RenderContext) -> FormatWriter:
    """The writer, imported when a chat is rendered (not to list formats or build `tgx --help`)."""
    from .writer import SqliteWriter

    return SqliteWriter(context)


@tgx.hookimpl
def tgx_register_formats() -> FormatSpec:
    return FormatSpec(
        name="sqlite",
        factory=_writer,
        description="messages.sqlite: tables for messages, users, media, reactions, entities + FTS5",
    )
