"""``<chat>/messages.sqlite``: the chat as a queryable database with full-text search.

SQLite needs a path, not a file object. The writer asks the render context for the file
(``ctx.open("messages.sqlite", "wb")``), closes that handle and opens the database at the
handle's ``name``: the render engine hands out a temporary file beside the final name and moves
it into place only after ``close()``, so a crash never leaves a half-built database where a
finished one was. (If a context's handle has no usable ``name``, the database is built in a
temporary directory and copied into the handle at the end.)

The build runs with ``journal_mode=OFF`` and ``synchronous=OFF`` in one transaction: the
temporary file is thrown away on any failure, so a journal would only cost time. At the end
the indexes, the full-text index (``messages_fts``, external content, rebuilt in one pass)
and its sync triggers are created, and the file is ``VACUUM``-ed, so it is compact and — on the
same SQLite version — byte-identical across renders of the same archive. Opened later, the file
is in the default rollback-journal (``DELETE``) mode.

A channel's comments (``write_comments``, after the messages) go to the ``comments`` table: the
``messages`` columns plus ``post_id``, indexed on ``(post_id, id)``. The table is always there
(empty for a chat without comments), so queries need not check; the media, reactions and
entities tables hold the chat's own messages only (a comment's are in its ``json``).

Edited messages' earlier versions (``Message.history``) go to the ``versions`` table, one row
per version keyed ``(chat_id, message_id, seq)`` (``seq`` 0 the oldest), comments' too: their
``chat_id`` is the discussion group's, so ids never collide. The file is rebuilt on every
render, so a schema change needs no migration: ``user_version`` says which one a file has.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import orjson
from tgx.model import Entity, Message, Peer
from tgx.specs import RenderContext
from tgx.text import scrub_surrogates, utf16_index_map

from . import schema

FILE_NAME = "messages.sqlite"
_SIDE_FILES = ("-journal", "-wal", "-shm")


def _ts(value: Any) -> int | None:
    return int(value.timestamp()) if value is not None else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def entity_texts(text: str, entities: Sequence[Entity]) -> list[str]:
    """The text each entity covers, one per entity (empty where it covers nothing). Offsets count
    UTF-16 code units; one inside a surrogate pair snaps forward, so a part is whole characters."""
    if not entities:
        return []
    index = utf16_index_map(text)
    return [text[index(e.offset):index(e.offset + e.length)] for e in entities]


def message_row(m: Message, versions: list[tuple[Any, ...]] | None = None) -> tuple[Message, tuple[Any, ...]]:
    """A message's row of the messages table (and the message, repaired if it had to be); its
    earlier versions' rows of the versions table are added to ``versions`` when given."""
    d = m.to_dict()
    try:
        data = orjson.dumps(d).decode()
    except orjson.JSONEncodeError:  # orjson refuses lone surrogates: repair this message
        d = scrub_surrogates(d)
        m = Message.from_dict(d)
        data = _json(d)
    if versions is not None and m.history:
        for seq, (v, vd) in enumerate(zip(m.history, d["history"], strict=True)):
            versions.append((m.chat_id, m.id, seq, _ts(v.edit_date), vd["edit_date"], vd["text"],
                             _json(vd["entities"]), _json(vd["media"]) if vd["media"] is not None else None))
    fwd, md, act = m.forward, m.media, m.action
    return m, (
        m.id, m.chat_id, _ts(m.date), d["date"], _ts(m.edit_date), d["edit_date"], m.sender_id,
        m.text, m.reply_to_id, m.reply_to_peer_id,
        fwd.from_id if fwd else None, fwd.from_name if fwd else None,
        _ts(fwd.date) if fwd else None, fwd.channel_post if fwd else None,
        fwd.post_author if fwd else None,
        md.kind if md else None, md.path if md else None,
        act.type if act else None, _json(act.data) if act else None,
        m.views, m.forwards, m.replies, m.grouped_id, m.topic_id, m.post_author, m.via_bot_id,
        int(m.out), int(m.pinned), int(m.deleted), _ts(m.deleted_at), d.get("deleted_at"), data,
    )


def _roll_back(final: Path) -> None:
    """A patch killed mid-transaction left its journal beside the database: let SQLite roll it
    back now, before this render's file replaces the database — a journal left beside the new
    file would be "recovered" into it."""
    if not any(Path(str(final) + suffix).exists() for suffix in _SIDE_FILES):
        return
    try:
        conn = sqlite3.connect(final)
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        pass
    for suffix in _SIDE_FILES:  # what SQLite could not use (an unreadable file) must not outlive it
        Path(str(final) + suffix).unlink(missing_ok=True)


