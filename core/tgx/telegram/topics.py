"""A forum's topics: ``messages.GetForumTopics``, paged, into :class:`tgx.model.Topic`.

Telegram pages the topic list newest activity first, by the last topic of the previous page:
its top message's date and id and its own id (``offset_date/offset_id/offset_topic``). A topic
can move between pages while we read (a new message bumps it to the front), so topics are
deduplicated by id and the paging stops at a short page, at ``count``, or when a page brings
nothing new.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tgx.errors import UsageError
from tgx.model import Topic

PAGE = 100  # topics a request asks for (Telegram's most)
EMOJI_PAGE = 200  # custom emoji documents one messages.GetCustomEmojiDocuments returns at most

__all__ = ["EMOJI_PAGE", "PAGE", "count_messages", "list_topics", "name_icons", "topic_from_tl"]


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def topic_from_tl(t: Any) -> Topic | None:
    """A ``ForumTopic`` → :class:`Topic` (``ForumTopicDeleted`` → None)."""
    title = getattr(t, "title", None)
    if title is None:
        return None
    return Topic(id=t.id, title=title, date=_utc(getattr(t, "date", None)),
                 icon_color=getattr(t, "icon_color", None), icon_emoji_id=getattr(t, "icon_emoji_id", None),
                 closed=bool(getattr(t, "closed", False)), pinned=bool(getattr(t, "pinned", False)),
                 hidden=bool(getattr(t, "hidden", False)), top_message_id=getattr(t, "top_message", None))


async def list_topics(runner: Any, input_peer: Any, *, title: str = "the chat") -> list[Topic]:
    """Every topic of the forum ``input_peer``, as Telegram orders them (latest activity first).

    Raises :class:`UsageError` when the chat is not a forum (Telegram's ``CHANNEL_FORUM_MISSING``).
    """
    from telethon import errors
    from telethon.tl import functions

    topics: dict[int, Topic] = {}
    offset_date: datetime | None = None
    offset_id = offset_topic = 0
    while True:
        request = functions.messages.GetForumTopicsRequest(
            peer=input_peer, offset_date=offset_date, offset_id=offset_id, offset_topic=offset_topic, limit=PAGE)
        try:
            answer = await runner(request, stage="resolve")
        except errors.RPCError as exc:
            if "FORUM_MISSING" in str(exc) or "FORUM_MISSING" in type(exc).__name__.upper():
                raise UsageError(f"{title} is not a forum: it has no topics",
                                 hint="`tgx chats` marks forums with (forum)") from None
            raise
        page = [t for t in (topic_from_tl(x) for x in answer.topics) if t is not None]
        new = [t for t in page if t.id not in topics]
        for t in new:
            topics[t.id] = t
        if len(answer.topics) < PAGE or not new or len(topics) >= answer.count:
            found = list(topics.values())
            await name_icons(runner, found)
            return found
        last = answer.topics[-1]
        tops = {m.id: m for m in answer.messages if getattr(m, "id", None) is not None}
        top = tops.get(getattr(last, "top_message", 0))
        offset_date = getattr(top, "date", None)
        offset_id = getattr(last, "top_message", 0)
        offset_topic = last.id


async def name_icons(runner: Any, topics: list[Topic]) -> None:
    """Fill each topic's ``icon_emoji`` from its custom emoji document's ``alt`` (the emoji it
    stands for): one ``messages.GetCustomEmojiDocuments`` per 200 icons. An icon Telegram will not
    describe stays unnamed — the list is still right without it."""
    from telethon import errors
    from telethon.tl import functions, types

    ids = sorted({t.icon_emoji_id for t in topics if t.icon_emoji_id})
    alts: dict[int, str] = {}
    for start in range(0, len(ids), EMOJI_PAGE):
        try:
            documents = await runner(functions.messages.GetCustomEmojiDocumentsRequest(
                document_id=ids[start:start + EMOJI_PAGE]), stage="resolve")
        except errors.RPCError:
            return
        for doc in documents:
            for attr in getattr(doc, "attributes", ()):
                if isinstance(attr, types.DocumentAttributeCustomEmoji):
                    alts[doc.id] = attr.alt
    for t in topics:
        if t.icon_emoji_id in alts:
            t.icon_emoji = alts[t.icon_emoji_id]


async def count_messages(runner: Any, input_peer: Any, topic: Topic) -> int:
    """How many messages ``topic`` holds: one ``messages.GetReplies`` with ``limit=0``."""
    from telethon.tl import functions

    answer = await runner(functions.messages.GetRepliesRequest(
        peer=input_peer, msg_id=topic.id, offset_id=0, offset_date=None, add_offset=0, limit=0, max_id=0,
        min_id=0, hash=0), stage="resolve")
    return int(getattr(answer, "count", None) or len(getattr(answer, "messages", ())))
