"""How a message is stored: its JSON record and its archive row, in one place.

The archive's ``messages.data`` holds ``orjson.dumps(Message.to_dict())`` — byte for byte the
``jsonl`` line without its newline — and the page decoder builds those rows in worker processes
(:mod:`tgx.fetch.pages`), so the serialization must not differ between the two: both call this module.
"""

from __future__ import annotations

from typing import Any

import orjson

from tgx.model import Message

MessageRow = tuple[int, int, int, int | None, int, bytes]  # chat_id, id, date, edit_date, deleted, data

__all__ = ["MessageRow", "dumps", "load_message", "message_row"]


def dumps(value: Any) -> bytes:
    """orjson, copied into a right-sized ``bytes``: orjson's own result keeps a much larger
    allocation alive (~8 KiB for a 600-byte message), so a batch of them costs 10x the memory
    and, measured, twice the time of the copy."""
    try:
        return bytes(memoryview(orjson.dumps(value)))
    except TypeError:
        # Lone surrogates (never from the wire: Telethon decodes with errors="replace") would make
        # orjson refuse the row; replace them with U+FFFD, which keeps UTF-16 offsets intact.
        return bytes(memoryview(orjson.dumps(_scrub(value))))


def message_row(chat_id: int, m: Message) -> MessageRow:
    """The archive row of ``m``: ``(chat_id, id, date, edit_date, deleted, data)``, dates as Unix
    seconds (what the ``messages`` table's columns hold, in its column order)."""
    edit = m.edit_date
    return (chat_id, m.id, int(m.date.timestamp()), int(edit.timestamp()) if edit is not None else None,
            1 if m.deleted else 0, dumps(m.to_dict()))


def load_message(data: bytes, deleted: int) -> Message:
    """A stored row back as a message; the ``deleted`` column is the truth (``mark_deleted``
    changes only the column, so the record may be stale on that one field)."""
    message = Message.from_dict(orjson.loads(data))
    message.deleted = bool(deleted)
    return message


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _scrub_str(value) if _has_surrogate(value) else value
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _scrub_str(text: str) -> str:
    return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
