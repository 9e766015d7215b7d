"""Fetching one chat's history into the archive: the gaps of its checkpoint, in parallel.

The same machinery fetches one **thread** (:class:`Thread`): a channel post's comments or a forum
topic, through ``messages.GetReplies`` — same pages, same ranges, a checkpoint of its own.

The checkpoint is an :class:`~tgx.fetch.ranges.IdRanges` of covered ids. A run fetches the gaps:
first the open top gap (new messages, newest first: its first page tells the newest id), then
every bounded gap, older holes left by an interrupted run included. Every request is
``messages.GetHistory`` with ``offset_id``/``min_id`` bounds, so a page covers a known id range
whatever the chat: ``min_id``/``offset_id`` filter the chat's *own* messages, correct for dense
ids (channels, supergroups) and for the account-wide id sequence that private chats and basic
groups share.

**Parallel ranges.** Gaps become ranges drained newest first by a pool of workers (at most
``concurrency``; the :class:`~tgx.telegram.pacing.Pacer` decides how many requests are really in flight).
A worker with nothing left steals the lower half of the busy range with the most *expected*
messages: expected = ids × the chat's density (messages per id, learned from every page). So a
dense channel splits into as many ranges as there are workers, while a private chat whose
messages are 1 in 500 ids is only split where a half would still hold a few pages: sparse
chats never pay for empty windows, and no static window size has to be guessed. A split
while the owner's request is in flight is safe: the owner drops what it got below its new
bound (the thief fetches it) and only covers its own part.

**Exactly once, whatever instant the process dies.** A page's messages and the id range they
cover are committed in one transaction (``Archive.upsert_batch``); ranges are only claimed for
pages whose messages are in that batch or an earlier one, and writes are applied in order by
one writer thread. Upserts make a page fetched twice harmless; a kill loses at most the
batches not yet committed, which the next run fetches again.

**CPU.** Answers arrive as raw bytes and are decoded into archive rows by a
:class:`~tgx.fetch.pages.PageDecoder` — in a worker process once the export has enough to fetch to
repay it, inline otherwise — then written in batches of ~:data:`FLUSH_MESSAGES` by a writer thread
(SQLite releases the GIL while it works), while the next request of the range is already in
flight. Peers (senders, forward sources) are written only when new or changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

import orjson
from telethon.tl import functions

from tgx.archive.records import MessageRow
from tgx.fetch.checkpoint import read_checkpoint, read_thread_checkpoint
from tgx.fetch.pages import DecodedPage, PageDecoder, keep_raw
from tgx.model import Peer
from tgx.run import RunContext
from tgx.telegram import adapter

PAGE = 100  # Telegram's maximum for messages.GetHistory
HISTORY_KINDS = ("GetHistoryRequest", "InvokeWithTakeoutRequest")  # pacer keys of history requests
THREAD_KINDS = ("GetRepliesRequest", "InvokeWithTakeoutRequest")  # ... and of a thread's
MIN_SPLIT_PAGES = 2  # a range is split only when each half should still hold this many pages
THREAD_RANGES = 3  # ranges of one thread at most: each split costs up to one short page
FLUSH_MESSAGES = 1000  # write a batch once this many messages are waiting ...
FLUSH_SECONDS = 0.5  # ... or once the oldest waiting page is this old
MAX_WRITES_IN_FLIGHT = 2  # batches handed to the writer thread and not yet committed
ROOM_POLL = 0.1  # seconds an idle worker waits before looking for a range to split again
GC_THRESHOLD = 20_000  # allocations between young-generation collections while fetching


@dataclass(slots=True)
class FetchOptions:
    since: datetime | None = None  # oldest message date to fetch
    until: datetime | None = None  # newest message date to fetch
    limit: int | None = None  # at most this many (newest) messages this run
    concurrency: int = 16  # history requests in flight at most (adaptive below it, see tgx.telegram.pacing)
    decode_workers: int | None = None  # tgx.fetch.pages worker processes (None: tgx.fetch.pages.default_workers())

    @property
    def filtered(self) -> bool:
        """--since/--until/--limit: fetched newest first, one range at a time."""
        return self.limit is not None or self.since is not None or self.until is not None


@dataclass(slots=True)
class FetchResult:
    fetched: int = 0  # messages written this run
    pages: int = 0
    server_count: int | None = None  # messages in the chat according to Telegram
    complete: bool = False  # every gap down to id 1 (or --since) is covered
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Thread:
    """Fetch one thread rather than the history: ``messages.GetReplies(peer, msg_id)``.

    The rows belong to the fetcher's chat (a discussion group for comments, the forum itself for
    a topic); the checkpoint is the thread's, keyed by the chat asked and ``msg_id``."""

    peer: Any  # the InputPeer asked: the channel (comments of its post), the forum (a topic)
    chat_id: int  # its marked id
    msg_id: int  # the post / the topic
    post: bool = False  # comments of a channel post: their root (never among them) is recorded


