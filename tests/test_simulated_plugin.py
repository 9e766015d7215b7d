"""The ``simulated`` plugin, scenario validation, the pytest fixtures, and O(1) memory."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import textwrap
import tracemalloc

import pytest
import tgx_simulated
from telethon.tl import functions
from tgx.config import Config, load_config
from tgx.errors import ConfigError
from tgx.testing import SimulatedClient, SimulatedTelegram, build_world, scenario_from_config, validate_scenario


def client_for(tables=None, env=None):
    return tgx_simulated.tgx_telegram_client(config=Config(tables=tables or {}, env=env or {}))


# ---------------------------------------------------------------------------------------------
# the plugin answers only when asked


def test_plugin_answers_only_when_configured(tmp_path):
    assert client_for() is None
    assert client_for(env={"TGX_SIMULATED": "0"}) is None
    assert client_for(tables={"html": {"theme": "dark"}}) is None

    for client in (client_for(tables={"simulated": {}}), client_for(env={"TGX_SIMULATED": "1"})):
        assert isinstance(client, SimulatedClient) and not client.is_connected()
        assert [c.key for c in client.world.chats] == ["tgx_source", "tgx_demo", "tgx_forum", "group", "alice",
                                                       "bot"]

    inline = client_for(env={"TGX_SIMULATED": json.dumps({"seed": 9, "messages": 77})})
    assert inline.world.seed == 9 and inline.world.chat("tgx_demo").messages == 77
    merged = client_for(tables={"simulated": {"seed": 4, "messages": 10}}, env={"TGX_SIMULATED": '{"seed": 5}'})
    assert (merged.world.seed, merged.world.chat("tgx_demo").messages) == (5, 10)
    scenario_file = tmp_path / "scenario.toml"
    scenario_file.write_text("[simulated]\nseed = 6\nmedia = false\n")
    from_file = client_for(env={"TGX_SIMULATED": str(scenario_file)})
    assert from_file.world.seed == 6 and not from_file.world.chat("tgx_demo").media


def test_plugin_client_uses_the_configured_flood_threshold_and_works():
    config = Config(tables={"simulated": {"messages": 120}}, env={}, flood_sleep_threshold=7)
    client = tgx_simulated.tgx_telegram_client(config=config)
    assert client.flood_sleep_threshold == 7

    async def go():
        await client.connect()
        try:
            return [m.id async for m in client.iter_messages("tgx_demo", wait_time=0)]
        finally:
            await client.disconnect()

    assert asyncio.run(go()) == list(range(120, 0, -1))


def test_sim_config_round_trips_through_load_config(sim_config, tmp_path):
    log = tmp_path / "requests.jsonl"
    path = sim_config(
        seed=3, latency_ms=0, request_log=str(log), big_file_mb=0,
        chats=[{"kind": "channel", "username": "news", "title": "News", "messages": 50, "media": False},
               {"kind": "forum", "username": "talk", "messages": 40, "topics": ["A", "B"]},
               {"kind": "group", "title": "Friends", "messages": 30},
               {"kind": "private", "user": "bob", "messages": 20}],
        faults=[{"type": "flood_wait", "request": "GetHistory", "seconds": 1, "after": 100}],
        extra={"export": {"format": ["jsonl"]}},
    )
    config = load_config(path, env={})
    assert config.export == {"format": "jsonl"}  # lists are normalised to the flag's comma form
    world = tgx_simulated.tgx_telegram_client(config=config).world
    assert [(c.key, c.kind, c.messages) for c in world.chats] == [
        ("tgx_source", "channel", 50), ("news", "channel", 50), ("talk", "supergroup", 40),
        ("group4100000004", "group", 30), ("bob", "private", 20)]
    assert [t.title for t in world.chat("talk").topics] == ["A", "B"]
    assert world.faults.items[0].request == "GetHistoryRequest" and world.log.path == str(log)


# ---------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize(("scenario", "message"), [
    ({"sede": 1}, "unknown key 'sede'"),
    ({"messages": "many"}, "messages must be"),
    ({"media": 1}, "media must be true or false"),
    ({"latency_ms": -5}, "must not be negative"),
    ({"rate_limit": 0}, "rate_limit must be positive"),
    ({"faults": [{"type": "earthquake"}]}, "unknown fault type 'earthquake'"),
    ({"faults": [{"type": "drop", "seconds": 3}]}, "unknown key 'seconds' for a drop fault"),
    ({"faults": [{"type": "flood_wait", "seconds": "5"}]}, "seconds must be whole seconds"),
    ({"faults": [{"type": "private"}]}, "needs chat"),
    ({"faults": ["drop"]}, "faults[0] must be a table"),
    ({"chats": [{"kind": "moon"}]}, "kind must be one of"),
    ({"chats": [{"kind": "channel", "color": "red"}]}, "unknown key 'color'"),
    ({"chats": [{"kind": "private"}]}, "needs user"),
])
def test_scenario_validation_names_the_problem(scenario, message):
    with pytest.raises(ConfigError) as caught:
        validate_scenario(scenario)
    assert message in str(caught.value)
    with pytest.raises(ConfigError):
        client_for(tables={"simulated": scenario})


@pytest.mark.parametrize(("scenario", "message"), [
    ({"chats": [{"kind": "private", "user": "mallory"}]}, "no simulated user"),
    ({"faults": [{"type": "private", "chat": "nowhere"}]}, "no simulated chat 'nowhere'"),
    ({"chats": [{"kind": "channel", "username": "a_b_c"}, {"kind": "channel", "username": "A_b_c"}]}, "taken"),
])
def test_scenario_errors_found_while_building_the_world(scenario, message):
    with pytest.raises(ConfigError, match=message):
        build_world(scenario)


def test_bad_environment_value_is_a_config_error():
    for value in ("{not json", "/no/such/scenario.toml", "[1, 2]"):
        with pytest.raises(ConfigError, match="TGX_SIMULATED"):
            scenario_from_config(Config(env={"TGX_SIMULATED": value}))


# ---------------------------------------------------------------------------------------------
# fixtures, and the plugin as plugin authors load it


def test_fixtures(sim_world, sim_client, sim_run):
    assert sim_client.world is sim_world and not sim_client.is_connected()

    async def titles(client):
        return [d.name async for d in client.iter_dialogs()]

    assert "tgx demo channel" in sim_run(titles)

    async def in_loop():
        async with sim_client as client:  # start() on an authorized account: just connects
            return (await client.get_me()).username

    assert asyncio.run(in_loop()) == "tgx_tester"


def test_pytest_dash_p_tgx_testing_for_plugin_authors(tmp_path):
    (tmp_path / "test_mine.py").write_text(textwrap.dedent('''
        from telethon.tl import types

        def test_my_plugin_against_the_simulator(sim_world, sim_run):
            sim_world.faults.flood_wait("GetHistoryRequest", seconds=1, after=5)

            async def export(client):
                return [m async for m in client.iter_messages("tgx_demo", wait_time=0)]

            messages = sim_run(export)
            assert [m.id for m in messages] == list(reversed(sim_world.expected_ids("tgx_demo")))
            assert any(isinstance(m.media, types.MessageMediaPhoto) for m in messages)
    '''))
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "tgx.testing", "-q", "-p", "no:cacheprovider",
                             str(tmp_path / "test_mine.py")], capture_output=True, text=True, cwd=tmp_path,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_importing_tgx_testing_is_cheap_outside_pytest():
    code = ("import sys, tgx.testing, tgx_simulated; "
            "print(sorted(m for m in ('pytest', 'telethon') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------------
# O(1) memory in history size


def test_server_memory_stays_flat_across_a_million_message_history():
    world = SimulatedTelegram(seed=2, default_chats=False)
    world.add_channel("huge", "Huge", 1_000_000)
    from tgx.simulator.sender import server_of
    from tgx.simulator.server import Connection

    server, conn = server_of(world), Connection(world.home_dc, True)
    peer = world.chat("huge").input_peer()

    def page(offset_id):
        request = functions.messages.GetHistoryRequest(peer, offset_id, None, 0, 100, 0, 0, 0)
        return server.handle(bytes(request), conn)

    for offset in range(1_000_001, 980_000, -100):  # warm: templates are built once per variant
        page(offset)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for offset in range(980_001, 0, -5_000):  # 196 pages spread over the whole history
        page(offset)
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 1_000_000, grown  # the request log's bounded deque, a few late templates


@pytest.mark.slow
def test_iterating_200k_of_a_million_messages_keeps_rss_bounded():
    import psutil

    world = SimulatedTelegram(seed=2, default_chats=False, log_limit=1000)
    world.add_channel("huge", "Huge", 1_000_000)
    process = psutil.Process()

    async def go(client):
        seen = 0
        last = None
        rss_at_20k = 0
        async for message in client.iter_messages("huge", limit=200_000, wait_time=0):
            assert last is None or message.id == last - 1
            last = message.id
            seen += 1
            if seen == 20_000:
                gc.collect()
                rss_at_20k = process.memory_info().rss
        gc.collect()
        return seen, process.memory_info().rss - rss_at_20k

    seen, grown = asyncio.run(_connected(world, go))
    assert seen == 200_000
    assert grown < 30 * 1024 * 1024, grown


async def _connected(world, fn):
    client = world.client()
    await client.connect()
    try:
        return await fn(client)
    finally:
        await client.disconnect()
