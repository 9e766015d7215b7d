"""The Telegram Desktop JSON reader (``tgx.importer.tdjson``): tgx's own result.json read back,
whole-account exports, real exports other projects ship, and broken input."""

from __future__ import annotations

import json
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from corpus.sample_chat import CHAT, MemoryContext, render, sample_messages
from tgx.archive.store import Archive
from tgx.errors import ExitCode
from tgx.importer.source import ImportedChat, ImportedMessage, SourceFile
from tgx.importer.tdjson import ExportError, read_json_export
from tgx.model import Action, Entity, Forward, Media, Message, Peer, Reaction
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


# ---------------------------------------------------------------------------------------------
# exports in the shapes Telegram Desktop's versions write (fixtures/tdexports/README.md)


def test_td1_export_without_unixtime_and_with_text_arrays() -> None:
    """Telegram Desktop 1.x: numeric ``from_id``, ``date`` only (read as UTC), ``text`` arrays."""
    chat, messages, warnings = only_chat(FIXTURES / "td1_personal")
    assert warnings == []
    assert (chat.peer.id, chat.peer.kind, chat.peer.title) == (245000001, "user", "Jane Roe")
    first, reply, sticker, call, photo = (m.message for m in messages)
    assert first.date == datetime(2018, 10, 9, 19, 32, 23, tzinfo=UTC)
    assert first.edit_date == datetime(2018, 10, 9, 19, 35, tzinfo=UTC)
    assert (first.sender_id, reply.sender_id, reply.reply_to_id) == (245000001, 245000002, 101)
    assert reply.text == "see https://example.org/a and this 😀 here"
    assert reply.entities == [Entity("link", 4, 21), Entity("bold", 30, 7),  # 😀 is two UTF-16 units
                              Entity("text_link", 38, 4, url="https://example.org/b")]
    assert (sticker.media is not None and sticker.media.kind, sticker.media and sticker.media.emoji) == (
        "sticker", "👍")
    assert [(f.role, f.relpath) for f in messages[2].files] == [
        ("file", "stickers/sticker.webp"), ("thumbnail", "stickers/sticker.webp_thumb.jpg")]
    assert call.action == Action("phone_call", {"duration": 42, "discard_reason": "hangup"})
    assert photo.entities == [Entity("pre", 0, 8)]  # an empty language is none
    assert messages[4].files == [SourceFile("file", None, missing=NOT_INCLUDED)]
    assert chat.peers == {245000002: Peer(245000002, "user", "John Doe")}


def test_td4_supergroup_with_topics_reactions_buttons_and_every_media() -> None:
    chat, messages, warnings = only_chat(FIXTURES / "td4_supergroup")
    assert warnings == [("unsupported message", "Telegram Desktop exported only the id of a message it could "
                                                "not read")]  # documented: message 15 has no date
    assert (chat.peer.id, chat.peer.kind, chat.td_type) == (-1001800000042, "supergroup", "private_supergroup")
    m = {i.message.id: i for i in messages}
    assert 15 not in m and len(m) == 15
    assert m[1].message.sender_id == chat.peer.id  # the group speaks (a migration)
    assert m[2].message.action == Action("invite_members", {"members": ["Bo Chen", None]})
    assert m[3].message.topic_id == 3
    post = m[4].message
    assert (post.topic_id, post.reply_to_id) == (3, None)  # a post in the topic, not a reply
    assert post.edit_date == datetime.fromtimestamp(1714558170, UTC)
    assert post.text == "🔥 new Ann quoted"
    assert post.entities == [Entity("custom_emoji", 0, 2, document_id=5368324170671202286),
                             Entity("mention_name", 7, 3, user_id=5000001), Entity("blockquote", 11, 6)]
    assert post.reactions == [Reaction("emoji", 2, emoji="👍"),
                              Reaction("custom_emoji", 1, document_id=5368324170671202286)]
    assert post.extra is not None and post.extra["reactions_recent"][0]["recent"][0]["from"] == "Ann Lee"
    assert m[5].message.reply_to_id == 4 and m[5].message.media == Media("photo", size=84512, width=1280,
                                                                       height=720, spoiler=True)
    assert m[6].message.forward == Forward(from_name="Printing News")
    assert m[6].files == [SourceFile("file", None, missing="(File exceeds maximum size. Change data exporting "
                                                          "settings to download.)")]
    assert m[6].message.media == Media("document", file_name="firmware.bin", mime_type="application/octet-stream",
                                       size=73400320)
    gif = m[7].message
    assert gif.media == Media("animation", file_name="clip.mp4", mime_type="video/mp4", size=51200, width=320,
                              height=240, duration=3)
    assert gif.via_bot_id is None and gif.extra is not None and gif.extra["via_bot"] == "@gif"  # no id: none made
    assert gif.extra["inline_bot_buttons"][0][0]["text"] == "Open"
    poll = m[8].message
    assert (poll.sender_id, poll.post_author) == (chat.peer.id, "admin")
    assert poll.forward == Forward() and poll.extra == {"saved_from": "Printing News"}
    assert poll.media is not None and poll.media.extra == {"question": "PLA or PETG?", "closed": False,
                                                           "total_voters": 3, "answers": [
        {"text": "PLA", "voters": 2, "chosen": True}, {"text": "PETG", "voters": 1, "chosen": False}]}
    assert m[9].message.media == Media("venue", title="Hackspace", extra={
        "title": "Hackspace", "address": "1 Main St", "latitude": 52.52, "longitude": 13.405})
    assert m[10].message.media == Media("geo", extra={"latitude": 52.5, "longitude": 13.4, "live": True,
                                                      "period": 900})
    assert m[11].message.media == Media("contact", extra={"first_name": "Cy", "last_name": "",
                                                          "phone_number": "+49 30 0000000"})
    assert m[12].message.media == Media("game", title="Lumberjack", extra={"title": "Lumberjack",
                                                                           "description": "Chop"})
    assert m[13].message.media == Media("invoice", title="Filament", extra={
        "title": "Filament", "description": "1 kg", "total_amount": 2500, "currency": "EUR"})
    assert (m[14].message.action, m[14].message.reply_to_id) == (Action("pin_message", {"message_id": 5}), None)
    voice = m[16].message
    assert (voice.reply_to_id, voice.reply_to_peer_id) == (77, -1001700000001)
    assert voice.media is not None and (voice.media.kind, voice.media.duration) == ("voice", 4)
    assert set(chat.peers) == {5000001, 5000002, 5000009}


