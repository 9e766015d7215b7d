"""Every version of a message the archive has seen (schema 5): the ``versions`` table.

When a write brings a row for a message already archived whose ``edit_date`` differs, or whose
content does (:func:`tgx.archive.records.content_changed`: text, entities, media — not views,
reactions, votes), the stored version is kept before the row is replaced, inside the write's own
transaction: a kill leaves both or neither. The cost lands only where a message is already
archived: a first fetch finds nothing in its one lookup per batch (:func:`stored_rows`) and keeps
nothing. A version already kept (same ``edit_date``, same content) is never kept twice, so a resumed
or repeated fetch of the same batch adds nothing.

Imported rows (schema 6, ``tgx import``): a Telegram Desktop export carries less than Telegram
(no file ids, no DC, other media details), so when Telegram's own row replaces an imported one
only a change of text or edit date is a new version (:func:`~tgx.archive.records.text_changed`);
and an import that is older than what the archive holds is kept as a version in its place in
time (:func:`insert_version`), the row left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from sqlite3 import Connection

import orjson

from tgx.archive.codec import CodecError, RecordCodec
from tgx.archive.records import MessageRow, content_changed, text_changed, version_record

__all__ = ["Stored", "histories", "insert_version", "keep_versions", "stored_rows"]

Stored = tuple[int | None, bytes, int | None, int]  # edit_date, data (packed), imported, deleted

_INSERT = "INSERT INTO versions (chat_id, id, seq, edit_date, data) VALUES (?, ?, ?, ?, ?)"


def stored_rows(c: Connection, chat_id: int, ids: Sequence[int]) -> dict[int, Stored]:
    """``id → (edit_date, data, imported, deleted)`` of the rows of ``ids`` already archived, in
    one query: a range of the primary key when the ids are dense (a history page), else a seek per id."""
    lo, hi = min(ids), max(ids)
    cols = "id, edit_date, data, imported, deleted"
    if hi - lo < 4 * len(ids) + 64:
        found = c.execute(f"SELECT {cols} FROM messages WHERE chat_id = ? AND id BETWEEN ? AND ?",
                          (chat_id, lo, hi)).fetchall()
    else:
        found = c.execute(f"SELECT {cols} FROM messages WHERE chat_id = ? AND id IN "
                          "(SELECT value FROM json_each(?))", (chat_id, orjson.dumps(list(ids)))).fetchall()
    return {i: (edit, data, imported, deleted) for i, edit, data, imported, deleted in found}


def keep_versions(c: Connection, codec: RecordCodec, chat_id: int, rows: Sequence[MessageRow],
                  stored: dict[int, Stored], *, importing: bool = False) -> int:
    """(inside the write's transaction) Keep the stored version of each row of ``rows`` that
    changes it (``importing``: the rows come from an export; otherwise from Telegram, and an
    imported stored row is compared by its text only, see the module doc). Returns the versions added."""
    candidates: list[tuple[int, int | None, bytes]] = []
    for row in rows:
        old = stored.get(row[1])
        if old is None:
            continue
        old_edit, old_data, old_imported = old[0], old[1], old[2]
        try:
            record = codec.expand(old_data)
            changed = text_changed if old_imported is not None and not importing else content_changed
            if old_edit == row[3] and not changed(record, row[5]):
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


def insert_version(c: Connection, codec: RecordCodec, chat_id: int, msg_id: int, edit_date: int | None,
                   record: bytes) -> bool:
    """(inside the write's transaction) Keep ``record`` (a full message record) as a version of
    ``msg_id`` in its place in time — by ``edit_date``, the original (None) first — renumbering
    the versions after it; nothing when that version is already kept. Returns whether it was added."""
    version = version_record(record)
    kept: list[tuple[int | None, bytes]] = []
    for _seq, edit, data in c.execute("SELECT seq, edit_date, data FROM versions WHERE chat_id = ? AND id = ? "
                                      "ORDER BY seq", (chat_id, msg_id)):
        try:
            if codec.expand(data) == version:
                return False
        except CodecError:
            pass
        kept.append((edit, data))
    at = next((i for i, (edit, _d) in enumerate(kept)
               if edit_date is None or (edit is not None and edit > edit_date)), len(kept))
    kept.insert(at, (edit_date, codec.compress(version)))
    c.execute("DELETE FROM versions WHERE chat_id = ? AND id = ?", (chat_id, msg_id))
    c.executemany(_INSERT, [(chat_id, msg_id, seq, edit, data) for seq, (edit, data) in enumerate(kept, 1)])
    return True


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
