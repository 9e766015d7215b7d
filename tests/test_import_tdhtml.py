"""The Telegram Desktop HTML export reader (:mod:`tgx.importer.tdhtml`).

Round trips go simulated Telegram → ``tgx export`` → archive → ``tdhtml_export`` (a port of
Telegram Desktop's HTML writer) → the reader, and compare every field the HTML carries. A real
export excerpt (tests/fixtures/tdexports/html/README.md) and broken inputs cover the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tdhtml_export import MISSING_NOTE, hidden_name, name_of, write_account, write_chat
from tgx.archive.store import Archive
from tgx.errors import UsageError
from tgx.importer.source import ImportedChat, ImportedMessage
from tgx.importer.tdhtml import list_html_chats, read_html_export
from tgx.model import Entity, Media, Message, Peer, Reaction
from tgx.text import utf16_len
from tgx_json.text import flat_parts
from tgxrun import tgx

FIXTURES = Path(__file__).parent / "fixtures" / "tdexports" / "html"
EXPORTER = timezone(timedelta(hours=3))  # the exporting machine's zone in the round trips
CHATS = [{"kind": "supergroup", "username": "htmlgroup", "title": "Group ✨", "messages": 1200},
         {"kind": "channel", "username": "htmlnews", "title": "News 📰", "messages": 300}]


class Warnings(list[tuple[str, str]]):
    def __call__(self, kind: str, detail: str) -> None:
        self.append((kind, detail))

    def kinds(self) -> set[str]:
        return {k for k, _ in self}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Both simulated chats exported online once: {username: (chat, messages)}, plus the peers."""
    import tomlkit
    from tgx.simulator.scenario import validate

    tmp = tmp_path_factory.mktemp("online")
    config = tmp / "tgx.toml"
    config.write_text(tomlkit.dumps({"simulated": validate({"chats": CHATS})}), encoding="utf-8")
    result = tgx(tmp, "export", "@htmlgroup", "@htmlnews", "--out", "out", "--format", "jsonl", config=config)
    assert result.returncode == 0, result.stderr
    with Archive.open(tmp / "out") as archive:
        out: dict[str, Any] = {}
        peers: dict[int, Peer] = {}
        for chat in archive.chats():
            messages = [m for batch in archive.iter_messages(chat.id) for m in batch]
            out[chat.username or str(chat.id)] = (chat, messages)
            for m in messages:
                for pid in (m.sender_id, m.via_bot_id, m.forward.from_id if m.forward else None,
                            *((m.action.data.get("members") or []) if m.action else [])):
                    if isinstance(pid, int) and pid not in peers and (peer := archive.peer(pid)) is not None:
                        peers[pid] = peer
        out["peers"] = peers
    return out


def media_path(m: Message) -> str | None:
    """Where the fake export keeps a message's file: every fifth one was not exported."""
    return None if m.id % 5 == 0 else f"files/{m.media.kind}_{m.id}.bin" if m.media else None


def read_chat(path: Path, chat_id: int, **kwargs: Any) -> tuple[ImportedChat, list[ImportedMessage], Warnings]:
    warnings = Warnings()
    items = list(read_html_export(path, warnings, chat_id=chat_id, **kwargs))
    assert len(items) == 1 and isinstance(items[0], ImportedChat)
    return items[0], list(items[0].messages), warnings


# ---------------------------------------------------------------------------------------------
# what HTML carries, field by field


def shown_text(text: str) -> str:
    """What Telegram Desktop's markup can hold of a text: NUL is written as ``&#x00;`` (read as
    U+FFFD), the line and paragraph separators as ``<br>``."""
    return text.replace("\x00", "\ufffd").replace("\u2028", "\n").replace("\u2029", "\n")


def shown_entities(text: str, entities: list[Entity]) -> list[tuple[str, int, int, str | None]]:
    """Telegram Desktop's flat parts as entities: one type a run, bank cards plain, only a text
    link keeps its data (a pre's language, a mention's user, a custom emoji's id are not written)."""
    out, offset = [], 0
    for kind, run, entity in flat_parts(text, entities):
        length = utf16_len(run)
        if kind not in ("plain", "bank_card"):
            out.append((kind, offset, length, entity.url if kind == "text_link" and entity else None))
        offset += length
    return out


