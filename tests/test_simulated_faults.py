"""Injected faults, the rate limit and takeout, as Telethon's real client experiences them."""

from __future__ import annotations

import asyncio

import pytest
from telethon import errors
from telethon.tl import functions
from tgx.testing import SimulatedTelegram, read_request_log


def history(world):
    return [r for r in world.request_log if r["type"] == "GetHistoryRequest"]


async def count_messages(client, chat="tgx_demo", **kwargs):
    return len([m async for m in client.iter_messages(chat, wait_time=0, **kwargs)])


# ---------------------------------------------------------------------------------------------
# flood waits


def test_flood_wait_below_threshold_is_slept_by_telethon_then_retried():
    world = SimulatedTelegram(seed=1, messages=500)
    world.faults.flood_wait("GetHistoryRequest", seconds=1, after=2, times=1)
    assert world.run(count_messages) == 500
    calls = history(world)
    assert [c["error"] for c in calls].count("420 FLOOD_WAIT_1") == 1
    flooded = next(i for i, c in enumerate(calls) if c["error"])
    assert calls[flooded]["offset_id"] == calls[flooded + 1]["offset_id"]  # the same page, asked again
    assert calls[flooded + 1]["time"] - calls[flooded]["time"] >= 0.9  # Telethon slept (a lower bound)


def test_flood_wait_above_threshold_raises_flood_wait_error():
    world = SimulatedTelegram(seed=1, messages=300)
    world.faults.flood_wait("GetHistory", seconds=30, after=0, times=1)

    async def go(client):
        with pytest.raises(errors.FloodWaitError) as caught:
            await client.get_messages("tgx_demo", limit=10)
        return caught.value

    error = world.run(go, flood_sleep_threshold=10)
    assert error.seconds == 30 and isinstance(error.request, functions.messages.GetHistoryRequest)


def test_flood_premium_wait_is_slept_like_a_flood_wait():
    world = SimulatedTelegram(seed=1, messages=150)
    world.faults.flood_wait("GetHistoryRequest", seconds=1, times=1, premium=True)
    assert world.run(count_messages) == 150
    assert [c["error"] for c in history(world)][0] == "420 FLOOD_PREMIUM_WAIT_1"


def test_repeated_flood_waits_end_in_telethons_value_error():
    world = SimulatedTelegram(seed=1, messages=300)
    world.faults.flood_wait("GetHistoryRequest", seconds=1, after=0, times=5)

    async def go(client):
        with pytest.raises(ValueError, match=r"Request was unsuccessful \d+ time") as caught:
            await client.get_messages("tgx_demo", limit=10)
        return int(str(caught.value).split()[3])

    attempts = world.run(go, request_retries=2)
    assert [c["error"] for c in history(world)] == ["420 FLOOD_WAIT_1"] * attempts


def test_rate_limit_answers_flood_wait_with_the_seconds_until_the_budget_refills():
    now = [100.0]
    world = SimulatedTelegram(seed=1, messages=3000, rate_limit=2, rate_window=3, clock=lambda: now[0])

    async def go(client):
        peer = world.chat("tgx_demo").input_peer()

        def request(offset):
            return functions.messages.GetHistoryRequest(peer, offset, None, 0, 100, 0, 0, 0)

        for i in range(6):  # the budget: 2/s over a 3 s window
            await client(request(3000 - i * 100))
        now[0] = 100.5
        with pytest.raises(errors.FloodWaitError) as caught:
            await client(request(2400))
        now[0] = 102.2
        with pytest.raises(errors.FloodWaitError) as later:
            await client(request(2400))
        now[0] = 103.0  # the first six leave the window
        await client(request(2400))
        return caught.value.seconds, later.value.seconds

    assert world.run(go, flood_sleep_threshold=0) == (3, 1)


def test_rate_limited_iteration_still_gets_every_message():
    world = SimulatedTelegram(seed=1, messages=2500, rate_limit=20, rate_window=1)
    assert world.run(count_messages) == 2500
    errors_seen = [c["error"] for c in history(world) if c["error"]]
    assert errors_seen and set(errors_seen) == {"420 FLOOD_WAIT_1"}


# ---------------------------------------------------------------------------------------------
# connections


def test_fatal_drop_fails_every_pending_call_until_reconnect():
    world = SimulatedTelegram(seed=1, messages=300, latency=0.05)

    async def go(client):
        await client.get_me()  # connected and warm
        world.faults.drop(after=2, fatal=True)
        calls = [client.get_messages("tgx_demo", ids=i) for i in range(1, 6)]
        results = await asyncio.gather(*calls, return_exceptions=True)
        connected_after_drop = client.is_connected()
        with pytest.raises(ConnectionError):
            await client.get_messages("tgx_demo", ids=7)
        await client.connect()
        again = await client.get_messages("tgx_demo", ids=7)
        return results, connected_after_drop, again

    results, connected_after_drop, again = world.run(go)
    assert all(isinstance(r, ConnectionError) for r in results), results
    assert connected_after_drop is False
    assert again.id == 7


