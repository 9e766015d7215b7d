"""The normalized message: what every stage after fetching works with.

Plain slotted dataclasses, independent of Telethon, so formats and sinks never touch TL types.
Ids of peers are *marked* ids (Telethon's ``utils.get_peer_id``): users positive, basic groups
negative, channels and supergroups ``-100…``; one integer names one peer unambiguously.
Offsets and lengths of entities count UTF-16 code units, as Telegram does.

``to_dict``/``from_dict`` are the one serialization: the archive stores it and the ``jsonl``
format writes it, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Entity types use Telegram Desktop's export names (see docs/formats.md).
ENTITY_TYPES = (
    "bold", "italic", "underline", "strikethrough", "spoiler", "blockquote", "code", "pre",
    "text_link", "mention_name", "custom_emoji", "mention", "hashtag", "cashtag", "bot_command",
    "link", "email", "phone", "bank_card",
)

# Media kinds that are files (downloadable); the rest carry their data in ``Media.extra``.
FILE_MEDIA_KINDS = ("photo", "video", "voice", "audio", "document", "sticker", "animation", "round")
OTHER_MEDIA_KINDS = ("poll", "geo", "venue", "contact", "webpage", "dice", "game", "invoice", "story",
                     "unsupported")

PEER_KINDS = ("user", "bot", "self", "channel", "supergroup", "group")


def peer_kind_of_id(marked_id: int) -> str:
    """``user``, ``group`` or ``channel`` from a marked id alone (no title needed)."""
    if marked_id >= 0:
        return "user"
    if marked_id <= -1_000_000_000_000:
        return "channel"
    return "group"


def bare_id(marked_id: int) -> int:
    """The id Telegram Desktop and ``t.me/c/`` links show: without the ``-``/``-100`` mark."""
    if marked_id >= 0:
        return marked_id
    if marked_id <= -1_000_000_000_000:
        return -marked_id - 1_000_000_000_000
    return -marked_id


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(slots=True)
class Entity:
    type: str
    offset: int  # UTF-16 code units
    length: int  # UTF-16 code units
    url: str | None = None  # text_link
    user_id: int | None = None  # mention_name
    language: str | None = None  # pre
    document_id: int | None = None  # custom_emoji

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": self.type, "offset": self.offset, "length": self.length}
        if self.url is not None:
            d["url"] = self.url
        if self.user_id is not None:
            d["user_id"] = self.user_id
        if self.language is not None:
            d["language"] = self.language
        if self.document_id is not None:
            d["document_id"] = self.document_id
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Entity:
        return cls(d["type"], d["offset"], d["length"], d.get("url"), d.get("user_id"),
                   d.get("language"), d.get("document_id"))


@dataclass(slots=True)
class Forward:
    from_id: int | None = None  # marked id of the original sender/channel, when visible
    from_name: str | None = None  # hidden senders show only a name
    date: datetime | None = None
    channel_post: int | None = None  # the original message id in from_id's channel
    post_author: str | None = None
    saved_from_peer: int | None = None
    saved_from_msg_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "from_id": self.from_id, "from_name": self.from_name, "date": _iso(self.date),
            "channel_post": self.channel_post, "post_author": self.post_author,
            "saved_from_peer": self.saved_from_peer, "saved_from_msg_id": self.saved_from_msg_id,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Forward:
        return cls(d.get("from_id"), d.get("from_name"), _from_iso(d.get("date")), d.get("channel_post"),
                   d.get("post_author"), d.get("saved_from_peer"), d.get("saved_from_msg_id"))


@dataclass(slots=True)
class Media:
    kind: str  # one of FILE_MEDIA_KINDS or OTHER_MEDIA_KINDS
    id: int | None = None  # photo/document id: the dedupe key across messages and chats
    dc_id: int | None = None
    file_name: str | None = None  # as Telegram sent it: untrusted, never a path
    mime_type: str | None = None
    size: int | None = None  # bytes
    width: int | None = None
    height: int | None = None
    duration: float | None = None  # seconds
    performer: str | None = None
    title: str | None = None
    emoji: str | None = None  # sticker's emoji
    spoiler: bool = False
    path: str | None = None  # once downloaded: POSIX path relative to the chat folder
    thumbnail_path: str | None = None
    extra: dict[str, Any] | None = None  # poll / geo / venue / contact / webpage / dice details

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "id": self.id, "dc_id": self.dc_id, "file_name": self.file_name,
            "mime_type": self.mime_type, "size": self.size, "width": self.width, "height": self.height,
            "duration": self.duration, "performer": self.performer, "title": self.title,
            "emoji": self.emoji, "spoiler": self.spoiler, "path": self.path,
            "thumbnail_path": self.thumbnail_path, "extra": self.extra,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Media:
        return cls(d["kind"], d.get("id"), d.get("dc_id"), d.get("file_name"), d.get("mime_type"),
                   d.get("size"), d.get("width"), d.get("height"), d.get("duration"), d.get("performer"),
                   d.get("title"), d.get("emoji"), d.get("spoiler", False), d.get("path"),
                   d.get("thumbnail_path"), d.get("extra"))

    @property
    def is_file(self) -> bool:
        return self.kind in FILE_MEDIA_KINDS


@dataclass(slots=True)
class Action:
    """A service message's action: ``type`` uses Telegram Desktop's names (``create_group``,
    ``invite_members``, ``pin_message``, ``edit_group_title``, ``topic_created``, ...);
    ``data`` holds the action's own fields (``members``, ``title``, ``message_id``, ...)."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, **self.data}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Action:
        data = dict(d)
        return cls(data.pop("type"), data)


