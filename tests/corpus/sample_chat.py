"""A small chat with one message of every kind, and an in-memory RenderContext to render it.

Format tests render this chat with a writer and check the output; ``MemoryContext`` does what
the engine's context does (files under ``chat_dir``, peers, ranks, replied-to messages)
without an archive, so a writer can be tested on its own.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import psutil
from tgx.model import Action, Entity, Forward, Media, Message, Peer, Reaction, Topic

CHAT_ID = -1001234567890
ALICE, BOB, BOT, CAROL = 1001, 1002, 1003, 1004
OTHER_CHANNEL = -1009999999999
T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)

PEERS = {
    ALICE: Peer(ALICE, "user", "Alice Liddell", "alice", "Alice", "Liddell"),
    BOB: Peer(BOB, "user", "Bob", None, "Bob"),
    BOT: Peer(BOT, "bot", "Helper Bot", "helperbot"),
    CAROL: Peer(CAROL, "user", "Carol \U0001F600 Danvers", None),
    OTHER_CHANNEL: Peer(OTHER_CHANNEL, "channel", "Other News", "othernews"),
}
CHAT = Peer(CHAT_ID, "supergroup", "Test Group", "testgroup")


class MemoryContext:
    """A RenderContext over messages held in memory (or produced on demand by ``lookup``)."""

    def __init__(self, chat: Peer, chat_dir: Path, messages: Sequence[Message] = (), *,
                 peers: Mapping[int, Peer] | None = None, options: Mapping[str, Any] | None = None,
                 count: int | None = None, lookup: Callable[[int], Message | None] | None = None,
                 rank: Callable[[int], int | None] | None = None,
                 comments: Mapping[int, Sequence[Message]] | None = None,
                 topics: Sequence[Topic] | None = None):
        """``comments``: post id -> its comments (a channel's; any order, served ascending);
        ``topics``: the forum's topics (its messages' topics come from ``messages``)."""
        self.chat = chat
        self.chat_dir = chat_dir
        self.options = dict(options or {})
        self.peers = dict(peers if peers is not None else PEERS)
        by_id = {m.id: m for m in messages}
        ranks = {mid: i for i, mid in enumerate(sorted(by_id))}
        self._lookup = lookup or by_id.get
        self._rank = rank or ranks.get
        self.message_count = len(by_id) if count is None else count
        self.opened: list[str] = []
        self._comments = {post: sorted(cs, key=lambda m: m.id) for post, cs in (comments or {}).items() if cs}
        self._topics = sorted(topics or (), key=lambda t: t.id)
        self._messages = [by_id[i] for i in sorted(by_id)]
        self.comment_calls: list[int] = []  # post ids whose comments were asked for

    def open(self, relpath: str, mode: str = "w") -> IO[Any]:
        assert not relpath.startswith("/") and ".." not in relpath.split("/"), relpath
        assert mode in ("w", "wb"), mode
        self.opened.append(relpath)
        path = self.chat_dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode == "wb":
            return path.open("wb")
        return path.open("w", encoding="utf-8", newline="")

    def peer(self, peer_id: int | None) -> Peer | None:
        return None if peer_id is None else self.peers.get(peer_id)

    def message_index(self, message_id: int) -> int | None:
        return self._rank(message_id)

    def message(self, message_id: int) -> Message | None:
        return self._lookup(message_id)

    def topic(self, topic_id: int | None) -> Any:
        wanted = 1 if topic_id is None else topic_id
        return next((t for t in self._topics if t.id == wanted), None)

    def topics(self) -> list[Any]:
        return list(self._topics)

    def topic_messages(self, topic_id: int) -> Any:
        if not self.chat.forum:
            return iter(())
        return iter([m for m in self._messages if topic_of(m) == topic_id])

    def comment_count(self, post_id: int) -> int:
        return len(self._comments.get(post_id, ()))

    def comments(self, post_id: int) -> Any:
        self.comment_calls.append(post_id)
        return iter(self._comments.get(post_id, ()))

    def all_comments(self) -> list[tuple[int, Message]]:
        """Every comment as the engine gives ``write_comments``: ascending (post id, id)."""
        return [(post, c) for post in sorted(self._comments) for c in self._comments[post]]


def topic_of(msg: Message) -> int:
    """The archive's rule: topic_id; General (1) without one; a topic_created message opens its own."""
    if msg.topic_id is not None:
        return msg.topic_id
    return msg.id if msg.action is not None and msg.action.type == "topic_created" else 1


