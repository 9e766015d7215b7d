"""What a reader of a Telegram Desktop export yields (the one contract between the readers and
the import stage).

A reader is a generator of :class:`ExportItem` in the order the export holds them: account-wide
peers first (personal information, contacts — a JSON account export writes them before the
chats), then one :class:`ImportedChat` at a time. A chat's ``messages`` is itself a lazy
iterator over the file(s) being read: the consumer takes all of a chat's messages before it asks
the reader for the next item (the reader may raise if it does not). Nothing but the current
message is held, so a 2 GB ``result.json`` streams in flat memory.

Messages carry the same :mod:`tgx.model` fields an online export fills, with what Telegram
Desktop does not export left empty (never invented). Their ``media.path`` and
``media.thumbnail_path`` are always ``None``: the export's files are named by
:class:`SourceFile` instead — as the export wrote them, relative to its folder, *untrusted*
(the stage refuses one that leaves the folder).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from tgx.archive.records import MessageRow
from tgx.model import Media, Message, Peer

__all__ = ["ExportItem", "ImportedChat", "ImportedMessage", "SourceFile", "StoredRow", "Warn", "note_missing"]

Warn = Callable[[str, str], None]
"""``warn(kind, detail)``: something the reader skipped or kept aside (an unknown message field,
entity type or media kind, an unreadable date ...). ``kind`` is stable (``"unknown field"``,
``"unknown entity"`` ...); the stage says each kind once, with a count."""


@dataclass(slots=True)
class SourceFile:
    """A file the export holds (or says it left out) for a message."""

    role: Literal["file", "thumbnail"]  # the message's media itself, or its thumbnail
    relpath: str | None  # as the export names it, relative to the export folder (POSIX); untrusted
    missing: str | None = None  # why the export has no file (Telegram Desktop's note), None when it has one


def note_missing(media: Media, role: str, why: str) -> None:
    """Record on ``media`` that the file (``role``) is not in the archive, and why — where every
    format shows it (``media.extra["missing"]`` / ``["thumbnail_missing"]``)."""
    key = "missing" if role == "file" else "thumbnail_missing"
    media.extra = {**(media.extra or {}), key: why}


@dataclass(slots=True)
class ImportedMessage:
    message: Message  # chat_id: the chat's marked id; media paths None (see SourceFile)
    files: list[SourceFile] = field(default_factory=list)


StoredRow = MessageRow
"""A message without files already as its archive row (chat id, id, date, edit date, deleted,
record) — what a reader in another process sends (:mod:`tgx.importer.process`): the stage
stores it as it is."""


@dataclass(slots=True)
class ImportedChat:
    """One chat of the export. ``peers`` grows while ``messages`` is consumed (senders, forwarded
    and mentioned peers the export names with an id); the stage stores them as it goes."""

    peer: Peer  # marked id from Telegram Desktop's type + bare id (docs/import.md)
    td_type: str  # Telegram Desktop's ``type`` ("personal_chat", "public_channel", ...)
    messages: Iterator[ImportedMessage | StoredRow]
    peers: dict[int, Peer] = field(default_factory=dict)
    left: bool = False  # from ``left_chats`` of an account export
    source: Path | None = None  # the file it was read from (the first of an HTML chat's pages)
    missing: int = 0  # files the export lacks whose notes the reader recorded itself (its row shortcut, its process)


ExportItem = Peer | ImportedChat
