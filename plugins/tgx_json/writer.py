"""``<chat>/result.json``: Telegram Desktop's single-chat export, streamed.

The file is written as it goes: the root's head, then each message as it arrives (a comma
before every one but the first), then the tail. Nothing but the current batch is in memory.
For the same reason ``tgx watch`` continues it from a checkpoint instead of writing it again
(``checkpoint``/``resume``): the cost of a refresh is the changed tail, not the chat.
Each message is serialized with orjson (2-space indent) and re-indented to Telegram Desktop's
one-space style nested two levels deep; JSON strings never contain a raw newline, so every
newline in orjson's output is structural and the re-indent is exact.

As Telegram Desktop would: the current version of an edited message only (its earlier
versions are in ``messages.jsonl`` and ``messages.sqlite``), and no message deleted on Telegram
(the archive keeps them; the other formats mark them).

Dates are written in UTC (Telegram Desktop writes the exporting machine's local time): the
same archive then renders byte-identical files on every machine.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import IO, Any

import orjson
from tgx.model import Media, Message, Peer, bare_id, peer_kind_of_id
from tgx.specs import RenderContext
from tgx.text import scrub_surrogates

from .text import text_fields

FILE_NAME = "result.json"
NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"

# tgx media kind -> Telegram Desktop's media_type (documents have none).
MEDIA_TYPES = {
    "sticker": "sticker", "round": "video_message", "voice": "voice_message",
    "animation": "animation", "video": "video_file", "audio": "audio_file",
}
_REF_PREFIX = {"user": "user", "group": "chat", "channel": "channel"}
# Telegram Desktop keys tgx has no field for: an imported message keeps them in ``Message.extra``
# (tgx import), and they are written back as they came, in Telegram Desktop's place for them.
PASSED_THROUGH = ("saved_from", "via_bot", "self_destruct_period_seconds", "contact_vcard", "thumbnail_file_size",
                  "game_link")

_NEWLINE_INDENT = re.compile(rb"\n( *)")


class _Indents(dict[int, bytes]):
    """orjson's 2n-space indent -> one space per level, plus two for the messages array."""

    def __missing__(self, width: int) -> bytes:
        value = self[width] = b"\n  " + b" " * (width >> 1)
        return value


_INDENTS = _Indents()


def _reindent(match: re.Match[bytes]) -> bytes:
    return _INDENTS[len(match.group(1))]


def dump_message(obj: dict[str, Any]) -> bytes:
    """One message object, indented as the second level of Telegram Desktop's file. Lone
    surrogates are repaired only when orjson refuses an object, so the common path pays nothing
    (the retry also writes any type orjson does not know as its ``str``)."""
    try:
        raw = orjson.dumps(obj, option=orjson.OPT_INDENT_2)
    except orjson.JSONEncodeError:
        raw = orjson.dumps(scrub_surrogates(obj), option=orjson.OPT_INDENT_2, default=str)
    return b"\n  " + _NEWLINE_INDENT.sub(_reindent, raw)


def chat_type(chat: Peer) -> str:
    """Telegram Desktop's ``type`` of the exported chat."""
    kind = chat.kind
    if kind == "self":
        return "saved_messages"
    if kind == "bot":
        return "bot_chat"
    if kind == "group":
        return "private_group"
    if kind in ("channel", "supergroup"):
        return ("public_" if chat.username or chat.public else "private_") + kind
    return "personal_chat"


def peer_ref(marked_id: int) -> str:
    """``user123`` / ``chat123`` / ``channel123``: Telegram Desktop's ``from_id`` form."""
    return _REF_PREFIX[peer_kind_of_id(marked_id)] + str(bare_id(marked_id))


