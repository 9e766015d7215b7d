"""One Telegram Desktop message object → :class:`tgx.model.Message` (+ its files and peers).

The exact inverse of tgx's own ``result.json`` writer (``plugins/tgx_json/writer.py``), which
writes Telegram Desktop's shape plus a few keys of its own (``views``, ``forwards``,
``topic_id``, ``grouped_id``, ``forward_from_id``): each key lands in the model field an online
export fills. Telegram Desktop exports names where Telegram has ids (``members``, ``inviter``,
``forwarded_from``, ``saved_from``, ``via_bot``): those stay names (in the action's data or the
message's ``extra``), never guessed ids. Keys tgx does not know go to ``Message.extra`` with a
warning; known keys with no model field go there silently (see ``SILENT_EXTRAS``).

Dates: ``date_unixtime`` / ``edited_unixtime`` when present (the instant); exports older than
Telegram Desktop 3.x have only ``date``, written in the exporting machine's local time with no
offset: it is read as UTC (the only assumption that needs nothing the file lacks), so such a
message may be off by the exporter's UTC offset.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tgx.archive.records import MessageRow, dumps
from tgx.model import Action, Forward, Media, Message, Peer, Reaction, utc, utc_iso

from .source import ImportedMessage, SourceFile, note_missing
from .tdtext import parse_text, plain_runs

CHANNEL_MARK = 1_000_000_000_000

# Telegram Desktop's ``type`` of a chat -> (tgx peer kind, how its bare id is marked)
CHAT_TYPES: dict[str, tuple[str, str]] = {
    "public_channel": ("channel", "channel"), "private_channel": ("channel", "channel"),
    "public_supergroup": ("supergroup", "channel"), "private_supergroup": ("supergroup", "channel"),
    "private_group": ("group", "chat"), "personal_chat": ("user", "user"), "bot_chat": ("bot", "user"),
    "saved_messages": ("self", "user"), "replies": ("user", "user"),
}
# Telegram Desktop's ``media_type`` of a file -> tgx media kind (a file without one is a document)
MEDIA_KINDS = {
    "sticker": "sticker", "video_message": "round", "voice_message": "voice", "animation": "animation",
    "video_file": "video", "audio_file": "audio",
}
NOT_INCLUDED_PREFIXES = ("(File ", "(Photo ")  # "(File not included. ...)", "(File exceeds maximum size ...)"
_REF_KINDS = {"user": "user", "chat": "group", "channel": "channel"}

_COMMON = frozenset({
    "id", "type", "date", "date_unixtime", "edited", "edited_unixtime", "text", "text_entities", "reactions",
    "views", "forwards", "topic_id", "grouped_id", "inline_bot_buttons",
})
_MESSAGE = frozenset({
    "from", "from_id", "author", "forwarded_from", "forward_from_id", "saved_from", "reply_to_message_id",
    "reply_to_peer_id", "via_bot",
})
_MEDIA_KEYS = frozenset({
    "photo", "photo_file_size", "width", "height", "file", "file_name", "file_size", "thumbnail",
    "thumbnail_file_size", "media_type", "sticker_emoji", "performer", "title", "mime_type", "duration_seconds",
    "media_spoiler", "contact_information", "location_information", "live_location_period_seconds",
    "place_name", "address", "game_title", "game_description", "game_link", "invoice_information", "poll",
    "dice",
})
# Keys Telegram Desktop writes that no model field holds: kept in ``Message.extra`` as they are.
SILENT_EXTRAS = frozenset({
    "via_bot", "saved_from", "inline_bot_buttons", "self_destruct_period_seconds", "contact_vcard",
    "thumbnail_file_size", "game_link",
})
# An ordinary message's keys that a model field holds (none of them goes to ``extra``).
_QUIET_KEYS = (_COMMON | _MESSAGE | _MEDIA_KEYS) - SILENT_EXTRAS
_SERVICE_OWN = frozenset({"actor", "actor_id", "action", "reply_to_message_id", "reply_to_peer_id"})
# The keys of the commonest message — text, a sender, perhaps a reply and reactions — whose
# archive record :meth:`ChatMessages.row` builds without a Message in between.
_ROW_KEYS = frozenset({"id", "type", "date", "date_unixtime", "from", "from_id", "text", "text_entities",
                       "reply_to_message_id", "reactions"})
# ... and the same with a photo the export left out ("File not included"): no file to place.
_ROW_PHOTO_KEYS = _ROW_KEYS | {"photo", "photo_file_size", "width", "height"}
_REACTION_KINDS = frozenset({"emoji", "custom_emoji", "paid"})
# Service actions whose message id Telegram Desktop writes under its own name; online it is the reply.
_REPLY_ACTION_KEYS = {"score_in_game": "game_message_id", "send_payment": "invoice_message_id"}


def parse_ref(ref: Any) -> int | None:
    """``user123`` / ``chat123`` / ``channel123`` → the marked id (None for anything else); a
    bare number is a user's id, as Telegram Desktop 1.x wrote ``from_id``."""
    if isinstance(ref, int) and not isinstance(ref, bool) and ref > 0:
        return ref
    if not isinstance(ref, str):
        return None
    for prefix in ("channel", "chat", "user"):
        if ref.startswith(prefix):
            bare = ref[len(prefix):]
            if not bare.isdigit():
                return None
            return mark(int(bare), "chat" if prefix == "chat" else prefix)
    return None


