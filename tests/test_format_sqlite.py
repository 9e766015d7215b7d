"""The ``sqlite`` format, rendered through the real engine from a real archive."""

from __future__ import annotations

import io
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson
import pytest
import tgx_sqlite
from corpus.archived import message_maker, render_archived
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tgx.model import ENTITY_TYPES, Action, Entity, Forward, Media, Message, Peer, Reaction
from tgx_sqlite.writer import SqliteWriter

CHAT = Peer(-1001234567890, "supergroup", "Test Group", username="testgroup", forum=True)
ALICE = Peer(11, "user", "Alice Liddell", first_name="Alice", last_name="Liddell")
BOB = Peer(22, "user", "Bob", username="bob")
NEWS = Peer(-1009999, "channel", "News Channel", username="news")
BOT = Peer(33, "bot", "Helper Bot", username="helperbot")
PEERS = [ALICE, BOB, NEWS, BOT]
T0 = datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)
DOCS = Path(__file__).resolve().parent.parent / "docs" / "formats.md"

# The documented schema (docs/formats.md): table -> columns, in order.
SCHEMA = {
    "chats": ["id", "kind", "title", "username", "forum", "message_count", "json"],
    "users": ["id", "kind", "title", "username", "first_name", "last_name", "deleted", "json"],
    "messages": ["id", "chat_id", "date", "date_iso", "edit_date", "edit_date_iso", "sender_id", "text",
                 "reply_to_id", "reply_to_peer_id", "forward_from_id", "forward_from_name", "forward_date",
                 "forward_channel_post", "forward_post_author", "media_kind", "media_path", "action",
                 "action_data", "views", "forwards", "replies", "grouped_id", "topic_id", "post_author",
                 "via_bot_id", "out", "pinned", "deleted", "deleted_at", "deleted_at_iso", "json"],
    "media": ["message_id", "kind", "media_id", "file_name", "mime_type", "size", "width", "height", "duration",
              "performer", "title", "emoji", "spoiler", "path", "thumbnail_path", "extra"],
    "reactions": ["message_id", "position", "type", "emoji", "document_id", "count", "chosen"],
    "entities": ["message_id", "position", "type", "utf16_offset", "utf16_length", "text", "url", "user_id",
                 "language", "document_id"],
    "versions": ["chat_id", "message_id", "seq", "edit_date", "edit_date_iso", "text", "entities", "media"],
}
SCHEMA["comments"] = [*SCHEMA["messages"], "post_id"]  # a channel's comments: always there, maybe empty


def kitchen_sink() -> list[Message]:
    msg = message_maker(CHAT, T0, ALICE)
    text = "bold 😀 italic link @bob #tag Bob"
    entities = [Entity("bold", 0, 4), Entity("italic", 8, 6), Entity("text_link", 15, 4, url="https://x.org"),
                Entity("mention", 20, 4), Entity("hashtag", 25, 4), Entity("mention_name", 30, 3, user_id=44)]
    return [
        msg(1, action=Action("create_group", {"title": "Test Group", "members": [ALICE.id, BOB.id, 55]})),
        msg(2, text=text, entities=entities),
        msg(3, text="a reply about pizza", sender_id=BOB.id, reply_to_id=2),
        msg(4, text="forwarded news", forward=Forward(from_id=NEWS.id, date=T0, channel_post=7,
                                                      post_author="Ed")),
        msg(5, text="hidden forward", forward=Forward(from_name="Someone Hidden")),
        msg(6, media=Media("photo", 501, size=1000, width=10, height=20, path="media/501.jpg"), grouped_id=99),
        msg(7, media=Media("photo", 502, size=2000), grouped_id=99, text="album caption"),
        msg(8, media=Media("document", 503, file_name="report.pdf", mime_type="application/pdf", size=12345,
                           path="media/503-report.pdf")),
        msg(9, media=Media("poll", 504, extra={"question": "Lunch?", "answers": [
            {"text": "Pizza", "voters": 3}, {"text": "Soup", "voters": 1}], "total_voters": 4})),
        msg(10, text="+1", reactions=[Reaction("emoji", 3, "👍", chosen=True),
                                     Reaction("custom_emoji", 1, document_id=5), Reaction("paid", 2)]),
        msg(11, text="edited text", edit_date=T0 + timedelta(days=1)),
        msg(12, text="gone forever", deleted=True, deleted_at=T0 + timedelta(days=2)),
        msg(13, text="channel post", sender_id=None, post_author="Editor", views=100, forwards=5, replies=2),
        msg(14, text="via bot in a topic", via_bot_id=BOT.id, topic_id=1, out=True, pinned=True),
        msg(15, action=Action("pin_message", {"message_id": 2})),
        msg(16, text="Crème brûlée CAFÉ naïve"),
    ]


