"""tgx.sync.changes on a real archive with real TL messages (the simulated world's): what counts
as new, as an edit, as nothing — the rules every catch-up and ``tgx watch`` applies."""

from __future__ import annotations

import copy

from tgx.archive.store import Archive
from tgx.model import Peer
from tgx.sync.changes import apply_deletions, apply_messages
from tgx.testing import SimulatedTelegram


def _setup(tmp_path):
    world = SimulatedTelegram.from_scenario({"chats": [{"kind": "channel", "username": "news", "messages": 50,
                                                        "media": False}]})
    world.freeze()
    chat = world.chat("news")
    archive = Archive.open(tmp_path)
    archive.set_chat(Peer(chat.marked_id, "channel", "News", "news"))
    raw = [world.tl_message("news", i) for i in (10, 11, 12)]
    return archive, chat.marked_id, raw


def test_new_then_again_then_counters_then_an_edit(tmp_path):
    archive, chat_id, raw = _setup(tmp_path)
    first = apply_messages(archive, chat_id, raw)
    assert (first.new, first.edited) == (3, 0) and [c.kind for c in first.changes] == ["new"] * 3
    again = apply_messages(archive, chat_id, raw)
    assert (again.new, again.edited, again.changes) == (0, 0, [])  # applied twice: nothing

    viewed = copy.copy(raw[0])
    viewed.views = (viewed.views or 0) + 1000
    counted = apply_messages(archive, chat_id, [viewed], edits=True)
    assert counted.changes == [] and counted.edited == 0  # not an edit...
    assert archive.message(chat_id, 10).views == viewed.views  # ...but kept current
    assert counted.touched == [(chat_id, 10)]  # and named, so that a watch refreshes its line/page
    assert archive.history(chat_id, 10) == []

    edited = copy.copy(raw[1])
    edited.message = "a new text"
    changed = apply_messages(archive, chat_id, [edited], edits=True)
    assert changed.edited == 1 and [(c.kind, c.id) for c in changed.changes] == [("edit", 11)]
    assert [v.text for v in archive.history(chat_id, 11)] == [raw[1].message]


def test_an_edit_of_a_message_not_exported_does_not_widen_the_export(tmp_path):
    archive, chat_id, raw = _setup(tmp_path)
    applied = apply_messages(archive, chat_id, raw[:1], edits=True)
    assert applied.changes == [] and archive.message(chat_id, 10) is None


def test_deletions_flag_archived_messages_once(tmp_path):
    archive, chat_id, raw = _setup(tmp_path)
    apply_messages(archive, chat_id, raw)
    gone = apply_deletions(archive, chat_id, [11, 12, 999])
    assert gone.deleted == 2 and [c.id for c in gone.changes] == [11, 12]  # 999 was never archived
    assert apply_deletions(archive, chat_id, [11]).deleted == 0  # already flagged
    m = archive.message(chat_id, 11)
    assert m.deleted and m.deleted_at is not None and m.text == raw[1].message


def test_a_renamed_sender_is_noticed_and_archived(tmp_path):
    from telethon import utils

    archive, chat_id, raw = _setup(tmp_path)
    world = SimulatedTelegram.from_scenario({"chats": []})
    alice = world.tl_user(world.users["alice"])
    assert not apply_messages(archive, chat_id, raw, [alice]).renamed  # first seen: nothing to compare
    renamed = copy.copy(alice)
    renamed.first_name = "Alicia"
    applied = apply_messages(archive, chat_id, [], [renamed])
    assert applied.renamed and applied.changes == []
    assert archive.peer(utils.get_peer_id(alice)).title.startswith("Alicia")
    assert not apply_messages(archive, chat_id, [], [renamed]).renamed  # once
