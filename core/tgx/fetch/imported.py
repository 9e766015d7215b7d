"""``--refetch-imported``: the messages a ``tgx import`` archived, fetched again from Telegram.

An imported message is covered by the chat's checkpoint like a fetched one (a Telegram Desktop
export is complete between its oldest and newest message), so a normal export never asks for it
again. This pass takes the runs of imported rows out of the checkpoint — a run: imported ids with
no row from Telegram between them — so that the history fetch asks for them as gaps, with the
same pages, workers and transactions as any gap: each row Telegram returns replaces the imported
one (with the views, reactions and file references an export lacks; a version is kept only when
its text or edit date changed, :func:`tgx.archive.records.text_changed`), and the mark goes with it.

An imported id that the fetch did not get back although its range is covered again no longer
exists on Telegram: it is flagged deleted (:meth:`tgx.archive.store.Archive.mark_deleted`),
never removed. A fetch that stops half-way leaves the rest as gaps, which the next export fetches.
"""

from __future__ import annotations

from tgx.archive.store import Archive
from tgx.fetch.checkpoint import parse_checkpoint
from tgx.fetch.ranges import IdRanges

__all__ = ["imported_runs", "mark_gone", "release_imported"]


def imported_runs(archive: Archive, chat_id: int) -> list[tuple[int, int]]:
    """``[lo, hi]`` runs of the chat's imported rows (not deleted) with no other row between them."""
    runs: list[list[int]] = []
    open_run = False
    for msg_id, imported in archive.iter_import_marks(chat_id):
        if not imported:
            open_run = False
        elif open_run:
            runs[-1][1] = msg_id
        else:
            runs.append([msg_id, msg_id])
            open_run = True
    return [(lo, hi) for lo, hi in runs]


def release_imported(archive: Archive, chat_id: int) -> list[tuple[int, int]]:
    """Stop claiming the chat's imported runs in its checkpoint (one transaction); returns them."""
    runs = imported_runs(archive, chat_id)
    if not runs:
        return []
    try:
        ranges, server_count = parse_checkpoint(archive.checkpoint(chat_id))
    except ValueError:
        return runs  # an unreadable checkpoint: the fetcher drops it and fetches everything anyway
    for lo, hi in runs:
        ranges.remove(lo, hi)
    archive.set_checkpoint(chat_id, {"ranges": ranges.to_list(), "server_count": server_count})
    return runs


def mark_gone(archive: Archive, chat_id: int, runs: list[tuple[int, int]]) -> int:
    """After the fetch: imported rows of ``runs`` still imported where the checkpoint covers them
    again were not returned by Telegram — flag them deleted. Returns how many."""
    if not runs:
        return 0
    try:
        ranges, _count = parse_checkpoint(archive.checkpoint(chat_id))
    except ValueError:
        ranges = IdRanges()
    lo, hi = runs[0][0], runs[-1][1]
    gone = [i for i in archive.imported_ids(chat_id) if lo <= i <= hi and ranges.covers(i)]
    return archive.mark_deleted(chat_id, gone) if gone else 0
