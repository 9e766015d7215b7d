"""The Telegram Desktop JSON reader (``tgx.importer.tdjson``): tgx's own result.json read back,
whole-account exports, real exports other projects ship, and broken input."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from corpus.sample_chat import CHAT, MemoryContext, render, sample_messages
from tgx.archive.store import Archive
from tgx.importer.source import ImportedChat, ImportedMessage
from tgx.importer.tdjson import read_json_export
from tgx.model import Media, Message, Peer
from tgx_json.text import flat_parts
from tgx_json.writer import NOT_INCLUDED, JsonWriter

FIXTURES = Path(__file__).parent / "fixtures" / "tdexports"

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


def td_view(msg: Message, names: dict[int, str], chat: Peer) -> dict[str, Any]:
    """``msg`` as far as a result.json carries it (tgx's writer: Telegram Desktop's keys + its own):
    the fields an import must give back exactly. A post without a sender names the chat as its
    sender: in a group that is what Telegram sends for anonymous admins, so it reads back so."""
    sender = msg.sender_id if msg.sender_id is not None or chat.kind == "channel" else chat.id
    entities, pos = [], 0
    for _kind, run, entity in flat_parts(msg.text, msg.entities):  # one entity per run, as written
        length = len(run.encode("utf-16-le")) // 2
        if entity is not None:
            entities.append(replace(entity, offset=pos, length=length))
        pos += length
    view: dict[str, Any] = {
        "id": msg.id, "chat_id": msg.chat_id, "date": msg.date.replace(microsecond=0),
        "edit_date": msg.edit_date.replace(microsecond=0) if msg.edit_date else None,
        "sender_id": sender, "text": msg.text, "entities": entities,
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


def imported_view(item: ImportedMessage, names: dict[int, str], chat: Peer) -> dict[str, Any]:
    msg = item.message
    assert msg.media is None or (msg.media.path is None and msg.media.thumbnail_path is None)
    view = td_view(msg, names, chat)
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
    expected = {m.id: td_view(m, names, CHAT) for m in messages if not m.deleted}
    expected[40]["topic_id"] = 40  # topic_created opens its own topic (the online rule, normalize.py)
    got = {i.message.id: imported_view(i, names, CHAT) for i in imported}
    assert list(got) == list(expected)
    for mid in expected:
        assert got[mid] == expected[mid], mid

def test_files_are_named_as_the_export_wrote_them(tmp_path: Path) -> None:
    """Paths (and Telegram Desktop's not-included note) become SourceFiles, in order file, thumbnail."""
    messages = sample_messages()
    _chat, imported, _ = only_chat(render_json(tmp_path, messages))
    by_id = {i.message.id: i.files for i in imported}
    for msg in messages:
        if msg.deleted:
            continue
        expected = []
        if msg.media is not None and msg.media.is_file:
            expected.append(("file", msg.media.path, None if msg.media.path else NOT_INCLUDED))
            if msg.media.thumbnail_path:
                expected.append(("thumbnail", msg.media.thumbnail_path, None))
        assert [(f.role, f.relpath, f.missing) for f in by_id[msg.id]] == expected, msg.id


# ---------------------------------------------------------------------------------------------
# an online export of the simulated Telegram, every chat kind, with media

SIMULATED = {"seed": 5, "chats": [
    {"kind": "channel", "username": "news", "messages": 80, "media": True, "signatures": True},
    {"kind": "forum", "username": "forum", "messages": 120, "media": True},
    {"kind": "group", "title": "Old group", "messages": 60, "id": 4242, "media": True},
    {"kind": "private", "user": "alice", "messages": 60, "media": True},
    {"kind": "private", "user": "bot", "messages": 20},
]}
FOLDERS = ("news", "forum", "-4242", "alice", "tgx_helper_bot")


@pytest.fixture(scope="module")
def online(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``tgx export --media all --format json`` of five chats (channel, forum, basic group, user, bot)."""
    from tgx.testing.plugin import validate
    from tgxrun import tgx

    tmp = tmp_path_factory.mktemp("online")
    config = tmp / "tgx.toml"
    config.write_text(tomlkit.dumps({"simulated": validate(SIMULATED)}), encoding="utf-8")
    done = tgx(tmp, "export", "--media", "all", "--format", "json", "-o", "out", "--",
               "@news", "@forum", "-4242", "@alice", "@tgx_helper_bot", config=config)
    assert done.returncode == 0, done.stderr
    return tmp / "out"


def archived(out: Path, chat_id: int) -> tuple[list[Message], dict[int, str]]:
    """The archive's messages of a chat (as Telegram Desktop would export them: not deleted) and
    the names of the peers they name."""
    with Archive.open(out) as archive:
        messages = [m for batch in archive.iter_messages(chat_id) for m in batch if not m.deleted]
        ids = {m.sender_id for m in messages} | {m.forward.from_id for m in messages if m.forward}
        ids |= {v for m in messages if m.action for v in m.action.data.get("members", ())}
        peers = {i: archive.peer(i) for i in ids if isinstance(i, int)}
    return messages, {i: p.title for i, p in peers.items() if p is not None}


def assert_same_messages(chat: ImportedChat, imported: list[ImportedMessage], out: Path) -> None:
    messages, names = archived(out, chat.peer.id)
    expected = {m.id: td_view(m, names, chat.peer) for m in messages}
    got = {i.message.id: imported_view(i, names, chat.peer) for i in imported}
    assert list(got) == list(expected)
    for mid in expected:
        assert got[mid] == expected[mid], (chat.peer.id, mid)


@pytest.mark.parametrize("folder", FOLDERS)
def test_online_export_reads_back_in_every_field_td_exports(online: Path, folder: str) -> None:
    """Real messages (entities with astral emoji, replies, forwards, albums, topics, service actions,
    media of every file kind) → tgx's result.json → the reader: equal to the archive's."""
    chat, imported, warnings = only_chat(online / folder / "result.json")
    assert warnings == []
    assert_same_messages(chat, imported, online)
    with Archive.open(online) as archive:  # each file the one the online export downloaded
        for item in imported:
            media = item.message.media
            if media is None or not media.is_file:
                assert item.files == []
                continue
            stored = archive.message(chat.peer.id, item.message.id)
            assert stored is not None and stored.media is not None and stored.media.id is not None
            downloaded = archive.media_path(stored.media.id)
            assert downloaded is not None
            source = item.files[0]
            assert source.role == "file" and source.relpath is not None
            assert (online / folder / source.relpath).resolve() == (online / downloaded).resolve()


def test_chat_identity_from_type_and_bare_id(online: Path) -> None:
    seen = {}
    for folder in FOLDERS:
        chat, _messages, _ = only_chat(online / folder / "result.json")
        seen[folder] = (chat.td_type, chat.peer.id, chat.peer.kind)
    with Archive.open(online) as archive:
        ids = {p.folder_name: p.id for p in archive.chats()}
    assert seen == {
        "news": ("public_channel", ids["news"], "channel"),
        "forum": ("public_supergroup", ids["forum"], "supergroup"),
        "-4242": ("private_group", -4242, "group"),
        "alice": ("personal_chat", ids["alice"], "user"),
        "tgx_helper_bot": ("bot_chat", ids["tgx_helper_bot"], "bot"),
    }


def test_account_export_of_tgx_chats(online: Path, tmp_path: Path) -> None:
    """tgx's chats wrapped in Telegram Desktop's account shape: the self peer, the contacts with an
    account, then the chats in file order (left ones flagged), each with the same messages."""
    chats = [json.loads((online / f / "result.json").read_text(encoding="utf-8")) for f in FOLDERS]
    with Archive.open(online) as archive:
        me = archive.peer(chats[3]["id"])  # alice's chat: the other side is alice
    assert me is not None
    account = {
        "about": "Here is the data you requested.",
        "personal_information": {"user_id": 7100000001, "first_name": "Me", "last_name": "Myself",
                                 "phone_number": "+1 555 0199999", "username": "@me"},
        "profile_pictures": [],
        "contacts": {"about": "", "list": [
            {"user_id": me.id, "first_name": "Alice", "last_name": "Liddell", "phone_number": "+1 555 0122222",
             "date": "2023-01-01T00:00:00", "date_unixtime": "1672531200"},
            {"user_id": 0, "first_name": "Nobody", "last_name": "", "phone_number": "+1 555 0133333"}]},
        "frequent_contacts": {"about": "", "list": []},
        "chats": {"about": "", "list": chats[1:]},
        "left_chats": {"about": "", "list": chats[:1]},
    }
    path = tmp_path / "result.json"
    path.write_text(json.dumps(account, ensure_ascii=False, indent=1), encoding="utf-8")
    items, warnings = read_all(tmp_path)
    assert warnings == []
    peers = [i for i in items if isinstance(i, Peer)]
    assert [(p.id, p.kind, p.title, p.username) for p in peers] == [
        (7100000001, "self", "Me Myself", "me"), (me.id, "user", "Alice Liddell", None)]
    assert not any(n in repr(items) for n in ("0199999", "0122222", "0133333"))  # no phone number
    read_chats = [i for i in items if isinstance(i, tuple)]
    assert [(c.td_type, c.left) for c, _ in read_chats] == [
        ("public_supergroup", False), ("private_group", False), ("personal_chat", False), ("bot_chat", False),
        ("public_channel", True)]
    for chat, messages in read_chats:
        assert_same_messages(chat, messages, online)


def test_a_chat_left_unread_is_skipped(tmp_path: Path) -> None:
    """The consumer may move on without a chat's messages: the next chat still reads whole."""
    chats = [json.loads((FIXTURES / "account" / "result.json").read_text(encoding="utf-8"))]
    path = tmp_path / "result.json"
    path.write_text(json.dumps(chats[0]), encoding="utf-8")
    got = []
    for item in read_json_export(path, lambda kind, detail: None):
        if isinstance(item, ImportedChat):
            if item.td_type == "saved_messages":
                continue  # never touched
            got.append((item.peer.id, [m.message.id for m in item.messages]))
    assert got == [(5000002, [10, 11]), (-1001700000001, [77])]