_NO_ROOM = object()  # _take(): there is work to split, but no free request slot for it now


@dataclass(slots=True, eq=False)
class _Range:
    """Ids ``lo..hi`` not fetched yet; its worker asks for ids <= ``hi`` next."""

    lo: int
    hi: int
    busy: bool = False

    @property
    def size(self) -> int:
        return self.hi - self.lo + 1


class HistoryFetcher:
    """Fetches one chat (see the module doc). ``await HistoryFetcher(...).run()``."""

    def __init__(
        self,
        run: RunContext,
        chat_id: int,
        input_peer: Any,  # a Telethon InputPeer* (Telethon ships no types)
        *,
        options: FetchOptions | None = None,
        on_progress: Callable[[int, int | None], None] | None = None,
        label: str | None = None,
        decoder: PageDecoder | None = None,
        on_chat: Callable[[Peer], None] | None = None,
        archived: int | None = None,
        thread: Thread | None = None,
        on_pts: Callable[[int], None] | None = None,
    ) -> None:
        runner, archive = run.runner, run.archive
        self.thread = thread
        self.runner = runner
        self.decoder = decoder if decoder is not None else PageDecoder(0)
        # Called with the chat's own peer as the first page shows it (even an empty page), before
        # anything is queued: it may raise to stop (tgx.export.conductor checks a cached username this way).
        self.on_chat = on_chat
        # Called with a channel's pts as its first page shows it, before any row of the page is
        # queued (tgx.sync stores it: every change after it is the catch-up's to find).
        self.on_pts = on_pts
        self._archived = archived  # messages of the chat in the archive at the start, if the caller knows
        self.archive = archive
        self.chat_id = chat_id
        self.input_peer = input_peer
        self.opts = options or FetchOptions()
        self.metrics = run.metrics
        self.on_progress = on_progress or (lambda _n, _total: None)
        self.label = label
        # committed: in the archive (checked against the archive's rows first)
        if thread is None:
            self.ranges, server_count = read_checkpoint(archive, chat_id, label=label or str(chat_id),
                                                        archived=archived)
        else:
            self.ranges, server_count = read_thread_checkpoint(archive, thread.chat_id, thread.msg_id,
                                                               label=label or str(thread.chat_id))
        self.result = FetchResult(server_count=server_count)
        client = run.client
        self.self_id = adapter.self_id(client)
        # Raw answers skip Telethon's own bookkeeping: its session learns the pages' users and
        # chats (access hashes, usernames) from us instead.
        self._session = getattr(client, "session", None)
        self._stop = False
        self._plan: list[_Range] = []
        self._msgs_seen = 0
        self._ids_seen = 0
        self._peers: dict[int, Peer] = {}
        # waiting to be written: messages, peers, covered ranges
        self._batch: list[MessageRow] = []
        self._batch_peers: list[Peer] = []
        self._batch_ranges: list[tuple[int, int]] = []
        self._batch_since = 0.0
        self._batch_pages = 0
        self._writes: list[asyncio.Future[None]] = []
        self._executor: ThreadPoolExecutor | None = None
        self._write_error: BaseException | None = None
        self.kinds = HISTORY_KINDS if thread is None else THREAD_KINDS
        for kind in self.kinds:
            runner.gate.manage(kind, maximum=max(1, self.opts.concurrency))

    # -- the plan ------------------------------------------------------------------------------
    async def run(self) -> FetchResult:
        with quiet_gc():
            return await self._run()

    async def _run(self) -> FetchResult:
        try:
            gaps = list(self.ranges.gaps())
            rest = await self._first_page(gaps[0][0])
            bounded = ([rest] if rest is not None else []) + [(lo, hi) for lo, hi in gaps[1:] if hi is not None]
            if bounded and not self._stop:
                if self.opts.filtered:
                    for lo, hi in bounded:
                        await self._drain(_Range(lo, hi, busy=True))
                        if self._stop:
                            break
                else:
                    await self._parallel(bounded)
        except BaseException:
            await self._finish_writes(raise_errors=False)  # the original error is the one to report
            raise
        await self._finish_writes(raise_errors=True)
        self.result.complete = not self._stop and not any(hi is not None for _lo, hi in self.ranges.gaps())
        return self.result

    async def _first_page(self, top_lo: int) -> tuple[int, int] | None:
        """The first page of the open top gap; returns the bounded rest of that gap (or None)."""
        # offset_date returns messages strictly older than it; --until is inclusive.
        until = self.opts.until
        offset_date = until + timedelta(seconds=1) if until is not None else None
        page, seconds = await self._request(0, top_lo - 1, offset_date)
        if self.on_chat is not None:  # before anything of the page is queued: it may stop us
            for peer in page.peers:
                if peer.id == self.chat_id:
                    self.on_chat(peer)
                    break
        if self.on_pts is not None and page.pts and self.thread is None:
            self.on_pts(page.pts)
        if not page.raw_count:
            if self.metrics is not None:
                self.metrics.record("fetch", seconds, items=0)
            return None
        newest, oldest = page.max_id, page.min_id
        assert newest is not None and oldest is not None  # a page with messages has both
        full = page.raw_count >= PAGE and oldest > top_lo
        self._accept(page, page.rows, page.raw_count, oldest if full else top_lo, newest, seconds)
        if self.result.server_count is None and page.raw_count < PAGE and top_lo <= 1:
            self.result.server_count = page.raw_count  # messages.Messages: the whole history, no count
        await self._backpressure()
        if self._stop or not full:
            return None
        self._expect_work()
        return (top_lo, oldest - 1)

    def _expect_work(self) -> None:
        """Tell the decoder how much is left to fetch, so it can start its workers if that pays."""
        decoder, count = self.decoder, self.result.server_count
        if decoder.workers and not decoder.started and count is not None and not self.opts.filtered:
            archived = self._archived if self._archived is not None else self.archive.count(self.chat_id)
            decoder.expect(count - archived - self.result.fetched - len(self._batch) - PAGE)

    async def _parallel(self, bounded: list[tuple[int, int]]) -> None:
        self._plan = [_Range(lo, hi) for lo, hi in bounded]
        ranges = max(1, self.opts.concurrency)
        if self.thread is not None:  # a topic or a post's comments: a few pages, rarely worth many ranges
            ranges = min(ranges, THREAD_RANGES)
        workers = [asyncio.ensure_future(self._worker()) for _ in range(ranges)]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _worker(self) -> None:
        while not self._stop:
            rng = self._take()
            if rng is _NO_ROOM:
                # Every request slot of the account is taken (other ranges, other chats): a split
                # now would only queue, and each split costs a short page. Look again shortly.
                await asyncio.sleep(ROOM_POLL)
                continue
            if rng is None:
                return
            try:
                await self._drain(rng)
            finally:
                rng.busy = False

    def _take(self) -> Any:
        """An idle range (the largest), else the lower half of the busy range expected to hold
        the most messages, if both halves are worth a worker and the pacer has a free slot for
        it (:data:`_NO_ROOM` if not); None: nothing left to start."""
        self._plan = [r for r in self._plan if r.hi >= r.lo]
        idle = [r for r in self._plan if not r.busy]
        if idle:
            rng = max(idle, key=lambda r: r.size)
            rng.busy = True
            return rng
        if not self._plan:
            return None
        # The owner's next page is already asked for: it covers about PAGE / density ids below
        # its top. Only what lies below that is shared out, so the page is not cut short.
        ahead = int(PAGE / self.density)
        victim = max(self._plan, key=lambda r: r.size - ahead)
        free = victim.size - ahead
        expected = free * self.density
        count = self.result.server_count
        if self.thread is not None and count is not None:
            # A thread's ids are a narrow band of the chat's: what lies below it is empty, so
            # expect no more than the server says are left.
            expected = min(expected, count - self._msgs_seen)
        if expected < 2 * MIN_SPLIT_PAGES * PAGE:
            return None
        if not self._has_room():
            return _NO_ROOM
        mid = victim.lo + free // 2 - 1
        thief = _Range(victim.lo, mid, busy=True)
        victim.lo = mid + 1
        self._plan.append(thief)
        return thief

    def _has_room(self) -> bool:
        gate = getattr(self.runner, "gate", None)
        has_room = getattr(gate, "has_room", None)
        return has_room is None or all(has_room(kind) for kind in self.kinds)

    @property
    def density(self) -> float:
        """Messages per id seen so far (1.0 before any page): how sparse the chat's ids are."""
        if self._ids_seen < PAGE:
            return 1.0
        return max(1e-6, min(1.0, self._msgs_seen / self._ids_seen))

    # -- one range, newest first, the next request always in flight -----------------------------
    async def _drain(self, rng: _Range) -> None:
        pending: asyncio.Future | None = asyncio.ensure_future(self._request(rng.hi + 1, rng.lo - 1))
        try:
            while pending is not None:
                page, seconds = await pending
                pending = None
                rows, seen = page.rows, page.raw_count
                top, lo = rng.hi, rng.lo  # lo may have been raised by a split meanwhile
                oldest = page.min_id if seen else lo
                if seen >= PAGE and oldest > lo:
                    cover_lo = oldest
                    rng.hi = oldest - 1
                    if not self._stop:
                        pending = asyncio.ensure_future(self._request(oldest, rng.lo - 1))
                else:  # the server had nothing more down to lo: the range is done
                    cover_lo = lo
                    rng.hi = lo - 1
                    if oldest < lo:  # below lo: a thief's part
                        rows = [r for r in rows if r[1] >= lo]
                        seen = len(rows)
                self._accept(page, rows, seen, cover_lo, top, seconds)
                await self._backpressure()
                if self._stop:
                    break
        finally:
            if pending is not None:
                _discard(pending)

    async def _request(self, offset_id: int, min_id: int,
                       offset_date: datetime | None = None) -> tuple[DecodedPage, float]:
        """One page, decoded; the seconds are the request's alone (decoding is ``normalize``)."""
        thread = self.thread
        if thread is None:
            request = keep_raw(functions.messages.GetHistoryRequest(
                peer=self.input_peer, offset_id=offset_id, offset_date=offset_date, add_offset=0,
                limit=PAGE, max_id=0, min_id=max(0, min_id), hash=0,
            ))
        else:
            request = keep_raw(functions.messages.GetRepliesRequest(
                peer=thread.peer, msg_id=thread.msg_id, offset_id=offset_id, offset_date=offset_date,
                add_offset=0, limit=PAGE, max_id=0, min_id=max(0, min_id), hash=0,
            ))
        started = perf_counter()
        answer = await self.runner(request, stage="fetch", chat=self.label)
        seconds = perf_counter() - started
        return await self.decoder.decode(answer, self.chat_id, self.self_id), seconds

    # -- convert, then hand to the writer ------------------------------------------------------
    def _accept(self, page: DecodedPage, rows: list[MessageRow], seen: int, cover_lo: int, cover_hi: int,
                seconds: float) -> None:
        """Queue a page's ``rows`` (``seen`` messages) covering ids ``cover_lo..cover_hi``."""
        if self.opts.filtered:
            rows, cover_lo, cover_hi = self._filter(rows, cover_lo, cover_hi)
        if page.count is not None:
            self.result.server_count = page.count
        peers = self._changed_peers(page)
        if cover_hi >= cover_lo:
            self._msgs_seen += seen
            self._ids_seen += cover_hi - cover_lo + 1
            self._batch_ranges.append((cover_lo, cover_hi))
        if not self._batch_pages:
            self._batch_since = perf_counter()
        self._batch += rows
        self._batch_peers += peers
        self._batch_pages += 1
        self.result.pages += 1
        if self.metrics is not None:
            self.metrics.record("fetch", seconds, items=page.raw_count)
            self.metrics.record("normalize", page.seconds, items=page.raw_count)
        if len(self._batch) >= FLUSH_MESSAGES or perf_counter() - self._batch_since >= FLUSH_SECONDS:
            self._submit()

    def _filter(self, rows: list[MessageRow], cover_lo: int, cover_hi: int) -> tuple[list[MessageRow], int, int]:
        """--since/--until/--limit on a page (newest first); narrows the covered range to what
        was stored, so a later run without filters fetches the rest."""
        since, until, limit = self.opts.since, self.opts.until, self.opts.limit
        since_ts = since.timestamp() if since is not None else None  # rows hold Unix seconds
        until_ts = until.timestamp() if until is not None else None
        queued = self.result.fetched + len(self._batch)
        out: list[MessageRow] = []
        skipped_above: int | None = None
        for row in rows:
            date = row[2]
            if until_ts is not None and date > until_ts:
                skipped_above = row[1] if skipped_above is None else min(skipped_above, row[1])
                continue
            if since_ts is not None and date < since_ts:
                self._stop = True
                break
            out.append(row)
            if limit is not None and queued + len(out) >= limit:
                self._stop = True
                break
        if skipped_above is not None:
            cover_hi = min(cover_hi, skipped_above - 1)
        if self._stop:
            cover_lo = min((r[1] for r in out), default=cover_hi + 1)
        return out, cover_lo, cover_hi

    def _changed_peers(self, page: DecodedPage) -> list[Peer]:
        if not page.peers:
            return []
        if self._session is not None and page.entities:
            self._session.process_entities(page.entities)
        known = self._peers
        changed = []
        for peer in page.peers:
            if known.get(peer.id) != peer:
                known[peer.id] = peer
                changed.append(peer)
        return changed

    # -- the writer thread ---------------------------------------------------------------------
    def _submit(self) -> None:
        """Hand the waiting pages to the writer: messages + peers + the checkpoint that claims
        exactly the ranges of this batch and the earlier ones, in one transaction."""
        if not self._batch_pages:
            return
        for lo, hi in self._batch_ranges:
            self.ranges.add(lo, hi)
        checkpoint = {"ranges": self.ranges.to_list(), "server_count": self.result.server_count}
        batch, peers = self._batch, self._batch_peers
        # Ascending ids: a sorted run fills fresh b-tree pages (pages come newest first, and rows
        # inserted in descending order leave SQLite's pages 40 % full: 2.3x the file, 2x the time).
        batch.sort(key=_by_id)
        self.result.fetched += len(batch)
        self._batch, self._batch_peers, self._batch_ranges, self._batch_pages = [], [], [], 0
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tgx-archive")
        loop = asyncio.get_running_loop()
        self._writes.append(loop.run_in_executor(self._executor, self._write, batch, peers, checkpoint, loop))

    def _write(self, batch: list[MessageRow], peers: list[Peer], checkpoint: dict[str, Any],
               loop: asyncio.AbstractEventLoop) -> None:
        """(writer thread) One transaction; after a failure nothing later is written, since a
        later checkpoint would claim the failed batch's ranges. Progress is reported only now,
        once the batch is committed (on the event loop's thread)."""
        if self._write_error is not None:
            raise self._write_error
        started = perf_counter()
        thread = self.thread
        try:
            if thread is None:
                self.archive.upsert_rows(self.chat_id, batch, peers, checkpoint)
            else:
                roots = _roots_of(batch, thread) if thread.post else ()
                self.archive.upsert_rows(self.chat_id, batch, peers, checkpoint,
                                         thread=(thread.chat_id, thread.msg_id), roots=roots)
        except BaseException as exc:
            self._write_error = exc
            raise
        if self.metrics is not None:
            self.metrics.record("archive", perf_counter() - started, items=len(batch))
        if batch:
            with contextlib.suppress(RuntimeError):  # the loop closed: nobody is watching any more
                loop.call_soon_threadsafe(self.on_progress, len(batch), checkpoint.get("server_count"))

    async def _backpressure(self, limit: int = MAX_WRITES_IN_FLIGHT) -> None:
        while len(self._writes) > limit:
            await self._writes.pop(0)

    async def _finish_writes(self, *, raise_errors: bool) -> None:
        """Commit what was converted, even when stopping on an error (its ranges are valid),
        then wait for the writer thread: nothing may write after run() returns."""
        try:
            if self._write_error is None:
                self._submit()
            writes, self._writes = self._writes, []
            if writes:
                await asyncio.gather(*writes, return_exceptions=True)
            if raise_errors and self._write_error is not None:
                raise self._write_error
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None


