"""The Telegram Desktop JSON reader (``tgx.importer.tdjson``): tgx's own result.json read back,
whole-account exports, real exports other projects ship, and broken input."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from corpus.sample_chat import CHAT, MemoryContext, render, sample_messages
from tgx.importer.source import ImportedChat, ImportedMessage
from tgx.importer.tdjson import read_json_export
from tgx.model import Media, Message, Peer
from tgx_json.text import flat_parts
from tgx_json.writer import JsonWriter

Warnings = list[tuple[str, str]]

# What Telegram Desktop's shape carries of a Media, per kind (the rest is not exported).
_MEDIA_FIELDS = ("kind", "file_name", "mime_type", "size", "width", "height", "performer", "title", "emoji",
                 "spoiler")
_EXTRA_KEYS = {
    "contact": ("first_name", "last_name", "phone_number"), "geo": ("latitude", "longitude", "period"),
    "venue": ("title", "address", "latitude", "longitude"), "poll": ("question", "closed", "total_voters"),
    "game": ("title", "description"), "invoice": ("title", "description", "total_amount", "currency"),
    "dice": ("emoticon", "value"),
}


def td_view(msg: Message, names: dict[int, str]) -> dict[str, Any]:
    """``msg`` as far as a result.json carries it (tgx's writer: Telegram Desktop's keys + its own):
    the fields an import must give back exactly."""
    entities, pos = [], 0
    for _kind, run, entity in flat_parts(msg.text, msg.entities):  # one entity per run, as written
        length = len(run.encode("utf-16-le")) // 2
        if entity is not None:
            entities.append(replace(entity, offset=pos, length=length))
        pos += length
    view: dict[str, Any] = {
        "id": msg.id, "chat_id": msg.chat_id, "date": msg.date.replace(microsecond=0),
        "edit_date": msg.edit_date.replace(microsecond=0) if msg.edit_date else None,
        "sender_id": msg.sender_id, "text": msg.text, "entities": entities,
        "reply_to_id": msg.reply_to_id, "reply_to_peer_id": msg.reply_to_peer_id if msg.reply_to_id else None,
        "topic_id": msg.topic_id, "views": msg.views, "forwards": msg.forwards, "grouped_id": msg.grouped_id,
        "post_author": msg.post_author,
        "reactions": [(r.type, r.count, r.emoji, r.document_id) for r in msg.reactions],
    }
    fwd = msg.forward
    if fwd is not None and (fwd.from_id is not None or fwd.from_name or fwd.saved_from_peer is not None):
        view["forward"] = (fwd.from_id, None if fwd.from_id is not None else fwd.from_name)
    else:
        view["forward"] = None
    view["media"] = _media_view(msg.media)
    if msg.action is not None:
        data = {k: v for k, v in msg.action.data.items() if v not in (None, "", [])}
        if "members" in data:
            data["members"] = [names.get(m, m) if isinstance(m, int) else m for m in data["members"]]
        view["action"] = (msg.action.type, data)
    else:
        view["action"] = None
    return view


def _media_view(media: Media | None) -> Any:
    if media is None or media.kind in ("webpage", "story", "unsupported"):
        return None  # Telegram Desktop writes nothing for these
    view: dict[str, Any] = {f: getattr(media, f) for f in _MEDIA_FIELDS}
    view["duration"] = round(media.duration) if media.duration else None
    if media.kind in ("photo", "sticker"):
        view["mime_type"] = None  # Telegram Desktop writes none for these
    if not (media.width and media.height):
        view["width"] = view["height"] = None
    if media.kind != "audio":
        view["performer"] = None
    if media.kind not in ("audio", "game", "invoice", "venue"):
        view["title"] = None
    if media.kind not in ("sticker", "dice"):
        view["emoji"] = None
    if not media.is_file:
        keys = _EXTRA_KEYS.get(media.kind, ())
        extra = media.extra or {}
        view["extra"] = {k: extra.get(k) for k in keys if extra.get(k) not in (None, "")}
        if media.kind == "poll":
            view["extra"]["answers"] = [(a["text"], a["voters"], a["chosen"]) for a in extra.get("answers", ())]
    return view


def imported_view(item: ImportedMessage, names: dict[int, str]) -> dict[str, Any]:
    msg = item.message
    assert msg.media is None or (msg.media.path is None and msg.media.thumbnail_path is None)
    view = td_view(msg, names)
    view["entities"] = list(msg.entities)  # already flat: compared as read
    return view


def read_all(path: Path) -> tuple[list[Peer | tuple[ImportedChat, list[ImportedMessage]]], Warnings]:
    """Every item; each chat with its messages taken before the next item (the contract's order)."""
    warnings: Warnings = []
    items: list[Peer | tuple[ImportedChat, list[ImportedMessage]]] = []
    for item in read_json_export(path, lambda kind, detail: warnings.append((kind, detail))):
        if isinstance(item, ImportedChat):
            items.append((item, list(item.messages)))
        else:
            items.append(item)
    return items, warnings


def only_chat(path: Path) -> tuple[ImportedChat, list[ImportedMessage], Warnings]:
    items, warnings = read_all(path)
    assert len(items) == 1 and isinstance(items[0], tuple), items
    chat, messages = items[0]
    return chat, messages, warnings


def render_json(out: Path, messages: list[Message], chat: Peer = CHAT) -> Path:
    ctx = MemoryContext(chat, out, messages)
    render(JsonWriter, ctx, messages)
    return out / "result.json"


def test_tgx_result_json_reads_back_into_the_same_messages(tmp_path: Path) -> None:
    """tgx's writer → the reader: every field the file carries is the archived message's."""
    messages = sample_messages()
    chat, imported, warnings = only_chat(render_json(tmp_path, messages))
    assert (chat.peer.id, chat.peer.kind, chat.peer.title, chat.td_type) == (
        CHAT.id, "supergroup", "Test Group", "public_supergroup")
    assert warnings == []
    names = {p.id: p.title for p in MemoryContext(CHAT, tmp_path).peers.values()}
    expected = {m.id: td_view(m, names) for m in messages if not m.deleted}
    expected[40]["topic_id"] = 40  # topic_created opens its own topic (the online rule, normalize.py)
    got = {i.message.id: imported_view(i, names) for i in imported}
    assert list(got) == list(expected)
    for mid in expected:
        assert got[mid] == expected[mid], mid

