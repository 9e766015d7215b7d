"""Messages as pure functions of (world seed, chat, id), served from patched templates.

``plan()`` decides everything about one message (kind, sender, date, reply target, media)
from a hash of its id. Serializing a fresh TL object per message would cost as much as
Telethon's parsing, so each *variant* (kind + sender + text + flags) is built once as a real
TL object carrying sentinel values, serialized, and the sentinels' byte offsets recorded;
a message is then its variant's bytes with ids, dates, sizes and file references written
in place. Variants are bounded, so memory stays O(1) in history size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from telethon.tl import types

from tgx.simulator import content
from tgx.simulator.content import mix64, signed64

if TYPE_CHECKING:
    from tgx.simulator.chats import ChatSpec, UserSpec

# ---------------------------------------------------------------------------------------------
# Kinds

SERVICE_KINDS = frozenset({"create", "topic_create", "pin", "title", "add_user"})
FILE_KINDS = frozenset({
    "photo", "video", "document", "voice", "sticker", "audio", "animation", "round", "doc_128k",
    "doc_other_dc", "big_video", "album_photo", "album_video",
})
TEXT_KINDS = ("text", "rich", "reply", "fwd_channel", "fwd_user", "fwd_hidden", "poll", "via_bot",
              "hostile", "hostile_link", "edited", "reactions")

# (kind, weight) for messages past the showcase; media kinds only where media is on.
_TEXT_WEIGHTS = (("text", 40), ("rich", 6), ("reply", 12), ("fwd_channel", 4), ("fwd_user", 3),
                 ("fwd_hidden", 2), ("poll", 2), ("via_bot", 1), ("hostile", 1), ("hostile_link", 1),
                 ("pin", 1), ("title", 1))
_MEDIA_WEIGHTS = (("photo", 10), ("video", 3), ("document", 3), ("voice", 2), ("sticker", 2), ("audio", 1),
                  ("animation", 1), ("round", 1))
# a discussion group's comments (and the plain messages in the blocks of service posts)
_COMMENT_WEIGHTS = (("text", 30), ("rich", 3), ("reactions", 3), ("edited", 3))
_COMMENT_MEDIA_WEIGHTS = (("photo", 5),)
COMMENT_REPLY_ONE_IN = 5  # of a thread's comments after its first: answers to an earlier comment
COMMENT_GAP = 60  # seconds between two "later" comments (see CommentLayout)
REPLIES_PTS = 1  # MessageReplies.replies_pts (a constant: the simulator sends no updates)
ALBUM_PERCENT = 5  # of 4-message blocks that hold an album (media chats only)
EDIT_ONE_IN = 10
REACT_ONE_IN = 8


class WorldFacts(Protocol):
    """What building a message reads of its world (:class:`tgx.simulator.world.World` is one): a
    protocol, so that this module needs no world module."""

    me: UserSpec
    users: dict[str, UserSpec]
    chats: list[ChatSpec]
    source: ChatSpec
    big_file_mb: int
    date_epoch: int
    home_dc: int
    other_dc: int

    def access_hash_for(self, media_id: int) -> int: ...

    def text_piece(self, pool: int, index: int) -> Piece: ...



def _table(weights: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    return tuple(kind for kind, weight in weights for _ in range(weight))


def kind_table(chat: ChatSpec) -> tuple[str, ...]:
    if chat.comments is not None:
        return _table(_COMMENT_WEIGHTS + (_COMMENT_MEDIA_WEIGHTS if chat.media else ()))
    weights = _TEXT_WEIGHTS
    if chat.kind == "group" or chat.kind == "supergroup":
        weights = weights + (("add_user", 1),)
    if chat.kind == "private":
        weights = tuple(w for w in weights if w[0] != "title")
    if chat.media:
        weights = weights + _MEDIA_WEIGHTS
    return _table(weights)


def showcase(chat: ChatSpec, big_file: bool) -> tuple[tuple[str, int, int], ...]:
    """The first messages of a chat: every kind once, whatever the seed.

    Entries are (kind, album index, album length); tests rely on the demo channel's showcase
    to find one message of each kind without scanning.
    """
    rows: list[tuple[str, int, int]] = []
    if chat.kind != "private":
        rows.append(("create", 0, 0))
    rows += [("topic_create", 0, 0)] * len(chat.topics)
    text = ["text", "rich:0", "rich:1", "rich:2", "reply"]
    media = ["photo", "album:3", "video", "document", "doc_128k", "doc_other_dc", "voice", "sticker",
             "audio", "animation", "round"]
    tail = ["poll", "fwd_channel", "fwd_user", "fwd_hidden", "edited", "reactions", "via_bot", "hostile",
            "hostile_link", "pin"]
    if chat.kind != "private":
        tail.append("title")
    if chat.kind in ("group", "supergroup"):
        tail.append("add_user")
    names = text + (media if chat.media else []) + tail
    if chat.media and big_file:
        names.append("big_video")
    for name in names:
        if name.startswith("album:"):
            length = int(name.split(":")[1])
            rows += [("album", i, length) for i in range(length)]
        else:
            rows.append((name, 0, 0))
    return tuple(rows)


# ---------------------------------------------------------------------------------------------
# Facts: everything about one message


@dataclass(slots=True)
class MediaFacts:
    """A message's file: what GetFile serves and what the message shows."""

    kind: str  # "photo" | "document"
    media_id: int
    access_hash: int
    dc_id: int
    mime: str
    size: int  # the full file (for photos: the largest size)
    thumbs: dict[str, int]  # thumb type -> size in bytes
    date: int


