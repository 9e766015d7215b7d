"""The simulated Telegram's update sequences through Telethon's real client: pts bookkeeping,
GetChannelDifference / GetDifference, updates pushed into Telethon's update loop (events,
gap recovery after a drop), the scripted timeline and scenario ``changes``."""

from __future__ import annotations

import asyncio
import time
import tracemalloc

import pytest
from telethon import errors, events
from telethon.tl import functions, types
from tgx.errors import ConfigError
from tgx.simulator import build_world
from tgx.simulator.world import EDIT_SUFFIX
from tgx.testing import SimulatedTelegram

GCD = functions.updates.GetChannelDifferenceRequest



def channel_world(messages: int = 100, **kwargs) -> tuple[SimulatedTelegram, object]:
    world = SimulatedTelegram(seed=3, default_chats=False, media=False, **kwargs)
    chat = world.add_channel("news", "News", messages)
    return world, chat


async def channel_diff(client, chat, pts: int, limit: int = 100):
    return await client(GCD(chat.input_peer(), types.ChannelMessagesFilterEmpty(), pts, limit))


def edit_ids(diff) -> list[int]:
    return [u.message.id for u in diff.other_updates if isinstance(u, types.UpdateEditChannelMessage)]


def deleted_ids(diff) -> list[int]:
    return [i for u in diff.other_updates if isinstance(u, types.UpdateDeleteChannelMessages) for i in u.messages]


# ---------------------------------------------------------------------------------------------
# pts bookkeeping


def test_pts_is_messages_plus_pts_counts_and_every_answer_says_it():
    world, chat = channel_world(100)
    assert world.pts_of(chat) == 100
    world.edit_messages(chat, [3, 4])
    world.delete_messages(chat, [5, 6, 7])
    world.post_messages(chat, 10)
    assert world.pts_of(chat) == 100 + 2 + 3 + 10
    world.delete_messages(chat, [5, 999_999])  # already gone / never existed: no change
    world.edit_messages(chat, [1])  # the channel-created service message cannot be edited
    assert world.pts_of(chat) == 115

    async def ask(client):
        full = await client(functions.channels.GetFullChannelRequest(chat.input_peer()))
        history = await client(functions.messages.GetHistoryRequest(chat.input_peer(), 0, None, 0, 10, 0, 0, 0))
        return full.full_chat.pts, history.pts, history.messages[0].id

    assert world.run(ask) == (115, 115, 110)


def test_account_pts_counts_private_chats_and_basic_groups_and_getstate_says_it():
    world = SimulatedTelegram(seed=3, default_chats=False, media=False)
    alice = world.add_private("alice", 50)
    group = world.add_group("g", 30)
    world.add_channel("news", "News", 1000)
    assert world.pts == 80
    world.post_messages(alice, 2)
    world.edit_messages(group, [world.expected_ids(group)[5]])
    assert world.pts == 83

    async def state(client):
        return await client(functions.updates.GetStateRequest())

    got = world.run(state)
    assert (got.pts, got.qts) == (83, 0)


def test_a_message_edited_twice_keeps_both_versions():
    world, chat = channel_world(20)
    world.edit_messages(chat, [8])
    world.edit_messages(chat, [8])
    original, first, second = world.versions(chat, 8)
    assert first.message == original.message + EDIT_SUFFIX
    assert second.message == original.message + " (edited later #2)"
    assert original.edit_date is None or original.edit_date < first.edit_date
    assert first.edit_date < second.edit_date
    assert world.tl_message(chat, 8).message == second.message


# ---------------------------------------------------------------------------------------------
# GetChannelDifference