def sender_shown(m: Message, chat: Peer, peers: dict[int, Peer]) -> str:
    peer = chat if m.sender_id is None else peers.get(m.sender_id)
    return name_of(peer).strip()


def check_message(got: ImportedMessage, m: Message, chat: Peer, peers: dict[int, Peer]) -> None:
    g = got.message
    extra = g.extra or {}
    assert (g.id, g.chat_id, g.sender_id) == (m.id, chat.id, None)
    if m.action is not None:
        assert g.action is not None
        assert g.action.type == m.action.type, (m.id, g.action, m.action)
        if "title" in m.action.data:
            assert g.action.data["title"] == m.action.data["title"]
        if m.action.type in ("invite_members", "remove_members"):
            assert g.action.data["members"] == [name_of(peers.get(p), "").strip() for p in m.action.data["members"]]
        if m.action.type == "pin_message":
            assert g.action.data["message_id"] == m.action.data["message_id"]
        assert extra["date_inferred"] is True
        return
    assert g.date == m.date
    assert g.text == shown_text(m.text), m.id
    assert [(e.type, e.offset, e.length, e.url) for e in g.entities] == shown_entities(shown_text(m.text), m.entities)
    assert extra["from"] == sender_shown(m, chat, peers)
    via = peers.get(m.via_bot_id) if m.via_bot_id is not None else None
    assert extra.get("via_bot") == (via.username if via is not None else None)
    if m.reply_to_peer_id is None:
        assert g.reply_to_id == m.reply_to_id
    else:
        assert g.reply_to_id is None and extra["reply_to_other_chat"] is True
    if m.forward is None:
        assert g.forward is None
    else:
        assert g.forward is not None
        original = peers.get(m.forward.from_id) if m.forward.from_id is not None else None
        expected = name_of(original) if m.forward.from_id is not None else hidden_name(m.forward.from_name)
        assert g.forward.from_name == expected.strip()
        assert g.forward.date in (None, m.forward.date)  # a joined forward does not show its date
    assert g.post_author == m.post_author
    assert [(r.type, r.count, r.emoji, r.document_id, r.chosen) for r in g.reactions] == \
        [(r.type, r.count, r.emoji if r.type == "emoji" else None, r.document_id, r.chosen) for r in m.reactions]
    check_media(got, m)


def check_media(got: ImportedMessage, m: Message) -> None:
    g, media = got.message.media, m.media
    if media is None or media.kind in ("webpage", "dice"):  # Telegram Desktop's HTML draws neither
        assert g is None and got.files == []
        return
    assert g is not None and g.kind == media.kind, (m.id, g, media)
    assert g.path is None and g.thumbnail_path is None
    if media.is_file:
        path = media_path(m)
        main = [f for f in got.files if f.role == "file"]
        assert [(f.relpath, f.missing) for f in main] == [(path, None) if path else (None, MISSING_NOTE)]
        if media.kind in ("voice", "audio", "round") or (media.kind == "video" and path):
            assert g.duration == float(int(media.duration or 0))
        if media.kind == "document":
            assert g.file_name == media.file_name
        if media.kind == "photo" and not path:
            assert (g.width, g.height) == (media.width, media.height)
        if media.kind == "sticker" and not path:
            assert g.emoji == media.emoji
    elif media.kind == "poll":
        poll = media.extra or {}
        answers = [{"text": a["text"], "voters": a["voters"], "chosen": bool(a["voters"]) and a["chosen"]}
                   for a in poll["answers"]]  # Telegram Desktop marks the chosen answer only beside its votes
        assert g.extra == {"question": poll["question"], "closed": poll["closed"],
                           "total_voters": poll["total_voters"], "answers": answers}
    elif media.kind == "geo":
        assert g.extra == {"latitude": media.extra["latitude"], "longitude": media.extra["longitude"]}
    elif media.kind == "contact":
        assert g.extra["phone_number"] == media.extra["phone_number"]