def render(out: Path, messages: list[Message], batch_size: int = 1000) -> Path:
    result = render_archived(out, CHAT, messages, PEERS, tgx_sqlite.tgx_register_formats(), batch_size=batch_size)
    assert result.formats["sqlite"].files == ["messages.sqlite"]
    return result.chat_dir / "messages.sqlite"


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def search(db: sqlite3.Connection, query: str) -> list[int]:
    return [r[0] for r in db.execute(
        "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? ORDER BY rowid", (query,))]


def test_schema_is_as_documented(tmp_path: Path) -> None:
    db = connect(render(tmp_path, kitchen_sink()))
    for table, columns in SCHEMA.items():
        assert [r[1] for r in db.execute(f"PRAGMA table_info({table})")] == columns, table
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index', 'trigger')")}
    assert {"messages_fts", "messages_date", "messages_sender", "messages_reply", "messages_fts_insert",
            "messages_fts_delete", "messages_fts_update", "comments_post"} <= names
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # the documentation names every table and column
    docs = DOCS.read_text("utf-8")
    for table, columns in SCHEMA.items():
        section = re.search(rf"CREATE TABLE {table} \((.*?)\n\)", docs, re.S)
        assert section, f"docs/formats.md lacks the {table} table"
        documented = re.findall(r"^\s+([a-z_0-9]+)\s+[A-Z]", section.group(1), re.M)
        assert documented == columns, table


def test_rows_match_the_archive(tmp_path: Path) -> None:
    messages = kitchen_sink()
    db = connect(render(tmp_path, messages))
    count = db.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert count == len(messages)
    assert db.execute("SELECT id, kind, title, username, forum, message_count FROM chats").fetchall() == [
        (CHAT.id, "supergroup", "Test Group", "testgroup", 1, len(messages))]
    # every message's json is its to_dict(): the jsonl line
    for (data,), m in zip(db.execute("SELECT json FROM messages ORDER BY id"), messages, strict=True):
        assert orjson.loads(data) == m.to_dict()
    row = db.execute("SELECT date, date_iso, sender_id, text, reply_to_id FROM messages WHERE id = 3").fetchone()
    assert row == (int((T0 + timedelta(hours=3)).timestamp()), (T0 + timedelta(hours=3)).isoformat(), BOB.id,
                   "a reply about pizza", 2)
    assert db.execute("SELECT forward_from_id, forward_date, forward_channel_post, forward_post_author "
                      "FROM messages WHERE id = 4").fetchone() == (NEWS.id, int(T0.timestamp()), 7, "Ed")
    assert db.execute("SELECT forward_from_name FROM messages WHERE id = 5").fetchone() == ("Someone Hidden",)
    assert db.execute("SELECT media_kind, media_path, grouped_id FROM messages WHERE id = 6").fetchone() == (
        "photo", "media/501.jpg", 99)
    assert db.execute("SELECT action, action_data FROM messages WHERE id = 15").fetchone() == (
        "pin_message", '{"message_id":2}')
    assert db.execute("SELECT edit_date_iso, deleted, deleted_at_iso FROM messages WHERE id IN (11, 12) ORDER BY id"
                      ).fetchall() == [((T0 + timedelta(days=1)).isoformat(), 0, None),
                                       (None, 1, (T0 + timedelta(days=2)).isoformat())]
    assert db.execute("SELECT sender_id, post_author, views, forwards, replies FROM messages WHERE id = 13"
                      ).fetchone() == (None, "Editor", 100, 5, 2)
    assert db.execute("SELECT via_bot_id, topic_id, out, pinned FROM messages WHERE id = 14").fetchone() == (
        BOT.id, 1, 1, 1)
    # media, reactions, entities
    assert db.execute("SELECT message_id, kind, media_id, size, width, height, path FROM media ORDER BY 1"
                      ).fetchall()[:2] == [(6, "photo", 501, 1000, 10, 20, "media/501.jpg"),
                                           (7, "photo", 502, 2000, None, None, None)]
    assert db.execute("SELECT count(*) FROM media").fetchone()[0] == 4
    poll = orjson.loads(db.execute("SELECT extra FROM media WHERE message_id = 9").fetchone()[0])
    assert poll["question"] == "Lunch?"
    assert db.execute("SELECT type, emoji, document_id, count, chosen FROM reactions WHERE message_id = 10 "
                      "ORDER BY position").fetchall() == [("emoji", "👍", None, 3, 1),
                                                           ("custom_emoji", None, 5, 1, 0), ("paid", None, None, 2, 0)]
    entity_rows = db.execute("SELECT type, utf16_offset, utf16_length, text, url, user_id FROM entities "
                             "WHERE message_id = 2 ORDER BY position").fetchall()
    assert entity_rows == [("bold", 0, 4, "bold", None, None), ("italic", 8, 6, "italic", None, None),
                           ("text_link", 15, 4, "link", "https://x.org", None),
                           ("mention", 20, 4, "@bob", None, None), ("hashtag", 25, 4, "#tag", None, None),
                           ("mention_name", 30, 3, "Bob", None, 44)]


