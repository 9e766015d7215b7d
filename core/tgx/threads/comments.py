"""``tgx export CHANNEL --comments``: the comments of a channel's posts, from its discussion group.

Cost grows with the comments, not the posts:

* **readable group** (public, or the account is a member): its history is fetched as a chat —
  parallel ranges, pacing, decode workers, resume, incremental — by :class:`HistoryFetcher`. A
  rerun fetches only the group's new ids, which are exactly the new comments, on new posts and on
  old ones alike. The archive links each comment to its post through the thread root (the group's
  auto-forwarded copy of the post: ``forward.saved_from_peer`` / ``saved_from_msg_id``).
* **private group** (``GetHistory`` answers CHANNEL_PRIVATE): ``messages.GetReplies(channel,
  post)`` for the posts whose ``replies`` say they have comments, each a thread with a checkpoint
  of its own; a rerun asks only the posts whose ``replies_max_id`` grew past what was fetched (as
  the pages this run fetched, or ``--refresh-edits``, show it) and threads left unfinished.

Posts of a channel without a discussion group cost one ``GetFullChannel``, nothing per post.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from tgx.archive.threads import DISCUSSION
from tgx.errors import ChatNotFound
from tgx.fetch.checkpoint import parse_checkpoint
from tgx.fetch.history import FetchOptions, FetchResult, HistoryFetcher, Thread
from tgx.fetch.pages import PageDecoder
from tgx.run import RunContext
from tgx.specs import ResolvedPeer
from tgx.sync.difference import catch_up_channel, record_first_pts
from tgx.telegram import adapter
from tgx.telegram.discussion import linked_group

THREADS_AT_ONCE = 8  # posts' threads fetched at a time through GetReplies (the pacer still decides)


@dataclass(slots=True)
class CommentsResult:
    group: ResolvedPeer | None = None  # the discussion group (None: the channel has none)
    readable: bool = True  # fetched as a chat (else through GetReplies, post by post)
    fetch: FetchResult = field(default_factory=FetchResult)  # what was fetched this run
    threads: int = 0  # posts asked through GetReplies this run


async def fetch_comments(run: RunContext, channel: ResolvedPeer, *, options: FetchOptions,
                         decoder: PageDecoder | None = None, fetched: Callable[[int], bool] = lambda _id: False,
                         adopt: Callable[[ResolvedPeer], None] | None = None) -> CommentsResult:
    """Fetch the comments of ``channel`` (a broadcast channel whose own history this run has
    already fetched). ``fetched(chat_id)``: whether this run fetches that chat anyway (a group
    named on the command line is not fetched twice); ``adopt(group)`` records the group as a
    chat of the export (it may refuse by raising)."""
    label = channel.peer.folder_name
    found = await linked_group(run.runner, channel.input_peer, label=label)
    result = CommentsResult()
    if found is None:
        return result
    group, readable = found.group, found.readable
    result.group = group
    if adopt is not None:
        adopt(group)
    archive = run.archive
    opts = replace(options, limit=None)  # --limit counts posts, not comments
    if readable and not fetched(group.peer.id):
        archive.set_threaded(group.peer.id, DISCUSSION, channel.peer.id, readable=True)
        try:
            result.fetch = await _fetch_group(run, group, opts, decoder)
            return result
        except ChatNotFound:
            if result.fetch.pages:
                raise
            readable = False  # a group the account left: only its threads can be read
    if readable:  # fetched as a chat of its own this run: only the links are ours
        archive.set_threaded(group.peer.id, DISCUSSION, channel.peer.id, readable=True)
        return result
    result.readable = False
    archive.set_threaded(group.peer.id, DISCUSSION, channel.peer.id, readable=False)
    result.fetch, result.threads = await _fetch_threads(run, channel, group, opts, decoder)
    return result


async def _fetch_group(run: RunContext, group: ResolvedPeer, options: FetchOptions,
                       decoder: PageDecoder | None) -> FetchResult:
    label = group.peer.folder_name
    archived = run.archive.count(group.peer.id)
    run.progress.add_chat(label, archived)
    # comments edited or deleted since the last run, exactly (a discussion group is a supergroup)
    caught = await catch_up_channel(run, group.peer.id, group.input_peer, label=label,
                                    self_id=adapter.self_id(run.client))
    if caught.how in ("difference", "rescan"):
        run.progress.stage(caught.summary(label))
    fetcher = HistoryFetcher(run, group.peer.id, group.input_peer, options=options, label=label, decoder=decoder,
                             on_progress=lambda n, total: run.progress.advance(label, n, total), archived=archived,
                             on_pts=lambda pts: record_first_pts(run, group.peer.id, pts))
    return await fetcher.run()


def posts_to_ask(run: RunContext, channel_id: int) -> Iterator[int]:
    """Posts whose thread is worth a GetReplies: comments announced (``replies > 0``) and either
    never fetched, left unfinished, or with a ``replies_max_id`` above what was fetched.
    Streams the channel's rows; the thread checkpoints are read per window of posts."""
    archive = run.archive
    for rows in archive.iter_records(channel_id, batch_size=1000):
        announced = []
        for msg_id, data, deleted in rows:
            if deleted or b'"replies":null' in data or b'"replies":0,' in data:
                continue  # the cheap test first: most posts of most channels have no comments
            d = orjson.loads(data)
            if d.get("replies"):
                announced.append((msg_id, d.get("replies_max_id")))
        if not announced:
            continue
        states = archive.thread_checkpoints(channel_id, announced[0][0], announced[-1][0])
        for post, newest in announced:
            if _needs_fetch(states.get(post), newest):
                yield post


def _needs_fetch(state: Any, newest: int | None) -> bool:
    if state is None:
        return True
    try:
        ranges, _count = parse_checkpoint(state)
    except ValueError:
        return True
    if any(hi is not None for _lo, hi in ranges.gaps()):
        return True  # a thread left unfinished
    return newest is not None and newest > (ranges.top or 0)


async def _fetch_threads(run: RunContext, channel: ResolvedPeer, group: ResolvedPeer, options: FetchOptions,
                         decoder: PageDecoder | None) -> tuple[FetchResult, int]:
    """GetReplies thread by thread, :data:`THREADS_AT_ONCE` at a time."""
    label = group.peer.folder_name
    run.progress.add_chat(label, run.archive.count(group.peer.id))
    total = FetchResult(complete=True)
    posts = posts_to_ask(run, channel.peer.id)
    # The same options: --concurrency is also the pacer's ceiling for GetReplies (shared by every
    # thread), and a thread too short to split never starts more than one range.
    asked = 0

    async def worker() -> None:
        nonlocal asked
        for post in posts:  # one shared iterator: each post is taken by one worker
            asked += 1
            fetcher = HistoryFetcher(
                run, group.peer.id, group.input_peer, options=options, label=label, decoder=decoder,
                on_progress=lambda n, _total: run.progress.advance(label, n),
                thread=Thread(channel.input_peer, channel.peer.id, post, post=True), archived=0)
            result = await fetcher.run()
            total.fetched += result.fetched
            total.pages += result.pages
            total.complete = total.complete and result.complete

    async with asyncio.TaskGroup() as group_of_workers:  # one failure stops the others
        for _ in range(THREADS_AT_ONCE):
            group_of_workers.create_task(worker())
    return total, asked


__all__ = ["CommentsResult", "fetch_comments", "posts_to_ask"]
