"""Every version of a message the archive has seen (schema 5): the ``versions`` table.

When a write brings a row for a message already archived whose ``edit_date`` differs, or whose
content does (:func:`tgx.archive.records.content_changed`: text, entities, media — not views,
reactions, votes), the stored version is kept before the row is replaced, inside the write's own
transaction: a kill leaves both or neither. The cost lands only where a message is already
archived: a first fetch finds nothing in its one lookup per batch (:func:`stored_rows`) and keeps
nothing. A version already kept (same ``edit_date``, same content) is never kept twice, so a resumed
or repeated fetch of the same batch adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from sqlite3 import Connection

import orjson

from tgx.archive.codec import CodecError, RecordCodec
from tgx.archive.records import MessageRow, content_changed, version_record

__all__ = ["histories", "keep_versions", "stored_rows"]

_INSERT = "INSERT INTO versions (chat_id, id, seq, edit_date, data) VALUES (?, ?, ?, ?, ?)"


def stored_rows(c: Connection, chat_id: int, ids: Sequence[int]) -> dict[int, tuple[int | None, bytes]]:
    """``id → (edit_date, data)`` of the rows of ``ids`` already archived, in one query: a range
    of the primary key when the ids are dense (a history page), else a seek per id."""
    lo, hi = min(ids), max(ids)
    if hi - lo < 4 * len(ids) + 64:
        found = c.execute("SELECT id, edit_date, data FROM messages WHERE chat_id = ? AND id BETWEEN ? AND ?",
                          (chat_id, lo, hi)).fetchall()
    else:
        found = c.execute("SELECT id, edit_date, data FROM messages WHERE chat_id = ? AND id IN "
                          "(SELECT value FROM json_each(?))", (chat_id, orjson.dumps(list(ids)))).fetchall()
    return {i: (edit, data) for i, edit, data in found}


def keep_versions(c: Connection, codec: RecordCodec, chat_id: int, rows: Sequence[MessageRow],
                  stored: dict[int, tuple[int | None, bytes]]) -> int:
    """(inside the write's transaction) Keep the stored version of each row of ``rows`` that
    changes it. Returns the versions added."""
    candidates: list[tuple[int, int | None, bytes]] = []
    for row in rows:
        old = stored.get(row[1])
        if old is None:
            continue
        old_edit, old_data = old
        try:
            record = codec.expand(old_data)
            if old_edit == row[3] and not content_changed(record, row[5]):
                continue
            candidates.append((row[1], old_edit, version_record(record)))
        except (CodecError, ValueError, KeyError, TypeError):
            continue  # an unreadable stored row: nothing worth keeping, the new row replaces it
    if not candidates:
        return 0
    known: dict[int, tuple[int, set[bytes]]] = {}
    ids = orjson.dumps(sorted({i for i, _e, _r in candidates}))
    for msg_id, seq, data in c.execute("SELECT id, seq, data FROM versions WHERE chat_id = ? AND id IN "
                                       "(SELECT value FROM json_each(?))", (chat_id, ids)):
        top, seen = known.setdefault(msg_id, (0, set()))
        try:
            seen.add(codec.expand(data))
        except CodecError:
            pass
        known[msg_id] = (max(top, seq), seen)
    added = []
    for msg_id, edit, record in candidates:
        top, seen = known.get(msg_id, (0, set()))
        if record in seen:
            continue
        seen.add(record)
        known[msg_id] = (top + 1, seen)
        added.append((chat_id, msg_id, top + 1, edit, codec.compress(record)))
    c.executemany(_INSERT, added)
    return len(added)


def histories(c: Connection, codec: RecordCodec, chat_id: int, lo: int, hi: int) -> dict[int, list[bytes]]:
    """The version records of the chat's messages ``lo..hi``, oldest first, by id, in one range
    query (the table holds edited messages only: for most batches it finds nothing). A version
    that does not expand is left out."""
    out: dict[int, list[bytes]] = {}
    for msg_id, _seq, data in c.execute("SELECT id, seq, data FROM versions WHERE chat_id = ? AND id BETWEEN ? AND ? "
                                        "ORDER BY id, seq", (chat_id, lo, hi)):
        try:
            out.setdefault(msg_id, []).append(codec.expand(data))
        except CodecError:
            continue
    return out
