"""tgx.telegram.pacing: AIMD concurrency per request type, one flood wait for all workers, learned rate caps.

The pure logic runs on a fake clock; the async behaviour (slots, waits, spacing) with real but
short sleeps; the integration through RequestRunner against the simulated Telegram (real Telethon).
"""

from __future__ import annotations

import asyncio
import math
import time

import pytest
from telethon.tl import functions
from tgx.metrics.collector import Metrics
from tgx.telegram.pacing import MIN_SAMPLE, RATE_SAFETY, Pacer
from tgx.telegram.runner import RequestRunner
from tgx.testing import SimulatedTelegram

KIND = "GetHistoryRequest"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _admit(pacer: Pacer, kind: str = KIND):
    return await asyncio.wait_for(pacer.acquire(kind), 1.0)


def test_managed_type_starts_small_and_grows_to_its_maximum_while_the_window_is_used():
    async def main() -> None:
        pacer = Pacer(initial=2, maximum=5)
        pacer.manage(KIND)
        assert pacer.limit(KIND) == 2
        for _ in range(200):
            tickets = [await _admit(pacer) for _ in range(int(pacer.limit(KIND)))]
            for t in tickets:
                pacer.release(t, ok=True)
        assert pacer.limit(KIND) == 5

    asyncio.run(main())


def test_window_does_not_grow_when_it_is_not_used():
    async def main() -> None:
        pacer = Pacer(initial=4, maximum=16)
        pacer.manage(KIND)
        for _ in range(100):  # one at a time: the window of 4 is never full
            pacer.release(await _admit(pacer), ok=True)
        assert pacer.limit(KIND) == 4

    asyncio.run(main())


def test_slots_block_beyond_the_window_and_a_release_admits_the_next():
    async def main() -> None:
        pacer = Pacer(initial=2, maximum=2)
        pacer.manage(KIND)
        a, b = await _admit(pacer), await _admit(pacer)
        third = asyncio.ensure_future(pacer.acquire(KIND))
        await asyncio.sleep(0.01)
        assert not third.done()
        pacer.release(a, ok=True)
        c = await asyncio.wait_for(third, 1.0)
        assert pacer.pace(KIND).in_flight == 2
        pacer.release(b, ok=False)
        pacer.release(c, ok=False)
        pacer.release(c, ok=False)  # twice: ignored
        assert pacer.pace(KIND).in_flight == 0

    asyncio.run(main())


def test_a_cancelled_waiter_leaves_no_slot_taken():
    async def main() -> None:
        pacer = Pacer(initial=1, maximum=1)
        pacer.manage(KIND)
        first = await _admit(pacer)
        waiter = asyncio.ensure_future(pacer.acquire(KIND))
        await asyncio.sleep(0.01)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        pacer.release(first, ok=True)
        again = await _admit(pacer)  # the slot is free again
        pacer.release(again, ok=True)
        assert pacer.pace(KIND).in_flight == 0 and not pacer.pace(KIND).waiters

    asyncio.run(main())


def test_unmanaged_types_are_unbounded_until_their_first_flood_wait():
    async def main() -> None:
        pacer = Pacer()
        tickets = [await _admit(pacer, "GetFileRequest") for _ in range(50)]
        assert math.isinf(pacer.limit("GetFileRequest"))
        assert pacer.flood("GetFileRequest", 1, tickets[-1].sent_at)
        assert 1 <= pacer.limit("GetFileRequest") <= 25  # half of what was in flight
        for t in tickets:
            pacer.release(t, ok=False)

    asyncio.run(main())


def test_flood_halves_once_per_event_not_once_per_worker():
    clock = FakeClock()
    pacer = Pacer(initial=8, maximum=8, clock=clock)
    pacer.manage(KIND)
    sent = [clock.now + i * 0.001 for i in range(8)]  # a burst, all in flight
    clock.now += 0.05
    assert pacer.flood(KIND, 3, sent[5]) is True  # the first error registers the event
    for s in sent[:5] + sent[6:]:  # the others of the burst: the same event
        assert pacer.flood(KIND, 3, s) is False
    assert pacer.limit(KIND) == 4
    assert pacer.pace(KIND).events == 1 and pacer.pace(KIND).waited == 3
    assert 2.9 < pacer.remaining(KIND) <= 3.0
    clock.now += 3.5  # a request sent after the wait gets another: a new event
    assert pacer.flood(KIND, 3, clock.now - 0.01) is True
    assert pacer.limit(KIND) == 2
    for _ in range(5):
        clock.now += 10
        pacer.flood(KIND, 1, clock.now - 0.01)
    assert pacer.limit(KIND) == 1  # never below one


def test_a_flood_never_shortens_a_longer_wait():
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pacer.block(KIND, 10)
    pacer.flood(KIND, 2, None)
    assert pacer.remaining(KIND) == pytest.approx(10)


