"""How a message is stored: its JSON record and its archive row, in one place.

A message's record is ``orjson.dumps(Message.to_dict())`` — byte for byte the ``jsonl`` line
without its newline — less the two keys the archive keeps beside the row (``deleted_at`` in its
column, ``history`` in the versions table); the page decoder builds rows in worker processes
(:mod:`tgx.fetch.pages`), so the serialization must not differ between the two: both call this
module. The archive stores the record compressed (:mod:`tgx.archive.codec`).

Versions: :func:`content_changed` says whether a re-fetched record says something else than the
stored one (text, entities, media — not the counters that change by themselves), and
:func:`version_record` is what is kept of the stored one when it does; :func:`exact_record` puts
the row's ``deleted``, ``deleted_at`` and ``history`` back into a record, as ``to_dict`` would.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from tgx.model import Message, Version

MessageRow = tuple[int, int, int, int | None, int, bytes]  # chat_id, id, date, edit_date, deleted, data

__all__ = ["MessageRow", "content_changed", "dumps", "exact_record", "load_message", "message_row",
           "text_changed", "version_record"]

_TEXT_KEY = b',"text":'
_REACTIONS_KEY = b',"reactions":'


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
    d = m.to_dict()
    if m.history:
        del d["history"]  # the archive's versions table holds them
    if m.deleted_at is not None:
        del d["deleted_at"]  # the row's column holds it
    return (chat_id, m.id, int(m.date.timestamp()), int(edit.timestamp()) if edit is not None else None,
            1 if m.deleted else 0, dumps(d))


def load_message(data: bytes, deleted: int) -> Message:
    """A stored row back as a message; the ``deleted`` column is the truth (``mark_deleted``
    changes only the column, so the record may be stale on that one field)."""
    message = Message.from_dict(orjson.loads(data))
    message.deleted = bool(deleted)
    return message


def _content(record: bytes) -> bytes:
    """The part of a record from ``text`` up to ``reactions`` (text, entities, replies, forward,
    media, action): key order is fixed by ``to_dict``, no string holds an unescaped quote, and no
    key after ``reactions`` is an object that could hold another ``"reactions"`` key."""
    lo = record.find(_TEXT_KEY)
    hi = record.rfind(_REACTIONS_KEY)
    return record[lo:hi] if 0 <= lo < hi else record


def _stable_media(media: Any) -> Any:
    """Media less what changes by itself: where tgx put the file, a poll's votes."""
    if not isinstance(media, dict):
        return media
    media = {k: v for k, v in media.items() if k not in ("path", "thumbnail_path")}
    extra = media.get("extra")
    if media.get("kind") == "poll" and isinstance(extra, dict):
        extra = {k: v for k, v in extra.items() if k != "total_voters"}
        answers = extra.get("answers")
        if isinstance(answers, list):
            extra["answers"] = [{k: v for k, v in a.items() if k not in ("voters", "chosen")}
                                if isinstance(a, dict) else a for a in answers]
        media["extra"] = extra
    return media


def content_changed(old: bytes, new: bytes) -> bool:
    """Whether record ``new`` changes ``old``'s text, entities or media. Equal bytes from ``text``
    to ``reactions`` (a re-fetch of an unchanged message: the common case) answer without parsing."""
    if _content(old) == _content(new):
        return False
    a, b = orjson.loads(old), orjson.loads(new)
    return ((a.get("text") or "", a.get("entities") or [], _stable_media(a.get("media")))
            != (b.get("text") or "", b.get("entities") or [], _stable_media(b.get("media"))))


def text_changed(old: bytes, new: bytes) -> bool:
    """Whether record ``new`` says another text than ``old``: the comparison of an imported record
    with Telegram's own. An export carries neither media details nor overlapping entities (its
    text_entities are flat), so those differ without an edit; a real edit also moves ``edit_date``,
    which the caller compares."""
    if _content(old) == _content(new):
        return False
    return (orjson.loads(old).get("text") or "") != (orjson.loads(new).get("text") or "")


def version_record(record: bytes) -> bytes:
    """What is kept of a stored record when a newer version replaces it: ``Version.to_dict()``."""
    d = orjson.loads(record)
    return dumps(Version.from_dict(d).to_dict())


def exact_record(record: bytes, deleted: int, deleted_at: int | None, history: Sequence[bytes] | None) -> bytes:
    """``record`` with the row's truth put back, as ``Message.to_dict()`` writes it: ``deleted``
    from the column, ``deleted_at`` (Unix seconds) where deleted, ``history`` (version records,
    oldest first) where there is one."""
    d = orjson.loads(record)
    d["deleted"] = bool(deleted)
    d.pop("deleted_at", None)
    d.pop("history", None)
    if deleted and deleted_at is not None:
        d["deleted_at"] = datetime.fromtimestamp(deleted_at, UTC).isoformat()
    if history:
        d["history"] = [orjson.loads(v) for v in history]
    return dumps(d)


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
