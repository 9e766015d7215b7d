"""Applying Telegram's changes — new, edited and deleted messages — to the archive.

One place for the rules, shared by the catch-up (:mod:`tgx.sync.difference`) and ``tgx watch``:

* a **new** message is archived like a fetched one (the history fetch that follows finds it
  archived already: same row, nothing doubled);
* an **edit** replaces the archived row — the archive keeps the version it replaces — but only
  for a message the archive holds: a change never widens what was exported (``--since``,
  ``--limit``);
* a **deletion** flags the archived message (it is never removed), stamped with when tgx learned
  it — Telegram's deletion updates carry no date.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tgx.archive.store import Archive
from tgx.fetch.normalize import convert_message, convert_peers
from tgx.model import Message, Peer

__all__ = ["Applied", "Change", "apply_deletions", "apply_messages"]


@dataclass(frozen=True, slots=True)
class Change:
    """One applied change, as ``tgx watch --json`` prints it."""

    kind: str  # "new" | "edit" | "delete"
    chat_id: int
    id: int
    date: datetime | None  # the message's date (new), its edit date (edit), when tgx learned it (delete)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "chat": self.chat_id, "id": self.id,
                "date": self.date.isoformat() if self.date else None}


@dataclass(slots=True)
class Applied:
    """What a batch of changes did to the archive."""

    new: int = 0
    edited: int = 0
    deleted: int = 0
    changes: list[Change] = field(default_factory=list)
    rescanned: bool = False  # a re-scan changed rows it does not list one by one (changes is partial)
    touched: list[tuple[int, int]] = field(default_factory=list)  # (chat, id): only views, reactions, counts
    renamed: bool = False  # a sender or chat shows a new name: pages that only name it are stale too

    def add(self, other: Applied) -> None:
        self.new += other.new
        self.edited += other.edited
        self.deleted += other.deleted
        self.changes += other.changes
        self.touched += other.touched
        self.rescanned = self.rescanned or other.rescanned
        self.renamed = self.renamed or other.renamed

    def summary(self) -> str:
        return f"{self.new:,} new, {self.edited:,} edited, {self.deleted:,} deleted"


def apply_messages(archive: Archive, chat_id: int, raws: Iterable[Any], entities: Sequence[Any] = (), *,
                   self_id: int | None = None, edits: bool = False) -> Applied:
    """Archive TL messages of ``chat_id`` that Telegram reported as new (``edits=False``) or
    edited (``edits=True``; only those the archive holds). Peers of the answer go along."""
    applied = Applied()
    batch: list[Message] = []
    for raw in raws:
        m = convert_message(raw, chat_id, self_id)
        if m is None:
            continue
        old = archive.message(chat_id, m.id)
        if edits and old is None:
            continue  # not exported (--since / --limit): an edit does not widen the export
        if old is not None and _same(old, m):
            continue  # already applied (a re-run of the same catch-up, or the fetch got it first)
        batch.append(m)
        if old is not None and _same(old, m, counters=False):
            applied.touched.append((chat_id, m.id))  # views, reactions, reply counts: kept current, not an edit
            continue
        if old is None:
            applied.new += 1
            applied.changes.append(Change("new", chat_id, m.id, m.date))
        else:
            applied.edited += 1
            applied.changes.append(Change("edit", chat_id, m.id, m.edit_date or m.date))
    peers = convert_peers(entities)
    applied.renamed = _renamed(archive, peers)
    if batch:
        archive.upsert_batch(chat_id, batch, peers)
    elif applied.renamed:
        archive.upsert_peers(peers)
    return applied


def _renamed(archive: Archive, peers: Sequence[Peer]) -> bool:
    """Whether any of ``peers`` is archived under another name or username (a min peer without a
    title proves nothing)."""
    for p in peers:
        old = archive.peer(p.id)
        if old is None or not p.title:
            continue
        if p.title != old.title or (p.username is not None and p.username != old.username):
            return True
    return False


def apply_pins(archive: Archive, chat_id: int, ids: Iterable[int], *, pinned: bool) -> Applied:
    """Pin or unpin the archived messages among ``ids`` (Telegram's ``updatePinned…Messages``):
    kept current like a counter — not an edit, no event — and named in ``touched`` for a refresh."""
    applied = Applied()
    changed = []
    for i in ids:
        old = archive.message(chat_id, i)
        if old is not None and old.pinned != pinned:
            old.pinned = pinned
            changed.append(old)
    if changed:
        archive.upsert_batch(chat_id, changed)
        applied.touched = [(chat_id, m.id) for m in changed]
    return applied


def apply_deletions(archive: Archive, chat_id: int, ids: Iterable[int], *, at: datetime | None = None) -> Applied:
    """Flag the archived messages among ``ids`` deleted (those already flagged are left alone)."""
    when = at or datetime.now(UTC)
    gone = []
    for i in ids:
        old = archive.message(chat_id, i)
        if old is not None and not old.deleted:
            gone.append(i)
    applied = Applied()
    if gone:
        archive.mark_deleted(chat_id, gone, at=when)
        applied.deleted = len(gone)
        applied.changes = [Change("delete", chat_id, i, when) for i in gone]
    return applied


COUNTERS = ("views", "forwards", "replies", "replies_max_id", "reactions", "pinned")  # change without an edit


def _same(old: Message, new: Message, *, counters: bool = True) -> bool:
    """The stored message already is this version (history and deletion stamps aside; with
    ``counters=False``, its views, reactions and reply counts too)."""
    a, b = old.to_dict(), new.to_dict()
    ignored = ("history", "deleted_at", "deleted") + (() if counters else COUNTERS)
    for d in (a, b):
        for key in ignored:
            d.pop(key, None)
        media = d.get("media")
        if isinstance(media, dict):
            media.pop("path", None)
    return a == b