@pytest.mark.parametrize("username", ["htmlgroup", "htmlnews"])
def test_round_trip_every_field_html_carries(tmp_path: Path, exported: dict[str, Any], username: str) -> None:
    chat, messages = exported[username]
    peers = exported["peers"]
    pages = write_chat(tmp_path / "export", chat, messages, peers, tz=EXPORTER, media_path=media_path)
    assert len(pages) == (len(messages) + 999) // 1000
    imported, got, warnings = read_chat(tmp_path / "export", chat.id)
    assert imported.peer.id == chat.id and imported.peer.title == chat.title
    assert imported.source == pages[0]
    assert [g.message.id for g in got] == [m.id for m in messages]  # every message once, in order, across pages
    for g, m in zip(got, messages, strict=True):
        check_message(g, m, chat, peers)
    dated = [g.message.date for g in got]
    assert dated == sorted(dated)  # a service message's date comes from its neighbours
    assert warnings == []


def test_round_trip_covers_what_it_claims(exported: dict[str, Any]) -> None:
    """The simulated chats hold what the round trip is meant to prove: joins, pages, astral
    emoji in entities, replies into an earlier page, forwards, via bots, reactions, media."""
    chat, messages = exported["htmlgroup"]
    kinds = {m.media.kind for m in messages if m.media}
    assert {"photo", "video", "voice", "round", "sticker", "animation", "document", "audio", "poll"} <= kinds
    assert any(m.reply_to_id and m.reply_to_id <= 1000 < m.id for m in messages)
    assert any(m.forward for m in messages) and any(m.via_bot_id for m in messages)
    assert any(m.reactions for m in messages)
    assert any(e.type == "custom_emoji" for m in messages for e in m.entities)
    assert any(utf16_len(m.text) != len(m.text) and m.entities for m in messages)
    channel = exported["htmlnews"][1]
    assert any(m.post_author for m in channel) and all(m.sender_id is None for m in channel if not m.action)


def test_joined_blocks_carry_the_sender_and_pages_restart_the_join(tmp_path: Path, exported: dict[str, Any]) -> None:
    chat, messages = exported["htmlnews"]
    write_chat(tmp_path / "export", chat, messages, exported["peers"], tz=EXPORTER)
    html = (tmp_path / "export" / "messages.html").read_text(encoding="utf-8")
    assert html.count("message default clearfix joined") > 10
    _, got, _ = read_chat(tmp_path / "export", chat.id)
    assert all((g.message.extra or {}).get("from") == chat.title for g in got if g.message.action is None)


# ---------------------------------------------------------------------------------------------
# an account export


def test_account_export_contacts_first_then_chats_with_kinds_left_and_paths(tmp_path: Path,
                                                                              exported: dict[str, Any]) -> None:
    group, group_messages = exported["htmlgroup"]
    news, news_messages = exported["htmlnews"]
    peers = exported["peers"]
    contacts = [p for p in peers.values() if p.kind == "user"][:3]
    write_account(tmp_path / "acct", [(group, group_messages[:50], "group"), (news, news_messages[:20], "channel")],
                  peers, contacts, tz=EXPORTER, left=[(Peer(-5, "group", "Old group"), "group")])
    warnings = Warnings()
    listed = list_html_chats(tmp_path / "acct", warnings)
    assert [(c.folder, c.name, c.td_type, c.left) for c in listed] == [
        ("chats/chat_01", "Group ✨", "group", False), ("chats/chat_02", "News 📰", "channel", False)]
    items = list(read_html_export(tmp_path / "acct", warnings,
                                  chat_ids={"chats/chat_01": group.id, "chats/chat_02": news.id}))
    assert items[:3] == [Peer(c.id, "user", name_of(c).strip()) for c in contacts]
    chats = items[3:]
    assert [(c.peer.id, c.peer.kind, c.td_type) for c in chats] == [(group.id, "supergroup", "group"),
                                                                     (news.id, "channel", "channel")]
    first = list(chats[0].messages)
    assert [g.message.id for g in first] == [m.id for m in group_messages[:50]]
    assert all(f.relpath is None or f.relpath.startswith("chats/chat_01/files/") for g in first for f in g.files)
    assert any(g.files for g in first)
    assert [g.message.id for g in chats[1].messages] == [m.id for m in news_messages[:20]]


