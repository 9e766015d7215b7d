"""A chat's checkpoint as the fetcher reads it back: checked, and repaired where it cannot be true.

The checkpoint (``{"ranges": [[lo, hi], ...], "server_count": N}``, committed with each batch)
says which ids are in the archive. Two ways it can be wrong, each found here, warned about in one
line naming the chat, and repaired so that the fetch that follows gets the missing messages again
(rows already archived are replaced, never duplicated):

* **unreadable** — invalid JSON, or well-formed with the wrong shape: the checkpoint is dropped
  and the whole history fetched again;
* **rows missing under it** — the archive's per-block row counts
  (:meth:`tgx.archive.store.Archive.missing_rows`) show fewer rows than were written: those
  blocks stop being claimed (in the archive too, at once, so a kill before the refetch cannot
  hide the gap again).
"""

from __future__ import annotations

from typing import Any

from tgx import console
from tgx.archive.store import BLOCK_SHIFT, Archive
from tgx.fetch.ranges import IdRanges


def read_checkpoint(archive: Archive, chat_id: int, *, label: str, archived: int | None = None,
                    warn: console.Warn = console.warn) -> tuple[IdRanges, int | None]:
    """The chat's covered ranges and the server's message count, as far as they can be trusted."""
    try:
        state = archive.checkpoint(chat_id)
        ranges, server_count = parse_checkpoint(state)
    except ValueError as exc:
        warn(f"{label}: its checkpoint in the archive is unreadable ({exc}): dropped; the history is "
             "fetched again (archived messages are replaced, never duplicated)")
        return IdRanges(), None
    holes = archive.missing_rows(chat_id, archived) if ranges.top else []
    if holes:
        missing = sum(n for _lo, _hi, n in holes)
        where = ", ".join(f"{lo}–{hi}" for lo, hi, _n in holes[:3]) + (" …" if len(holes) > 3 else "")
        warn(f"{label}: {missing:,} archived message(s) are missing from the archive (ids {where}): "
             "fetching them again")
        for lo, hi, _n in holes:
            ranges.remove(lo, hi)
        archive.forget_rows(chat_id, {"ranges": ranges.to_list(), "server_count": server_count},
                            blocks=[lo >> BLOCK_SHIFT for lo, _hi, _n in holes])
    return ranges, server_count


def read_thread_checkpoint(archive: Archive, chat_id: int, thread: int, *, label: str,
                           warn: console.Warn = console.warn) -> tuple[IdRanges, int | None]:
    """One thread's covered ranges and message count (a post's comments, a forum topic); an
    unreadable one is dropped with a warning, so the thread is fetched again."""
    try:
        return parse_checkpoint(archive.thread_checkpoint(chat_id, thread))
    except ValueError as exc:
        warn(f"{label}: the checkpoint of its thread {thread} is unreadable ({exc}): dropped; the thread is "
             "fetched again (archived messages are replaced, never duplicated)")
        return IdRanges(), None


def parse_checkpoint(state: Any) -> tuple[IdRanges, int | None]:
    """A checkpoint as stored (decoded JSON) → its ranges and server count; ValueError naming
    what is wrong when it has the wrong shape."""
    if state is None:
        return IdRanges(), None
    if not isinstance(state, dict):
        raise ValueError(f"a {type(state).__name__}, not an object")
    raw = state.get("ranges", [])
    if not isinstance(raw, list):
        raise ValueError("ranges is not a list")
    for pair in raw:
        if (not isinstance(pair, list) or len(pair) != 2 or not all(type(v) is int for v in pair)
                or not 1 <= pair[0] <= pair[1]):
            raise ValueError(f"range {pair!r} is not [lo, hi]")
    server_count = state.get("server_count")
    if server_count is not None and type(server_count) is not int:
        raise ValueError("server_count is not a whole number")
    return IdRanges(raw), server_count


__all__ = ["parse_checkpoint", "read_checkpoint", "read_thread_checkpoint"]