def test_channel_difference_returns_exactly_the_new_edited_and_deleted_messages():
    world, chat = channel_world(100)
    start = world.pts_of(chat)
    world.post_messages(chat, 5)  # 101..105
    world.edit_messages(chat, [10, 11, 103])  # 103 is new in the window: served as new, current version
    world.delete_messages(chat, [20, 104])
    world.edit_messages(chat, [20])  # deleted: skipped, no pts

    async def fetch(client):
        return await channel_diff(client, chat, start)

    diff = world.run(fetch)
    assert isinstance(diff, types.updates.ChannelDifference) and diff.final
    assert diff.pts == world.pts_of(chat) == start + 5 + 3 + 2
    assert [m.id for m in diff.new_messages] == [101, 102, 103, 105]
    assert next(m for m in diff.new_messages if m.id == 103).message.endswith(EDIT_SUFFIX)
    assert edit_ids(diff) == [10, 11]
    assert all(u.message.message.endswith(EDIT_SUFFIX) for u in diff.other_updates
               if isinstance(u, types.UpdateEditChannelMessage))
    deletes = [u for u in diff.other_updates if isinstance(u, types.UpdateDeleteChannelMessages)]
    assert [(d.messages, d.pts, d.pts_count) for d in deletes] == [([20, 104], diff.pts, 2)]
    assert any(c.id == chat.id for c in diff.chats)


def test_an_edit_then_delete_comes_out_as_the_deletion_only():
    world, chat = channel_world(50)
    start = world.pts_of(chat)
    world.edit_messages(chat, [30])
    world.delete_messages(chat, [30])
    diff = world.run(lambda c: channel_diff(c, chat, start))
    assert edit_ids(diff) == [] and deleted_ids(diff) == [30]
    assert diff.pts == start + 2


def test_channel_difference_pages_by_limit_and_the_pages_add_up():
    world, chat = channel_world(10)
    start = world.pts_of(chat)
    world.post_messages(chat, 25)  # 11..35
    world.edit_messages(chat, [2, 3, 4])
    world.delete_messages(chat, [5, 6])

    async def fetch(client):
        pages, pts = [], start
        while True:
            diff = await channel_diff(client, chat, pts, limit=10)
            pages.append(diff)
            pts = diff.pts
            if diff.final:
                return pages

    pages = world.run(fetch)
    # 25 new, 3 edits, one deletion of two (pts_count 2, one update, never split)
    assert [len(p.new_messages) + len(p.other_updates) for p in pages] == [10, 10, 9]
    assert [bool(p.final) for p in pages] == [False, False, True]
    assert [p.pts for p in pages] == [start + 10, start + 20, start + 30]
    assert [m.id for p in pages for m in p.new_messages] == list(range(11, 36))
    assert [i for p in pages for i in edit_ids(p)] == [2, 3, 4]
    assert [i for p in pages for i in deleted_ids(p)] == [5, 6]


def test_channel_difference_empty_when_nothing_changed_and_errors_for_bad_pts_or_channel():
    world, chat = channel_world(40)

    async def ask(client):
        empty = await channel_diff(client, chat, 40)
        with pytest.raises(errors.PersistentTimestampInvalidError):
            await channel_diff(client, chat, 41)
        with pytest.raises(errors.ChannelInvalidError):
            await client(GCD(types.InputChannel(chat.id, chat.access_hash + 1), types.ChannelMessagesFilterEmpty(),
                             1, 100))
        with pytest.raises(errors.ChannelInvalidError):
            await client(GCD(types.InputChannel(123, 0), types.ChannelMessagesFilterEmpty(), 1, 100))
        return empty

    empty = world.run(ask)
    assert isinstance(empty, types.updates.ChannelDifferenceEmpty) and empty.pts == 40 and empty.final


def test_channel_difference_from_inside_the_initial_history_serves_those_messages():
    world, chat = channel_world(30)
    diff = world.run(lambda c: channel_diff(c, chat, 25))
    assert [m.id for m in diff.new_messages] == [26, 27, 28, 29, 30] and diff.final


def test_channel_difference_too_long_past_the_horizon():
    world, chat = channel_world(100, difference_horizon=50)
    start = world.pts_of(chat)
    world.post_messages(chat, 30)
    world.delete_messages(chat, list(range(2, 32)))

    async def ask(client):
        return await channel_diff(client, chat, start), await channel_diff(client, chat, start + 20)

    too_long, fine = world.run(ask)
    assert isinstance(too_long, types.updates.ChannelDifferenceTooLong) and too_long.final
    assert too_long.dialog.pts == start + 60
    assert too_long.messages[0].id == 130 and len(too_long.messages) == 20
    assert isinstance(fine, types.updates.ChannelDifference) and deleted_ids(fine) == list(range(2, 32))


