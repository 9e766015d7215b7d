"""The import stage: a reader's :class:`~tgx.importer.source.ExportItem` stream into the archive.

What it writes, per chat of the export:

* the chat (``chats``; a chat the archive already knows keeps its record — an online export
  knows its username, an export does not), the peers the export names (only those the archive
  does not know: Telegram's own record of a peer is richer than an export's);
* its messages, :data:`BATCH` at a time, each batch written as a whole with its peers and the
  chat's checkpoint (:meth:`tgx.archive.store.Archive.import_rows`: rows marked imported,
  merged by the newer-version rule, identical ones not written at all) — inside ``tgx import``'s
  one transaction: the command commits all or nothing;
* its files (:mod:`tgx.importer.files`): the message's ``media.id`` becomes the file's content
  id, so the render engine links it like a download; a thumbnail's path is stored in the record;
  a file the export lacks or that is refused is recorded in ``media.extra["missing"]``;
* the **coverage** the fetcher understands: a Telegram Desktop export holds every message of
  the chat between its oldest and its newest one (the ids missing in between were deleted), so
  ``[oldest, newest]`` joins the chat's checkpoint ranges — ``tgx export`` then fetches only
  what is newer (and below the oldest, which costs one request when there is nothing).

Nothing of Telegram's update state (``pts``) is written: an imported chat has none, and the
first online export records it as for a chat it never saw (:func:`tgx.sync.difference.record_first_pts`).

Idempotent and resumable: a re-run of the same import finds every row identical and writes
nothing; a killed one is finished by running it again (what a run committed is found identical,
files left at their final names are adopted by their bytes). Memory is flat: one batch of rows,
and the chat's peers as the reader collects them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tgx.archive.records import MessageRow, message_row
from tgx.archive.store import Archive, ImportCounts
from tgx.archive.threads import FORUM
from tgx.errors import OutputError, UsageError
from tgx.fetch.checkpoint import parse_checkpoint
from tgx.importer.files import FileCounts, FilePlacer
from tgx.importer.source import ExportItem, ImportedChat, ImportedMessage, StoredRow, note_missing
from tgx.model import Peer

BATCH = 1000  # messages per transaction
# Reader warnings that mean messages of the chat were left out (a page missing, a message without
# an id or a date): ids in the span are then not all deletions, and no more of it is claimed.
HOLES = frozenset({"missing page", "bad message", "no date"})

__all__ = ["BATCH", "HOLES", "ChatImport", "HoleWatch", "ImportResult", "Warnings", "import_items"]


class HoleWatch:
    """A reader's ``warn`` that counts the warnings meaning messages were left out (:data:`HOLES`)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, kind: str, _detail: str) -> None:
        if kind in HOLES:
            self.count += 1


class Warnings:
    """The ``warn(kind, detail)`` a reader and the stage call: counted by kind, said once each at
    the end (:meth:`lines`), with the first detail as an example."""

    def __init__(self) -> None:
        self.kinds: dict[str, tuple[int, str]] = {}

    def __call__(self, kind: str, detail: str) -> None:
        count, first = self.kinds.get(kind, (0, detail))
        self.kinds[kind] = (count + 1, first)

    def lines(self) -> list[str]:
        return [f"{kind}: {count:,} time(s) (first: {first})" if count > 1 else f"{kind}: {first}"
                for kind, (count, first) in self.kinds.items()]

    def counts(self) -> dict[str, int]:
        return {kind: count for kind, (count, _first) in self.kinds.items()}


@dataclass(slots=True)
class ChatImport:
    """What one chat of the export became."""

    peer: Peer
    folder: str
    messages: int = 0  # read from the export
    counts: ImportCounts = field(default_factory=ImportCounts)
    span: tuple[int, int] | None = None  # [oldest, newest] id: covered now

    def to_dict(self) -> dict[str, object]:
        c = self.counts
        return {"id": self.peer.id, "title": self.peer.title, "folder": self.folder, "messages": self.messages,
                "new": c.new, "replaced": c.replaced, "unchanged": c.unchanged, "older": c.older,
                "versions": c.versions, "span": list(self.span) if self.span else None}


@dataclass(slots=True)
class ImportResult:
    chats: list[ChatImport] = field(default_factory=list)
    peers: int = 0  # peers added to the archive
    files: FileCounts = field(default_factory=FileCounts)