def render(factory: Callable[[Any], Any], ctx: Any, messages: Iterable[Message], batch: int = 100) -> Any:
    """Drive a writer as the engine does: open, ascending batches, close."""
    writer = factory(ctx)
    writer.open()
    chunk: list[Message] = []
    for msg in messages:
        chunk.append(msg)
        if len(chunk) >= batch:
            writer.write(chunk)
            chunk = []
    if chunk:
        writer.write(chunk)
    take = getattr(writer, "write_comments", None)
    pairs = ctx.all_comments() if callable(take) and hasattr(ctx, "all_comments") else []
    for start in range(0, len(pairs), batch):  # as the engine: after the messages, before close()
        take(pairs[start:start + batch])
    writer.close()
    return writer


def rss_growth(writer: Any, make: Callable[[int], Message], total: int, batch: int, warmup: int) -> int:
    """Bytes the process grew by while an opened ``writer`` took messages ``make(1)`` to
    ``make(total)`` in batches, counted from the end of batch ``warmup`` (allocators settle in
    the first batches); the writer is closed at the end. A writer that kept messages grows
    with them."""
    proc = psutil.Process()
    settled = proc.memory_info().rss
    for n, start in enumerate(range(1, total + 1, batch), 1):
        writer.write([make(i) for i in range(start, min(start + batch, total + 1))])
        if n == warmup:
            settled = proc.memory_info().rss
    grown = proc.memory_info().rss - settled
    writer.close()
    return grown