def _peer_ids(conn: sqlite3.Connection, table: str, ids_json: str) -> set[int]:
    """The peers the rows ``ids_json`` of ``table`` (messages or comments) name, as the users
    table counts them (:data:`schema.REFERENCED_PEERS`)."""
    rows = f"(SELECT * FROM {table} WHERE id IN (SELECT value FROM json_each(?)))"
    sql = (f"SELECT sender_id FROM {rows} UNION SELECT forward_from_id FROM {rows} "
           f"UNION SELECT via_bot_id FROM {rows}")
    args: tuple[str, ...] = (ids_json,) * 3
    if table == "messages":
        sql += (" UNION SELECT user_id FROM entities WHERE message_id IN (SELECT value FROM json_each(?))"
                f" UNION SELECT j.value FROM {rows} AS m, json_each(m.action_data, '$.members') AS j"
                " WHERE m.action_data IS NOT NULL AND j.type = 'integer'")
        args += (ids_json, ids_json)
    return {row[0] for row in conn.execute(sql, args) if row[0] is not None}


class SqliteWriter:
    def __init__(self, ctx: RenderContext) -> None:
        self.ctx = ctx
        self._conn: sqlite3.Connection | None = None
        self._path: Path | None = None
        self._copy_into: IO[bytes] | None = None  # only when the handle has no usable name
        self._tmpdir: str | None = None
        self._patching = False  # patch_open() instead of open(): changing the last render's file
        self._patched: list[int] = []
        self._patched_comments: list[int] = []
        self._unnamed: set[int] = set()  # peers the replaced rows named

    # -- FormatWriter -----------------------------------------------------------------------

    def open(self) -> None:
        handle = self.ctx.open(FILE_NAME, "wb")
        name = getattr(handle, "name", None)
        if isinstance(name, str) and os.path.isfile(name):
            handle.close()
            self._path = Path(name)
            for suffix in _SIDE_FILES:  # left by a killed render: must not be "recovered" into ours
                Path(name + suffix).unlink(missing_ok=True)
            _roll_back(self._path.with_name(FILE_NAME))
        else:
            self._copy_into = handle
            self._tmpdir = tempfile.mkdtemp(prefix="tgx-sqlite-")
            self._path = Path(self._tmpdir) / FILE_NAME
        conn = self._conn = sqlite3.connect(self._path, isolation_level=None)
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(f"PRAGMA user_version = {schema.SCHEMA_VERSION}")
        conn.executescript(schema.TABLES)
        chat = self.ctx.chat
        conn.execute("BEGIN")
        d = scrub_surrogates(chat.to_dict())
        conn.execute("INSERT INTO chats VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (chat.id, d["kind"], d["title"], d["username"], int(chat.forum), self.ctx.message_count,
                      _json(d)))

    # -- the patch refresh capability (tgx watch, docs/plugins.md) ----------------------------

    def patch_open(self) -> bool:
        """Instead of open(): the database as the last render left it (``ctx.open`` hands the
        existing file over in place), changed in one transaction — a crash rolls it back."""
        handle = self.ctx.open(FILE_NAME, "wb")
        name = getattr(handle, "name", None)
        handle.close()
        if not isinstance(name, str) or not os.path.isfile(name):
            return False
        self._path = Path(name)
        conn = self._conn = sqlite3.connect(self._path, isolation_level=None)
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != schema.SCHEMA_VERSION:
                return False
        except sqlite3.DatabaseError:
            return False
        conn.execute("BEGIN IMMEDIATE")
        self._patching = True
        return True

    def patch(self, messages: Sequence[Message]) -> None:
        """Replace the rows of these messages (new, edited or deleted ones: the archive keeps them
        all) with their current version; the full-text triggers follow."""
        self._replace("messages", [m.id for m in messages])
        self.write(messages)

    def patch_comments(self, comments: Sequence[tuple[int, Message]]) -> None:
        """As :meth:`patch`, for comments ``(post_id, comment)``."""
        self._replace("comments", [c.id for _post, c in comments])
        self.write_comments(comments)

    def _replace(self, table: str, ids: list[int]) -> None:
        """Delete the rows of ``ids`` and remember the peers they named (maybe no longer named)."""
        assert self._conn is not None
        if not ids:
            return
        c = self._conn
        chat_id = self.ctx.chat.id if table == "messages" else None
        ids_json = orjson.dumps(ids).decode()
        self._unnamed.update(_peer_ids(c, table, ids_json))
        if table == "messages":
            for child in ("media", "reactions", "entities"):
                c.execute(f"DELETE FROM {child} WHERE message_id IN (SELECT value FROM json_each(?))", (ids_json,))
            c.execute("DELETE FROM versions WHERE chat_id = ? AND message_id IN (SELECT value FROM json_each(?))",
                      (chat_id, ids_json))
        else:
            c.execute("DELETE FROM versions WHERE (chat_id, message_id) IN "
                      "(SELECT chat_id, id FROM comments WHERE id IN (SELECT value FROM json_each(?)))", (ids_json,))
        c.execute(f"DELETE FROM {table} WHERE id IN (SELECT value FROM json_each(?))", (ids_json,))
        (self._patched if table == "messages" else self._patched_comments).extend(ids)

    def _close_patch(self, conn: sqlite3.Connection) -> None:
        """The users the patched rows name, the peers they no longer name dropped (when no other
        row does), the message count: as a full render would have them."""
        named: set[int] = set()
        for table, ids in (("messages", self._patched), ("comments", self._patched_comments)):
            if ids:
                named.update(_peer_ids(conn, table, orjson.dumps(ids).decode()))
        conn.executemany(schema.INSERT_USER, [self._user_row(i, self.ctx.peer(i)) for i in sorted(named)])
        gone = self._unnamed - named
        if gone:
            still = {row[0] for row in conn.execute(schema.REFERENCED_PEERS)}
            conn.executemany("DELETE FROM users WHERE id = ?", [(i,) for i in sorted(gone - still)])
        held = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        if held != self.ctx.message_count:  # a message came in that nobody named: not this file's to guess
            raise RuntimeError(f"{FILE_NAME} would hold {held} messages, the archive has {self.ctx.message_count}")
        conn.execute("UPDATE chats SET message_count = ? WHERE id = ?", (self.ctx.message_count, self.ctx.chat.id))
        conn.execute("COMMIT")

    def write(self, messages: Sequence[Message]) -> None:
        assert self._conn is not None
        rows, media, reactions, entities = [], [], [], []
        versions: list[tuple[Any, ...]] = []
        for m in messages:
            m, row = message_row(m, versions)
            rows.append(row)
            md = m.media
            if md is not None:
                media.append((m.id, md.kind, md.id, md.file_name, md.mime_type, md.size, md.width,
                              md.height, md.duration, md.performer, md.title, md.emoji, int(md.spoiler),
                              md.path, md.thumbnail_path, _json(md.extra) if md.extra is not None else None))
            for pos, r in enumerate(m.reactions):
                reactions.append((m.id, pos, r.type, r.emoji, r.document_id, r.count, int(r.chosen)))
            if m.entities:
                for pos, (e, covered) in enumerate(zip(m.entities, entity_texts(m.text, m.entities),
                                                       strict=True)):
                    entities.append((m.id, pos, e.type, e.offset, e.length, covered, e.url, e.user_id,
                                     e.language, e.document_id))
        c = self._conn
        c.executemany(schema.INSERT_MESSAGE, rows)
        if media:
            c.executemany(schema.INSERT_MEDIA, media)
        if reactions:
            c.executemany(schema.INSERT_REACTION, reactions)
        if entities:
            c.executemany(schema.INSERT_ENTITY, entities)
        if versions:
            c.executemany(schema.INSERT_VERSION, versions)

    def write_comments(self, comments: Sequence[tuple[int, Message]]) -> None:
        """A channel's comments, ``(post_id, comment)`` in ascending order: the comments table."""
        assert self._conn is not None
        if comments:
            versions: list[tuple[Any, ...]] = []
            self._conn.executemany(schema.INSERT_COMMENT,
                                   [(*message_row(c, versions)[1], post_id) for post_id, c in comments])
            if versions:
                self._conn.executemany(schema.INSERT_VERSION, versions)

    def close(self) -> None:
        conn = self._conn
        if conn is None:
            return
        if self._patching:
            try:
                self._close_patch(conn)
            finally:
                conn.close()
                self._conn = None
            return
        try:
            self._fill_users(conn)
            conn.execute("COMMIT")
            conn.executescript(schema.INDEXES)
            conn.execute("INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')")
            conn.executescript(schema.TRIGGERS)
            conn.execute("PRAGMA journal_mode = DELETE")
            conn.execute("VACUUM")
        finally:
            conn.close()
            self._conn = None
        if self._copy_into is not None:
            with open(self._path, "rb") as src:  # type: ignore[arg-type]
                shutil.copyfileobj(src, self._copy_into)
            self._copy_into.close()
            self._cleanup_tmpdir()

    def abort(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
        if self._path is not None and self._copy_into is None and not self._patching:
            for suffix in _SIDE_FILES:
                Path(str(self._path) + suffix).unlink(missing_ok=True)
        if self._copy_into is not None:
            self._copy_into.close()
        self._cleanup_tmpdir()

    # -- helpers ----------------------------------------------------------------------------

    def _cleanup_tmpdir(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def _fill_users(self, conn: sqlite3.Connection) -> None:
        """One row per referenced peer, streamed from the messages (memory stays flat)."""
        cursor = conn.execute(schema.REFERENCED_PEERS)
        while True:
            ids = [row[0] for row in cursor.fetchmany(1000)]
            if not ids:
                break
            rows = [self._user_row(peer_id, self.ctx.peer(peer_id)) for peer_id in ids]
            conn.executemany(schema.INSERT_USER, rows)

    @staticmethod
    def _user_row(peer_id: int, peer: Peer | None) -> tuple[Any, ...]:
        if peer is None:
            return (peer_id, None, None, None, None, None, None, None)
        d = scrub_surrogates(peer.to_dict())
        return (peer_id, d["kind"], d["title"], d["username"], d["first_name"], d["last_name"],
                int(peer.deleted), _json(d))
