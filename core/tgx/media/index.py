"""The media index in the archive: which file each media id became, and how renders link it.

The archive's own ``media`` table (``tgx.archive.store``) maps a media id to its file (path relative
to OUT/, size, status). Status values used here: ``partial`` (a name was given and a download
started: the name stays reserved so the next run resumes into it), ``done``, ``failed``.
This module adds, on the archive's connection, with ``IF NOT EXISTS``:

* ``media_encodes(media_id, path, encoder, status)`` — the re-encoded copy of a video
  (status ``done``, ``replaced`` when it took the original's place, ``compatible`` when no
  re-encode was needed, ``failed``), so a rerun neither repeats nor loses an encode;
* an index on ``media(path COLLATE NOCASE)``, so "is this name already someone else's" is a
  seek (names must not differ only by case: macOS and Windows would see one file).

:func:`attach_paths` fills ``Message.media.path`` from the index while rendering, so the
message rows themselves never change and a later re-sync of a message cannot lose the link.
"""

from __future__ import annotations

import posixpath
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from tgx.model import Message, Peer

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS media_encodes (media_id INTEGER PRIMARY KEY, path TEXT, "
    "encoder TEXT, status TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS media_path_nocase ON media (path COLLATE NOCASE)",
)
_IN_CHUNK = 500  # SQLite's default host-parameter limit is 999 (older builds)


class MediaIndex:
    """Reads and writes the media tables through the archive's own connection and lock."""

    def __init__(self, archive: Any) -> None:
        self.archive = archive
        ensure_schema(archive)

    # -- reading

    def record(self, media_id: int) -> Any:
        return self.archive.media(media_id)

    def path_taken(self, relpath: str, owner: object) -> bool:
        """Whether the archive has ``relpath`` (case-insensitively) for a file other than ``owner``
        (a media id, or ``("encode", media_id)`` for a re-encoded copy)."""
        rows = _all(self.archive, "SELECT media_id FROM media WHERE path = ? COLLATE NOCASE", (relpath,))
        if any(owner != r[0] for r in rows):
            return True
        rows = _all(self.archive, "SELECT media_id FROM media_encodes WHERE path = ? COLLATE NOCASE",
                    (relpath,))
        return any(owner != ("encode", r[0]) for r in rows)

    def encode(self, media_id: int) -> tuple[str | None, str] | None:
        """(path, status) of a video's encode record, or None."""
        rows = _all(self.archive, "SELECT path, status FROM media_encodes WHERE media_id = ?", (media_id,))
        return (rows[0][0], rows[0][1]) if rows else None

    # -- writing

    def start(self, media_id: int, relpath: str, size: int | None) -> None:
        self.archive.set_media(media_id, relpath, size=size, status="partial")

    def done(self, media_id: int, relpath: str, size: int, sha256: str | None = None) -> None:
        self.archive.set_media(media_id, relpath, size=size, sha256=sha256, status="done")

    def failed(self, media_id: int, relpath: str | None, size: int | None) -> None:
        self.archive.set_media(media_id, relpath, size=size, status="failed")

    def set_encode(self, media_id: int, path: str | None, encoder: str | None, status: str) -> None:
        _execute(self.archive, "INSERT OR REPLACE INTO media_encodes (media_id, path, encoder, status) "
                 "VALUES (?, ?, ?, ?)", (media_id, path, encoder, status))


def ensure_schema(archive: Any) -> None:
    for statement in _SCHEMA:
        _execute(archive, statement, ())


def _execute(archive: Any, sql: str, params: tuple[Any, ...]) -> None:
    with archive._lock:
        try:
            archive._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise archive._error(exc) from None


def _all(archive: Any, sql: str, params: Sequence[Any]) -> list[Any]:
    with archive._lock:
        try:
            return archive._conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []  # an archive no media stage has touched yet
            raise archive._error(exc) from None
        except sqlite3.Error as exc:
            raise archive._error(exc) from None


def chat_relative(path: str, folder: str) -> str:
    """A path relative to OUT/ as seen from ``OUT/<folder>/`` (POSIX): ``media/photo/x.jpg`` for
    the chat's own files, ``../other/media/photo/x.jpg`` for a file another chat downloaded."""
    prefix = folder + "/"
    if path.startswith(prefix):
        return path[len(prefix):]
    return posixpath.join("..", path)


def file_paths(archive: Any, media_ids: Iterable[int]) -> dict[int, str]:
    """media id → the path renders link (relative to OUT/) for those downloaded: the re-encoded
    copy when there is one (it plays inline everywhere), else the downloaded file."""
    ids = sorted(set(media_ids))
    found: dict[int, str] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start:start + _IN_CHUNK]
        marks = ",".join("?" * len(chunk))
        for media_id, path in _all(archive, f"SELECT media_id, path FROM media WHERE status = 'done' "
                                            f"AND path IS NOT NULL AND media_id IN ({marks})", chunk):
            found[media_id] = path
        for media_id, path in _all(archive, f"SELECT media_id, path FROM media_encodes WHERE status = 'done' "
                                            f"AND path IS NOT NULL AND media_id IN ({marks})", chunk):
            if media_id in found:
                found[media_id] = path
    return found


def attach_paths(archive: Any, chat: Peer | str, messages: Sequence[Message]) -> Sequence[Message]:
    """Set ``media.path`` (POSIX, relative to the chat's folder) on every message of ``chat``
    whose file is downloaded; others keep ``path`` None. Modifies and returns ``messages``.

    One query per 500 media ids, so calling it per render batch is cheap.
    """
    folder = chat if isinstance(chat, str) else chat.folder_name
    wanted = [m.media.id for m in messages
              if m.media is not None and m.media.is_file and m.media.id is not None]
    if not wanted:
        return messages
    paths = file_paths(archive, wanted)
    for m in messages:
        media = m.media
        if media is not None and media.id is not None and media.is_file:
            path = paths.get(media.id)
            if path is not None:
                media.path = chat_relative(path, folder)
    return messages


__all__ = ["MediaIndex", "attach_paths", "chat_relative", "ensure_schema", "file_paths"]
