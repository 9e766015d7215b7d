"""Fetching one chat's history into the archive: gaps of the checkpoint, parallel windows.

The checkpoint is an :class:`~tgx.ranges.IdRanges` of covered ids. A run fetches the gaps:
first the open top gap (new messages, newest first), then older holes left by an interrupted
run. A large hole is split into id windows fetched concurrently (``messages.GetHistory`` with
``offset_id``/``min_id`` bounds), each page committed with the updated ranges in one
transaction. Windows are correct for every chat type: ``min_id``/``offset_id`` filter the
chat's own messages, so a sparse id space (basic groups, private chats) only costs empty pages.

While a page is converted and committed, the next request of its window is already in
flight, so one window is never idle on the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from time import perf_counter
from typing import Any

from telethon.tl import functions

from .convert import convert_message, convert_peer
from .ranges import IdRanges

PAGE = 100  # Telegram's maximum for messages.GetHistory


@dataclass(slots=True)
class FetchOptions:
    since: datetime | None = None  # oldest message date to fetch
    until: datetime | None = None  # newest message date to fetch
    limit: int | None = None  # at most this many (newest) messages this run
    concurrency: int = 4  # windows in flight at once
    window: int = 5_000  # ids per window (dense chats: 50 pages)


@dataclass(slots=True)
class FetchResult:
    fetched: int = 0  # messages written this run
    pages: int = 0
    server_count: int | None = None  # messages in the chat according to Telegram
    complete: bool = False  # every gap down to id 1 (or --since) is covered
    errors: list[str] = field(default_factory=list)


class _Stop(Exception):
    """A filter (--since/--limit) says no older message is wanted."""


class HistoryFetcher:
    def __init__(
        self,
        runner: Any,  # tgx.calls.RequestRunner
        archive: Any,  # tgx.archive.Archive
        chat_id: int,
        input_peer: Any,
        *,
        options: FetchOptions | None = None,
        metrics: Any = None,
        on_progress: Callable[[int, int | None], None] | None = None,
        label: str | None = None,
    ) -> None:
        self.runner = runner
        self.archive = archive
        self.chat_id = chat_id
        self.input_peer = input_peer
        self.opts = options or FetchOptions()
        self.metrics = metrics
        self.on_progress = on_progress or (lambda _n, _total: None)
        self.label = label
        state = archive.checkpoint(chat_id) or {}
        self.ranges = IdRanges(state.get("ranges", ()))
        self.result = FetchResult(server_count=state.get("server_count"))
        self._stop = False

    # -- the plan ------------------------------------------------------------------------------
    async def run(self) -> FetchResult:
        sequential = self.opts.limit is not None or self.opts.since is not None or self.opts.until is not None
        gaps = list(self.ranges.gaps())
        top_lo, _ = gaps[0]
        # The top gap is open-ended: its first page tells the newest id, then it is a bounded gap.
        first = await self._page(offset_id=0, min_id=top_lo - 1, first_in_top=True)
        bounded: list[tuple[int, int]] = []
        if first is not None and first[1] is not None:
            bounded.append(first)  # type: ignore[arg-type]
        bounded += [(lo, hi) for lo, hi in gaps[1:] if hi is not None]
        if not self._stop:
            if sequential:
                for lo, hi in bounded:
                    await self._fetch_range(lo, hi)
                    if self._stop:
                        break
            else:
                await self._fetch_windows(bounded)
        self.result.complete = not self._stop and not any(hi is not None for _lo, hi in self.ranges.gaps())
        return self.result

    async def _fetch_windows(self, gaps: list[tuple[int, int]]) -> None:
        windows: list[tuple[int, int]] = []
        for lo, hi in gaps:
            w_hi = hi
            while w_hi >= lo:
                w_lo = max(lo, w_hi - self.opts.window + 1)
                windows.append((w_lo, w_hi))
                w_hi = w_lo - 1
        queue: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        for w in windows:
            queue.put_nowait(w)

        async def worker() -> None:
            while not queue.empty():
                lo, hi = queue.get_nowait()
                await self._fetch_range(lo, hi)

        workers = [asyncio.create_task(worker()) for _ in range(max(1, min(self.opts.concurrency, len(windows))))]
        try:
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()

    # -- one bounded range, newest first, one request always in flight -------------------------
    async def _fetch_range(self, lo: int, hi: int) -> None:
        """Fetch ids in ``[lo, hi]``; covered ranges are committed page by page."""
        offset = hi + 1
        pending = asyncio.ensure_future(self._request(offset, lo - 1))
        try:
            while pending is not None:
                resp, seconds = await pending
                msgs = resp.messages
                pending = None
                page_lo = msgs[-1].id if len(msgs) >= PAGE else lo
                if len(msgs) >= PAGE and msgs[-1].id > lo and not self._stop:
                    pending = asyncio.ensure_future(self._request(msgs[-1].id, lo - 1))
                self._commit(resp, msgs, page_lo, offset - 1, seconds)
                if self._stop:
                    break
                offset = page_lo
        finally:
            if pending is not None:
                pending.cancel()

    async def _page(self, *, offset_id: int, min_id: int, first_in_top: bool) -> tuple[int, int | None] | None:
        """The first page of the open top gap; returns the bounded rest of that gap."""
        # offset_date returns messages strictly older than it; --until is inclusive.
        until = self.opts.until
        offset_date = until + timedelta(seconds=1) if first_in_top and until is not None else None
        resp, seconds = await self._request(offset_id, min_id, offset_date=offset_date)
        msgs = resp.messages
        if not msgs:
            return None
        newest = max(m.id for m in msgs)
        page_lo = msgs[-1].id if len(msgs) >= PAGE else min_id + 1
        self._commit(resp, msgs, page_lo, newest, seconds)
        if self._stop or page_lo <= min_id + 1:
            return None
        return (min_id + 1, page_lo - 1)

    async def _request(self, offset_id: int, min_id: int, offset_date: datetime | None = None):
        request = functions.messages.GetHistoryRequest(
            peer=self.input_peer, offset_id=offset_id, offset_date=offset_date, add_offset=0,
            limit=PAGE, max_id=0, min_id=max(0, min_id), hash=0,
        )
        started = perf_counter()
        resp = await self.runner(request, stage="fetch", chat=self.label)
        return resp, perf_counter() - started

    # -- convert + commit ----------------------------------------------------------------------
    def _commit(self, resp: Any, msgs: list[Any], page_lo: int, page_hi: int, seconds: float) -> None:
        started = perf_counter()
        chat_id = self.chat_id
        since, until, limit = self.opts.since, self.opts.until, self.opts.limit
        out = []
        for raw in msgs:
            m = convert_message(raw, chat_id)
            if m is None:
                continue
            if until is not None and m.date > until:
                continue
            if since is not None and m.date < since:
                self._stop = True
                break
            out.append(m)
            if limit is not None and self.result.fetched + len(out) >= limit:
                self._stop = True
                break
        if self._stop:
            # Only what was stored (and the absent ids above it) counts as covered.
            page_lo = out[-1].id if out else page_hi + 1
        peers = [convert_peer(e) for e in (*getattr(resp, "users", ()), *getattr(resp, "chats", ()))]
        count = getattr(resp, "count", None)
        if count is not None:
            self.result.server_count = count
        self.ranges.add(page_lo, page_hi)
        converted = perf_counter()
        self.archive.upsert_batch(
            chat_id, out, peers,
            {"ranges": self.ranges.to_list(), "server_count": self.result.server_count},
        )
        done = perf_counter()
        self.result.fetched += len(out)
        self.result.pages += 1
        if self.metrics is not None:
            self.metrics.record("fetch", seconds, items=len(msgs))
            self.metrics.record("normalize", converted - started, items=len(msgs))
            self.metrics.record("archive", done - converted, items=len(out))
        self.on_progress(len(out), self.result.server_count)