def test_a_million_message_channel_with_100_changes_answers_instantly_in_little_memory():
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    world, chat = channel_world(1_000_000)
    start = world.pts_of(chat)
    for message_id in world.editable_ids(chat, 50, start=1000):
        world.edit_messages(chat, [message_id])
    for i in range(49):
        world.delete_messages(chat, [5000 + i])
    world.post_messages(chat, 1)
    began = time.perf_counter()
    diff = world.run(lambda c: channel_diff(c, chat, start))
    elapsed = time.perf_counter() - began
    grown = sum(s.size_diff for s in tracemalloc.take_snapshot().compare_to(before, "filename"))
    tracemalloc.stop()
    assert len(edit_ids(diff)) == 50 and len(deleted_ids(diff)) == 49 and len(diff.new_messages) == 1
    assert diff.pts == 1_000_100
    assert elapsed < 2.0
    assert grown < 20 * 1024 * 1024


# ---------------------------------------------------------------------------------------------
# GetDifference (private chats and basic groups)


def test_get_difference_for_private_chats_and_basic_groups():
    world = SimulatedTelegram(seed=3, default_chats=False, media=False)
    alice = world.add_private("alice", 40)
    group = world.add_group("g", 20)
    start = world.pts
    new = world.post_messages(alice, 3)
    old = list(world.expected_ids(group))[4]
    world.edit_messages(group, [old])
    gone = list(world.expected_ids(alice))[2]
    world.delete_messages(alice, [gone])

    async def ask(client):
        diff = await client(functions.updates.GetDifferenceRequest(pts=start, date=0, qts=0))
        empty = await client(functions.updates.GetDifferenceRequest(pts=world.pts, date=0, qts=0))
        with pytest.raises(errors.PersistentTimestampInvalidError):
            await client(functions.updates.GetDifferenceRequest(pts=world.pts + 1, date=0, qts=0))
        return diff, empty

    diff, empty = world.run(ask)
    assert isinstance(diff, types.updates.Difference) and diff.state.pts == start + 5
    assert [m.id for m in diff.new_messages] == new
    edits = [u for u in diff.other_updates if isinstance(u, types.UpdateEditMessage)]
    assert [u.message.id for u in edits] == [old] and edits[0].message.message.endswith(EDIT_SUFFIX)
    dels = [u for u in diff.other_updates if isinstance(u, types.UpdateDeleteMessages)]
    assert [(d.messages, d.pts_count) for d in dels] == [([gone], 1)]
    assert isinstance(empty, types.updates.DifferenceEmpty)


def test_get_difference_slices_and_says_too_long():
    world = SimulatedTelegram(seed=3, default_chats=False, media=False, difference_horizon=1500)
    alice = world.add_private("alice", 10)
    start = world.pts
    world.post_messages(alice, 1200)

    async def ask(client):
        first = await client(functions.updates.GetDifferenceRequest(pts=start, date=0, qts=0))
        rest = await client(functions.updates.GetDifferenceRequest(pts=first.intermediate_state.pts, date=0, qts=0))
        limited = await client(functions.updates.GetDifferenceRequest(pts=start, date=0, qts=0, pts_total_limit=100))
        return first, rest, limited

    first, rest, limited = world.run(ask)
    assert isinstance(first, types.updates.DifferenceSlice) and len(first.new_messages) == 1000
    assert isinstance(rest, types.updates.Difference) and len(rest.new_messages) == 200
    assert isinstance(limited, types.updates.DifferenceTooLong) and limited.pts == start + 1200


# ---------------------------------------------------------------------------------------------
# pushed updates through Telethon's update loop