def test_transient_drop_is_invisible_but_runs_the_request_twice():
    world = SimulatedTelegram(seed=1, messages=300)

    async def go(client):
        world.faults.drop(after=0, request="GetHistoryRequest")
        messages = await client.get_messages("tgx_demo", limit=5)
        return [m.id for m in messages], client.is_connected()

    assert world.run(go) == ([300, 299, 298, 297, 296], True)
    calls = history(world)
    assert [c["error"] for c in calls] == ["DROPPED", None]
    assert calls[0]["offset_id"] == calls[1]["offset_id"]


# ---------------------------------------------------------------------------------------------
# takeout, revoked sessions, chats that become private, generic errors


def test_takeout_wraps_requests_and_finishes():
    world = SimulatedTelegram(seed=1, messages=250)

    async def go(client):
        async with client.takeout(finalize=True, channels=True, files=True, max_file_size=1 << 30) as takeout:
            return await count_messages(takeout)

    assert world.run(go) == 250
    types_ = [(r["type"], r["takeout"]) for r in world.request_log]
    assert ("InitTakeoutSessionRequest", False) in types_
    assert [t for t in types_ if t[0] == "GetHistoryRequest"] == [("GetHistoryRequest", True)] * 3
    assert types_[-1] == ("FinishTakeoutSessionRequest", True)
    assert world.takeouts == {}


def test_takeout_init_delay_and_invalidated_sessions():
    world = SimulatedTelegram(seed=1, messages=100)
    world.faults.takeout_delay(seconds=86400, times=1)

    async def go(client):
        with pytest.raises(errors.TakeoutInitDelayError) as caught:
            async with client.takeout(channels=True):
                pass
        first = (await client(functions.account.InitTakeoutSessionRequest(message_channels=True))).id
        second = (await client(functions.account.InitTakeoutSessionRequest(message_channels=True))).id
        wrapped = functions.InvokeWithTakeoutRequest(first, functions.help.GetConfigRequest())
        with pytest.raises(errors.TakeoutInvalidError):
            await client(wrapped)
        await client(functions.InvokeWithTakeoutRequest(second, functions.help.GetConfigRequest()))
        return caught.value.seconds

    assert world.run(go) == 86400


def test_revoked_session_is_not_authorized():
    world = SimulatedTelegram(seed=1, messages=100)
    world.faults.revoked(after=0)

    async def go(client):
        assert await client.get_me() is None
        assert not await client.is_user_authorized()
        with pytest.raises(errors.AuthKeyUnregisteredError):
            await client(functions.contacts.ResolveUsernameRequest("tgx_demo"))

    world.run(go)


def test_session_revoked_mid_export():
    world = SimulatedTelegram(seed=1, messages=1000)

    async def go(client):
        world.faults.revoked(after=3)
        with pytest.raises(errors.AuthKeyUnregisteredError):
            await count_messages(client)

    world.run(go)
    assert [c["error"] for c in history(world)][-1] == "401 AUTH_KEY_UNREGISTERED"


def test_chat_becomes_private_after_k_requests():
    world = SimulatedTelegram(seed=1, messages=1000)
    world.faults.private("tgx_demo", after=4)

    async def go(client):
        with pytest.raises(errors.ChannelPrivateError):
            await count_messages(client)
        return await client(functions.channels.GetChannelsRequest([await client.get_input_entity("tgx_demo")]))

    chats = world.run(go)
    assert type(chats.chats[0]).__name__ == "ChannelForbidden"
    assert [c["error"] for c in history(world)] == [None] * 4 + ["400 CHANNEL_PRIVATE"]


def test_rpc_error_fault_and_unknown_requests():
    world = SimulatedTelegram(seed=1, messages=100)
    world.faults.rpc_error("GetFullChannelRequest", 400, "CHAT_ADMIN_REQUIRED")

    async def go(client):
        channel = await client.get_input_entity("tgx_demo")
        with pytest.raises(errors.ChatAdminRequiredError):
            await client(functions.channels.GetFullChannelRequest(channel))
        full = await client(functions.channels.GetFullChannelRequest(channel))
        with pytest.raises(errors.BadRequestError, match="SIMULATOR_UNSUPPORTED"):
            await client(functions.messages.GetAllStickersRequest(0))
        return full

    assert world.run(go).full_chat.read_inbox_max_id == 100


def test_request_log_counts_and_json_lines_file(tmp_path):
    path = tmp_path / "requests.jsonl"
    world = SimulatedTelegram(seed=1, messages=250, request_log=str(path))
    assert world.run(count_messages) == 250
    lines = read_request_log(str(path))
    assert [line["type"] for line in lines] == [r["type"] for r in world.request_log]
    pages = [line for line in lines if line["type"] == "GetHistoryRequest"]
    assert [p["offset_id"] for p in pages] == [0, 151, 51]
    assert all(p["peer"] == world.chat("tgx_demo").marked_id and p["limit"] == 100 for p in pages)
    assert world.request_counts()["GetHistoryRequest"] == 3


def test_latency_is_applied_per_request():
    world = SimulatedTelegram(seed=1, messages=100, latency=0.2)

    async def go(client):
        loop = asyncio.get_running_loop()
        start = loop.time()
        await client.get_messages("tgx_demo", limit=1)
        return loop.time() - start

    assert world.run(go) >= 0.19  # a lower bound: at least one round trip
