"""tgx.fetch.history: every message exactly once — parallel ranges over dense and sparse ids, splits while
a request is in flight, deletions, a rate limit, filters, and cancellation + resume at any point.

In-process against the simulated Telegram (the real Telethon client below), with the real
archive and request runner; the world's plan (``expected_ids``) is the truth.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tgx.archive.store import Archive
from tgx.fetch.history import PAGE, FetchOptions, HistoryFetcher
from tgx.fetch.ranges import IdRanges
from tgx.metrics.collector import Metrics
from tgx.run import RunContext
from tgx.telegram.runner import RequestRunner
from tgx.testing import SimulatedTelegram


def _archived_ids(out: Path, chat_id: int) -> list[int]:
    con = sqlite3.connect(out / ".tgx" / "archive.sqlite")
    try:
        return [r[0] for r in con.execute("SELECT id FROM messages WHERE chat_id = ? ORDER BY id", (chat_id,))]
    finally:
        con.close()


def _run(world: SimulatedTelegram, key: str, out: Path, *, options: FetchOptions | None = None,
         cancel_at: int | None = None, metrics: Any = None) -> tuple[Any, RequestRunner]:
    """Fetch chat ``key`` into ``out``; with ``cancel_at``, cancel once that many are archived."""
    chat = world.chat(key)

    async def main() -> tuple[Any, RequestRunner]:
        client = world.client()
        await client.connect()
        archive = Archive.open(out)
        try:
            runner = RequestRunner(client, metrics=metrics)
            run = RunContext.for_stage(runner, archive, metrics=metrics)
            fetcher = HistoryFetcher(run, chat.marked_id, chat.input_peer(), options=options, label=key)
            task = asyncio.ensure_future(fetcher.run())
            if cancel_at is not None:
                while not task.done() and archive.count(chat.marked_id) < cancel_at:
                    await asyncio.sleep(0.002)
                task.cancel()
            try:
                return await task, runner
            except asyncio.CancelledError:
                return None, runner
        finally:
            archive.close()
            await client.disconnect()

    return asyncio.run(main())


def _assert_checkpoint_claims_only_archived(world: SimulatedTelegram, key: str, out: Path) -> None:
    """The resume invariant: every id the checkpoint says is covered is archived (or absent)."""
    chat = world.chat(key)
    with Archive.open(out) as archive:
        state = archive.checkpoint(chat.marked_id) or {}
    archived = set(_archived_ids(out, chat.marked_id))
    expected = world.expected_ids(key)
    for lo, hi in IdRanges(state.get("ranges", ())).to_list():
        missing = [i for i in range(lo, hi + 1) if i in expected and i not in archived]
        assert not missing, f"checkpoint claims {lo}..{hi} but {missing[:5]} are not archived"


def _gh(world: SimulatedTelegram) -> int:
    return world.request_counts().get("GetHistoryRequest", 0)


def test_dense_channel_in_parallel_ranges_every_message_once(tmp_path):
    world = SimulatedTelegram(seed=5, default_chats=False, latency=0.002)
    world.add_channel("dense", "Dense", 6_000, media=False)
    result, runner = _run(world, "dense", tmp_path, options=FetchOptions(concurrency=8))
    expected = list(world.expected_ids("dense"))
    assert _archived_ids(tmp_path, world.chat("dense").marked_id) == expected
    assert result.fetched == len(expected) == 6_000 and result.complete
    assert result.server_count == 6_000
    assert runner.gate.pace("GetHistoryRequest").peak_in_flight > 1  # really parallel
    assert _gh(world) <= 6_000 // PAGE + 12  # a split costs at most one short page


def test_sparse_private_chat_costs_no_empty_windows(tmp_path):
    """A private chat shares the account's id sequence: here 1 id in ~40 is alice's."""
    world = SimulatedTelegram(seed=6, default_chats=False)
    world.add_group("busy group", 30_000, media=False)
    world.add_private("alice", 700, media=False)
    expected = list(world.expected_ids("alice"))
    assert expected[-1] - expected[0] > 20 * len(expected)  # really sparse
    result, _ = _run(world, "alice", tmp_path / "a", options=FetchOptions(concurrency=16))
    assert _archived_ids(tmp_path / "a", world.chat("alice").marked_id) == expected
    assert result.complete
    assert _gh(world) <= 700 // PAGE + 4  # ~ one request per 100 messages, not one per window of ids


def test_basic_group_beside_sparse_chats_every_message_once(tmp_path):
    world = SimulatedTelegram(seed=7, default_chats=False, latency=0.001)
    world.add_group("group", 4_000, media=False, key="grp")
    world.add_private("alice", 1_500, media=False)
    world.add_private("bob", 300, media=False)
    for key in ("grp", "alice", "bob"):
        out = tmp_path / key
        result, _ = _run(world, key, out, options=FetchOptions(concurrency=8))
        assert _archived_ids(out, world.chat(key).marked_id) == list(world.expected_ids(key)), key
        assert result.complete


@pytest.mark.parametrize("concurrency", [1, 3, 16])
def test_deleted_messages_and_splits_in_flight(tmp_path, concurrency):
    world = SimulatedTelegram(seed=8, default_chats=False, latency=0.003)
    chat = world.add_channel("holes", "Holes", 5_000, media=False)
    gone = list(range(1_200, 2_100)) + list(range(3_000, 4_500, 3)) + [4_999, 5_000]
    if not hasattr(world, "delete_messages"):
        pytest.skip("this simulator cannot delete messages")
    world.delete_messages(chat, gone)
    result, _ = _run(world, "holes", tmp_path, options=FetchOptions(concurrency=concurrency))
    expected = list(world.expected_ids("holes"))
    assert _archived_ids(tmp_path, chat.marked_id) == expected
    assert len(expected) == 5_000 - len(set(gone)) and result.complete


def test_rate_limited_server_every_message_once_and_waits_counted(tmp_path):
    world = SimulatedTelegram(seed=9, default_chats=False, rate_limit=25, rate_window=1.0)
    world.add_channel("limited", "Limited", 4_000, media=False)
    metrics = Metrics(resources=False)
    result, runner = _run(world, "limited", tmp_path, options=FetchOptions(concurrency=8), metrics=metrics)
    assert _archived_ids(tmp_path, world.chat("limited").marked_id) == list(world.expected_ids("limited"))
    assert result.complete
    refused = sum(1 for r in world.request_log if r["type"] == "GetHistoryRequest" and r["error"])
    assert refused >= 1 and runner.flood_waits >= 1  # the limit was reached ...
    assert runner.flood_waits <= refused  # ... and a burst's errors count as one wait
    report = metrics.snapshot()
    assert report["totals"]["flood_waits"] == runner.flood_waits
    assert "pacing.GetHistoryRequest.concurrency" in report["gauges"]


@pytest.mark.parametrize(("kind", "stop_at"), [("dense", 700), ("dense", 3_100), ("sparse", 400)])
def test_cancelled_midway_then_resumed_every_message_once(tmp_path, kind, stop_at):
    world = SimulatedTelegram(seed=10, default_chats=False, latency=0.004)
    if kind == "dense":
        world.add_channel("chat", "Chat", 5_000, media=False)
    else:
        world.add_group("noise", 40_000, media=False)
        world.add_private("alice", 3_000, media=False, key="chat")
    chat = world.chat("chat")
    first, _ = _run(world, "chat", tmp_path, options=FetchOptions(concurrency=8), cancel_at=stop_at)
    partial = _archived_ids(tmp_path, chat.marked_id)
    assert first is None and stop_at <= len(partial) < len(world.expected_ids("chat"))
    _assert_checkpoint_claims_only_archived(world, "chat", tmp_path)

    before = _gh(world)
    result, _ = _run(world, "chat", tmp_path, options=FetchOptions(concurrency=8))
    assert _archived_ids(tmp_path, chat.marked_id) == list(world.expected_ids("chat"))
    assert result.complete
    refetched = (_gh(world) - before) * PAGE
    assert refetched <= len(world.expected_ids("chat")) - len(partial) + 40 * PAGE  # the gaps, not all


def test_new_messages_only_on_rerun(tmp_path):
    world = SimulatedTelegram(seed=11, default_chats=False)
    world.add_channel("grow", "Grow", 1_000, media=False)
    _run(world, "grow", tmp_path)
    bigger = SimulatedTelegram(seed=11, default_chats=False)
    bigger.add_channel("grow", "Grow", 1_250, media=False)
    result, _ = _run(bigger, "grow", tmp_path)
    assert result.fetched == 250 and _gh(bigger) <= 3
    assert _archived_ids(tmp_path, bigger.chat("grow").marked_id) == list(bigger.expected_ids("grow"))


def test_limit_then_full_run_completes_the_same_archive(tmp_path):
    world = SimulatedTelegram(seed=12, default_chats=False, latency=0.001)
    world.add_channel("lim", "Lim", 1_000, media=False)
    ids = list(world.expected_ids("lim"))
    result, _ = _run(world, "lim", tmp_path, options=FetchOptions(limit=250))
    assert _archived_ids(tmp_path, world.chat("lim").marked_id) == ids[-250:]
    assert not result.complete
    _assert_checkpoint_claims_only_archived(world, "lim", tmp_path)
    result, _ = _run(world, "lim", tmp_path)
    assert _archived_ids(tmp_path, world.chat("lim").marked_id) == ids and result.complete


def test_senders_are_archived_once_each(tmp_path):
    world = SimulatedTelegram(seed=13, default_chats=False, latency=0.001)
    world.add_supergroup("talk", "Talk", 3_000, media=False)
    _run(world, "talk", tmp_path, options=FetchOptions(concurrency=4))
    with Archive.open(tmp_path) as archive:
        senders = {m.sender_id for batch in archive.iter_messages(world.chat("talk").marked_id) for m in batch}
        senders.discard(None)
        assert senders and all(archive.peer(s) is not None for s in senders)


def test_outgoing_private_messages_have_the_account_as_sender(tmp_path):
    world = SimulatedTelegram(seed=14, default_chats=False)
    world.add_private("alice", 300, media=False)
    _run(world, "alice", tmp_path)
    with Archive.open(tmp_path) as archive:
        msgs = [m for batch in archive.iter_messages(world.chat("alice").marked_id) for m in batch]
    outgoing = [m for m in msgs if m.out]
    assert outgoing and all(m.sender_id == world.me.id for m in outgoing)


def test_stopping_on_an_error_commits_what_was_fetched(tmp_path):
    from tgx.errors import NetworkError

    world = SimulatedTelegram(seed=15, default_chats=False, latency=0.002)
    world.add_channel("stop", "Stop", 5_000, media=False)
    fault = world.faults.flood_wait("GetHistoryRequest", seconds=3_600, after=20, times=0)
    chat = world.chat("stop")

    async def main() -> None:
        client = world.client()
        await client.connect()
        try:
            with Archive.open(tmp_path) as archive:
                runner = RequestRunner(client, max_flood_wait=60)
                with pytest.raises(NetworkError):
                    await HistoryFetcher(RunContext.for_stage(runner, archive), chat.marked_id, chat.input_peer(),
                                         options=FetchOptions(concurrency=4)).run()
        finally:
            await client.disconnect()

    asyncio.run(main())
    archived = _archived_ids(tmp_path, chat.marked_id)
    assert len(archived) >= 20 * PAGE - 4 * PAGE  # the answered pages were committed, not dropped
    _assert_checkpoint_claims_only_archived(world, "stop", tmp_path)
    world.faults.items.remove(fault)
    result, _ = _run(world, "stop", tmp_path)
    assert _archived_ids(tmp_path, chat.marked_id) == list(world.expected_ids("stop")) and result.complete


class _PagedHistory:
    """Telegram's GetHistory over a fixed id list, one request held until released: just enough
    network to make a split happen while the owner's request is in flight."""

    def __init__(self, ids: list[int]):
        from telethon.tl import types
        from tgx.telegram.pacing import Pacer

        self.types = types
        self.ids = sorted(ids, reverse=True)
        self.hold = asyncio.Event()
        self.requests: list[tuple[int, int]] = []
        self.gate = Pacer()  # what the fetcher asks of a runner: the pacing it manages
        self.client = None

    async def __call__(self, request: Any, *, stage: str = "fetch", chat: str | None = None) -> Any:
        from datetime import UTC, datetime

        t = self.types
        self.requests.append((request.offset_id, request.min_id))
        if len(self.requests) > 1:
            await self.hold.wait()
        top = request.offset_id or 1 << 31
        page = [i for i in self.ids if request.min_id < i < top][:PAGE]
        msgs = [t.Message(id=i, peer_id=t.PeerChannel(1), date=datetime(2024, 1, 1, tzinfo=UTC), message=f"m{i}")
                for i in page]
        return t.messages.ChannelMessages(pts=1, count=len(self.ids), messages=msgs, topics=[], chats=[],
                                          users=[])