@dataclass(slots=True)
class Reaction:
    type: str  # emoji | custom_emoji | paid
    count: int
    emoji: str | None = None
    document_id: int | None = None
    chosen: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "count": self.count, "emoji": self.emoji,
                "document_id": self.document_id, "chosen": self.chosen}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Reaction:
        return cls(d["type"], d["count"], d.get("emoji"), d.get("document_id"), d.get("chosen", False))


@dataclass(slots=True)
class Topic:
    """A forum topic. ``id`` is the id of its ``topic_created`` service message (1: General), the
    ``Message.topic_id`` of the messages in it."""

    id: int
    title: str
    date: datetime | None = None  # when it was created (UTC)
    icon_color: int | None = None  # RGB of the default icon
    icon_emoji_id: int | None = None  # custom emoji document used as the icon, if any
    closed: bool = False
    pinned: bool = False
    hidden: bool = False  # General, hidden from the topic list
    top_message_id: int | None = None  # its newest message
    messages: int | None = None  # message count, when asked for (tgx topics --counts)
    icon_emoji: str | None = None  # the icon's emoji character (its custom emoji's alt text)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "date": self.date.isoformat() if self.date else None,
                "icon_color": self.icon_color, "icon_emoji_id": self.icon_emoji_id, "closed": self.closed,
                "pinned": self.pinned, "hidden": self.hidden, "top_message_id": self.top_message_id,
                "messages": self.messages, "icon_emoji": self.icon_emoji}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Topic:
        date = d.get("date")
        return cls(d["id"], d["title"], datetime.fromisoformat(date) if date else None, d.get("icon_color"),
                   d.get("icon_emoji_id"), bool(d.get("closed")), bool(d.get("pinned")), bool(d.get("hidden")),
                   d.get("top_message_id"), d.get("messages"), d.get("icon_emoji"))


@dataclass(slots=True)
class Version:
    """An earlier version of an edited message, as tgx saw it before the edit it learned of:
    what changed (``text``, ``entities``, ``media``) and when that version was made
    (``edit_date``; None for the original)."""

    edit_date: datetime | None = None
    text: str = ""
    entities: list[Entity] = field(default_factory=list)
    media: Media | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"edit_date": _iso(self.edit_date), "text": self.text,
                "entities": [e.to_dict() for e in self.entities],
                "media": self.media.to_dict() if self.media else None}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Version:
        return cls(_from_iso(d.get("edit_date")), d.get("text") or "",
                   [Entity.from_dict(e) for e in d.get("entities") or ()],
                   Media.from_dict(d["media"]) if d.get("media") else None)