def identity(peer: Peer, wanted: set[int]) -> int:
    """The chat's marked id: the reader's, or — for an export that does not name it (0: an HTML
    export of one chat) — the one ``--chat-id`` gives."""
    if peer.id:
        return peer.id
    if len(wanted) == 1:
        return next(iter(wanted))
    raise UsageError(f"the export does not say which chat {peer.title or 'it'!r} is: give its id with --chat-id",
                     hint="the marked id tgx uses (see `tgx chats`): -100… for channels and supergroups")


def import_items(archive: Archive, out: Path, items: Iterable[ExportItem], *, root: Path, exported_at: int,
                 link: bool = False, chat_ids: Iterable[int] = (), warn: Callable[[str, str], None] | None = None,
                 on_chat: Callable[[ChatImport], None] | None = None,
                 on_batch: Callable[[ChatImport, int], None] | None = None, watch: HoleWatch | None = None,
                 created: list[Path] | None = None) -> ImportResult:
    """Write the export's items into ``archive`` (see the module doc). ``root``: the export folder
    the files are resolved against; ``exported_at``: when the export was made (Unix seconds: the
    newer export wins a merge); ``chat_ids``: only these chats (default all). ``on_chat`` /
    ``on_batch(chat, n)``: progress, after each chat starts and each batch commits. ``watch``: the
    :class:`HoleWatch` the reader of ``items`` warns to (a chat with holes claims no more coverage).
    ``created``: the files put into OUT are appended to it as they are (to remove them again when
    the import is abandoned before it counts: see :meth:`tgx.archive.store.Archive.held`)."""
    say = warn or (lambda _k, _d: None)
    wanted = set(chat_ids)
    holes = watch if watch is not None else HoleWatch()
    result = ImportResult()
    placer = FilePlacer(archive, out, root, link=link, created=created)
    result.files = placer.counts
    known_peers: set[int] = set()
    pending_peers: list[Peer] = []
    seen: list[tuple[int, str]] = []  # (id, title) of every chat of the export
    for item in items:
        if isinstance(item, Peer):
            if item.id not in known_peers and archive.peer(item.id) is None:
                pending_peers.append(item)
            known_peers.add(item.id)
            if len(pending_peers) >= BATCH:
                archive.upsert_peers(pending_peers)
                result.peers += len(pending_peers)
                pending_peers = []
            continue
        item.peer.id = identity(item.peer, wanted)
        seen.append((item.peer.id, item.peer.title))
        if wanted and item.peer.id not in wanted:
            for _m in item.messages:  # the reader needs the chat consumed before the next item
                pass
            holes.count = 0
            continue
        if pending_peers:
            archive.upsert_peers(pending_peers)
            result.peers += len(pending_peers)
            pending_peers = []
        # holes counted since the last chat ended: one warned before the chat's first message
        # (its first page missing) is the chat's too
        chat = _ChatWriter(archive, placer, item, exported_at=exported_at, warn=say, known_peers=known_peers,
                           holes=functools.partial(_grew, holes, 0))
        if on_chat is not None:
            on_chat(chat.result)
        chat.run(on_batch)
        result.peers += chat.peers_added
        result.chats.append(chat.result)
        holes.count = 0
    if pending_peers:
        archive.upsert_peers(pending_peers)
        result.peers += len(pending_peers)
    missing = wanted - {chat_id for chat_id, _title in seen}
    if missing:  # raised once the export is read: the import's writes are not committed yet
        names = ", ".join(f"{t} ({i})" for i, t in seen[:5]) or "none"
        raise UsageError(f"the export holds no chat with id {', '.join(str(i) for i in sorted(missing))}",
                         hint=f"its chats: {names}")
    return result


def _grew(watch: HoleWatch, since: int) -> bool:
    return watch.count > since