def test_a_chat_without_an_id_stops_the_read_before_anything(tmp_path: Path, exported: dict[str, Any]) -> None:
    chat, messages = exported["htmlnews"]
    write_account(tmp_path / "acct", [(chat, messages[:5], "channel")], exported["peers"])
    with pytest.raises(UsageError, match=r"chats\.html|messages\.html") as caught:
        next(read_html_export(tmp_path / "acct", Warnings()))
    assert "chats/chat_01 (News 📰)" in str(caught.value) and caught.value.hint
    write_chat(tmp_path / "one", chat, messages[:5], exported["peers"])
    with pytest.raises(UsageError, match="does not name its chats' ids"):
        next(read_html_export(tmp_path / "one", Warnings()))


# ---------------------------------------------------------------------------------------------
# dates


def test_dates_read_by_the_title_offset_or_by_the_exporters_zone(tmp_path: Path) -> None:
    """Telegram Desktop labels a summer time in Berlin "UTC+01:00" (the zone's standard offset):
    by the label the instant is an hour off; given the zone it is exact."""
    berlin = ZoneInfo("Europe/Berlin")
    chat = Peer(-1001, "channel", "Zones")
    winter, summer = datetime(2024, 1, 15, 9, 30, tzinfo=UTC), datetime(2024, 7, 15, 9, 30, tzinfo=UTC)
    write_chat(tmp_path, chat, [Message(chat.id, 1, winter, "w"), Message(chat.id, 2, summer, "s")], {}, tz=berlin)
    assert 'title="15.07.2024 11:30:00 UTC+01:00"' in (tmp_path / "messages.html").read_text(encoding="utf-8")
    _, by_label, _ = read_chat(tmp_path, chat.id)
    assert [g.message.date for g in by_label] == [winter, summer + timedelta(hours=1)]
    _, by_zone, _ = read_chat(tmp_path, chat.id, zone=berlin)
    assert [g.message.date for g in by_zone] == [winter, summer]


def test_old_titles_without_an_offset_read_as_utc_with_one_warning(tmp_path: Path) -> None:
    page = tmp_path / "messages.html"
    page.write_text(_page(_block(7, "26.02.2020 20:48:53", "hi") + _block(8, "26.02.2020 20:49:00", "ho", True)),
                    encoding="utf-8")
    _, got, warnings = read_chat(tmp_path, 42)
    assert [g.message.date for g in got] == [datetime(2020, 2, 26, 20, 48, 53, tzinfo=UTC),
                                             datetime(2020, 2, 26, 20, 49, tzinfo=UTC)]
    assert [k for k, _ in warnings] == ["date without offset"] and "2 message date(s)" in warnings[0][1]
    assert [(g.message.extra or {}).get("from") for g in got] == ["Ann", "Ann"]  # the joined block's sender


# ---------------------------------------------------------------------------------------------
# a real export


def test_real_export_excerpt_reads_with_its_missing_first_page_warned() -> None:
    folder = FIXTURES / "cybersecurity_news"
    chat, got, warnings = read_chat(folder, -1001000000001)
    assert chat.peer.title == "🛡 Cybersecurity & Privacy news 🛡"
    assert [g.message.id for g in got] == [1056, 1057, 1058, 1059, 1060, 1061, 1062, 2060, 2061, 2062, 2063]
    assert [k for k, _ in warnings] == ["missing page", "date without offset"]
    assert warnings[0][1].endswith("messages.html: missing; the messages on it are not imported")
    first = got[0].message
    assert first.date == datetime(2018, 11, 6, 10, 35, 21, tzinfo=UTC)
    assert first.text.startswith("❌ Apache Struts Warns Users of Two-Year-Old Vulnerability ❌\n\nUsers must")
    assert first.text.endswith("via \"The first stop for security news | Threatpost \".")
    assert [e.type for e in first.entities] == ["bold", "code", "text_link", "italic"]
    link = first.entities[2]
    assert first.text[utf16_index(first.text, link.offset):][:6] == "📖 Read"  # UTF-16 offsets past astral emoji
    assert link.url == "https://threatpost.com/apache-struts-warns-users-of-two-year-old-vulnerability/138820/"
    assert all((g.message.extra or {}).get("from") == chat.peer.title for g in got)  # joined blocks too