def test_account_fixture_peers_then_chats() -> None:
    items, warnings = read_all(FIXTURES / "account")
    assert warnings == []
    peers = [(p.id, p.kind, p.title) for p in items if isinstance(p, Peer)]
    assert peers == [(5000001, "self", "Ann Lee"), (5000002, "user", "Bo Chen"), (5000002, "user", "Bo Chen"),
                     (5000007, "bot", "GIF Search"), (-1001800000042, "supergroup", "Makers 🛠")]
    saved, personal, left = (i for i in items if isinstance(i, tuple))
    assert (saved[0].peer.id, saved[0].peer.kind, saved[0].peer.title, saved[0].peer.username) == (
        5000001, "self", "Ann Lee", "annlee")
    assert saved[1][0].message.out is True  # the account's own message
    assert [(m.message.sender_id, m.message.out) for m in personal[1]] == [(5000002, False), (5000001, True)]
    assert (left[0].left, left[0].peer.id, left[1][0].message.sender_id) == (True, -1001700000001, None)
    assert "0100001" not in repr(items) and "0100003" not in repr(items)  # no phone numbers


# ---------------------------------------------------------------------------------------------
# what tgx does not know, and broken input


def write_chat(tmp_path: Path, messages: list[Any], **head: Any) -> Path:
    path = tmp_path / "result.json"
    root = {"name": "Chat", "type": "private_group", "id": 77, **head, "messages": messages}
    path.write_text(json.dumps(root, ensure_ascii=False), encoding="utf-8")
    return path


def message(mid: int, **fields: Any) -> dict[str, Any]:
    return {"id": mid, "type": "message", "date": "2024-01-01T00:00:00", "date_unixtime": str(1704067200 + mid),
            "from": "Ann", "from_id": "user1", "text": "", "text_entities": [], **fields}


def test_unknown_fields_entities_and_media_kinds_are_kept_and_warned_once(tmp_path: Path) -> None:
    parts = [{"type": "plain", "text": "a "}, {"type": "spoilerish", "text": "b😀"}, {"type": "plain", "text": " "},
             {"type": "bold", "text": "c", "shade": 3}]
    path = write_chat(tmp_path, [
        message(1, text_entities=parts, stars=5),
        message(2, stars=6, file="files/x.bin", media_type="hologram"),
    ])
    chat, messages, warnings = only_chat(path)
    first, second = (m.message for m in messages)
    assert first.text == "a b😀 c" and first.entities == [Entity("bold", 6, 1)]
    assert first.extra == {"stars": 5, "text_entities": [
        {"type": "spoilerish", "offset": 2, "length": 3}, {"type": "bold", "offset": 6, "length": 1, "shade": 3}]}
    assert second.extra == {"stars": 6, "media_type": "hologram"}
    assert second.media is not None and second.media.kind == "document"
    assert sorted(warnings) == [("unknown entity", "spoilerish"), ("unknown entity field", "bold.shade"),
                                ("unknown field", "stars"), ("unknown media kind", "hologram")]
    assert chat.peer.id == -77