def png_bytes(width: int = 64, height: int = 48, rgb: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A valid RGB PNG with a diagonal stripe (so it is not one colour)."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            row += bytes((255, 200, 0)) if abs(x - y) < 4 else bytes(rgb)
        rows.append(bytes(row))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


def write_media(chat_dir: Path, messages: Iterable[Message]) -> None:
    """Create every downloaded file the messages point at (PNG for images, bytes otherwise)."""
    for msg in messages:
        media = msg.media
        if media is None:
            continue
        for rel in (media.path, media.thumbnail_path):
            if not rel:
                continue
            path = chat_dir / rel
            if not path.resolve().is_relative_to(chat_dir.resolve()):
                continue  # a hostile path is the point of some tests; never write where it points
            path.parent.mkdir(parents=True, exist_ok=True)
            is_image = rel.endswith((".png", ".jpg", ".webp"))
            path.write_bytes(png_bytes() if is_image else b"\0" * 64)


def _msg(mid: int, minutes: float, text: str = "", **kw: Any) -> Message:
    kw.setdefault("sender_id", ALICE)
    return Message(chat_id=CHAT_ID, id=mid, date=T0 + timedelta(minutes=minutes), text=text, **kw)


def sample_messages() -> list[Message]:
    """One of every kind the writers know, in ascending id order."""
    E = Entity
    rich = "Bold italic link @alice #tag $USD /start mail@example.com +15551234567 code"
    msgs = [
        _msg(1, 0, sender_id=ALICE, action=Action("create_group", {"title": "Test Group",
                                                                  "members": [ALICE, BOB]})),
        _msg(2, 1, "Hello, world!"),
        _msg(3, 2, rich, sender_id=BOB, entities=[
            E("bold", 0, 4), E("italic", 5, 6), E("text_link", 12, 4, url="https://example.com/?a=1&b=2"),
            E("mention", 17, 6), E("hashtag", 24, 4), E("cashtag", 29, 4), E("bot_command", 34, 6),
            E("email", 41, 16), E("phone", 58, 12), E("code", 71, 4)]),
        _msg(4, 3, "\U0001F600 emoji then bold and underlined", entities=[
            E("bold", 14, 4), E("underline", 23, 10)]),
        _msg(5, 4, "print('hi')\nprint(\"<b>\")", entities=[E("pre", 0, 25, language="python")]),
        _msg(6, 5, "a spoiler and a strike and a quote", entities=[
            E("spoiler", 2, 7), E("strikethrough", 16, 6), E("blockquote", 29, 5)]),
        _msg(7, 6, "nested: bold with italic inside", entities=[
            E("bold", 8, 23), E("italic", 18, 6)]),
        _msg(8, 7, "Reply to the hello", reply_to_id=2, sender_id=BOB),
        _msg(9, 8, "Reply to a message not in the archive", reply_to_id=999_999),
        _msg(10, 9, "Reply into another chat", reply_to_id=5, reply_to_peer_id=OTHER_CHANNEL),
        _msg(11, 10, "Forwarded text", forward=Forward(from_id=OTHER_CHANNEL, channel_post=77,
                                                       date=T0 - timedelta(days=3))),
        _msg(12, 11, "Forwarded from a hidden user", forward=Forward(from_name="Hidden Person")),
        _msg(13, 12, "Saved from elsewhere", forward=Forward(from_id=BOB, saved_from_peer=OTHER_CHANNEL,
                                                             saved_from_msg_id=5)),
        _msg(14, 13, "Edited message", edit_date=T0 + timedelta(minutes=20)),
        _msg(15, 14, "Sent via a bot", via_bot_id=BOT),
        _msg(16, 15, "Photo caption", media=Media("photo", 501, size=3456, width=64, height=48,
                                                  mime_type="image/jpeg", path="photos/photo_16.png")),
        _msg(17, 16, "", media=Media("photo", 502, size=999, width=640, height=480)),
        _msg(18, 17, "A video", media=Media("video", 503, file_name="clip.mp4", mime_type="video/mp4",
                                            size=123456, width=320, height=240, duration=12.4,
                                            path="video_files/clip.mp4",
                                            thumbnail_path="video_files/clip.mp4_thumb.png")),
        _msg(19, 18, "", media=Media("voice", 504, mime_type="audio/ogg", size=2048, duration=3,
                                     path="voice_messages/voice_19.ogg")),
        _msg(20, 19, "", media=Media("audio", 505, file_name="song.mp3", mime_type="audio/mpeg",
                                     size=4_500_000, duration=185, performer="Band", title="Song",
                                     path="files/song.mp3")),
        _msg(21, 20, "", media=Media("round", 506, mime_type="video/mp4", size=9000, width=240, height=240,
                                     duration=5, path="round_video_messages/round_21.mp4")),
        _msg(22, 21, "", media=Media("sticker", 507, file_name="sticker.webp", mime_type="image/webp",
                                     size=1200, width=512, height=512, emoji="\U0001F44D",
                                     path="stickers/sticker_22.webp")),
        _msg(23, 22, "", media=Media("animation", 508, file_name="anim.mp4", mime_type="video/mp4",
                                     size=5000, width=200, height=100, duration=2,
                                     path="animations/anim_23.mp4")),
        _msg(24, 23, "The report", media=Media("document", 509, file_name="report <final>.pdf",
                                               mime_type="application/pdf", size=1_234_567,
                                               path="files/report _final_.pdf")),
        _msg(25, 24, "", media=Media("document", 510, file_name="big.iso", mime_type="application/x-iso",
                                     size=3_000_000_000)),
        _msg(26, 25, "", media=Media("poll", 511, extra={
            "question": "Best colour?", "closed": True, "total_voters": 7, "quiz": False,
            "multiple_choice": False, "answers": [
                {"text": "Red", "voters": 5, "chosen": True, "correct": False},
                {"text": "Blue", "voters": 2, "chosen": False, "correct": False}]})),
        _msg(27, 26, "", media=Media("geo", extra={"latitude": 51.5007, "longitude": -0.1246})),
        _msg(28, 27, "", media=Media("venue", title="Big Ben", extra={
            "latitude": 51.5007, "longitude": -0.1246, "title": "Big Ben", "address": "London SW1A 0AA"})),
        _msg(29, 28, "", media=Media("contact", extra={"phone_number": "+15550000000", "first_name": "Dana",
                                                       "last_name": "Scully", "vcard": "", "user_id": None})),
        _msg(30, 29, "see https://example.org", entities=[E("link", 4, 19)],
             media=Media("webpage", 512, title="Example", extra={
                 "url": "https://example.org", "site_name": "Example", "title": "Example Domain",
                 "description": "For examples."})),
        _msg(31, 30, "", media=Media("dice", emoji="\U0001F3B2",
                                     extra={"emoticon": "\U0001F3B2", "value": 4})),
        _msg(32, 31, "Album caption", grouped_id=777, media=Media(
            "photo", 513, size=100, width=64, height=48, path="photos/album_32.png")),
        _msg(33, 31, "", grouped_id=777, media=Media("photo", 514, size=100, width=64, height=48,
                                                     path="photos/album_33.png")),
        _msg(34, 31, "", grouped_id=777, media=Media("video", 515, mime_type="video/mp4", size=100,
                                                     path="video_files/album_34.mp4")),
        _msg(35, 32, "Reactions!", reactions=[
            Reaction("emoji", 3, emoji="\u2764\ufe0f", chosen=True),
            Reaction("custom_emoji", 2, document_id=555), Reaction("paid", 1)]),
        _msg(36, 33, sender_id=ALICE, action=Action("invite_members", {"members": [CAROL]})),
        _msg(37, 34, sender_id=BOB, action=Action("pin_message", {"message_id": 2})),
        _msg(38, 35, sender_id=ALICE, action=Action("edit_group_title", {"title": "Renamed <Group>"})),
        _msg(39, 36, sender_id=CAROL, action=Action("phone_call", {"duration": 65, "discard_reason": "hangup",
                                                                  "video": False})),
        _msg(40, 37, sender_id=ALICE, action=Action("topic_created", {"title": "Topic \U0001F4A1",
                                                                      "icon_color": 123})),
        _msg(41, 38, sender_id=ALICE, action=Action("some_future_action", {"foo": "bar"})),
        _msg(42, 60 * 24, "Next day, in a topic, with views", topic_id=40, views=1234, forwards=5,
             replies=2, post_author="Editor"),
        _msg(43, 60 * 24 + 1, "This one was deleted on Telegram", deleted=True),
        _msg(44, 60 * 24 + 2, "Anonymous admin post", sender_id=None),
        _msg(45, 60 * 24 + 3, "custom emoji \U0001F525 here", entities=[
            E("custom_emoji", 13, 2, document_id=5368324170671202286),
            E("mention_name", 0, 6, user_id=BOB)]),
        _msg(46, 60 * 24 + 4, "", media=Media("unsupported", extra={"type": "giveaway"})),
        _msg(47, 60 * 24 + 5, "Game", media=Media("game", 516, title="Tetris", extra={
            "title": "Tetris", "description": "Blocks", "short_name": "tetris"})),
        _msg(48, 60 * 24 + 6, "", media=Media("invoice", title="Pizza", extra={
            "title": "Pizza", "description": "Large", "currency": "EUR", "total_amount": 1250,
            "receipt_msg_id": None})),
        _msg(49, 60 * 24 + 7, "Spoilered photo", media=Media("photo", 517, size=10, width=64, height=48,
                                                            spoiler=True, path="photos/spoiler_49.png")),
        _msg(50, 60 * 24 + 8, "", media=Media("geo", extra={"latitude": 10.0, "longitude": 20.0,
                                                            "live": True, "period": 900, "heading": None})),
    ]
    return msgs