@dataclass(slots=True)
class Facts:
    chat: ChatSpec
    id: int
    rank: int
    h: int
    kind: str
    sub: int  # text / caption / rich-variant index
    date: int
    sender: int | None  # user id; 0 = the chat itself (anonymous admin); None = channel post
    author: int  # post_author index (0 = none)
    edited: bool
    react: int  # reaction set (0 = none)
    reply_mode: int  # 0 none, 1 forum topic member, 2 reply in topic, 3 plain reply, 4 reply in a comment thread
    reply_to: int
    top_id: int
    album_start: int  # id of the album's first message, or 0
    album_index: int
    pool: int = 0  # 0: the text is part of the variant; 1: a plain text; 2: a caption
    pool_index: int = 0
    text_key: int = 0  # what else of the body varies (rich text, file name, poll, spoiler, topic)
    media: MediaFacts | None = None
    # comments: the post a discussion-group message belongs to (0: none), and for a channel
    # post or a thread root its thread: 0 no MessageReplies, 1 no comments, 2 with comments
    post: int = 0
    thread: int = 0
    n_replies: int = 0  # comments (deleted ones excluded)
    max_reply: int = 0  # the newest comment's id (0: none)


AUTHORS = (None, "Alice Liddell", "Admin 🤖")
SUB_VARIANTS = 48  # multiple of every pool size below, so each pool is evenly used
POOLED_PLAIN = frozenset({"text", "reply", "fwd_channel", "fwd_user", "fwd_hidden", "via_bot", "edited",
                          "reactions", "root"})


def plan(world: WorldFacts, chat: ChatSpec, message_id: int) -> Facts:
    """All decisions about message ``message_id`` of ``chat`` (which must exist)."""
    if chat.comments is not None:
        return _plan_discussion(world, chat, message_id)
    space = chat.space
    rank = space.rank_le(message_id) - 1
    h = mix64(chat.salt ^ message_id)
    kind, sub, album_start, album_index = _kind(chat, rank, h)

    date_id = album_start or message_id
    date = chat.date_base + date_id * chat.date_step

    # sender
    author = 0
    if chat.kind == "channel":
        sender = None
        if chat.signatures and kind not in SERVICE_KINDS:
            author = (h >> 8) % len(AUTHORS)
    elif kind in ("create", "topic_create"):
        sender = world.me.id
    else:
        members = chat.members
        pick = (h >> 8) % (len(members) + (1 if chat.kind == "supergroup" else 0))
        sender = members[pick] if pick < len(members) else 0  # 0: an anonymous admin

    service = kind in SERVICE_KINDS
    edited = kind == "edited" or (not service and kind != "poll" and (h >> 24) % EDIT_ONE_IN == 0)
    react = 1 if kind == "reactions" else 0
    if not react and not service and (h >> 28) % REACT_ONE_IN == 0:
        react = 1 + (h >> 31) % 2

    # replies and forum topics
    reply_mode = 0
    reply_to = 0
    top_id = 0
    if chat.forum:
        root, thread = chat.thread_of(message_id)
        wants_reply = kind in ("reply", "pin")
        target = _earlier(thread, message_id, h) if wants_reply else 0
        if root != 1:
            top_id = root
            if target and target != root:
                reply_mode, reply_to = 2, target
            elif message_id != root:
                reply_mode, reply_to = 1, root
        elif target:
            reply_mode, reply_to = 3, target
    elif kind in ("reply", "pin"):
        target = _earlier(space, message_id, h)
        if target:
            reply_mode, reply_to = 3, target
    if kind in ("reply", "pin") and not reply_to:
        kind = "text"  # nothing earlier to point at (the chat's first message)
    if kind == "reply" and reply_mode == 1:
        kind = "text"

    facts = Facts(chat, message_id, rank, h, kind, sub, date, sender, author, edited, react, reply_mode,
                  reply_to, top_id, album_start, album_index)
    if kind == "topic_create":
        facts.text_key = rank  # which topic: the showcase's ranks 1..len(topics)
    elif chat.linked is not None and chat.kind == "channel" and kind not in SERVICE_KINDS:
        _thread_facts(facts, world.chats[chat.linked], message_id)
    return _finish(world, facts)