def mark(bare: int, how: str) -> int:
    """A bare id as tgx's marked id: ``channel`` → ``-100…``, ``chat`` → ``-id``, ``user`` → itself."""
    if how == "channel":
        return -CHANNEL_MARK - bare
    if how == "chat":
        return -bare
    return bare


def _ref_kind(ref: str | int) -> str:
    if isinstance(ref, int):
        return "user"
    return next(kind for prefix, kind in _REF_KINDS.items() if ref.startswith(prefix))


def _parse_date(unixtime: Any, text: Any) -> datetime | None:
    """``*_unixtime`` (a string of seconds) when readable, else the local ``YYYY-MM-DDTHH:MM:SS``
    taken as UTC; None when neither reads."""
    if isinstance(unixtime, str | int) and not isinstance(unixtime, bool):
        try:
            return utc(int(unixtime))
        except (ValueError, OverflowError, OSError):
            pass
    if isinstance(text, str):
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return None


def _number(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is int:
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _file(role: str, value: Any) -> SourceFile | None:
    """A path the export wrote, or Telegram Desktop's note that the file is not in it."""
    if not isinstance(value, str) or not value:
        return None
    if value.startswith(NOT_INCLUDED_PREFIXES) and value.endswith(")"):
        return SourceFile(role, None, missing=value)  # type: ignore[arg-type]
    return SourceFile(role, value)  # type: ignore[arg-type]


class ChatMessages:
    """Reads one chat's message objects; learns the peers they name into ``peers``."""

    def __init__(self, chat: Peer, peers: dict[int, Peer], warn: Callable[[str, str], None],
                 self_id: int | None = None):
        self.chat = chat
        self.peers = peers
        self.self_id = self_id
        self._warn = warn
        self._warned: set[tuple[str, str]] = set()
        self._topics: set[int] = set()  # ids of topic_created messages: a reply to one is a post in it
        self._ids: dict[str, int] = {}  # "user123" -> its marked id (as many as the peers)
        self.missing = 0  # files the export left out, recorded in the rows :meth:`row` made

    def warn(self, kind: str, detail: str) -> None:
        """Once per (kind, detail) and chat: a million messages with the same unknown key warn once."""
        if (kind, detail) not in self._warned:
            self._warned.add((kind, detail))
            self._warn(kind, detail)

    # -- peers ---------------------------------------------------------------------------------
    def learn(self, ref: Any, name: Any) -> int | None:
        """The marked id of ``ref``; a peer named by a non-empty name is remembered."""
        peer_id = self._ids.get(ref) if type(ref) is str else None  # the same few senders, again and again
        if peer_id is None:
            peer_id = parse_ref(ref)
            if peer_id is not None and type(ref) is str:
                self._ids[ref] = peer_id
        if peer_id is None:
            if ref is not None:
                self.warn("bad peer id", repr(ref)[:60])
            return None
        if peer_id == self.chat.id or peer_id in self.peers or not isinstance(name, str) or not name:
            return peer_id
        kind = _ref_kind(ref)
        if peer_id == self.self_id:
            kind = "self"
        self.peers[peer_id] = Peer(peer_id, kind, name)
        return peer_id

    # -- one message ---------------------------------------------------------------------------
    def read(self, d: dict[str, Any]) -> ImportedMessage | None:
        """The message, or None (warned) when it has no id or no readable date."""
        mid = _number(d.get("id"))
        if mid is None:
            self.warn("bad message", f"a message without a numeric id: {str(d.get('id'))[:40]}")
            return None
        kind = d.get("type")
        if kind == "unsupported":
            self.warn("unsupported message", "Telegram Desktop exported only the id of a message it could not read")
            return None
        date = _parse_date(d.get("date_unixtime"), d.get("date"))
        if date is None:
            self.warn("bad date", f"message {mid}: {str(d.get('date_unixtime') or d.get('date'))[:40]}")
            return None
        msg = Message(self.chat.id, mid, date)
        extra: dict[str, Any] = {}
        files: list[SourceFile] = []
        if "edited" in d or "edited_unixtime" in d:
            msg.edit_date = _parse_date(d.get("edited_unixtime"), d.get("edited"))
            if msg.edit_date is None:
                self.warn("bad date", f"message {mid} edited: {str(d.get('edited_unixtime') or d.get('edited'))[:40]}")
        parsed = parse_text(d, self.warn)
        msg.text, msg.entities = parsed.text, parsed.entities
        if parsed.unknown:
            extra["text_entities"] = parsed.unknown
        if kind == "service":
            self._service(d, msg, extra)
        else:
            if kind != "message":
                self.warn("unknown message type", str(kind))
                extra["type"] = kind
            self._message(d, msg, extra, files)
        self._common(d, msg, extra)
        if msg.out is False and self.self_id is not None and msg.sender_id == self.self_id:
            msg.out = True
        msg.extra = extra or None
        return ImportedMessage(msg, files)

    def row(self, d: dict[str, Any]) -> MessageRow | None:
        """The archive row of the commonest message (keys of :data:`_ROW_KEYS`, known entities
        and reactions only; or with a photo the export left out, counted in :attr:`missing`)
        built straight from its object — what :meth:`read` and :func:`tgx.archive.records.message_row`
        make of it (a left-out file noted as the import notes it), byte for byte
        (tests/test_import_rows.py), without a Message and its ``to_dict`` between; None for any
        other message (:meth:`read`)."""
        mid, unixtime = d.get("id"), d.get("date_unixtime")
        if type(mid) is not int or d.get("type") != "message" or type(unixtime) is not str or not unixtime.isdigit():
            return None
        photo = not _ROW_KEYS.issuperset(d)
        if photo and ("photo" not in d or not _ROW_PHOTO_KEYS.issuperset(d)):
            return None
        reactions: list[dict[str, Any]] = []
        raw = d.get("reactions")
        if raw is not None:
            if type(raw) is not list:
                return None
            for r in raw:
                if type(r) is not dict:
                    continue
                kind = r.get("type")
                if kind not in _REACTION_KINDS or "recent" in r:
                    return None
                reactions.append(Reaction(kind, _number(r.get("count")) or 0,
                                          emoji=r.get("emoji") if kind == "emoji" else None,
                                          document_id=_number(r.get("document_id")) if kind == "custom_emoji"
                                          else None).to_dict())
        runs = plain_runs(d)
        if runs is not None:
            text, entities = runs
        else:  # another text: read as read() reads it (its warnings said)
            parsed = parse_text(d, self.warn)
            if parsed.unknown:
                return None
            text, entities = parsed.text, [e.to_dict() for e in parsed.entities]
        try:
            seconds = int(unixtime)
            date = utc_iso(seconds)
        except (ValueError, OverflowError, OSError):
            return None
        sender = self._sender(d["from_id"], d.get("from")) if "from_id" in d else None
        media = None
        if photo:  # after the text and the sender: the warnings come in read()'s order
            files: list[SourceFile] = []
            left_out = self._media(d, files, {})
            if left_out is None or len(files) != 1 or files[0].missing is None:
                return None  # a file to place (the stage's), or a path it cannot read (warned there)
            note_missing(left_out, "file", files[0].missing)
            media = left_out.to_dict()
        reply_to = topic = None
        reply = _number(d.get("reply_to_message_id"))
        if reply is not None:
            if reply in self._topics:
                topic = reply  # a post in a forum topic, as online: not a reply
            else:
                reply_to = reply
        record = {
            "id": mid, "chat_id": self.chat.id, "date": date, "edit_date": None, "sender_id": sender,
            "text": text, "entities": entities, "reply_to_id": reply_to,
            "reply_to_peer_id": None, "reply_to_top_id": None, "forward": None, "media": media, "action": None,
            "reactions": reactions, "views": None, "forwards": None, "replies": None, "replies_max_id": None,
            "grouped_id": None, "topic_id": topic, "post_author": None, "via_bot_id": None,
            "out": self.self_id is not None and sender == self.self_id, "pinned": False, "deleted": False,
        }
        if media is not None:
            self.missing += 1
        return (self.chat.id, mid, seconds, None, 0, dumps(record))

    def _sender(self, ref: Any, name: Any) -> int | None:
        """Telegram Desktop names the chat itself as the sender of a post with none. Online, a
        channel's posts have no sender; a supergroup's anonymous admins have the group as
        theirs (Telegram sends it): so the chat is no sender in a channel, and is in a group."""
        sender = self.learn(ref, name)
        if sender is not None and sender == self.chat.id and self.chat.kind == "channel":
            return None
        return sender

    def _common(self, d: dict[str, Any], msg: Message, extra: dict[str, Any]) -> None:
        reactions = d.get("reactions")
        if isinstance(reactions, list):
            msg.reactions = self._reactions(reactions, extra)
        msg.views = _number(d.get("views"))
        msg.forwards = _number(d.get("forwards"))
        topic = _number(d.get("topic_id"))
        if topic is not None:
            msg.topic_id = topic
        msg.grouped_id = _number(d.get("grouped_id"))
        if "inline_bot_buttons" in d:
            extra["inline_bot_buttons"] = d["inline_bot_buttons"]

    def _reactions(self, raw: list[Any], extra: dict[str, Any]) -> list[Reaction]:
        out = []
        for r in raw:
            if not isinstance(r, dict):
                continue
            kind, count = r.get("type"), _number(r.get("count")) or 0
            if kind == "emoji":
                out.append(Reaction("emoji", count, emoji=r.get("emoji")))
            elif kind == "custom_emoji":
                out.append(Reaction("custom_emoji", count, document_id=_number(r.get("document_id"))))
            elif kind == "paid":
                out.append(Reaction("paid", count))
            else:
                self.warn("unknown reaction", str(kind))
                extra.setdefault("reactions", []).append(r)
                continue
            for who in r.get("recent") or ():  # who reacted (Telegram Desktop 4.x): their names are peers
                if isinstance(who, dict):
                    self.learn(who.get("from_id"), who.get("from"))
            if "recent" in r:
                extra.setdefault("reactions_recent", []).append(r)
        return out

    # -- service messages ----------------------------------------------------------------------
    def _service(self, d: dict[str, Any], msg: Message, extra: dict[str, Any]) -> None:
        msg.sender_id = self._sender(d.get("actor_id"), d.get("actor")) if "actor_id" in d else None
        action_type = d.get("action")
        data: dict[str, Any] = {}
        for key, value in d.items():
            if key in _COMMON or key in _SERVICE_OWN:
                continue
            data[key] = value
        if not isinstance(action_type, str):
            # Telegram Desktop's custom action: only its text, no action name
            action_type = "custom_action"
            if "information_text" in data:
                data["text"] = data.pop("information_text")
        if action_type == "phone_call" and "duration_seconds" in data:
            data["duration"] = data.pop("duration_seconds")
        for key in ("from", "to"):  # proximity_reached: the peers are named by id too
            ref = data.get(key + "_id")
            if isinstance(ref, str):
                peer_id = self.learn(ref, data.pop(key, None))
                if peer_id is not None:
                    data[key + "_id"] = peer_id
        reply_key = _REPLY_ACTION_KEYS.get(action_type)
        if reply_key is not None:
            msg.reply_to_id = _number(data.get(reply_key))
        elif action_type != "pin_message":
            msg.reply_to_id = _number(d.get("reply_to_message_id"))
        if "reply_to_peer_id" in d:
            msg.reply_to_peer_id = parse_ref(d["reply_to_peer_id"])
        if action_type == "topic_created":
            msg.topic_id = msg.id
            self._topics.add(msg.id)
        msg.action = Action(action_type, data)

    # -- ordinary messages ---------------------------------------------------------------------
    def _message(self, d: dict[str, Any], msg: Message, extra: dict[str, Any], files: list[SourceFile]) -> None:
        if "from_id" in d:
            msg.sender_id = self._sender(d["from_id"], d.get("from"))
        author = d.get("author")
        if isinstance(author, str) and author:
            msg.post_author = author
        if "forwarded_from" in d or "forward_from_id" in d or "saved_from" in d:
            msg.forward = self._forward(d)
        reply = _number(d.get("reply_to_message_id"))
        if reply is not None:
            if "topic_id" not in d and reply in self._topics:
                msg.topic_id = reply  # a post in a forum topic, as online: not a reply
            else:
                msg.reply_to_id = reply
                if "reply_to_peer_id" in d:
                    msg.reply_to_peer_id = parse_ref(d["reply_to_peer_id"])
        msg.media = self._media(d, files, extra)
        if d.keys() - _QUIET_KEYS:  # a key that goes to extra (most messages have none): in order
            for key, value in d.items():
                if key in SILENT_EXTRAS:
                    extra[key] = value
                elif key not in _QUIET_KEYS:
                    self.warn("unknown field", key)
                    extra[key] = value

    def _forward(self, d: dict[str, Any]) -> Forward:
        name = d.get("forwarded_from")
        if "forward_from_id" in d:  # tgx's own key: the original sender's id
            from_id = self.learn(d["forward_from_id"], name)
            if from_id is not None:
                return Forward(from_id=from_id)
        return Forward(from_name=name if isinstance(name, str) and name else None)

    def _media(self, d: dict[str, Any], files: list[SourceFile], extra: dict[str, Any]) -> Media | None:
        if d.keys().isdisjoint(_MEDIA_KEYS):  # most messages: text only
            return None
        spoiler = d.get("media_spoiler") is True
        if "photo" in d:
            media = Media("photo", size=_number(d.get("photo_file_size")), spoiler=spoiler)
            self._size(d, media)
            self._add_file(files, "file", d["photo"])
            return media
        if "file" in d:
            media_type = d.get("media_type")
            kind = MEDIA_KINDS.get(media_type, "document") if isinstance(media_type, str) else "document"
            if isinstance(media_type, str) and media_type not in MEDIA_KINDS:
                self.warn("unknown media kind", media_type)
                extra["media_type"] = media_type
            media = Media(kind, file_name=_str(d.get("file_name")), mime_type=_str(d.get("mime_type")),
                          size=_number(d.get("file_size")), spoiler=spoiler)
            duration = d.get("duration_seconds")
            if isinstance(duration, int | float) and not isinstance(duration, bool):
                media.duration = duration
            self._size(d, media)
            if kind == "sticker":
                media.emoji = _str(d.get("sticker_emoji"))
            if kind == "audio":
                media.performer, media.title = _str(d.get("performer")), _str(d.get("title"))
            self._add_file(files, "file", d["file"])
            if "thumbnail" in d:
                self._add_file(files, "thumbnail", d["thumbnail"])
            return media
        return self._other_media(d)

    def _add_file(self, files: list[SourceFile], role: str, value: Any) -> None:
        source = _file(role, value)
        if source is None:
            self.warn("bad file", f"{role} is {value!r:.60}")
        else:
            files.append(source)

    @staticmethod
    def _size(d: dict[str, Any], media: Media) -> None:
        width, height = _number(d.get("width")), _number(d.get("height"))
        if width and height:
            media.width, media.height = width, height

    def _other_media(self, d: dict[str, Any]) -> Media | None:
        if isinstance(d.get("contact_information"), dict):
            info = d["contact_information"]
            return Media("contact", extra={k: info.get(k) or "" for k in ("first_name", "last_name", "phone_number")})
        if "place_name" in d or "address" in d:
            extra: dict[str, Any] = {}
            if _str(d.get("place_name")):
                extra["title"] = d["place_name"]
            if _str(d.get("address")):
                extra["address"] = d["address"]
            _location(d, extra)
            return Media("venue", title=_str(d.get("place_name")), extra=extra)
        if "location_information" in d:
            extra = {}
            _location(d, extra)
            period = _number(d.get("live_location_period_seconds"))
            if period:
                extra["live"] = True
                extra["period"] = period
            return Media("geo", extra=extra)
        if isinstance(d.get("poll"), dict):
            poll = d["poll"]
            answers = [{"text": a.get("text") or "", "voters": _number(a.get("voters")) or 0,
                        "chosen": a.get("chosen") is True} for a in poll.get("answers") or () if isinstance(a, dict)]
            return Media("poll", extra={"question": poll.get("question") or "", "closed": poll.get("closed") is True,
                                        "total_voters": _number(poll.get("total_voters")) or 0, "answers": answers})
        if "game_title" in d or "game_description" in d:
            extra = {k: d[f"game_{k}"] for k in ("title", "description") if _str(d.get(f"game_{k}"))}
            return Media("game", title=_str(d.get("game_title")), extra=extra)
        if isinstance(d.get("invoice_information"), dict):
            info = d["invoice_information"]
            extra = {"title": info.get("title") or "", "description": info.get("description") or ""}
            if "amount" in info:
                extra["total_amount"] = _number(info["amount"])
                extra["currency"] = info.get("currency") or ""
            if "receipt_message_id" in info:
                extra["receipt_msg_id"] = _number(info["receipt_message_id"])
            return Media("invoice", title=_str(info.get("title")), extra=extra)
        if isinstance(d.get("dice"), dict):
            dice = d["dice"]
            emoticon = _str(dice.get("emoticon"))
            return Media("dice", emoji=emoticon,
                         extra={"emoticon": emoticon or "", "value": _number(dice.get("value"))})
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _location(d: dict[str, Any], extra: dict[str, Any]) -> None:
    point = d.get("location_information")
    if isinstance(point, dict) and point.get("latitude") is not None and point.get("longitude") is not None:
        extra["latitude"], extra["longitude"] = point["latitude"], point["longitude"]
