"""The ``sqlite`` format: ``<chat>/messages.sqlite``, a documented, queryable copy of the chat.

Tables ``chats``, ``users``, ``messages``, ``media``, ``reactions``, ``entities`` and the
full-text index ``messages_fts`` (FTS5, kept in sync by triggers). Schema in docs/formats.md.
"""

from __future__ import annotations

import tgx
from tgx.specs import FormatSpec

from .writer import SqliteWriter


@tgx.hookimpl
def tgx_register_formats() -> FormatSpec:
    return FormatSpec(
        name="sqlite",
        factory=SqliteWriter,
        description="messages.sqlite: tables for messages, users, media, reactions, entities + FTS5",
    )
