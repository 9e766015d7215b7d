"""``--refresh-edits DAYS``: re-check the recent past of a chat for edits and deletions.

Incremental sync fetches only ids the checkpoint does not cover, so an edit or a deletion of a
message that is already archived is never seen. This pass re-reads the newest DAYS days of the
chat from Telegram — the window ends at the newest *archived* message, so it is the same for a
chat that posted today and for one that went quiet a year ago — and compares page by page:

* a message whose content changed (text, entities, edit date, reactions, views …) replaces its
  row (``Archive.upsert_batch``: same key, new data);
* an archived message of the window that Telegram no longer returns is flagged deleted
  (``Archive.mark_deleted``): it stays in the archive and every format renders it as deleted;
* a message that is not archived (outside ``--since``/``--limit``, or above the newest archived
  id) is left alone: a refresh never widens what was exported, and new messages are the normal
  fetch's job (which runs first).

Why pages make deletions certain: ``messages.GetHistory`` lists every existing message between
two ids, so an archived id inside the id span a page covers that is missing from the page is gone.
Each page is committed on its own; an interrupted refresh is simply done again next time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

from telethon.tl import functions, types

from tgx.fetch.history import PAGE
from tgx.fetch.normalize import convert_message, convert_peer
from tgx.model import Message
from tgx.run import RunContext

DEFAULT_DAYS = 7


@dataclass(slots=True)
class RefreshResult:
    window_start: datetime | None = None
    checked: int = 0  # archived messages of the window compared with Telegram
    updated: int = 0  # rows replaced because something changed
    edited: int = 0  # ... of which the text or the edit date changed
    deleted: int = 0  # rows newly flagged deleted
    restored: int = 0  # rows flagged deleted before that Telegram returns again
    pages: int = 0

    def summary(self, days: int | None) -> str:
        window = f"the last {days} days" if days is not None else "the archived history"
        return (f"re-checked {self.checked} messages of {window}: {self.edited} edited, "
                f"{self.updated - self.edited} otherwise changed, {self.deleted} deleted")


def _comparable(m: Message) -> dict[str, Any]:
    """What Telegram can change about a message: the archive's own bookkeeping (deletion flag and
    stamp, earlier versions) left out."""
    d = m.to_dict()
    for key in ("deleted", "deleted_at", "history"):
        d.pop(key, None)
    return d


async def refresh_recent(run: RunContext, chat_id: int, input_peer: Any, *, days: int | None,
                         label: str | None = None, note: Callable[[str], None] | None = None) -> RefreshResult:
    """Re-check the last ``days`` days (before the newest archived message) of one chat; ``None``:
    all of it (the fallback of a catch-up Telegram can no longer answer, :mod:`tgx.sync`)."""
    runner, archive, metrics = run.runner, run.archive, run.metrics
    result = RefreshResult()
    newest_id = archive.max_id(chat_id)
    newest = archive.message(chat_id, newest_id) if newest_id is not None else None
    if newest is None:
        return result
    window_start = newest.date - timedelta(days=days) if days is not None else None
    result.window_start = window_start
    started = perf_counter()
    span_hi = newest.id
    while True:
        request = functions.messages.GetHistoryRequest(
            peer=input_peer, offset_id=span_hi + 1, offset_date=None, add_offset=0, limit=PAGE,
            max_id=0, min_id=0, hash=0)
        resp = await runner(request, stage="fetch", chat=label)
        raw = [m for m in resp.messages if not isinstance(m, types.MessageEmpty)]
        full = len(resp.messages) >= PAGE
        ids = [m.id for m in raw]
        # The id span this page speaks for: down to its oldest message, or to the start of the
        # chat when the history ended here.
        span_lo = min(ids) if (full and ids) else 1
        fresh = {}
        for m in raw:
            converted = convert_message(m, chat_id)
            if converted is not None:
                fresh[converted.id] = converted
        changed: list[Message] = []
        gone: list[int] = []
        for batch in archive.iter_messages(chat_id, min_id=span_lo, max_id=span_hi):
            for old in batch:
                if window_start is not None and old.date < window_start:
                    continue
                result.checked += 1
                new = fresh.get(old.id)
                if new is None:
                    if old.id not in ids and not old.deleted:
                        gone.append(old.id)
                    continue
                if old.deleted:
                    result.restored += 1
                    changed.append(new)
                elif _comparable(old) != _comparable(new):
                    changed.append(new)
                    if old.edit_date != new.edit_date or old.text != new.text:
                        result.edited += 1
        result.updated += len(changed)
        if changed:
            peers = [convert_peer(e) for e in (*getattr(resp, "users", ()), *getattr(resp, "chats", ()))]
            archive.upsert_batch(chat_id, changed, peers)
        if gone:
            result.deleted += archive.mark_deleted(chat_id, gone)
        result.pages += 1
        oldest = min((m.date for m in fresh.values()), default=None)
        if not full or span_lo <= 1 or (window_start is not None and oldest is not None and oldest < window_start):
            break
        span_hi = span_lo - 1
    if metrics is not None:
        metrics.record("refresh", perf_counter() - started, items=result.checked)
        metrics.incr("refresh_updated", result.updated)
        metrics.incr("refresh_deleted", result.deleted)
    if note is not None:
        note(f"{label or chat_id}: {result.summary(days)}")
    return result


__all__ = ["DEFAULT_DAYS", "RefreshResult", "refresh_recent"]