_gc_fetches = 0
_gc_saved: tuple[int, int, int] = (700, 10, 10)


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Fewer cyclic-GC passes while fetching: every page allocates thousands of short-lived
    objects, and with the default thresholds the collector re-scans everything the process
    holds (Telethon's TL classes, the modules) every few pages — 10-15 % of the CPU of a fast
    export, measured (rendering gains ~10 % too). Objects alive at the start are frozen out of
    the scans; the settings are restored when the last concurrent user leaves."""
    global _gc_fetches, _gc_saved
    if _gc_fetches == 0:
        _gc_saved = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(max(_gc_saved[0], GC_THRESHOLD), *_gc_saved[1:])
    _gc_fetches += 1
    try:
        yield
    finally:
        _gc_fetches -= 1
        if _gc_fetches == 0:
            gc.set_threshold(*_gc_saved)
            gc.unfreeze()


def _roots_of(rows: list[MessageRow], thread: Thread) -> list[tuple[int, int, int]]:
    """The root of a post's comments, as they name it: ``reply_to_top_id`` (answering a comment)
    or ``reply_to_id`` (answering the post) — the discussion group's copy of the post."""
    tops: set[int] = set()
    for row in rows:
        d = orjson.loads(row[5])
        top = d.get("reply_to_top_id") or d.get("reply_to_id")
        if top and d.get("reply_to_peer_id") is None:
            tops.add(top)
    return [(top, thread.chat_id, thread.msg_id) for top in sorted(tops)]


def _by_id(row: MessageRow) -> int:
    return row[1]


def _discard(task: asyncio.Future) -> None:
    """Cancel a prefetch nobody will read; an error it already had is consumed, not logged."""
    if task.done():
        if not task.cancelled():
            task.exception()
    else:
        task.cancel()


__all__ = ["FetchOptions", "FetchResult", "HistoryFetcher", "PAGE", "Thread", "quiet_gc"]