def test_split_while_the_owner_waits_drops_the_thiefs_part_and_covers_only_its_own(tmp_path):
    ids = list(range(1, 51)) + list(range(1_001, 1_061)) + list(range(1_941, 2_041))
    net = _PagedHistory(ids)

    async def main() -> None:
        with Archive.open(tmp_path) as archive:
            fetcher = HistoryFetcher(RunContext.for_stage(net, archive), -1000000000001, None,  # type: ignore[arg-type]
                                     options=FetchOptions(concurrency=2))
            rest = await fetcher._first_page(1)  # ids 2040..1941: a full page; the rest is 1..1940
            assert rest == (1, 1_940)
            fetcher._plan = []
            from tgx.fetch.history import _Range

            owner = _Range(*rest, busy=True)
            fetcher._plan.append(owner)
            drain = asyncio.ensure_future(fetcher._drain(owner))
            await asyncio.sleep(0.01)  # the owner's request (ids <= 1940, any age) is in flight
            thief = fetcher._take()  # density is 1.0 so far: worth splitting below its next page
            assert thief is not None and (thief.lo, thief.hi) == (1, 920) and owner.lo == 921
            net.hold.set()
            await drain  # its page held 1060..1001 and 50..11: it keeps only its own
            assert owner.hi < owner.lo
            fetcher._submit()
            await fetcher._backpressure(0)
            assert archive.checkpoint(-1000000000001)["ranges"] == [[921, 2_040]]  # not the thief's part
            await fetcher._drain(thief)
            await fetcher._finish_writes(raise_errors=True)
            assert fetcher.result.fetched == len(ids)  # nothing counted (or stored) twice

    asyncio.run(main())
    assert _archived_ids(tmp_path, -1000000000001) == ids
    with Archive.open(tmp_path) as archive:
        assert archive.checkpoint(-1000000000001)["ranges"] == [[1, 2_040]]