class _ChatWriter:
    def __init__(self, archive: Archive, placer: FilePlacer, chat: ImportedChat, *, exported_at: int,
                 warn: Callable[[str, str], None], known_peers: set[int],
                 holes: Callable[[], bool] = lambda: False) -> None:
        self.archive = archive
        self.placer = placer
        self.chat = chat
        self.exported_at = int(chat.source.stat().st_mtime) if chat.source is not None and chat.source.exists() \
            else exported_at
        self.warn = warn
        self.known_peers = known_peers
        self.holes = holes
        self._claimed: tuple[int, int] | None = None
        peer = chat.peer
        stored = archive.chat(peer.id)
        if stored is None:
            for other in archive.chats():
                if other.folder_name == peer.folder_name and other.id != peer.id:
                    raise OutputError(f"{peer.folder_name}/ in this output belongs to another chat (id {other.id})",
                                      hint="import into a different --out directory")
            archive.set_chat(peer, {"td_type": chat.td_type})  # what the export called it (public_channel ...)
        elif archive.chat_meta(peer.id) is None:
            archive.set_chat(stored, {"td_type": chat.td_type})
        self.peer = stored or peer
        if peer.forum and not self.peer.forum:
            self.peer.forum = True
        if self.peer.forum:
            archive.set_threaded(self.peer.id, FORUM)
        self.folder = self.peer.folder_name
        self.result = ChatImport(self.peer, self.folder)
        self.peers_added = 0
        self._lo: int | None = None
        self._hi: int | None = None
        self._ascending = True

    def run(self, on_batch: Callable[[ChatImport, int], None] | None) -> None:
        batch: list[MessageRow] = []
        for imported in self.chat.messages:
            batch.append(self._row(imported))
            if len(batch) >= BATCH:
                self._flush(batch, final=False)
                if on_batch is not None:
                    on_batch(self.result, len(batch))
                batch = []
        self._flush(batch, final=True)
        if on_batch is not None and batch:
            on_batch(self.result, len(batch))
        self.placer.counts.missing += self.chat.missing  # noted by the reader (in its own process)

    def _row(self, imported: ImportedMessage | StoredRow) -> MessageRow:
        if type(imported) is tuple:  # read (and serialized) in the reader's process: stored as it is
            self._count(imported[1])
            return imported
        assert isinstance(imported, ImportedMessage)
        m = imported.message
        m.chat_id = self.peer.id
        self._count(m.id)
        media = m.media
        for source in imported.files:
            if media is None:
                self.warn("file without media", f"message {m.id} of {self.folder} names {source.relpath!r}: skipped")
                continue
            placed = self.placer.place(self.folder, media, source.relpath, source.missing)
            if placed.how == "refused":
                self.warn("file refused", f"message {m.id} of {self.folder}: {placed.missing}")
            if placed.relpath is None:
                note_missing(media, source.role, placed.missing or "not in the export")
            elif source.role == "file":
                if media.id is None:
                    media.id = placed.media_id
            else:
                media.thumbnail_path = self.placer.chat_path(placed, self.folder)
        return message_row(self.peer.id, m)

    def _count(self, message_id: int) -> None:
        self.result.messages += 1
        if self._hi is not None and message_id <= self._hi:
            self._ascending = False  # then the span is claimed only once the chat is done
        self._lo = message_id if self._lo is None or message_id < self._lo else self._lo
        self._hi = message_id if self._hi is None or message_id > self._hi else self._hi

    def _new_peers(self) -> list[Peer]:
        fresh = []
        for peer_id, peer in list(self.chat.peers.items()):
            if peer_id in self.known_peers:
                continue
            self.known_peers.add(peer_id)
            if peer_id != self.peer.id and self.archive.peer(peer_id) is None:
                fresh.append(peer)
        self.peers_added += len(fresh)
        return fresh

    def _checkpoint(self, final: bool) -> dict[str, object] | None:
        if self._lo is None or self._hi is None or (not final and not self._ascending):
            return None
        if self.holes():  # messages left out: what was claimed before the hole stands, no more
            if final:
                self.result.span = self._claimed
                self.warn("holes in the export", f"{self.folder}: the export leaves messages out (see the other "
                          "warnings): only what came before counts as covered; `tgx export` fetches the rest")
            return None
        try:
            ranges, server_count = parse_checkpoint(self.archive.checkpoint(self.peer.id))
        except ValueError:  # unreadable: the fetcher would drop it too; the import's span stands alone
            from tgx.fetch.ranges import IdRanges

            ranges, server_count = IdRanges(), None
        ranges.add(max(1, self._lo), self._hi)
        self._claimed = (self._lo, self._hi)
        if final:
            self.result.span = (self._lo, self._hi)
        return {"ranges": ranges.to_list(), "server_count": server_count}

    def _flush(self, batch: list[MessageRow], *, final: bool) -> None:
        peers = self._new_peers()
        if not batch and not peers and not final:
            return
        checkpoint = self._checkpoint(final)
        counts = self.archive.import_rows(self.peer.id, batch, peers, checkpoint, exported_at=self.exported_at)
        self.result.counts.add(counts)

