"""The simulated Telegram through Telethon's real client: histories, paging, entities, peers."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from telethon import errors, utils
from telethon.tl import functions, types
from tgx.simulator.content import utf16_len
from tgx.testing import SimulatedTelegram

# ---------------------------------------------------------------------------------------------
# whole histories


def test_iter_messages_yields_every_id_once_in_order_for_10000_channel():
    world = SimulatedTelegram(seed=5, default_chats=False)
    world.add_channel("ten_k", "Ten thousand", 10_000)

    async def fetch(client):
        return [m.id async for m in client.iter_messages("ten_k", wait_time=0)]

    ids = world.run(fetch)
    assert ids == list(range(10_000, 0, -1))
    assert world.request_counts()["GetHistoryRequest"] == 100


@pytest.mark.parametrize("key", ["group", "alice", "bot", "tgx_forum", "tgx_source"])
def test_every_chat_kind_pages_completely_newest_first_and_in_reverse(sim_world, key):
    chat = sim_world.chat(key)
    expected = list(sim_world.expected_ids(chat))

    async def fetch(client):
        newest_first = [m.id async for m in client.iter_messages(chat.input_peer(), wait_time=0)]
        oldest_first = [m.id async for m in client.iter_messages(chat.input_peer(), reverse=True, wait_time=0)]
        return newest_first, oldest_first

    newest_first, oldest_first = sim_world.run(fetch)
    assert newest_first == expected[::-1]
    assert oldest_first == expected
    assert len(set(expected)) == len(expected) == chat.messages


def test_basic_groups_and_private_chats_share_one_interleaved_id_sequence(sim_world):
    shared = [sim_world.chat(k) for k in ("group", "alice", "bot")]
    all_ids = [i for chat in shared for i in sim_world.expected_ids(chat)]
    assert len(all_ids) == len(set(all_ids))  # one account-wide sequence: no id is reused
    group = list(sim_world.expected_ids("group"))
    assert any(b - a > 1 for a, b in zip(group, group[1:], strict=False))  # not dense per chat
    channel = list(sim_world.expected_ids("tgx_demo"))
    assert channel == list(range(1, len(channel) + 1))  # channels are dense 1..N


def test_dates_never_decrease_with_id_and_albums_share_one_date(sim_world):
    for key in ("tgx_demo", "group", "tgx_forum"):
        ids = list(sim_world.expected_ids(key))
        dates = [sim_world.facts(key, i).date for i in ids]
        assert dates == sorted(dates), key
    album = [i for i in range(1, 60) if sim_world.facts("tgx_demo", i).album_start]
    assert len(album) >= 2
    assert len({sim_world.facts("tgx_demo", i).date for i in album[:3]}) == 1


def test_what_the_client_receives_is_the_worlds_message_byte_for_byte(sim_world):
    chat = sim_world.chat("tgx_demo")

    async def fetch(client):
        return await client.get_messages(chat.input_peer(), limit=100)

    received = sim_world.run(fetch)
    for message in received:
        expected = sim_world.tl_message(chat, message.id)
        assert bytes(expected) == sim_world.message_bytes(chat, message.id)
        assert bytes(message) == bytes(expected)


def test_same_seed_same_world_other_seed_other_content():
    a = SimulatedTelegram(seed=11, messages=300)
    b = SimulatedTelegram(seed=11, messages=300)
    c = SimulatedTelegram(seed=12, messages=300)
    ids = range(1, 301)
    assert [a.message_bytes("tgx_demo", i) for i in ids] == [b.message_bytes("tgx_demo", i) for i in ids]
    assert [a.message_bytes("tgx_demo", i) for i in ids] != [c.message_bytes("tgx_demo", i) for i in ids]


# ---------------------------------------------------------------------------------------------
# GetHistory semantics against a reference implementation of Telegram's documented rules


def reference_slice(ids_desc, dates_desc, offset_id, offset_date, add_offset, limit, max_id, min_id):
    """core.telegram.org/api/offsets: skip offsetFromID(offset_id) + add_offset results (ids >=
    offset_id), take limit (at most 100), then keep min_id < id < max_id."""
    limit = min(limit if limit > 0 else 20, 100)
    if offset_id:
        pos = sum(1 for i in ids_desc if i >= offset_id)
    elif offset_date:
        pos = sum(1 for d in dates_desc if d >= offset_date)
    else:
        pos = 0
    start = pos + add_offset
    window = ids_desc[max(0, start):max(0, start + limit)]
    return [i for i in window if (not max_id or i < max_id) and (not min_id or i > min_id)]


@pytest.mark.parametrize("key", ["tgx_demo", "group"])
def test_get_history_paging_parameters_follow_telegrams_rules(sim_world, key):
    chat = sim_world.chat(key)
    ids_desc = list(sim_world.expected_ids(chat))[::-1]
    dates_desc = [sim_world.facts(chat, i).date for i in ids_desc]
    top = ids_desc[0]
    rng = random.Random(7)
    cases = [(0, 0, 0, 100, 0, 0), (top, 0, 0, 100, 0, 0), (top + 50, 0, 0, 10, 0, 0), (1, 0, 0, 10, 0, 0),
             (ids_desc[10], 0, -20, 20, 0, 0), (ids_desc[10], 0, -5, 10, 0, 0), (0, 0, 0, 500, 0, 0),
             (0, 0, 0, 0, 0, 0), (ids_desc[-1], 0, -100, 100, 0, 0), (0, 0, 0, 100, top - 50, 0),
             (0, 0, 0, 100, 0, top - 30), (0, 0, 5, 30, top - 3, top - 40)]
    for _ in range(150):
        offset_id = rng.choice([0, rng.randint(1, top + 20), rng.choice(ids_desc)])
        offset_date = rng.choice([0, 0, rng.choice(dates_desc), rng.choice(dates_desc) + 1])
        add_offset = rng.choice([0, 0, rng.randint(-120, 120), -rng.randint(1, 100)])
        limit = rng.choice([1, 20, 100, rng.randint(0, 150)])
        max_id = rng.choice([0, 0, rng.randint(1, top + 5)])
        min_id = rng.choice([0, 0, rng.randint(0, top)])
        cases.append((offset_id, offset_date, add_offset, limit, max_id, min_id))

    async def fetch(client):
        peer = chat.input_peer()
        out = []
        for case in cases:
            offset_id, offset_date, add_offset, limit, max_id, min_id = case
            date = datetime.fromtimestamp(offset_date, UTC) if offset_date else None
            r = await client(functions.messages.GetHistoryRequest(
                peer, offset_id=offset_id, offset_date=date, add_offset=add_offset, limit=limit,
                max_id=max_id, min_id=min_id, hash=0))
            out.append(r)
        return out

    answers = sim_world.run(fetch)
    for case, answer in zip(cases, answers, strict=True):
        got = [m.id for m in answer.messages]
        assert got == reference_slice(ids_desc, dates_desc, *case), case
        if chat.is_channel:
            assert isinstance(answer, types.messages.ChannelMessages) and answer.count == len(ids_desc)
        elif isinstance(answer, types.messages.MessagesSlice):
            assert answer.count == len(ids_desc)
        else:
            assert isinstance(answer, types.messages.Messages), case
            assert len(ids_desc) <= min(case[3] if case[3] > 0 else 20, 100)
        referenced = {u.id for u in answer.users}
        for m in answer.messages:
            if isinstance(m.from_id, types.PeerUser):
                assert m.from_id.user_id in referenced  # every author comes with the answer


def test_get_messages_by_id_channel_and_account_wide(sim_world):
    group = sim_world.chat("group")
    group_ids = list(sim_world.expected_ids(group))
    alice_ids = list(sim_world.expected_ids("alice"))

    async def fetch(client):
        channel = await client.get_messages("tgx_demo", ids=[5, 2000, 2001])
        in_group = await client.get_messages(group.input_peer(), ids=[group_ids[3], alice_ids[0]])
        return channel, in_group

    channel, in_group = sim_world.run(fetch)
    assert [m and m.id for m in channel] == [5, 2000, None]
    # messages.getMessages is account-wide; Telethon drops the one that is not in this chat
    assert in_group[0].id == group_ids[3] and in_group[1] is None


# ---------------------------------------------------------------------------------------------
# content


def test_showcase_has_every_entity_kind_with_utf16_offsets(sim_world):
    wanted = {
        types.MessageEntityBold, types.MessageEntityItalic, types.MessageEntityUnderline,
        types.MessageEntityStrike, types.MessageEntitySpoiler, types.MessageEntityBlockquote,
        types.MessageEntityCode, types.MessageEntityPre, types.MessageEntityTextUrl,
        types.MessageEntityMentionName, types.MessageEntityCustomEmoji, types.MessageEntityMention,
        types.MessageEntityHashtag, types.MessageEntityCashtag, types.MessageEntityBotCommand,
        types.MessageEntityUrl, types.MessageEntityEmail, types.MessageEntityPhone, types.MessageEntityBankCard,
    }
    seen = set()
    for message_id in range(1, 40):
        m = sim_world.tl_message("tgx_demo", message_id)
        for e in getattr(m, "entities", None) or ():
            seen.add(type(e))
            units = m.message.encode("utf-16-le")
            assert 0 <= e.offset and e.offset + e.length <= len(units) // 2
            piece = units[2 * e.offset:2 * (e.offset + e.length)].decode("utf-16-le")
            if isinstance(e, types.MessageEntityBold) and piece.isascii():
                assert piece in ("bold", "bold bold-italic end")
            if isinstance(e, types.MessageEntityBankCard):
                assert piece == "4111 1111 1111 1111"
    assert wanted <= seen
    first_rich = sim_world.find("tgx_demo", "rich")
    text = sim_world.tl_message("tgx_demo", first_rich).message
    assert utf16_len(text) > len(text)  # non-BMP characters before the entities


def test_showcase_kinds_and_hostile_texts(sim_world):
    kinds = {sim_world.facts("tgx_demo", i).kind for i in range(1, 40)}
    assert {"photo", "album_photo", "video", "document", "doc_128k", "doc_other_dc", "voice", "sticker",
            "audio", "animation", "round", "poll", "fwd_channel", "fwd_user", "fwd_hidden", "edited",
            "reactions", "via_bot", "hostile", "hostile_link", "pin", "title", "create", "reply",
            "big_video"} <= kinds
    texts = [getattr(sim_world.tl_message("tgx_demo", i), "message", None) or "" for i in range(1, 40)]
    assert any("<script>alert(1)</script>" in t for t in texts)
    link = sim_world.tl_message("tgx_demo", sim_world.find("tgx_demo", "hostile_link"))
    assert any(getattr(e, "url", "").startswith("javascript:") for e in link.entities)
    post = sim_world.tl_message("tgx_demo", 40)
    assert post.post and post.views is not None and post.forwards is not None


def test_text_only_worlds_have_no_media():
    world = SimulatedTelegram(seed=2, messages=3000, media=False)
    for message_id in range(1, 3001, 7):
        m = world.tl_message("tgx_demo", message_id)
        assert not isinstance(getattr(m, "media", None), types.MessageMediaPhoto | types.MessageMediaDocument)


# ---------------------------------------------------------------------------------------------
# peers, dialogs, forum


def test_resolve_and_peer_errors(sim_world):
    async def go(client):
        demo = await client.get_entity("tgx_demo")
        alice = await client.get_entity("@alice")
        with pytest.raises(ValueError):
            await client.get_entity("nobody_has_this")
        with pytest.raises(errors.UsernameNotOccupiedError):
            await client(functions.contacts.ResolveUsernameRequest("nobody_has_this"))
        with pytest.raises(errors.ChannelInvalidError):
            await client(functions.messages.GetHistoryRequest(
                types.InputPeerChannel(demo.id, demo.access_hash + 1), 0, None, 0, 10, 0, 0, 0))
        me = await client.get_me()
        return demo, alice, me

    demo, alice, me = sim_world.run(go)
    assert demo.broadcast and demo.title == "tgx demo channel" and demo.username == "tgx_demo"
    assert alice.username == "alice" and alice.contact
    assert me.is_self and me.id == sim_world.me.id


def test_min_users_are_not_cached_so_their_input_entity_fails(sim_world):
    dave = sim_world.users["dave"]
    forum = sim_world.chat("tgx_forum")
    authored = next(i for i in sim_world.expected_ids(forum) if sim_world.facts(forum, i).sender == dave.id)

    async def go(client):
        (message,) = await client.get_messages(forum.input_peer(), ids=[authored])
        assert message.sender_id == dave.id
        with pytest.raises(ValueError):
            await client.get_input_entity(dave.id)
        alice = await client.get_input_entity(sim_world.users["alice"].id)  # a contact: access_hash 0 works
        return alice

    assert isinstance(sim_world.run(go), types.InputPeerUser)


def test_dialogs_list_joined_chats_and_page_like_telegram(sim_world):
    async def go(client):
        listed = [d async for d in client.iter_dialogs()]
        pages = []
        request = functions.messages.GetDialogsRequest(None, 0, types.InputPeerEmpty(), 2, 0)
        for _ in range(10):  # bounded: a paging bug must fail, not hang
            r = await client(request)
            pages.append([utils.get_peer_id(d.peer) for d in r.dialogs])
            if not isinstance(r, types.messages.DialogsSlice) or len(r.dialogs) < 2:
                break
            last = r.dialogs[-1]
            top = next(m for m in r.messages if m.id == last.top_message
                       and utils.get_peer_id(m.peer_id) == utils.get_peer_id(last.peer))
            request.offset_id, request.offset_date = top.id, top.date
            request.offset_peer = await client.get_input_entity(last.peer)
        return listed, pages

    listed, pages = sim_world.run(go)
    names = {d.name for d in listed}
    assert {"tgx demo channel", "tgx forum", "tgx basic group", "Alice Liddell", "Tgx Helper"} == names
    assert "tgx source channel" not in names  # a public channel read without joining
    flat = [p for page in pages for p in page]
    assert flat == [d.id for d in listed] and len(pages) == 3


def test_forum_topics_and_threads(sim_world):
    forum = sim_world.chat("tgx_forum")

    async def go(client):
        topics = await client(functions.messages.GetForumTopicsRequest(
            forum.input_peer(), offset_date=None, offset_id=0, offset_topic=0, limit=100))
        threads = {}
        for topic in topics.topics:
            ids = [m.id async for m in client.iter_messages(forum.input_peer(), reply_to=topic.id, wait_time=0)]
            threads[topic.id] = ids
        return topics, threads

    topics, threads = sim_world.run(go)
    assert {t.title for t in topics.topics} == {"General", *(t.title for t in forum.topics)}
    union = sorted(i for ids in threads.values() for i in ids)
    assert union == list(sim_world.expected_ids(forum))  # every message in exactly one topic
    for root, ids in threads.items():
        assert ids == sorted(ids, reverse=True) and ids[-1] == root
        for message_id in ids:
            facts = sim_world.facts(forum, message_id)
            assert facts.top_id in (0, root) and (root == 1) == (facts.top_id == 0)


def test_each_account_has_its_own_access_hashes():
    """As on Telegram, an access hash belongs to the account that was given it: an input peer
    resolved by one account is CHANNEL_INVALID (a user's: not found) for another, so a chat
    moved between accounts must be resolved again by the one that takes it."""
    world = SimulatedTelegram(seed=5, media=False)
    world.add_channel("public_news", "Public", 20)
    world.add_account("other")

    async def resolve(client):
        channel = await client.get_input_entity("@public_news")
        bob = (await client(functions.contacts.ResolveUsernameRequest("bob_builder"))).users[0]
        return channel, types.InputPeerUser(bob.id, bob.access_hash)

    mine, bob_mine = world.run(resolve)
    theirs, bob_theirs = world.run(resolve, account="other")
    assert mine.channel_id == theirs.channel_id and mine.access_hash != theirs.access_hash
    assert bob_mine.user_id == bob_theirs.user_id and bob_mine.access_hash != bob_theirs.access_hash

    async def history(client, peer):
        return len((await client(functions.messages.GetHistoryRequest(peer, 0, None, 0, 5, 0, 0, 0))).messages)

    assert world.run(lambda c: history(c, theirs), account="other") == 5
    with pytest.raises(errors.ChannelInvalidError):
        world.run(lambda c: history(c, mine), account="other")
    with pytest.raises(errors.ChannelInvalidError):
        world.run(lambda c: history(c, theirs))

    async def full_user(client, peer):
        return await client(functions.users.GetFullUserRequest(peer))

    assert world.run(lambda c: full_user(c, bob_theirs), account="other").full_user.id == bob_theirs.user_id
    with pytest.raises(errors.RPCError):
        world.run(lambda c: full_user(c, bob_mine), account="other")
