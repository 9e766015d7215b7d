"""tgx.fetch.normalize: raw Telethon TL objects → tgx.model, field by field.

Every TL object goes through ``bytes()`` and back (``wire``) first, so the tests see exactly what
Telethon hands the fetcher after decoding a response.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from telethon import utils
from telethon.extensions import BinaryReader
from telethon.tl import types as t
from tgx.fetch.normalize import (
    action_name,
    convert_action,
    convert_entities,
    convert_media,
    convert_message,
    convert_messages,
    convert_peer,
    convert_peers,
    peer_id,
)
from tgx.model import ENTITY_TYPES, FILE_MEDIA_KINDS, OTHER_MEDIA_KINDS, Message

CHANNEL = t.PeerChannel(1234567)
CHAT_ID = -1000001234567
DATE = datetime(2024, 5, 17, 12, 30, 5, tzinfo=UTC)


def wire(obj):
    """Serialize and parse back, as Telethon does with a server response."""
    return BinaryReader(bytes(obj)).tgread_object()


def msg(**kw) -> Message:
    kw.setdefault("id", 10)
    kw.setdefault("peer_id", CHANNEL)
    kw.setdefault("date", DATE)
    kw.setdefault("message", "")
    converted = convert_message(wire(t.Message(**kw)), CHAT_ID)
    assert converted is not None
    return converted


def service(action, **kw) -> Message:
    kw.setdefault("id", 11)
    kw.setdefault("peer_id", CHANNEL)
    kw.setdefault("date", DATE)
    converted = convert_message(wire(t.MessageService(action=action, **kw)), CHAT_ID)
    assert converted is not None
    return converted


def doc(*attributes, mime="application/octet-stream", size=1000, id=777):
    return t.Document(id=id, access_hash=1, file_reference=b"ref", date=DATE, mime_type=mime, size=size,
                      dc_id=4, attributes=list(attributes))


# ---------------------------------------------------------------------------------------------
# peers and ids


@pytest.mark.parametrize("peer", [t.PeerUser(42), t.PeerChat(77), t.PeerChannel(1234567), t.PeerChannel(1)])
def test_peer_id_matches_telethon(peer):
    assert peer_id(peer) == utils.get_peer_id(peer)


def test_peer_id_none():
    assert peer_id(None) is None


def test_convert_user_kinds():
    u = convert_peer(wire(t.User(id=5, first_name="Ada", last_name="Lovelace", username="ada",
                                 access_hash=1)))
    assert (u.id, u.kind, u.title, u.username, u.first_name, u.last_name) == (
        5, "user", "Ada Lovelace", "ada", "Ada", "Lovelace")
    assert convert_peer(wire(t.User(id=6, bot=True, bot_info_version=1, first_name="Helper"))).kind == "bot"
    me = convert_peer(wire(t.User(id=7, is_self=True, first_name="Me")))
    assert me.kind == "self" and me.title == "Me"
    gone = convert_peer(wire(t.User(id=8, deleted=True)))
    assert gone.deleted and gone.title == "Deleted Account"


def test_convert_user_with_only_collectible_usernames():
    u = wire(t.User(id=9, first_name="X", usernames=[t.Username("old"), t.Username("nick", active=True)]))
    assert convert_peer(u).username == "nick"


def test_convert_chats_and_channels():
    g = convert_peer(wire(t.Chat(id=77, title="Family", photo=t.ChatPhotoEmpty(), participants_count=3,
                                 date=DATE, version=1)))
    assert (g.id, g.kind, g.title) == (-77, "group", "Family")
    assert convert_peer(wire(t.ChatForbidden(id=78, title="Old"))).id == -78
    ch = convert_peer(wire(t.Channel(id=1234567, title="News", photo=t.ChatPhotoEmpty(), date=DATE,
                                      broadcast=True, username="news", access_hash=3)))
    assert (ch.id, ch.kind, ch.title, ch.folder_name) == (-1000001234567, "channel", "News", "news")
    sg = convert_peer(wire(t.Channel(id=55, title="Forum", photo=t.ChatPhotoEmpty(), date=DATE,
                                      megagroup=True, forum=True)))
    assert (sg.id, sg.kind, sg.forum) == (-1000000000055, "supergroup", True)
    assert sg.folder_name == "-1000000000055"
    cf = convert_peer(wire(t.ChannelForbidden(id=56, access_hash=1, title="Gone", broadcast=True)))
    assert (cf.id, cf.kind) == (-1000000000056, "channel")


def test_convert_peers_skips_unknown_objects():
    peers = convert_peers([t.User(id=1, first_name="A"), object(), t.ChatForbidden(id=2, title="B")])
    assert [p.id for p in peers] == [1, -2]
    with pytest.raises(TypeError):
        convert_peer(object())


# ---------------------------------------------------------------------------------------------
# plain messages


def test_basic_fields():
    m = msg(id=99, message="hi", from_id=t.PeerUser(42), views=10, forwards=2, out=True, pinned=True,
            post_author="Editor", via_bot_id=555, grouped_id=123456789012,
            edit_date=DATE + timedelta(hours=1),
            replies=t.MessageReplies(replies=4, replies_pts=1))
    assert (m.chat_id, m.id, m.text, m.sender_id) == (CHAT_ID, 99, "hi", 42)
    assert m.date == DATE and m.date.tzinfo is not None and m.date.utcoffset() == timedelta(0)
    assert m.edit_date == DATE + timedelta(hours=1)
    assert (m.views, m.forwards, m.replies, m.grouped_id) == (10, 2, 4, 123456789012)
    assert (m.post_author, m.via_bot_id, m.out, m.pinned, m.deleted) == ("Editor", 555, True, True, False)
    assert m.action is None and m.media is None and m.forward is None
    assert m.to_dict()["date"] == "2024-05-17T12:30:05+00:00"


def test_edit_hide_drops_edit_date():
    assert msg(edit_date=DATE, edit_hide=True).edit_date is None


def test_message_empty_is_none():
    # (Telethon patches MessageEmpty with its custom Message: peer_id must be passed, even None)
    empty = wire(t.MessageEmpty(5, None))
    assert convert_message(empty, CHAT_ID) is None
    assert convert_message(None, CHAT_ID) is None
    full = t.Message(id=6, peer_id=CHANNEL, date=DATE, message="x")
    assert [m.id for m in convert_messages([empty, full], CHAT_ID)] == [6]


def test_decoded_messages_take_the_exact_type_path_and_subclasses_work():
    raw = wire(t.Message(id=6, peer_id=CHANNEL, date=DATE, message="x"))
    assert type(raw) is t.Message  # Telethon's patched class, what GetHistory yields

    class Sub(t.Message):
        pass

    sub = Sub(id=7, peer_id=CHANNEL, date=DATE, message="y")
    assert convert_message(sub, CHAT_ID).text == "y"
    assert convert_message(object(), CHAT_ID) is None


def test_senders():
    assert msg(from_id=t.PeerChannel(99)).sender_id == -1000000000099  # anonymous admin / linked channel
    assert msg(from_id=t.PeerChat(5)).sender_id == -5
    assert msg(post=True).sender_id is None  # channel post without from_id
    dm = t.PeerUser(321)
    assert msg(peer_id=dm).sender_id == 321  # incoming private message: the other user
    assert msg(peer_id=dm, out=True).sender_id is None
    out = convert_message(wire(t.Message(id=1, peer_id=dm, date=DATE, message="x", out=True)), 321, self_id=7)
    assert out.sender_id == 7


def test_naive_and_int_dates_are_made_utc():
    raw = t.Message(id=1, peer_id=CHANNEL, date=datetime(2024, 1, 1, 10, 0), message="x")
    assert convert_message(raw, CHAT_ID).date == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    raw = t.Message(id=1, peer_id=CHANNEL, date=1_700_000_000, message="x", edit_date=1_700_000_100)
    m = convert_message(raw, CHAT_ID)
    assert m.date == datetime.fromtimestamp(1_700_000_000, UTC)
    assert m.edit_date == datetime.fromtimestamp(1_700_000_100, UTC)
    other_tz = datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    raw = t.Message(id=1, peer_id=CHANNEL, date=other_tz, message="")
    assert convert_message(raw, CHAT_ID).date == other_tz


# ---------------------------------------------------------------------------------------------
# entities

ENTITY_CASES = [
    (t.MessageEntityBold(0, 1), {"type": "bold"}),
    (t.MessageEntityItalic(0, 1), {"type": "italic"}),
    (t.MessageEntityUnderline(0, 1), {"type": "underline"}),
    (t.MessageEntityStrike(0, 1), {"type": "strikethrough"}),
    (t.MessageEntitySpoiler(0, 1), {"type": "spoiler"}),
    (t.MessageEntityBlockquote(0, 1, collapsed=True), {"type": "blockquote"}),
    (t.MessageEntityCode(0, 1), {"type": "code"}),
    (t.MessageEntityPre(0, 1, "python"), {"type": "pre", "language": "python"}),
    (t.MessageEntityPre(0, 1, ""), {"type": "pre"}),
    (t.MessageEntityTextUrl(0, 1, "https://x.y/z"), {"type": "text_link", "url": "https://x.y/z"}),
    (t.MessageEntityMentionName(0, 1, 42), {"type": "mention_name", "user_id": 42}),
    (t.InputMessageEntityMentionName(0, 1, t.InputUser(43, 9)), {"type": "mention_name", "user_id": 43}),
    (t.MessageEntityCustomEmoji(0, 1, 5368324170671202286), {"type": "custom_emoji",
                                                             "document_id": 5368324170671202286}),
    (t.MessageEntityMention(0, 1), {"type": "mention"}),
    (t.MessageEntityHashtag(0, 1), {"type": "hashtag"}),
    (t.MessageEntityCashtag(0, 1), {"type": "cashtag"}),
    (t.MessageEntityBotCommand(0, 1), {"type": "bot_command"}),
    (t.MessageEntityUrl(0, 1), {"type": "link"}),
    (t.MessageEntityEmail(0, 1), {"type": "email"}),
    (t.MessageEntityPhone(0, 1), {"type": "phone"}),
    (t.MessageEntityBankCard(0, 1), {"type": "bank_card"}),
]


@pytest.mark.parametrize(("entity", "expected"), ENTITY_CASES, ids=lambda v: type(v).__name__)
def test_every_entity_type(entity, expected):
    (converted,) = msg(message="x", entities=[entity]).entities
    assert converted.to_dict() == {"offset": 0, "length": 1, **expected}


def test_entity_names_cover_the_model():
    produced = {expected["type"] for _, expected in ENTITY_CASES}
    assert produced == set(ENTITY_TYPES)


def test_unknown_entities_are_skipped():
    ents = [t.MessageEntityUnknown(0, 1), t.MessageEntityBold(0, 1), t.MessageEntityDiffInsert(0, 1)]
    assert [e.type for e in convert_entities(ents)] == ["bold"]
    assert convert_entities(None) == []


def test_entity_subclass_uses_parent_mapping():
    class MyBold(t.MessageEntityBold):
        pass

    assert [e.type for e in convert_entities([MyBold(1, 2)])] == ["bold"]


def test_non_bmp_offsets_untouched():
    # "👍 ok 𝔘": 👍 and 𝔘 are surrogate pairs in UTF-16 (2 code units each): offsets count those.
    text = "👍 ok 𝔘 done"
    ents = [t.MessageEntityBold(3, 2), t.MessageEntityItalic(6, 2), t.MessageEntityUrl(9, 4)]
    m = msg(message=text, entities=ents)
    assert m.text == text
    assert [(e.offset, e.length) for e in m.entities] == [(3, 2), (6, 2), (9, 4)]
    units = text.encode("utf-16-le")
    assert units[2 * 6:2 * 8].decode("utf-16-le") == "𝔘"


# ---------------------------------------------------------------------------------------------
# reply / topic / forward / reactions


def test_reply():
    m = msg(reply_to=t.MessageReplyHeader(reply_to_msg_id=7))
    assert (m.reply_to_id, m.reply_to_peer_id, m.topic_id) == (7, None, None)
    m = msg(reply_to=t.MessageReplyHeader(reply_to_msg_id=7, reply_to_peer_id=t.PeerChannel(5)))
    assert m.reply_to_peer_id == -1000000000005


def test_comment_thread_reply_is_not_a_topic():
    m = msg(reply_to=t.MessageReplyHeader(reply_to_msg_id=8, reply_to_top_id=3))
    assert (m.reply_to_id, m.topic_id, m.reply_to_top_id) == (8, None, 3)  # answers comment 8 in thread 3
    direct = msg(reply_to=t.MessageReplyHeader(reply_to_msg_id=3))
    assert (direct.reply_to_id, direct.reply_to_top_id) == (3, None)


def test_a_posts_replies_keep_their_count_and_newest_id():
    post = msg(replies=t.MessageReplies(replies=12, replies_pts=5, comments=True, channel_id=77, max_id=950))
    assert (post.replies, post.replies_max_id) == (12, 950)
    quiet = msg(replies=t.MessageReplies(replies=0, replies_pts=5, comments=True, channel_id=77))
    assert (quiet.replies, quiet.replies_max_id) == (0, None)
    assert (msg().replies, msg().replies_max_id) == (None, None)


def test_a_topic_created_message_belongs_to_its_own_topic():
    m = service(t.MessageActionTopicCreate("Ideas", 0x6FB9F0), id=42)
    assert (m.action.type, m.topic_id, m.reply_to_id) == ("topic_created", 42, None)


def test_forum_topic_post_and_reply():
    post = msg(reply_to=t.MessageReplyHeader(forum_topic=True, reply_to_msg_id=50))
    assert (post.topic_id, post.reply_to_id) == (50, None)
    reply = msg(reply_to=t.MessageReplyHeader(forum_topic=True, reply_to_msg_id=61, reply_to_top_id=50))
    assert (reply.topic_id, reply.reply_to_id) == (50, 61)


def test_story_reply_header_is_ignored():
    m = msg(reply_to=t.MessageReplyStoryHeader(peer=t.PeerUser(1), story_id=3))
    assert m.reply_to_id is None and m.topic_id is None


def test_forward():
    f = msg(fwd_from=t.MessageFwdHeader(date=DATE - timedelta(days=1), from_id=t.PeerChannel(9),
                                        channel_post=77,
                                        post_author="Bob", saved_from_peer=t.PeerUser(3),
                                        saved_from_msg_id=5)).forward
    assert (f.from_id, f.from_name, f.date, f.channel_post, f.post_author, f.saved_from_peer,
            f.saved_from_msg_id) == (-1000000000009, None, DATE - timedelta(days=1), 77, "Bob", 3, 5)
    hidden = msg(fwd_from=t.MessageFwdHeader(date=DATE, from_name="Hidden Person")).forward
    assert (hidden.from_id, hidden.from_name) == (None, "Hidden Person")


def test_reactions():
    r = msg(reactions=t.MessageReactions(results=[
        t.ReactionCount(t.ReactionEmoji("👍"), 5, chosen_order=0),
        t.ReactionCount(t.ReactionCustomEmoji(123), 2),
        t.ReactionCount(t.ReactionPaid(), 9),
        t.ReactionCount(t.ReactionEmpty(), 1),
    ])).reactions
    assert [x.to_dict() for x in r] == [
        {"type": "emoji", "count": 5, "emoji": "👍", "document_id": None, "chosen": True},
        {"type": "custom_emoji", "count": 2, "emoji": None, "document_id": 123, "chosen": False},
        {"type": "paid", "count": 9, "emoji": None, "document_id": None, "chosen": False},
    ]


# ---------------------------------------------------------------------------------------------
# media


def test_photo_takes_the_largest_size():
    photo = t.Photo(id=1001, access_hash=1, file_reference=b"r", date=DATE, dc_id=2, sizes=[
        t.PhotoStrippedSize("i", b"\x01" * 40),
        t.PhotoSize("m", 320, 240, 20_000),
        t.PhotoSizeProgressive("y", 1280, 960, [10_000, 60_000, 95_000]),
        t.PhotoPathSize("j", b"\x00"),
    ])
    m = msg(media=t.MessageMediaPhoto(photo=photo, spoiler=True)).media
    assert (m.kind, m.id, m.dc_id, m.size, m.width, m.height, m.spoiler) == (
        "photo", 1001, 2, 95_000, 1280, 960, True)
    assert m.is_file and m.mime_type == "image/jpeg"


def test_expired_photo_and_document():
    assert msg(media=t.MessageMediaPhoto()).media.kind == "photo"
    assert msg(media=t.MessageMediaPhoto(photo=t.PhotoEmpty(5))).media.id == 5
    assert msg(media=t.MessageMediaDocument()).media.kind == "document"


@pytest.mark.parametrize(("attributes", "kind"), [
    ([t.DocumentAttributeVideo(3.5, 640, 360)], "video"),
    ([t.DocumentAttributeVideo(3.5, 240, 240, round_message=True)], "round"),
    ([t.DocumentAttributeAudio(61, voice=True)], "voice"),
    ([t.DocumentAttributeAudio(200, title="Song", performer="Band")], "audio"),
    ([t.DocumentAttributeSticker("😀", t.InputStickerSetEmpty()), t.DocumentAttributeImageSize(512, 512)],
     "sticker"),
    ([t.DocumentAttributeVideo(2, 512, 512), t.DocumentAttributeSticker("🔥", t.InputStickerSetEmpty())],
     "sticker"),
    ([t.DocumentAttributeAnimated(), t.DocumentAttributeVideo(2, 320, 200)], "animation"),
    ([t.DocumentAttributeFilename("report.pdf")], "document"),
    ([], "document"),
])
def test_document_kinds(attributes, kind):
    m = msg(media=t.MessageMediaDocument(document=doc(*attributes))).media
    assert m.kind == kind
    assert m.is_file and (m.id, m.dc_id, m.size) == (777, 4, 1000)


def test_document_details():
    video = msg(media=t.MessageMediaDocument(spoiler=True, document=doc(
        t.DocumentAttributeVideo(12.5, 1280, 720, supports_streaming=True),
        t.DocumentAttributeFilename("clip.mp4"), mime="video/mp4", size=12_345_678))).media
    assert (video.kind, video.file_name, video.mime_type, video.size, video.duration, video.width,
            video.height, video.spoiler) == (
        "video", "clip.mp4", "video/mp4", 12_345_678, 12.5, 1280, 720, True)
    song = msg(media=t.MessageMediaDocument(document=doc(
        t.DocumentAttributeAudio(200, title="Song", performer="Band"), t.DocumentAttributeFilename("s.mp3"),
        mime="audio/mpeg"))).media
    assert (song.kind, song.duration, song.title, song.performer, song.file_name) == (
        "audio", 200.0, "Song", "Band", "s.mp3")
    sticker = msg(media=t.MessageMediaDocument(document=doc(
        t.DocumentAttributeSticker("😀", t.InputStickerSetEmpty()), t.DocumentAttributeImageSize(512, 500),
        mime="image/webp"))).media
    assert (sticker.emoji, sticker.width, sticker.height) == ("😀", 512, 500)


def test_poll():
    poll = t.Poll(id=42, question=t.TextWithEntities("Best?", []), hash=0, closed=True, quiz=True, answers=[
        t.PollAnswer(t.TextWithEntities("A", []), b"0"),
        t.PollAnswer(t.TextWithEntities("B", []), b"1"),
    ])
    results = t.PollResults(total_voters=10, results=[
        t.PollAnswerVoters(b"0", voters=7, chosen=True, correct=True, recent_voters=[]),
        t.PollAnswerVoters(b"1", voters=3, recent_voters=[])])
    m = msg(media=t.MessageMediaPoll(poll=poll, results=results)).media
    assert m.kind == "poll" and not m.is_file and m.id == 42
    assert m.extra == {
        "question": "Best?", "closed": True, "total_voters": 10, "quiz": True, "multiple_choice": False,
        "answers": [{"text": "A", "voters": 7, "chosen": True, "correct": True},
                    {"text": "B", "voters": 3, "chosen": False, "correct": False}],
    }


def test_poll_without_results():
    poll = t.Poll(id=1, question=t.TextWithEntities("Q", []), hash=0,
                  answers=[t.PollAnswer(t.TextWithEntities("A", []), b"0")])
    m = msg(media=t.MessageMediaPoll(poll=poll, results=t.PollResults())).media
    assert m.extra["total_voters"] == 0 and m.extra["answers"][0]["voters"] == 0


GEO = t.GeoPoint(long=13.4, lat=52.5, access_hash=0)


@pytest.mark.parametrize(("media", "kind", "extra"), [
    (t.MessageMediaGeo(GEO), "geo", {"latitude": 52.5, "longitude": 13.4}),
    (t.MessageMediaGeo(t.GeoPointEmpty()), "geo", {"latitude": None, "longitude": None}),
    (t.MessageMediaGeoLive(GEO, period=900, heading=90), "geo",
     {"latitude": 52.5, "longitude": 13.4, "live": True, "period": 900, "heading": 90}),
    (t.MessageMediaVenue(GEO, "Cafe", "Main St 1", "foursquare", "v1", "food"), "venue",
     {"latitude": 52.5, "longitude": 13.4, "title": "Cafe", "address": "Main St 1", "provider": "foursquare",
      "venue_id": "v1", "venue_type": "food"}),
    (t.MessageMediaContact("+100", "Ann", "Lee", "", 42), "contact",
     {"phone_number": "+100", "first_name": "Ann", "last_name": "Lee", "vcard": "", "user_id": 42}),
    (t.MessageMediaWebPage(t.WebPage(id=3, url="https://e.x/a", display_url="e.x/a", hash=0, type="article",
                                     site_name="E", title="A", description="D")), "webpage",
     {"url": "https://e.x/a", "display_url": "e.x/a", "type": "article", "site_name": "E", "title": "A",
      "description": "D"}),
    (t.MessageMediaWebPage(t.WebPageEmpty(id=4, url="https://e.x")), "webpage", {"url": "https://e.x"}),
    (t.MessageMediaDice(value=6, emoticon="🎲"), "dice", {"emoticon": "🎲", "value": 6}),
    (t.MessageMediaGame(t.Game(id=8, access_hash=0, short_name="g", title="Game", description="Fun",
                               photo=t.PhotoEmpty(1))), "game",
     {"title": "Game", "description": "Fun", "short_name": "g"}),
    (t.MessageMediaInvoice("Pizza", "Tasty", "EUR", 1250, "p"), "invoice",
     {"title": "Pizza", "description": "Tasty", "currency": "EUR", "total_amount": 1250,
      "receipt_msg_id": None}),
    (t.MessageMediaStory(peer=t.PeerUser(5), id=9), "story", {"peer_id": 5, "story_id": 9}),
    (t.MessageMediaUnsupported(), "unsupported", {"type": "unsupported"}),
    (t.MessageMediaGiveaway(channels=[1], quantity=3, until_date=DATE), "unsupported", {"type": "giveaway"}),
])
def test_other_media(media, kind, extra):
    m = msg(media=media).media
    assert (m.kind, m.extra) == (kind, extra)
    assert not m.is_file


def test_media_kinds_are_known_to_the_model():
    assert msg(media=t.MessageMediaEmpty()).media is None
    assert convert_media(None) is None
    for kind in ("photo", "video", "round", "voice", "audio", "sticker", "animation", "document"):
        assert kind in FILE_MEDIA_KINDS
    others = ("poll", "geo", "venue", "contact", "webpage", "dice", "game", "invoice", "story", "unsupported")
    for kind in others:
        assert kind in OTHER_MEDIA_KINDS


# ---------------------------------------------------------------------------------------------
# service messages


@pytest.mark.parametrize(("action", "name", "data"), [
    (t.MessageActionChatCreate("Team", [1, 2]), "create_group", {"title": "Team", "members": [1, 2]}),
    (t.MessageActionChannelCreate("News"), "create_channel", {"title": "News"}),
    (t.MessageActionChatAddUser([5, 6]), "invite_members", {"members": [5, 6]}),
    (t.MessageActionChatDeleteUser(5), "remove_members", {"members": [5]}),
    (t.MessageActionChatJoinedByLink(9), "join_group_by_link", {"inviter_id": 9}),
    (t.MessageActionChatJoinedByRequest(), "join_group_by_request", {}),
    (t.MessageActionChatEditTitle("New"), "edit_group_title", {"title": "New"}),
    (t.MessageActionChatEditPhoto(t.PhotoEmpty(66)), "edit_group_photo", {"photo_id": 66}),
    (t.MessageActionChatDeletePhoto(), "delete_group_photo", {}),
    (t.MessageActionChatMigrateTo(1234567), "migrate_to_supergroup", {"channel_id": CHAT_ID}),
    (t.MessageActionChannelMigrateFrom("Old", 77), "migrate_from_group", {"title": "Old", "chat_id": -77}),
    (t.MessageActionTopicCreate("Ideas", 0x6FB9F0, icon_emoji_id=5), "topic_created",
     {"title": "Ideas", "icon_color": 0x6FB9F0, "icon_emoji_id": 5}),
    (t.MessageActionTopicEdit(title="Renamed", closed=True), "topic_edit",
     {"title": "Renamed", "icon_emoji_id": None, "closed": True, "hidden": None}),
    (t.MessageActionPhoneCall(1, reason=t.PhoneCallDiscardReasonMissed(), duration=None), "phone_call",
     {"duration": None, "discard_reason": "missed", "video": False}),
    (t.MessageActionPhoneCall(1, reason=t.PhoneCallDiscardReasonHangup(), duration=65, video=True),
     "phone_call",
     {"duration": 65, "discard_reason": "hangup", "video": True}),
    (t.MessageActionGroupCall(t.InputGroupCall(1, 2), duration=30), "group_call", {"duration": 30}),
    (t.MessageActionHistoryClear(), "clear_history", {}),
    (t.MessageActionScreenshotTaken(), "take_screenshot", {}),
    (t.MessageActionCustomAction("did a thing"), "custom_action", {"text": "did a thing"}),
    (t.MessageActionContactSignUp(), "joined_telegram", {}),
    (t.MessageActionSetMessagesTTL(86400), "set_messages_ttl", {"period": 86400}),
    (t.MessageActionBoostApply(2), "boost_apply", {"boosts": 2}),
])
def test_service_actions(action, name, data):
    m = service(action, from_id=t.PeerUser(3))
    assert m.is_service and m.action.type == name and m.action.data == data
    assert m.text == "" and m.media is None and m.sender_id == 3


def test_pin_message_takes_id_from_reply_header():
    m = service(t.MessageActionPinMessage(), reply_to=t.MessageReplyHeader(reply_to_msg_id=5))
    assert m.action.to_dict() == {"type": "pin_message", "message_id": 5}
    assert m.reply_to_id is None


def test_game_score_and_payment_use_reply_header():
    m = service(t.MessageActionGameScore(game_id=1, score=99),
                reply_to=t.MessageReplyHeader(reply_to_msg_id=4))
    assert m.action.to_dict() == {"type": "score_in_game", "game_message_id": 4, "score": 99}
    m = service(t.MessageActionPaymentSent("USD", 500), reply_to=t.MessageReplyHeader(reply_to_msg_id=3))
    assert m.action.to_dict() == {"type": "send_payment", "amount": 500, "currency": "USD",
                                  "invoice_message_id": 3}


def test_unknown_action_gets_a_generic_name_and_plain_fields():
    m = service(t.MessageActionPaidMessagesRefunded(count=2, stars=10))
    assert m.action.to_dict() == {"type": "paid_messages_refunded", "count": 2, "stars": 10}
    assert action_name(t.MessageActionGiveawayLaunch()) == "giveaway_launch"
    wall = convert_action(t.MessageActionTodoCompletions(completed=[1, 2], incompleted=[3]))
    assert wall.to_dict() == {"type": "todo_completions", "completed": [1, 2], "incompleted": [3]}


def test_action_empty_is_no_action():
    assert convert_action(t.MessageActionEmpty()) is None


def test_service_message_in_forum_topic():
    m = service(t.MessageActionTopicEdit(title="x"), reply_to=t.MessageReplyHeader(forum_topic=True,
                                                                                  reply_to_msg_id=50))
    assert m.topic_id == 50


# ---------------------------------------------------------------------------------------------
# the model round-trip of converted messages


def test_converted_messages_round_trip_through_to_dict():
    import orjson

    rich = [
        msg(message="a", entities=[t.MessageEntityTextUrl(0, 1, "https://a")], from_id=t.PeerUser(1)),
        msg(media=t.MessageMediaDocument(document=doc(t.DocumentAttributeVideo(1.5, 2, 3)))),
        msg(fwd_from=t.MessageFwdHeader(date=DATE, from_id=t.PeerUser(3)),
            reactions=t.MessageReactions(results=[t.ReactionCount(t.ReactionEmoji("❤"), 1)])),
        service(t.MessageActionChatCreate("T", [1])),
    ]
    for m in rich:
        assert Message.from_dict(orjson.loads(orjson.dumps(m.to_dict()))) == m


FILE_KIND_OF_PLAN = {
    "photo": "photo", "album_photo": "photo", "video": "video", "album_video": "video", "big_video": "video",
    "document": "document", "doc_128k": "document", "doc_other_dc": "document", "voice": "voice",
    "sticker": "sticker", "audio": "audio", "animation": "animation", "round": "round",
}
ACTION_OF_PLAN = {"topic_create": "topic_created", "pin": "pin_message", "title": "edit_group_title",
                  "add_user": "invite_members"}


def test_simulated_history_converts_field_by_field():
    """Every message of every chat of the simulated Telegram, checked against what it planned."""
    from tgx.simulator.simulated import SimulatedTelegram

    world = SimulatedTelegram(seed=3, messages=400)
    me = world.me.id
    seen_kinds: set[str] = set()
    total = 0
    for chat in world.chats:
        for message_id in world.expected_ids(chat):
            f = world.facts(chat, message_id)
            m = convert_message(world.tl_message(chat, message_id), chat.marked_id, self_id=me)
            total += 1
            seen_kinds.add(f.kind)
            where = f"{chat.key}#{message_id} ({f.kind})"
            assert (m.chat_id, m.id) == (chat.marked_id, message_id), where
            assert int(m.date.timestamp()) == f.date and m.date.utcoffset() == timedelta(0), where
            if chat.kind == "channel":
                assert m.sender_id is None, where
            elif f.sender == 0:
                assert m.sender_id == chat.marked_id, where  # anonymous admin: the group itself
            else:
                assert m.sender_id == f.sender, where
            assert (m.edit_date is not None) == f.edited, where
            assert (m.grouped_id is not None) == bool(f.album_start), where
            assert bool(m.reactions) == bool(f.react), where
            if f.react == 1:
                assert m.reactions[0].chosen, where
            if f.reply_mode == 1:
                assert (m.topic_id, m.reply_to_id) == (f.top_id, None), where
            elif f.reply_mode == 2:
                assert (m.topic_id, m.reply_to_id) == (f.top_id, f.reply_to), where
            elif f.reply_mode == 3 and f.kind != "pin":
                assert (m.topic_id, m.reply_to_id) == (None, f.reply_to), where
            else:
                assert m.reply_to_id is None, where
            for e in m.entities:
                assert e.type in ENTITY_TYPES, where
                assert 0 <= e.offset and e.offset + e.length <= len(m.text.encode("utf-16-le")) // 2, where
            if f.kind in FILE_KIND_OF_PLAN:
                assert m.media.kind == FILE_KIND_OF_PLAN[f.kind], where
                assert (m.media.id, m.media.size, m.media.dc_id) == (
                    f.media.media_id, f.media.size, f.media.dc_id), where
            elif f.kind == "poll":
                assert m.media.kind == "poll" and m.media.extra["answers"], where
            elif f.kind == "create":
                expected = "create_group" if chat.kind == "group" else "create_channel"
                assert m.action.type == expected and m.action.data["title"] == chat.title, where
            elif f.kind in ACTION_OF_PLAN:
                assert m.action.type == ACTION_OF_PLAN[f.kind], where
                if f.kind == "pin":
                    assert m.action.data["message_id"] == f.reply_to, where
            else:
                assert m.action is None and m.media is None, where
            if f.kind.startswith("fwd_"):
                assert m.forward is not None, where
                assert (m.forward.from_name is not None) == (f.kind == "fwd_hidden"), where
            if f.kind == "via_bot":
                assert m.via_bot_id == world.users["bot"].id, where
    assert total > 1000
    assert {"rich", "reply", "album_photo", "poll", "pin", "topic_create", "fwd_hidden", "sticker"} <= seen_kinds


def _all_action_classes():
    return sorted((cls for name, cls in vars(t).items()
                   if name.startswith("MessageAction") and isinstance(cls, type) and name != "MessageActionEmpty"),
                  key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", _all_action_classes(), ids=lambda c: c.__name__)
def test_every_telethon_action_converts(cls):
    """Every MessageAction* of this Telethon layer gets a name, and the generic path never raises."""
    import inspect
    import re

    action = cls.__new__(cls)
    for name in inspect.signature(cls.__init__).parameters:
        if name != "self":
            setattr(action, name, None)
    name = action_name(action)
    assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
    from tgx.fetch.normalize import _ACTIONS

    if cls not in _ACTIONS:
        converted = convert_action(action)
        assert converted.type == name
        import orjson

        orjson.dumps(converted.to_dict())  # JSON-ready