@dataclass(slots=True)
class Message:
    chat_id: int  # marked id of the chat the message lives in
    id: int
    date: datetime  # timezone-aware, UTC
    text: str = ""
    entities: list[Entity] = field(default_factory=list)
    sender_id: int | None = None  # marked id; None for anonymous channel posts
    edit_date: datetime | None = None
    reply_to_id: int | None = None
    reply_to_peer_id: int | None = None  # set when the replied message is in another chat
    topic_id: int | None = None  # forum topic (the id of its topic_created service message)
    forward: Forward | None = None
    media: Media | None = None
    action: Action | None = None  # set on service messages
    reactions: list[Reaction] = field(default_factory=list)
    views: int | None = None
    forwards: int | None = None
    replies: int | None = None  # comment / reply count
    grouped_id: int | None = None  # album
    post_author: str | None = None  # channel post signature
    via_bot_id: int | None = None
    out: bool = False
    pinned: bool = False
    deleted: bool = False  # seen in an earlier sync, gone from Telegram now
    reply_to_top_id: int | None = None  # a reply inside a thread (a comment answering a comment): its root
    replies_max_id: int | None = None  # the newest reply / comment id (in the discussion group for posts)
    deleted_at: datetime | None = None  # when tgx learned of the deletion (exact where Telegram says)
    history: list[Version] = field(default_factory=list)  # earlier versions, oldest first
    extra: dict[str, Any] | None = None  # what a source carried that no field holds (an import's unknown keys)

    @property
    def is_service(self) -> bool:
        return self.action is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, the jsonl line: every key present (None where absent), except
        ``deleted_at`` (only on deleted messages) and ``history`` (only on edited messages whose
        earlier versions tgx saw) — the two keys a message gains as the archive lives on — and
        ``extra`` (only on imported messages whose source had keys tgx has no field for)."""
        d: dict[str, Any] = {
            "id": self.id,
            "chat_id": self.chat_id,
            "date": self.date.isoformat(),
            "edit_date": _iso(self.edit_date),
            "sender_id": self.sender_id,
            "text": self.text,
            "entities": [e.to_dict() for e in self.entities],
            "reply_to_id": self.reply_to_id,
            "reply_to_peer_id": self.reply_to_peer_id,
            "reply_to_top_id": self.reply_to_top_id,
            "forward": self.forward.to_dict() if self.forward else None,
            "media": self.media.to_dict() if self.media else None,
            "action": self.action.to_dict() if self.action else None,
            "reactions": [r.to_dict() for r in self.reactions],
            "views": self.views,
            "forwards": self.forwards,
            "replies": self.replies,
            "replies_max_id": self.replies_max_id,
            "grouped_id": self.grouped_id,
            "topic_id": self.topic_id,
            "post_author": self.post_author,
            "via_bot_id": self.via_bot_id,
            "out": self.out,
            "pinned": self.pinned,
            "deleted": self.deleted,
        }
        if self.deleted_at is not None:
            d["deleted_at"] = self.deleted_at.isoformat()
        if self.history:
            d["history"] = [v.to_dict() for v in self.history]
        if self.extra:
            d["extra"] = self.extra
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Message:
        return cls(
            chat_id=d["chat_id"],
            id=d["id"],
            date=_from_iso(d["date"]),  # type: ignore[arg-type]
            text=d.get("text") or "",
            entities=[Entity.from_dict(e) for e in d.get("entities") or ()],
            sender_id=d.get("sender_id"),
            edit_date=_from_iso(d.get("edit_date")),
            reply_to_id=d.get("reply_to_id"),
            reply_to_peer_id=d.get("reply_to_peer_id"),
            topic_id=d.get("topic_id"),
            forward=Forward.from_dict(d["forward"]) if d.get("forward") else None,
            media=Media.from_dict(d["media"]) if d.get("media") else None,
            action=Action.from_dict(d["action"]) if d.get("action") else None,
            reactions=[Reaction.from_dict(r) for r in d.get("reactions") or ()],
            views=d.get("views"),
            forwards=d.get("forwards"),
            replies=d.get("replies"),
            grouped_id=d.get("grouped_id"),
            post_author=d.get("post_author"),
            via_bot_id=d.get("via_bot_id"),
            out=d.get("out", False),
            pinned=d.get("pinned", False),
            deleted=d.get("deleted", False),
            reply_to_top_id=d.get("reply_to_top_id"),
            replies_max_id=d.get("replies_max_id"),
            deleted_at=_from_iso(d.get("deleted_at")),
            history=[Version.from_dict(v) for v in d.get("history") or ()],
            extra=d.get("extra") or None,
        )


@dataclass(slots=True)
class Peer:
    """A user, bot, channel, supergroup or basic group: a chat being exported, or a sender."""

    id: int  # marked id
    kind: str  # one of PEER_KINDS
    title: str  # display name: "First Last" for users, the title for chats
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    forum: bool = False
    deleted: bool = False
    public: bool = False  # a public chat whose username is not known (a Telegram Desktop import)

    @property
    def folder_name(self) -> str:
        """The chat's folder under OUT/ (**contract**): its username if it has one, else its id."""
        return self.username or str(self.id)

    def to_dict(self) -> dict[str, Any]:
        """Every key, except ``public`` (only where set: a record from before it is the same)."""
        d = {"id": self.id, "kind": self.kind, "title": self.title, "username": self.username,
             "first_name": self.first_name, "last_name": self.last_name, "forum": self.forum,
             "deleted": self.deleted}
        if self.public:
            d["public"] = True
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Peer:
        return cls(d["id"], d["kind"], d.get("title") or "", d.get("username"), d.get("first_name"),
                   d.get("last_name"), d.get("forum", False), d.get("deleted", False), d.get("public", False))


def utc(ts: int | float) -> datetime:
    """A Unix timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


_DAYS: dict[int, str] = {}  # day number -> "YYYY-MM-DDT" (the days one export spans: a few thousand)
_MINUTES = tuple(f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60))
_SECONDS = tuple(f"{s:02d}+00:00" for s in range(60))


def utc_iso(ts: int) -> str:
    """``utc(ts).isoformat()`` for whole seconds — a record's date (:func:`_iso`) — without a
    datetime in between: ~6x cheaper, for a reader that builds a million records (tgx import)."""
    day, second = divmod(ts, 86400)
    prefix = _DAYS.get(day)
    if prefix is None:
        if len(_DAYS) >= 20_000:
            _DAYS.clear()
        prefix = _DAYS[day] = utc(day * 86400).isoformat()[:11]
    minute, second = divmod(second, 60)
    return prefix + _MINUTES[minute] + _SECONDS[second]