def _kind(chat: ChatSpec, rank: int, h: int) -> tuple[str, int, int, int]:
    """(kind, text variant, album start id, index in the album) of the message at ``rank``."""
    space = chat.space
    album_start = 0
    album_index = 0
    sub = ((h >> 16) & 0xFFFF) % SUB_VARIANTS
    shown = chat.showcase
    if rank < len(shown):
        kind, album_index, album_len = shown[rank]
        if kind.startswith("rich:"):
            sub = int(kind[5:])
            kind = "rich"
        elif kind == "hostile":
            sub = 0  # the <script> one
        if kind == "album":
            album_start = space.id_at(rank - album_index)
    else:
        kind = ""
        if chat.media:
            block = (rank - len(shown)) >> 2
            hb = mix64(chat.salt ^ 0xA1B0A1B0 ^ (block << 20))
            if hb % 100 < ALBUM_PERCENT:
                length = 2 + (hb >> 8) % 3
                start_rank = len(shown) + (block << 2)
                if rank - start_rank < length:
                    kind = "album"
                    album_index = rank - start_rank
                    album_start = space.id_at(start_rank)
        if not kind:
            table = chat.kinds
            kind = table[h % len(table)]
    if kind == "album":
        kind = "album_photo" if (mix64(album_start ^ chat.salt) >> album_index) % 3 else "album_video"
    return kind, sub, album_start, album_index


def post_kind_date(chat: ChatSpec, post: int) -> tuple[str, int]:
    """(kind, date) of a broadcast channel's post, without planning all of it."""
    kind, _, album_start, _ = _kind(chat, post - 1, mix64(chat.salt ^ post))
    return kind, chat.date_base + (album_start or post) * chat.date_step


def _thread_facts(facts: Facts, group: ChatSpec, post: int) -> None:
    assert group.comments is not None
    facts.post = post
    facts.n_replies, facts.max_reply = group.comments.summary(post)
    facts.thread = 2 if facts.max_reply else 1


def _plan_discussion(world: WorldFacts, chat: ChatSpec, message_id: int) -> Facts:
    """A discussion group's message: its creation, a thread root, a comment, or (in the block of a
    channel's service post) a plain message of the group. See :class:`tgx.simulator.ids.CommentLayout`."""
    layout = chat.comments
    assert layout is not None and chat.linked is not None
    channel = world.chats[chat.linked]
    h = mix64(chat.salt ^ message_id)
    sub = ((h >> 16) & 0xFFFF) % SUB_VARIANTS
    rank = message_id - 1
    post, slot = layout.locate(message_id)
    if post == 0:
        return Facts(chat, message_id, rank, h, "create", sub, channel.date_base, world.me.id, 0, False, 0,
                     0, 0, 0, 0, 0)
    post_kind, post_date = post_kind_date(channel, post)
    if message_id > layout.base_end:
        after_last = channel.date_base + (layout.posts + 1) * channel.date_step  # past every block's dates
        date = after_last + COMMENT_GAP * (message_id - layout.base_end)
    else:
        size = 1 + layout.count(post)
        after = post_kind_date(channel, post + 1)[1]  # the next post's (to be) date: growth changes nothing
        date = post_date + slot * max(0, after - post_date) // size
    threaded = post_kind not in SERVICE_KINDS
    if slot == 0 and threaded:
        facts = Facts(chat, message_id, rank, h, "root", sub, date, None, 0, False, 0, 0, 0, 0, 0, 0)
        _thread_facts(facts, chat, post)
        facts.pool, facts.pool_index = 1, sub % len(content.PLAIN_TEXTS)
        return facts
    table = chat.kinds
    kind = table[h % len(table)]
    members = chat.members
    sender = members[(h >> 8) % len(members)]
    edited = kind == "edited" or (h >> 24) % EDIT_ONE_IN == 0
    react = 1 if kind == "reactions" else 0
    if not react and (h >> 28) % REACT_ONE_IN == 0:
        react = 1 + (h >> 31) % 2
    reply_mode = reply_to = top_id = 0
    if threaded:
        root = layout.root(post)
        ordinal = slot - 1
        if ordinal > 0 and (h >> 40) % COMMENT_REPLY_ONE_IN == 0:
            back = 1 + (h >> 44) % min(ordinal, 20)
            reply_mode, reply_to, top_id = 4, layout.comment_id(post, ordinal - back), root
        else:
            reply_mode, reply_to = 3, root
    facts = Facts(chat, message_id, rank, h, kind, sub, date, sender, 0, edited, react, reply_mode, reply_to,
                  top_id, 0, 0)
    facts.post = post if threaded else 0
    return _finish(world, facts)