def test_users_are_every_referenced_peer(tmp_path: Path) -> None:
    db = connect(render(tmp_path, kitchen_sink()))
    users = db.execute("SELECT id, kind, title, username FROM users ORDER BY id").fetchall()
    assert users == [(NEWS.id, "channel", "News Channel", "news"), (11, "user", "Alice Liddell", None),
                     (22, "user", "Bob", "bob"), (33, "bot", "Helper Bot", "helperbot"),
                     (44, None, None, None), (55, None, None, None)]  # unknown to the archive: id only
    # a join that researchers write
    assert db.execute("SELECT u.title, count(*) FROM messages m JOIN users u ON u.id = m.sender_id "
                      "GROUP BY u.id ORDER BY 2 DESC LIMIT 1").fetchone() == ("Alice Liddell", 14)


def test_full_text_search(tmp_path: Path) -> None:
    db = connect(render(tmp_path, kitchen_sink()))
    assert search(db, "pizza") == [3]
    assert search(db, "forwarded AND news") == [4]
    assert search(db, "creme") == [16]  # diacritics folded
    assert search(db, "cafe") == [16]
    assert search(db, "gone") == [12]
    assert db.execute("SELECT m.id FROM messages_fts f JOIN messages m ON m.id = f.rowid "
                      "WHERE messages_fts MATCH 'album'").fetchall() == [(7,)]


def test_full_text_index_follows_later_edits(tmp_path: Path) -> None:
    path = render(tmp_path, kitchen_sink())
    db = sqlite3.connect(path)
    db.execute("INSERT INTO messages (id, chat_id, date, date_iso, text, out, pinned, deleted, json) "
               "VALUES (100, 1, 0, '', 'a brand new zebra', 0, 0, 0, '{}')")
    assert search(db, "zebra") == [100]
    db.execute("UPDATE messages SET text = 'now about a giraffe' WHERE id = 3")
    assert search(db, "pizza") == [] and search(db, "giraffe") == [3]
    db.execute("DELETE FROM messages WHERE id = 100")
    assert search(db, "zebra") == []
    db.execute("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')")  # raises when out of sync
    db.commit()
    db.close()


def test_bytes_identical_across_renders_and_batch_sizes(tmp_path: Path) -> None:
    a = render(tmp_path / "a", kitchen_sink()).read_bytes()
    b = render(tmp_path / "b", kitchen_sink(), batch_size=3).read_bytes()
    c = render(tmp_path / "a", kitchen_sink(), batch_size=1).read_bytes()
    assert a == b == c


