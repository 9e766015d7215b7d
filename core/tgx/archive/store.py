"""The SQLite archive in ``OUT/.tgx/archive.sqlite``: the one source every format renders from.

Why SQLite: resume becomes "upsert a batch and its checkpoint in one transaction" — whatever
instant the process dies, a batch is either fully in (rows *and* checkpoint) or not at all, so
nothing is lost and nothing duplicated. Windows fetched in parallel may land in any order; an
edit re-synced later replaces its row, the version it replaces kept; every format can be
re-rendered offline. Nothing is ever removed by a fetch: rows are replaced (versioned) or flagged.

Layout (schema version :data:`SCHEMA_VERSION`):

* ``messages(chat_id, id, date, edit_date, deleted, data, deleted_at)`` — ``data`` is the record
  (:mod:`tgx.archive.records`: ``orjson`` of :meth:`tgx.model.Message.to_dict` without
  ``deleted_at``/``history``, the serialization the ``jsonl`` format writes), packed by
  :mod:`tgx.archive.codec`; ``PRIMARY KEY (chat_id, id) WITHOUT ROWID`` so rows are clustered in
  id order per chat and both point lookups and keyset streaming walk the primary b-tree.
* ``chats`` (exported chats: Peer json + free metadata), ``peers`` (senders, mentioned users,
  forward sources), ``checkpoints`` (opaque JSON owned by the fetcher), ``media`` (media id →
  downloaded file), ``meta`` (key/value), ``schema_version``.
* ``row_counts(chat_id, block, rows)`` (schema 2) — how many message rows each block of
  :data:`BLOCK_IDS` ids held when last counted (:meth:`Archive.settle_counts`, after a fetch).
  Rows never leave the archive in normal use, so a chat whose rows now count fewer than that
  lost rows (a partial ``sqlite3 .recover``, a hand edit): :meth:`Archive.missing_rows` names
  the blocks, and the fetcher fetches them again instead of trusting its checkpoint. The check
  costs nothing extra when the counts agree (the export counts the chat's rows anyway).
* ``topics(chat_id, id, data)`` (schema 3) — every forum topic seen, its latest state
  (:class:`tgx.model.Topic` json); refreshed by each export of the forum, never deleted.
* Threads (schema 4). ``threaded(chat_id, kind, channel_id, readable)`` names the chats whose
  messages belong to threads: forums (``kind='forum'``: a message's thread is its topic, General
  is 1) and channels' discussion groups (``kind='discussion'``: a comment's thread is the
  auto-forwarded copy of its post). For those chats, every write of rows also writes, in the same
  transaction, ``thread_members(chat_id, id, top_id)`` (the thread a message belongs to) and
  ``thread_roots(chat_id, id, channel_id, post_id)`` (a discussion group's copy of a channel
  post) — derived from the rows themselves (:func:`thread_links`), so resume, refetches and
  re-syncs keep them right with no bookkeeping of their own. A chat archived before it was known
  to be threaded is linked from its rows when it becomes so (:meth:`Archive.set_threaded`).
  Comments of a channel = members of its posts' roots, streamed in ``(post_id, id)`` order by
  two indexes. ``thread_checkpoints(chat_id, thread, data)``: the covered ranges of one thread
  fetched on its own (a post's comments through ``GetReplies``, a forum topic), like
  ``checkpoints`` for a whole history.
* A living archive (schema 5). ``versions(chat_id, id, seq, edit_date, data)``: every earlier
  version of a message tgx saw (``Version.to_dict()`` records, oldest first), kept by the write
  that replaces it when its ``edit_date`` or content differs (:mod:`tgx.archive.versions`: one
  lookup per batch, nothing more for new rows, never the same version twice).
  ``messages.deleted_at``: when tgx learned of a deletion (:meth:`Archive.mark_deleted`; the
  first time wins; NULL for rows flagged before schema 5). Every reader of messages fills
  ``Message.history`` and ``deleted_at`` with one range query of versions per batch;
  :meth:`Archive.iter_exact_records` gives the exact ``to_dict`` records, the stored ones where
  nothing needs adding. ``dictionaries(id, data)``: the zstd dictionaries rows are packed with
  (trained on the archive's first :data:`tgx.archive.codec.TRAIN_ROWS` records; ``meta``
  ``record_dictionary`` names the current one); a frame names its own, plain rows (first byte
  ``{``) read as they are, :meth:`Archive.compact` packs them.

Migration: an older archive is migrated on open, in one transaction (missing tables created,
then :data:`_STEPS`): a kill leaves it as it was, and the next open migrates it again.

Durability: WAL with ``synchronous=NORMAL`` — a committed batch survives a killed process
(an OS crash may lose the last few commits, never consistency).

Threading: one connection per :class:`Archive`. Use an archive from one thread at a time (for
asyncio code, a single-worker executor); a lock serializes calls as a safety net, and
``check_same_thread`` is off so that executor threads may take turns.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from tgx import console
from tgx.archive import codec as _codec
from tgx.archive.codec import CodecError, RecordCodec, is_plain
from tgx.archive.records import MessageRow, content_changed, exact_record, load_message, message_row, text_changed
from tgx.archive.records import dumps as _dumps
from tgx.archive.threads import DISCUSSION, KINDS, Root, thread_links
from tgx.archive.versions import histories, insert_version, keep_versions, stored_rows
from tgx.console import Warn
from tgx.errors import OutputError
from tgx.model import Message, Peer, Topic, Version

# 2: row_counts (schema 1 archives get the table on open; counts are filled per chat). 3: topics.
# 4: threads (threaded, thread_members, thread_roots, thread_checkpoints).
# 5: versions, messages.deleted_at, dictionaries (compressed records).
# 6: messages.imported (rows whose current version came from a Telegram Desktop export).
# Older archives are migrated on open, in one transaction (see _STEPS).
SCHEMA_VERSION = 6
COMPACT_PENDING = "compact_pending"  # meta: a migrated archive whose older rows are still plain
BLOCK_SHIFT = 12
BLOCK_IDS = 1 << BLOCK_SHIFT  # message ids per row_counts block
STATE_DIR = ".tgx"
ARCHIVE_NAME = "archive.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chats (
    id INTEGER PRIMARY KEY,          -- marked id
    data BLOB NOT NULL,              -- orjson of Peer.to_dict()
    meta BLOB                        -- orjson of free metadata (what the exporter wants to keep)
);
CREATE TABLE IF NOT EXISTS peers (
    id INTEGER PRIMARY KEY,          -- marked id
    data BLOB NOT NULL               -- orjson of Peer.to_dict()
);
CREATE TABLE IF NOT EXISTS messages (
    chat_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    date INTEGER NOT NULL,           -- unix seconds, UTC
    edit_date INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0,
    data BLOB NOT NULL,              -- the record (tgx.archive.records), packed by tgx.archive.codec
    deleted_at INTEGER,              -- unix seconds: when tgx learned of the deletion (deleted rows)
    imported INTEGER,                -- unix seconds: the export its current version came from (NULL: Telegram)
    PRIMARY KEY (chat_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS versions (
    chat_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    seq INTEGER NOT NULL,            -- 1, 2, ... in the order tgx saw them: oldest first
    edit_date INTEGER,               -- the version's own edit_date (NULL: the original)
    data BLOB NOT NULL,              -- orjson of Version.to_dict(), packed like messages.data
    PRIMARY KEY (chat_id, id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dictionaries (
    id INTEGER PRIMARY KEY,          -- the zstd dictionary id that frames packed with it name
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    chat_id INTEGER PRIMARY KEY,
    data BLOB NOT NULL               -- opaque JSON owned by the fetcher
);
CREATE TABLE IF NOT EXISTS row_counts (
    chat_id INTEGER NOT NULL,
    block INTEGER NOT NULL,          -- message id >> BLOCK_SHIFT
    rows INTEGER NOT NULL,           -- message rows of the block when it was last written
    PRIMARY KEY (chat_id, block)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS topics (
    chat_id INTEGER NOT NULL,
    id INTEGER NOT NULL,             -- the topic's id: its topic_created message, 1 for General
    data BLOB NOT NULL,              -- orjson of Topic.to_dict()
    PRIMARY KEY (chat_id, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS threaded (
    chat_id INTEGER PRIMARY KEY,     -- a forum, or a channel's discussion group
    kind TEXT NOT NULL,              -- forum | discussion
    channel_id INTEGER,              -- discussion: the channel whose posts it comments
    readable INTEGER NOT NULL DEFAULT 1  -- discussion: 0 when only GetReplies can read it
);
CREATE TABLE IF NOT EXISTS thread_members (
    chat_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    top_id INTEGER NOT NULL,         -- its thread: the topic (forums), the post's root (discussions)
    PRIMARY KEY (chat_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS thread_members_by_top ON thread_members (chat_id, top_id, id);
CREATE TABLE IF NOT EXISTS thread_roots (
    chat_id INTEGER NOT NULL,        -- the discussion group
    id INTEGER NOT NULL,             -- its copy of the post (the thread's root)
    channel_id INTEGER NOT NULL,
    post_id INTEGER NOT NULL,
    PRIMARY KEY (chat_id, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS thread_roots_by_post ON thread_roots (channel_id, post_id);
CREATE TABLE IF NOT EXISTS thread_checkpoints (
    chat_id INTEGER NOT NULL,        -- the chat asked: the channel (comments), the forum (topics)
    thread INTEGER NOT NULL,         -- the post / the topic
    data BLOB NOT NULL,              -- like checkpoints.data
    PRIMARY KEY (chat_id, thread)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS media (
    media_id INTEGER PRIMARY KEY,    -- photo/document id: the dedupe key
    path TEXT,                       -- POSIX path relative to OUT/
    size INTEGER,
    sha256 TEXT,
    status TEXT NOT NULL             -- e.g. done | failed | skipped
);
CREATE INDEX IF NOT EXISTS media_by_sha256 ON media (sha256);
"""