def _date(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S")


def _unixtime(value: datetime) -> str:
    return str(int(value.timestamp()))


class JsonWriter:
    """Streams one chat into ``result.json``."""

    def __init__(self, ctx: RenderContext):
        self.ctx = ctx
        self._file: IO[bytes] | None = None
        self._count = 0

    # -- FormatWriter -------------------------------------------------------------------------
    def open(self) -> None:
        chat = self.ctx.chat
        head: dict[str, Any] = {}
        kind = chat_type(chat)
        if kind != "saved_messages":
            head["name"] = chat.title or None
        head["type"] = kind
        head["id"] = bare_id(chat.id)
        body = orjson.dumps(scrub_surrogates(head), option=orjson.OPT_INDENT_2)
        self._file = self.ctx.open(FILE_NAME, "wb")
        # '{\n  "name": ...\n}' -> one-space indent, then open the messages array
        self._file.write(body[:-2].replace(b"\n  ", b"\n ") + b',\n "messages": [')

    def write(self, messages: Sequence[Message]) -> None:
        assert self._file is not None, "open() first"
        chunks: list[bytes] = []
        for msg in messages:
            if msg.deleted:  # gone from Telegram: Telegram Desktop could not export it either
                continue
            chunk = dump_message(self.message_object(msg))
            chunks.append(chunk if self._count == 0 and not chunks else b"," + chunk)
        self._count += len(chunks)
        self._file.write(b"".join(chunks))

    def checkpoint(self) -> dict[str, int]:
        """Refresh capability (``tgx watch``): a message's object depends on it alone, so the file
        can be continued after any batch; what it needs is whether a comma comes first."""
        if self._file is not None:
            self._file.flush()
        return {"count": self._count}

    def resume(self, state: object) -> bool:
        """Continue result.json where a checkpoint left it (``ctx.open`` returns it cut there,
        before the closing brackets)."""
        if not isinstance(state, dict) or not isinstance(state.get("count"), int):
            return False
        self._count = state["count"]
        self._file = self.ctx.open(FILE_NAME, "wb")
        return True

    def close(self) -> None:
        assert self._file is not None, "open() first"
        self._file.write(b"\n ]\n}\n" if self._count else b"]\n}\n")
        self._file.close()
        self._file = None

    def abort(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- one message --------------------------------------------------------------------------
    def name(self, peer_id: int | None) -> str | None:
        """A peer's display name (None when unknown or empty: Telegram Desktop writes null)."""
        if peer_id is None:
            return None
        if peer_id == self.ctx.chat.id:
            return self.ctx.chat.title or None
        peer = self.ctx.peer(peer_id)  # the engine caches peers
        return (peer.title or None) if peer is not None else None

    def message_object(self, msg: Message) -> dict[str, Any]:
        """The message as Telegram Desktop shapes it, plus tgx's own keys at the end."""
        d: dict[str, Any] = {
            "id": msg.id,
            "type": "service" if msg.action is not None else "message",
            "date": _date(msg.date),
            "date_unixtime": _unixtime(msg.date),
        }
        if msg.edit_date is not None:
            d["edited"] = _date(msg.edit_date)
            d["edited_unixtime"] = _unixtime(msg.edit_date)
        # Channel posts and anonymous admins have no sender: the chat itself speaks.
        sender = msg.sender_id if msg.sender_id is not None else msg.chat_id
        if msg.action is not None:
            d["actor"] = self.name(sender)
            d["actor_id"] = peer_ref(sender)
            d["action"] = msg.action.type
            self._action_fields(d, msg)
        else:
            d["from"] = self.name(sender)
            d["from_id"] = peer_ref(sender)
            if msg.post_author:
                d["author"] = msg.post_author
            fwd = msg.forward
            if fwd is not None:
                if fwd.from_id is not None:
                    d["forwarded_from"] = self.name(fwd.from_id) or fwd.from_name
                elif fwd.from_name:
                    d["forwarded_from"] = fwd.from_name
                if fwd.saved_from_peer is not None:
                    d["saved_from"] = self.name(fwd.saved_from_peer)
            if msg.reply_to_id is not None:
                d["reply_to_message_id"] = msg.reply_to_id
                if msg.reply_to_peer_id is not None:
                    d["reply_to_peer_id"] = peer_ref(msg.reply_to_peer_id)
            if msg.via_bot_id is not None:
                bot = self.ctx.peer(msg.via_bot_id)
                if bot is not None and bot.username:
                    d["via_bot"] = "@" + bot.username
        if msg.media is not None:
            self._media_fields(d, msg.media)
        if msg.extra:
            self._imported_fields(d, msg.extra)
        d["text"], d["text_entities"] = text_fields(msg.text, msg.entities)
        if msg.reactions:
            d["reactions"] = [self._reaction(r) for r in msg.reactions]
        # tgx's own keys (Telegram Desktop has no such data)
        if msg.views is not None:
            d["views"] = msg.views
        if msg.forwards is not None:
            d["forwards"] = msg.forwards
        if msg.topic_id is not None:
            d["topic_id"] = msg.topic_id
        if msg.grouped_id is not None:
            d["grouped_id"] = msg.grouped_id
        if msg.forward is not None and msg.forward.from_id is not None:
            d["forward_from_id"] = peer_ref(msg.forward.from_id)
        return d

    def _action_fields(self, d: dict[str, Any], msg: Message) -> None:
        """The action's own fields; ids of people become names, as Telegram Desktop writes them."""
        action = msg.action
        assert action is not None
        data = action.data
        for key, value in data.items():
            if value is None or value == "" or value == [] or key in d:
                continue
            if key == "members":
                d["members"] = [self.name(v) if isinstance(v, int) else v for v in value]
            elif key == "inviter_id" and isinstance(value, int):
                d["inviter"] = self.name(value)
            elif key in ("from_id", "to_id") and isinstance(value, int):  # proximity_reached
                d[key[:-3]] = self.name(value)
                d[key] = peer_ref(value)
            elif key == "duration" and action.type == "phone_call":
                d["duration_seconds"] = value
            else:
                d[key] = value
        if action.type == "pin_message" and "message_id" not in d and msg.reply_to_id is not None:
            d["message_id"] = msg.reply_to_id

    @staticmethod
    def _imported_fields(d: dict[str, Any], extra: dict[str, Any]) -> None:
        """What an imported message's export said and no field holds (a bot known only by its
        @username, a forward's "saved from" name ...), where tgx has nothing better."""
        for key in PASSED_THROUGH:
            value = extra.get(key)
            if key not in d and isinstance(value, str | int) and not isinstance(value, bool):
                d[key] = value
        buttons = extra.get("inline_bot_buttons")  # Telegram Desktop's own shape only (an HTML import's differs)
        if isinstance(buttons, list) and all(isinstance(row, list) and all(isinstance(b, dict) and "type" in b
                                                                          for b in row) for row in buttons):
            d["inline_bot_buttons"] = buttons

    @staticmethod
    def _media_fields(d: dict[str, Any], media: Media) -> None:
        kind = media.kind
        if kind == "photo":
            d["photo"] = media.path or NOT_INCLUDED
            if media.size:
                d["photo_file_size"] = media.size
            if media.width and media.height:
                d["width"] = media.width
                d["height"] = media.height
            if media.spoiler:
                d["media_spoiler"] = True
            return
        if media.is_file:
            d["file"] = media.path or NOT_INCLUDED
            if media.file_name:
                d["file_name"] = media.file_name
            if media.size:
                d["file_size"] = media.size
            if media.thumbnail_path:
                d["thumbnail"] = media.thumbnail_path
            media_type = MEDIA_TYPES.get(kind)
            if media_type:
                d["media_type"] = media_type
            if kind == "sticker" and media.emoji:
                d["sticker_emoji"] = media.emoji
            if kind == "audio":
                if media.performer:
                    d["performer"] = media.performer
                if media.title:
                    d["title"] = media.title
            if kind != "sticker" and media.mime_type:
                d["mime_type"] = media.mime_type
            if media.duration:
                d["duration_seconds"] = int(round(media.duration))
            if media.width and media.height:
                d["width"] = media.width
                d["height"] = media.height
            if media.spoiler:
                d["media_spoiler"] = True
            return
        extra = media.extra or {}
        if kind == "contact":
            d["contact_information"] = {
                "first_name": extra.get("first_name") or "",
                "last_name": extra.get("last_name") or "",
                "phone_number": extra.get("phone_number") or "",
            }
        elif kind in ("geo", "venue"):
            if kind == "venue":
                if extra.get("title"):
                    d["place_name"] = extra["title"]
                if extra.get("address"):
                    d["address"] = extra["address"]
            if extra.get("latitude") is not None and extra.get("longitude") is not None:
                d["location_information"] = {"latitude": extra["latitude"], "longitude": extra["longitude"]}
            if extra.get("period"):
                d["live_location_period_seconds"] = extra["period"]
        elif kind == "poll":
            d["poll"] = {
                "question": extra.get("question") or "",
                "closed": bool(extra.get("closed")),
                "total_voters": extra.get("total_voters") or 0,
                "answers": [{"text": a.get("text") or "", "voters": a.get("voters") or 0,
                             "chosen": bool(a.get("chosen"))} for a in extra.get("answers") or ()],
            }
        elif kind == "game":
            if extra.get("title"):
                d["game_title"] = extra["title"]
            if extra.get("description"):
                d["game_description"] = extra["description"]
        elif kind == "invoice":
            info = {"title": extra.get("title") or "", "description": extra.get("description") or ""}
            if extra.get("total_amount") is not None:
                info["amount"] = extra["total_amount"]
                info["currency"] = extra.get("currency") or ""
            if extra.get("receipt_msg_id") is not None:
                info["receipt_message_id"] = extra["receipt_msg_id"]
            d["invoice_information"] = info
        elif kind == "dice":
            d["dice"] = {"emoticon": extra.get("emoticon") or media.emoji or "", "value": extra.get("value")}

    @staticmethod
    def _reaction(reaction: Any) -> dict[str, Any]:
        r: dict[str, Any] = {"type": reaction.type, "count": reaction.count}
        if reaction.type == "emoji" and reaction.emoji is not None:
            r["emoji"] = reaction.emoji
        elif reaction.type == "custom_emoji" and reaction.document_id is not None:
            r["document_id"] = str(reaction.document_id)
        return r
