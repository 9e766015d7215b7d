"""The render engine: streams a chat from the archive to every selected format writer at once.

One pass: ``archive.iter_exact_records`` batches (ascending ids, bounded size) go to ALL writers, so
``--format jsonl,json,html`` reads the archive once and memory does not grow with the chat.
Rows are decoded into :class:`~tgx.model.Message` only when some writer needs them; the archive
hands each batch over exact (``deleted``, ``deleted_at`` and ``history`` as the archive knows
them, one range query of versions per batch), and before it goes out ``media.path`` is filled
from the archive's media index (:func:`tgx.media.attach_paths`: downloaded files, relative to the
chat folder). A writer with ``write_records`` gets each message's record (``orjson`` of
``Message.to_dict()``) instead: the stored bytes themselves (expanded) where they are already
exact (not deleted, no earlier version, no media path to attach), re-serialized otherwise — so
``--format jsonl`` alone copies rows to the file without decoding them.

Files are never half-written where a finished one was: :meth:`ChatRenderContext.open` hands the
writer a new file with a unique name ``.<name>.<random>.tgx-tmp`` beside the final name; only after the writer's
``close()`` returns is each file fsynced and moved into place with ``os.replace``. A writer that
raises is ``abort()``-ed, its temp files are deleted, the old files stay as they were, and the
other formats finish. Temp files left by a killed render are removed when the chat is next
rendered, and files a format wrote last time but not this time (pages beyond a new last page)
are removed once it succeeded (:func:`remove_superseded_files`).

Deterministic: the engine adds nothing to the files (no timestamps, no absolute paths); the same
archive renders byte-identical output as long as the writers are deterministic too.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import time
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import MappingProxyType
from typing import IO, Any

import orjson

from tgx import console
from tgx.archive.records import dumps, load_message
from tgx.archive.store import STATE_DIR, Archive
from tgx.archive.threads import FORUM
from tgx.console import Warn
from tgx.errors import OutputError, TgxError
from tgx.fsutil import fsync_dir, temp_beside, write_atomic
from tgx.media.index import attach_paths
from tgx.model import Message, Peer, Topic
from tgx.render.refresh_state import file_stats, fingerprint, load_state, save_state
from tgx.specs import FormatSpec, FormatWriter

TMP_SUFFIX = ".tgx-tmp"
DEFAULT_BATCH_SIZE = 1000
_SAFE_FOLDER = re.compile(r"^(?:[A-Za-z0-9_]{1,64}|-?[0-9]{1,20})$")
_MISSING = object()

__all__ = [
    "ChatRenderContext", "FormatResult", "MANIFEST", "RenderResult", "TMP_SUFFIX", "chat_dir_for",
    "read_chat_manifest", "read_manifest", "refresh_chat", "remove_superseded_files",
    "remove_stale_temp_files", "render_all", "render_chat", "write_topics",
]


# ---------------------------------------------------------------------------------------------
# results


@dataclass(slots=True)
class FormatResult:
    """How one format fared for one chat."""

    name: str
    ok: bool = True
    error: str | None = None  # one line, for the summary
    files: list[str] = field(default_factory=list)  # POSIX paths relative to the chat folder
    seconds: float = 0.0  # time spent inside the writer
    exception: BaseException | None = field(default=None, repr=False, compare=False)


@dataclass(slots=True)
class RenderResult:
    chat_id: int
    chat_dir: Path
    message_count: int
    formats: dict[str, FormatResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.formats.values())

    @property
    def failed(self) -> list[str]:
        return [name for name, r in self.formats.items() if not r.ok]

    @property
    def errors(self) -> dict[str, str]:
        """Failed format → its one-line error (empty when every format succeeded)."""
        return {name: r.error or "failed" for name, r in self.formats.items() if not r.ok}


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, TgxError):
        text = exc.message
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# lookups shared by every format's context for one chat


class _LRU:
    __slots__ = ("_data", "_size")

    def __init__(self, size: int):
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._size = size

    def get(self, key: Any) -> Any:
        value = self._data.get(key, _MISSING)
        if value is not _MISSING:
            self._data.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        if len(self._data) > self._size:
            self._data.popitem(last=False)


class _ChatLookups:
    """Peer/message/rank lookups for one chat, cached, shared by all writers of a render."""

    def __init__(self, archive: Archive, chat: Peer, peer_cache: int = 4096, message_cache: int = 1024):
        self.archive = archive
        self.chat = chat
        self.chat_id = chat.id
        self._peers = _LRU(peer_cache)
        self._messages = _LRU(message_cache)
        self._ids: array | None = None
        self._batch: Sequence[Message] = ()
        self._batch_map: dict[int, Message] | None = None
        self._topics: dict[int, Topic] | None = None
        # A channel with comments archived: its posts' comment counts, asked per batch.
        self.has_comments = chat.kind == "channel" and archive.discussion_of(chat.id) is not None
        self._comment_counts: dict[int, int] = {}
        self._counted: tuple[int, int] | None = None

    def set_batch(self, batch: Sequence[Message]) -> None:
        self._batch = batch
        self._batch_map = None

    def topics(self) -> list[Topic]:
        self.topic(None)  # loads them
        assert self._topics is not None
        return list(self._topics.values())

    def topic_messages(self, topic_id: int) -> Iterator[Message]:
        """One forum topic's messages, ascending id, media paths attached, streamed."""
        if not self.chat.forum:
            return
        for rows in self.archive.iter_thread(self.chat_id, topic_id):
            yield from attach_paths(self.archive, self.chat, self.archive.decode(self.chat_id, rows))

    def topic_counts(self) -> dict[int, int]:
        """Archived messages per forum topic, deleted ones included (the rule ``topic_of`` of the
        writers follows: General for a message without a topic, a topic_created message its own)."""
        return self.archive.thread_counts(self.chat_id) if self.chat.forum else {}

    def comment_count(self, post_id: int) -> int:
        """Archived comments of a post: counted once per 1,000 ids (the batch being rendered)."""
        if not self.has_comments:
            return 0
        span = self._counted
        if span is None or not span[0] <= post_id <= span[1]:
            lo = post_id - post_id % 1000
            self._counted = span = (lo, lo + 999)
            self._comment_counts = self.archive.comment_counts(self.chat_id, *span)
        return self._comment_counts.get(post_id, 0)

    def comments(self, post_id: int) -> Iterator[Message]:
        """A post's comments, ascending id, media paths relative to this chat's folder, streamed."""
        if not self.comment_count(post_id):
            return
        for rows in self.archive.iter_comments(self.chat_id, post_id=post_id):
            yield from comment_messages(self.archive, self.chat, rows)

    def peer(self, peer_id: int | None) -> Peer | None:
        if peer_id is None:
            return None
        hit = self._peers.get(peer_id)
        if hit is _MISSING:
            hit = self.archive.peer(peer_id)
            self._peers.put(peer_id, hit)
        return hit

    def topic(self, topic_id: int | None) -> Topic | None:
        """A forum topic by id: General (1) stands for messages without a topic_id (None)."""
        if self._topics is None:
            self._topics = {t.id: t for t in self.archive.topics(self.chat_id)}  # once per chat
        return self._topics.get(1 if topic_id is None else topic_id)

    def message(self, message_id: int) -> Message | None:
        if self._batch:
            if self._batch_map is None:
                self._batch_map = {m.id: m for m in self._batch}
            hit = self._batch_map.get(message_id)
            if hit is not None:
                return hit
        hit = self._messages.get(message_id)
        if hit is _MISSING:
            hit = self.archive.message(self.chat_id, message_id)
            if hit is not None and hit.media is not None:
                attach_paths(self.archive, self.chat, [hit])
            self._messages.put(message_id, hit)
        return hit

    def message_index(self, message_id: int) -> int | None:
        """Rank in id order: the chat's ids are loaded once (8 bytes each), then bisected."""
        ids = self._ids
        if ids is None:
            ids = self._ids = array("q", self.archive.iter_ids(self.chat_id))
        i = bisect_left(ids, message_id)
        return i if i < len(ids) and ids[i] == message_id else None