def test_flood_learns_the_rate_the_server_accepted():
    clock = FakeClock()
    pacer = Pacer(initial=4, maximum=4, clock=clock)
    pace = pacer.manage(KIND)
    for i in range(60):  # 30 accepted per second for two seconds
        pace.sent.append(clock.now + i / 30)
    clock.now += 2.0
    assert pacer.flood(KIND, 1, clock.now - 0.001)
    assert pacer.rate(KIND) == pytest.approx(RATE_SAFETY * 30, rel=0.05)
    # A later event while capped lowers the cap (at most to 95 % of itself), never raises it.
    first = pacer.rate(KIND)
    clock.now += 5.0
    for i in range(100):
        pace.sent.append(clock.now - 1 + i / 100)
    assert pacer.flood(KIND, 1, clock.now - 0.001)
    assert pacer.rate(KIND) <= first
    # Without waits the cap creeps up (a raised limit is found again).
    low = pacer.rate(KIND)
    clock.now += 100
    assert pacer.rate(KIND) > low


def test_a_wait_after_too_few_requests_teaches_no_rate():
    clock = FakeClock()
    pacer = Pacer(clock=clock)
    pace = pacer.manage(KIND)
    for i in range(MIN_SAMPLE - 1):
        pace.sent.append(clock.now + i * 0.01)
    clock.now += 0.1
    assert pacer.flood(KIND, 5, clock.now)
    assert pacer.rate(KIND) is None


def test_rate_cap_spaces_sends_evenly_even_after_a_wait():
    async def main() -> list[float]:
        pacer = Pacer(initial=8, maximum=8)
        pace = pacer.manage(KIND)
        pace.rate, pace.rate_set_at = 50.0, time.monotonic()  # 20 ms apart
        pacer.block(KIND, 0.05)  # and everybody starts at a closed gate

        async def one() -> float:
            ticket = await pacer.acquire(KIND)
            pacer.release(ticket, ok=True)
            return ticket.sent_at

        return sorted(await asyncio.gather(*(one() for _ in range(6))))

    stamps = asyncio.run(main())
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert min(gaps) >= 0.0195  # never a burst, not even when the gate opens


def test_gauges_report_concurrency_and_rate():
    metrics = Metrics(resources=False)
    clock = FakeClock()
    pacer = Pacer(metrics=metrics, clock=clock)
    pace = pacer.manage(KIND)
    for i in range(40):
        pace.sent.append(clock.now + i / 40)
    clock.now += 1
    pacer.flood(KIND, 1, clock.now)
    gauges = metrics.snapshot()["gauges"]
    assert gauges[f"pacing.{KIND}.concurrency"]["last"] == 2
    assert gauges[f"pacing.{KIND}.rate_limit"]["last"] > 0
    assert pacer.stats()[KIND]["flood_events"] == 1


# -- through the RequestRunner, against the simulated Telegram --------------------------------------


def _history(world: SimulatedTelegram, key: str, offset_id: int = 0):
    return functions.messages.GetHistoryRequest(
        peer=world.chat(key).input_peer(), offset_id=offset_id, offset_date=None, add_offset=0, limit=100,
        max_id=0, min_id=0, hash=0)


def test_runner_sleeps_one_flood_wait_for_all_concurrent_workers():
    world = SimulatedTelegram(seed=3, default_chats=False)
    world.add_channel("floody", "Floody", 2_000, media=False)
    world.faults.flood_wait("GetHistoryRequest", seconds=1, times=6)  # the whole burst is refused

    async def main() -> tuple[float, RequestRunner]:
        client = world.client()
        await client.connect()
        try:
            runner = RequestRunner(client)
            runner.gate.manage(KIND, initial=6, maximum=6)
            started = time.monotonic()
            await asyncio.gather(*(runner(_history(world, "floody", 2001 - 100 * i)) for i in range(6)))
            return time.monotonic() - started, runner
        finally:
            await client.disconnect()

    elapsed, runner = asyncio.run(main())
    assert runner.flood_waits == 1 and runner.flood_wait_seconds == 1  # one event, counted once
    pace = runner.gate.pace(KIND)
    assert pace.events == 1 and pace.waited == 1  # slept once for all six workers
    assert elapsed >= 1.0  # ... and really slept
    assert pace.cwnd <= 4  # halved once (6 -> 3), then grew a little with the retries' answers
    assert world.request_counts()["GetHistoryRequest"] == 12


def test_runner_learns_a_simulated_rate_limit_and_stops_hitting_it():
    world = SimulatedTelegram(seed=3, default_chats=False, rate_limit=40, rate_window=1.0)
    world.add_channel("limited", "Limited", 100, media=False)

    async def main() -> RequestRunner:
        client = world.client()
        await client.connect()
        try:
            runner = RequestRunner(client)
            runner.gate.manage(KIND, initial=8, maximum=8)

            async def worker() -> None:
                for _ in range(15):
                    await runner(_history(world, "limited"))

            await asyncio.gather(*(worker() for _ in range(8)))  # 120 requests: 3 s at the limit
            return runner
        finally:
            await client.disconnect()

    runner = asyncio.run(main())
    rate = runner.gate.rate(KIND)
    assert rate is not None and 0.5 * 40 <= rate <= 40
    assert runner.flood_waits <= 4  # learned after the first, not one per second