def test_bad_dates(tmp_path: Path) -> None:
    """A bad ``date_unixtime`` falls back to ``date``; a message with neither readable is left out
    (warned); an unreadable edit date is no edit date (warned)."""
    path = write_chat(tmp_path, [
        message(1, date_unixtime="soon", date="2024-02-03T04:05:06"),
        message(2, date_unixtime=None, date="yesterday"),
        message(3, edited="later"),
    ])
    _chat, messages, warnings = only_chat(path)
    assert [m.message.id for m in messages] == [1, 3]
    assert messages[0].message.date == datetime(2024, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert messages[1].message.edit_date is None
    assert [k for k, _ in warnings] == ["bad date", "bad date"]


def test_truncated_file_is_one_line_naming_the_file_and_where(tmp_path: Path) -> None:
    whole = write_chat(tmp_path, [message(i, text=f"message {i}") for i in range(1, 200)]).read_bytes()
    path = tmp_path / "result.json"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    with pytest.raises(ExportError) as caught:
        for item in read_json_export(path, lambda kind, detail: None):
            assert isinstance(item, ImportedChat)
            for _ in item.messages:
                pass
    text = str(caught.value)
    assert "\n" not in text and str(path) in text and "truncated" in text
    assert "of chat 'Chat'" in text  # where it broke: after the last whole message
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(("content", "says"), [
    (b'{"version": 3, "rows": []}', "not a Telegram Desktop export (it starts with 'version')"),
    (b"[1, 2, 3]", "its root is not an object"),
    (b"{}", "an empty object"),
    (b"PK\x03\x04 zip bytes", "invalid JSON"),
    (b'{"name": "x", "type": "martian_chat", "id": 1, "messages": []}', "type/id are unreadable"),
    (b'{"name": "x", "type": "private_group", "id": "one", "messages": []}', "type/id are unreadable"),
    (b'{"name": "x", "type": "private_group", "id": 1, "messages": {"a": 1}}', "'messages' is not an array"),
])
def test_not_an_export(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "result.json"
    path.write_bytes(content)
    with pytest.raises(ExportError) as caught:
        read_all(path)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_missing_file_and_wrong_message_types(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such file"):
        read_all(tmp_path)
    path = write_chat(tmp_path, [message(1), "not a message", [1], message(2, id="x"), message(3)])
    _chat, messages, warnings = only_chat(path)
    assert [m.message.id for m in messages] == [1, 3]
    assert {k for k, _ in warnings} == {"bad message"}


# ---------------------------------------------------------------------------------------------
# memory


def write_big_chat(path: Path, count: int) -> None:
    """A result.json of ``count`` messages, written as it is generated (never held whole)."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write('{"name": "Big", "type": "public_channel", "id": 99, "messages": [')
        for i in range(1, count + 1):
            tail = f" {i} " + "x" * 200
            msg = message(i, text=[{"type": "bold", "text": "msg"}, tail],
                          text_entities=[{"type": "bold", "text": "msg"}, {"type": "plain", "text": tail}],
                          reactions=[{"type": "emoji", "count": 2, "emoji": "👍"}])
            if i % 5 == 0:
                msg.update(photo=f"photos/{i}.jpg", width=10, height=10)
            fh.write(("," if i > 1 else "") + json.dumps(msg))
        fh.write("]}")


def peak_while_reading(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = 0
        for item in read_json_export(path, lambda kind, detail: None):
            assert isinstance(item, ImportedChat)
            for _ in item.messages:
                count += 1
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_message_count(tmp_path: Path) -> None:
    """Peak traced memory reading 20,000 messages is that of 2,000 (a reader that kept messages,
    or loaded the file, would need ~10x)."""
    small, big = tmp_path / "small.json", tmp_path / "big.json"
    write_big_chat(small, 2_000)
    write_big_chat(big, 20_000)
    assert big.stat().st_size > 9 * small.stat().st_size
    count_small, peak_small = peak_while_reading(small)
    count_big, peak_big = peak_while_reading(big)
    assert (count_small, count_big) == (2_000, 20_000)
    assert peak_big < 1.5 * peak_small, (peak_small, peak_big)