def utf16_index(text: str, offset: int) -> int:
    from tgx.text import utf16_index_map

    return utf16_index_map(text)(offset)


# ---------------------------------------------------------------------------------------------
# bad input


def test_not_an_export(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="not a Telegram Desktop HTML export"):
        next(read_html_export(tmp_path, Warnings()))
    other = tmp_path / "index.html"
    other.write_text("<html><body><p>hello</p></body></html>", encoding="utf-8")
    with pytest.raises(UsageError, match="index.html: not a Telegram Desktop HTML export"):
        next(read_html_export(other, Warnings()))
    page = tmp_path / "messages.html"
    page.write_text("<html><body><p>a blog</p></body></html>", encoding="utf-8")
    with pytest.raises(UsageError, match="messages.html: not a Telegram Desktop HTML export page"):
        next(read_html_export(tmp_path, Warnings(), chat_id=1))
    with pytest.raises(UsageError, match="no such file"):
        next(read_html_export(tmp_path / "nope", Warnings(), chat_id=1))


def test_a_missing_page_in_the_middle_is_warned_and_the_rest_read(tmp_path: Path) -> None:
    chat = Peer(-1001, "channel", "Pages")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    write_chat(tmp_path, chat, [Message(chat.id, i, start + timedelta(minutes=i), f"m{i}") for i in range(1, 2501)], {})
    (tmp_path / "messages2.html").unlink()
    _, got, warnings = read_chat(tmp_path, chat.id)
    assert [g.message.id for g in got] == [*range(1, 1001), *range(2001, 2501)]
    assert [k for k, _ in warnings] == ["missing page", "missing page"]  # the gap, and page 1's "Next" link
    assert all("messages2.html: missing" in d for _, d in warnings)


def test_pages_are_read_lazily_one_after_the_other(tmp_path: Path) -> None:
    chat = Peer(-1001, "channel", "Pages")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    write_chat(tmp_path, chat, [Message(chat.id, i, start + timedelta(minutes=i), f"m{i}") for i in range(1, 1501)], {})
    (item,) = read_html_export(tmp_path, Warnings(), chat_id=chat.id)
    assert isinstance(item, ImportedChat)
    assert next(item.messages).message.id == 1
    (tmp_path / "messages2.html").unlink()  # not opened yet: the read notices only when it gets there
    with pytest.raises(UsageError, match="messages2.html: cannot read"):
        list(item.messages)


def test_bytes_that_are_not_utf8_are_replaced_and_warned_once(tmp_path: Path) -> None:
    page = tmp_path / "messages.html"
    body = _block(1, "01.01.2024 10:00:00 UTC+00:00", "caf\udce9 ok") + \
        _block(2, "01.01.2024 10:01:00 UTC+00:00", "\udcff")
    page.write_bytes(_page(body).encode("utf-8", "surrogateescape"))
    _, got, warnings = read_chat(tmp_path, 1)
    assert [g.message.text for g in got] == ["caf\ufffd ok", "\ufffd"]
    assert warnings == [("not utf-8", f"{page}: bytes that are not UTF-8 were read as U+FFFD")]


def test_unknown_blocks_are_warned_and_kept_in_extra(tmp_path: Path) -> None:
    block = _block(3, "01.01.2024 10:00:00 UTC+00:00", "x").replace(
        '<div class="text">', '<div class="story_wrap">a story</div><div class="text">')
    odd = '<div class="message future clearfix" id="message4"><div class="body">?</div></div>'
    (tmp_path / "messages.html").write_text(_page(block + odd), encoding="utf-8")
    _, got, warnings = read_chat(tmp_path, 1)
    assert [g.message.id for g in got] == [3]
    assert got[0].message.extra["unknown_html"] == [{"class": "story_wrap", "text": "a story"}]
    assert [k for k, _ in warnings] == ["unknown block", "unknown block"]


