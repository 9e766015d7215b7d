"""The built-in ``peer_cache`` plugin: LRU, TTL, persistence, settings, and its place in the chain."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any

import pytest
import tgx_peer_cache
from telethon import errors, functions, types
from tgx.config import Config, load_config
from tgx.errors import ConfigError
from tgx.host.manager import get_plugin_manager
from tgx.model import Peer
from tgx.specs import PeerRef, ResolvedPeer
from tgx.telegram.peers import PeerResolution, parse_chat
from tgx_peer_cache import FILE_NAME, settings
from tgx_peer_cache.cache import PeerCache


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def channel(n: int, username: str | None = None) -> ResolvedPeer:
    return ResolvedPeer(Peer(-(10**12) - n, "channel", f"Channel {n}", username),
                        types.InputPeerChannel(n, 1000 + n))


def ref(text: str) -> PeerRef:
    return parse_chat(text)


def get(cache: PeerCache, text: str) -> ResolvedPeer | None:
    return asyncio.run(cache.resolve(ref(text)))


def test_miss_then_hit_by_every_learned_form() -> None:
    cache = PeerCache(size=10, ttl=60, clock=Clock())
    assert get(cache, "@News") is None
    cache.learn(ref("@News"), channel(1, "news"))
    for form in ("@news", "NEWS", "https://t.me/news/5", "-1000000000001", "t.me/c/1/2"):
        hit = get(cache, form)
        assert hit is not None and hit.input_peer == types.InputPeerChannel(1, 1001), form
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["size"]) == (5, 1, 2)  # keys: @news, id:-1000000000001


def test_self_is_cached_under_me_and_phone_never() -> None:
    cache = PeerCache(size=10, ttl=60, clock=Clock())
    me = ResolvedPeer(Peer(7, "self", "Me", "myself"), types.InputPeerSelf())
    cache.learn(ref("+491512345678"), me)
    assert "me" in cache.keys() and "id:7" in cache.keys() and "@myself" in cache.keys()
    assert not any("4915" in key for key in cache.keys())
    assert get(cache, "+491512345678") is None  # phone refs are never keys
    assert get(cache, "me") is not None


def test_lru_evicts_the_least_recently_used() -> None:
    cache = PeerCache(size=2, ttl=60, clock=Clock())
    cache.learn(ref("-1000000000001"), channel(1))
    cache.learn(ref("-1000000000002"), channel(2))
    assert get(cache, "-1000000000001") is not None  # 1 is now the most recent
    cache.learn(ref("-1000000000003"), channel(3))
    assert cache.keys() == ["id:-1000000000001", "id:-1000000000003"]
    assert get(cache, "-1000000000002") is None
    assert cache.stats()["evictions"] == 1


def test_size_zero_caches_nothing() -> None:
    cache = PeerCache(size=0, ttl=60, clock=Clock())
    cache.learn(ref("@news"), channel(1, "news"))
    assert len(cache) == 0 and get(cache, "@news") is None


def test_ttl_counts_from_the_network_answer_not_from_hits() -> None:
    clock = Clock()
    cache = PeerCache(size=10, ttl=100, clock=clock)
    cache.learn(ref("@news"), channel(1, "news"))
    clock.now += 60
    assert get(cache, "@news") is not None
    cache.learn(ref("@news"), channel(1, "news"))  # the broadcast after a hit must not refresh the TTL
    clock.now += 60  # 120 s after Telegram answered
    assert get(cache, "@news") is None
    assert cache.stats()["expirations"] == 1
    cache.learn(ref("@news"), channel(1, "news"))  # a fresh network answer starts a new TTL
    clock.now += 60
    assert get(cache, "@news") is not None


def test_a_username_that_moved_to_another_peer_is_replaced() -> None:
    clock = Clock()
    cache = PeerCache(size=10, ttl=100, clock=clock)
    cache.learn(ref("@news"), channel(1, "news"))
    clock.now += 90
    cache.learn(ref("@news"), channel(2, "news"))
    clock.now += 50
    hit = get(cache, "@news")
    assert hit is not None and hit.peer.id == -(10**12) - 2  # new peer: new timestamp


def test_a_clock_that_went_back_invalidates_entries() -> None:
    clock = Clock()
    cache = PeerCache(size=10, ttl=3600, clock=clock)
    cache.learn(ref("@news"), channel(1, "news"))
    clock.now -= 3600
    assert get(cache, "@news") is None


def test_persistence_roundtrip_is_0600_and_keeps_wall_clock_ttl(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / ".tgx" / FILE_NAME
    cache = PeerCache(path, size=10, ttl=100, clock=clock, owner="tgx")
    cache.learn(ref("@news"), channel(1, "news"))
    cache.learn(ref("me"), ResolvedPeer(Peer(7, "self", "Me"), types.InputPeerSelf()))
    cache.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name != FILE_NAME]  # no temp files left

    clock.now += 50
    again = PeerCache(path, size=10, ttl=100, clock=clock, owner="tgx")
    hit = get(again, "@news")
    assert hit is not None and hit.input_peer == types.InputPeerChannel(1, 1001)
    assert hit.peer == Peer(-(10**12) - 1, "channel", "Channel 1", "news")
    assert get(again, "me").input_peer == types.InputPeerSelf()  # type: ignore[union-attr]

    clock.now += 60  # 110 s after the answer: expired, even across runs
    third = PeerCache(path, size=10, ttl=100, clock=clock, owner="tgx")
    assert len(third) == 0 and third.stats()["expirations"] == 4


def test_a_file_from_another_session_or_damaged_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    cache = PeerCache(path, size=10, ttl=100, clock=Clock(), owner="alice")
    cache.learn(ref("@news"), channel(1, "news"))
    cache.close()
    assert len(PeerCache(path, size=10, ttl=100, clock=Clock(), owner="bob")) == 0
    assert len(PeerCache(path, size=10, ttl=100, clock=Clock(), owner="alice")) == 2
    path.write_bytes(b"{not json")
    assert len(PeerCache(path, size=10, ttl=100, clock=Clock(), owner="alice")) == 0
    path.write_text('{"version": 1, "owner": "alice", "entries": [{"key": "@x", "stored_at": 1e12,'
                    ' "peer": {"id": 1, "kind": "user"}, "input_peer": "!!!"}]}')
    assert len(PeerCache(path, size=10, ttl=100, clock=Clock(), owner="alice")) == 0


def test_nothing_is_written_when_nothing_changed(tmp_path: Path) -> None:
    path = tmp_path / FILE_NAME
    PeerCache(path, clock=Clock()).close()
    assert not path.exists()


# -- settings --------------------------------------------------------------------------------------


def test_settings_defaults_table_and_env(tmp_path: Path) -> None:
    assert settings(Config(env={})) == (1000, 3600.0)
    toml = tmp_path / "tgx.toml"
    toml.write_text("[peer_cache]\nsize = 5\nttl = 10\n")
    assert settings(load_config(toml, env={})) == (5, 10.0)
    env = {"INPUT_PEER_CACHE_SIZE": "7", "INPUT_PEER_CACHE_TTL": "2.5"}
    assert settings(load_config(toml, env=env)) == (7, 2.5)


@pytest.mark.parametrize(("env", "table", "pattern"), [
    ({"INPUT_PEER_CACHE_SIZE": "many"}, {}, "INPUT_PEER_CACHE_SIZE must be a non-negative number"),
    ({"INPUT_PEER_CACHE_TTL": "-1"}, {}, "INPUT_PEER_CACHE_TTL must be"),
    ({}, {"size": -3}, r"\[peer_cache\] size must be"),
    ({}, {"sise": 3}, "unknown key peer_cache.sise"),
])
def test_bad_settings_are_config_errors(env: dict[str, str], table: dict[str, Any], pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        settings(Config(env=env, tables={"peer_cache": table}))


# -- in the chain: a second run within the TTL makes no request -----------------------------------


CHANNEL = types.Channel(id=1234567890, title="News", photo=types.ChatPhotoEmpty(), date=None,
                        access_hash=42, username="news", broadcast=True)


class CountingTelethon:
    def __init__(self) -> None:
        self.requests = 0

    async def __call__(self, request: Any) -> Any:
        self.requests += 1
        assert isinstance(request, functions.contacts.ResolveUsernameRequest)
        if request.username.lower() != "news":
            raise errors.UsernameNotOccupiedError(request=request)
        return types.contacts.ResolvedPeer(peer=types.PeerChannel(CHANNEL.id), chats=[CHANNEL], users=[])


def chain_for(config: Config, client: Any, state_dir: Path) -> PeerResolution:
    pm = get_plugin_manager(config, load_entrypoints=False, warn=lambda m: None)
    return PeerResolution.from_plugins(pm, client, state_dir, warn=pytest.fail)


def test_tgx_register_peer_resolvers_hook_makes_repeat_runs_free(tmp_path: Path) -> None:
    spec = tgx_peer_cache.tgx_register_peer_resolvers(config=Config(env={}))
    assert spec.name == "peer_cache" and spec.priority > 0

    config = Config(env={})
    state_dir = tmp_path / "out" / ".tgx"
    client = CountingTelethon()
    first = chain_for(config, client, state_dir)
    assert first.resolver_names == ["peer_cache"]
    resolved = asyncio.run(first.resolve("@news"))
    assert asyncio.run(first.resolve("https://t.me/news/3")).peer == resolved.peer
    assert client.requests == 1
    first.close()
    assert (state_dir / FILE_NAME).is_file()

    second = chain_for(config, client, state_dir)  # a new run
    again = asyncio.run(second.resolve("@NEWS"))
    assert client.requests == 1
    assert again.peer == resolved.peer and bytes(again.input_peer) == bytes(resolved.input_peer)
    assert second.stats()["peer_cache"]["hits"] == 1


def test_disabling_the_cache_changes_only_the_request_count(tmp_path: Path) -> None:
    client = CountingTelethon()
    chain = chain_for(Config(env={}, disable=["peer_cache"]), client, tmp_path)
    assert chain.resolver_names == []
    a = asyncio.run(chain.resolve("@news"))
    b = asyncio.run(chain.resolve("@news"))
    assert a.peer == b.peer and client.requests == 2


# -- end to end: Telethon's real client against the simulated Telegram ----------------------------------


def test_second_run_resolves_from_the_persisted_cache_and_the_input_peer_works(tmp_path: Path) -> None:
    from tgx.testing import SimulatedTelegram

    world = SimulatedTelegram(seed=1)
    state_dir = tmp_path / "out" / ".tgx"
    config = Config(env={})

    async def one_run() -> tuple[ResolvedPeer, int]:
        client = world.client()
        await client.connect()
        try:
            chain = chain_for(config, client, state_dir)
            resolved = await chain.resolve("@tgx_demo")
            [message] = await client.get_messages(resolved.input_peer, limit=1)  # the hash is valid
            chain.close()
            return resolved, message.id
        finally:
            await client.disconnect()

    first, newest = asyncio.run(one_run())
    assert first.peer == Peer(-1001700000002, "channel", "tgx demo channel", "tgx_demo")
    assert world.request_counts().get("ResolveUsernameRequest") == 1
    again, newest_again = asyncio.run(one_run())
    assert world.request_counts().get("ResolveUsernameRequest") == 1  # answered from peer_cache.json
    assert again.peer == first.peer and newest_again == newest
