"""Channel comments on the simulated Telegram (a broadcast channel with a linked discussion
supergroup), through Telethon's real client; plus forum-topic icons, deleted topics and a hidden
General."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from telethon import errors, utils
from telethon.tl import functions, types
from tgx.errors import ConfigError
from tgx.simulator.messages import SERVICE_KINDS
from tgx.simulator.scenario import validate
from tgx.testing import SimulatedTelegram


def news(posts: int = 1000, seed: int = 3, **comments) -> SimulatedTelegram:
    world = SimulatedTelegram(seed=seed, default_chats=False)
    world.add_channel("news", "News", posts, comments={"commented": 300, "most": 200, **comments})
    return world


def is_service(world, post: int) -> bool:
    return world.facts("news", post).kind in SERVICE_KINDS


# ---------------------------------------------------------------------------------------------
# the whole picture, 1,000 posts


def test_every_post_s_comments_read_both_ways_match_the_world():
    world = news()
    channel = world.chat("news")
    group = world.discussion_of(channel)
    assert group is not None and group.key == "news_comments" and group.title == "News chat"
    assert world.discussion_of(group) is None
    expected = {p: world.comments_of(channel, p) for p in range(1, 1001)}
    commented = [p for p, ids in expected.items() if ids]
    assert 280 <= len(commented) <= 310  # about 300; service posts among them have no thread
    assert max(len(ids) for ids in expected.values()) <= 200
    assert sum(map(len, expected.values())) == world.comment_total(channel)
    assert list(world.expected_comments(channel)) == [(p, i) for p in range(1, 1001) for i in expected[p]]

    async def fetch(client):
        history = [m async for m in client.iter_messages(group.input_peer(), wait_time=0)]
        posts = [m async for m in client.iter_messages("news", wait_time=0)]
        threads = {}
        for p in range(1, 1001):
            threads[p] = [m async for m in client.iter_messages("news", reply_to=p, wait_time=0)]
        return history, posts, threads

    history, posts, threads = world.run(fetch)

    # the group's history: every id once, dates never decreasing
    assert [m.id for m in history] == list(range(group.messages, 0, -1))
    by_id = {m.id: m for m in history}
    dates = [by_id[i].date for i in range(1, group.messages + 1)]
    assert dates == sorted(dates)
    assert isinstance(by_id[1], types.MessageService)  # the group's creation

    # each post's thread through GetReplies: exactly its comments, newest first, in the group
    for p, got in threads.items():
        assert [m.id for m in got] == expected[p][::-1], p
        assert all(m.peer_id == types.PeerChannel(group.id) for m in got)
    assert world.request_counts()["GetRepliesRequest"] >= 1000

    # posts: replies name the group, the count and the newest comment
    for m in posts:
        if is_service(world, m.id):
            assert isinstance(m, types.MessageService)
            continue
        ids = expected[m.id]
        assert m.replies.comments and m.replies.channel_id == group.id
        assert m.replies.replies == len(ids)
        assert m.replies.max_id == (ids[-1] if ids else None)

    # roots name their post; comments point at their root or an earlier comment of their thread
    post_of = {i: p for p, ids in expected.items() for i in ids}
    answers = Counter()
    for p in range(1, 1001):
        if is_service(world, p):
            continue
        root_id = world.thread_root(channel, p)
        root = by_id[root_id]
        assert root.from_id == types.PeerChannel(channel.id)
        assert root.fwd_from.saved_from_peer == types.PeerChannel(channel.id)
        assert root.fwd_from.saved_from_msg_id == p and root.fwd_from.channel_post == p
        assert root.fwd_from.date.timestamp() == root.date.timestamp() == world.facts(channel, p).date
        assert root.replies.replies == len(expected[p]) and not root.replies.comments
        assert root.replies.max_id == (expected[p][-1] if expected[p] else None)
        assert root_id < min(expected[p], default=root_id + 1)
    for comment_id, p in post_of.items():
        m = by_id[comment_id]
        root_id = world.thread_root(channel, p)
        assert isinstance(m.from_id, types.PeerUser)
        assert m.date.timestamp() >= world.facts(channel, p).date
        if p < 1000 and world.facts(channel, p + 1).date > world.facts(channel, p).date:
            assert m.date.timestamp() < world.facts(channel, p + 1).date
        header = m.reply_to
        if header.reply_to_top_id is None:
            assert header.reply_to_msg_id == root_id
            answers["root"] += 1
        else:
            assert header.reply_to_top_id == root_id
            assert header.reply_to_msg_id < comment_id and post_of[header.reply_to_msg_id] == p
            answers["comment"] += 1
    assert 0.1 < answers["comment"] / len(post_of) < 0.3

    # the other messages of the group (in the blocks of service posts) belong to no thread
    plain = set(by_id) - set(post_of) - {world.thread_root(channel, p) for p in commented} - {1}
    assert all(by_id[i].reply_to is None and by_id[i].fwd_from is None for i in plain
               if world.facts(group, i).kind != "root")
    kinds = Counter(world.facts(group, i).kind for i in post_of)
    assert kinds["text"] > kinds["photo"] > 0 and kinds["rich"] and kinds["reactions"] and kinds["edited"]


def test_get_replies_follows_get_history_s_paging_rules_and_answers_from_the_group_too():
    world = news(posts=300, commented=150)
    channel = world.chat("news")
    group = world.discussion_of(channel)
    post = max(range(1, 301), key=lambda p: len(world.comments_of(channel, p)))
    ids = world.comments_of(channel, post)
    assert len(ids) > 30
    root = world.thread_root(channel, post)
    cases = [(0, 0, 10, 0, 0), (ids[-5], 0, 10, 0, 0), (ids[10], -5, 10, 0, 0), (0, 0, 100, ids[-3], ids[3]),
             (ids[0], 0, 10, 0, 0), (0, 5, 0, 0, 0)]

    def reference(offset_id, add_offset, limit, max_id, min_id):
        desc = ids[::-1]
        pos = sum(1 for i in desc if i >= offset_id) if offset_id else 0
        limit = min(limit or 20, 100)
        window = desc[max(0, pos + add_offset):max(0, pos + add_offset + limit)]
        return [i for i in window if (not max_id or i < max_id) and (not min_id or i > min_id)]

    async def fetch(client):
        out = []
        for peer, msg_id in ((channel.input_peer(), post), (group.input_peer(), root)):
            for offset_id, add_offset, limit, max_id, min_id in cases:
                r = await client(functions.messages.GetRepliesRequest(
                    peer, msg_id, offset_id=offset_id, offset_date=None, add_offset=add_offset, limit=limit,
                    max_id=max_id, min_id=min_id, hash=0))
                out.append((r, (offset_id, add_offset, limit, max_id, min_id)))
        empty = next(p for p in range(2, 301) if not world.comments_of(channel, p) and not is_service(world, p))
        none = await client(functions.messages.GetRepliesRequest(channel.input_peer(), empty, 0, None, 0, 10,
                                                                 0, 0, 0))
        return out, none

    out, none = world.run(fetch)
    for r, case in out:
        assert isinstance(r, types.messages.ChannelMessages) and r.count == len(ids)
        assert [m.id for m in r.messages] == reference(*case), case
        assert {utils.get_peer_id(c) for c in r.chats} >= {channel.marked_id, group.marked_id}
    assert none.count == 0 and none.messages == []
    logged = world.log.of_type("GetRepliesRequest")
    assert {(e["peer"], e["msg_id"]) for e in logged} >= {(channel.marked_id, post),
                                                                               (group.marked_id, root)}
    assert all({"offset_id", "min_id"} <= set(e) for e in logged)


# ---------------------------------------------------------------------------------------------
# the link, the discussion message, private groups


def test_full_channel_names_the_link_both_ways_and_the_discussion_message_its_root():
    world = news(posts=200, commented=0.5)
    channel = world.chat("news")
    group = world.discussion_of(channel)
    post = next(p for p in range(2, 201) if world.comments_of(channel, p))
    quiet = next(p for p in range(2, 201) if not world.comments_of(channel, p) and not is_service(world, p))

    async def fetch(client):
        full_c = await client(functions.channels.GetFullChannelRequest(channel.input_peer()))
        full_d = await client(functions.channels.GetFullChannelRequest(group.input_peer()))
        disc = await client(functions.messages.GetDiscussionMessageRequest(channel.input_peer(), post))
        from_group = await client(functions.messages.GetDiscussionMessageRequest(
            group.input_peer(), world.thread_root(channel, post)))
        calm = await client(functions.messages.GetDiscussionMessageRequest(channel.input_peer(), quiet))
        with pytest.raises(errors.MsgIdInvalidError):
            await client(functions.messages.GetDiscussionMessageRequest(channel.input_peer(), 1))  # creation
        with pytest.raises(errors.MsgIdInvalidError):
            await client(functions.messages.GetDiscussionMessageRequest(channel.input_peer(), 999))
        dialogs = {d.id async for d in client.iter_dialogs()}
        return full_c, full_d, disc, from_group, calm, dialogs

    full_c, full_d, disc, from_group, calm, dialogs = world.run(fetch)
    assert full_c.full_chat.linked_chat_id == group.id and full_d.full_chat.linked_chat_id == channel.id
    linked = next(c for c in full_c.chats if c.id == group.id)
    assert linked.megagroup and not linked.left and linked.has_link and linked.access_hash == group.access_hash
    assert any(c.id == channel.id for c in full_d.chats)
    ids = world.comments_of(channel, post)
    for answer in (disc, from_group):
        assert [m.id for m in answer.messages] == [world.thread_root(channel, post)]
        assert answer.messages[0].fwd_from.saved_from_msg_id == post
        assert answer.max_id == ids[-1] and answer.unread_count == 0
        assert {c.id for c in answer.chats} == {channel.id, group.id}
    assert calm.max_id is None and calm.messages[0].replies.replies == 0
    assert {channel.marked_id, group.marked_id} <= dialogs
    logged = world.log.of_type("GetDiscussionMessageRequest")
    assert [e["msg_id"] for e in logged][:2] == [post, world.thread_root(channel, post)]


def test_a_private_discussion_group_is_read_only_through_get_replies():
    world = news(posts=200, private=True)
    channel = world.chat("news")
    group = world.discussion_of(channel)
    post = next(p for p in range(2, 201) if world.comments_of(channel, p))

    async def fetch(client):
        full = await client(functions.channels.GetFullChannelRequest(channel.input_peer()))
        for request in (functions.messages.GetHistoryRequest(group.input_peer(), 0, None, 0, 10, 0, 0, 0),
                        functions.channels.GetFullChannelRequest(group.input_peer()),
                        functions.channels.GetMessagesRequest(group.input_peer(), [types.InputMessageID(2)]),
                        functions.messages.GetRepliesRequest(group.input_peer(), 2, 0, None, 0, 10, 0, 0, 0)):
            with pytest.raises(errors.ChannelPrivateError):
                await client(request)
        comments = [m.id async for m in client.iter_messages("news", reply_to=post, wait_time=0)]
        dialogs = {d.id async for d in client.iter_dialogs()}
        return full, comments, dialogs

    full, comments, dialogs = world.run(fetch)
    linked = next(c for c in full.chats if c.id == group.id)
    assert full.full_chat.linked_chat_id == group.id and linked.left and linked.username is None
    assert comments == world.comments_of(channel, post)[::-1]
    assert group.marked_id not in dialogs and channel.marked_id in dialogs


# ---------------------------------------------------------------------------------------------
# changes between two runs: later comments, deletions, edits


def test_later_comments_get_new_ids_after_the_layout_and_bump_their_post():
    before = news(posts=400, commented=0.5)
    channel = before.chat("news")
    old, new = [p for p in range(2, 401) if before.comments_of(channel, p)][:2]
    quiet = next(p for p in range(2, 401) if not before.comments_of(channel, p) and not is_service(before, p))
    after = news(posts=400, commented=0.5, later=[[old, 5], [quiet, 2], [old, 1]])
    group_b, group_a = before.discussion_of("news"), after.discussion_of("news")
    end = group_b.messages
    assert group_a.messages == end + 8
    assert after.comments_of("news", old) == before.comments_of("news", old) + [end + 1, end + 2, end + 3, end + 4,
                                                                               end + 5, end + 8]
    assert after.comments_of("news", quiet) == [end + 6, end + 7]
    assert after.comments_of("news", new) == before.comments_of("news", new)
    assert after.comment_total("news") == before.comment_total("news") + 8
    # nothing else changed: every other message of both chats is the same, byte for byte
    changed = {old, quiet}
    roots = {before.thread_root("news", p) for p in changed}
    assert all(before.message_bytes("news", p) == after.message_bytes("news", p) for p in range(1, 401)
               if p not in changed)
    assert all(before.message_bytes(group_b, i) == after.message_bytes(group_a, i) for i in range(1, end + 1)
               if i not in roots)
    last_date = after.facts(group_a, end).date
    assert all(after.facts(group_a, i).date > last_date for i in range(end + 1, end + 9))
    assert after.facts(group_a, end + 9 - 1).date >= after.facts("news", 400).date

    async def fetch(client):
        posts = await client.get_messages("news", ids=[old, quiet])
        thread = [m async for m in client.iter_messages("news", reply_to=old, wait_time=0)]
        return posts, thread

    posts, thread = after.run(fetch)
    assert posts[0].replies.replies == len(after.comments_of("news", old)) and posts[0].replies.max_id == end + 8
    assert posts[1].replies.replies == 2 and posts[1].replies.max_id == end + 7
    assert [m.id for m in thread] == after.comments_of("news", old)[::-1]
    root = after.thread_root("news", old)
    assert all(m.reply_to.reply_to_msg_id == root or m.reply_to.reply_to_top_id == root for m in thread)


def test_more_posts_and_later_comments_grow_together_and_old_posts_keep_their_comments():
    before, after = news(posts=1000), news(posts=1010, later=[[12, 5], [600, 3]])
    group_b, group_a = before.discussion_of("news"), after.discussion_of("news")
    end = group_b.messages
    for p in range(1, 1001):
        extra = {12: 5, 600: 3}.get(p, 0)
        assert after.comments_of("news", p)[:len(after.comments_of("news", p)) - extra] == \
            before.comments_of("news", p), p
    grown = [p for p in range(1001, 1011) if after.comments_of("news", p)]
    assert all(end < i <= group_a.comments.base_end for p in grown for i in after.comments_of("news", p))
    assert after.comments_of("news", 600)[-3:] == [group_a.messages - 2, group_a.messages - 1, group_a.messages]
    assert after.facts(group_a, group_a.messages).date > after.facts("news", 1010).date
    dates = [after.facts(group_a, i).date for i in range(1, group_a.messages + 1)]
    assert dates == sorted(dates)
    roots = {before.thread_root("news", p) for p in (12, 600)}
    assert all(before.message_bytes(group_b, i) == after.message_bytes(group_a, i) for i in range(1, end + 1)
               if i not in roots)
    assert all(before.message_bytes("news", p) == after.message_bytes("news", p) for p in range(1, 1001)
               if p not in (12, 600))


def test_deleted_and_edited_comments_are_seen_everywhere():
    world = news(posts=200)
    channel = world.chat("news")
    group = world.discussion_of(channel)
    post = max(range(1, 201), key=lambda p: len(world.comments_of(channel, p)))
    ids = world.comments_of(channel, post)
    total = world.comment_total(channel)
    gone = [ids[0], ids[3], ids[-1]]
    world.delete_messages(group, gone)
    world.edit_messages(group, [ids[1]])
    assert world.comments_of(channel, post) == [i for i in ids if i not in gone]
    assert world.comment_total(channel) == total - 3

    async def fetch(client):
        thread = [m async for m in client.iter_messages("news", reply_to=post, wait_time=0)]
        history = [m.id async for m in client.iter_messages(group.input_peer(), wait_time=0)]
        [message] = await client.get_messages("news", ids=[post])
        disc = await client(functions.messages.GetDiscussionMessageRequest(channel.input_peer(), post))
        return thread, history, message, disc

    thread, history, message, disc = world.run(fetch)
    kept = [i for i in ids if i not in gone]
    assert [m.id for m in thread] == kept[::-1]
    assert not set(gone) & set(history) and len(history) == group.messages - 3
    assert message.replies.replies == len(kept) and message.replies.max_id == kept[-1]
    assert disc.max_id == kept[-1] and disc.messages[0].replies.replies == len(kept)
    edited = next(m for m in thread if m.id == ids[1])
    assert edited.message.endswith(" (edited later)") and edited.edit_date is not None


# ---------------------------------------------------------------------------------------------
# cost: a huge channel stores nothing per post


def test_a_200000_post_channel_with_comments_costs_no_per_post_memory():
    started = time.perf_counter()
    world = news(posts=200_000, commented=0.3)
    channel = world.chat("news")
    group = world.discussion_of(channel)
    layout = group.comments
    assert len(layout.counts) == len(layout.prefix) - 1 == 1024
    post = next(p for p in range(199_000, 200_001) if world.comments_of(channel, p))
    ids = world.comments_of(channel, post)
    assert ids[-1] < group.messages <= 200_000 * 202

    async def fetch(client):
        thread = [m.id async for m in client.iter_messages("news", reply_to=post, wait_time=0)]
        [message] = await client.get_messages("news", ids=[post])
        newest = await client.get_messages(group.input_peer(), limit=1)
        return thread, message, newest

    thread, message, newest = world.run(fetch)
    assert thread == ids[::-1] and message.replies.replies == len(ids)
    assert newest[0].id == group.messages
    assert world.facts(group, group.messages).date >= world.facts(channel, 200_000).date
    assert time.perf_counter() - started < 10


# ---------------------------------------------------------------------------------------------
# scenarios


def test_a_scenario_builds_the_same_discussion_group():
    scenario = {"seed": 3, "chats": [{"kind": "channel", "username": "news", "title": "News", "messages": 300,
                                      "comments": {"commented": 100, "most": 50, "later": [[12, 5], [290, 3]],
                                                   "title": "Talk", "key": "talk", "deleted": [5],
                                                   "edited": [6]}}]}
    world = SimulatedTelegram.from_scenario(validate(scenario))
    group = world.chat("talk")
    assert world.discussion_of("news") is group and group.title == "Talk" and group.readable
    direct = SimulatedTelegram(seed=3, default_chats=False)
    direct.add_channel("news", "News", 300, signatures=True,
                       comments={"commented": 100, "most": 50, "later": [(12, 5), (290, 3)], "key": "talk",
                                 "title": "Talk"})
    direct.delete_messages("talk", [5])
    direct.edit_messages("talk", [6])
    assert list(world.expected_comments("news")) == list(direct.expected_comments("news"))
    assert all(world.message_bytes("talk", i) == direct.message_bytes("talk", i)
               for i in world.expected_ids("talk"))
    assert max(len(world.comments_of("news", p)) for p in range(1, 301)) <= 50 + 5
    private = SimulatedTelegram.from_scenario({"chats": [{"kind": "channel", "username": "news", "messages": 10,
                                                          "comments": {"private": True}}]})
    assert not private.chat("news_comments").readable
    assert SimulatedTelegram.from_scenario({"chats": [{"kind": "channel", "username": "news", "messages": 10,
                                                       "comments": True}]}).discussion_of("news") is not None


BAD = [
    ({"comments": {"comented": 3}}, "unknown key 'comented'"),
    ({"comments": {"commented": 1.5}}, "commented must be a share"),
    ({"comments": {"commented": "many"}}, "commented must be"),
    ({"comments": {"most": 0}}, "most must be at least 1"),
    ({"comments": {"most": True}}, "most must be"),
    ({"comments": {"later": [[12]]}}, "later must be a list of [post id, comments] pairs"),
    ({"comments": {"later": [[0, 3]]}}, "later must be"),
    ({"comments": {"later": 5}}, "later must be"),
    ({"comments": {"private": True, "username": "talk"}}, "has no username"),
    ({"comments": {"deleted": [0]}}, "deleted must be a list of positive message ids"),
    ({"comments": "yes"}, "comments must be"),
    ({"kind": "supergroup", "comments": True}, "comments only apply to kind = \"channel\""),
    ({"topics": [{"title": "A", "colour": 1}]}, "unknown key 'colour'"),
    ({"kind": "forum", "topics": [{"title": "A", "icon_emoji_id": "x"}]}, "icon_emoji_id must be"),
    ({"kind": "forum", "topics": [{"closed": True}]}, "needs title"),
    ({"kind": "forum", "topics": [{"title": "A", "deleted": 1}]}, "deleted must be true or false"),
    ({"general_hidden": True}, "general_hidden only applies to kind = \"forum\""),
]


@pytest.mark.parametrize(("chat", "message"), BAD)
def test_bad_comment_and_topic_keys_are_config_errors_naming_them(chat, message):
    table = {"kind": "channel", "username": "news", "messages": 10, **chat}
    with pytest.raises(ConfigError) as info:
        validate({"chats": [table]})
    assert message in str(info.value)


def test_later_comments_on_a_post_that_does_not_exist_are_a_config_error():
    with pytest.raises(ConfigError, match="post 50"):
        SimulatedTelegram.from_scenario({"chats": [{"kind": "channel", "username": "news", "messages": 10,
                                                    "comments": {"later": [[50, 1]]}}]})


def test_add_discussion_refuses_what_telegram_has_not():
    world = SimulatedTelegram(default_chats=False)
    world.add_channel("news", "News", 10)
    group = world.add_supergroup("chat", "Chat", 10)
    with pytest.raises(ValueError, match="not a broadcast channel"):
        world.add_discussion(group)
    with pytest.raises(ValueError, match="commented"):
        world.add_channel("other", messages=5, comments={"commented": 2.0})
    assert [c.key for c in world.chats] == ["tgx_source", "news", "chat"]  # nothing half-added
    world.add_discussion("news", commented=1.0, most=1)
    with pytest.raises(ValueError, match="already has"):
        world.add_discussion("news")
    assert all(len(world.comments_of("news", p)) == (0 if world.facts("news", p).kind in SERVICE_KINDS else 1)
               for p in range(1, 11))


# ---------------------------------------------------------------------------------------------
# forum topics: icons, deleted topics, a hidden General


def test_topic_icons_deleted_topics_and_a_hidden_general():
    world = SimulatedTelegram(default_chats=False)
    forum = world.add_channel("forum", "Forum", 300, forum=True, general_hidden=True, topics=[
        {"title": "Icons", "icon_emoji_id": 5368324170671202286}, {"title": "Gone", "deleted": True}, "Plain"])

    async def fetch(client):
        listed = await client(functions.messages.GetForumTopicsRequest(
            forum.input_peer(), offset_date=None, offset_id=0, offset_topic=0, limit=100))
        by_id = await client(functions.messages.GetForumTopicsByIDRequest(forum.input_peer(), [1, 2, 3, 4]))
        created = await client.get_messages(forum.input_peer(), ids=[2, 3, 4])
        gone = [m.id async for m in client.iter_messages(forum.input_peer(), reply_to=3, wait_time=0)]
        return listed, by_id, created, gone

    listed, by_id, created, gone = world.run(fetch)
    topics = {t.id: t for t in listed.topics}
    assert set(topics) == {1, 2, 4} and listed.count == 3 and {t.id for t in by_id.topics} == {1, 2, 4}
    assert topics[1].hidden and not topics[2].hidden
    assert topics[2].icon_emoji_id == 5368324170671202286 and topics[4].icon_emoji_id is None
    assert [m.action.title for m in created] == ["Icons", "Gone", "Plain"]  # each its own title
    assert created[0].action.icon_emoji_id == 5368324170671202286 and created[1].action.icon_emoji_id is None
    assert gone  # a deleted topic's messages stay in the history
    plain = SimulatedTelegram(default_chats=False)
    plain.add_channel("forum", "Forum", 50, forum=True)

    async def general(client):
        return await client(functions.messages.GetForumTopicsByIDRequest(plain.chat("forum").input_peer(), [1]))

    assert not plain.run(general).topics[0].hidden
    scenario = {"chats": [{"kind": "forum", "username": "forum", "messages": 100, "general_hidden": True,
                           "topics": [{"title": "A", "icon_emoji_id": 7, "deleted": True}]}]}
    built = SimulatedTelegram.from_scenario(scenario).chat("forum")
    assert built.general_hidden and built.topics[0].icon_emoji_id == 7 and built.topics[0].deleted