def test_no_side_files_and_a_stale_journal_is_not_replayed(tmp_path: Path) -> None:
    chat_dir = tmp_path / CHAT.folder_name
    chat_dir.mkdir(parents=True)
    # what a render killed mid-way could leave: a hot journal beside the temporary file
    (chat_dir / "messages.sqlite.tgx-tmp-journal").write_bytes(b"\xd9\xd5\x05\xf9\x20\xa1\x63\xd7" + b"x" * 600)
    path = render(tmp_path, kitchen_sink())
    assert sorted(p.name for p in chat_dir.iterdir()) == ["messages.sqlite"]
    db = connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 16


def test_empty_chat(tmp_path: Path) -> None:
    db = connect(render(tmp_path, []))
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert db.execute("SELECT message_count FROM chats").fetchone()[0] == 0


def test_lone_surrogates_are_repaired(tmp_path: Path) -> None:
    db = connect(render(tmp_path, [Message(CHAT.id, 1, T0, text="a\ud800b", sender_id=ALICE.id)]))
    assert db.execute("SELECT text FROM messages").fetchone()[0] == "a\ufffdb"


class _BytesContext:
    """A RenderContext whose files are in-memory buffers: no ``name`` to open SQLite at."""

    def __init__(self) -> None:
        self.chat = CHAT
        self.chat_dir = Path("/nonexistent")
        self.options = MappingProxyType({})
        self.message_count = 2
        self.files: dict[str, io.BytesIO] = {}

    def open(self, relpath: str, mode: str = "w") -> io.BytesIO:
        buf = self.files[relpath] = _KeepBytes()
        return buf

    def peer(self, peer_id: int | None) -> Peer | None:
        return {p.id: p for p in PEERS}.get(peer_id)  # type: ignore[arg-type]

    def message_index(self, message_id: int) -> int | None:
        return None

    def message(self, message_id: int) -> Message | None:
        return None

    def topic(self, topic_id: int | None) -> None:
        return None

    def topics(self) -> list[Any]:
        return []

    def topic_messages(self, topic_id: int) -> Any:
        return iter(())

    def comment_count(self, post_id: int) -> int:
        return 0

    def comments(self, post_id: int) -> Any:
        return iter(())


class _KeepBytes(io.BytesIO):
    def close(self) -> None:
        self.kept = self.getvalue()
        super().close()


def test_a_context_without_file_names_gets_a_copy(tmp_path: Path) -> None:
    ctx = _BytesContext()
    writer = SqliteWriter(ctx)  # type: ignore[arg-type]
    writer.open()
    writer.write([Message(CHAT.id, 1, T0, text="hello world", sender_id=ALICE.id),
                  Message(CHAT.id, 2, T0, text="second", sender_id=BOB.id)])
    writer.close()
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes(ctx.files["messages.sqlite"].kept)
    db = connect(copy)
    assert search(db, "hello") == [1]
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 2


words = st.text(st.characters(categories=("Ll",), max_codepoint=0x24F), min_size=3, max_size=10)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.lists(words, min_size=1, max_size=6).map(" ".join), min_size=1, max_size=10),
       noise=st.text(st.characters(exclude_categories=("Cs",)), max_size=30))
def test_fts_finds_every_word(tmp_path_factory: pytest.TempPathFactory, texts: list[str], noise: str) -> None:
    messages = [Message(CHAT.id, i + 1, T0, text=f"{t} {noise}", sender_id=ALICE.id) for i, t in enumerate(texts)]
    db = connect(render(tmp_path_factory.mktemp("db"), messages))
    assert db.execute("SELECT count(*) FROM messages").fetchone()[0] == len(texts)
    for i, text in enumerate(texts):
        for word in text.split():
            assert i + 1 in search(db, f'"{word}"'), (word, text)


def test_every_entity_type_is_stored(tmp_path: Path) -> None:
    text = "x" * len(ENTITY_TYPES) + "😀"
    entities = [Entity(kind, i, 1) for i, kind in enumerate(ENTITY_TYPES)] + [Entity("bold", len(ENTITY_TYPES), 2)]
    db = connect(render(tmp_path, [Message(CHAT.id, 1, T0, text=text, entities=entities, sender_id=ALICE.id)]))
    rows = db.execute("SELECT type, utf16_offset, text FROM entities ORDER BY position").fetchall()
    assert rows == [(k, i, "x") for i, k in enumerate(ENTITY_TYPES)] + [("bold", len(ENTITY_TYPES), "😀")]