def _finish(world: WorldFacts, facts: Facts) -> Facts:
    """The body facts of a planned message: its text pool, rich/poll variant, file."""
    kind, sub, album_index = facts.kind, facts.sub, facts.album_index
    if kind in POOLED_PLAIN:
        facts.pool, facts.pool_index = 1, sub % len(content.PLAIN_TEXTS)
    elif kind in FILE_KINDS:
        facts.pool = 2
        facts.pool_index = 0 if album_index else sub % len(content.CAPTIONS)
        name_index = (sub // len(content.CAPTIONS)) % len(content.FILE_NAMES)
        if kind == "document":
            facts.text_key = name_index
        elif kind in ("photo", "album_photo"):
            facts.text_key = 3 if name_index == 3 else 0  # 3: a spoiler photo
        facts.media = media_facts(world, facts)
    elif kind == "rich":
        facts.text_key = sub % 3
    elif kind == "hostile":
        facts.text_key = sub % len(content.HOSTILE_TEXTS)
    elif kind == "poll":
        facts.text_key = sub % (2 * len(content.POLL_QUESTIONS))
    return facts


def _earlier(space: Any, message_id: int, h: int) -> int:
    rank = space.rank_le(message_id) - 1
    if rank <= 0:
        return 0
    back = 1 + (h >> 36) % min(20, rank)
    return space.id_at(rank - back)


# ---------------------------------------------------------------------------------------------
# Media

STICKER_COUNT = 6
STICKER_BASE = 1000
CUSTOM_EMOJI_BASE = 5000
MEDIA_SPACE_SHIFT = 44
KIB = 1024


def media_id_for(chat: ChatSpec, message_id: int) -> int:
    return ((chat.index + 1) << MEDIA_SPACE_SHIFT) | message_id


def _span(h: int, low: int, high: int) -> int:
    """A size between low and high, skewed toward small ones (most files are small)."""
    r = (h % 1000) / 1000.0
    return int(low + (high - low) * r * r)


MIME = {
    "photo": "image/jpeg", "album_photo": "image/jpeg", "video": "video/mp4", "album_video": "video/mp4",
    "big_video": "video/mp4", "animation": "video/mp4", "round": "video/mp4", "voice": "audio/ogg",
    "audio": "audio/mpeg", "sticker": "image/webp",
}


def media_facts(world: WorldFacts, f: Facts) -> MediaFacts:
    kind = f.kind
    chat = f.chat
    date = f.date - 5
    mh = mix64(f.h ^ 0x4D454449)
    if kind == "sticker":
        index = (f.h >> 40) % STICKER_COUNT
        media_id = STICKER_BASE + index
        size = 18_000 + index * 1_111
        return MediaFacts("document", media_id, world.access_hash_for(media_id), world.home_dc,
                          "image/webp", size, {}, world.date_epoch)
    media_id = media_id_for(chat, f.id)
    other = kind == "doc_other_dc" or (kind != "doc_128k" and (mh >> 50) % 8 == 0)
    dc = world.other_dc if other else world.home_dc
    access = world.access_hash_for(media_id)
    if kind in ("photo", "album_photo"):
        m_size = 8 * KIB + (mh >> 12) % (16 * KIB)
        x_size = m_size + 20 * KIB + (mh >> 20) % (60 * KIB)
        y2 = x_size + _span(mh, 40 * KIB, 400 * KIB)  # largest last, as Telegram sends them
        thumbs = {"m": m_size, "x": x_size, "y": y2}
        return MediaFacts("photo", media_id, access, dc, "image/jpeg", y2, thumbs, date)
    if kind == "doc_128k":
        size = 3 * 128 * KIB
        mime = "application/pdf"
    elif kind == "big_video":
        size = world.big_file_mb * 1024 * KIB
        mime = "video/mp4"
    elif kind in ("document", "doc_other_dc"):
        name = file_name(f)
        size = _span(mh, 2 * KIB, 1536 * KIB)
        mime = content.mime_for_name(name)
    elif kind == "voice":
        size = _span(mh, 4 * KIB, 64 * KIB)
        mime = "audio/ogg"
    elif kind == "audio":
        size = _span(mh, 200 * KIB, 2048 * KIB)
        mime = "audio/mpeg"
    elif kind == "animation":
        size = _span(mh, 40 * KIB, 512 * KIB)
        mime = "video/mp4"
    else:  # video, round, album_video
        size = _span(mh, 100 * KIB, 3072 * KIB)
        mime = "video/mp4"
    thumbs = {"m": 6 * KIB + (mh >> 14) % (12 * KIB)} if mime.startswith("video/") else {}
    return MediaFacts("document", media_id, access, dc, mime, size, thumbs, date)


def file_name(f: Facts) -> str:
    if f.kind == "doc_128k":
        return "exactly-384KiB.pdf"
    if f.kind == "doc_other_dc":
        return "from-another-dc.pdf"
    return content.FILE_NAMES[f.text_key % len(content.FILE_NAMES)]


# ---------------------------------------------------------------------------------------------
# Patchable fields: sentinel value -> per-message value

I32, I64, F64, B16, NUM = "<i", "<q", "<d", "16s", f"{content.NUMBER_WIDTH}s"


def _i32(k: int) -> int:
    return 0x6B5A003C + (k << 8)


def _i64(k: int) -> int:
    return 0x6B5A5A6B0000003C + (k << 8)


# name -> (struct format, sentinel value)
FIELDS: dict[str, tuple[str, Any]] = {
    "id": (I32, _i32(1)), "date": (I32, _i32(2)), "edit_date": (I32, _i32(3)), "reply_to": (I32, _i32(4)),
    "top_id": (I32, _i32(5)), "views": (I32, _i32(6)), "forwards": (I32, _i32(7)), "fwd_date": (I32, _i32(8)),
    "fwd_post": (I32, _i32(9)), "media_date": (I32, _i32(10)), "r0": (I32, _i32(11)), "r1": (I32, _i32(12)),
    "r2": (I32, _i32(13)), "v0": (I32, _i32(14)), "v1": (I32, _i32(15)), "v2": (I32, _i32(16)),
    "v3": (I32, _i32(17)), "vtotal": (I32, _i32(18)), "sz_m": (I32, _i32(19)), "sz_x": (I32, _i32(20)),
    "sz_y0": (I32, _i32(21)), "sz_y1": (I32, _i32(22)), "sz_y2": (I32, _i32(23)), "dc": (I32, _i32(24)),
    "duration": (I32, _i32(25)), "post_id": (I32, _i32(26)), "post_id2": (I32, _i32(27)),
    "post_date": (I32, _i32(28)), "n_replies": (I32, _i32(29)), "max_reply": (I32, _i32(30)),
    "grouped": (I64, _i64(1)), "media_id": (I64, _i64(2)), "access_hash": (I64, _i64(3)),
    "size": (I64, _i64(4)), "poll_id": (I64, _i64(5)), "sender": (I64, _i64(6)),
    "duration_f": (F64, 7777.123456789),
    "file_ref": (B16, b"\xfeFILEREF\x00SENTNL!"),
    "number": (NUM, content.NUMBER_SENTINEL.encode()),
}

TEXT_HOLE = "\x01TGX-TEXT-HOLE\x01"  # where a pooled text goes in a template


def sentinel(name: str) -> Any:
    return FIELDS[name][1]


def sentinel_date(name: str) -> datetime:
    return datetime.fromtimestamp(FIELDS[name][1], UTC)


def _votes(f: Facts, i: int) -> int:
    return (f.h >> (8 * i)) % 50


def duration_of(f: Facts) -> int:
    seconds = 1 + (f.h >> 9) % 600
    if f.kind == "voice":
        return 1 + seconds % 120
    if f.kind == "animation":
        return 1 + seconds % 20
    if f.kind == "round":
        return 1 + seconds % 60
    return seconds


# name -> Python expression of (w: world, f: facts), compiled into each template's renderer
VALUES: dict[str, str] = {
    "id": "f.id",
    "date": "f.date",
    "edit_date": "f.date + 60 + (f.h >> 12) % 86_400",
    "reply_to": "f.reply_to",
    "top_id": "f.top_id",
    "views": "100 + (f.h >> 20) % 50_000",
    "forwards": "(f.h >> 40) % 300",
    "fwd_date": "f.date - 3_600 - (f.h >> 30) % 864_000",
    "fwd_post": "1 + (f.h >> 33) % max(1, w.source.messages)",
    "media_date": "f.media.date",
    "r0": "1 + (f.h >> 3) % 90",
    "r1": "1 + (f.h >> 11) % 40",
    "r2": "1 + (f.h >> 19) % 9",
    "v0": "_votes(f, 0)", "v1": "_votes(f, 1)",
    "v2": "_votes(f, 2)", "v3": "_votes(f, 3)",
    "vtotal": "sum(_votes(f, i) for i in range(len(poll_of(f)[1])))",
    "sz_m": "f.media.thumbs['m']", "sz_x": "f.media.thumbs['x']",
    "sz_y0": "f.media.thumbs['y'] // 4", "sz_y1": "f.media.thumbs['y'] // 2",
    "sz_y2": "f.media.thumbs['y']",
    "dc": "f.media.dc_id",
    "duration": "duration_of(f)",
    "post_id": "f.post", "post_id2": "f.post", "post_date": "f.date",
    "n_replies": "f.n_replies", "max_reply": "f.max_reply",
    "grouped": "signed64(mix64(f.chat.salt ^ 0x6A1B0000 ^ (f.album_start << 16)))",
    "media_id": "f.media.media_id",
    "access_hash": "f.media.access_hash",
    "size": "f.media.size",
    "poll_id": "signed64(mix64(f.chat.salt ^ 0x90110000 ^ (f.id << 16)))",
    "sender": "f.sender",
    "duration_f": "float(duration_of(f))",
    "file_ref": "w.file_reference(f.media.media_id)",
    "number": "b'%07d' % (f.id % 10_000_000)",
}


def poll_of(f: Facts) -> tuple[str, tuple[str, ...]]:
    return content.POLL_QUESTIONS[f.text_key % len(content.POLL_QUESTIONS)]


# ---------------------------------------------------------------------------------------------
# Templates

Patches = tuple[tuple[int, str, str], ...]  # (offset, struct code, field name)
_RENDER_GLOBALS: dict[str, Any] = {}  # filled below, once the helpers exist


def _find_patches(data: bytes) -> list[tuple[int, str, str]]:
    found = []
    for name, (fmt, value) in FIELDS.items():
        pattern = value if isinstance(value, bytes) else struct.pack(fmt, value)
        at = data.find(pattern)
        if at < 0:
            continue
        if data.find(pattern, at + 1) >= 0:
            raise AssertionError(f"sentinel for {name!r} occurs twice in a template")
        found.append((at, fmt, name))
    return found


class Piece:
    """Bytes plus the places where per-message values are written.

    Rendering is one generated function making one ``struct.pack`` call: the constant
    stretches between patched fields are ``Ns`` arguments and each field's value is its
    :data:`VALUES` expression inlined, so a message costs one C call and a few attribute reads.
    """

    __slots__ = ("data", "patches", "render_fn")

    def __init__(self, data: bytes, patches: Patches):
        self.data = data
        self.patches = tuple(sorted(patches, key=lambda p: p[0]))
        if not self.patches:
            self.render_fn = None
            return
        fmt = ["<"]
        namespace: dict[str, Any] = dict(_RENDER_GLOBALS)
        args = []
        at = 0
        for i, (offset, code, name) in enumerate(self.patches):
            namespace[f"_s{i}"] = data[at:offset]
            fmt.append(f"{offset - at}s{code.lstrip('<')}")
            args += [f"_s{i}", f"({VALUES[name]})"]
            at = offset + struct.calcsize(code)
        namespace["_tail"] = data[at:]
        fmt.append(f"{len(data) - at}s")
        args.append("_tail")
        namespace["_pack"] = struct.Struct("".join(fmt)).pack
        self.render_fn = eval(f"lambda w, f: _pack({', '.join(args)})", namespace)  # noqa: S307

    def render(self, world: WorldFacts, facts: Facts) -> bytes:
        if self.render_fn is None:
            return self.data
        return self.render_fn(world, facts)


class Template:
    """One variant: its serialized bytes, split around the text hole when the text is pooled."""

    __slots__ = ("chats", "head", "tail", "users")

    def __init__(self, head: Piece, tail: Piece | None, users: tuple[tuple[int, bool], ...],
                 chats: tuple[int, ...]):
        self.head = head
        self.tail = tail  # None when the text is part of the variant
        self.users = users  # (user id, as min) referenced by the message, besides its sender
        self.chats = chats  # chat indexes referenced by the message

    @classmethod
    def from_tl(cls, obj: Any, users: tuple[tuple[int, bool], ...], chats: tuple[int, ...]) -> Template:
        data = bytes(obj)
        hole = obj.serialize_bytes(TEXT_HOLE)
        at = data.find(hole)
        patches = _find_patches(data)
        if at < 0:
            return cls(Piece(data, tuple(patches)), None, users, chats)
        cut = at + len(hole)
        head = Piece(data[:at], tuple(p for p in patches if p[0] < at))
        tail = Piece(data[cut:], tuple((p[0] - cut, p[1], p[2]) for p in patches if p[0] >= cut))
        return cls(head, tail, users, chats)

    def render(self, world: WorldFacts, facts: Facts) -> bytes:
        head = self.head.render(world, facts)
        if self.tail is None:
            return head
        return b"".join((head, world.text_piece(facts.pool, facts.pool_index).render(world, facts),
                         self.tail.render(world, facts)))


def text_piece(pool: int, index: int) -> Piece:
    """A pooled text as a serialized TL string (with the message number patched in)."""
    from telethon.tl.tlobject import TLObject

    if pool == 1:
        text = f"#{content.NUMBER_SENTINEL} " + content.PLAIN_TEXTS[index]
    else:
        text = content.CAPTIONS[index]
    data = TLObject.serialize_bytes(text)
    return Piece(data, tuple(_find_patches(data)))


def variant_of(f: Facts, me_id: int) -> tuple:
    if f.sender is None:
        sender = 0
    elif f.sender == 0:
        sender = 1
    elif f.chat.kind == "private":
        sender = 2 if f.sender == me_id else 3
    else:
        sender = 4 if f.sender == me_id else 5
    return (f.kind, f.text_key, sender, f.author, f.edited, f.react, f.reply_mode, f.pool, f.thread)


class _Refs:
    __slots__ = ("chats", "users")

    def __init__(self) -> None:
        self.users: dict[int, bool] = {}
        self.chats: dict[int, None] = {}

    def user(self, chat: ChatSpec, user_id: int) -> types.PeerUser:
        self.users[user_id] = user_id in chat.min_users
        return types.PeerUser(user_id)


def build_template(world: WorldFacts, chat: ChatSpec, f: Facts) -> Template:
    """Build the variant of ``f`` as a real TL message carrying sentinels."""
    refs = _Refs()
    if chat.kind != "private":
        refs.chats[chat.index] = None
    peer = chat.peer()
    kind = f.kind
    date = sentinel_date("date")

    from_id = None
    out = False
    post = chat.kind == "channel"
    if f.sender:
        out = f.sender == world.me.id
        if chat.kind != "private" or out:
            from_id = types.PeerUser(sentinel("sender"))
    elif f.sender == 0:
        from_id = chat.peer()  # anonymous group admin
    elif kind == "root":  # the channel's post, auto-forwarded into its discussion group
        assert chat.linked is not None
        from_id = world.chats[chat.linked].peer()
        refs.chats[chat.linked] = None
    if chat.kind == "private":
        refs.user(chat, chat.user.id)

    reply_to = None
    if f.reply_mode == 1:
        reply_to = types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=sentinel("reply_to"))
    elif f.reply_mode == 2:
        reply_to = types.MessageReplyHeader(forum_topic=True, reply_to_msg_id=sentinel("reply_to"),
                                            reply_to_top_id=sentinel("top_id"))
    elif f.reply_mode == 3:
        reply_to = types.MessageReplyHeader(reply_to_msg_id=sentinel("reply_to"))
    elif f.reply_mode == 4:  # a comment answering an earlier comment of its thread
        reply_to = types.MessageReplyHeader(reply_to_msg_id=sentinel("reply_to"), reply_to_top_id=sentinel("top_id"))

    replies = None
    if f.thread:
        max_id = sentinel("max_reply") if f.thread == 2 else None
        if chat.kind == "channel":  # a post: its comments live in the linked group
            assert chat.linked is not None
            replies = types.MessageReplies(replies=sentinel("n_replies"), replies_pts=REPLIES_PTS, comments=True,
                                           channel_id=world.chats[chat.linked].id, max_id=max_id)
        else:  # a thread root in the discussion group
            replies = types.MessageReplies(replies=sentinel("n_replies"), replies_pts=REPLIES_PTS, max_id=max_id)

    reactions = None
    if f.react:
        results = [types.ReactionCount(types.ReactionEmoji(content.REACTION_EMOJI[0]), sentinel("r0"),
                                       chosen_order=0 if f.react == 1 else None),
                   types.ReactionCount(types.ReactionEmoji(content.REACTION_EMOJI[f.react]), sentinel("r1"))]
        if f.react == 2:
            custom = types.ReactionCustomEmoji(CUSTOM_EMOJI_BASE + 1)
            results.append(types.ReactionCount(custom, sentinel("r2")))
        reactions = types.MessageReactions(results=results, can_see_list=not post or None)

    if kind in SERVICE_KINDS:
        action = _action(world, chat, f, refs)
        obj = types.MessageService(
            id=sentinel("id"), peer_id=peer, date=date, action=action, out=out or None, post=post or None,
            from_id=from_id, reply_to=reply_to)
        return Template.from_tl(obj, tuple(refs.users.items()), tuple(refs.chats))

    text, entities, media, fwd, via_bot = _body(world, chat, f, refs)
    obj = types.Message(
        id=sentinel("id"), peer_id=peer, date=date, message=text, out=out or None, post=post or None,
        from_id=from_id, fwd_from=fwd, via_bot_id=via_bot, reply_to=reply_to, media=media,
        entities=entities or None, views=sentinel("views") if post else None,
        forwards=sentinel("forwards") if post else None,
        edit_date=sentinel_date("edit_date") if f.edited else None,
        post_author=AUTHORS[f.author] if f.author else None,
        grouped_id=sentinel("grouped") if f.album_start else None,
        reactions=reactions, replies=replies,
    )
    return Template.from_tl(obj, tuple(refs.users.items()), tuple(refs.chats))