# A row replaced in place; a deleted row written again keeps when tgx first learned it.
# ``imported``: NULL for a row from Telegram (the mark of an imported row goes with its version).
_UPSERT_MESSAGE = ("INSERT INTO messages (chat_id, id, date, edit_date, deleted, deleted_at, data, imported) "
                   "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (chat_id, id) DO UPDATE SET date = excluded.date, "
                   "edit_date = excluded.edit_date, deleted = excluded.deleted, deleted_at = CASE WHEN "
                   "excluded.deleted THEN COALESCE(messages.deleted_at, excluded.deleted_at) END, "
                   "data = excluded.data, imported = excluded.imported")
_UPSERT_PEER = "INSERT OR REPLACE INTO peers (id, data) VALUES (?, ?)"
_UPSERT_CHECKPOINT = "INSERT OR REPLACE INTO checkpoints (chat_id, data) VALUES (?, ?)"
_COUNT_BLOCK = "SELECT COUNT(*) FROM messages WHERE chat_id = ? AND id >= ? AND id < ?"
_SET_BLOCK = "INSERT OR REPLACE INTO row_counts (chat_id, block, rows) VALUES (?, ?, ?)"
_SET_MEMBER = "INSERT OR REPLACE INTO thread_members (chat_id, id, top_id) VALUES (?, ?, ?)"
_SET_ROOT = "INSERT OR REPLACE INTO thread_roots (chat_id, id, channel_id, post_id) VALUES (?, ?, ?, ?)"
_UPSERT_THREAD_CHECKPOINT = "INSERT OR REPLACE INTO thread_checkpoints (chat_id, thread, data) VALUES (?, ?, ?)"
# A channel's comments: its posts' roots (by post) joined with their members (by id), then the rows.
_COMMENT_ROWS = ("FROM thread_roots r JOIN thread_members t ON t.chat_id = r.chat_id AND t.top_id = r.id "
                 "JOIN messages m ON m.chat_id = t.chat_id AND m.id = t.id ")
_COMMENTS = "SELECT r.post_id, m.id, m.data, m.deleted, m.deleted_at, m.chat_id " + _COMMENT_ROWS
Row = tuple[int, bytes, int]  # (id, record, deleted): what the readers of raw rows yield
_DICTIONARY_KEY = "record_dictionary"  # meta: the dictionary new rows are packed with

_SQLITE_MAGIC = b"SQLite format 3\x00"


def _add_deleted_at(c: sqlite3.Connection) -> None:
    """Schema 5: ``messages.deleted_at`` (the new tables come from ``_SCHEMA``). An ALTER that adds
    a nullable column rewrites no row, so the migration is instant at any size; rows flagged
    deleted before it keep no time (tgx did not record when it learned of them)."""
    if "deleted_at" not in {r[1] for r in c.execute("PRAGMA table_info(messages)")}:
        c.execute("ALTER TABLE messages ADD COLUMN deleted_at INTEGER")


def _add_imported(c: sqlite3.Connection) -> None:
    """Schema 6: ``messages.imported`` — the Unix time of the Telegram Desktop export a row's
    current version was imported from (``tgx import``), NULL for rows from Telegram (every row of
    an older archive). Nullable, so the ALTER rewrites no row."""
    if "imported" not in {r[1] for r in c.execute("PRAGMA table_info(messages)")}:
        c.execute("ALTER TABLE messages ADD COLUMN imported INTEGER")


# Steps beyond creating what is missing, run for an archive older than their version, inside
# the migration's one transaction: a kill at any point leaves the archive as it was, and the
# next open migrates it again. Rows stored plain stay so (read as they are; Archive.compact).
_STEPS: list[tuple[int, Callable[[sqlite3.Connection], None]]] = [(5, _add_deleted_at), (6, _add_imported)]


@dataclass(frozen=True, slots=True)
class RecordBatch:
    """One batch of :meth:`Archive.iter_exact_records`, by column (the jsonl fast path takes
    ``records`` as they are; ``rows`` builds the tuples only for who decodes them)."""

    ids: Sequence[int]
    records: list[bytes]  # exact: what Message.to_dict() writes
    deleted: Sequence[int]
    unreadable: Sequence[tuple[int, Exception]] = ()  # left out: warned about and quarantined

    @property
    def rows(self) -> list[Row]:
        """``(id, record, deleted)`` tuples, for :meth:`Archive.decode`."""
        return list(zip(self.ids, self.records, self.deleted, strict=True))


@dataclass(slots=True)
class ImportCounts:
    """What :meth:`Archive.import_rows` did with a batch."""

    new: int = 0  # not archived before
    replaced: int = 0  # archived, and this version is newer
    unchanged: int = 0  # archived exactly so (a re-import): nothing written
    older: int = 0  # archived in a newer version: the row is left as it is
    versions: int = 0  # of the older ones, kept as versions

    def add(self, other: ImportCounts) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True, slots=True)
class MediaRecord:
    media_id: int
    path: str | None
    size: int | None
    sha256: str | None
    status: str


def _corrupt(path: Path, reason: str) -> OutputError:
    return OutputError(
        f"archive {path} is corrupt ({reason}): move it away to start over, "
        f"or try `sqlite3 {path} .recover | sqlite3 recovered.sqlite`",
        hint="the rendered files next to it are intact; only the archive needs repair",
    )


def _truncation(path: Path) -> str | None:
    """Cheap O(1) sanity check of the file header: not SQLite, or shorter than it says it is.

    The length check is skipped while a non-empty WAL exists: a process killed in the middle of
    a checkpoint may leave page 1 (with the new size) written before the file has grown, and
    SQLite completes that from the WAL on the next open.
    """
    try:
        size = path.stat().st_size
        if size == 0:
            return None  # brand new (we created it)
        wal = path.with_name(path.name + "-wal")
        wal_size = wal.stat().st_size if wal.exists() else 0
        with path.open("rb") as f:
            header = f.read(100)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        return "not an SQLite database"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return "bad page size in header"
    pages = int.from_bytes(header[28:32], "big")
    change_counter = header[24:28]
    valid_for = header[92:96]
    if pages and change_counter == valid_for and size < pages * page_size and not wal_size:
        return f"truncated: {size} bytes, header says {pages * page_size}"
    return None



def decode_rows(rows: Sequence[tuple[int, bytes, int]]) -> tuple[list[Message], list[tuple[int, Exception]]]:
    """Each ``(id, record, deleted)`` row (as :meth:`Archive.iter_records` yields them: a row that
    does not expand comes as its stored bytes, which do not decode) decoded on its own: the
    messages, and the ids that do not decode with what they raised (nothing is changed in the
    archive)."""
    good: list[Message] = []
    bad: list[tuple[int, Exception]] = []
    for msg_id, data, deleted in rows:
        try:
            good.append(load_message(data, deleted))
        except Exception as exc:  # noqa: BLE001 - whatever a damaged row raises
            bad.append((msg_id, exc))
    return good, bad