def test_media_hrefs_become_paths_from_the_export_root_without_resolving(tmp_path: Path) -> None:
    photo = ('<div class="media_wrap clearfix"><a class="photo_wrap clearfix pull_left" href="{}">'
             '<img class="photo" src="x_thumb.jpg"/></a></div>')
    blocks = "".join(_block(i, "01.01.2024 10:00:00 UTC+00:00", "", media=photo.format(href))
                     for i, href in enumerate(["photos/a b.jpg", "../../../etc/passwd", "photos/../photos/c.jpg"], 1))
    (tmp_path / "messages.html").write_text(_page(blocks), encoding="utf-8")
    _, got, _ = read_chat(tmp_path, 1)
    assert [[(f.role, f.relpath) for f in g.files] for g in got] == [
        [("file", "photos/a b.jpg")], [("file", "../../../etc/passwd")], [("file", "photos/c.jpg")]]
    assert all(g.message.media == Media("photo") for g in got)


def test_service_messages_take_the_date_of_their_neighbours(tmp_path: Path) -> None:
    chat = Peer(-100, "group", "Basic")
    peers = {7: Peer(7, "user", "Ann Lee", first_name="Ann", last_name="Lee")}
    day1, day2 = datetime(2024, 3, 1, 12, tzinfo=UTC), datetime(2024, 3, 2, 9, tzinfo=UTC)
    from tgx.model import Action

    messages = [Message(chat.id, 1, day1, "hi", sender_id=7),
                Message(chat.id, 2, day1 + timedelta(hours=1), sender_id=7,
                        action=Action("pin_message", {"message_id": 1})),
                Message(chat.id, 3, day2, sender_id=7, action=Action("edit_group_title", {"title": "New «name»"})),
                Message(chat.id, 4, day2 + timedelta(minutes=5), "next day", sender_id=7)]
    write_chat(tmp_path, chat, messages, peers)
    _, got, _ = read_chat(tmp_path, chat.id)
    assert [(g.message.id, g.message.date) for g in got] == [(1, day1), (2, day1), (3, day2 + timedelta(minutes=5)),
                                                            (4, day2 + timedelta(minutes=5))]
    assert got[1].message.action.data == {"message_id": 1} and got[1].message.extra["from"] == "Ann Lee"
    assert got[2].message.action.type == "edit_group_title"
    assert got[2].message.action.data["title"].startswith("New «name")  # a «» in a title: cut at its first »


def test_reactions_custom_emoji_and_paid(tmp_path: Path) -> None:
    chat = Peer(-1001, "channel", "R")
    m = Message(chat.id, 1, datetime(2024, 1, 1, tzinfo=UTC), "x",
                reactions=[Reaction("emoji", 3, "👍", chosen=True), Reaction("custom_emoji", 2, document_id=5368),
                           Reaction("paid", 9)])
    write_chat(tmp_path, chat, [m], {})
    _, (got,), _ = read_chat(tmp_path, chat.id)
    assert got.message.reactions == m.reactions


def _page(body: str) -> str:
    return ('<!DOCTYPE html><html><head><meta charset="utf-8"/></head><body><div class="page_wrap">'
            '<div class="page_header"><div class="content"><div class="text bold">Chat</div></div></div>'
            f'<div class="page_body chat_page"><div class="history">{body}</div></div></div></body></html>')


def _block(mid: int, title: str, text: str, joined: bool = False, media: str = "") -> str:
    name = "" if joined else '<div class="from_name">Ann </div>'
    return (f'<div class="message default clearfix{" joined" if joined else ""}" id="message{mid}"><div class="body">'
            f'<div class="pull_right date details" title="{title}">10:00</div>{name}{media}'
            f'<div class="text">{text}</div></div></div>')