def record(client, seen: list[tuple[str, int]]) -> None:
    """Telethon awaits its handlers: record new, edited and deleted ids as they arrive."""
    async def new(event):
        seen.append(("new", event.message.id))

    async def edit(event):
        seen.append(("edit", event.message.id))

    async def gone(event):
        seen.extend(("del", i) for i in event.deleted_ids)

    client.add_event_handler(new, events.NewMessage())
    client.add_event_handler(edit, events.MessageEdited())
    client.add_event_handler(gone, events.MessageDeleted())


async def settle(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for updates")
        await asyncio.sleep(0.02)


def test_a_connected_client_receives_new_edited_and_deleted_messages_as_events():
    world, chat = channel_world(30)
    alice = world.add_private("alice", 10)
    seen: list[tuple[str, int]] = []

    async def watch(client):
        record(client, seen)
        await client.get_dialogs()  # Telethon learns each channel's pts from its dialog
        world.post_messages(chat, 2)
        world.edit_messages(chat, [5])
        world.delete_messages(chat, [6, 7])
        private_new = world.post_messages(alice, 1)
        await settle(lambda: len(seen) >= 6)
        return private_new

    private_new = world.run(watch)
    assert sorted(seen) == sorted([("new", 31), ("new", 32), ("edit", 5), ("del", 6), ("del", 7),
                                   ("new", private_new[0])])


def test_after_a_drop_telethon_closes_the_gap_with_get_channel_difference():
    world, chat = channel_world(30)
    seen: list[tuple[str, int]] = []

    def new_ids() -> list[int]:
        return [i for kind, i in seen if kind == "new"]

    async def watch(client):
        record(client, seen)
        await client.get_dialogs()
        world.post_messages(chat, 1)  # 31: delivered
        await settle(lambda: new_ids() == [31])
        sender = client._sender
        sender.drop(seconds=0.3)
        world.post_messages(chat, 3)  # 32..34: lost with the connection
        await asyncio.sleep(0.4)
        world.post_messages(chat, 1)  # 35: arrives, shows the gap; Telethon asks the difference
        await settle(lambda: len(new_ids()) >= 5)
        return world.request_counts().get("GetChannelDifferenceRequest", 0)

    asked = world.run(watch)
    assert sorted(new_ids()) == [31, 32, 33, 34, 35]
    assert asked >= 1


def test_takeout_only_sessions_get_no_updates():
    world, chat = channel_world(10)
    sender_state: list[bool] = []

    async def quiet(client):
        await client(functions.InvokeWithoutUpdatesRequest(functions.updates.GetStateRequest()))
        sender_state.append(client._sender.wants_updates())
        await client(functions.updates.GetStateRequest())
        sender_state.append(client._sender.wants_updates())

    world.run(quiet)
    # Telethon's own connect() sends GetConfig outside InvokeWithoutUpdates: a normal client listens
    assert sender_state == [True, True]
    assert not world.listeners


# ---------------------------------------------------------------------------------------------
# scenarios: changes between runs, the timeline


def test_scenario_changes_make_pts_a_pure_function_and_differences_between_runs_exact():
    first = {"chats": [{"kind": "channel", "username": "news", "messages": 1000, "media": False}]}
    ids_edited, ids_deleted = build_world(first).editable_ids("news", 50, start=100), list(range(300, 330))
    second = {**first, "changes": [{"chat": "news", "edit": ids_edited}, {"chat": "news", "delete": ids_deleted}]}
    legacy = {"chats": [{**first["chats"][0], "edited": ids_edited, "deleted": ids_deleted}]}
    third = {**first, "changes": [*second["changes"], {"chat": "news", "post": 20}]}
    w1, w2, w3, wl = (build_world(s) for s in (first, second, third, legacy))
    assert [w.pts_of("news") for w in (w1, w2, w3, wl)] == [1000, 1080, 1100, 1080]
    assert build_world(second).pts_of("news") == 1080  # deterministic

    diff = w2.run(lambda c: channel_diff(c, w2.chat("news"), w1.pts_of("news"), limit=1000))
    assert edit_ids(diff) == ids_edited and deleted_ids(diff) == ids_deleted and not diff.new_messages
    diff3 = w3.run(lambda c: channel_diff(c, w3.chat("news"), w2.pts_of("news"), limit=1000))
    assert [m.id for m in diff3.new_messages] == list(range(1001, 1021)) and not diff3.other_updates
    assert w3.tl_message("news", ids_edited[0]).message == w2.tl_message("news", ids_edited[0]).message


def test_scenario_changes_and_timeline_are_validated():
    base = {"chats": [{"kind": "channel", "username": "news", "messages": 10}]}
    for bad in ({"changes": [{"chat": "news"}]}, {"changes": [{"chat": "news", "post": 1, "edit": [1]}]},
                {"changes": [{"chat": "nowhere", "post": 1}]}, {"timeline": [{"chat": "news", "post": 1}]},
                {"timeline": [{"at": 1, "chat": "news", "post": 1, "fatal": True}]},
                {"timeline": [{"at": 1, "drop": True, "chat": "news"}]},
                {"changes": [{"chat": "news", "delete": [0]}]}, {"difference_horizon": "x"}):
        with pytest.raises(ConfigError):
            build_world({**base, **bad})


def test_the_timeline_applies_its_steps_at_their_times_and_drops_connections():
    world = build_world({
        "chats": [{"kind": "channel", "username": "news", "messages": 50, "media": False}],
        "timeline": [{"at": 0.2, "chat": "news", "post": 10}, {"at": 0.3, "chat": "news", "edit": [3, 4]},
                     {"at": 0.4, "drop": True, "seconds": 0.2}, {"at": 0.45, "chat": "news", "delete": [5]},
                     {"at": 0.8, "chat": "news", "post": 1}],
    })
    seen: list[tuple[str, int]] = []

    async def watch(client):
        record(client, seen)
        await client.get_dialogs()
        await settle(lambda: world.timeline.done and ("new", 61) in seen)

    world.run(watch)
    assert world.pts_of("news") == 50 + 10 + 2 + 1 + 1
    assert [s for s in seen if s[0] == "new"] == [("new", i) for i in range(51, 62)]
    assert ("edit", 3) in seen and ("edit", 4) in seen
    times = [t for t, _ in world.timeline.applied]
    assert times == sorted(times) and times[0] >= 0.2
    assert world.request_counts().get("GetChannelDifferenceRequest", 0) >= 1  # the gap the drop left


def test_pins_are_served_by_history_the_differences_and_pushes():
    """``World.pin_messages``: GetHistory serves ``pinned`` from then on; the channel's difference
    says ``updatePinnedChannelMessages`` (pts_count 1 per pin event), the account's
    ``updatePinnedMessages``; a pin of what is pinned already is no event."""
    world, chat = channel_world(50)
    alice = world.add_private("alice", 20)
    start, account = world.pts_of(chat), world.pts
    alice_ids = list(world.expected_ids("alice"))
    assert world.pin_messages(chat, [5, 9, 999]) == [5, 9]  # 999 is not there
    assert world.pin_messages(chat, [5]) == []  # already pinned: nothing
    assert world.pin_messages(chat, [9], pinned=False) == [9]
    assert world.pin_messages(alice, [alice_ids[3]]) == [alice_ids[3]]

    async def fetch(client):
        history = await client.get_messages(chat.input_peer(), limit=50)
        diff = await channel_diff(client, chat, start)
        stream = await client(functions.updates.GetDifferenceRequest(pts=account, date=None, qts=0))
        return history, diff, stream

    history, diff, stream = world.run(fetch)
    assert {m.id for m in history if m.pinned} == {5}
    pins = [(u.messages, u.pinned, u.pts_count) for u in diff.other_updates
            if isinstance(u, types.UpdatePinnedChannelMessages)]
    assert pins == [([5, 9], True, 1), ([9], False, 1)] and diff.pts == start + 2
    assert [(u.messages, u.pinned) for u in stream.other_updates if isinstance(u, types.UpdatePinnedMessages)] == \
        [([alice_ids[3]], True)]