class Archive:
    """One output directory's archive. Create with :meth:`Archive.open`; close with :meth:`close`
    (or use it as a context manager)."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self._conn = conn
        self.path = path
        self._lock = threading.RLock()
        self._held = False  # inside :meth:`held`: every write joins its one transaction
        self.warn: Warn = console.warn  # unreadable rows (see decode)
        self._unsettled: dict[int, set[int]] = {}  # chat → blocks written since their rows were counted
        self._threaded: dict[int, tuple[str, int | None]] = {}  # chat → (kind, channel id): see thread_links
        self._codec = RecordCodec(self._dictionary)
        self._samples: list[tuple[int, int, bytes]] | None = None  # records to train the dictionary on
        self._train_at = _codec.TRAIN_ROWS

    # -- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, out_dir: Path | str) -> Archive:
        """Open (or create) ``OUT/.tgx/archive.sqlite``: ``.tgx`` is made 0700 and the file 0600.

        Raises :class:`~tgx.errors.OutputError` when the directory cannot be created, the file is
        not an SQLite database, is truncated, belongs to something else, or was written by a
        newer tgx.
        """
        out_dir = Path(out_dir)
        state = out_dir / STATE_DIR
        path = state / ARCHIVE_NAME
        try:
            state.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(state, 0o700)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            os.close(fd)
            os.chmod(path, 0o600)
        except OSError as exc:
            if path.exists() and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise OutputError(f"the archive {path} is read-only: tgx needs write access to it "
                                  f"and to {state} (SQLite keeps its journal beside it)",
                                  hint=f"make it writable (chmod -R u+w {state}) or copy OUT somewhere "
                                       "writable") from None
            raise OutputError(f"cannot create the archive {path}: {exc.strerror or exc}") from None
        problem = _truncation(path)
        if problem is not None:
            raise _corrupt(path, problem)
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise _corrupt(path, str(exc)) from None
        archive = cls(conn, path)
        try:
            archive._setup()
            archive._load_state()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise OutputError(f"archive {path} is in use by another tgx process") from None
            raise _corrupt(path, str(exc)) from None
        except BaseException:
            conn.close()
            raise
        return archive

    def _load_state(self) -> None:
        """What this object keeps of the archive in memory, read from it: threaded chats, the
        current dictionary (at open, and after :meth:`held` rolled its writes back)."""
        conn = self._conn
        self._threaded = {chat: (kind, channel) for chat, kind, channel in conn.execute(
            "SELECT chat_id, kind, channel_id FROM threaded")}
        self._codec = RecordCodec(self._dictionary)
        self._samples, self._train_at = None, _codec.TRAIN_ROWS
        current = conn.execute("SELECT value FROM meta WHERE key = ?", (_DICTIONARY_KEY,)).fetchone()
        data = self._dictionary(orjson.loads(current[0])) if current else None
        if current and data is not None:
            self._codec.use(orjson.loads(current[0]), data)

    def _setup(self) -> None:
        c = self._conn
        c.execute("PRAGMA busy_timeout = 5000")
        mode = c.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"cannot switch to WAL (journal_mode={mode})")
        c.execute("PRAGMA synchronous = NORMAL")
        c.execute("PRAGMA temp_store = MEMORY")
        # 8 MiB of page cache: writes land near the top of a few ranges and reads stream, so more
        # bought nothing measurable (12 µs/row either way) and cost 25 MB of RSS.
        c.execute("PRAGMA cache_size = -8192")
        tables = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "schema_version" not in tables:
            raise OutputError(f"{self.path} is an SQLite database but not a tgx archive: move it away")
        version = 0
        if "schema_version" in tables:
            row = c.execute("SELECT version FROM schema_version").fetchone()
            version = row[0] if row else 0
            if version > SCHEMA_VERSION:
                raise OutputError(
                    f"archive {self.path} has schema version {version}, newer than this tgx "
                    f"understands ({SCHEMA_VERSION}): upgrade tgx")
            if version == SCHEMA_VERSION:
                return
        c.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    c.execute(statement)
            for target, step in _STEPS:
                if version < target:
                    step(c)
            if 0 < version < 5:  # its rows are plain: compress them once a run can afford it (compact)
                c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (COMPACT_PENDING, b"true"))
            c.execute("DELETE FROM schema_version")
            c.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            try:
                self.settle_counts()
            except OutputError:
                pass  # a full disk now: the counts stay as they were (lower, never a false alarm)
            try:
                self._conn.close()
            except sqlite3.Error:
                pass

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- errors ----------------------------------------------------------------------------------
    def _error(self, exc: sqlite3.Error) -> OutputError:
        text = str(exc)
        if "malformed" in text or "not a database" in text or "corrupt" in text:
            return _corrupt(self.path, text)
        if "full" in text:
            return OutputError(f"cannot write the archive {self.path}: disk full")
        if "locked" in text or "busy" in text:
            return OutputError(f"archive {self.path} is in use by another tgx process")
        return OutputError(f"archive {self.path}: {text}")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE … COMMIT`` under the lock: rolled back on any exception, an
        SQLite error raised as the archive's one-line :class:`OutputError`. Inside :meth:`held`,
        part of its transaction instead."""
        with self._lock:
            c = self._conn
            if self._held:  # a savepoint: each write still all or nothing within the held one
                try:
                    c.execute("SAVEPOINT tgx_write")
                    try:
                        yield c
                        c.execute("RELEASE tgx_write")
                    except BaseException:
                        c.execute("ROLLBACK TO tgx_write")
                        c.execute("RELEASE tgx_write")
                        raise
                except sqlite3.Error as exc:
                    raise self._error(exc) from None
                return
            try:
                c.execute("BEGIN IMMEDIATE")
                try:
                    yield c
                    c.execute("COMMIT")
                except BaseException:
                    if c.in_transaction:
                        c.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    @contextlib.contextmanager
    def held(self) -> Iterator[Callable[[], None]]:
        """Every write of the block in ONE transaction until the ``release()`` it yields commits
        it; writes after that commit one by one as usual. A block that fails before ``release()``
        leaves the archive as it was: ``tgx import``, all or nothing, commits once its reader
        has read the export to its last byte. Leaving the block normally releases."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error(exc) from None
            self._held = True
            unsettled = {chat: set(blocks) for chat, blocks in self._unsettled.items()}

        def release() -> None:
            with self._lock:
                if self._held:
                    self._held = False
                    try:
                        self._conn.execute("COMMIT")
                    except sqlite3.Error as exc:
                        raise self._error(exc) from None

        try:
            yield release
        except BaseException:
            with self._lock:
                if self._held:
                    self._held = False
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    # and what this object learned from the writes that are gone (a dictionary
                    # trained meanwhile, counts to settle): else closing would write again
                    self._unsettled = unsettled
                    self._load_state()
            raise
        release()

    # -- writing ---------------------------------------------------------------------------------
    def upsert_batch(self, chat_id: int, messages: Sequence[Message], peers: Sequence[Peer] = (),
                     checkpoint: Mapping[str, Any] | None = None) -> None:
        """Store a batch in ONE transaction: messages (replacing by ``(chat_id, id)``, the version
        replaced kept where it changed: :mod:`tgx.archive.versions`), peers and the chat's
        checkpoint. Either all of it is committed or none of it. A deleted message's
        ``deleted_at`` is kept (the first one the archive learned wins); its ``history`` is not
        (the archive's versions are the ones it saw)."""
        when = {m.id: int(m.deleted_at.timestamp()) for m in messages if m.deleted and m.deleted_at is not None}
        self._upsert(chat_id, [message_row(chat_id, m) for m in messages], peers, checkpoint, deleted_at=when)

    def upsert_rows(self, chat_id: int, rows: Sequence[MessageRow], peers: Sequence[Peer] = (),
                    checkpoint: Mapping[str, Any] | None = None, *, thread: tuple[int, int] | None = None,
                    roots: Sequence[Root] = ()) -> None:
        """:meth:`upsert_batch` for messages already serialized (:func:`tgx.archive.records.message_row`,
        e.g. by a decode worker): the rows go in as they are, in one transaction with the peers
        and the checkpoint. Rows sorted by id fill the b-tree's pages densely (see tgx.fetch.history).

        ``thread``: the checkpoint is that of one thread, ``(chat asked, post or topic id)``,
        not the chat's. ``roots``: thread roots known from how the rows were asked for (a post's
        comments read through GetReplies, whose root is never among them). A threaded chat's
        rows get their thread rows in the same transaction.

        A row for a message already archived replaces it; the replaced version is kept first
        where its ``edit_date`` or content differs (:mod:`tgx.archive.versions`). A row flagged
        deleted gets ``deleted_at`` = now unless the archive already knew; one not flagged clears it.
        Records are compressed here (:mod:`tgx.archive.codec`), once the archive has a dictionary."""
        self._upsert(chat_id, rows, peers, checkpoint, thread=thread, roots=roots)

    def import_rows(self, chat_id: int, rows: Sequence[MessageRow], peers: Sequence[Peer] = (),
                    checkpoint: Mapping[str, Any] | None = None, *, exported_at: int) -> ImportCounts:
        """Store rows read from a Telegram Desktop export (``tgx import``), in one transaction with
        the peers and the checkpoint, marked ``imported = exported_at`` (schema 6).

        Merge rules, per message already archived: identical → nothing is written; else the
        *newer* version wins — the later ``edit_date`` (never edited counts as earliest); with
        the same one, a row from Telegram wins over any import (it carries more), and between
        two imports the later ``exported_at`` wins. The version that loses is kept in
        ``versions`` (in its place in time when it is the import's), unless it says nothing else.
        A deleted row stays flagged (an export cannot say a message exists again)."""
        ids = [r[1] for r in rows]
        counts = ImportCounts()
        peer_rows = [(p.id, _dumps(p.to_dict())) for p in peers]
        cp = _dumps(checkpoint) if checkpoint is not None else None
        with self._lock:
            try:
                stored = stored_rows(self._conn, chat_id, ids) if rows else {}
            except sqlite3.Error as exc:
                raise self._error(exc) from None
            winners: list[MessageRow] = []
            losers: list[MessageRow] = []
            for row in rows:
                old = stored.get(row[1])
                if old is None:
                    counts.new += 1
                    winners.append(row)
                    continue
                old_edit, old_data, old_imported, old_deleted = old
                try:
                    record: bytes | None = self._codec.expand(old_data)
                except CodecError:
                    record = None  # unreadable: the import replaces it
                if record == row[5] and old_edit == row[3] and old_imported is not None:
                    counts.unchanged += 1
                    continue
                mine, theirs = row[3] or 0, old_edit or 0
                wins = (record is None or mine > theirs
                        or (mine == theirs and old_imported is not None and exported_at >= old_imported))
                if wins:
                    counts.replaced += 1
                    winners.append((row[0], row[1], row[2], row[3], old_deleted, row[5]))
                else:
                    counts.older += 1
                    losers.append(row)
            if winners and not self._codec.compressing:
                self._sample(winners)
            threaded = self._threaded.get(chat_id)
            members, found = (thread_links(*threaded, ((r[1], r[5]) for r in winners)) if threaded and winners
                              else ([], []))
            with self._write() as c:
                if winners:
                    keep_versions(c, self._codec, chat_id, winners, stored, importing=True)
                    pack = self._codec.compress
                    c.executemany(_UPSERT_MESSAGE, [(r[0], r[1], r[2], r[3], r[4], None, pack(r[5]), exported_at)
                                                    for r in winners])
                for row in losers:
                    old_edit, old_data, old_imported, _d = stored[row[1]]
                    changed = content_changed if old_imported is not None else text_changed
                    try:
                        differs = old_edit != row[3] or changed(self._codec.expand(old_data), row[5])
                    except CodecError:
                        differs = True
                    if differs and insert_version(c, self._codec, chat_id, row[1], row[3], row[5]):
                        counts.versions += 1
                if peer_rows:
                    c.executemany(_UPSERT_PEER, peer_rows)
                if members:
                    c.executemany(_SET_MEMBER, [(chat_id, i, top) for i, top in members])
                if found:
                    c.executemany(_SET_ROOT, [(chat_id, *root) for root in found])
                if cp is not None:
                    c.execute(_UPSERT_CHECKPOINT, (chat_id, cp))
            if winners:
                self._unsettled.setdefault(chat_id, set()).update({r[1] >> BLOCK_SHIFT for r in winners})
        return counts

    def imported_ids(self, chat_id: int) -> Iterator[int]:
        """The ids of the chat's rows whose current version was imported (``tgx import``) and that
        are not flagged deleted, ascending (keyset-paged)."""
        last = -(2**63)
        while True:
            rows = self._all("SELECT id FROM messages WHERE chat_id = ? AND id > ? AND imported IS NOT NULL "
                             "AND deleted = 0 ORDER BY id LIMIT 10000", (chat_id, last))
            for (i,) in rows:
                yield i
            if len(rows) < 10000:
                return
            last = rows[-1][0]

    def iter_import_marks(self, chat_id: int) -> Iterator[tuple[int, bool]]:
        """``(id, imported)`` of every row of the chat, ascending: whether its current version was
        imported (and it is not flagged deleted). Keyset-paged; nothing is decoded."""
        last = -(2**63)
        while True:
            rows = self._all("SELECT id, imported IS NOT NULL AND deleted = 0 FROM messages WHERE chat_id = ? "
                             "AND id > ? ORDER BY id LIMIT 10000", (chat_id, last))
            for i, flag in rows:
                yield i, bool(flag)
            if len(rows) < 10000:
                return
            last = rows[-1][0]

    def _upsert(self, chat_id: int, rows: Sequence[MessageRow], peers: Sequence[Peer] = (),
                checkpoint: Mapping[str, Any] | None = None, *, thread: tuple[int, int] | None = None,
                roots: Sequence[Root] = (), deleted_at: Mapping[int, int] | None = None) -> None:
        peer_rows = [(p.id, _dumps(p.to_dict())) for p in peers]
        cp = _dumps(checkpoint) if checkpoint is not None else None
        threaded = self._threaded.get(chat_id)
        members, found = thread_links(*threaded, ((r[1], r[5]) for r in rows)) if threaded and rows else ([], [])
        if rows and not self._codec.compressing:
            self._sample(rows)
        with self._write() as c:
            if rows:
                self._store_rows(c, chat_id, rows, deleted_at or {})
            if peer_rows:
                c.executemany(_UPSERT_PEER, peer_rows)
            if members:
                c.executemany(_SET_MEMBER, [(chat_id, i, top) for i, top in members])
            if found or roots:
                c.executemany(_SET_ROOT, [(chat_id, *root) for root in [*found, *roots]])
            if cp is not None:
                if thread is None:
                    c.execute(_UPSERT_CHECKPOINT, (chat_id, cp))
                else:
                    c.execute(_UPSERT_THREAD_CHECKPOINT, (*thread, cp))
        if rows:  # committed: their blocks' counts are settled later (settle_counts)
            with self._lock:
                self._unsettled.setdefault(chat_id, set()).update({row[1] >> BLOCK_SHIFT for row in rows})

    def _store_rows(self, c: sqlite3.Connection, chat_id: int, rows: Sequence[MessageRow],
                    deleted_at: Mapping[int, int]) -> None:
        """(inside the write's transaction) The rows, their replaced versions kept first."""
        stored = stored_rows(c, chat_id, [r[1] for r in rows])
        if stored:
            keep_versions(c, self._codec, chat_id, rows, stored)
        now = int(time.time())
        pack = self._codec.compress
        c.executemany(_UPSERT_MESSAGE, [(r[0], r[1], r[2], r[3], r[4], deleted_at.get(r[1], now) if r[4] else None,
                                         pack(r[5]), None) for r in rows])

    def _sample(self, rows: Sequence[MessageRow]) -> int:
        """Gather records to train the archive's dictionary on (the first ones it stores, and those
        it already holds); with enough, train it and start compressing (:meth:`_start_compressing`)."""
        with self._lock:
            if self._samples is None:
                self._samples = [(chat, i, data) for chat, i, data in self._all(
                    "SELECT chat_id, id, data FROM messages LIMIT ?", (self._train_at,)) if is_plain(data)]
            self._samples += [(r[0], r[1], r[5]) for r in rows]
            return self._start_compressing() if len(self._samples) >= self._train_at else 0

    def _start_compressing(self) -> int:
        """Train a dictionary on the samples and, in one transaction, store it, name it the
        current one and compress the sampled rows already stored; only once that is committed do
        new rows use it (a kill leaves the archive all plain, or with a dictionary its rows name).
        Returns the stored rows it compressed."""
        samples, self._samples = self._samples or [], []
        try:
            dict_id, data = RecordCodec.train([d for _c, _i, d in samples])
        except CodecError:
            self._train_at *= 2  # too few or too alike: try again with more
            return 0
        known = self._dictionary(dict_id)
        if known is not None and known != data:
            self._train_at *= 2  # an id taken by another dictionary (a 1 in 2^31 chance): train again later
            return 0
        trial = RecordCodec(lambda _i: None)
        trial.use(dict_id, data)
        with self._write() as c:
            c.execute("INSERT OR REPLACE INTO dictionaries (id, data) VALUES (?, ?)", (dict_id, data))
            c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_DICTIONARY_KEY, _dumps(dict_id)))
            done = c.executemany("UPDATE messages SET data = ? WHERE chat_id = ? AND id = ? AND data = ?",
                                 [(trial.compress(d), chat, i, d) for chat, i, d in samples]).rowcount
        self._codec.use(dict_id, data)
        return done

    def _dictionary(self, dict_id: int) -> bytes | None:
        row = self._one("SELECT data FROM dictionaries WHERE id = ?", (dict_id,))
        return row[0] if row else None

    @property
    def compact_pending(self) -> bool:
        """Rows from before schema 5 may still be stored plain: :meth:`compact` is worth a run."""
        return bool(self.meta(COMPACT_PENDING, False))

    def compact(self, batch_size: int = 2000) -> int:
        """Compress every row still stored plain (an archive from before schema 5, the rows of
        one written before it had a dictionary), training the dictionary first if there is none.
        Each batch is its own transaction: a kill keeps what was done, and the next call finishes.
        Returns the rows rewritten (0 when the archive holds too few rows to train on)."""
        done = 0
        if not self._codec.compressing:
            self._samples = None
            done = self._sample(())
            if not self._codec.compressing:
                return 0
        for table, key in (("messages", "id"), ("versions", "id, seq")):
            last: tuple[Any, ...] | None = None
            cols = f"chat_id, {key}"
            while True:
                where = f"WHERE ({cols}) > ({', '.join('?' * len(last))}) " if last else ""
                batch = self._all(f"SELECT {cols}, data FROM {table} {where}ORDER BY {cols} LIMIT ?",
                                  (*(last or ()), batch_size))
                if not batch:
                    break
                plain = [(row[-1], row[:-1]) for row in batch if is_plain(row[-1])]
                if plain:
                    keys = " AND ".join(f"{k.strip()} = ?" for k in cols.split(","))
                    with self._write() as c:
                        pack = self._codec.compress
                        c.executemany(f"UPDATE {table} SET data = ? WHERE {keys} AND data = ?",
                                      [(pack(d), *k, d) for d, k in plain])
                    done += len(plain)
                last = tuple(batch[-1][:-1])
        self.set_meta(COMPACT_PENDING, False)
        return done

    def settle_counts(self) -> None:
        """Record the row counts of every block written since the last time, in one transaction.

        Counting is deferred from the batches to here (the export calls it once its fetch is
        done; :meth:`close` does too): a kill before it leaves counts that are *lower* than the
        rows — which the check never takes for missing rows — and one pass over each touched block
        costs far less than a count per batch (measured: the cpu bench lost a quarter of its speed)."""
        with self._lock:
            pending, self._unsettled = self._unsettled, {}
            if pending:
                with self._write():
                    for chat_id, blocks in pending.items():
                        self._recount(chat_id, blocks)

    def _recount(self, chat_id: int, blocks: Iterable[int]) -> None:
        """(inside a transaction) Record how many rows each of ``blocks`` holds now."""
        c = self._conn
        for block in blocks:
            lo = block << BLOCK_SHIFT
            rows = c.execute(_COUNT_BLOCK, (chat_id, lo, lo + BLOCK_IDS)).fetchone()[0]
            c.execute(_SET_BLOCK, (chat_id, block, rows))

    def missing_rows(self, chat_id: int, archived: int | None = None) -> list[tuple[int, int, int]]:
        """Blocks of the chat holding fewer rows than were written into them: ``(lo, hi, missing)``
        id ranges (inclusive), ascending. ``archived``: the chat's row count when the caller has
        it — when it is not below the recorded total (the normal case) nothing else is read.
        An archive from before schema 2 has no counts for the chat yet: they are filled from the
        rows as they are now (trusted, since nothing recorded says otherwise), and nothing is missing.
        """
        self.settle_counts()
        with self._lock:
            try:
                c = self._conn
                recorded = c.execute("SELECT COALESCE(SUM(rows), 0), COUNT(*) FROM row_counts WHERE chat_id = ?",
                                     (chat_id,)).fetchone()
                if archived is None:
                    archived = c.execute("SELECT COUNT(*) FROM messages WHERE chat_id = ?", (chat_id,)).fetchone()[0]
                if recorded[1] == 0 and archived:
                    with self._write():
                        c.execute("INSERT OR REPLACE INTO row_counts (chat_id, block, rows) SELECT chat_id, id >> ?, "
                                  "COUNT(*) FROM messages WHERE chat_id = ? GROUP BY id >> ?",
                                  (BLOCK_SHIFT, chat_id, BLOCK_SHIFT))
                    return []
                if archived >= recorded[0]:
                    return []
                actual = dict(c.execute("SELECT id >> ?, COUNT(*) FROM messages WHERE chat_id = ? GROUP BY id >> ?",
                                        (BLOCK_SHIFT, chat_id, BLOCK_SHIFT)).fetchall())
                holes = []
                for block, rows in c.execute("SELECT block, rows FROM row_counts WHERE chat_id = ? ORDER BY block",
                                             (chat_id,)):
                    have = actual.get(block, 0)
                    if have < rows:
                        lo = block << BLOCK_SHIFT
                        holes.append((max(lo, 1), lo + BLOCK_IDS - 1, rows - have))
                return holes
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def forget_rows(self, chat_id: int, checkpoint: Mapping[str, Any], blocks: Iterable[int]) -> None:
        """Admit that rows of ``blocks`` are gone, in one transaction: recount those blocks as
        they are now and store ``checkpoint``, which no longer claims their ids (so the next
        fetch gets them again, and a kill before it cannot hide the gap)."""
        with self._write() as c:
            self._recount(chat_id, set(blocks))
            c.execute(_UPSERT_CHECKPOINT, (chat_id, _dumps(checkpoint)))

    def decode(self, chat_id: int, rows: Sequence[tuple[int, bytes, int]]) -> list[Message]:
        """``(id, data, deleted)`` rows (stored, expanded or exact: :meth:`iter_records`,
        :meth:`iter_exact_records`, :meth:`iter_thread`) as messages with their ``history`` and
        ``deleted_at``, in one range query of versions for the batch. A row that does not decode
        is skipped with a warning naming the chat and id, and removed from the archive — its
        block's recorded row count stays, so the next export sees the hole and fetches it again."""
        return self._decode(chat_id, rows, None)

    def _decode(self, chat_id: int, rows: Sequence[tuple[int, bytes, int]], when: Mapping[int, int] | None
                ) -> list[Message]:
        """:meth:`decode`; ``when``: the rows' ``deleted_at`` column where set, when the caller
        read it (else it is asked for the deleted rows whose records lack it)."""
        with self._lock:
            expand = self._codec.expand
            try:
                messages = [load_message(expand(data), deleted) for _, data, deleted in rows]
            except Exception:  # noqa: BLE001 - one bad row: find it (them), the rest decode
                messages, bad = self._decode_each(rows)
                self._unreadable(chat_id, bad)
            self._complete(chat_id, messages, when)
            return messages

    def _decode_each(self, rows: Sequence[tuple[int, bytes, int]]) -> tuple[list[Message], list[tuple[int, Exception]]]:
        good: list[Message] = []
        bad: list[tuple[int, Exception]] = []
        for msg_id, data, deleted in rows:
            try:
                good.append(load_message(self._codec.expand(data), deleted))
            except Exception as exc:  # noqa: BLE001 - whatever a damaged row raises
                bad.append((msg_id, exc))
        return good, bad

    def _unreadable(self, chat_id: int, bad: Sequence[tuple[int, Exception]]) -> None:
        """Warn about unreadable rows and quarantine them (see :meth:`decode`)."""
        for msg_id, exc in bad:
            self.warn(f"{self._chat_label(chat_id)}: archived message {msg_id} is unreadable "
                      f"({type(exc).__name__}): skipped; the next `tgx export` fetches it again")
        self.quarantine(chat_id, [msg_id for msg_id, _exc in bad])

    def _complete(self, chat_id: int, messages: Sequence[Message], when: Mapping[int, int] | None) -> None:
        """Fill ``history`` and ``deleted_at`` of decoded messages where their records lack them."""
        if not messages:
            return
        ids = [m.id for m in messages]
        try:
            found = histories(self._conn, self._codec, chat_id, min(ids), max(ids))
            need = [m.id for m in messages if m.deleted and m.deleted_at is None] if when is None else []
            when = when if when is not None else dict(self._conn.execute(
                "SELECT id, deleted_at FROM messages WHERE chat_id = ? AND id IN (SELECT value FROM json_each(?)) "
                "AND deleted_at IS NOT NULL", (chat_id, orjson.dumps(need))).fetchall()) if need else {}
        except sqlite3.Error as exc:
            raise self._error(exc) from None
        for m in messages:
            if not m.deleted:
                m.deleted_at = None
            elif m.id in when:
                m.deleted_at = datetime.fromtimestamp(when[m.id], UTC)
            if m.id in found and not m.history:
                m.history = [Version.from_dict(orjson.loads(v)) for v in found[m.id]]

    def _exact(self, chat_id: int, rows: Sequence[tuple[Any, ...]], lo: int, hi: int,
               when: Mapping[int, int | None] | None = None) -> RecordBatch:
        """``(id, data, deleted, ...)`` rows of one chat, ids ``lo..hi``, as a :class:`RecordBatch`
        whose records are what ``Message.to_dict()`` writes (:func:`tgx.archive.records.exact_record`):
        the stored record itself where already exact (not deleted, no version: nearly all).
        ``when``: the deleted rows' ``deleted_at`` if the caller read it (else asked for, when a
        row is deleted). One range query of versions per batch; the common batch (nothing
        deleted or edited) is a few passes of C calls (``zip``, ``expand_many``), no loop per row."""
        if not rows:
            return RecordBatch((), [], ())
        with self._lock:
            try:
                found = histories(self._conn, self._codec, chat_id, lo, hi)
                ids, datas, flags = list(zip(*rows, strict=True))[:3]
                records, unpacked = self._codec.expand_many(datas)
                bad: dict[int, Exception] = dict(unpacked)
                if 1 in flags and when is None:
                    when = dict(self._conn.execute(
                        "SELECT id, deleted_at FROM messages WHERE chat_id = ? AND id BETWEEN ? AND ? AND deleted = 1 "
                        "AND deleted_at IS NOT NULL", (chat_id, lo, hi)).fetchall())
            except sqlite3.Error as exc:
                raise self._error(exc) from None
            if found or 1 in flags:
                for i, (msg_id, deleted) in enumerate(zip(ids, flags, strict=True)):
                    if (deleted or msg_id in found) and i not in bad:
                        try:
                            records[i] = exact_record(records[i], deleted, (when or {}).get(msg_id), found.get(msg_id))
                        except Exception as exc:  # noqa: BLE001 - whatever a damaged row raises
                            bad[i] = exc
            if not bad:
                return RecordBatch(ids, records, flags)
            keep = [i for i in range(len(ids)) if i not in bad]
            return RecordBatch([ids[i] for i in keep], [records[i] for i in keep], [flags[i] for i in keep],
                               [(ids[i], exc) for i, exc in sorted(bad.items())])

    def _exact_comments(self, rows: Sequence[tuple[int, int, bytes, int, int | None, int]]
                        ) -> list[tuple[int, int, bytes, int]]:
        """:meth:`_exact` of ``(post_id, id, data, deleted, deleted_at, chat_id)`` comment rows
        (of one discussion group, in all but odd archives: one :meth:`_exact` per group), as
        ``(post_id, id, record, deleted)``; a row that cannot be read is left out."""
        by_chat: dict[int, list[tuple[int, int, bytes, int, int | None, int]]] = {}
        for row in rows:
            by_chat.setdefault(row[5], []).append(row)
        exact: dict[tuple[int, int], bytes] = {}
        for chat, mine in by_chat.items():
            ids = [r[1] for r in mine]
            batch = self._exact(chat, [r[1:4] for r in mine], min(ids), max(ids), {r[1]: r[4] for r in mine if r[3]})
            exact.update(((chat, i), record) for i, record in zip(batch.ids, batch.records, strict=True))
        return [(r[0], r[1], exact[r[5], r[1]], r[3]) for r in rows if (r[5], r[1]) in exact]

    def _expanded(self, rows: Sequence[tuple[int, bytes, int]]) -> list[tuple[int, bytes, int]]:
        """Rows with their records expanded; one that does not expand keeps its stored bytes
        (which then do not decode: :func:`decode_rows` and :meth:`decode` report it)."""
        with self._lock:
            records, _bad = self._codec.expand_many([r[1] for r in rows])
        return [(r[0], record, r[2]) for r, record in zip(rows, records, strict=True)]

    def history(self, chat_id: int, message_id: int) -> list[Version]:
        """The earlier versions of a message the archive has seen, oldest first."""
        with self._lock:
            try:
                found = histories(self._conn, self._codec, chat_id, message_id, message_id)
            except sqlite3.Error as exc:
                raise self._error(exc) from None
        return [Version.from_dict(orjson.loads(v)) for v in found.get(message_id, ())]

    def _chat_label(self, chat_id: int) -> str:
        try:
            chat = self.chat(chat_id)
        except (OutputError, ValueError):
            chat = None
        return chat.folder_name if chat is not None else f"chat {chat_id}"

    def quarantine(self, chat_id: int, ids: Iterable[int]) -> None:
        """Delete unreadable rows, leaving their blocks' recorded counts (see :meth:`decode`)."""
        doomed = [(chat_id, i) for i in ids]
        if not doomed:
            return
        with self._lock:
            try:
                self._conn.executemany("DELETE FROM messages WHERE chat_id = ? AND id = ?", doomed)
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def set_threaded(self, chat_id: int, kind: str, channel_id: int | None = None, *, readable: bool = True) -> None:
        """Record that ``chat_id`` is a forum or ``channel_id``'s discussion group. The first time
        (or when what it is changed) its archived rows are linked to their threads, in the same
        transaction: a kill leaves it as it was, and the next export links it again."""
        if kind not in KINDS:
            raise ValueError(f"unknown thread kind {kind!r}")
        wanted = (kind, channel_id, 1 if readable else 0)
        with self._write() as c:
            row = c.execute("SELECT kind, channel_id, readable FROM threaded WHERE chat_id = ?", (chat_id,)).fetchone()
            if row is not None and tuple(row) == wanted:
                return
            c.execute("INSERT OR REPLACE INTO threaded (chat_id, kind, channel_id, readable) VALUES (?, ?, ?, ?)",
                      (chat_id, *wanted))
            if row is None or tuple(row[:2]) != wanted[:2]:
                c.execute("DELETE FROM thread_members WHERE chat_id = ?", (chat_id,))
                c.execute("DELETE FROM thread_roots WHERE chat_id = ?", (chat_id,))
                last = -(2**63)
                while True:
                    batch = c.execute("SELECT id, data FROM messages WHERE chat_id = ? AND id > ? ORDER BY id "
                                      "LIMIT 2000", (chat_id, last)).fetchall()
                    if not batch:
                        break
                    members, roots = thread_links(kind, channel_id, self._linkable(batch))
                    c.executemany(_SET_MEMBER, [(chat_id, i, top) for i, top in members])
                    c.executemany(_SET_ROOT, [(chat_id, *root) for root in roots])
                    last = batch[-1][0]
        self._threaded[chat_id] = (kind, channel_id)

    def _linkable(self, rows: Sequence[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """``(id, record)`` of the rows that expand (one that does not is linked when re-fetched)."""
        out = []
        for msg_id, data in rows:
            with contextlib.suppress(CodecError):
                out.append((msg_id, self._codec.expand(data)))
        return [(i, d) for i, d in out if is_plain(d)]

    def threaded(self, chat_id: int) -> tuple[str, int | None, bool] | None:
        """``(kind, channel id, readable)`` of a forum or discussion group (None: neither, as far
        as this archive knows)."""
        row = self._one("SELECT kind, channel_id, readable FROM threaded WHERE chat_id = ?", (chat_id,))
        return (row[0], row[1], bool(row[2])) if row else None

    def discussion_of(self, channel_id: int) -> tuple[int, bool] | None:
        """``(group id, readable)`` of the channel's discussion group, if one was recorded."""
        row = self._one("SELECT chat_id, readable FROM threaded WHERE kind = ? AND channel_id = ? "
                        "ORDER BY chat_id LIMIT 1", (DISCUSSION, channel_id))
        return (row[0], bool(row[1])) if row else None

    def thread_checkpoint(self, chat_id: int, thread: int) -> dict[str, Any] | None:
        row = self._one("SELECT data FROM thread_checkpoints WHERE chat_id = ? AND thread = ?", (chat_id, thread))
        return orjson.loads(row[0]) if row else None

    def thread_checkpoints(self, chat_id: int, lo: int = 0, hi: int = 2**62) -> dict[int, Any]:
        """The thread checkpoints of ``chat_id`` (the chat asked) for threads ``lo..hi``, by thread
        (undecodable ones as None: the caller treats them as unfetched)."""
        out: dict[int, Any] = {}
        for thread, data in self._all("SELECT thread, data FROM thread_checkpoints WHERE chat_id = ? "
                                      "AND thread BETWEEN ? AND ?", (chat_id, lo, hi)):
            try:
                out[thread] = orjson.loads(data)
            except orjson.JSONDecodeError:
                out[thread] = None
        return out

    def iter_comments(self, channel_id: int, batch_size: int = 1000, *, post_id: int | None = None,
                      after: tuple[int, int] | None = None) -> Iterator[list[tuple[int, int, bytes, int]]]:
        """The channel's archived comments, ``(post_id, id, record, deleted)`` rows in ascending
        ``(post_id, id)`` order (``post_id``: only that post's; ``after``: those after that key),
        ``batch_size`` at a time, keyset-paged.
        Each record is exact (``deleted``, ``deleted_at``, ``history`` as ``Message.to_dict()``
        writes them: :meth:`_exact`); a comment that cannot be read is left out (the discussion
        group's own render reports it)."""
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        where = "WHERE r.channel_id = ? AND (r.post_id, t.id) > (?, ?)"
        params: tuple[Any, ...] = (channel_id,)
        if post_id is not None:
            where += " AND r.post_id = ?"
        sql = _COMMENTS + where + " ORDER BY r.post_id, t.id LIMIT ?"
        last = after if after is not None else (-(2**63), -(2**63))
        while True:
            args = (*params, *last) + ((post_id,) if post_id is not None else ()) + (batch_size,)
            rows = self._all(sql, args)
            if not rows:
                return
            yield self._exact_comments(rows)
            if len(rows) < batch_size:
                return
            last = (rows[-1][0], rows[-1][1])

    def comment_counts(self, channel_id: int, lo: int, hi: int) -> dict[int, int]:
        """Archived comments per post of the posts ``lo..hi`` that have any."""
        return dict(self._all("SELECT r.post_id, COUNT(*) " + _COMMENT_ROWS +
                              "WHERE r.channel_id = ? AND r.post_id BETWEEN ? AND ? GROUP BY r.post_id",
                              (channel_id, lo, hi)))

    def count_comments(self, channel_id: int) -> int:
        return self._one("SELECT COUNT(*) " + _COMMENT_ROWS + "WHERE r.channel_id = ?", (channel_id,))[0]

    def comment_posts(self, group_id: int, ids: Iterable[int]) -> dict[int, int]:
        """The channel post each of these discussion-group messages comments on, for those that
        are comments: ``id → post_id`` (a refresh redoes those posts' pages)."""
        return dict(self._all("SELECT t.id, r.post_id FROM thread_members t JOIN thread_roots r "
                              "ON r.chat_id = t.chat_id AND r.id = t.top_id "
                              "WHERE t.chat_id = ? AND t.id IN (SELECT value FROM json_each(?))",
                              (group_id, orjson.dumps(sorted(set(ids))).decode())))

    def thread_tops(self, chat_id: int, ids: Iterable[int]) -> dict[int, int]:
        """The thread each of these messages of a threaded chat is in (a forum: its topic)."""
        return dict(self._all("SELECT id, top_id FROM thread_members WHERE chat_id = ? "
                              "AND id IN (SELECT value FROM json_each(?))",
                              (chat_id, orjson.dumps(sorted(set(ids))).decode())))

    def thread_counts(self, chat_id: int) -> dict[int, int]:
        """Archived messages per thread of a threaded chat (a forum: per topic)."""
        return dict(self._all("SELECT t.top_id, COUNT(*) FROM thread_members t JOIN messages m "
                              "ON m.chat_id = t.chat_id AND m.id = t.id WHERE t.chat_id = ? GROUP BY t.top_id",
                              (chat_id,)))

    def iter_thread(self, chat_id: int, top_id: int, batch_size: int = 1000) -> Iterator[list[tuple[int, bytes, int]]]:
        """One thread's rows (a forum topic), ``(id, record, deleted)`` ascending, keyset-paged
        (records as :meth:`iter_records` yields them: :meth:`decode` completes them)."""
        sql = ("SELECT m.id, m.data, m.deleted FROM thread_members t JOIN messages m ON m.chat_id = t.chat_id "
               "AND m.id = t.id WHERE t.chat_id = ? AND t.top_id = ? AND t.id > ? ORDER BY t.id LIMIT ?")
        last = -(2**63)
        while True:
            rows = self._all(sql, (chat_id, top_id, last, batch_size))
            if not rows:
                return
            yield self._expanded(rows)
            if len(rows) < batch_size:
                return
            last = rows[-1][0]

    def set_checkpoint(self, chat_id: int, checkpoint: Mapping[str, Any]) -> None:
        self.upsert_batch(chat_id, (), (), checkpoint)

    def upsert_peers(self, peers: Iterable[Peer]) -> None:
        self.upsert_batch(0, (), list(peers), None)

    def set_chat(self, peer: Peer, meta: Mapping[str, Any] | None = None) -> None:
        """Record ``peer`` as an exported chat (its latest title/username), with free metadata."""
        data = _dumps(peer.to_dict())
        with self._lock:
            try:
                if meta is None:
                    self._conn.execute(
                        "INSERT INTO chats (id, data) VALUES (?, ?) "
                        "ON CONFLICT(id) DO UPDATE SET data = excluded.data", (peer.id, data))
                else:
                    self._conn.execute("INSERT OR REPLACE INTO chats (id, data, meta) VALUES (?, ?, ?)",
                                       (peer.id, data, _dumps(dict(meta))))
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def mark_deleted(self, chat_id: int, ids: Iterable[int], deleted: bool = True, at: datetime | None = None) -> int:
        """Flag messages gone from Telegram (kept in the archive, with every version) and stamp
        ``deleted_at``: ``at`` (when Telegram says when) or now. A message already flagged keeps
        its first time (or, flagged before schema 5 with none, gets ``at`` if given); un-deleting
        (``deleted=False``) clears it. Returns the rows changed."""
        if deleted:
            exact = int(at.timestamp()) if at is not None else None
            when = exact if exact is not None else int(time.time())
            sql = ("UPDATE messages SET deleted_at = CASE WHEN deleted THEN COALESCE(deleted_at, ?) ELSE ? END, "
                   "deleted = 1 WHERE chat_id = ? AND id = ?")
            params: list[tuple[Any, ...]] = [(exact, when, chat_id, i) for i in ids]
        else:
            sql = "UPDATE messages SET deleted = 0, deleted_at = NULL WHERE chat_id = ? AND id = ?"
            params = [(chat_id, i) for i in ids]
        with self._lock:
            before = self._conn.total_changes
            with self._write() as c:
                c.executemany(sql, params)
            return self._conn.total_changes - before

    def set_media(self, media_id: int, path: str | None, *, size: int | None = None,
                  sha256: str | None = None, status: str = "done") -> None:
        """Record a downloaded (or failed/skipped) media file; ``path`` relative to OUT/ (POSIX)."""
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT OR REPLACE INTO media (media_id, path, size, sha256, status) "
                    "VALUES (?, ?, ?, ?, ?)", (media_id, path, size, sha256, status))
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            try:
                self._conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                                   (key, _dumps(value)))
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    # -- reading ---------------------------------------------------------------------------------
    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchone()
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def _all(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def meta(self, key: str, default: Any = None) -> Any:
        row = self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return orjson.loads(row[0]) if row else default

    def checkpoint(self, chat_id: int) -> dict[str, Any] | None:
        row = self._one("SELECT data FROM checkpoints WHERE chat_id = ?", (chat_id,))
        return orjson.loads(row[0]) if row else None

    def set_topics(self, chat_id: int, topics: Iterable[Topic]) -> None:
        """Record the forum's topics as they are now (a topic not listed keeps its last state:
        a deleted topic is still the one its archived messages name)."""
        rows = [(chat_id, t.id, _dumps(t.to_dict())) for t in topics]
        with self._write() as c:
            c.executemany("INSERT OR REPLACE INTO topics (chat_id, id, data) VALUES (?, ?, ?)", rows)

    def topics(self, chat_id: int) -> list[Topic]:
        """Every topic seen in the forum ``chat_id``, by id (``[]`` for a chat that is not a forum)."""
        return [Topic.from_dict(orjson.loads(r[0]))
                for r in self._all("SELECT data FROM topics WHERE chat_id = ? ORDER BY id", (chat_id,))]

    def chat(self, chat_id: int) -> Peer | None:
        row = self._one("SELECT data FROM chats WHERE id = ?", (chat_id,))
        return Peer.from_dict(orjson.loads(row[0])) if row else None

    def chat_meta(self, chat_id: int) -> dict[str, Any] | None:
        row = self._one("SELECT meta FROM chats WHERE id = ?", (chat_id,))
        return orjson.loads(row[0]) if row and row[0] is not None else None

    def chats(self) -> list[Peer]:
        """Every exported chat, by id."""
        return [Peer.from_dict(orjson.loads(r[0])) for r in self._all("SELECT data FROM chats ORDER BY id")]

    def peer(self, peer_id: int) -> Peer | None:
        """A sender/mentioned peer, else an exported chat with that id."""
        row = self._one("SELECT data FROM peers WHERE id = ?", (peer_id,))
        if row is None:
            row = self._one("SELECT data FROM chats WHERE id = ?", (peer_id,))
        return Peer.from_dict(orjson.loads(row[0])) if row else None

    def count(self, chat_id: int, *, include_deleted: bool = True) -> int:
        sql = "SELECT COUNT(*) FROM messages WHERE chat_id = ?"
        if not include_deleted:
            sql += " AND deleted = 0"
        return self._one(sql, (chat_id,))[0]

    def max_id(self, chat_id: int) -> int | None:
        return self._one("SELECT MAX(id) FROM messages WHERE chat_id = ?", (chat_id,))[0]

    def min_id(self, chat_id: int) -> int | None:
        return self._one("SELECT MIN(id) FROM messages WHERE chat_id = ?", (chat_id,))[0]

    def message(self, chat_id: int, message_id: int) -> Message | None:
        row = self._one("SELECT data, deleted, deleted_at FROM messages WHERE chat_id = ? AND id = ?",
                        (chat_id, message_id))
        if row is None:
            return None
        found = self._messages(chat_id, [(message_id, *row)])
        return found[0] if found else None

    def _messages(self, chat_id: int, rows: Sequence[tuple[int, bytes, int, int | None]]) -> list[Message]:
        """``(id, data, deleted, deleted_at)`` rows as complete messages (see :meth:`decode`)."""
        return self._decode(chat_id, [(i, data, deleted) for i, data, deleted, _w in rows],
                            {i: w for i, _d, deleted, w in rows if deleted and w is not None})

    def message_rank(self, chat_id: int, message_id: int) -> int | None:
        """0-based position of ``message_id`` in the chat's id order (None if not archived).

        A primary-key seek plus a count of the smaller ids: SQLite b-trees keep no subtree
        counts, so the count walks ``rank`` keys. For many lookups use :meth:`iter_ids` once and
        bisect (the render engine does).
        """
        with self._lock:
            try:
                c = self._conn
                if c.execute("SELECT 1 FROM messages WHERE chat_id = ? AND id = ?",
                             (chat_id, message_id)).fetchone() is None:
                    return None
                return c.execute("SELECT COUNT(*) FROM messages WHERE chat_id = ? AND id < ?",
                                 (chat_id, message_id)).fetchone()[0]
            except sqlite3.Error as exc:
                raise self._error(exc) from None

    def iter_messages(self, chat_id: int, batch_size: int = 1000, *, min_id: int | None = None,
                      max_id: int | None = None, include_deleted: bool = True) -> Iterator[list[Message]]:
        """Stream the chat in ascending id order, ``batch_size`` messages at a time.

        Keyset pagination (``WHERE id > last ORDER BY id LIMIT n``): each page is a b-tree seek,
        memory holds one page, and rows written meanwhile (with higher ids) are picked up.
        ``min_id``/``max_id`` are inclusive bounds.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        last = (min_id - 1) if min_id is not None else -(2**63)
        hi = max_id if max_id is not None else 2**63 - 1
        sql = "SELECT id, data, deleted, deleted_at FROM messages WHERE chat_id = ? AND id > ? AND id <= ?"
        if not include_deleted:
            sql += " AND deleted = 0"
        sql += " ORDER BY id LIMIT ?"
        while True:
            rows = self._all(sql, (chat_id, last, hi, batch_size))
            if not rows:
                return
            yield self._messages(chat_id, rows)
            if len(rows) < batch_size:
                return
            last = rows[-1][0]

    def iter_records(self, chat_id: int, batch_size: int = 1000) -> Iterator[list[tuple[int, bytes, int]]]:
        """Stream the chat's stored rows, ``(id, record, deleted)``, ascending id, ``batch_size`` at a time.

        Nothing is decoded: ``record`` is the stored record (:mod:`tgx.archive.records`, expanded
        from its compressed form; a row that does not expand comes as its stored bytes, which do
        not decode), whose ``deleted`` key may be stale (:meth:`mark_deleted` updates only the
        column), which holds neither ``deleted_at`` nor ``history`` (:meth:`iter_exact_records`
        puts them in), and whose ``media.path`` is as stored (downloaded files are attached at
        render time, from the ``media`` table). Keyset-paged like :meth:`iter_messages`.
        """
        for rows in self._stored_rows(chat_id, batch_size):
            yield self._expanded(rows)

    def iter_exact_records(self, chat_id: int, batch_size: int = 1000) -> Iterator[RecordBatch]:
        """Stream the chat as :class:`RecordBatch` es, ascending id: records exactly as
        ``Message.to_dict()`` writes them (``deleted``, ``deleted_at``, ``history`` filled in: the
        stored record itself for the rows that have neither, so the jsonl fast path copies
        them), the rows that could not be read warned about, quarantined and left out (as
        :meth:`decode` does). ``media.path`` is as stored."""
        for rows in self._stored_rows(chat_id, batch_size):
            batch = self._exact(chat_id, rows, rows[0][0], rows[-1][0])
            if batch.unreadable:
                self._unreadable(chat_id, batch.unreadable)
            yield batch

    def _stored_rows(self, chat_id: int, batch_size: int) -> Iterator[list[tuple[int, bytes, int]]]:
        """The chat's ``(id, data, deleted)`` rows as stored, ascending id, keyset-paged."""
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        sql = "SELECT id, data, deleted FROM messages WHERE chat_id = ? AND id > ? ORDER BY id LIMIT ?"
        last = -(2**63)
        while True:
            rows = self._all(sql, (chat_id, last, batch_size))
            if not rows:
                return
            yield rows
            if len(rows) < batch_size:
                return
            last = rows[-1][0]

    def has_media_files(self) -> bool:
        """Whether any media file is downloaded (a ``media`` row with status ``done``): when none
        is, no rendered message gets a ``media.path`` attached."""
        return self._one("SELECT 1 FROM media WHERE status = 'done' AND path IS NOT NULL LIMIT 1") is not None

    def iter_ids(self, chat_id: int, batch_size: int = 10_000) -> Iterator[int]:
        """Every archived id of the chat, ascending (keyset-paged; no message is decoded)."""
        last = -(2**63)
        while True:
            rows = self._all("SELECT id FROM messages WHERE chat_id = ? AND id > ? ORDER BY id LIMIT ?",
                             (chat_id, last, batch_size))
            for (i,) in rows:
                yield i
            if len(rows) < batch_size:
                return
            last = rows[-1][0]

    def media(self, media_id: int) -> MediaRecord | None:
        row = self._one("SELECT media_id, path, size, sha256, status FROM media WHERE media_id = ?",
                        (media_id,))
        return MediaRecord(*row) if row else None

    def media_records(self, status: str = "done") -> list[MediaRecord]:
        """Every media row with ``status`` (``done``: downloaded files), by media id."""
        return [MediaRecord(*row) for row in self._all(
            "SELECT media_id, path, size, sha256, status FROM media WHERE status = ? ORDER BY media_id", (status,))]

    def media_with_hash(self, sha256: str) -> MediaRecord | None:
        """A done media file with these bytes (the first by media id), if any: how an import
        finds a file it already holds, whoever recorded it."""
        row = self._one("SELECT media_id, path, size, sha256, status FROM media WHERE sha256 = ? AND status = 'done' "
                        "AND path IS NOT NULL ORDER BY media_id LIMIT 1", (sha256,))
        return MediaRecord(*row) if row else None

    def media_path(self, media_id: int) -> str | None:
        """Where a downloaded file is (relative to OUT/), or None if it is not downloaded."""
        row = self._one("SELECT path FROM media WHERE media_id = ? AND status = 'done'", (media_id,))
        return row[0] if row else None

    def integrity_check(self) -> list[str]:
        """``PRAGMA quick_check`` (reads the whole file): an empty list when healthy."""
        rows = self._all("PRAGMA quick_check")
        problems = [r[0] for r in rows]
        return [] if problems == ["ok"] else problems