def _action(world: WorldFacts, chat: ChatSpec, f: Facts, refs: _Refs) -> Any:
    kind = f.kind
    if kind == "create":
        if chat.kind == "group":
            members = [m for m in chat.members if m != world.me.id]
            for user_id in members:
                refs.user(chat, user_id)
            return types.MessageActionChatCreate(title=chat.title, users=[world.me.id] + members)
        return types.MessageActionChannelCreate(title=chat.title)
    if kind == "topic_create":
        topic = chat.topics[f.text_key - 1]
        return types.MessageActionTopicCreate(title=topic.title, icon_color=topic.color,
                                              icon_emoji_id=topic.icon_emoji_id)
    if kind == "pin":
        return types.MessageActionPinMessage()
    if kind == "title":
        return types.MessageActionChatEditTitle(title=f"{chat.title} ✏️")
    if kind == "add_user":
        user_id = world.users["bob"].id
        refs.user(chat, user_id)
        return types.MessageActionChatAddUser(users=[user_id])
    raise AssertionError(kind)


def _body(world: WorldFacts, chat: ChatSpec, f: Facts, refs: _Refs) -> tuple:
    kind = f.kind
    entities: list[Any] = []
    media = None
    fwd = None
    via_bot = None
    text = TEXT_HOLE if f.pool else ""
    if kind == "rich":
        alice = world.users["alice"].id
        rich = content.rich_texts(alice, CUSTOM_EMOJI_BASE)[f.text_key]
        text, entities = rich.text, list(rich.entities)
        refs.user(chat, alice)
    elif kind == "hostile":
        text = content.HOSTILE_TEXTS[f.text_key]
    elif kind == "hostile_link":
        rich = content.hostile_link_text()
        text, entities = rich.text, list(rich.entities)
    elif kind == "fwd_channel" and world.source is not chat:
        refs.chats[world.source.index] = None
        fwd = types.MessageFwdHeader(date=sentinel_date("fwd_date"), from_id=world.source.peer(),
                                     channel_post=sentinel("fwd_post"))
    elif kind in ("fwd_user", "fwd_channel"):
        fwd = types.MessageFwdHeader(date=sentinel_date("fwd_date"),
                                     from_id=refs.user(chat, world.users["bob"].id))
    elif kind == "fwd_hidden":
        fwd = types.MessageFwdHeader(date=sentinel_date("fwd_date"), from_name="Hidden Sender 🕶")
    elif kind == "root":
        assert chat.linked is not None
        channel = world.chats[chat.linked].peer()
        fwd = types.MessageFwdHeader(date=sentinel_date("post_date"), from_id=channel, channel_post=sentinel("post_id"),
                                     saved_from_peer=channel, saved_from_msg_id=sentinel("post_id2"))
    elif kind == "via_bot":
        via_bot = world.users["bot"].id
        refs.user(chat, via_bot)
    elif kind == "poll":
        question, answers = poll_of(f)
        closed = f.text_key >= len(content.POLL_QUESTIONS)
        poll = types.Poll(
            id=sentinel("poll_id"), question=types.TextWithEntities(question, []),
            answers=[types.PollAnswer(types.TextWithEntities(a, []), bytes([i]))
                     for i, a in enumerate(answers)],
            hash=0, closed=closed or None)
        results = types.PollResults(
            results=[types.PollAnswerVoters(bytes([i]), voters=sentinel(f"v{i}"), recent_voters=[],
                                             chosen=(i == 0) or None)
                     for i in range(len(answers))],
            total_voters=sentinel("vtotal"))
        media = types.MessageMediaPoll(poll=poll, results=results)
    elif kind in FILE_KINDS:
        media = _file_media(f)
    return text, entities, media, fwd, via_bot


