"""Many chats in one export: ``--all-dialogs`` / ``--dialog-type``, dialog paging, one shared pacing
budget, a progress line per chat, and every message of every chat exactly once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from tgx.config import Config
from tgx.errors import UsageError
from tgx.export.conductor import ExportRequest, run_export
from tgx.fetch.history import FetchOptions
from tgx.host.manager import get_plugin_manager
from tgx.metrics.progress import ExportProgress
from tgx.render.engine import render_chat
from tgx.telegram.dialogs import DIALOG_TYPES, list_dialogs, parse_dialog_types
from tgx.testing import SimulatedTelegram
from tgxrun import read_jsonl, tgx

CHATS = [
    {"kind": "channel", "username": "news_one", "messages": 700, "media": False},
    {"kind": "channel", "username": "news_two", "messages": 450, "media": False},
    {"kind": "supergroup", "username": "talk_room", "messages": 600, "media": False},
    {"kind": "group", "title": "Family", "messages": 300, "media": False},
    {"kind": "private", "user": "alice", "messages": 250, "media": False},
    {"kind": "private", "user": "bot", "messages": 40, "media": False},
]


def _folders(out: Path) -> set[str]:
    return {p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")}


def test_all_dialogs_exports_every_chat_into_its_own_folder(tmp_path, sim_config):
    cfg = sim_config(chats=CHATS, latency_ms=2)
    r = tgx(tmp_path, "export", "--all-dialogs", "-o", "out", config=cfg)
    assert r.returncode == 0, r.stderr
    world = SimulatedTelegram.from_scenario({"chats": CHATS})
    folders = {}
    for chat in world.chats:
        if chat.joined and chat.messages:
            folders[chat.username or str(chat.marked_id)] = chat
    assert _folders(tmp_path / "out") == set(folders)
    for folder, chat in folders.items():
        got = [m["id"] for m in read_jsonl(tmp_path / "out" / folder / "messages.jsonl")]
        assert got == list(world.expected_ids(chat)), folder
    for folder in folders:  # a progress line per chat (stderr is not a terminal here)
        assert f"tgx: {folder}: " in r.stderr


def test_dialog_type_selects_kinds(tmp_path, sim_config):
    cfg = sim_config(chats=CHATS)
    r = tgx(tmp_path, "export", "--all-dialogs", "--dialog-type", "channel", "--dialog-type", "bot",
            "-o", "out", "-q", config=cfg)
    assert r.returncode == 0, r.stderr
    assert _folders(tmp_path / "out") == {"news_one", "news_two", "tgx_helper_bot"}


def test_all_dialogs_with_named_chats_exports_each_once(tmp_path, sim_config):
    cfg = sim_config(chats=CHATS)
    r = tgx(tmp_path, "export", "@news_two", "--all-dialogs", "--dialog-type", "channel", "-o", "out", "--json",
            config=cfg)
    assert r.returncode == 0, r.stderr
    import json

    chats = json.loads(r.stdout)["chats"]
    assert sorted(c["folder"].rsplit("/", 1)[-1] for c in chats) == ["news_one", "news_two"]


@pytest.mark.parametrize("args", [["--dialog-type", "channel", "@news_one"], []])
def test_dialog_type_without_all_dialogs_or_no_chat_is_a_usage_error(tmp_path, sim_config, args):
    r = tgx(tmp_path, "export", *args, "-o", "out", config=sim_config(chats=CHATS))
    assert r.returncode == 2
    assert "tgx: error:" in r.stderr and "--all-dialogs" in r.stderr


def test_parse_dialog_types():
    assert parse_dialog_types(["channel, supergroup", "user"]) == {"channel", "supergroup", "user", "self"}
    assert parse_dialog_types([]) == frozenset()
    with pytest.raises(UsageError, match="unknown dialog type 'chanel'"):
        parse_dialog_types(["chanel"])
    assert set(DIALOG_TYPES) == {"channel", "supergroup", "group", "user", "bot"}


def test_dialogs_are_paged_through_the_runner():
    from tgx.telegram.runner import RequestRunner

    world = SimulatedTelegram(seed=21, default_chats=False)
    for i in range(230):
        world.add_channel(f"chan_{i:03d}", f"Channel {i}", 1 + i % 3, media=False)
    world.add_channel("hidden_public", "Not joined", 10, media=False, joined=False)

    async def main():
        client = world.client()
        await client.connect()
        try:
            runner = RequestRunner(client)
            return await list_dialogs(runner), await list_dialogs(runner, kinds={"group"}), runner
        finally:
            await client.disconnect()

    found, groups, runner = asyncio.run(main())
    names = [rp.peer.username for rp in found]
    assert sorted(names) == sorted(f"chan_{i:03d}" for i in range(230))  # each once, none missing
    assert groups == []
    assert world.request_counts()["GetDialogsRequest"] == 2 * 3  # 100 + 100 + 30, twice
    assert runner.requests == 6
    assert all(rp.input_peer is not None for rp in found)


def test_chats_exported_together_share_one_pacing_budget(tmp_path):
    world = SimulatedTelegram.from_scenario({"chats": CHATS, "latency_ms": 3, "rate_limit": 60})
    names = ["@news_one", "@news_two", "@talk_room", "alice"]

    async def main():
        config = Config(env={})
        pm = get_plugin_manager(config, load_entrypoints=False)
        client = world.client()
        await client.connect()
        try:
            req = ExportRequest(chats=names, out=tmp_path / "out", fetch=FetchOptions(concurrency=6),
                                metrics_interval=0, quiet=True, chats_at_once=3)
            with ExportProgress(quiet=True) as progress:
                return await run_export(pm, config, req, client, progress, render=render_chat)
        finally:
            await client.disconnect()

    outcome = asyncio.run(main())
    assert [o.fetch.complete for o in outcome.chats] == [True] * 4
    for o in outcome.chats:
        got = [m["id"] for m in read_jsonl(o.folder / "messages.jsonl")]
        assert got == list(world.expected_ids(o.peer.username)), o.peer.username
    gauges = outcome.report["gauges"]
    assert gauges["pacing.GetHistoryRequest.in_flight"]["max"] <= 6  # one budget for all four chats
    refused = sum(1 for r in world.request_log if r["type"] == "GetHistoryRequest" and r["error"])
    assert outcome.report["totals"]["flood_waits"] <= max(1, refused)
    # Ranges are split only when a request slot is free: a saturated account does not pay a
    # short page per split for parallelism it cannot use.
    pages = sum(-(-len(world.expected_ids(n.lstrip("@"))) // 100) for n in names)
    answered = world.request_counts()["GetHistoryRequest"] - refused
    assert answered <= pages + 3 * len(names) + 6


def test_a_saturated_account_does_not_split_ranges_it_cannot_use(tmp_path):
    """Eight chats, eight request slots in all: each chat gets about one slot, so splitting each
    into eight ranges would only buy a short page per split."""
    chats = [{"kind": "channel", "username": f"wide_{i}", "messages": 4_000, "media": False} for i in range(8)]
    world = SimulatedTelegram.from_scenario({"chats": chats, "latency_ms": 4})

    async def main():
        config = Config(env={})
        pm = get_plugin_manager(config, load_entrypoints=False)
        client = world.client()
        await client.connect()
        try:
            req = ExportRequest(chats=[f"@wide_{i}" for i in range(8)], out=tmp_path / "out",
                                fetch=FetchOptions(concurrency=8), metrics_interval=0, quiet=True)
            with ExportProgress(quiet=True) as progress:
                return await run_export(pm, config, req, client, progress, render=render_chat)
        finally:
            await client.disconnect()

    outcome = asyncio.run(main())
    assert all(o.fetch.complete and o.fetch.fetched == 4_000 for o in outcome.chats)
    requests = world.request_counts()["GetHistoryRequest"]
    assert requests <= 1.1 * 8 * 41  # 41 pages a chat if unsplit; splits cost under 10 % more
