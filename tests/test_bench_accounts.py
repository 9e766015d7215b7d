"""The ``accounts`` bench's workload limit (5 GetHistory/s per account, issue 17) as Telethon's
real client meets it, and the bench's own pieces (benchmarks/accounts.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from telethon import errors
from telethon.tl import functions
from tgx.testing import SimulatedTelegram

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import accounts as bench  # noqa: E402  (benchmarks/accounts.py)


def _history(world, offset):
    peer = world.chat("tgx_demo").input_peer()
    return functions.messages.GetHistoryRequest(peer, offset, None, 0, 100, 0, 0, 0)


def _world(now):
    return SimulatedTelegram(seed=1, messages=3000, rate_limit=bench.RATE, rate_window=1.0, clock=lambda: now[0])


def test_a_sixth_request_within_a_second_gets_flood_wait_1_through_telethon():
    now = [50.0]
    world = _world(now)

    async def go(client):
        for i in range(5):  # the budget: 5 in any 1 s window
            now[0] = 50.0 + i * 0.1
            await client(_history(world, 3000 - i * 100))
        now[0] = 50.6
        with pytest.raises(errors.FloodWaitError) as caught:
            await client(_history(world, 2500))
        now[0] = 51.0  # the first request leaves the window: one slot free again
        await client(_history(world, 2500))
        return caught.value.seconds

    assert world.run(go, flood_sleep_threshold=0) == 1
    answers = [r["error"] for r in world.request_log if r["type"] == "GetHistoryRequest"]
    assert answers == [None] * 5 + ["420 FLOOD_WAIT_1", None]


def test_five_requests_a_second_never_meet_the_limit():
    now = [10.0]
    world = _world(now)

    async def go(client):
        for i in range(25):  # 5 s at exactly the limit's pace
            now[0] = 10.0 + i * 0.2
            await client(_history(world, 3000 - (i % 29) * 100))

    world.run(go, flood_sleep_threshold=0)
    assert not [r for r in world.request_log if r["error"]]


def test_every_client_of_one_account_shares_its_budget():
    now = [5.0]
    world = _world(now)

    async def burst(client):
        for i in range(3):
            await client(_history(world, 3000 - i * 100))

    world.run(burst)  # a first client: 3 of the 5

    async def over(client):  # a second client of the same account: 2 more, then the wait
        await client(_history(world, 2700))
        await client(_history(world, 2600))
        with pytest.raises(errors.FloodWaitError):
            await client(_history(world, 2500))

    world.run(over, flood_sleep_threshold=0)


def test_the_bench_names_accounts_and_asks_the_world_for_them():
    assert bench.account_names(1) == ["default"]
    assert bench.account_names(4) == ["default", "a2", "a3", "a4"]
    assert bench.accounts_scenario(1) == {}
    assert bench.accounts_scenario(3) == {"accounts": [{"name": "a2"}, {"name": "a3"}]}


def test_quick_accounts_bench_measures_one_account_and_never_fakes_the_others(tmp_path):
    import json
    import subprocess

    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--only", "accounts",
                           "--json", str(tmp_path / "rows.json")], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = json.loads((tmp_path / "rows.json").read_text())["rows"]
    one = next(r for r in rows if r["what"].startswith("1 account:"))
    assert one["value"] > 0 and one["baseline"] == bench.RATE * 100  # the limit-bound ceiling
    four = next(r for r in rows if r["what"].startswith("4 accounts vs 1"))
    assert four["value"] is not None or "not yet measurable" in four["note"]