def _file_media(f: Facts) -> Any:
    m = f.media
    assert m is not None
    if m.kind == "photo":
        photo = types.Photo(
            id=sentinel("media_id"), access_hash=sentinel("access_hash"), file_reference=sentinel("file_ref"),
            date=sentinel_date("media_date"), dc_id=sentinel("dc"),
            sizes=[types.PhotoStrippedSize("i", b"\x01\x28\x1e" + bytes(range(40))),
                   types.PhotoSize("m", 320, 240, sentinel("sz_m")),
                   types.PhotoSize("x", 800, 600, sentinel("sz_x")),
                   types.PhotoSizeProgressive("y", 1280, 960,
                                              [sentinel("sz_y0"), sentinel("sz_y1"), sentinel("sz_y2")])])
        spoiler = f.text_key == 3
        return types.MessageMediaPhoto(photo=photo, spoiler=spoiler or None)
    kind = f.kind
    attrs: list[Any] = []
    if kind == "sticker":
        attrs = [types.DocumentAttributeImageSize(512, 512),
                 types.DocumentAttributeSticker("😀", types.InputStickerSetID(77, 7777)),
                 types.DocumentAttributeFilename("sticker.webp")]
    elif kind == "voice":
        attrs = [types.DocumentAttributeAudio(sentinel("duration"), voice=True,
                                              waveform=bytes(range(0, 250, 5)))]
    elif kind == "audio":
        attrs = [types.DocumentAttributeAudio(sentinel("duration"), title="Simulated Song",
                                              performer="The Testers"),
                 types.DocumentAttributeFilename("song.mp3")]
    elif kind == "animation":
        attrs = [types.DocumentAttributeVideo(sentinel("duration_f"), 480, 270, nosound=True),
                 types.DocumentAttributeFilename("animation.mp4"), types.DocumentAttributeAnimated()]
    elif kind == "round":
        attrs = [types.DocumentAttributeVideo(sentinel("duration_f"), 384, 384, round_message=True)]
    elif m.mime == "video/mp4":
        name = "big-video.mp4" if kind == "big_video" else "video.mp4"
        attrs = [types.DocumentAttributeVideo(sentinel("duration_f"), 1280, 720, supports_streaming=True),
                 types.DocumentAttributeFilename(name)]
    else:
        name = file_name(f)
        if name:
            attrs = [types.DocumentAttributeFilename(name)]
    thumbs = None
    if "m" in m.thumbs:
        thumbs = [types.PhotoStrippedSize("i", b"\x01\x28\x1e" + bytes(range(30))),
                  types.PhotoSize("m", 320, 180, sentinel("sz_m"))]
    document = types.Document(
        id=sentinel("media_id"), access_hash=sentinel("access_hash"), file_reference=sentinel("file_ref"),
        date=sentinel_date("media_date"), mime_type=m.mime, size=sentinel("size"), dc_id=sentinel("dc"),
        attributes=attrs, thumbs=thumbs)
    return types.MessageMediaDocument(
        document=document, video=(m.mime == "video/mp4" and kind != "animation") or None,
        round=kind == "round" or None, voice=kind == "voice" or None)

assert all(len(v) == struct.calcsize(fmt) for fmt, v in FIELDS.values() if isinstance(v, bytes))

_RENDER_GLOBALS.update(_votes=_votes, poll_of=poll_of, duration_of=duration_of, signed64=signed64, mix64=mix64,
                       max=max, sum=sum, len=len, range=range, float=float)