# ---------------------------------------------------------------------------------------------
# the context one writer gets


@dataclass(slots=True)
class _PendingFile:
    relpath: str
    final: Path
    tmp: Path  # the final path itself when in_place
    file: IO[Any]
    in_place: bool = False  # a refresh continuing the file where a checkpoint left it


def _check_relpath(relpath: Any) -> PurePosixPath:
    if not isinstance(relpath, str) or not relpath:
        raise OutputError(f"a format asked for an invalid file name: {relpath!r}")
    if "\x00" in relpath or "\\" in relpath:
        raise OutputError(f"a format asked for an invalid file name: {relpath!r}")
    path = PurePosixPath(relpath)
    if path.is_absolute() or PureWindowsPath(relpath).drive:
        raise OutputError(f"a format asked to write outside its chat folder: {relpath!r}")
    if any(part == ".." for part in path.parts):
        raise OutputError(f"a format asked to write outside its chat folder: {relpath!r}")
    if not path.parts or path.name in ("", ".") or path.name.endswith(TMP_SUFFIX):
        raise OutputError(f"a format asked for an invalid file name: {relpath!r}")
    return path


class ChatRenderContext:
    """:class:`tgx.specs.RenderContext` for one format writer rendering one chat."""

    def __init__(self, *, chat: Peer, chat_dir: Path, options: Mapping[str, Any], message_count: int,
                 lookups: _ChatLookups, format_name: str, claims: dict[str, str],
                 resume: Mapping[str, int] | None = None):
        self.chat = chat
        self.chat_dir = chat_dir
        self.options = options
        self.message_count = message_count
        self._lookups = lookups
        self._format = format_name
        self._claims = claims  # relpath -> format, shared by the formats of one render
        self._files: list[_PendingFile] = []
        self._real_dir = chat_dir.resolve()
        self._resume = resume  # a refresh: relpath -> the byte offset its file is continued at
        self.changed_topics: frozenset[int] | None = None  # set by a forum's paged refresh

    # -- RenderContext ---------------------------------------------------------------------------
    def open(self, relpath: str, mode: str = "w") -> IO[Any]:
        """A new file at ``chat_dir/relpath``, written as ``relpath.tgx-tmp`` and moved into place
        once the writer's ``close()`` returns. ``mode``: ``"w"`` (UTF-8 text, ``\\n`` newlines)
        or ``"wb"``. Paths are POSIX, relative, inside the chat folder."""
        if mode not in ("w", "wb"):
            raise ValueError(f"RenderContext.open: mode must be 'w' or 'wb', not {mode!r}")
        path = _check_relpath(relpath)
        key = path.as_posix()
        owner = self._claims.get(key)
        if owner is not None:
            who = "it" if owner == self._format else f"format {owner!r}"
            raise OutputError(f"format {self._format!r} opened {key!r}, which {who} already writes")
        final = self.chat_dir.joinpath(*path.parts)
        parent = final.parent
        if not parent.resolve().is_relative_to(self._real_dir):
            raise OutputError(f"a format asked to write outside its chat folder: {relpath!r} (symlink)")
        try:
            parent.mkdir(parents=True, exist_ok=True)
            if not parent.resolve().is_relative_to(self._real_dir):
                raise OutputError(f"a format asked to write outside its chat folder: {relpath!r} (symlink)")
            if self._resume is not None and key in self._resume:
                kept = _open_in_place(final, self._resume[key], mode)
                self._claims[key] = self._format
                self._files.append(_PendingFile(key, final, final, kept, in_place=True))
                return kept
            tmp = temp_beside(final, suffix=TMP_SUFFIX)  # unique: no two writers share a temp file
            if mode == "w":
                f: IO[Any] = open(tmp, "w", encoding="utf-8", newline="\n", buffering=1 << 16)
            else:
                f = open(tmp, "wb", buffering=1 << 16)
        except OSError as exc:
            raise OutputError(f"cannot write {final}: {exc.strerror or exc}") from None
        self._claims[key] = self._format
        self._files.append(_PendingFile(key, final, tmp, f))
        return f

    def peer(self, peer_id: int | None) -> Peer | None:
        return self._lookups.peer(peer_id)

    def topic(self, topic_id: int | None) -> Topic | None:
        return self._lookups.topic(topic_id)

    def message_index(self, message_id: int) -> int | None:
        return self._lookups.message_index(message_id)

    def message(self, message_id: int) -> Message | None:
        return self._lookups.message(message_id)

    def topics(self) -> list[Topic]:
        return self._lookups.topics()

    def topic_messages(self, topic_id: int) -> Iterator[Message]:
        return self._lookups.topic_messages(topic_id)

    def topic_counts(self) -> dict[int, int]:
        return self._lookups.topic_counts()

    def comment_count(self, post_id: int) -> int:
        return self._lookups.comment_count(post_id)

    def comments(self, post_id: int) -> Iterator[Message]:
        return self._lookups.comments(post_id)

    # -- the engine's side -------------------------------------------------------------------------
    @property
    def files(self) -> list[str]:
        return [p.relpath for p in self._files]

    def _offsets(self) -> dict[str, int]:
        """Byte offset of every file still open (what a checkpoint records): flushed first."""
        offsets = {}
        for pf in self._files:
            f = pf.file
            if f.closed:
                continue
            f.flush()
            raw = f.buffer if isinstance(f, io.TextIOWrapper) else f
            offsets[pf.relpath] = raw.tell()
        return offsets

    def _commit(self) -> None:
        """fsync every temp file, then move each into place, then fsync the directories."""
        dirs: set[Path] = set()
        for pf in self._files:
            if not pf.file.closed:
                pf.file.flush()
                os.fsync(pf.file.fileno())
                pf.file.close()
            else:
                fd = os.open(pf.tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
        for pf in self._files:
            if not pf.in_place:
                os.replace(pf.tmp, pf.final)
                dirs.add(pf.final.parent)
        for d in sorted(dirs):
            fsync_dir(d)

    def _discard(self) -> None:
        for pf in self._files:
            try:
                pf.file.close()
            except Exception:  # noqa: BLE001 - a broken file must not stop the clean-up
                pass
            try:
                if not pf.in_place:  # a file continued in place: its refresh entry is gone already
                    pf.tmp.unlink(missing_ok=True)
            except OSError:
                pass
            if self._claims.get(pf.relpath) == self._format:
                del self._claims[pf.relpath]
        self._files.clear()


def _open_in_place(path: Path, offset: int, mode: str) -> IO[Any]:
    """The existing file, cut at ``offset`` and positioned there (a refresh continuing it)."""
    raw = open(path, "r+b", buffering=1 << 16)
    try:
        raw.truncate(offset)
        raw.seek(offset)
    except BaseException:
        raw.close()
        raise
    if mode == "w":
        return io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    return raw


def resumable(writer: object) -> bool:
    """A writer with the optional refresh capability (``checkpoint`` and ``resume``)."""
    return callable(getattr(writer, "checkpoint", None)) and callable(getattr(writer, "resume", None))


def paged(writer: object) -> bool:
    """A writer with the optional paged refresh capability (``parts``, ``reopen`` and ``seek``)."""
    return all(callable(getattr(writer, m, None)) for m in ("parts", "reopen", "seek"))


def patchable(writer: object) -> bool:
    """A writer with the optional patch refresh capability (``patch_open``, ``patch``): a
    database whose rows it can replace in place."""
    return callable(getattr(writer, "patch_open", None)) and callable(getattr(writer, "patch", None))


def record_checkpoint(writer: Any, ctx: ChatRenderContext, index: int,
                      after: int | list[int] | None) -> dict[str, Any]:
    """Where a refresh could continue: ``index`` messages written, the last ``after`` (a comment
    checkpoint: its ``[post_id, id]``)."""
    state = writer.checkpoint()  # the writer flushes what it wrapped around ctx.open's files
    return {"index": index, "after": after, "offsets": ctx._offsets(), "state": state}


def save_refresh_entries(out_dir: Path, chat_dir: Path, chat_id: int, result: RenderResult,
                         entries: Mapping[str, dict[str, Any]]) -> None:
    """The refresh state of the formats just rendered: ``entries`` for the ones that succeeded
    (their files' stats added), none for the others of ``result``."""
    state = load_state(out_dir, chat_id)
    for name, res in result.formats.items():
        entry = entries.get(name)
        stats = file_stats(chat_dir, res.files) if res.ok and entry is not None else None
        if entry is None or stats is None:
            state.pop(name, None)
        else:
            state[name] = {**entry, "files": stats}
    save_state(out_dir, chat_id, state)


# ---------------------------------------------------------------------------------------------
# the engine


def chat_dir_for(out_dir: Path, chat: Peer) -> Path:
    """``OUT/<chat>/`` (**contract**): the username if any, else the marked id; validated."""
    name = chat.folder_name
    if not _SAFE_FOLDER.match(name):
        raise OutputError(f"chat {chat.id} has an unusable folder name {name!r}")
    return Path(out_dir) / name


def remove_stale_temp_files(chat_dir: Path) -> int:
    """Delete ``*.tgx-tmp`` files a killed render left behind. Returns how many."""
    removed = 0
    if not chat_dir.is_dir():
        return 0
    for root, _dirs, files in os.walk(chat_dir, followlinks=False):
        for name in files:
            if name.endswith(TMP_SUFFIX) or TMP_SUFFIX + "-" in name:  # + SQLite's -journal/-wal
                try:
                    os.unlink(os.path.join(root, name))
                    removed += 1
                except OSError:
                    pass
    return removed


def _records(records: Sequence[bytes], messages: Sequence[Message] | None) -> list[bytes]:
    """Each record as a ``write_records`` writer must get it: ``orjson.dumps(to_dict())``.

    The records are exact (:meth:`Archive.iter_exact_records`) unless their message has a media
    path (attach_paths may have filled it); those are re-serialized from the message.
    ``messages`` are the batch decoded and path-attached (one per record), or None when no file
    is downloaded at all (then every record is exact as it is, and nothing is decoded).
    """
    if messages is None:
        return list(records)
    return [data if m.media is None or m.media.path is None else dumps(m.to_dict())
            for data, m in zip(records, messages, strict=True)]


def comment_messages(archive: Archive, chat: Peer, rows: Sequence[tuple[int, int, bytes, int]]) -> list[Message]:
    """``(post_id, id, record, deleted)`` comment rows (exact: :meth:`Archive.iter_comments`) as
    messages with media paths relative to ``chat``'s folder (the channel's: the files are in the
    discussion group's)."""
    messages = []
    for _post, _msg_id, data, deleted in rows:
        try:
            messages.append(load_message(data, deleted))
        except Exception:  # noqa: BLE001 - a damaged row: skipped here, the group's render reports it
            continue
    attach_paths(archive, chat, messages)
    return messages


def _comment_records(rows: Sequence[tuple[int, int, bytes, int]], messages: Sequence[Message]) -> list[bytes]:
    """The ``comments.jsonl`` record of each comment: its message record plus ``post_id``."""
    by_id = {m.id: m for m in messages}
    out = []
    for post, msg_id, data, _deleted in rows:
        m = by_id.get(msg_id)
        if m is None:
            continue
        record = data if m.media is None or m.media.path is None else dumps(m.to_dict())
        out.append(record[:-1] + b',"post_id":%d}' % post)
    return out


def takes_comments(writer: object) -> bool:
    return callable(getattr(writer, "write_comment_records", None)) or callable(getattr(writer, "write_comments", None))


def _write_comments(archive: Archive, chat: Peer, active: Mapping[str, tuple[FormatWriter, ChatRenderContext]],
                    batch_size: int, fail: Any, seconds: Mapping[str, FormatResult], *,
                    after: tuple[int, int] | None = None, on_batch: Any = None) -> None:
    """Stream a channel's comments, ascending ``(post_id, id)`` (``after``: from that key on), to
    the writers that take them (``write_comments`` / ``write_comment_records``), after its
    messages; ``on_batch(name, key)`` after each batch a writer took (a refresh checkpoint)."""
    takers = {name: w for name, (w, _ctx) in active.items() if takes_comments(w)}
    if not takers:
        return
    for rows in archive.iter_comments(chat.id, batch_size, after=after):
        messages = comment_messages(archive, chat, rows)
        records = None
        for name, writer in list(takers.items()):
            if name not in active:
                continue
            started = time.perf_counter()
            try:
                if callable(getattr(writer, "write_comment_records", None)):
                    if records is None:
                        records = _comment_records(rows, messages)
                    writer.write_comment_records(records)  # type: ignore[attr-defined]
                else:
                    posts = {msg_id: post for post, msg_id, _d, _del in rows}
                    writer.write_comments([(posts[m.id], m) for m in messages])  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001
                fail(name, active[name][1], writer, exc)
            seconds[name].seconds += time.perf_counter() - started
            if on_batch is not None and name in active and rows:
                on_batch(name, [rows[-1][0], rows[-1][1]])


def _format_options(spec: FormatSpec, given: Mapping[str, Any] | None) -> Mapping[str, Any]:
    merged = {opt.name: opt.default for opt in spec.options}
    if given:
        merged.update(given)
    return MappingProxyType(merged)


def render_chat(archive: Archive, chat_id: int, out_dir: Path | str, formats: Mapping[str, FormatSpec],
                options: Mapping[str, Mapping[str, Any]] | None = None, *,
                batch_size: int = DEFAULT_BATCH_SIZE) -> RenderResult:
    """Render one archived chat into ``OUT/<chat>/`` with every format in ``formats``.

    :param formats: format name → spec (as registered by plugins).
    :param options: format name → that format's options (the spec's option defaults fill gaps).
    :return: per-format success/failure; a failing writer never stops the others.
    :raises OutputError: the chat is not archived, its folder cannot be created, or the archive
        fails while being read (every writer is then aborted and no file is replaced).
    """
    out_dir = Path(out_dir)
    chat = archive.chat(chat_id)
    if chat is None:
        raise OutputError(f"chat {chat_id} is not in the archive {archive.path}")
    chat_dir = chat_dir_for(out_dir, chat)
    try:
        chat_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create {chat_dir}: {exc.strerror or exc}") from None
    remove_stale_temp_files(chat_dir)

    if chat.forum and archive.threaded(chat_id) is None:
        archive.set_threaded(chat_id, FORUM)  # an archive from before topics were indexed
    count = archive.count(chat_id)
    result = RenderResult(chat_id, chat_dir, count)
    lookups = _ChatLookups(archive, chat)
    claims: dict[str, str] = {}
    options = options or {}
    active: dict[str, tuple[FormatWriter, ChatRenderContext]] = {}
    by_records: set[str] = set()  # active writers that take records (write_records) over messages
    checkpoints: dict[str, list[dict[str, Any]]] = {}  # resumable writers: where a refresh may continue
    comment_cps: dict[str, list[dict[str, Any]]] = {}  # ... their comment files (``after``: [post, id])
    prints: dict[str, str] = {}
    parts: dict[str, list[Any]] = {}  # paged writers: the parts a refresh may render again alone
    perf = time.perf_counter

    def fail(name: str, ctx: ChatRenderContext, writer: FormatWriter | None, exc: BaseException) -> None:
        res = result.formats[name]
        if writer is not None:
            started = perf()
            try:
                writer.abort()
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
            res.seconds += perf() - started
        ctx._discard()
        active.pop(name, None)
        res.ok = False
        res.error = _one_line(exc)
        res.exception = exc
        res.files = []

    try:
        for name, spec in formats.items():
            res = result.formats[name] = FormatResult(name)
            ctx = ChatRenderContext(chat=chat, chat_dir=chat_dir,
                                    options=_format_options(spec, options.get(name)), message_count=count,
                                    lookups=lookups, format_name=name, claims=claims)
            writer = None
            started = perf()
            try:
                writer = spec.factory(ctx)
                writer.open()
            except Exception as exc:  # noqa: BLE001 - a plugin's failure is recorded, not raised
                res.seconds += perf() - started
                fail(name, ctx, writer, exc)
                continue
            res.seconds += perf() - started
            active[name] = (writer, ctx)
            if callable(getattr(writer, "write_records", None)):
                by_records.add(name)
            prints[name] = fingerprint(name, writer, ctx.options)
            if resumable(writer):
                checkpoints[name] = [record_checkpoint(writer, ctx, 0, None)]
        written = 0
        last: int | None = None

        if active:
            # Asked once per chat: rendering runs after the media stage has finished.
            media_files = archive.has_media_files()
            for batch in archive.iter_exact_records(chat_id, batch_size):
                result.message_count -= len(batch.unreadable)  # warned about and quarantined by the archive
                exact = batch.records
                wants_records = any(name in by_records for name in active)
                messages: list[Message] | None = None
                if (wants_records and media_files) or any(name not in by_records for name in active):
                    rows = batch.rows
                    messages = archive.decode(chat_id, rows)  # an unreadable row: warned, skipped
                    if len(messages) != len(rows):
                        kept = {m.id for m in messages}
                        result.message_count -= len(rows) - len(kept)
                        exact = [row[1] for row in rows if row[0] in kept]
                    attach_paths(archive, chat, messages)  # media.path: downloaded files, chat-relative
                lookups.set_batch(messages or ())
                # Built before any writer runs, so a writer that mutates its messages changes no record.
                records = _records(exact, messages) if wants_records else None
                for name, (writer, ctx) in list(active.items()):
                    started = perf()
                    try:
                        if name in by_records:
                            writer.write_records(records)  # type: ignore[attr-defined]
                        else:
                            writer.write(messages)  # type: ignore[arg-type]
                    except Exception as exc:  # noqa: BLE001
                        fail(name, ctx, writer, exc)
                    result.formats[name].seconds += perf() - started
                if not active:
                    break
                n = len(records) if records is not None else len(messages or ())
                if n:
                    written += n
                    last = messages[-1].id if messages is not None else batch.ids[-1]
                    for name in checkpoints.keys() & active.keys():
                        writer, ctx = active[name]
                        try:
                            checkpoints[name].append(record_checkpoint(writer, ctx, written, last))
                        except Exception as exc:  # noqa: BLE001
                            fail(name, ctx, writer, exc)
            lookups.set_batch(())
            if active and lookups.has_comments:
                def comment_checkpoint(name: str, key: list[int] | None) -> None:
                    if name in checkpoints and name in active:
                        writer, ctx = active[name]
                        try:
                            comment_cps.setdefault(name, []).append(record_checkpoint(writer, ctx, 0, key))
                        except Exception as exc:  # noqa: BLE001
                            fail(name, ctx, writer, exc)

                for name in [n for n in checkpoints if n in active and takes_comments(active[n][0])]:
                    comment_checkpoint(name, None)
                _write_comments(archive, chat, active, batch_size, fail, result.formats, on_batch=comment_checkpoint)
        for name, (writer, ctx) in list(active.items()):
            started = perf()
            try:
                writer.close()
                if paged(writer):
                    parts[name] = list(writer.parts())  # type: ignore[attr-defined]
                ctx._commit()
            except Exception as exc:  # noqa: BLE001
                fail(name, ctx, writer, exc)
            else:
                result.formats[name].files = ctx.files
            result.formats[name].seconds += perf() - started
            active.pop(name, None)
    except BaseException:
        # An archive error or Ctrl-C/SIGTERM mid-render: abort whoever is still writing, replace
        # nothing, and sweep temp files whose writer had not been registered yet.
        for name, (writer, ctx) in list(active.items()):
            fail(name, ctx, writer, OutputError("rendering was interrupted"))
        remove_stale_temp_files(chat_dir)
        raise
    write_topics(archive, chat, chat_dir)
    remove_superseded_files(out_dir, chat, chat_dir, result)
    save_refresh_entries(out_dir, chat_dir, chat_id, result,
                         {name: {"fingerprint": fp, "count": result.message_count, "last": last,
                                 "checkpoints": checkpoints.get(name, []), "parts": parts.get(name),
                                 "comment_checkpoints": comment_cps.get(name)}
                          for name, fp in prints.items()})
    return result


TOPICS_FILE = "topics.json"  # OUT/<forum>/topics.json: every topic seen (a contract: docs/formats.md)


def write_topics(archive: Archive, chat: Peer, chat_dir: Path) -> Path | None:
    """``OUT/<forum>/topics.json``, whatever the formats: a JSON array of every topic the archive
    has seen for the forum (``Topic.to_dict()``, by id), atomically. Nothing for other chats."""
    topics = archive.topics(chat.id)
    if not topics:
        return None
    path = chat_dir / TOPICS_FILE
    data = orjson.dumps([t.to_dict() for t in topics], option=orjson.OPT_INDENT_2) + b"\n"
    try:
        write_atomic(path, data)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


# In OUT/.tgx/: one small file per chat, ``rendered/<chat id>.json`` — what the chat's last render
# wrote, format by format. One file per chat, not one for the whole folder: rendering each of a
# thousand chats must not read, rewrite and fsync every other chat's entry.
MANIFEST = "rendered"
LEGACY_MANIFEST = "rendered.json"  # every chat's entry in one file, as earlier versions wrote it: still read


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None


def read_manifest(out_dir: Path | str) -> dict[str, Any]:
    """Chat id → ``{"messages": N, "formats": {name: [files]}}`` for every chat rendered into
    ``out_dir``; a chat with no readable entry is simply absent (its next render writes one)."""
    state = Path(out_dir) / STATE_DIR
    legacy = _read_json(state / LEGACY_MANIFEST)
    manifest = {k: v for k, v in legacy.items() if isinstance(v, dict)} if isinstance(legacy, dict) else {}
    for path in sorted((state / MANIFEST).glob("*.json")):
        entry = _read_json(path)
        if isinstance(entry, dict):
            manifest[path.stem] = entry
    return manifest


def read_chat_manifest(out_dir: Path | str, chat_id: int) -> dict[str, Any]:
    """The manifest entry of one chat (``{}`` when there is none)."""
    state = Path(out_dir) / STATE_DIR
    entry = _read_json(state / MANIFEST / f"{chat_id}.json")
    if entry is None:
        legacy = _read_json(state / LEGACY_MANIFEST)
        entry = legacy.get(str(chat_id)) if isinstance(legacy, dict) else None
    return entry if isinstance(entry, dict) else {}


def remove_superseded_files(out_dir: Path, chat: Peer, chat_dir: Path, result: RenderResult, *,
                            warn: Warn = console.warn) -> list[str]:
    """Delete the files a format wrote last time that its new render did not write again.

    A paged or split format (html pages, markdown by month) re-rendered with other options writes
    a different set of files; the old pages beyond the new last one would otherwise stay, linking
    into a set that no longer exists. The manifest ``OUT/.tgx/rendered/<chat id>.json`` remembers
    what each format of the chat wrote; only formats that succeeded now replace their entry (a failed
    format keeps its old files and its old entry). It also remembers how many messages were
    rendered: fewer now than last time is a warning (files never shrink silently). Returns the
    removed paths (chat-relative).
    """
    entry = read_chat_manifest(out_dir, chat.id)
    files = entry.get("formats")
    files = dict(files) if isinstance(files, dict) else {}
    before = entry.get("messages")
    if type(before) is int and before > result.message_count and any(r.ok for r in result.formats.values()):
        warn(f"{chat.folder_name}: rendered {result.message_count:,} messages over files that held {before:,} "
             "(the archive lost rows): `tgx export` the chat again to fetch them back")
    written = {f for r in result.formats.values() if r.ok for f in r.files}
    removed: list[str] = []
    for name, res in result.formats.items():
        if not res.ok:
            continue
        old = files.get(name)
        for rel in old if isinstance(old, list) else ():
            if not isinstance(rel, str) or rel in written:
                continue
            try:
                target = chat_dir / _check_relpath(rel)
            except OutputError:
                continue  # not a path this engine could have written: leave it alone
            inside = target.parent.resolve().is_relative_to(chat_dir.resolve())
            if inside and target.is_file() and not target.is_symlink():
                with contextlib.suppress(OSError):
                    target.unlink()
                    removed.append(rel)
        files[name] = sorted(res.files)
    entry = {"messages": result.message_count, "formats": files}
    try:
        write_atomic(out_dir / STATE_DIR / MANIFEST / f"{chat.id}.json",
                     orjson.dumps(entry, option=orjson.OPT_SORT_KEYS), mode=0o600)
    except OSError:
        pass  # the files are rendered; a manifest that could not be written only forgets old pages
    return removed


def render_all(archive: Archive, out_dir: Path | str, formats: Mapping[str, FormatSpec],
               options: Mapping[str, Mapping[str, Any]] | None = None, *,
               batch_size: int = DEFAULT_BATCH_SIZE) -> list[RenderResult]:
    """:func:`render_chat` for every chat in the archive (in id order)."""
    return [render_chat(archive, chat.id, out_dir, formats, options, batch_size=batch_size)
            for chat in archive.chats()]


def refresh_chat(archive: Archive, chat_id: int, out_dir: Path | str, formats: Mapping[str, FormatSpec],
                 options: Mapping[str, Mapping[str, Any]] | None = None, *, changed: Iterable[int] | None = (),
                 comments: Iterable[int] | None = (), batch_size: int = DEFAULT_BATCH_SIZE) -> RenderResult:
    """:func:`tgx.render.refresh.refresh_chat` (``tgx watch``'s incremental render), here too."""
    from tgx.render.refresh import refresh_chat as refresh  # refresh builds on this module

    return refresh(archive, chat_id, out_dir, formats, options, changed=changed, comments=comments,
                   batch_size=batch_size)
